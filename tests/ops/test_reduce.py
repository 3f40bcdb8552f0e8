"""Reductions and softmax: parity with PyTorch (values, dtypes, gradients, errors) and
numerical gradchecks."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lamina
from tests.helpers import check_grad, check_op, requires_torch, torch

# PyTorch warns when var/std have no degrees of freedom left; the tests cover that on purpose
pytestmark = pytest.mark.filterwarnings("ignore:.*degrees of freedom:UserWarning")

INF = math.inf
DTYPES = [np.float64, np.float32]


# --- strategies ------------------------------------------------------------------------------

@st.composite
def shape_dims(draw, min_side=0, max_side=4, max_dims=4, single=False, allow_none=True):
    """A shape, a ``dim`` argument for it (None, an int or a tuple; negatives included) and
    a ``keepdim`` flag."""
    ndim = draw(st.integers(0, max_dims))
    shape = tuple(draw(st.lists(st.integers(min_side, max_side), min_size=ndim,
                                max_size=ndim)))
    n = max(ndim, 1)
    kinds = (["none"] if allow_none else []) + ["int"] + ([] if single else ["tuple"])
    kind = draw(st.sampled_from(kinds))
    if kind == "none":
        dim = None
    elif kind == "int":
        dim = draw(st.integers(-n, n - 1))
    else:
        axes = draw(st.permutations(range(ndim)))
        k = draw(st.integers(0 if ndim else 0, ndim))
        signs = draw(st.lists(st.booleans(), min_size=k, max_size=k))
        dim = tuple(a - ndim if neg else a for a, neg in zip(axes[:k], signs))
    return shape, dim, draw(st.booleans())


def _all_dims(shape, dim):
    """logsumexp needs an explicit dim: None becomes every axis (0 for a 0-d tensor)."""
    if dim is None or dim == ():
        return tuple(range(len(shape))) if shape else 0
    if not shape:
        return 0    # PyTorch's logsumexp rejects a tuple dim on a 0-d tensor
    return dim


def _no_empty_tuple(dim):
    """PyTorch's var/std backward mis-scales for ``dim=()`` (it counts 1 element instead of
    all): lamina gives the true gradient, so the parity tests pass None instead."""
    return None if dim == () else dim


def _long(dim):
    return isinstance(dim, tuple) and len(dim) > 2


# op name -> (fn(x, dim, keepdim), min side length of a valid input)
MULTI_DIM_OPS = {
    "sum": (lambda x, d, k: x.sum(dim=d, keepdim=k), 0),
    "mean": (lambda x, d, k: x.mean(dim=d, keepdim=k), 0),
    "var": (lambda x, d, k: x.var(dim=_no_empty_tuple(d), keepdim=k), 0),
    "var_c0": (lambda x, d, k: x.var(dim=_no_empty_tuple(d), keepdim=k, correction=0), 0),
    "std": (lambda x, d, k: x.std(dim=_no_empty_tuple(d), keepdim=k), 0),
    "std_biased": (lambda x, d, k: x.std(dim=_no_empty_tuple(d), unbiased=False, keepdim=k), 0),
    "amax": (lambda x, d, k: x.amax(dim=() if d is None else d, keepdim=k), 1),
    "amin": (lambda x, d, k: x.amin(dim=() if d is None else d, keepdim=k), 1),
    "logsumexp": (lambda x, d, k: x.logsumexp(_all_dims(x.shape, d), keepdim=k), 0),
    "norm": (lambda x, d, k: x.norm(dim=None if _long(d) else d, keepdim=k), 0),
    "norm2": (lambda x, d, k: x.norm(2, dim=d, keepdim=k), 0),
    "norm_fro": (lambda x, d, k: x.norm("fro", dim=None if _long(d) else d, keepdim=k), 0),
    "norm1": (lambda x, d, k: x.norm(1, dim=d, keepdim=k), 0),
    "norm3": (lambda x, d, k: x.norm(3, dim=d, keepdim=k), 0),
    "norm_half": (lambda x, d, k: x.norm(0.5, dim=d, keepdim=k), 0),
    "norm_neg1": (lambda x, d, k: x.norm(-1, dim=d, keepdim=k), 1),
    "norm0": (lambda x, d, k: x.norm(0, dim=d, keepdim=k), 0),
    "norm_inf": (lambda x, d, k: x.norm(INF, dim=d, keepdim=k), 1),
    "norm_neginf": (lambda x, d, k: x.norm(-INF, dim=d, keepdim=k), 1),
    "all": (lambda x, d, k: x.all(dim=d, keepdim=k), 0),
    "any": (lambda x, d, k: x.any(dim=d, keepdim=k), 0),
}

SINGLE_DIM_OPS = {
    "prod": (lambda x, d, k: x.prod() if d is None else x.prod(d, keepdim=k), 0),
    "max_dim": (lambda x, d, k: x.max() if d is None else x.max(d, keepdim=k), 1),
    "min_dim": (lambda x, d, k: x.min() if d is None else x.min(dim=d, keepdim=k), 1),
    "argmax": (lambda x, d, k: x.argmax(dim=d, keepdim=k), 1),
    "argmin": (lambda x, d, k: x.argmin(dim=d, keepdim=k), 1),
    "softmax": (lambda x, d, k: x.softmax(0 if d is None else d), 0),
    "log_softmax": (lambda x, d, k: x.log_softmax(dim=-1 if d is None else d), 0),
    "cumsum": (lambda x, d, k: x.cumsum(0 if d is None else d), 0),
}


# --- hypothesis parity over shapes and dims --------------------------------------------------

@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(MULTI_DIM_OPS))
@settings(max_examples=15)
@given(data=st.data())
def test_multi_dim_parity(name, dtype, data):
    fn, min_side = MULTI_DIM_OPS[name]
    shape, dim, keepdim = data.draw(shape_dims(min_side=min_side))
    check_op([shape], lambda x: fn(x, dim, keepdim), dtype=dtype)


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(SINGLE_DIM_OPS))
@settings(max_examples=15)
@given(data=st.data())
def test_single_dim_parity(name, dtype, data):
    fn, min_side = SINGLE_DIM_OPS[name]
    shape, dim, keepdim = data.draw(shape_dims(min_side=min_side, single=True))
    check_op([shape], lambda x: fn(x, dim, keepdim), dtype=dtype)


@requires_torch
@pytest.mark.parametrize("name", ["sum", "mean", "var", "std", "amax", "logsumexp", "norm",
                                  "norm_inf"])
@settings(max_examples=8)
@given(data=st.data())
def test_noncontiguous_input(name, data):
    fn, _ = MULTI_DIM_OPS[name]
    shape, dim, keepdim = data.draw(shape_dims(min_side=1, max_dims=3))
    check_op([shape], lambda x: fn(x, dim, keepdim), noncontiguous=True)


@requires_torch
@pytest.mark.parametrize("fn", [
    lambda x: x.transpose(0, 1).sum(dim=1),
    lambda x: x.transpose(0, 1).softmax(1),
    lambda x: x.transpose(0, 1).log_softmax(0),
    lambda x: x.transpose(0, 1).cumsum(1),
    lambda x: x.transpose(0, 1).max(1),
    lambda x: x.transpose(0, 1).prod(0),
    lambda x: x.transpose(0, 1).var(1, keepdim=True),
    lambda x: x[:, ::2].amax(-1),
])
def test_transposed_views(fn):
    check_op([(4, 5)], fn)


# --- softmax stability -----------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_large_values_are_stable(op, dtype):
    (out,) = check_op([(3, 5)], lambda x: getattr(x, op)(dim=1), dtype=dtype, low=-1e4,
                      high=1e4)
    assert np.all(np.isfinite(out._data))
    (out,) = check_op([(3, 5)], lambda x: getattr(x * 1e30, op)(dim=0), dtype=np.float64)
    assert np.all(np.isfinite(out._data))


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_logsumexp_large_values_are_stable(dtype):
    (out,) = check_op([(3, 5)], lambda x: x.logsumexp(1), dtype=dtype, low=1e3, high=2e3)
    assert np.all(np.isfinite(out._data))
    check_op([(3, 5)], lambda x: x.logsumexp(0), dtype=dtype, low=-2e3, high=-1e3)


@requires_torch
def test_logsumexp_infinities():
    arr = np.array([[-INF, -INF], [INF, 1.0], [-INF, 2.0]])
    check_op([arr], lambda x: x.logsumexp(1), grad=False)


@requires_torch
def test_softmax_dtype_argument():
    check_op([(3, 4)], lambda x: x.softmax(1, dtype=torch.float32),
             lambda x: x.softmax(1, dtype=lamina.float32), rtol=1e-6, atol=1e-7)
    check_op([(3, 4)], lambda x: x.log_softmax(0, dtype=torch.float64),
             lambda x: x.log_softmax(0, dtype=lamina.float64), dtype=np.float32)


def test_softmax_rows_sum_to_one():
    x = lamina.randn(6, 7, dtype=lamina.float64)
    s = x.softmax(-1)
    np.testing.assert_allclose(s.data.sum(-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.exp(x.log_softmax(-1).data), s.data, rtol=1e-12)


# --- ties: PyTorch's rules, verified against torch itself ------------------------------------

TIES = np.array([[1.0, 3.0, 3.0, 0.0],
                 [2.0, 2.0, 0.0, 2.0],
                 [-1.0, -1.0, -1.0, -1.0]])


@requires_torch
def test_torch_tie_rules_hold():
    """The rules lamina implements, checked on PyTorch itself: a full max and amax share the
    gradient evenly among ties; max(dim) sends it to the index it returns, the first one."""
    t = torch.tensor(TIES, requires_grad=True)
    t.max().backward()
    mask = TIES == TIES.max()
    np.testing.assert_allclose(t.grad.numpy(), mask / mask.sum())
    t.grad = None
    t.amax(1).sum().backward()
    rowmask = TIES == TIES.max(1, keepdims=True)
    np.testing.assert_allclose(t.grad.numpy(), rowmask / rowmask.sum(1, keepdims=True))
    t.grad = None
    r = t.max(1)
    r.values.sum().backward()
    first = np.argmax(TIES, axis=1)
    np.testing.assert_array_equal(r.indices.numpy(), first)
    expected = np.zeros_like(TIES)
    expected[np.arange(3), first] = 1
    np.testing.assert_array_equal(t.grad.numpy(), expected)


@requires_torch
@pytest.mark.parametrize("fn", [
    lambda x: x.max(), lambda x: x.min(),
    lambda x: x.amax(), lambda x: x.amin(), lambda x: x.amax(1), lambda x: x.amin(0),
    lambda x: x.amax((0, 1), keepdim=True), lambda x: x.amin(-1, keepdim=True),
    lambda x: x.max(1), lambda x: x.min(0), lambda x: x.max(-1, keepdim=True),
    lambda x: x.min(dim=1, keepdim=True), lambda x: x.max(0),
    lambda x: x.argmax(1), lambda x: x.argmin(0), lambda x: x.argmax(), lambda x: x.argmin(),
    lambda x: x.norm(INF), lambda x: x.norm(-INF), lambda x: x.norm(INF, dim=1),
    lambda x: x.norm(-INF, dim=0, keepdim=True),
    lambda x: (-x).norm(INF, dim=1),
    lambda x: x.max(x.flip(0)), lambda x: x.min(other=x.flip(1)),
])
def test_ties_match_torch(fn):
    check_op([TIES], fn)


def test_max_dim_returns_named_tuple():
    x = lamina.tensor(TIES, requires_grad=True)
    r = x.max(1)
    values, indices = r
    assert values is r.values and indices is r.indices
    assert r.indices.dtype == lamina.int64 and not r.indices.requires_grad
    assert r.values.requires_grad
    np.testing.assert_array_equal(r.indices.data, [1, 0, 0])
    assert type(x.min(dim=0)).__name__ == "min"
    assert repr(r).startswith("max(values=tensor(")
    back = pickle.loads(pickle.dumps(x.detach().max(0)))
    assert type(back).__name__ == "max"
    np.testing.assert_array_equal(back.indices.data, np.argmax(TIES, axis=0))


# --- NaN -------------------------------------------------------------------------------------

NANS = np.array([[1.0, np.nan, 2.0, np.nan], [0.5, 3.0, -1.0, 2.0]])


@requires_torch
@pytest.mark.parametrize("fn", [
    lambda x: x.max(), lambda x: x.min(), lambda x: x.max(1), lambda x: x.min(1),
    lambda x: x.amax(1), lambda x: x.amin(), lambda x: x.argmax(1), lambda x: x.argmin(),
    lambda x: x.sum(1), lambda x: x.mean(0),
])
def test_nan_propagation(fn):
    check_op([NANS], fn)


# --- prod with zeros -------------------------------------------------------------------------

ZERO_CASES = {
    "one_zero": np.array([[1.5, 0.0, -2.0, 3.0], [0.5, 2.0, 1.5, -1.0]]),
    "two_zeros": np.array([[0.0, 2.0, 0.0, 3.0], [0.5, 2.0, 1.5, -1.0]]),
    "mixed": np.array([[0.0, 2.0, 0.0, 3.0], [0.5, 0.0, 1.5, -1.0], [1.0, 2.0, -3.0, 0.5]]),
    "all_zero": np.zeros((2, 3)),
}


@requires_torch
@pytest.mark.parametrize("case", list(ZERO_CASES))
@pytest.mark.parametrize("fn", [
    lambda x: x.prod(), lambda x: x.prod(0), lambda x: x.prod(1), lambda x: x.prod(-1, True),
    lambda x: x.transpose(0, 1).prod(1),
])
def test_prod_with_zeros_matches_torch(case, fn):
    check_op([ZERO_CASES[case]], fn)


@pytest.mark.parametrize("case", list(ZERO_CASES))
@pytest.mark.parametrize("dim", [None, 0, 1])
def test_prod_with_zeros_gradcheck(case, dim):
    x = lamina.tensor(ZERO_CASES[case], requires_grad=True)
    fn = (lambda t: t.prod()) if dim is None else (lambda t: t.prod(dim))
    assert lamina.autograd.gradcheck(fn, [x])


# --- norms at zero ---------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("p", [2, 1, 3, 1.5, 0.5, INF, -INF, 0, -1, "fro"])
def test_norm_gradient_at_zero(p):
    check_op([np.zeros((2, 3))], lambda x: x.norm(p))
    check_op([np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.0]])], lambda x: x.norm(p, dim=1))


@requires_torch
@pytest.mark.parametrize("p", [2, 1, 3, 1.5, 0.5, -1])
def test_norm_with_some_zero_entries(p):
    check_op([np.array([[0.0, 1.0, -2.0], [3.0, 0.0, 0.5]])], lambda x: x.norm(p, dim=0))


@requires_torch
def test_std_gradient_where_std_is_zero():
    check_op([np.full((2, 3), 1.5)], lambda x: x.std(1))
    check_op([np.full((2, 3), 1.5)], lambda x: x.std())


# --- empty, size-1 and 0-d inputs ------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0), (2, 0, 3)])
@pytest.mark.parametrize("fn", [
    lambda x: x.sum(), lambda x: x.sum(0), lambda x: x.sum(-1, keepdim=True),
    lambda x: x.mean(), lambda x: x.mean(0), lambda x: x.var(), lambda x: x.std(0),
    lambda x: x.prod(), lambda x: x.prod(0), lambda x: x.logsumexp(0),
    lambda x: x.norm(), lambda x: x.norm(1, dim=0), lambda x: x.all(), lambda x: x.any(0),
    lambda x: x.cumsum(0), lambda x: x.softmax(0), lambda x: x.log_softmax(-1),
])
def test_empty_inputs(shape, fn):
    check_op([shape], fn)


@requires_torch
@pytest.mark.parametrize("fn", [
    lambda x: x.max(1), lambda x: x.amax(1), lambda x: x.argmax(1), lambda x: x.amin(-1),
    lambda x: x.norm(INF, dim=1),
])
def test_extremes_over_non_empty_dim_of_empty_tensor(fn):
    check_op([(0, 3)], fn)


@requires_torch
@pytest.mark.parametrize("fn", [
    lambda x: x.sum(), lambda x: x.sum(0), lambda x: x.sum(-1, keepdim=True),
    lambda x: x.sum(dim=()), lambda x: x.mean(0), lambda x: x.var(), lambda x: x.std(0),
    lambda x: x.var(unbiased=False), lambda x: x.max(), lambda x: x.max(0),
    lambda x: x.min(-1, keepdim=True), lambda x: x.amax(), lambda x: x.amin(0),
    lambda x: x.argmax(), lambda x: x.argmin(0), lambda x: x.argmax(0, keepdim=True),
    lambda x: x.prod(), lambda x: x.prod(0), lambda x: x.logsumexp(0), lambda x: x.norm(),
    lambda x: x.norm(dim=0), lambda x: x.norm(INF), lambda x: x.softmax(0),
    lambda x: x.log_softmax(-1), lambda x: x.all(), lambda x: x.any(0), lambda x: x.cumsum(0),
])
def test_zero_dim_inputs(fn):
    check_op([()], fn)


@requires_torch
@pytest.mark.parametrize("fn", [
    lambda x: x.sum(1), lambda x: x.var(1), lambda x: x.std(1, correction=0),
    lambda x: x.max(1), lambda x: x.amax((0, 1)), lambda x: x.prod(1),
    lambda x: x.softmax(1), lambda x: x.log_softmax(1), lambda x: x.cumsum(1),
    lambda x: x.norm(dim=1), lambda x: x.logsumexp(1), lambda x: x.argmin(1),
])
def test_size_one_dims(fn):
    check_op([(3, 1)], fn)


def test_mean_of_empty_is_nan_without_warning():
    with np.errstate(all="raise"):
        out = lamina.zeros(0, 3).mean()
    assert np.isnan(out.item())


# --- integer and bool inputs -----------------------------------------------------------------

INTS = np.array([[3, -1, 4], [1, 5, -9]], dtype=np.int64)
BOOLS = np.array([[True, False, True], [True, True, True]])


def _both(fn):
    """A pair of lambdas that pass the torch module or the lamina module as ``M``."""
    return (lambda *a: fn(*a, torch)), (lambda *a: fn(*a, lamina))


@requires_torch
@pytest.mark.parametrize("arr", [INTS, BOOLS], ids=["int64", "bool"])
@pytest.mark.parametrize("fn", [
    lambda x, M: x.sum(), lambda x, M: x.sum(0), lambda x, M: x.sum((0, 1), keepdim=True),
    lambda x, M: x.prod(), lambda x, M: x.prod(1),
    lambda x, M: x.cumsum(1), lambda x, M: x.cumsum(0),
    lambda x, M: x.max(), lambda x, M: x.min(), lambda x, M: x.max(0), lambda x, M: x.min(1),
    lambda x, M: x.amax(), lambda x, M: x.amin(1),
    lambda x, M: x.all(), lambda x, M: x.any(1), lambda x, M: x.all((0, 1)),
    lambda x, M: x.all(()), lambda x, M: x.logsumexp(0),
    lambda x, M: x.sum(dtype=M.float64), lambda x, M: x.mean(dtype=M.float64),
    lambda x, M: x.mean(1, dtype=M.float32), lambda x, M: x.cumsum(1, dtype=M.float64),
    lambda x, M: x.prod(0, dtype=M.float64), lambda x, M: x.softmax(0, dtype=M.float64),
    lambda x, M: x.max(x), lambda x, M: M.max(x, x.flip(0)),
])
def test_integer_and_bool_inputs(arr, fn):
    tf, lf = _both(fn)
    check_op([arr], tf, lf)


@requires_torch
@pytest.mark.parametrize("fn", [lambda x: x.argmax(), lambda x: x.argmin(1),
                                lambda x: x.argmax(0, keepdim=True)])
def test_argmax_of_ints(fn):
    check_op([INTS], fn)


@requires_torch
def test_float_all_any_give_bool():
    arr = np.array([[0.0, 0.5], [np.nan, 0.0], [1.0, 2.0]])
    for fn in (lambda x: x.all(), lambda x: x.any(1), lambda x: x.all(0, keepdim=True)):
        check_op([arr], fn)


# --- errors: the same bad call raises the same kind of error in both -------------------------

def _raises_same(fn, arr):
    tf, lf = _both(fn)
    with pytest.raises(Exception) as te:
        tf(torch.tensor(arr))
    with pytest.raises(type(te.value)):
        lf(lamina.tensor(arr))


BAD_DIM_CALLS = [
    lambda x, M: x.sum(2), lambda x, M: x.sum((0, -3)), lambda x, M: x.mean(-3),
    lambda x, M: x.var(2), lambda x, M: x.std((0, 5)), lambda x, M: x.amax(2),
    lambda x, M: x.amin((0, 3)), lambda x, M: x.max(2), lambda x, M: x.min(-3),
    lambda x, M: x.argmax(2), lambda x, M: x.argmin(-3), lambda x, M: x.prod(2),
    lambda x, M: x.logsumexp(2), lambda x, M: x.norm(dim=2), lambda x, M: x.softmax(2),
    lambda x, M: x.log_softmax(-3), lambda x, M: x.all(2), lambda x, M: x.any(-3),
    lambda x, M: x.cumsum(2),
]


@requires_torch
@pytest.mark.parametrize("fn", BAD_DIM_CALLS)
def test_out_of_range_dim_raises_index_error(fn):
    _raises_same(fn, np.ones((2, 3)))
    with pytest.raises(IndexError):
        fn(lamina.ones(2, 3), lamina)


@requires_torch
@pytest.mark.parametrize("fn", [lambda x, M: x.sum(1), lambda x, M: x.max(1),
                                lambda x, M: x.softmax(-2), lambda x, M: x.cumsum(1)])
def test_zero_dim_bad_dim(fn):
    _raises_same(fn, np.array(1.0))


@requires_torch
@pytest.mark.parametrize("fn", [
    lambda x, M: x.sum((0, 0)), lambda x, M: x.amax((1, -1)), lambda x, M: x.var((0, -2)),
])
def test_repeated_dims_raise(fn):
    _raises_same(fn, np.ones((2, 3)))


@requires_torch
@pytest.mark.parametrize("fn", [
    lambda x, M: x.max(), lambda x, M: x.min(), lambda x, M: x.amax(),
    lambda x, M: x.amin(), lambda x, M: x.argmax(), lambda x, M: x.argmin(),
    lambda x, M: x.max(0), lambda x, M: x.min(0), lambda x, M: x.amax(0),
    lambda x, M: x.amin((0, 1)), lambda x, M: x.argmax(0), lambda x, M: x.norm(INF),
    lambda x, M: x.norm(-INF, dim=0),
])
def test_extremes_of_empty_raise(fn):
    _raises_same(fn, np.zeros((0, 3)))


@requires_torch
@pytest.mark.parametrize("arr", [INTS, BOOLS], ids=["int64", "bool"])
@pytest.mark.parametrize("fn", [
    lambda x, M: x.mean(), lambda x, M: x.var(), lambda x, M: x.std(0),
    lambda x, M: x.norm(), lambda x, M: x.softmax(0), lambda x, M: x.log_softmax(1),
])
def test_float_only_ops_reject_integers(arr, fn):
    _raises_same(fn, arr)


@requires_torch
@pytest.mark.parametrize("fn", [
    lambda x, M: x.argmax(), lambda x, M: x.argmin(0),
])
def test_argmax_rejects_bool(fn):
    _raises_same(fn, BOOLS)


@requires_torch
@pytest.mark.parametrize("fn", [
    lambda x, M: x.prod((0, 1)), lambda x, M: M.softmax(x), lambda x, M: M.log_softmax(x),
    lambda x, M: M.cumsum(x), lambda x, M: M.logsumexp(x), lambda x, M: x.max(keepdim=True),
    lambda x, M: x.max(1.0), lambda x, M: x.var(0, unbiased=True, correction=0),
    lambda x, M: x.sum(1.5), lambda x, M: x.argmax((0,)), lambda x, M: x.norm("abc"),
    lambda x, M: x.norm("fro", dim=(0, 1, 2)), lambda x, M: x.norm("nuc"),
    lambda x, M: x.norm("nuc", dim=1), lambda x, M: x.logsumexp(None),
])
def test_bad_arguments(fn):
    _raises_same(fn, np.ones((2, 3, 2)))


def test_error_messages_name_the_op():
    x = lamina.ones(2, 3)
    with pytest.raises(IndexError, match="amax"):
        x.amax(4)
    with pytest.raises(TypeError, match="sum: expected a Tensor"):
        lamina.sum([1.0, 2.0])
    with pytest.raises(RuntimeError, match="max"):
        lamina.zeros(0).max()


# --- var / std arguments ---------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("fn", [
    lambda x: x.var(False), lambda x: x.std(True), lambda x: x.var(0, False),
    lambda x: x.var(1, False, True), lambda x: x.std(1, True, True),
    lambda x: x.var(correction=0), lambda x: x.var(1, correction=2),
    lambda x: x.std((0, 1), correction=1.5), lambda x: x.var(dim=[0, 1], keepdim=True),
    lambda x: x.std(dim=-1, unbiased=False),
])
def test_var_std_signatures(fn):
    check_op([(4, 5)], fn)


@requires_torch
def test_var_empty_dim_tuple_reduces_everything():
    check_op([(4, 5)], lambda x: x.var(dim=()), grad=False)
    check_op([(4, 5)], lambda x: x.std(dim=(), correction=0), grad=False)


@requires_torch
def test_var_correction_at_least_n():
    check_op([(3, 2)], lambda x: x.var(1, correction=3), grad=False)


# --- mean / sum details ----------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("fn", [
    lambda x: x.sum(dim=()), lambda x: x.mean(dim=()), lambda x: x.amax(dim=()),
    lambda x: x.sum(dim=[0, 2]), lambda x: x.mean((-1, 0), keepdim=True),
    lambda x: x.sum(None, True), lambda x: x.mean(None, True),
])
def test_sum_mean_dim_forms(fn):
    check_op([(2, 3, 4)], fn)


@requires_torch
def test_sum_dtype_argument_float():
    check_op([(3, 4)], lambda x: x.sum(1, dtype=torch.float64),
             lambda x: x.sum(1, dtype=lamina.float64), dtype=np.float32)
    check_op([(3, 4)], lambda x: x.mean(dtype=torch.float32),
             lambda x: x.mean(dtype=lamina.float32), rtol=1e-6)


def test_sum_of_ints_is_int64_and_exact():
    big = np.array([2**40, 2**40 + 1, -3], dtype=np.int64)
    out = lamina.tensor(big).sum()
    assert out.dtype == lamina.int64 and out.item() == int(big.sum())


@requires_torch
def test_elementwise_max_broadcasts():
    check_op([(3, 1), (1, 4)], lambda a, b: a.max(b))
    check_op([(3, 4), (4,)], lambda a, b: a.min(b))


@requires_torch
@pytest.mark.parametrize("fn", [
    lambda x, M: M.sum(x, 1), lambda x, M: M.mean(x, dim=(0, 1)), lambda x, M: M.max(x),
    lambda x, M: M.max(x, 1), lambda x, M: M.min(x, dim=0, keepdim=True),
    lambda x, M: M.amax(x, dim=(0, 1)), lambda x, M: M.amin(x, 1), lambda x, M: M.argmax(x),
    lambda x, M: M.argmin(x, dim=1), lambda x, M: M.var(x, 0), lambda x, M: M.std(x),
    lambda x, M: M.prod(x, 1), lambda x, M: M.logsumexp(x, 1), lambda x, M: M.norm(x, 1),
    lambda x, M: M.softmax(x, 1), lambda x, M: M.log_softmax(x, dim=0),
    lambda x, M: M.all(x), lambda x, M: M.any(x, 1), lambda x, M: M.cumsum(x, dim=1),
    lambda x, M: M.max(x, other=x.flip(1)),
])
def test_function_forms(fn):
    tf, lf = _both(fn)
    check_op([(3, 4)], tf, lf)


@requires_torch
def test_cumsum_dtype_argument():
    check_op([(3, 4)], lambda x: x.cumsum(0, dtype=torch.float64),
             lambda x: x.cumsum(0, dtype=lamina.float64), dtype=np.float32)


@requires_torch
def test_composed_graph_through_several_reductions():
    check_op([(4, 6)], lambda x: (x.softmax(1) * x.log_softmax(1)).sum(1).max(0).values
             + x.var(0).amax() - x.norm(dim=1).prod() + x.cumsum(1).logsumexp((0, 1)))


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,fn", [
    ((3, 4), lambda x: x.norm("nuc")),
    ((4, 3), lambda x: x.norm("nuc", keepdim=True)),
    ((2, 3, 4), lambda x: x.norm("nuc", dim=(0, 2))),
    ((2, 3, 4), lambda x: x.norm("nuc", dim=(-1, 1), keepdim=True)),
])
def test_nuclear_norm(shape, fn, dtype):
    check_op([shape], fn, dtype=dtype, rtol=1e-6 if dtype == np.float64 else None)


# --- numerical gradchecks (float64) ----------------------------------------------------------

GRADCHECK = {
    "sum": lambda x: x.sum(1),
    "sum_tuple": lambda x: x.sum((0, 1), keepdim=True),
    "mean": lambda x: x.mean(0),
    "max": lambda x: x.max(),
    "max_dim": lambda x: x.max(1).values,
    "min_dim": lambda x: x.min(0, keepdim=True).values,
    "min": lambda x: x.min(),
    "amax": lambda x: x.amax(1),
    "amin": lambda x: x.amin((0, 1)),
    "var": lambda x: x.var(1),
    "var_c0": lambda x: x.var(0, correction=0),
    "std": lambda x: x.std(),
    "std_dim": lambda x: x.std(1, keepdim=True),
    "prod": lambda x: x.prod(),
    "prod_dim": lambda x: x.prod(0),
    "logsumexp": lambda x: x.logsumexp(1),
    "logsumexp_all": lambda x: x.logsumexp((0, 1)),
    "norm": lambda x: x.norm(),
    "norm_dim": lambda x: x.norm(dim=1),
    "norm1": lambda x: x.norm(1, dim=0),
    "norm3": lambda x: x.norm(3),
    "norm_half": lambda x: x.norm(0.5, dim=1),
    "norm_neg1": lambda x: x.norm(-1, dim=0),
    "norm_inf": lambda x: x.norm(INF, dim=1),
    "norm_neginf": lambda x: x.norm(-INF),
    "norm_nuc": lambda x: x.norm("nuc"),
    "softmax": lambda x: x.softmax(1),
    "softmax0": lambda x: x.softmax(0),
    "log_softmax": lambda x: x.log_softmax(-1),
    "log_softmax0": lambda x: x.log_softmax(0),
    "cumsum": lambda x: x.cumsum(1),
    "cumsum0": lambda x: x.cumsum(0),
}


@pytest.mark.parametrize("name", list(GRADCHECK))
def test_gradcheck(name):
    # inputs away from 0 keep the non-smooth points of abs-based norms out of reach
    check_grad(GRADCHECK[name], [(3, 4)], low=0.3, high=2.0, seed=1)
    check_grad(lambda x: GRADCHECK[name](-x), [(3, 4)], low=0.3, high=2.0, seed=2)
