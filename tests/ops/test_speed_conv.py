"""The speed paths of conv2d and pooling (issue #4): compiled kernels against the
NumPy fallback and against PyTorch, in the memory layouts the conv benchmarks produce."""

import numpy as np
import pytest

import lamina
from tests.helpers import assert_sum_order_close, requires_torch, torch


def _laid_out(a, order):
    """``a`` with the same values, its memory ordered by the axes ``order``."""
    if order is None:
        return a
    return np.ascontiguousarray(a.transpose(order)).transpose(np.argsort(order))


@requires_torch
@pytest.mark.parametrize("shape", [(3, 4, 5, 6), (2, 3, 1, 1), (4, 7, 3)])
@pytest.mark.parametrize("order", [None, (1, 2, 3, 0), (0, 2, 3, 1), (2, 0, 3, 1)])
def test_adaptive_avg_pool_to_one_pixel(shape, order):
    """adaptive_avg_pool2d(x, 1) (the global-average-pool path) in every memory layout,
    float64 against PyTorch; the gradient keeps the input's layout."""
    from lamina.nn import functional as F

    if len(shape) == 3 and order is not None:
        order = order[1:] if order[0] == 0 else None
        if order is not None:
            order = tuple(a - 1 for a in order)
    rng = np.random.default_rng(1)
    xa = _laid_out(rng.standard_normal(shape), order)
    ga = rng.standard_normal(shape[:-2] + (1, 1))
    x = lamina.tensor(xa, requires_grad=True)
    y = F.adaptive_avg_pool2d(x, 1)
    (y * lamina.tensor(ga)).sum().backward()
    xt = torch.tensor(xa, requires_grad=True)
    yt = torch.nn.functional.adaptive_avg_pool2d(xt, 1)
    (yt * torch.tensor(ga)).sum().backward()
    assert y.shape == tuple(yt.shape)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), rtol=1e-12, atol=1e-14)
    if order is not None and len(shape) == 4:
        # the Function's own gradient comes back in the input's memory order
        from lamina.ops.pool import GlobalAvgPoolFn

        ctx = GlobalAvgPoolFn.__new__(GlobalAvgPoolFn)
        GlobalAvgPoolFn.forward(ctx, xa)
        gx = GlobalAvgPoolFn.backward(ctx, ga)
        assert gx.transpose(order).flags.c_contiguous
        np.testing.assert_array_equal(gx, x.grad.data)


def test_adaptive_avg_pool_to_one_pixel_float32_and_gradcheck():
    from lamina.autograd.gradcheck import gradcheck
    from lamina.nn import functional as F

    rng = np.random.default_rng(2)
    xa = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    y = F.adaptive_avg_pool2d(lamina.tensor(xa), (1, 1))
    assert y.dtype == lamina.float32
    np.testing.assert_allclose(y.data, xa.mean(axis=(2, 3), keepdims=True), rtol=1e-6)
    x = lamina.tensor(rng.standard_normal((2, 3, 4, 5)), requires_grad=True)
    # through a batch-last view, the layout conv2d hands out
    assert gradcheck(lambda t: F.adaptive_avg_pool2d(t.permute(1, 2, 3, 0).permute(
        3, 0, 1, 2) * 1.0, 1), (x,))


# (in, out, kernel, padding, memory order of the input): few output channels take the
# direct path (stride 1, kernel 3 or 5), the rest im2col + GEMM
DIRECT_CASES = [(1, 6, 5, 2, None), (3, 4, 3, 1, (1, 2, 3, 0)), (2, 8, 5, 0, (1, 2, 3, 0)),
                (2, 3, (3, 5), (1, 2), (0, 2, 3, 1)), (1, 2, 4, 1, None), (2, 9, 3, 1, None)]


