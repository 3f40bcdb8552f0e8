"""The pooling fast paths (``lamina/kernels/pool.py``) against the reference ops and PyTorch:
the compiled 2x2 max pool (same comparisons in the same order as the reference: bit for bit)
and the compiled global average pool (its sums in another order: the summation-order bound).
Each test checks which Function ran."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lamina
from lamina import dispatch
from lamina.kernels.pool import GlobalAvgPoolCompiled, MaxPool2dCompiled
from lamina.nn import functional as F
from lamina.ops.pool import GlobalAvgPoolFn, MaxPool2dFn
from tests.helpers import TOL, assert_sum_order_close, requires_torch, torch


def _laid_out(a, order):
    """``a`` with the same values, its memory ordered by the axes ``order``."""
    if order is None:
        return a
    return np.ascontiguousarray(a.transpose(order)).transpose(np.argsort(order))


def _batch_last(a):
    return _laid_out(a, (1, 2, 3, 0))


def test_pool_paths_are_registered():
    assert [p.name for p in dispatch.paths("max_pool2d")] == ["MaxPool2dCompiled"]
    assert [p.name for p in dispatch.paths("global_avg_pool")] == ["GlobalAvgPoolCompiled"]


def _max_pool(fast, a, ga, return_indices, **kw):
    with dispatch.fast_paths(fast):
        x = lamina.tensor(a, requires_grad=True)
        y = F.max_pool2d(x, return_indices=return_indices, **kw)
        extra = []
        if return_indices:
            y, idx = y
            extra = [idx._data]
        node = type(y._ctx)
        (y * lamina.tensor(ga)).sum().backward()
    return node, [y._data.copy(), x.grad._data.copy()] + extra


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 8, 6), (3, 2, 6, 10)])
@pytest.mark.parametrize("order", [None, (1, 2, 3, 0), (0, 2, 3, 1), (2, 0, 3, 1)])
@pytest.mark.parametrize("return_indices", [False, True])
def test_max_pool_2x2_matches_reference(fast_pool, dtype, shape, order, return_indices):
    """Values, winning positions (ties: first in window order; NaN: the last NaN), indices
    and gradients equal the reference's bit for bit (the kernel makes the same comparisons
    in the same order), for every memory layout (the gradient arrives in the batch-last
    layout whatever the input's); a layout with no (P, H, W, Q) view takes the reference."""
    rng = np.random.default_rng(7)
    a = rng.standard_normal(shape).astype(dtype)
    a[0, 0, :2, :2] = 1.0                      # a four-way tie
    a[-1, -1, 2, 3] = np.nan
    a[0, -1, 0, 1] = a[0, -1, 1, 0] = np.nan   # two NaNs in one window
    a = _laid_out(a, order)
    ga = _batch_last(rng.standard_normal(shape[:2] + (shape[2] // 2, shape[3] // 2)).astype(
        dtype))
    node, fast = _max_pool(True, a, ga, return_indices, kernel_size=2)
    assert node is (MaxPool2dFn if order == (2, 0, 3, 1) else MaxPool2dCompiled)
    node, ref = _max_pool(False, a, ga, return_indices, kernel_size=2)
    assert node is MaxPool2dFn
    for p, q in zip(fast, ref):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("shape,kw", [
    ((2, 3, 7, 6), dict(kernel_size=2)),                       # a row left over
    ((2, 3, 7, 6), dict(kernel_size=2, ceil_mode=True)),       # a partial window
    ((2, 3, 8, 8), dict(kernel_size=2, padding=1)),
    ((2, 3, 8, 8), dict(kernel_size=3, stride=2))])
def test_max_pool_other_windows_take_the_reference(fast_pool, shape, kw):
    a = np.random.default_rng(0).standard_normal(shape)
    with dispatch.fast_paths(True):
        y = F.max_pool2d(lamina.tensor(a, requires_grad=True), **kw)
    assert type(y._ctx) is MaxPool2dFn


def _settings(n):
    return settings(max_examples=n, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _gap(xa, ga):
    x = lamina.tensor(xa, requires_grad=True)
    y = F.adaptive_avg_pool2d(x, 1)
    node = type(y._ctx)
    (y * lamina.tensor(ga)).sum().backward()
    return y._data.copy(), x.grad._data.copy(), node


@requires_torch
@_settings(30)
@given(shape=st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 9),
                       st.integers(1, 9)),
       batch_last=st.booleans(), dtype=st.sampled_from([np.float64, np.float32]),
       seed=st.integers(0, 2 ** 16))
def test_global_avg_pool_matches_torch(pool_floor, shape, batch_last, dtype, seed):
    """adaptive_avg_pool2d(x, 1) on (N, C, H, W) and batch-last inputs against PyTorch; on
    the fast floor a batch-last input is pooled by the kernels, and its output and gradient
    keep the batch-last memory order."""
    rng = np.random.default_rng(seed)
    xa = rng.standard_normal(shape).astype(dtype)
    if batch_last:
        xa = _batch_last(xa)
    ga = rng.standard_normal(shape[:2] + (1, 1)).astype(dtype)
    y, gx, node = _gap(xa, ga)
    kernel = pool_floor and xa.transpose(1, 2, 3, 0).flags.c_contiguous
    assert node is (GlobalAvgPoolCompiled if kernel else GlobalAvgPoolFn)
    xt = torch.tensor(np.ascontiguousarray(xa), requires_grad=True)
    yt = torch.nn.functional.adaptive_avg_pool2d(xt, 1)
    (yt * torch.tensor(ga)).sum().backward()
    tol = TOL[np.float64] if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    assert y.shape == tuple(yt.shape) and y.dtype == dtype
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    np.testing.assert_allclose(gx, xt.grad.numpy(), **tol)
    if kernel:
        c = GlobalAvgPoolCompiled.__new__(GlobalAvgPoolCompiled)
        out = GlobalAvgPoolCompiled.forward(c, xa)
        assert out.transpose(1, 2, 3, 0).flags.c_contiguous
        assert GlobalAvgPoolCompiled.backward(c, ga).transpose(1, 2, 3, 0).flags.c_contiguous


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_avg_pool_kernels_match_reference(fast_pool, dtype):
    """conv-wide's pool (32 x 128 x 8 x 8, batch-last): the kernels' mean equals the
    reference's up to the summation-order bound (its sums run in another order), and their
    gradient (the same division) equals it exactly."""
    rng = np.random.default_rng(4)
    xa = _batch_last(rng.standard_normal((32, 128, 8, 8)).astype(dtype))
    ga = rng.standard_normal((32, 128, 1, 1)).astype(dtype)
    with dispatch.fast_paths(True):
        y, gx, node = _gap(xa, ga)
    assert node is GlobalAvgPoolCompiled
    with dispatch.fast_paths(False):
        y_ref, gx_ref, node = _gap(xa, ga)
    assert node is GlobalAvgPoolFn
    abs_mean = np.abs(xa.astype(np.float64)).sum(axis=(2, 3), keepdims=True) / 64
    assert_sum_order_close(y, y_ref, abs_mean, 64 + 1, dtype)    # (+1: the division)
    np.testing.assert_array_equal(gx, gx_ref)


def test_kernels_build_only_for_float32_and_float64(fast_pool):
    assert fast_pool.compiled(np.float32) is not None
    assert fast_pool.compiled(np.float16) is None
    with dispatch.fast_paths(False):
        assert fast_pool.compiled(np.float32) is None
