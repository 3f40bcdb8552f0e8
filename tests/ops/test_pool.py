"""Pooling and interpolation against PyTorch: values, indices, gradients (ties included)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lamina
from lamina.ops import pool as P
from tests.helpers import check_grad, check_op, requires_torch, torch

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
@pytest.mark.parametrize("numba", [True, False])
@pytest.mark.parametrize("shape", [(1, 2, 2, 5), (2, 3, 5, 4), (2, 2, 7, 7), (3, 1, 3, 6)])
@pytest.mark.parametrize("batch_last", [False, True])
def test_max_pool2d_ceil_mode_partial_windows(monkeypatch, numba, shape, batch_last):
    """2x2 stride-2 windows hanging over an odd edge (ceil_mode): the compiled backward once
    wrote the padded width into the unpadded gradient, moving gradients into the next row
    and plane (found by the hypothesis test above on a fresh example database)."""
    monkeypatch.setattr(P._pool_kernels, "enabled", numba)
    x = _ties(shape, seed=10)
    if batch_last:
        x = np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    kw = dict(kernel_size=2, stride=2, ceil_mode=True, return_indices=True)
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
    assert not y.data.flags.c_contiguous
    yc = lamina.tensor(np.ascontiguousarray(y.data))
    for fn in (lambda t: P.max_pool2d(t, 2), lambda t: P.max_pool2d(t, 3, 2, 1),
               lambda t: P.avg_pool2d(t, 2)):
        np.testing.assert_array_equal(fn(y).data, fn(yc).data)


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
