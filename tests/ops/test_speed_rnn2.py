"""The LSTM layer's compiled hidden-state write (``h_t = o * tanh(c_t)`` straight into its
strided column of the layer's work array): the same bits as the NumPy path in both
directions and dtypes, nothing written outside the column, and PyTorch parity of the whole
layer on the paths that use it (uni- and bidirectional, with and without initial states)."""

import numpy as np
import pytest

import lamina
from lamina.ops import rnn
from tests.helpers import requires_torch, torch


def _kernels():
    kern = rnn._lstm_kernels(np.float32)
    if kern is None:
        pytest.skip("numba is not available (or LAMINA_NUMBA=0)")
    return kern


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("so", [0, 3, 5])
def test_hidden_kernel_writes_only_its_column(dtype, so):
    """The kernel gives np.multiply's bits in column ``so`` of rows ``:H`` and leaves every
    other element of hx (inputs, bias row, other steps) untouched."""
    _kernels()
    kern = rnn._lstm_kernels(dtype)
    rng = np.random.default_rng(so)
    t_len, hid, bsz, isz = 5, 7, 3, 2
    k = hid + isz + 1
    act = rng.standard_normal((t_len, 4 * hid, bsz)).astype(dtype)
    tcs = np.tanh(rng.standard_normal((t_len, hid, bsz))).astype(dtype)
    hx = rng.standard_normal((k, t_len + 1, bsz)).astype(dtype)
    before = hx.copy()
    t = min(so, t_len - 1)
    kern[2](act, tcs, hx, t, so, hid)
    want = before.copy()
    np.multiply(act[t, 3 * hid:], tcs[t], out=want[:hid, so])
    np.testing.assert_array_equal(hx, want)


def _layer(monkeypatch, use_numba, dtype, bidir, init, seed=0):
    monkeypatch.setattr(rnn._lstm_kernels, "enabled", use_numba)
    rng = np.random.default_rng(seed)
    t_len, bsz, isz, hid = 6, 4, 3, 9
    nd = 2 if bidir else 1

    def t(*shape):
        return lamina.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)

    ws = [(t(4 * hid, isz), t(4 * hid, hid), t(4 * hid), t(4 * hid)) for _ in range(nd)]
    x = t(t_len, bsz, isz)
    h0, c0 = (t(nd, bsz, hid), t(nd, bsz, hid)) if init else (None, None)
    y, h, c = rnn.rnn_layer("LSTM", x, ws, h0, c0)
    gy = rng.standard_normal(y.shape).astype(dtype)
    gh = rng.standard_normal(h.shape).astype(dtype)
    ((y * lamina.tensor(gy)).sum() + (h * lamina.tensor(gh)).sum() + c.sum()).backward()
    return [y.data, h.data, c.data, x.grad.data] + [p.grad.data for w in ws for p in w] + \
        ([h0.grad.data, c0.grad.data] if init else [])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bidir", [False, True])
@pytest.mark.parametrize("init", [False, True])
def test_layer_compiled_and_numpy_paths_agree(monkeypatch, dtype, bidir, init):
    """Outputs and every gradient: bit for bit between the two paths."""
    _kernels()
    fast = _layer(monkeypatch, True, dtype, bidir, init)
    ref = _layer(monkeypatch, False, dtype, bidir, init)
    for a, b in zip(fast, ref, strict=True):
        np.testing.assert_array_equal(a, b)


