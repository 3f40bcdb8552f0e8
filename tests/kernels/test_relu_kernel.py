"""ReLU's compiled backward (``lamina.kernels.elementwise``) against the reference ``Relu``
of ``lamina.ops.elementwise``: bit for bit (the same product, element by element), NaN,
infinities and signed zeros included, on every dense memory layout. Every test asserts which
path ran."""

import numpy as np
import pytest

import lamina
from lamina import dispatch
from lamina.kernels.elementwise import ReluCompiled, memory_order_flat, relu_kernels
from lamina.ops.elementwise import Relu


def _compiled(dtype=np.float32):
    if relu_kernels(np.dtype(dtype)) is None:
        pytest.skip("numba is not available (or LAMINA_NUMBA=0)")


def _relu_grad(x, g, fast):
    with dispatch.fast_paths(fast):
        t = lamina.tensor(x, requires_grad=True)
        y = lamina.relu(t)
        assert type(y._ctx) is (ReluCompiled if fast else Relu)
        y.backward(lamina.tensor(g))
    return t.grad._data


@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4096,), (64, 129), (3, 40, 41), (2, 5000)])
def test_relu_backward_kernel_matches_reference(dtype, shape):
    _compiled(dtype)
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[:4] = [0.0, -0.0, np.nan, np.inf]
    g = rng.standard_normal(shape).astype(dtype)
    g.flat[4:8] = [np.nan, np.inf, -np.inf, -0.0]
    fast = _relu_grad(x, g, True)
    slow = _relu_grad(x, g, False)
    assert fast.dtype == slow.dtype == dtype
    np.testing.assert_array_equal(fast, slow)
    assert (np.signbit(fast) == np.signbit(slow)).all()
    np.testing.assert_array_equal(slow, g * (np.maximum(x, 0) > 0))


def test_small_inputs_take_the_reference():
    """Below 4096 elements the compiled call does not pay: the reference runs."""
    y = lamina.relu(lamina.randn(10, 10, requires_grad=True))
    assert type(y._ctx) is Relu


def test_relu_backward_kernel_non_contiguous_gradient(monkeypatch):
    """A transposed upstream gradient takes the reference's product and still gives the
    right values."""
    _compiled()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, 90)).astype(np.float32)
    g = np.ascontiguousarray(rng.standard_normal((90, 80)).astype(np.float32)).T
    for fast in (True, False):
        np.testing.assert_array_equal(_relu_grad(x, g, fast), g * (x > 0))


@pytest.mark.parametrize("order", [(1, 2, 3, 0), (1, 0, 2, 3), (0, 2, 3, 1)])
def test_relu_backward_kernel_dense_permuted_layouts(order, monkeypatch):
    """Conv outputs are dense but channels-first, batch-last in memory: the compiled pass runs
    on them in memory order and gives the reference result, in the same layout."""
    _compiled()
    rng = np.random.default_rng(1)
    shape = (4, 8, 16, 16)
    inv = np.argsort(order)
    x = np.ascontiguousarray(rng.standard_normal(shape).astype(np.float32).transpose(order))
    x = x.transpose(inv)
    g = np.ascontiguousarray(rng.standard_normal(shape).astype(np.float32).transpose(order))
    g = g.transpose(inv)
    calls = []
    real = relu_kernels(np.float32)

    def spy(*a):
        calls.append(a)
        return real.backward(*a)

    monkeypatch.setattr(relu_kernels, "_value", real._replace(backward=spy))
    t = lamina.tensor(x, requires_grad=True)
    y = lamina.relu(t)
    assert type(y._ctx) is ReluCompiled
    assert y._data.strides == x.strides == lamina.tensor(g)._data.strides
    y.backward(lamina.tensor(g))
    np.testing.assert_array_equal(t.grad._data, g * (x > 0))
    assert calls, "the compiled pass should run on a dense permuted layout"


def test_memory_order_flat_rejects_strided_arrays():
    a = np.zeros((8, 10), np.float32)[:, ::2]
    assert memory_order_flat(a, a) is None
    b = np.zeros((3, 4, 5), np.float32).transpose(2, 0, 1)
    flat = memory_order_flat(b, np.zeros((3, 4, 5), np.float32).transpose(2, 0, 1))
    assert flat is not None and all(f.base is not None for f in flat)


def test_relu_kernel_compiles_when_numba_is_present():
    pytest.importorskip("numba")
    if not dispatch.fast_paths_enabled():
        pytest.skip("LAMINA_NUMBA=0 turns the fast paths off")
    assert relu_kernels(np.float32) is not None
    assert relu_kernels(np.int64) is None
