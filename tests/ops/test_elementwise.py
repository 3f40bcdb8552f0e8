"""Elementwise ops: values and gradients against PyTorch, gradcheck, promotion, errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lamina
from tests.helpers import check_grad, check_op, check_raises_like, requires_torch, torch
from tests.strategies import broadcastable_pair, shapes

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "maximum": lambda a, b: a.maximum(b),
    "minimum": lambda a, b: a.minimum(b),
}

UNARY = {
    "neg": (lambda x: -x, {}),
    "exp": (lambda x: x.exp(), {}),
    "log": (lambda x: x.log(), {"positive": True}),
    "log1p": (lambda x: x.log1p(), {"positive": True}),
    "sqrt": (lambda x: x.sqrt(), {"positive": True}),
    "rsqrt": (lambda x: x.rsqrt(), {"positive": True}),
    "abs": (lambda x: x.abs(), {}),
    "sin": (lambda x: x.sin(), {}),
    "cos": (lambda x: x.cos(), {}),
    "tanh": (lambda x: x.tanh(), {}),
    "sigmoid": (lambda x: x.sigmoid(), {}),
    "relu": (lambda x: x.relu(), {}),
    "square": (lambda x: x.square(), {}),
    "reciprocal": (lambda x: x.reciprocal(), {"positive": True}),
    "pow_scalar": (lambda x: x ** 3, {}),
    "pow_frac": (lambda x: x ** 1.5, {"positive": True}),
    "rpow": (lambda x: 2.0 ** x, {}),
    "clamp": (lambda x: x.clamp(-0.5, 0.7), {}),
    "clamp_min": (lambda x: x.clamp(min=0.1), {}),
    "clamp_max": (lambda x: x.clamp(max=0.1), {}),
    "scalar_mix": (lambda x: (3 - x) * 2 / (x * x + 1) + 1.5, {}),
}


@requires_torch
@pytest.mark.parametrize("name", sorted(BINARY))
@given(pair=broadcastable_pair())
def test_binary_broadcast(name, pair):
    low = 0.5 if name == "div" else -2.0
    check_op(list(pair), BINARY[name], low=low)


@requires_torch
@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes())
def test_unary(name, shape):
    fn, kw = UNARY[name]
    check_op([shape], fn, **kw)


@requires_torch
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_float32_noncontiguous(name):
    fn, kw = UNARY[name]
    check_op([(5, 3, 4)], fn, dtype=np.float32, noncontiguous=True, **kw)


@requires_torch
def test_pow_tensor_exponent_and_base():
    check_op([(3, 4), (3, 4)], lambda a, b: a ** b, positive=True)
    check_op([(3, 4), (4,)], lambda a, b: a.pow(b), positive=True)


@requires_torch
def test_pow_zero_base_gradients_match_torch():
    a = np.array([0.0, 0.0, 1.0, 2.0])
    b = np.array([0.0, 2.0, 0.0, 3.0])
    check_op([a, b], lambda x, y: x ** y)
    check_op([a], lambda x: x ** 0.0)


@requires_torch
def test_leaky_relu_and_where():
    check_op([(4, 5)], lambda x: torch.nn.functional.leaky_relu(x, 0.2),
             lambda x: lamina.leaky_relu(x, 0.2))
    check_op([(4, 5), (5,)], lambda a, b: torch.where(a > 0, a, b),
             lambda a, b: lamina.where(a > 0, a, b))


@requires_torch
def test_maximum_minimum_ties_split_gradient():
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 1.0, 4.0])
    check_op([a, b], lambda x, y: x.maximum(y))
    check_op([a, b], lambda x, y: x.minimum(y))


@requires_torch
def test_clamp_boundary_gradient_inclusive():
    a = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    check_op([a], lambda x: x.clamp(-0.5, 0.5))


@requires_torch
def test_clamp_tensor_bounds():
    check_op([(3, 4), (4,), (4,)],
             lambda x, lo, hi: torch.clamp(x, lo - 1, hi + 1),
             lambda x, lo, hi: lamina.clamp(x, lo - 1, hi + 1))


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_gradcheck(name):
    fn, kw = UNARY[name]
    check_grad(fn, [(3, 4)], positive=kw.get("positive", False))


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradcheck(name):
    check_grad(BINARY[name], [(3, 4), (4,)], low=0.5)


def test_pow_gradcheck():
    check_grad(lambda a, b: a ** b, [(2, 3), (2, 3)], positive=True)


def test_where_leaky_relu_cast_gradcheck():
    check_grad(lambda a, b: lamina.where(a > b, a * 2, b.sin()), [(3, 4), (4,)])
    check_grad(lambda a: lamina.leaky_relu(a, 0.3), [(3, 4)])
    check_grad(lambda a: (a.float() * 2).double(), [(2, 3)], eps=1e-2, atol=1e-3, rtol=1e-3)


@requires_torch
@pytest.mark.parametrize("op", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparisons(op):
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    b = np.array([2.0, 2.0, 2.0])
    ta, tb = torch.tensor(a), torch.tensor(b)
    la, lb = lamina.tensor(a), lamina.tensor(b)
    want = getattr(ta, op)(tb).numpy()
    got = getattr(la, op)(lb)
    assert got.dtype == lamina.bool
    np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal((la < 2.0).numpy(), (ta < 2.0).numpy())


def test_logical_ops():
    a = lamina.tensor([True, False, True])
    b = lamina.tensor([True, True, False])
    assert (a & b).tolist() == [True, False, False]
    assert (a | b).tolist() == [True, True, True]
    assert (a ^ b).tolist() == [False, True, True]
    assert (~a).tolist() == [False, True, False]


@requires_torch
@pytest.mark.parametrize("a_dtype,b", [
    ("int64", 2.5), ("int64", 3), ("float32", 2), ("bool", 1), ("float64", 2.0),
])
def test_scalar_promotion_matches_torch(a_dtype, b):
    arr = np.array([1, 2, 3]).astype(a_dtype)
    for f in (lambda x: x + b, lambda x: x * b, lambda x: b - x, lambda x: x / 2):
        if a_dtype == "bool" and f(lamina.ones(1)).shape and f is not None:
            try:
                f(torch.tensor(arr))
            except RuntimeError:
                with pytest.raises(RuntimeError):
                    f(lamina.tensor(arr))
                continue
        t = f(torch.tensor(arr))
        lt = f(lamina.tensor(arr))
        assert str(lt.dtype) == str(t.dtype).replace("torch.", ""), (a_dtype, b)
        np.testing.assert_allclose(lt.numpy(), t.numpy())


@requires_torch
@pytest.mark.parametrize("da,db", [("float32", "float64"), ("int64", "float32"),
                                   ("bool", "int64"), ("int64", "float64")])
def test_tensor_promotion_matches_torch(da, db):
    a, b = np.array([1, 0, 2]).astype(da), np.array([2, 1, 1]).astype(db)
    t = torch.tensor(a) + torch.tensor(b)
    lt = lamina.tensor(a) + lamina.tensor(b)
    assert str(lt.dtype) == str(t.dtype).replace("torch.", "")
    # a 0-dim tensor of a higher dtype in the same category does not promote
    t0 = torch.tensor(a) * torch.tensor(2.0, dtype=torch.float64)
    l0 = lamina.tensor(a) * lamina.tensor(2.0, dtype=lamina.float64)
    assert str(l0.dtype) == str(t0.dtype).replace("torch.", "")


def test_float32_stays_float32_with_python_and_numpy_scalars():
    x = lamina.ones(3)
    assert (x * 2.5).dtype == lamina.float32
    assert (x * np.float64(2.5)).dtype == lamina.float32
    assert (np.float64(2.5) * x).dtype == lamina.float32


def test_mixed_precision_gradients_keep_input_dtype():
    a = lamina.ones(3, requires_grad=True)
    b = lamina.ones(3, dtype=lamina.float64, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.dtype == lamina.float32 and b.grad.dtype == lamina.float64


@requires_torch
def test_errors_match_torch():
    check_raises_like(lambda a, b: a + b, lambda a, b: a + b, [(3, 4), (5,)])
    check_raises_like(lambda a, b: a * b, lambda a, b: a * b, [(2, 3), (3, 2)])
    with pytest.raises(RuntimeError, match="pow"):
        lamina.tensor([1, 2]) ** -1
    with pytest.raises(RuntimeError, match="sub"):
        lamina.tensor([True]) - lamina.tensor([False])
    with pytest.raises(TypeError, match="add"):
        lamina.ones(2) + "a"


def test_broadcast_error_names_shapes():
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5,\)"):
        lamina.ones(3, 4) + lamina.ones(5)


# --- in-place ops ---------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("op", ["add_", "sub_", "mul_", "div_"])
def test_inplace_values_and_gradients_on_nonleaf(op):
    def f(x, y):
        z = x * 1.5
        getattr(z, op)(y)
        return z * z
    check_op([(3, 4), (4,)], f, low=0.5)


@requires_torch
def test_inplace_unary_on_nonleaf():
    check_op([(3, 4)], lambda x: (x * 2).clamp_(-1, 1) * 3)
    check_op([(3, 4)], lambda x: (x + 0).exp_() * 2)
    check_op([(3, 4)], lambda x: (x + 0).zero_() + x)
    check_op([(3, 4)], lambda x: (x + 0).fill_(2.0) * x)


def test_inplace_on_leaf_requiring_grad_raises():
    x = lamina.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        x.add_(1)
    with lamina.no_grad():
        x.add_(1)                           # allowed, like an optimizer step
    assert x.tolist() == [2.0, 2.0, 2.0]


def test_inplace_change_of_saved_value_raises():
    x = lamina.randn(3, requires_grad=True)
    y = x.exp()                             # exp saves its output
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_inplace_change_of_saved_input_through_view_raises():
    x = lamina.randn(2, 3, requires_grad=True)
    h = x * 1.0
    y = h * h                               # mul saves h
    v = h.view(6)
    with lamina.no_grad():
        v.mul_(2)                           # the view shares h's memory and version
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_inplace_unrelated_value_does_not_raise():
    x = lamina.randn(3, requires_grad=True)
    y = x + 1                               # add saves nothing
    z = y.exp()
    y.mul_(3)                               # not needed by exp's backward
    z.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(x.detach().numpy() + 1), rtol=1e-6)


def test_inplace_earlier_consumers_keep_their_gradient_path():
    x = lamina.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y + 0                               # consumes y before the in-place op
    y.mul_(3)                               # y now has a new grad_fn
    (z.sum() + y.sum()).backward()          # dz/dx = 2, dy/dx = 6
    assert x.grad.tolist() == [8.0, 8.0]


def test_inplace_dtype_cast_error():
    x = lamina.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match="can't be cast"):
        x.add_(0.5)
    x.add_(2)
    assert x.tolist() == [3, 4, 5]


def test_iadd_operator_and_copy_():
    x = lamina.zeros(2, 3)
    x += 1
    x *= lamina.tensor([1.0, 2.0, 3.0])
    assert x.tolist() == [[1, 2, 3], [1, 2, 3]]
    x.copy_(lamina.tensor([7.0, 8.0, 9.0]))
    assert x.tolist() == [[7, 8, 9], [7, 8, 9]]
    with pytest.raises(RuntimeError, match="copy_"):
        x.copy_(lamina.ones(4))


@given(st.floats(-50, 50))
def test_sigmoid_is_stable(v):
    x = lamina.tensor([v, -1000.0, 1000.0], dtype=lamina.float64)
    y = x.sigmoid().numpy()
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y[0], 1 / (1 + np.exp(-v)), rtol=1e-12)
    assert y[1] < 1e-300 and y[2] == 1.0


@requires_torch
def test_inplace_chain_with_consumers_in_between():
    def f(x):
        y = x * 2
        a = y * 1.0             # sees y = 2x
        y.add_(x)               # y = 3x
        b = y * 1.0             # sees y = 3x
        y.mul_(y.detach() * 0 + 2)   # y = 6x
        return a + b + y        # d/dx = 2 + 3 + 6
    check_op([(3,)], f)


def test_detach_inplace_keeps_earlier_consumers():
    x = lamina.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    z = y * 2               # recorded before y is detached
    y.detach_()
    assert y.is_leaf and not y.requires_grad
    z.sum().backward()
    assert x.grad.tolist() == [6.0, 6.0]


@requires_torch
def test_square_of_bool_is_int64_like_pytorch():
    a = np.array([[True, False], [False, True]])
    y = lamina.square(lamina.tensor(a))
    yt = torch.square(torch.tensor(a))
    assert str(y.dtype).split(".")[-1] == str(yt.dtype).split(".")[-1] == "int64"
    np.testing.assert_array_equal(y.numpy(), yt.numpy())
    assert lamina.tensor(a).square().dtype == y.dtype
