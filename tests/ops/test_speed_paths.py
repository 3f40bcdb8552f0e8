"""The fast paths of the performance-tuned ops against their NumPy paths."""

import numpy as np
import pytest

import lamina
from lamina.ops.nn import batch_norm


def _laid_out(a, order):
    if order is None:
        return a
    return np.ascontiguousarray(a.transpose(order)).transpose(np.argsort(order))


@pytest.mark.parametrize("c,n,h,w,kh,kw,stride,dilation", [
    (3, 2, 9, 8, 3, 3, (2, 2), (1, 1)), (2, 3, 7, 7, 3, 3, (3, 3), (1, 1)),
    (2, 2, 10, 9, 5, 2, (1, 2), (1, 1)), (2, 2, 9, 9, 2, 2, (3, 3), (1, 1)),
    (2, 2, 11, 11, 3, 3, (2, 1), (2, 2)), (1, 4, 6, 6, 1, 1, (1, 1), (1, 1))])
@pytest.mark.parametrize("use_numba", [False, True])
def test_col2im_is_the_adjoint_of_im2col(monkeypatch, c, n, h, w, kh, kw, stride, dilation,
                                         use_numba):
    """col2im (the assign-first NumPy path, its zero-and-add path and the optional compiled
    kernel) is im2col's adjoint: <im2col(x), y> == <x, col2im(y)>; every call fully
    overwrites a recycled buffer (no stale values from an earlier use); the compiled kernel
    gives the NumPy path's values exactly."""
    from lamina.ops import conv
    from lamina.ops.conv import _col2im, _im2col

    if use_numba:
        pytest.importorskip("numba")
    monkeypatch.setattr(conv._kernels, "enabled", use_numba)
    rng = np.random.default_rng(c + n + h)
    ho = (h - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (w - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    x = rng.standard_normal((c, h, w, n))
    y = rng.standard_normal((c * kh * kw, ho * wo * n))
    lhs = float(np.sum(_im2col(x, kh, kw, ho, wo, stride, dilation) * y))
    for _ in range(2):       # the second call may get the first one's (dirtied) buffer
        back = _col2im(y, c, n, h, w, kh, kw, ho, wo, stride, dilation)
        np.testing.assert_allclose(float(np.sum(x * back)), lhs, rtol=1e-12)
        if use_numba:
            monkeypatch.setattr(conv._kernels, "enabled", False)
            ref = _col2im(y, c, n, h, w, kh, kw, ho, wo, stride, dilation).copy()
            monkeypatch.setattr(conv._kernels, "enabled", True)
            np.testing.assert_array_equal(back, ref)
        back[...] = np.nan
        del back


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 8, 6), (3, 2, 7, 9)])
@pytest.mark.parametrize("order", [None, (1, 2, 3, 0), (0, 2, 3, 1), (2, 0, 3, 1)])
@pytest.mark.parametrize("return_indices", [False, True])
def test_max_pool_numba_kernels_match_numpy(monkeypatch, dtype, shape, order,
                                            return_indices):
    """2x2 max pooling's optional compiled kernels give the NumPy path's values, winning
    positions (ties: first in window order; NaN propagates), indices and gradients, for
    every memory layout (the gradient arrives in another layout than the input)."""
    pytest.importorskip("numba")
    from lamina.nn import functional as F
    from lamina.ops import pool

    rng = np.random.default_rng(7)
    a = rng.standard_normal(shape).astype(dtype)
    a[0, 0, :2, :2] = 1.0                      # a four-way tie
    a[-1, -1, 2, 3] = np.nan
    a = _laid_out(a, order)
    ga = _laid_out(rng.standard_normal(shape[:2] + (shape[2] // 2, shape[3] // 2)).astype(
        dtype), (1, 2, 3, 0))

    def run(use):
        monkeypatch.setattr(pool._pool_kernels, "enabled", use)
        x = lamina.tensor(a, requires_grad=True)
        y = F.max_pool2d(x, 2, return_indices=return_indices)
        extra = []
        if return_indices:
            y, idx = y
            extra = [idx.data]
        (y * lamina.tensor(ga)).sum().backward()
        return [y.data.copy(), x.grad.data.copy()] + extra

    for p, q in zip(run(True), run(False)):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel,stride,padding,dilation", [
    (3, 1, 1, 1), (3, 2, 1, 1), (5, 1, 0, 1), (3, 2, 2, 2), (4, 3, (2, 1), 1)])
@pytest.mark.parametrize("order", [None, (1, 2, 3, 0)])
def test_conv2d_numba_kernels_match_numpy(monkeypatch, dtype, kernel, stride, padding,
                                          dilation, order):
    """conv2d with the optional compiled im2col (batch-last inputs) and col2im gives the
    NumPy path's output and gradients exactly (the direct-convolution path, which sums in
    another order, is tested in test_speed_conv.py)."""
    pytest.importorskip("numba")
    from lamina.ops import conv

    monkeypatch.setattr(conv, "_DIRECT_MAX_OUT", 0)

    rng = np.random.default_rng(11)
    xa = _laid_out(rng.standard_normal((3, 4, 11, 10)).astype(dtype), order)
    wa = rng.standard_normal((5, 4, kernel, kernel)).astype(dtype)
    ba = rng.standard_normal(5).astype(dtype)

    def run(use):
        monkeypatch.setattr(conv._kernels, "enabled", use)
        x = lamina.tensor(xa, requires_grad=True)
        w, b = lamina.tensor(wa, requires_grad=True), lamina.tensor(ba, requires_grad=True)
        y = conv.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)
        (y * y).sum().backward()
        return [y.data.copy(), x.grad.data.copy(), w.grad.data, b.grad.data]

    for p, q in zip(run(True), run(False)):
        np.testing.assert_array_equal(p, q)


def test_numba_kernels_build_when_numba_is_installed(monkeypatch):
    """With numba present the compiled paths really exist (so the exactness tests above
    compare two different paths); other dtypes (float16) and LAMINA_NUMBA=0 get None."""
    pytest.importorskip("numba")
    from lamina.ops import conv, pool

    for fn in (conv._kernels, pool._pool_kernels):
        monkeypatch.setattr(fn, "enabled", True)
        assert fn(np.float32) is not None and fn(np.float64) is not None
        assert fn(np.float16) is None
        monkeypatch.setattr(fn, "enabled", False)
        assert fn(np.float32) is None


@pytest.mark.parametrize("op", ["conv", "pool", "bn", "lstm"])
def test_float16_takes_the_numpy_path(op):
    """float16 inputs never reach the compiled kernels (they run and give finite values)."""
    from lamina.nn import functional as F
    from lamina.ops.rnn import rnn_layer

    rng = np.random.default_rng(0)
    x = lamina.tensor(_laid_out(rng.standard_normal((2, 3, 6, 6)).astype(np.float16),
                                (1, 2, 3, 0)), requires_grad=True)
    if op == "conv":
        y = F.conv2d(x, lamina.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float16)),
                     padding=1)
    elif op == "pool":
        y = F.max_pool2d(x, 2)
    elif op == "bn":
        y = batch_norm(x, None, None, lamina.tensor(np.ones(3, np.float16)),
                       lamina.tensor(np.zeros(3, np.float16)), training=True)
    else:
        w = [lamina.tensor(rng.standard_normal(s).astype(np.float16)) for s in
             ((8, 6), (8, 2), (8,), (8,))]
        y = rnn_layer("LSTM", x.reshape(6, 6, 6)[:, :, :6], [tuple(w)])[0]
    y.sum().backward()
    assert np.isfinite(x.grad.data.astype(np.float64)).all()
