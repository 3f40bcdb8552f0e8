"""The autograd engine: accumulation, graph freeing, grad modes, autograd.grad, errors."""

import numpy as np
import pytest

import lamina
from lamina.autograd import Function


def test_leaf_gradients_accumulate_across_backward_calls():
    x = lamina.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    assert x.grad.tolist() == [5.0, 7.0]


def test_shared_subexpression_and_repeated_input():
    x = lamina.tensor([2.0], requires_grad=True)
    y = x * x
    z = y * y + y           # x^4 + x^2 -> 4x^3 + 2x
    z.sum().backward()
    assert x.grad.tolist() == [36.0]


def test_two_leaves_do_not_share_gradient_memory():
    a = lamina.ones(3, requires_grad=True)
    b = lamina.ones(3, requires_grad=True)
    (a + b).sum().backward()
    a.grad.mul_(5)
    assert b.grad.tolist() == [1.0, 1.0, 1.0]


def test_intermediate_gradients_are_not_kept_unless_retained():
    x = lamina.ones(2, requires_grad=True)
    y = x * 2
    z = y * 3
    y.retain_grad()
    z.sum().backward()
    assert y.grad.tolist() == [3.0, 3.0]
    assert z.grad is None
    assert x.grad is not None


def test_second_backward_through_freed_graph_raises():
    x = lamina.ones(2, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = lamina.ones(2, requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [4.0, 4.0]


def test_nonscalar_backward_needs_gradient():
    x = lamina.ones(2, 3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="scalar outputs"):
        y.backward()
    y.backward(lamina.full((2, 3), 0.5))
    assert np.all(x.grad.numpy() == 1.0)
    with pytest.raises(RuntimeError, match="shape"):
        (x * 2).backward(lamina.ones(3))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        lamina.ones(2).sum().backward()


def test_long_chain_is_iterative():
    x = lamina.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** 10_000], rtol=1e-3)


def test_no_grad_and_enable_grad():
    x = lamina.ones(2, requires_grad=True)
    with lamina.no_grad():
        y = x * 2
        with lamina.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad

    @lamina.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    assert lamina.is_grad_enabled()
    with lamina.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert lamina.is_grad_enabled()


def test_detach_and_requires_grad_():
    x = lamina.ones(2, requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    w = lamina.ones(2).requires_grad_()
    assert w.requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        lamina.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="leaf"):
        (x * 2).requires_grad_(False)


def test_autograd_grad_returns_without_touching_grad():
    x = lamina.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = lamina.tensor([2.0, 2.0, 2.0], requires_grad=True)
    y = (x * x * w).sum()
    gx, gw = lamina.autograd.grad(y, [x, w])
    assert gx.tolist() == [4.0, 8.0, 12.0]
    assert gw.tolist() == [1.0, 4.0, 9.0]
    assert x.grad is None and w.grad is None


def test_autograd_grad_nonleaf_input_and_unused():
    x = lamina.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    y = (h * h).sum()
    (gh,) = lamina.autograd.grad(y, h, retain_graph=True)
    assert gh.tolist() == [6.0, 12.0]
    u = lamina.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="not have been used"):
        lamina.autograd.grad(y, [u], retain_graph=True)
    assert lamina.autograd.grad(y, [u], allow_unused=True) == (None,)


def test_custom_function_and_multi_output():
    class SplitHalves(Function):
        @staticmethod
        def forward(ctx, a):
            n = a.shape[0] // 2
            return a[:n] * 2, a[n:] * 3

        @staticmethod
        def backward(ctx, g1, g2):
            parts = [g if g is not None else np.zeros(0) for g in (g1, g2)]
            n1 = 2
            out = np.zeros(4)
            out[:n1] = 0 if g1 is None else g1 * 2
            out[n1:] = 0 if g2 is None else g2 * 3
            del parts
            return out

    x = lamina.ones(4, dtype=lamina.float64, requires_grad=True)
    a, b = SplitHalves.apply(x)
    b.sum().backward()                  # only the second output gets a gradient
    assert x.grad.tolist() == [0.0, 0.0, 3.0, 3.0]


def test_backward_returning_wrong_shape_is_named():
    class Bad(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return np.ones(7)

    x = lamina.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="Bad.backward"):
        Bad.apply(x).sum().backward()

    class BadSecond(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g, np.ones((2, 5))

    y = lamina.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"BadSecond.backward returned a gradient of shape "
                                           r"\(2, 5\) for input 1 of shape \(3,\)"):
        BadSecond.apply(x, y).sum().backward()


def test_version_counter_and_repr():
    x = lamina.ones(2)
    assert x._version == 0
    x.add_(1)
    assert "tensor([2., 2.])" == repr(x)
    y = lamina.ones(2, requires_grad=True)
    assert "requires_grad=True" in repr(y)
    assert "grad_fn" in repr(y * 2)
    assert "dtype=lamina.float64" in repr(lamina.ones(1, dtype=lamina.float64))


def test_graph_makes_no_reference_cycles():
    """Nodes and tensors are freed by reference counting alone: a training step leaves no
    cyclic garbage for the (slow) cycle collector."""
    import gc

    w = lamina.randn(3, 4, requires_grad=True)
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            x = lamina.randn(5, 3)
            h = (x @ w).tanh().sigmoid().exp()
            h.retain_grad()
            loss = (h * h).mean()
            loss.backward()
            del x, h, loss
        assert gc.collect() == 0
    finally:
        gc.enable()
