"""lamina.autograd.gradcheck: passes on correct gradients, reports wrong ones readably."""

import numpy as np
import pytest

import lamina
from lamina.autograd import Function, GradcheckError, gradcheck


class WrongSquare(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a * a

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved
        return g * a * 2.1          # off by 5%


def _x(*shape):
    return lamina.randn(*shape, dtype=lamina.float64, requires_grad=True)


def test_gradcheck_passes_on_composite():
    x, y = _x(3, 4), _x(4)
    assert gradcheck(lambda a, b: (a * b).tanh().sum(1) + (a @ b).exp(), (x, y))


def test_gradcheck_fast_mode():
    assert gradcheck(lambda a: (a @ a.T).sigmoid(), (_x(6, 5),), fast_mode=True)


def test_gradcheck_reports_mismatch():
    x = _x(2, 2)
    with pytest.raises(GradcheckError) as e:
        gradcheck(WrongSquare.apply, (x,))
    msg = str(e.value)
    assert "Jacobian mismatch for output 0 with respect to input 0" in msg
    assert "numerical" in msg and "analytical" in msg
    assert not gradcheck(WrongSquare.apply, (x,), raise_exception=False)
    with pytest.raises(GradcheckError, match="fast mode"):
        gradcheck(WrongSquare.apply, (x,), fast_mode=True)


def test_gradcheck_warns_on_float32_and_needs_an_input():
    with pytest.warns(UserWarning, match="float64"):
        gradcheck(lambda a: a * 2, (lamina.ones(2, requires_grad=True),), eps=1e-2, atol=1e-2)
    with pytest.raises(ValueError):
        gradcheck(lambda a: a * 2, (lamina.ones(2),))


def test_gradcheck_leaves_inputs_unchanged():
    x = _x(3)
    before = x.detach().numpy().copy()
    gradcheck(lambda a: a.exp(), (x,))
    np.testing.assert_array_equal(x.detach().numpy(), before)
