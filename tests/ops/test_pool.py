"""Pooling and interpolation against PyTorch: values, indices, gradients (ties included)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lamina
from lamina.ops import pool as P
from tests.helpers import assert_sum_order_close, check_grad, check_op, requires_torch, torch

if torch is not None:
    import torch.nn.functional as TF


def _ties(shape, seed=0):
    """Small integers: many equal values inside each window."""
    return np.random.default_rng(seed).integers(-2, 3, size=shape).astype(np.float64)


@st.composite
def pool_cases(draw):
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = tuple(draw(st.integers(0, ki // 2)) for ki in k)
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    ceil = draw(st.booleans())
    h = draw(st.integers(d[0] * (k[0] - 1) + 1, 8))
    w = draw(st.integers(d[1] * (k[1] - 1) + 1, 8))
    return dict(k=k, s=s, p=p, d=d, ceil=ceil, shape=(draw(st.integers(1, 2)), 2, h, w))


@requires_torch
@settings(max_examples=20)
@given(pool_cases(), st.integers(0, 100))
def test_max_pool2d_matches_torch_with_ties(c, seed):
    kw = dict(kernel_size=c["k"], stride=c["s"], padding=c["p"], dilation=c["d"],
              ceil_mode=c["ceil"], return_indices=True)
    check_op([_ties(c["shape"], seed)], lambda x: TF.max_pool2d(x, **kw),
             lambda x: P.max_pool2d(x, **kw))


@requires_torch
@settings(max_examples=20)
@given(pool_cases(), st.booleans())
def test_avg_pool2d_matches_torch(c, include_pad):
    kw = dict(kernel_size=c["k"], stride=c["s"], padding=c["p"], ceil_mode=c["ceil"],
              count_include_pad=include_pad)
    check_op([c["shape"]], lambda x: TF.avg_pool2d(x, **kw), lambda x: P.avg_pool2d(x, **kw))


@requires_torch
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("shape", [(1, 2, 2, 5), (2, 3, 5, 4), (2, 2, 7, 7), (3, 1, 3, 6)])
@pytest.mark.parametrize("batch_last", [False, True])
def test_max_pool2d_ceil_mode_partial_windows(fast, shape, batch_last):
    """2x2 stride-2 windows hanging over an odd edge (ceil_mode): the compiled backward once
    wrote the padded width into the unpadded gradient, moving gradients into the next row
    and plane (found by the hypothesis test above on a fresh example database)."""
    from lamina import dispatch

    x = _ties(shape, seed=10)
    if batch_last:
        x = np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    kw = dict(kernel_size=2, stride=2, ceil_mode=True, return_indices=True)
    with dispatch.fast_paths(fast):
        check_op([x], lambda t: TF.max_pool2d(t, **kw), lambda t: P.max_pool2d(t, **kw))


@requires_torch
@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (2, 3, 9, 7), (3, 6, 6)])
@pytest.mark.parametrize("k", [2, 3])
def test_max_pool2d_fast_path(shape, k):
    check_op([_ties(shape)], lambda x: TF.max_pool2d(x, k, return_indices=True),
             lambda x: P.max_pool2d(x, k, return_indices=True))


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pools_1d(dtype):
    kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
    check_op([_ties((2, 3, 10)).astype(dtype)], lambda x: TF.max_pool1d(x, **kw),
             lambda x: P.max_pool1d(x, **kw), dtype=dtype)
    check_op([(2, 3, 10)], lambda x: TF.avg_pool1d(x, count_include_pad=False, **kw),
             lambda x: P.avg_pool1d(x, count_include_pad=False, **kw), dtype=dtype)


@requires_torch
def test_avg_pool2d_divisor_override():
    check_op([(2, 2, 7, 7)], lambda x: TF.avg_pool2d(x, 3, 2, 1, divisor_override=5),
             lambda x: P.avg_pool2d(x, 3, 2, 1, divisor_override=5))


@requires_torch
@pytest.mark.parametrize("out", [1, (3, 4), (5, 9), (None, 2)])
def test_adaptive_pools_2d(out):
    check_op([(2, 3, 7, 6)], lambda x: TF.adaptive_avg_pool2d(x, out),
             lambda x: P.adaptive_avg_pool2d(x, out))
    check_op([_ties((2, 3, 7, 6))], lambda x: TF.adaptive_max_pool2d(x, out, True),
             lambda x: P.adaptive_max_pool2d(x, out, True))


@requires_torch
def test_adaptive_pools_1d():
    check_op([(2, 3, 7)], lambda x: TF.adaptive_avg_pool1d(x, 4),
             lambda x: P.adaptive_avg_pool1d(x, 4))
    check_op([_ties((2, 3, 7))], lambda x: TF.adaptive_max_pool1d(x, 5, True),
             lambda x: P.adaptive_max_pool1d(x, 5, True))


@requires_torch
@pytest.mark.parametrize("kw", [
    dict(scale_factor=2, mode="nearest"), dict(size=(5, 9), mode="nearest"),
    dict(scale_factor=1.7, mode="nearest"), dict(scale_factor=2, mode="bilinear"),
    dict(size=(5, 9), mode="bilinear", align_corners=True),
    dict(scale_factor=(0.6, 2.3), mode="bilinear", align_corners=False),
    dict(size=(1, 3), mode="bilinear", align_corners=True),
])
def test_interpolate_2d(kw):
    check_op([(2, 3, 4, 6)], lambda x: TF.interpolate(x, **kw),
             lambda x: P.interpolate(x, **kw))


@requires_torch
@pytest.mark.parametrize("kw", [dict(scale_factor=2.5, mode="linear"), dict(size=7),
                                dict(size=3, mode="linear", align_corners=True)])
def test_interpolate_1d(kw):
    check_op([(2, 3, 4)], lambda x: TF.interpolate(x, **kw), lambda x: P.interpolate(x, **kw))


def test_pool_gradchecks():
    check_grad(lambda x: P.max_pool2d(x, 3, 2, 1, ceil_mode=True), [(1, 2, 6, 5)])
    check_grad(lambda x: P.max_pool2d(x, 2), [(1, 2, 4, 5)])
    check_grad(lambda x: P.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
               [(1, 2, 6, 5)])
    check_grad(lambda x: P.adaptive_avg_pool2d(x, (2, 3)), [(1, 2, 5, 5)])
    check_grad(lambda x: P.adaptive_max_pool2d(x, (2, 3)), [(1, 2, 5, 5)])
    check_grad(lambda x: P.interpolate(x, scale_factor=2, mode="bilinear"), [(1, 1, 3, 3)])
    check_grad(lambda x: P.max_pool1d(x, 4, 2, 2), [(2, 3, 20)], fast_mode=True)
    check_grad(lambda x: P.avg_pool1d(x, 3, 2, 1, ceil_mode=True), [(2, 2, 7)])
    check_grad(lambda x: P.adaptive_avg_pool1d(x, 3), [(2, 2, 7)])
    check_grad(lambda x: P.adaptive_max_pool1d(x, 3), [(2, 2, 7)])
    check_grad(lambda x: P.interpolate(x, size=(3, 5), mode="nearest"), [(1, 2, 2, 3)])
    check_grad(lambda x: P.interpolate(x, scale_factor=1.5, mode="linear",
                                       align_corners=True), [(1, 2, 4)])


def test_max_pool_on_channels_first_memory():
    """A conv output (channels-first memory) pools like its contiguous copy."""
    from lamina.ops.conv import conv2d
    x = lamina.randn(3, 2, 8, 8, dtype=lamina.float64)
    w = lamina.randn(4, 2, 3, 3, dtype=lamina.float64)
    y = conv2d(x, w, padding=1)
    assert not y._data.flags.c_contiguous
    yc = lamina.tensor(np.ascontiguousarray(y._data))
    for fn in (lambda t: P.max_pool2d(t, 2), lambda t: P.max_pool2d(t, 3, 2, 1),
               lambda t: P.avg_pool2d(t, 2)):
        np.testing.assert_array_equal(fn(y)._data, fn(yc)._data)


@pytest.mark.parametrize("call", [
    lambda: P.max_pool2d(lamina.randn(1, 1, 4, 4), 2, padding=2),
    lambda: P.max_pool2d(lamina.randn(4, 4), 2),
    lambda: P.avg_pool2d(lamina.randn(1, 1, 2, 2), 3),
    lambda: P.max_pool2d(lamina.randn(1, 1, 4, 4), 0),
    lambda: P.interpolate(lamina.randn(1, 1, 4, 4), scale_factor=2, align_corners=True),
    lambda: P.interpolate(lamina.randn(1, 1, 4, 4)),
])
def test_pool_errors(call):
    with pytest.raises((RuntimeError, ValueError, TypeError)):
        call()


def _nan_windows(shape, seed):
    """Random values with NaNs: one, two (PyTorch's index is then the last in window order)
    and none per window, at random places."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    x[rng.random(shape) < 0.2] = np.nan
    return x


NAN_POOLS = [
    ("max_pool2d", dict(kernel_size=2), (2, 3, 6, 8)),               # the compiled 2x2 case
    ("max_pool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), (2, 2, 7, 6)),
    ("max_pool2d", dict(kernel_size=(2, 3), stride=1, dilation=(2, 1)), (1, 3, 7, 7)),
    ("max_pool1d", dict(kernel_size=3, stride=2, padding=1), (2, 3, 11)),
    ("max_pool1d", dict(kernel_size=4), (2, 2, 12)),
    ("adaptive_max_pool2d", dict(output_size=(3, 2)), (2, 3, 7, 6)),
    ("adaptive_max_pool1d", dict(output_size=3), (2, 3, 10)),
]


@requires_torch
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("name,kw,shape", NAN_POOLS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_max_pools_propagate_nan_like_torch(fast, name, kw, shape, seed):
    """A window holding a NaN gives NaN wherever the NaN is; its index points at the NaN
    (the last one in row-major window order when there are several, as PyTorch's CPU kernel
    does), and the gradient goes there. On both floors (the fast one with and without the
    batch-last layout conv hands out)."""
    from lamina import dispatch

    xa = _nan_windows(shape, seed)
    for layout in [xa, np.ascontiguousarray(np.moveaxis(xa, 0, -1)).transpose(
            (xa.ndim - 1,) + tuple(range(xa.ndim - 1)))]:
        with dispatch.fast_paths(fast):
            x = lamina.tensor(layout, requires_grad=True)
            y, idx = getattr(P, name)(x, return_indices=True, **kw)
            if name == "max_pool2d" and kw == dict(kernel_size=2):
                # the 2x2 case runs the compiled kernel on the fast floor (when it exists)
                from lamina.kernels.pool import MaxPool2dCompiled, compiled

                assert (type(y._ctx) is MaxPool2dCompiled) is (
                    fast and compiled(np.float64) is not None)
            ga = np.random.default_rng(seed + 1).standard_normal(y.shape)
            (y * lamina.tensor(ga)).sum().backward()
        xt = torch.tensor(xa, requires_grad=True)
        yt, it = getattr(TF, name)(xt, return_indices=True, **kw)
        (yt * torch.tensor(ga)).sum().backward()
        np.testing.assert_array_equal(y._data, yt.detach().numpy())     # NaN == NaN here
        np.testing.assert_array_equal(idx._data, it.numpy())
        # overlapping windows sum their gradients, in another order than PyTorch's
        np.testing.assert_allclose(x.grad._data, xt.grad.numpy(), rtol=1e-12, atol=0)


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
    np.testing.assert_allclose(y._data, yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(x.grad._data, xt.grad.numpy(), rtol=1e-12, atol=1e-14)
    if order is not None and len(shape) == 4:
        # the Function's own gradient comes back in the input's memory order
        from lamina.ops.pool import GlobalAvgPoolFn

        ctx = GlobalAvgPoolFn.__new__(GlobalAvgPoolFn)
        GlobalAvgPoolFn.forward(ctx, xa)
        gx = GlobalAvgPoolFn.backward(ctx, ga)
        assert gx.transpose(order).flags.c_contiguous
        np.testing.assert_array_equal(gx, x.grad._data)


def test_adaptive_avg_pool_to_one_pixel_float32_and_gradcheck():
    from lamina.autograd.gradcheck import gradcheck
    from lamina.nn import functional as F

    rng = np.random.default_rng(2)
    xa = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    y = F.adaptive_avg_pool2d(lamina.tensor(xa), (1, 1))
    assert y.dtype == lamina.float32
    # NumPy's mean and lamina's sums may add in different orders: the summation-order bound
    assert_sum_order_close(y._data, xa.mean(axis=(2, 3), keepdims=True),
                           np.abs(xa.astype(np.float64)).mean(axis=(2, 3), keepdims=True),
                           4 * 5 + 1, np.float32)
    x = lamina.tensor(rng.standard_normal((2, 3, 4, 5)), requires_grad=True)
    # through a batch-last view, the layout conv2d hands out
    assert gradcheck(lambda t: F.adaptive_avg_pool2d(t.permute(1, 2, 3, 0).permute(
        3, 0, 1, 2) * 1.0, 1), (x,))
