"""The fast paths of the LSTM layer and of Adam: the optional compiled kernels against the
NumPy path (bit for bit) and the layer's special cases (zero initial state, no bias, unused
outputs) against PyTorch."""

import numpy as np
import pytest

import lamina
from lamina.ops import rnn
from lamina.optim import adam
from tests.helpers import requires_torch, torch

# --- LSTM ------------------------------------------------------------------------------------

def _lstm_case(monkeypatch, use_numba, dtype, *, bias=True, init=True, batch_first=True,
               bidir=False, use_y=True, use_c=True, x_grad=True, seed=0):
    monkeypatch.setattr(rnn._lstm_kernels, "enabled", use_numba)
    rng = np.random.default_rng(seed)
    t_len, bsz, isz, hid = 5, 6, 3, 11
    nd = 2 if bidir else 1

    def t(*shape, grad=True):
        return lamina.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=grad)

    ws = [(t(4 * hid, isz), t(4 * hid, hid)) + ((t(4 * hid), t(4 * hid)) if bias else
                                                (None, None)) for _ in range(nd)]
    x = t(bsz, t_len, isz, grad=x_grad) if batch_first else t(t_len, bsz, isz, grad=x_grad)
    h0, c0 = (t(nd, bsz, hid), t(nd, bsz, hid)) if init else (None, None)
    y, h, c = rnn.rnn_layer("LSTM", x, ws, h0, c0, batch_first=batch_first)
    loss = (h * t(*h.shape, grad=False)).sum()
    if use_y:
        loss = loss + (y * t(*y.shape, grad=False)).sum()
    if use_c:
        loss = loss + (c * c).sum()
    loss.backward()
    out = [y.data, h.data, c.data] + [p.grad.data for w in ws for p in w if p is not None]
    out += [a.grad.data for a in (x, h0, c0) if a is not None and a.requires_grad]
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", [dict(), dict(bias=False), dict(init=False, use_y=False),
                                dict(batch_first=False, use_c=False, x_grad=False),
                                dict(bidir=True, init=False)])
def test_lstm_kernels_match_numpy_path(monkeypatch, dtype, kw):
    """The compiled gate kernels give the NumPy path's bits in every variant of the layer
    (the GEMMs are shared, so any difference would come from the element-wise work)."""
    pytest.importorskip("numba")
    fast = _lstm_case(monkeypatch, True, dtype, **kw)
    ref = _lstm_case(monkeypatch, False, dtype, **kw)
    assert len(fast) == len(ref)
    for a, b in zip(fast, ref):
        np.testing.assert_array_equal(a, b)


@requires_torch
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("use_numba", [True, False])
def test_lstm_benchmark_shape_matches_torch(monkeypatch, bias, use_numba):
    """The benchmark's use: zero initial state (the first step skips the h0 columns), only
    h_n feeds the loss (no output or cell gradient, no dh0 GEMM), float32, T=32."""
    if use_numba:
        pytest.importorskip("numba")
    monkeypatch.setattr(rnn._lstm_kernels, "enabled", use_numba)
    rng = np.random.default_rng(1)
    t_len, bsz, isz, hid = 32, 8, 16, 24
    m = torch.nn.LSTM(isz, hid, batch_first=True, bias=bias)
    x = rng.standard_normal((bsz, t_len, isz)).astype(np.float32)
    g = rng.standard_normal((bsz, hid)).astype(np.float32)
    _, (th, _) = m(torch.tensor(x))
    (th[0] * torch.tensor(g)).sum().backward()
    lm = lamina.nn.LSTM(isz, hid, batch_first=True, bias=bias)
    for name, p in m.named_parameters():
        getattr(lm, name).data[...] = p.detach().numpy()
    _, (lh, _) = lm(lamina.tensor(x))
    (lh[0] * lamina.tensor(g)).sum().backward()
    np.testing.assert_allclose(lh.data, th.detach().numpy(), rtol=1e-4, atol=1e-5)
    for name, p in m.named_parameters():
        np.testing.assert_allclose(getattr(lm, name).grad.data, p.grad.numpy(), rtol=1e-4,
                                   atol=1e-5, err_msg=name)


