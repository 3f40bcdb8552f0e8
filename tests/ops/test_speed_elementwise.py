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
    if not elementwise._relu_kernels.enabled:
        pytest.skip("LAMINA_NUMBA=0 turns the compiled kernels off")
    assert elementwise._relu_kernels(np.float32) is not None
    assert elementwise._relu_kernels(np.int64) is None


@pytest.mark.parametrize("order", [(1, 2, 3, 0), (1, 0, 2, 3), (0, 2, 3, 1)])
def test_relu_backward_kernel_dense_permuted_layouts(order, monkeypatch):
    """Conv outputs are dense but channels-first, batch-last in memory: the compiled pass runs
    on them in memory order and gives the NumPy result, in the same layout."""
    rng = np.random.default_rng(1)
    shape = (4, 8, 16, 16)
    inv = np.argsort(order)
    x = np.ascontiguousarray(rng.standard_normal(shape).astype(np.float32).transpose(order))
    x = x.transpose(inv)
    g = np.ascontiguousarray(rng.standard_normal(shape).astype(np.float32).transpose(order))
    g = g.transpose(inv)
    calls = []
    kern = elementwise._relu_kernels(np.float32)
    if kern is not None:
        def spy(*a):
            calls.append(a)
            return kern(*a)
        monkeypatch.setattr(elementwise, "_relu_kernels", lambda dtype: spy)
    t = lamina.tensor(x, requires_grad=True)
    y = lamina.relu(t)
    assert y.data.strides == x.strides == lamina.tensor(g).data.strides
    y.backward(lamina.tensor(g))
    np.testing.assert_array_equal(t.grad.data, g * (x > 0))
    if kern is not None:
        assert calls, "the compiled pass should run on a dense permuted layout"


def test_memory_order_flat_rejects_strided_arrays():
    a = np.zeros((8, 10), np.float32)[:, ::2]
    assert elementwise._memory_order_flat(a, a) is None
    b = np.zeros((3, 4, 5), np.float32).transpose(2, 0, 1)
    flat = elementwise._memory_order_flat(b, np.zeros((3, 4, 5), np.float32).transpose(2, 0, 1))
    assert flat is not None and all(f.base is not None for f in flat)
