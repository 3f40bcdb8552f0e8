"""conv2d speed paths, third set: layers with few input channels (an RGB first layer) that
keep the padded input and compute the weight gradient with the compiled ``gw_small`` while
the forward streams its columns; and the compiled global average pool of a batch-last
input. Both sum in their own order, so they are compared with PyTorch (float64 tightly,
float32 loosely) and with the NumPy path up to rounding; each test checks that the path it
is about was really taken."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lamina
from lamina.ops import pool
from tests.helpers import TOL, requires_torch, torch


def _settings(n):
    """``n`` examples; the path fixtures are function-scoped but the same for every one."""
    return settings(max_examples=n, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _batch_last(a):
    """``a`` with the same values, laid out (C, H, W, N) in memory like a conv output."""
    return np.ascontiguousarray(a.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


# --- global average pooling ------------------------------------------------------------------

@pytest.fixture(params=[True, False], ids=["numba", "numpy"])
def gap_path(request, monkeypatch):
    """The global average pool's compiled kernels, then its NumPy path."""
    if request.param:
        pytest.importorskip("numba")
    monkeypatch.setattr(pool._gap_kernels, "enabled", request.param)
    return request.param


def _gap(xa, ga):
    from lamina.nn import functional as F

    x = lamina.tensor(xa, requires_grad=True)
    y = F.adaptive_avg_pool2d(x, 1)
    ctx = y._ctx
    (y * lamina.tensor(ga)).sum().backward()
    return y.data, x.grad.data, ctx


@requires_torch
@_settings(30)
@given(shape=st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 9),
                       st.integers(1, 9)),
       batch_last=st.booleans(), dtype=st.sampled_from([np.float64, np.float32]),
       seed=st.integers(0, 2 ** 16))
def test_global_avg_pool_matches_torch(gap_path, shape, batch_last, dtype, seed):
    """adaptive_avg_pool2d(x, 1) on (N, C, H, W) and batch-last inputs against PyTorch;
    with numba a batch-last input is pooled by the kernels, and its output and gradient
    keep the batch-last memory order."""
    rng = np.random.default_rng(seed)
    xa = rng.standard_normal(shape).astype(dtype)
    if batch_last:
        xa = _batch_last(xa)
    ga = rng.standard_normal(shape[:2] + (1, 1)).astype(dtype)
    y, gx, ctx = _gap(xa, ga)
    kernel = gap_path and xa.transpose(1, 2, 3, 0).flags.c_contiguous
    assert ctx.geom[2] is kernel
    xt = torch.tensor(np.ascontiguousarray(xa), requires_grad=True)
    yt = torch.nn.functional.adaptive_avg_pool2d(xt, 1)
    (yt * torch.tensor(ga)).sum().backward()
    tol = TOL[np.float64] if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    assert y.shape == tuple(yt.shape) and y.dtype == dtype
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    np.testing.assert_allclose(gx, xt.grad.numpy(), **tol)
    if kernel:
        from lamina.ops.pool import GlobalAvgPoolFn

        c = GlobalAvgPoolFn.__new__(GlobalAvgPoolFn)
        out = GlobalAvgPoolFn.forward(c, xa)
        assert out.transpose(1, 2, 3, 0).flags.c_contiguous
        assert GlobalAvgPoolFn.backward(c, ga).transpose(1, 2, 3, 0).flags.c_contiguous


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_avg_pool_kernels_match_numpy(monkeypatch, dtype):
    """conv-wide's pool (32 x 128 x 8 x 8, batch-last): the kernels' mean equals the BLAS
    path's up to rounding (sums in another order) and their gradient equals it exactly."""
    pytest.importorskip("numba")
    rng = np.random.default_rng(4)
    xa = _batch_last(rng.standard_normal((32, 128, 8, 8)).astype(dtype))
    ga = rng.standard_normal((32, 128, 1, 1)).astype(dtype)
    monkeypatch.setattr(pool._gap_kernels, "enabled", True)
    y, gx, ctx = _gap(xa, ga)
    assert ctx.geom[2]
    monkeypatch.setattr(pool._gap_kernels, "enabled", False)
    y_np, gx_np, ctx_np = _gap(xa, ga)
    assert not ctx_np.geom[2]
    np.testing.assert_allclose(y, y_np, rtol=1e-5 if dtype == np.float32 else 1e-13,
                               atol=1e-6 if dtype == np.float32 else 1e-15)
    np.testing.assert_array_equal(gx, gx_np)
