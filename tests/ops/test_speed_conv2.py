"""conv2d speed paths, second set: the streamed forward used when no gradient is needed, and
the input gradient whose blocks zero the gradient's rows as they first reach them. Each is
compared between the compiled kernels and NumPy (identical values) and against PyTorch."""

import sys

import numpy as np
import pytest

import lamina
from lamina.kernels import memory
from lamina.ops import conv
from tests.helpers import assert_sum_order_close, requires_torch, torch


def _batch_last(a):
    """``a`` with the same values, laid out (C, H, W, N) in memory like a conv output."""
    return np.ascontiguousarray(a.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


# (input shape, out channels, kernel, stride, padding, dilation, bias, batch-last input)
CASES = [
    ((4, 3, 9, 9), 12, 3, 1, 1, 1, True, False),
    ((3, 5, 10, 8), 10, 3, 2, 1, 1, True, True),
    ((2, 4, 11, 7), 9, (3, 2), (2, 1), (2, 0), 1, False, True),
    ((2, 3, 12, 12), 10, 3, 1, 2, 2, True, False),
    ((3, 2, 8, 9), 16, 1, 2, 0, 1, True, True),      # rows no output row reaches
    ((2, 3, 6, 6), 10, 5, 3, 1, 1, False, False),
]


def _run(xa, wa, ba, stride, padding, dilation, grad):
    x = lamina.tensor(xa, requires_grad=grad)
    w = lamina.tensor(wa, requires_grad=grad)
    b = None if ba is None else lamina.tensor(ba, requires_grad=grad)
    if not grad:
        with lamina.no_grad():
            return conv.conv2d(x, w, b, stride, padding, dilation).data.copy(), None
    y = conv.conv2d(x, w, b, stride, padding, dilation)
    (y * y).sum().backward()
    return y.data.copy(), x.grad.data.copy()


def _case(shape, cout, k, bias, last, dtype, seed):
    rng = np.random.default_rng(seed)
    kk = (k, k) if isinstance(k, int) else k
    xa = rng.standard_normal(shape).astype(dtype)
    if last:
        xa = _batch_last(xa)
    wa = rng.standard_normal((cout, shape[1]) + kk).astype(dtype)
    ba = rng.standard_normal(cout).astype(dtype) if bias else None
    return xa, wa, ba


@pytest.mark.parametrize("chunk", [64, 0, 1 << 20], ids=["row-blocks", "whole", "default"])
@pytest.mark.parametrize("case", CASES)
def test_streamed_forward_numba_matches_numpy(monkeypatch, case, chunk):
    """Without gradients the forward runs in blocks of output rows: the compiled block
    im2col and NumPy's give identical outputs, and blocks of any size give the values of
    the training path (the same GEMM rows, split by columns) up to rounding."""
    pytest.importorskip("numba")
    shape, cout, k, stride, padding, dilation, bias, last = case
    monkeypatch.setattr(conv, "_DIRECT_MAX_OUT", 0)
    monkeypatch.setattr(conv, "_CHUNK_BYTES", chunk)
    xa, wa, ba = _case(shape, cout, k, bias, last, np.float32, sum(shape) + cout)
    monkeypatch.setattr(conv._kernels, "enabled", True)
    a = _run(xa, wa, ba, stride, padding, dilation, False)[0]
    monkeypatch.setattr(conv._kernels, "enabled", False)
    b = _run(xa, wa, ba, stride, padding, dilation, False)[0]
    np.testing.assert_array_equal(a, b)
    ref = _run(xa, wa, ba, stride, padding, dilation, True)[0]
    np.testing.assert_allclose(a, ref, rtol=1e-5, atol=1e-5)


@requires_torch
@pytest.mark.parametrize("case", CASES)
def test_streamed_forward_matches_torch_float64(conv_path, monkeypatch, case):
    shape, cout, k, stride, padding, dilation, bias, last = case
    monkeypatch.setattr(conv, "_CHUNK_BYTES", 256)       # several blocks
    xa, wa, ba = _case(shape, cout, k, bias, last, np.float64, 7)
    y = _run(xa, wa, ba, stride, padding, dilation, False)[0]
    with torch.no_grad():
        yt = torch.nn.functional.conv2d(torch.tensor(xa), torch.tensor(wa),
                                        None if ba is None else torch.tensor(ba), stride,
                                        padding, dilation)
    assert y.shape == tuple(yt.shape)
    np.testing.assert_allclose(y, yt.numpy(), rtol=1e-7, atol=1e-10)


def _poison_free_buffers():
    """Fill the recycled buffers nobody holds with NaN (stale values a path must overwrite)."""
    for lst in memory._POOL.values():
        for buf in lst:
            if sys.getrefcount(buf) == memory._FREE_RC and buf.dtype.kind == "f":
                buf.fill(np.nan)


@requires_torch
@pytest.mark.parametrize("chunk", [64, 1 << 20], ids=["row-blocks", "default"])
@pytest.mark.parametrize("case", CASES)
def test_blocked_input_gradient_zeroes_rows_lazily(monkeypatch, case, chunk):
    """The blocked input gradient zeroes each row of the gradient when a block first reaches
    it (and rows no block reaches at the end): the gradient lands in a recycled buffer full
    of stale values, and both paths still agree exactly, and with PyTorch."""
    pytest.importorskip("numba")
    shape, cout, k, stride, padding, dilation, bias, last = case
    monkeypatch.setattr(conv, "_DIRECT_MAX_OUT", 0)
    monkeypatch.setattr(conv, "_CHUNK_BYTES", chunk)
    xa, wa, ba = _case(shape, cout, k, bias, last, np.float32, 11)
    grads = []
    for use in (True, False):
        monkeypatch.setattr(conv._kernels, "enabled", use)
        for _ in range(2):                 # the second run gets the first one's buffers
            _poison_free_buffers()
            y, gx = _run(xa, wa, ba, stride, padding, dilation, True)
            grads.append(gx)
    # the same path twice runs the same operations: bit for bit, stale buffers or not
    np.testing.assert_array_equal(grads[1], grads[0])
    np.testing.assert_array_equal(grads[3], grads[2])
    assert np.isfinite(grads[0]).all() and np.isfinite(grads[2]).all()
    # the compiled and NumPy paths add each input pixel's O*kh*kw contributions in different
    # orders (and BLAS blocks the products by the CPU's SIMD width): bounded by the float32
    # summation error, with the sums of |terms| taken from a float64 run on |w| and |dL/dy|
    kh, kw = (k, k) if isinstance(k, int) else k
    x64 = lamina.tensor(xa.astype(np.float64), requires_grad=True)
    y64 = conv.conv2d(x64, lamina.tensor(np.abs(wa).astype(np.float64)), None, stride, padding,
                      dilation)
    y64.backward(lamina.tensor(np.abs(2 * y).astype(np.float64)))
    assert_sum_order_close(grads[2], grads[0], x64.grad.data, cout * kh * kw, np.float32)
    xt = torch.tensor(xa.astype(np.float64), requires_grad=True)
    yt = torch.nn.functional.conv2d(xt, torch.tensor(wa.astype(np.float64)),
                                    None if ba is None else torch.tensor(ba.astype(np.float64)),
                                    stride, padding, dilation)
    (yt * yt).sum().backward()
    np.testing.assert_allclose(grads[0], xt.grad.numpy(), rtol=1e-4, atol=1e-3)


def test_streamed_forward_saves_nothing_and_is_not_recorded():
    """Under no_grad the output has no graph node and holds no column matrix."""
    x = lamina.tensor(np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(
        np.float32), requires_grad=True)
    w = lamina.tensor(np.ones((4, 3, 3, 3), np.float32), requires_grad=True)
    with lamina.no_grad():
        y = conv.conv2d(x, w, padding=1)
    assert not y.requires_grad and y.grad_fn is None
    assert y.shape == (2, 4, 8, 8)
