"""The fast paths of the performance-tuned ops: every memory layout batch_norm takes without
a copy (and the copying fallback) against PyTorch."""

import numpy as np
import pytest

import lamina
from lamina.ops.nn import batch_norm
from tests.helpers import requires_torch, torch

# (shape, memory order of the axes): conv outputs are (C, H, W, N) in memory, dense
# layers (N, C), channels-last (N, H, W, C); (2, 0, 3, 1) has no contiguous 2-D view
LAYOUTS = [((5, 3), None), ((5, 3), (1, 0)), ((4, 3, 6), None), ((2, 3, 4, 5), None),
           ((2, 3, 4, 5), (1, 2, 3, 0)), ((2, 3, 4, 5), (1, 0, 2, 3)),
           ((2, 3, 4, 5), (0, 2, 3, 1)), ((2, 3, 4, 5), (2, 0, 3, 1)),
           ((2, 3, 1, 4), (1, 2, 3, 0))]


def _laid_out(a, order):
    if order is None:
        return a
    return np.ascontiguousarray(a.transpose(order)).transpose(np.argsort(order))


@requires_torch
@pytest.mark.parametrize("shape,order", LAYOUTS)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_layouts(shape, order, training, affine):
    rng = np.random.default_rng(sum(shape))
    c = shape[1]
    xa = _laid_out(rng.standard_normal(shape) * 3 + 1, order)
    ga = _laid_out(rng.standard_normal(shape), order[::-1] if order else (1, 0) + tuple(
        range(2, len(shape))))                  # the gradient in another layout
    wa, ba = rng.standard_normal(c), rng.standard_normal(c)
    rma, rva = rng.standard_normal(c), rng.random(c) + 0.5
    x = lamina.tensor(xa, requires_grad=True)
    w = lamina.tensor(wa, requires_grad=True) if affine else None
    b = lamina.tensor(ba, requires_grad=True) if affine else None
    rm, rv = lamina.tensor(rma.copy()), lamina.tensor(rva.copy())
    y = batch_norm(x, rm, rv, w, b, training=training, momentum=0.3)
    (y * lamina.tensor(ga)).sum().backward()
    xt = torch.tensor(xa, requires_grad=True)
    wt = torch.tensor(wa, requires_grad=True) if affine else None
    bt = torch.tensor(ba, requires_grad=True) if affine else None
    rmt, rvt = torch.tensor(rma.copy()), torch.tensor(rva.copy())
    yt = torch.nn.functional.batch_norm(xt, rmt, rvt, wt, bt, training=training,
                                        momentum=0.3)
    (yt * torch.tensor(ga)).sum().backward()
    tol = dict(rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), **tol)
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), **tol)
    np.testing.assert_allclose(rm.data, rmt.numpy(), **tol)
    np.testing.assert_allclose(rv.data, rvt.numpy(), **tol)
    if affine:
        np.testing.assert_allclose(w.grad.data, wt.grad.numpy(), **tol)
        np.testing.assert_allclose(b.grad.data, bt.grad.numpy(), **tol)


@requires_torch
def test_batch_norm_float32_conv_layout():
    rng = np.random.default_rng(0)
    xa = _laid_out((rng.standard_normal((8, 4, 6, 6)) * 2 + 5).astype(np.float32),
                   (1, 2, 3, 0))
    x = lamina.tensor(xa, requires_grad=True)
    y = batch_norm(x, None, None, training=True)
    y.sum().backward()
    xt = torch.tensor(xa, requires_grad=True)
    yt = torch.nn.functional.batch_norm(xt, None, None, training=True)
    yt.sum().backward()
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), rtol=1e-4, atol=1e-4)


def _lstm_run(monkeypatch, use_numba, dtype, bidir, batch_first):
    from lamina.ops import rnn

    monkeypatch.setattr(rnn._lstm_kernels, "enabled", use_numba)
    rng = np.random.default_rng(3)
    t_len, bsz, isz, hid = 4, 9, 5, 37     # long enough rows for the SIMD loop body
    nd = 2 if bidir else 1

    def t(*shape):
        return lamina.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)

    ws = [(t(4 * hid, isz), t(4 * hid, hid), t(4 * hid), t(4 * hid)) for _ in range(nd)]
    x = t(bsz, t_len, isz) if batch_first else t(t_len, bsz, isz)
    h0, c0 = t(nd, bsz, hid), t(nd, bsz, hid)
    y, h, c = rnn.rnn_layer("LSTM", x, ws, h0, c0, batch_first=batch_first)
    gy = lamina.tensor(rng.standard_normal(y.shape).astype(dtype))
    ((y * gy).sum() + (h * h).sum() + c.sum()).backward()
    return [y.data, h.data, c.data, x.grad.data, h0.grad.data, c0.grad.data] + [
        p.grad.data for w in ws for p in w]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bidir,batch_first", [(False, False), (True, True)])