@requires_torch
@pytest.mark.parametrize("cin,cout,k,pad,order", DIRECT_CASES)
def test_conv2d_few_output_channels_float64(conv_path, cin, cout, k, pad, order):
    """conv2d values and all three gradients against PyTorch in float64, on the direct
    path (numba, <= 8 output channels) and on the NumPy im2col path."""
    rng = np.random.default_rng(cin * 10 + cout)
    kk = (k, k) if isinstance(k, int) else k
    xa = _laid_out(rng.standard_normal((3, cin, 9, 8)), order)
    wa = rng.standard_normal((cout, cin) + kk)
    ba = rng.standard_normal(cout)
    x = lamina.tensor(xa, requires_grad=True)
    w, b = lamina.tensor(wa, requires_grad=True), lamina.tensor(ba, requires_grad=True)
    y = lamina.nn.functional.conv2d(x, w, b, padding=pad)
    ga = rng.standard_normal(y.shape)
    (y * lamina.tensor(ga)).sum().backward()
    xt = torch.tensor(xa, requires_grad=True)
    wt, bt = torch.tensor(wa, requires_grad=True), torch.tensor(ba, requires_grad=True)
    yt = torch.nn.functional.conv2d(xt, wt, bt, padding=pad)
    (yt * torch.tensor(ga)).sum().backward()
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w.grad.data, wt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.grad.data, bt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_conv2d_direct_path_matches_numpy_float32(monkeypatch):
    """The direct convolution (LeNet's first layer: 1 -> 6 channels, 5x5, padding 2) and
    the NumPy im2col path agree in float32 up to summation order; the direct path is really
    taken with numba installed."""
    pytest.importorskip("numba")
    from lamina.ops import conv

    rng = np.random.default_rng(9)
    xa = rng.standard_normal((16, 1, 12, 12)).astype(np.float32)
    wa = (rng.standard_normal((6, 1, 5, 5)) / 5).astype(np.float32)
    ba = rng.standard_normal(6).astype(np.float32)
    ga = rng.standard_normal((16, 6, 12, 12)).astype(np.float32)

    def run(use):
        monkeypatch.setattr(conv._kernels, "enabled", use)
        x = lamina.tensor(xa, requires_grad=True)
        w, b = lamina.tensor(wa, requires_grad=True), lamina.tensor(ba, requires_grad=True)
        y = conv.conv2d(x, w, b, padding=2)
        assert y._ctx.direct is use
        (y * lamina.tensor(ga)).sum().backward()
        return [y.data.copy(), x.grad.data.copy(), w.grad.data, b.grad.data]

    # the two paths add the same products in different orders (the direct loop by taps, the
    # im2col path in BLAS's blocks, whose order depends on the CPU's SIMD width): bound the
    # difference by the float32 summation error of each sum, with sum(|terms|) from float64
    x64 = lamina.tensor(np.abs(xa).astype(np.float64), requires_grad=True)
    w64 = lamina.tensor(np.abs(wa).astype(np.float64), requires_grad=True)
    y64 = conv.conv2d(x64, w64, lamina.tensor(np.abs(ba).astype(np.float64)), padding=2)
    (y64 * lamina.tensor(np.abs(ga).astype(np.float64))).sum().backward()
    abs_sums = [y64.data, x64.grad.data, w64.grad.data, np.abs(ga).sum(axis=(0, 2, 3))]
    terms = [1 * 5 * 5 + 1, 6 * 5 * 5, 16 * 12 * 12, 16 * 12 * 12]   # C*kh*kw (+bias), ...
    names = ["output", "input grad", "weight grad", "bias grad"]
    for p, q, a, k, name in zip(run(True), run(False), abs_sums, terms, names):
        assert_sum_order_close(p, q, a, k, np.float32, err_msg=name)


def test_conv2d_direct_path_detects_in_place_change(monkeypatch):
    """The direct path keeps (a view of) its input for the weight gradient: changing the
    input in place before backward raises, as in PyTorch."""
    pytest.importorskip("numba")
    from lamina.ops import conv

    monkeypatch.setattr(conv._kernels, "enabled", True)
    x0 = lamina.tensor(np.random.default_rng(0).standard_normal((2, 1, 6, 6)),
                       requires_grad=True)
    x = x0 * 1.0
    w = lamina.tensor(np.ones((2, 1, 3, 3)), requires_grad=True)
    y = lamina.nn.functional.conv2d(x, w)
    with lamina.no_grad():
        x.mul_(2.0)
    with pytest.raises(RuntimeError):
        y.sum().backward()


