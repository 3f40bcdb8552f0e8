"""Compiled element-wise fast paths give exactly what their NumPy paths give."""

import numpy as np
import pytest

import lamina
from lamina.ops import elementwise


def _relu_grad(x, g, monkeypatch, use):
    monkeypatch.setattr(elementwise._relu_kernels, "enabled", use)
    t = lamina.tensor(x, requires_grad=True)
    lamina.relu(t).backward(lamina.tensor(g))
    return t.grad.data


@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4096,), (64, 129), (3, 40, 41), (2, 5000)])
def test_relu_backward_kernel_matches_numpy(dtype, shape, monkeypatch):
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[:4] = [0.0, -0.0, np.nan, np.inf]
    g = rng.standard_normal(shape).astype(dtype)
    g.flat[4:8] = [np.nan, np.inf, -np.inf, -0.0]
    fast = _relu_grad(x, g, monkeypatch, True)
    slow = _relu_grad(x, g, monkeypatch, False)
    assert fast.dtype == slow.dtype == dtype
    np.testing.assert_array_equal(fast, slow)
    assert (np.signbit(fast) == np.signbit(slow)).all()
    np.testing.assert_array_equal(slow, g * (np.maximum(x, 0) > 0))


def test_relu_backward_kernel_non_contiguous_gradient(monkeypatch):
    """A transposed upstream gradient takes the NumPy path and still gives the right values."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, 90)).astype(np.float32)
    g = np.ascontiguousarray(rng.standard_normal((90, 80)).astype(np.float32)).T
    for use in (True, False):
        monkeypatch.setattr(elementwise._relu_kernels, "enabled", use)
        t = lamina.tensor(x, requires_grad=True)
        lamina.relu(t).backward(lamina.tensor(g))
        np.testing.assert_array_equal(t.grad.data, g * (x > 0))


def test_relu_kernel_compiles_when_numba_is_present():
    pytest.importorskip("numba")
    assert elementwise._relu_kernels(np.float32) is not None
    assert elementwise._relu_kernels(np.int64) is None