@requires_torch
@pytest.mark.parametrize("use_numba", [True, False])
@pytest.mark.parametrize("bidir", [False, True])
def test_output_sequence_matches_torch(monkeypatch, use_numba, bidir):
    """The output sequence (every h_t the hidden-state write produced) and its gradients
    against PyTorch in float64, batch_first, two layers."""
    if use_numba:
        _kernels()
    monkeypatch.setattr(rnn._lstm_kernels, "enabled", use_numba)
    rng = np.random.default_rng(4)
    m = torch.nn.LSTM(5, 8, num_layers=2, batch_first=True, bidirectional=bidir).double()
    lm = lamina.nn.LSTM(5, 8, num_layers=2, batch_first=True, bidirectional=bidir,
                        dtype=lamina.float64)
    for name, p in m.named_parameters():
        getattr(lm, name).data[...] = p.detach().numpy()
    x = rng.standard_normal((3, 7, 5))
    g = rng.standard_normal((3, 7, 16 if bidir else 8))
    tx = torch.tensor(x, requires_grad=True)
    ty, _ = m(tx)
    (ty * torch.tensor(g)).sum().backward()
    lx = lamina.tensor(x, requires_grad=True)
    ly, _ = lm(lx)
    (ly * lamina.tensor(g)).sum().backward()
    np.testing.assert_allclose(ly.data, ty.detach().numpy(), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(lx.grad.data, tx.grad.numpy(), rtol=1e-7, atol=1e-10)
    for name, p in m.named_parameters():
        np.testing.assert_allclose(getattr(lm, name).grad.data, p.grad.numpy(), rtol=1e-7,
                                   atol=1e-10, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("rd", [0, 1])
def test_setup_kernel_matches_numpy(dtype, bias, rd):
    """The compiled setup: the stacked step weights (sigmoid rows halved, bias sum) and the
    inputs gathered from a batch_first (non-contiguous) view into hx, the ones row, and
    nothing else of hx touched; the same bits as the NumPy expressions."""
    _kernels()
    kern = rnn._lstm_kernels(dtype)
    rng = np.random.default_rng(7)
    t_len, bsz, isz, hid = 4, 3, 5, 6
    w_ih = rng.standard_normal((4 * hid, isz)).astype(dtype)
    w_hh = rng.standard_normal((4 * hid, hid + 2)).astype(dtype)[:, 1:-1]   # a view
    b_ih = rng.standard_normal(4 * hid).astype(dtype)
    b_hh = rng.standard_normal(4 * hid).astype(dtype)
    x3 = rng.standard_normal((bsz, t_len, isz)).astype(dtype).transpose(1, 0, 2)
    k = hid + isz + bias
    wcat = np.full((4 * hid, k), np.nan, dtype)
    hx = rng.standard_normal((k, t_len + 1, bsz)).astype(dtype)
    want_hx = hx.copy()
    kern[5](w_ih, w_hh, b_ih if bias else w_hh[0], b_hh if bias else w_hh[0], bias, x3, wcat,
            hx, rd, dtype(0.5), dtype(1.0))
    want = np.concatenate([w_hh, w_ih] + ([(b_ih + b_hh)[:, None]] if bias else []), axis=1)
    want[:2 * hid] *= dtype(0.5)
    want[3 * hid:] *= dtype(0.5)
    np.testing.assert_array_equal(wcat, want)
    want_hx[hid:hid + isz, rd:rd + t_len] = x3.transpose(2, 0, 1)
    if bias:
        want_hx[-1] = 1
    np.testing.assert_array_equal(hx, want_hx)


@pytest.mark.parametrize("shape", [(16, 4), (20, 7), (3, 40), (512, 128)])
def test_transpose_kernels_match_numpy(shape):
    """The blocked transpose (rows not a multiple of the block too) and the step-to-row
    copy of the gate gradients."""
    _kernels()
    kern = rnn._lstm_kernels(np.float32)
    rng = np.random.default_rng(8)
    w = rng.standard_normal(shape).astype(np.float32)
    out = np.empty(shape[::-1], np.float32)
    kern[4](w, out)
    np.testing.assert_array_equal(out, w.T)
    src = rng.standard_normal((5,) + shape).astype(np.float32)
    dst = np.empty((shape[0], 5, shape[1]), np.float32)
    kern[3](src, dst)
    np.testing.assert_array_equal(dst, src.transpose(1, 0, 2))
