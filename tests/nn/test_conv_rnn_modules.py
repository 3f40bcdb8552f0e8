"""Conv, pooling, recurrent and misc layers against torch.nn: parameter names and layouts,
state dicts moving between the libraries, outputs and gradients, default initialization."""

import math

import numpy as np
import pytest

import lamina
import lamina.nn as nn
from tests.helpers import requires_torch, torch

TOL64 = dict(rtol=1e-7, atol=1e-10)


def _sd(m):
    return {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}


def _param_grads_match(lm, tm, tol=TOL64):
    tp = dict(tm.named_parameters())
    lp = dict(lm.named_parameters())
    assert list(lp) == list(tp)
    for name, p in lp.items():
        np.testing.assert_allclose(p.grad._data, tp[name].grad.numpy(), err_msg=name, **tol)


def _run_pair(lm, tm, x, tol=TOL64, forward=None):
    """Load tm's weights into lm, run both on x, compare outputs and all gradients."""
    lm.load_state_dict(_sd(tm))
    forward = forward or (lambda m, t: m(t))
    tx = torch.tensor(x, requires_grad=True)
    lx = lamina.tensor(x, requires_grad=True)
    to, lo = forward(tm, tx), forward(lm, lx)
    np.testing.assert_allclose(lo._data, to.detach().numpy(), **tol)
    g = np.random.default_rng(0).standard_normal(tuple(to.shape))
    (to * torch.tensor(g)).sum().backward()
    (lo * lamina.tensor(g)).sum().backward()
    np.testing.assert_allclose(lx.grad._data, tx.grad.numpy(), **tol)
    _param_grads_match(lm, tm, tol)


# --- convolution -----------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("args, kw, shape", [
    ((3, 6, 3), dict(stride=2, padding=1), (2, 3, 9, 8)),
    ((4, 6, (3, 2)), dict(groups=2, dilation=(1, 2), bias=False), (2, 4, 7, 7)),
    ((3, 5, 4), dict(padding="same"), (1, 3, 6, 6)),
])
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_conv2d_module(args, kw, shape):
    tm = torch.nn.Conv2d(*args, **kw).double()
    lm = nn.Conv2d(*args, **kw, dtype=lamina.float64)
    assert lm.weight.shape == tuple(tm.weight.shape)
    _run_pair(lm, tm, np.random.default_rng(1).standard_normal(shape))


@requires_torch
def test_conv1d_and_transpose_modules():
    rng = np.random.default_rng(2)
    _run_pair(nn.Conv1d(3, 4, 3, stride=2, padding=1, dtype=lamina.float64),
              torch.nn.Conv1d(3, 4, 3, stride=2, padding=1).double(),
              rng.standard_normal((2, 3, 10)))
    _run_pair(nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1, groups=2,
                                 dtype=lamina.float64),
              torch.nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1, groups=2).double(),
              rng.standard_normal((2, 4, 5, 5)))
    _run_pair(nn.ConvTranspose1d(3, 2, 3, stride=2, output_padding=1, dtype=lamina.float64),
              torch.nn.ConvTranspose1d(3, 2, 3, stride=2, output_padding=1).double(),
              rng.standard_normal((2, 3, 6)))


@requires_torch
def test_conv_transpose2d_output_size():
    x = np.random.default_rng(3).standard_normal((1, 3, 4, 4))
    tm = torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1).double()
    lm = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, dtype=lamina.float64)
    _run_pair(lm, tm, x, forward=lambda m, t: m(t, output_size=[8, 8]))
    with pytest.raises(ValueError):
        lm(lamina.tensor(x), output_size=(10, 10))


def test_conv_default_init_bounds():
    lamina.manual_seed(0)
    m = nn.Conv2d(8, 16, 3)
    fan_in = 8 * 9
    bound = 1 / math.sqrt(fan_in)   # kaiming_uniform(a=sqrt(5)) gives U(-1/sqrt(fan_in), ..)
    w = m.weight._data
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(m.bias._data).max() <= bound
    t = nn.ConvTranspose2d(8, 4, 3, groups=2)
    assert t.weight.shape == (8, 2, 3, 3)
    assert np.abs(t.weight._data).max() <= 1 / math.sqrt(2 * 9)


# --- pooling, upsample, embedding, dropout2d ---------------------------------------------------