def test_lstm_recycled_buffers_do_not_leak_between_calls():
    """The layer's work arrays come from a buffer pool: a second call (getting the first
    call's dirty buffers) gives the same results, and outputs that are still alive keep
    their values."""
    rng = np.random.default_rng(2)
    w = [lamina.tensor(rng.standard_normal(s).astype(np.float32)) for s in
         ((20, 3), (20, 5), (20,), (20,))]
    x1 = lamina.tensor(rng.standard_normal((4, 2, 3)).astype(np.float32))
    x2 = lamina.tensor(rng.standard_normal((4, 2, 3)).astype(np.float32))
    y1, h1, _ = rnn.rnn_layer("LSTM", x1, [tuple(w)])
    keep = y1.data.copy(), h1.data.copy()
    y2, h2, _ = rnn.rnn_layer("LSTM", x2, [tuple(w)])
    np.testing.assert_array_equal(y1.data, keep[0])
    np.testing.assert_array_equal(h1.data, keep[1])
    del y1, h1
    y3, h3, _ = rnn.rnn_layer("LSTM", x2, [tuple(w)])
    np.testing.assert_array_equal(y3.data, y2.data)
    np.testing.assert_array_equal(h3.data, h2.data)


# --- Adam ------------------------------------------------------------------------------------

def _adam_run(monkeypatch, enabled, dtype, shapes, steps=4, transpose_grad=False, **kw):
    monkeypatch.setattr(adam._adam_kernel, "enabled", enabled)
    rng = np.random.default_rng(3)
    ps = [lamina.nn.Parameter(lamina.tensor(rng.standard_normal(s).astype(dtype)))
          for s in shapes]
    opt = adam.Adam(ps, lr=0.01, **kw)
    for _ in range(steps):
        for p in ps:
            g = rng.standard_normal(p.shape[::-1] if transpose_grad else p.shape)
            p.grad = lamina.tensor(g.astype(dtype).T if transpose_grad else g.astype(dtype))
        opt.step()
    out = []
    for p in ps:
        st = opt.state[p]
        out += [p.data, st["exp_avg"].data, st["exp_avg_sq"].data]
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", [dict(), dict(betas=(0.3, 0.5)), dict(weight_decay=0.1),
                                dict(maximize=True), dict(amsgrad=True),
                                dict(weight_decay=0.1, decoupled_weight_decay=True),
                                dict(eps=0.0)])
def test_adam_kernel_matches_numpy_path(monkeypatch, dtype, kw):
    """The compiled Adam update gives the NumPy path's bits (both forms of the m lerp,
    1-D and 2-D parameters, weight decay, maximize; amsgrad keeps the NumPy path)."""
    pytest.importorskip("numba")
    shapes = [(7, 5), (33,), (1,)]
    fast = _adam_run(monkeypatch, True, dtype, shapes, **kw)
    ref = _adam_run(monkeypatch, False, dtype, shapes, **kw)
    for a, b in zip(fast, ref):
        np.testing.assert_array_equal(a, b)


def test_adam_non_contiguous_grad_takes_numpy_path(monkeypatch):
    """A transposed (non-contiguous) gradient is still handled, with the same results."""
    pytest.importorskip("numba")
    fast = _adam_run(monkeypatch, True, np.float32, [(4, 6)], transpose_grad=True)
    ref = _adam_run(monkeypatch, False, np.float32, [(4, 6)], transpose_grad=True)
    for a, b in zip(fast, ref):
        np.testing.assert_array_equal(a, b)


def test_adam_kernel_builds_when_numba_is_installed(monkeypatch):
    pytest.importorskip("numba")
    monkeypatch.setattr(adam._adam_kernel, "enabled", True)
    assert adam._adam_kernel(np.float32) is not None
    monkeypatch.setattr(adam._adam_kernel, "enabled", False)
    assert adam._adam_kernel(np.float32) is None