@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 1), (2, 0), (1, (2, 0))])
def test_conv2d_input_gradient_is_dense_batch_last(monkeypatch, stride, padding):
    """With numba the input gradient comes back as a dense (C, H, W, N) array, the layout
    of a conv output (so ReLU/BatchNorm backward passes read it without a copy); values
    equal the NumPy path's."""
    pytest.importorskip("numba")
    from lamina.ops import conv

    rng = np.random.default_rng(5)
    xa = _laid_out(rng.standard_normal((4, 3, 9, 8)).astype(np.float32), (1, 2, 3, 0))
    wa = rng.standard_normal((12, 3, 3, 3)).astype(np.float32)
    pads = conv._tuple(padding, 2, "padding", "t")
    args = (xa, wa, None, (stride, stride), (pads[0], pads[0], pads[1], pads[1]), (1, 1), 1)
    outs = []
    for use in (True, False):
        monkeypatch.setattr(conv._kernels, "enabled", use)
        ctx = conv.Conv2dFn.__new__(conv.Conv2dFn)
        ctx.needs_input_grad = [True, True, False]
        ctx.inputs = args
        y = conv.Conv2dFn.forward(ctx, *args)
        ga = rng.standard_normal(y.shape).astype(np.float32) if not outs else outs[0][1]
        gx = conv.Conv2dFn.backward(ctx, _laid_out(ga, (1, 2, 3, 0)))[0]
        outs.append((gx.copy(), ga, gx))
    assert outs[0][2].transpose(1, 2, 3, 0).flags.c_contiguous
    np.testing.assert_array_equal(outs[0][0], outs[1][0])


CHUNK_CASES = [((4, 3, 11, 10), 5, 3, 2, 1, 1), ((3, 4, 9, 9), 6, 3, 1, 1, 1),
               ((2, 3, 12, 11), 4, (3, 2), (2, 1), (0, 2), (2, 1)),
               ((2, 5, 8, 8), 9, 5, 1, 2, 1)]


@pytest.mark.parametrize("shape,cout,k,stride,padding,dilation", CHUNK_CASES)
def test_conv2d_chunked_input_gradient_numba_matches_numpy(monkeypatch, shape, cout, k,
                                                           stride, padding, dilation):
    """The input gradient computed in blocks of output rows (forced here with a tiny block)
    gives the same values with the compiled block add and with NumPy's, and the same as
    the unblocked computation up to rounding."""
    pytest.importorskip("numba")
    from lamina.ops import conv

    rng = np.random.default_rng(sum(shape) + cout)
    xa = _laid_out(rng.standard_normal(shape).astype(np.float32), (1, 2, 3, 0))
    kk = (k, k) if isinstance(k, int) else k
    wa = rng.standard_normal((cout, shape[1]) + kk).astype(np.float32)

    monkeypatch.setattr(conv, "_DIRECT_MAX_OUT", 0)     # (it sums in its own order)

    def run(use, chunk):
        monkeypatch.setattr(conv._kernels, "enabled", use)
        monkeypatch.setattr(conv, "_CHUNK_BYTES", chunk)
        x = lamina.tensor(xa, requires_grad=True)
        w = lamina.tensor(wa, requires_grad=True)
        y = conv.conv2d(x, w, stride=stride, padding=padding, dilation=dilation)
        (y * y).sum().backward()
        return x.grad.data.copy()

    a, b = run(True, 256), run(False, 256)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, run(False, 0), rtol=1e-4, atol=1e-3)


@requires_torch
@pytest.mark.parametrize("shape,cout,k,stride,padding,dilation", CHUNK_CASES[:2])
def test_conv2d_chunked_input_gradient_float64(conv_path, monkeypatch, shape, cout, k,
                                               stride, padding, dilation):
    from lamina.ops import conv

    monkeypatch.setattr(conv, "_CHUNK_BYTES", 512)
    rng = np.random.default_rng(3)
    xa = rng.standard_normal(shape)
    wa = rng.standard_normal((cout, shape[1], k, k))
    x = lamina.tensor(xa, requires_grad=True)
    y = conv.conv2d(x, lamina.tensor(wa), stride=stride, padding=padding, dilation=dilation)
    (y * y).sum().backward()
    xt = torch.tensor(xa, requires_grad=True)
    yt = torch.nn.functional.conv2d(xt, torch.tensor(wa), stride=stride, padding=padding,
                                    dilation=dilation)
    (yt * yt).sum().backward()
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), rtol=1e-10, atol=1e-10)