@requires_torch
@pytest.mark.parametrize("name, args, kw", [
    ("MaxPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True)),
    ("MaxPool1d", (2,), {}),
    ("AvgPool2d", (3,), dict(stride=2, padding=1, count_include_pad=False)),
    ("AvgPool1d", (3,), dict(stride=1)),
    ("AdaptiveAvgPool2d", ((2, 3),), {}),
    ("AdaptiveMaxPool2d", (3,), {}),
    ("AdaptiveAvgPool1d", (4,), {}),
    ("AdaptiveMaxPool1d", (4,), {}),
    ("Upsample", (), dict(scale_factor=2, mode="nearest")),
    ("Upsample", (), dict(size=(5, 7), mode="bilinear", align_corners=True)),
    ("UpsamplingNearest2d", (), dict(scale_factor=2)),
    ("UpsamplingBilinear2d", (), dict(size=(5, 4))),
])
def test_pool_like_modules(name, args, kw):
    one_d = name.endswith("1d")
    shape = (2, 3, 9) if one_d else (2, 3, 7, 6)
    x = np.random.default_rng(4).standard_normal(shape)
    _run_pair(getattr(nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw), x)


@requires_torch
def test_embedding_matches_torch_with_padding_idx():
    tm = torch.nn.Embedding(10, 4, padding_idx=2).double()
    lm = nn.Embedding(10, 4, padding_idx=2, dtype=lamina.float64)
    assert np.all(lm.weight._data[2] == 0)
    lm.load_state_dict(_sd(tm))
    idx = np.array([[1, 2, 3, 1], [9, 2, 1, 0]])
    to = tm(torch.tensor(idx))
    lo = lm(lamina.tensor(idx))
    np.testing.assert_allclose(lo._data, to.detach().numpy())
    g = np.random.default_rng(5).standard_normal((2, 4, 4))
    (to * torch.tensor(g)).sum().backward()
    (lo * lamina.tensor(g)).sum().backward()
    np.testing.assert_allclose(lm.weight.grad._data, tm.weight.grad.numpy(), **TOL64)
    with pytest.raises(IndexError):
        lm(lamina.tensor([10]))


@requires_torch
def test_embedding_max_norm_and_from_pretrained():
    w = np.random.default_rng(6).standard_normal((5, 3)) * 3
    tm = torch.nn.Embedding.from_pretrained(torch.tensor(w), freeze=False, max_norm=1.0)
    lm = nn.Embedding.from_pretrained(lamina.tensor(w.copy()), freeze=False, max_norm=1.0)
    idx = [0, 3, 3]
    np.testing.assert_allclose(lm(lamina.tensor(idx)).data,
                               tm(torch.tensor(idx)).detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(lm.weight._data, tm.weight.detach().numpy(), rtol=1e-6)
    assert not nn.Embedding.from_pretrained(lamina.tensor(w)).weight.requires_grad


def test_embedding_gradcheck():
    from lamina.nn.modules.misc import embedding
    from tests.helpers import check_grad

    idx = lamina.tensor([[0, 3, 3], [1, 0, 4]])
    check_grad(lambda w: embedding(idx, w), [(5, 3)])   # padding_idx rows get no grad by design


def test_dropout2d_zeros_whole_channels():
    lamina.manual_seed(0)
    m = nn.Dropout2d(0.5)
    x = lamina.ones(8, 16, 3, 3, requires_grad=True)
    y = m(x)
    per_channel = y._data.reshape(8, 16, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
    frac = (per_channel[..., 0] == 0).mean()
    assert 0.3 < frac < 0.7
    y.sum().backward()
    np.testing.assert_array_equal(x.grad._data, y._data)
    m.eval()
    assert m(x) is x


# --- recurrent -------------------------------------------------------------------------------

def _rnn_pair(cls_name, kw, dtype=np.float64):
    torch.manual_seed(0)
    tm = getattr(torch.nn, cls_name)(**kw)
    tm = tm.double() if dtype == np.float64 else tm
    lm = getattr(nn, cls_name)(**kw, dtype=lamina.float64 if dtype == np.float64 else None)
    assert [n for n, _ in lm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    for (n, p), (_, q) in zip(lm.named_parameters(), tm.named_parameters()):
        assert p.shape == tuple(q.shape), n
    lm.load_state_dict(_sd(tm))
    return lm, tm


@requires_torch
@pytest.mark.parametrize("cls_name, kw", [
    ("LSTM", dict(input_size=4, hidden_size=5, num_layers=2, bidirectional=True)),
    ("GRU", dict(input_size=4, hidden_size=5, num_layers=3, batch_first=True)),
    ("RNN", dict(input_size=4, hidden_size=5, num_layers=2, nonlinearity="relu",
                 bidirectional=True, batch_first=True)),
    ("LSTM", dict(input_size=4, hidden_size=3, bias=False, batch_first=True)),
])
@pytest.mark.parametrize("with_state", [False, True])
def test_rnn_modules_match_torch(cls_name, kw, with_state):
    lm, tm = _rnn_pair(cls_name, kw)
    rng = np.random.default_rng(7)
    bsz, t_len = 3, 6
    x = rng.standard_normal((bsz, t_len, 4) if kw.get("batch_first") else (t_len, bsz, 4))
    ndir = 2 if kw.get("bidirectional") else 1
    sshape = (kw.get("num_layers", 1) * ndir, bsz, kw["hidden_size"])
    states = [rng.standard_normal(sshape) for _ in range(2 if cls_name == "LSTM" else 1)]
    ts = [torch.tensor(s, requires_grad=True) for s in states]
    ls = [lamina.tensor(s, requires_grad=True) for s in states]
    tx, lx = torch.tensor(x, requires_grad=True), lamina.tensor(x, requires_grad=True)

    def call(m, xx, ss):
        if not with_state:
            out, st = m(xx)
        else:
            out, st = m(xx, tuple(ss) if cls_name == "LSTM" else ss[0])
        return [out] + (list(st) if cls_name == "LSTM" else [st])

    touts, louts = call(tm, tx, ts), call(lm, lx, ls)
    for lo, to in zip(louts, touts):
        assert lo.shape == tuple(to.shape)
        np.testing.assert_allclose(lo._data, to.detach().numpy(), **TOL64)
    gs = [rng.standard_normal(tuple(o.shape)) for o in touts]
    sum((o * torch.tensor(g)).sum() for o, g in zip(touts, gs)).backward()
    sum((o * lamina.tensor(g)).sum() for o, g in zip(louts, gs)).backward()
    np.testing.assert_allclose(lx.grad._data, tx.grad.numpy(), **TOL64)
    if with_state:
        for a, b in zip(ls, ts):
            np.testing.assert_allclose(a.grad._data, b.grad.numpy(), **TOL64)
    _param_grads_match(lm, tm)


@requires_torch
@pytest.mark.parametrize("cls_name", ["LSTM", "GRU"])
def test_torch_state_dict_loads_float32(cls_name):
    """A float32 PyTorch LSTM/GRU state dict (as NumPy arrays) gives the same outputs."""
    lm, tm = _rnn_pair(cls_name, dict(input_size=6, hidden_size=8, num_layers=2,
                                      bidirectional=True, batch_first=True), np.float32)
    x = np.random.default_rng(8).standard_normal((4, 7, 6)).astype(np.float32)
    to = tm(torch.tensor(x))
    lo = lm(lamina.tensor(x))
    np.testing.assert_allclose(lo[0]._data, to[0].detach().numpy(), rtol=1e-4, atol=1e-5)
    assert lo[0].dtype == lamina.float32
    # and back: lamina's state dict loads into PyTorch
    tm2 = getattr(torch.nn, cls_name)(6, 8, num_layers=2, bidirectional=True,
                                      batch_first=True)
    tm2.load_state_dict({k: torch.tensor(v._data) for k, v in lm.state_dict().items()})
    np.testing.assert_allclose(tm2(torch.tensor(x))[0].detach().numpy(),
                               to[0].detach().numpy(), rtol=1e-6)


@requires_torch
def test_rnn_unbatched_input():
    lm, tm = _rnn_pair("GRU", dict(input_size=3, hidden_size=4, num_layers=2))
    x = np.random.default_rng(9).standard_normal((5, 3))
    h0 = np.random.default_rng(10).standard_normal((2, 4))
    to, th = tm(torch.tensor(x), torch.tensor(h0))
    lo, lh = lm(lamina.tensor(x), lamina.tensor(h0))
    assert lo.shape == (5, 4) and lh.shape == (2, 4)
    np.testing.assert_allclose(lo._data, to.detach().numpy(), **TOL64)
    np.testing.assert_allclose(lh._data, th.detach().numpy(), **TOL64)


def test_rnn_dropout_between_layers_only_in_training():
    lamina.manual_seed(0)
    m = nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    x = lamina.randn(5, 2, 3)
    m.eval()
    a, _ = m(x)
    b, _ = m(x)
    np.testing.assert_array_equal(a._data, b._data)
    m.train()
    c, _ = m(x)
    assert not np.allclose(a._data, c._data)
    m1 = nn.LSTM(3, 4, num_layers=1, dropout=0.5)   # dropout after the last layer: none
    np.testing.assert_array_equal(m1(x)[0].data, m1(x)[0].data)


def test_rnn_default_init_and_errors():
    m = nn.GRU(5, 16, num_layers=2)
    bound = 1 / math.sqrt(16)
    for p in m.parameters():
        assert np.abs(p._data).max() <= bound
    assert m.weight_ih_l1.shape == (48, 16)
    with pytest.raises(RuntimeError):
        m(lamina.randn(4, 2, 6))
    with pytest.raises(RuntimeError):
        m(lamina.randn(4, 2, 5), lamina.randn(1, 2, 16))
    with pytest.raises(ValueError):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError):
        nn.LSTM(3, 4, dropout=1.5)


@requires_torch
@pytest.mark.parametrize("cls_name, kw", [("RNNCell", dict(nonlinearity="relu")),
                                          ("LSTMCell", {}), ("GRUCell", {})])
def test_cells_match_torch(cls_name, kw):
    torch.manual_seed(1)
    tm = getattr(torch.nn, cls_name)(4, 5, **kw).double()
    lm = getattr(nn, cls_name)(4, 5, **kw, dtype=lamina.float64)
    lm.load_state_dict(_sd(tm))
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 4))
    h = rng.standard_normal((3, 5))
    c = rng.standard_normal((3, 5))
    tx, th, tc = (torch.tensor(a, requires_grad=True) for a in (x, h, c))
    lx, lh, lc = (lamina.tensor(a, requires_grad=True) for a in (x, h, c))
    if cls_name == "LSTMCell":
        touts, louts = list(tm(tx, (th, tc))), list(lm(lx, (lh, lc)))
    else:
        touts, louts = [tm(tx, th)], [lm(lx, lh)]
    for lo, to in zip(louts, touts):
        np.testing.assert_allclose(lo._data, to.detach().numpy(), **TOL64)
    sum(o.sum() * (i + 1) for i, o in enumerate(touts)).backward()
    sum(o.sum() * (i + 1) for i, o in enumerate(louts)).backward()
    np.testing.assert_allclose(lx.grad._data, tx.grad.numpy(), **TOL64)
    np.testing.assert_allclose(lh.grad._data, th.grad.numpy(), **TOL64)
    _param_grads_match(lm, tm)
    # unbatched and no state
    y = lm(lamina.tensor(x[0]))
    ty = tm(torch.tensor(x[0]))
    y0, ty0 = (y[0], ty[0]) if cls_name == "LSTMCell" else (y, ty)
    np.testing.assert_allclose(y0._data, ty0.detach().numpy(), **TOL64)


@requires_torch
def test_small_cnn_trains_like_torch():
    """Conv -> ReLU -> MaxPool -> Conv -> AdaptiveAvgPool -> Flatten -> Linear, one step."""
    def build(lib, **kw):
        n = lib.nn
        return n.Sequential(n.Conv2d(1, 4, 3, padding=1, **kw), n.ReLU(), n.MaxPool2d(2),
                            n.Conv2d(4, 6, 3, **kw), n.ReLU(), n.AdaptiveAvgPool2d(1),
                            n.Flatten(), n.Linear(6, 3, **kw))

    torch.manual_seed(0)
    tm = build(torch).double()
    lm = build(lamina, dtype=lamina.float64)
    _run_pair(lm, tm, np.random.default_rng(12).standard_normal((4, 1, 10, 10)))


@requires_torch
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("nd, pad", [(2, (1, 2)), (2, "same"), (1, 2)])
def test_conv_padding_modes(mode, nd, pad):
    cls = "Conv2d" if nd == 2 else "Conv1d"
    kw = dict(padding=pad, padding_mode=mode)
    k = (3, 4) if pad == "same" else 3
    shape = (2, 3, 5, 6) if nd == 2 else (2, 3, 7)
    _run_pair(getattr(nn, cls)(3, 4, k, **kw, dtype=lamina.float64),
              getattr(torch.nn, cls)(3, 4, k, **kw).double(),
              np.random.default_rng(13).standard_normal(shape))