def test_lstm_numba_kernels_match_numpy(monkeypatch, dtype, bidir, batch_first):
    """The optional compiled LSTM gate kernels give the NumPy path's results bit for bit."""
    pytest.importorskip("numba")
    fast = _lstm_run(monkeypatch, True, dtype, bidir, batch_first)
    ref = _lstm_run(monkeypatch, False, dtype, bidir, batch_first)
    for a, b in zip(fast, ref):
        np.testing.assert_array_equal(a, b)


def test_lstm_numpy_path_without_numba(monkeypatch):
    """LAMINA_NUMBA=0 (``enabled`` off): the kernels are not used at all."""
    from lamina.ops import rnn

    monkeypatch.setattr(rnn._lstm_kernels, "enabled", False)
    assert rnn._lstm_kernels(np.float64) is None
    out = _lstm_run(monkeypatch, False, np.float64, False, False)
    assert all(np.isfinite(a).all() for a in out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,order", [((8, 5, 6, 7), (1, 2, 3, 0)), ((40, 37), None),
                                         ((6, 33, 5), (0, 2, 1))])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_numba_kernels_match_numpy(monkeypatch, dtype, shape, order, training):
    """batch_norm's optional compiled passes give the NumPy path's results (up to the
    rounding of the per-channel sums, which the kernels accumulate in float64)."""
    pytest.importorskip("numba")
    from lamina.ops.nn import BatchNorm

    rng = np.random.default_rng(5)
    xa = _laid_out(rng.standard_normal(shape).astype(dtype) * 2 + 1, order)
    ga = _laid_out(rng.standard_normal(shape).astype(dtype), order)
    wa, ba = (rng.standard_normal(shape[1]).astype(dtype) for _ in range(2))
    rva = (rng.random(shape[1]) + 0.5).astype(dtype)

    def run(use):
        monkeypatch.setattr(BatchNorm._kernels, "enabled", use)
        x = lamina.tensor(xa, requires_grad=True)
        w, b = lamina.tensor(wa, requires_grad=True), lamina.tensor(ba, requires_grad=True)
        rm, rv = lamina.tensor(np.zeros_like(wa)), lamina.tensor(rva.copy())
        y = batch_norm(x, rm, rv, w, b, training=training)
        (y * lamina.tensor(ga)).sum().backward()
        return [y.data.copy(), x.grad.data, w.grad.data, b.grad.data, rm.data, rv.data]

    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for a, b in zip(run(True), run(False)):
        np.testing.assert_allclose(a, b, **tol)


def test_numba_kernels_build_when_numba_is_installed(monkeypatch):
    """With numba present the compiled paths really exist (so the exactness tests above
    compare two different paths); other dtypes (float16) and LAMINA_NUMBA=0 get None."""
    pytest.importorskip("numba")
    from lamina.ops import rnn
    from lamina.ops.nn import BatchNorm

    for fn in (rnn._lstm_kernels,):
        monkeypatch.setattr(fn, "enabled", True)
        assert fn(np.float32) is not None and fn(np.float64) is not None
        assert fn(np.float16) is None
        monkeypatch.setattr(fn, "enabled", False)
        assert fn(np.float32) is None
    monkeypatch.setattr(BatchNorm._kernels, "enabled", True)
    assert BatchNorm._kernels(np.float32) is not None
    assert BatchNorm._kernels(np.float16) is None


@pytest.mark.parametrize("op", ["bn", "lstm"])
def test_float16_takes_the_numpy_path(op):
    """float16 inputs never reach the compiled kernels (they run and give finite values)."""
    from lamina.ops.rnn import rnn_layer

    rng = np.random.default_rng(0)
    x = lamina.tensor(_laid_out(rng.standard_normal((2, 3, 6, 6)).astype(np.float16),
                                (1, 2, 3, 0)), requires_grad=True)
    if op == "bn":
        y = batch_norm(x, None, None, lamina.tensor(np.ones(3, np.float16)),
                       lamina.tensor(np.zeros(3, np.float16)), training=True)
    else:
        w = [lamina.tensor(rng.standard_normal(s).astype(np.float16)) for s in
             ((8, 6), (8, 2), (8,), (8,))]
        y = rnn_layer("LSTM", x.reshape(6, 6, 6)[:, :, :6], [tuple(w)])[0]
    y.sum().backward()
    assert np.isfinite(x.grad.data.astype(np.float64)).all()
