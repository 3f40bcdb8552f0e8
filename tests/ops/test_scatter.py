"""The ops of ops/scattering.py against PyTorch: take, scatter_reduce, index_add, index_copy,
index_fill, masked_scatter and the in-place forms (scatter_, scatter_add_, ...): values,
dtypes, gradients, version counters and errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lamina
from tests.helpers import both, check_grad, raises_both, requires_torch

F64, F32 = np.float64, np.float32
dtypes = st.sampled_from([F64, F32])
REDUCES = ["sum", "prod", "mean", "amax", "amin"]


def shape_st(min_dims=0, max_dims=3, min_side=0):
    return st.lists(st.integers(min_side, 4), min_size=min_dims, max_size=max_dims).map(tuple)


def ints(data, shape, lo, hi):
    n = int(np.prod(shape))
    return np.array(data.draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n)),
                    dtype=np.int64).reshape(shape)


# --- take -------------------------------------------------------------------------------------

@requires_torch
@settings(max_examples=20)
@given(shape=shape_st(0, 3), ishape=shape_st(0, 2), data=st.data(), dtype=dtypes,
       nc=st.booleans())
def test_take_hypothesis(shape, ishape, data, dtype, nc):
    n = int(np.prod(shape))
    idx = ints(data, ishape, -n, n - 1) if n else np.zeros(0, np.int64)
    both([shape, idx], lambda L, x, i: L.take(x, i) * 2, dtype=dtype, noncontiguous=nc)
    both([shape, idx], lambda L, x, i: x.take(i), dtype=dtype)


@requires_torch
@pytest.mark.parametrize("f", [
    lambda L, x: L.take(x, L.tensor([12])),
    lambda L, x: L.take(x, L.tensor([-13])),
    lambda L, x: L.take(x, L.tensor([1.0])),
])
def test_take_errors(f):
    raises_both(f, np.zeros((3, 4)))


# --- scatter_reduce ---------------------------------------------------------------------------

@st.composite
def scatter_case(draw, min_side=0):
    """(x shape, dim, index, src shape): index no larger than src, nor than x off ``dim``."""
    shape = draw(shape_st(1, 3, min_side))
    nd = len(shape)
    d = draw(st.integers(-nd, nd - 1))
    sshape = list(shape)
    sshape[d] = draw(st.integers(0, 4))
    ishape = tuple(draw(st.integers(0, s)) for s in sshape)
    idx = np.array(draw(st.lists(st.integers(0, max(shape[d] - 1, 0)),
                                 min_size=int(np.prod(ishape)), max_size=int(np.prod(ishape)))),
                   dtype=np.int64).reshape(ishape)
    if shape[d] == 0:
        ishape = tuple(0 if k == d % nd else s for k, s in enumerate(ishape))
        idx = np.zeros(ishape, np.int64)
    return shape, d, idx, tuple(sshape)


@requires_torch
@settings(max_examples=25)
@given(case=scatter_case(), reduce=st.sampled_from(REDUCES), inc=st.booleans(), dtype=dtypes,
       nc=st.booleans())
def test_scatter_reduce_hypothesis(case, reduce, inc, dtype, nc):
    shape, d, idx, sshape = case
    # PyTorch's backward fails where index is empty or smaller than src ("invalid gradient",
    # or garbage for the src elements not indexed): gradients are compared where it works,
    # and lamina's are checked by gradcheck below with a smaller index too
    both([shape, idx, sshape],
         lambda L, x, i, s: L.scatter_reduce(x, d, i, s, reduce, include_self=inc) * 2,
         dtype=dtype, noncontiguous=nc, grad=idx.size > 0 and idx.shape == sshape)


@requires_torch
@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("inc", [True, False])
def test_scatter_reduce_ties_and_zeros(reduce, inc):
    # repeated values (amax/amin ties) and zeros (prod's special cases) at repeated indices
    x = np.array([[0.0, 2.0, 1.0, 0.0], [3.0, 0.0, 3.0, 1.0]])
    src = np.array([[2.0, 0.0, 2.0, 1.0, 5.0], [3.0, 0.0, 0.0, 3.0, -1.0]])
    idx = np.array([[1, 0, 1, 2, 2], [0, 1, 1, 2, 0]])
    # PyTorch's amax/amin gradient without include_self still counts an input equal to the
    # result among the ties (its shares then sum to less than the gradient); lamina splits
    # among the elements that took part: checked by hand below
    grad = inc or reduce not in ("amax", "amin")
    both([x, idx, src], lambda L, a, i, s: L.scatter_reduce(a, 1, i, s, reduce,
                                                             include_self=inc), grad=grad)
    both([x, idx, src], lambda L, a, i, s: a.scatter_reduce(-1, i, s, reduce=reduce,
                                                             include_self=inc).exp(), grad=grad)


def test_scatter_reduce_amax_ties_without_self():
    x = lamina.tensor([2.0, 5.0, 7.0], requires_grad=True)
    s = lamina.tensor([2.0, 2.0, 1.0, 4.0], requires_grad=True)
    out = lamina.scatter_reduce(x, 0, lamina.tensor([0, 0, 1, 1]), s, "amax",
                                include_self=False)
    assert out.tolist() == [2.0, 4.0, 7.0]
    out.backward(lamina.tensor([1.0, 10.0, 100.0]))
    assert x.grad.tolist() == [0.0, 0.0, 100.0]         # overwritten positions: none
    assert s.grad.tolist() == [0.5, 0.5, 0.0, 10.0]     # the tie splits evenly


@requires_torch
@pytest.mark.parametrize("reduce", REDUCES)
def test_scatter_reduce_int(reduce):
    x = np.array([-7, 7, 9, 4])
    src = np.array([2, 3, -5, 1])
    idx = np.array([0, 0, 2, 0])
    for inc in (True, False):
        both([x, idx, src], lambda L, a, i, s: L.scatter_reduce(a, 0, i, s, reduce,
                                                                 include_self=inc), grad=False)  # noqa: B023


@requires_torch
@pytest.mark.parametrize("f", [
    lambda L, x, i: L.scatter_reduce(x, 0, i, x, "median"),
    lambda L, x, i: L.scatter_reduce(x, 0, i + 5, x, "sum"),
    lambda L, x, i: L.scatter_reduce(x, 0, i - 1, x, "sum"),
    lambda L, x, i: L.scatter_reduce(x, 0, i[0], x, "sum"),
    lambda L, x, i: L.scatter_reduce(x, 0, i, x.long(), "sum"),
    lambda L, x, i: L.scatter_reduce(x, 2, i, x, "sum"),
    lambda L, x, i: L.scatter_reduce(x, 0, i.double(), x, "sum"),
])
def test_scatter_reduce_errors(f):
    raises_both(f, np.zeros((3, 4)), np.zeros((3, 4), np.int64))


# --- index_add / index_copy / index_fill ------------------------------------------------------

@st.composite
def index_case(draw, distinct=False):
    shape = draw(shape_st(1, 3))
    nd = len(shape)
    d = draw(st.integers(-nd, nd - 1))
    n = shape[d]
    if n == 0:
        idx = np.zeros(0, np.int64)
    elif distinct:
        idx = np.array(draw(st.permutations(range(n))), np.int64)[:draw(st.integers(0, n))]
    else:
        idx = np.array(draw(st.lists(st.integers(0, n - 1), max_size=5)), np.int64)
    sshape = list(shape)
    sshape[d] = idx.size
    return shape, d, idx, tuple(sshape)


@requires_torch
@settings(max_examples=25)
@given(case=index_case(), dtype=dtypes, nc=st.booleans(), alpha=st.sampled_from([1, -2.5]))
def test_index_add_hypothesis(case, dtype, nc, alpha):
    shape, d, idx, sshape = case
    both([shape, idx, sshape], lambda L, x, i, s: L.index_add(x, d, i, s, alpha=alpha) * 2,
         dtype=dtype, noncontiguous=nc)


@requires_torch
@settings(max_examples=25)
@given(case=index_case(distinct=True), dtype=dtypes, nc=st.booleans())
def test_index_copy_hypothesis(case, dtype, nc):
    shape, d, idx, sshape = case
    both([shape, idx, sshape], lambda L, x, i, s: L.index_copy(x, d, i, s) * 2,
         dtype=dtype, noncontiguous=nc)


@requires_torch
@settings(max_examples=25)
@given(case=index_case(), dtype=dtypes, nc=st.booleans())
def test_index_fill_hypothesis(case, dtype, nc):
    shape, d, idx, _ = case
    both([shape, idx], lambda L, x, i: L.index_fill(x, d, i, -1.5) * 2, dtype=dtype,
         noncontiguous=nc)
    both([shape, idx, ()], lambda L, x, i, v: x.index_fill(d, i, v * 3), dtype=dtype)


@requires_torch
def test_index_ops_int_and_0d():
    x, i = np.arange(12).reshape(3, 4), np.array([2, 0, 2])
    both([x, i, np.ones((3, 3), np.int64)], lambda L, a, j, s: L.index_add(a, 1, j, s, alpha=3),
         grad=False)
    both([x, np.array([2, 0]), np.ones((3, 2), np.int64)],
         lambda L, a, j, s: L.index_copy(a, 1, j, s), grad=False)
    both([x, i], lambda L, a, j: L.index_fill(a, 0, j, 7), grad=False)
    both([(), np.array([0]), ()], lambda L, a, j, s: L.index_add(a, 0, j, s))
    both([(), np.array([0]), ()], lambda L, a, j, s: L.index_copy(a, 0, j, s))
    both([(), np.array(0)], lambda L, a, j: L.index_fill(a, 0, j, 2.0))
    # negative indices count from the end (PyTorch fails on some of them: dims of size 1)
    both([(2, 3), np.array([-1, 0, -3])], lambda L, a, j: L.index_fill(a, 1, j, 2.0) * 2)


@requires_torch
@pytest.mark.parametrize("f", [
    lambda L, x, i: L.index_add(x, 0, i, x[:2]),
    lambda L, x, i: L.index_add(x, 0, i, x[:, :2]),
    lambda L, x, i: L.index_add(x, 0, i, x.float()),
    lambda L, x, i: L.index_add(x, 0, i + 3, x),
    lambda L, x, i: L.index_add(x, 0, i - 1, x),
    lambda L, x, i: L.index_add(x, 2, i, x),
    lambda L, x, i: L.index_add(x, 0, i.reshape(3, 1), x),
    lambda L, x, i: L.index_copy(x, 1, i, x),
    lambda L, x, i: L.index_copy(x, 0, i - 1, x),
    lambda L, x, i: L.index_fill(x, 0, i + 3, 1.0),
    lambda L, x, i: L.index_fill(x, 0, i - 4, 1.0),
    lambda L, x, i: L.index_fill(x, 0, i, x[0]),
    lambda L, x, i: L.index_fill(x, 0, i.double(), 1.0),
])
def test_index_op_errors(f):
    raises_both(f, np.zeros((3, 4)), np.arange(3))


# --- masked_scatter ---------------------------------------------------------------------------

@requires_torch
@settings(max_examples=25)
@given(shape=shape_st(0, 3), data=st.data(), dtype=dtypes, nc=st.booleans())
def test_masked_scatter_hypothesis(shape, data, dtype, nc):
    k = data.draw(st.integers(0, len(shape)))
    mshape = tuple(1 if data.draw(st.booleans()) else s for s in shape[k:])
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=int(np.prod(mshape)),
                                       max_size=int(np.prod(mshape)))),
                    dtype=bool).reshape(mshape)
    n = int(np.prod(shape))
    extra = data.draw(st.integers(0, 3))
    sshape = data.draw(st.sampled_from([(n + extra,), (1, n + extra)]))
    both([shape, mask, sshape], lambda L, x, m, s: L.masked_scatter(x, m, s) * 2, dtype=dtype,
         noncontiguous=nc)
    # the mask broadcasting the input up
    both([mshape, np.broadcast_to(mask, shape).copy(), sshape],
         lambda L, x, m, s: x.masked_scatter(m, s) * 2, dtype=dtype)


@requires_torch
@pytest.mark.parametrize("f", [
    lambda L, x, m: L.masked_scatter(x, m, x[0]),
    lambda L, x, m: L.masked_scatter(x, m.long(), x),
    lambda L, x, m: L.masked_scatter(x, m, x.float()),
    lambda L, x, m: L.masked_scatter(x, m[:, :2], x),
    lambda L, x, m: x[0].masked_scatter_(m, x),
])
def test_masked_scatter_errors(f):
    raises_both(f, np.zeros((3, 4)), np.ones((3, 4), bool))


# --- in-place forms ---------------------------------------------------------------------------

INPLACE = {
    "scatter_": lambda x, i, s: x.scatter_(1, i, s[:, :2]),
    "scatter_value": lambda x, i, s: x.scatter_(1, i, value=2.5),
    "scatter_add_": lambda x, i, s: x.scatter_add_(1, i, s[:, :2]),
    "scatter_reduce_": lambda x, i, s: x.scatter_reduce_(1, i, s[:, :2], "prod",
                                                          include_self=False),
    "index_add_": lambda x, i, s: x.index_add_(1, i[0], s[:, :2], alpha=2),
    "index_copy_": lambda x, i, s: x.index_copy_(1, i[0], s[:, :2]),
    "index_fill_": lambda x, i, s: x.index_fill_(1, i[0], -1.0),
    "index_fill_tensor": lambda x, i, s: x.index_fill_(1, i[0], s[0, 0]),
    "masked_scatter_": lambda x, i, s: x.masked_scatter_(x > 0, s),
}


@requires_torch
@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_matches_out_of_place(name):
    op = INPLACE[name]

    def f(L, x, i, s):
        y = x * 1.5                    # not a leaf: in-place on it is recorded
        r = op(y, i, s)
        assert r is y
        return y * 2

    both([(3, 4), np.array([[2, 0], [1, 3], [0, 1]]), (3, 4)], f)


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_bumps_version_and_refuses_leaves(name):
    op = INPLACE[name]
    i = lamina.tensor([[2, 0], [1, 3], [0, 1]])
    x = lamina.tensor(np.arange(12.0).reshape(3, 4))
    s = lamina.ones(3, 4, dtype=lamina.float64)
    v = x.detach()                      # shares x's version counter
    op(x, i, s)
    assert x._version == v._version == 1
    leaf = lamina.ones(3, 4, dtype=lamina.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match=name.split("_")[0]):
        op(leaf, i, s)
    y = lamina.ones(3, 4, dtype=lamina.float64, requires_grad=True) * 1
    w = y * y                           # saves y, which the in-place op then changes
    op(y, i, s)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        w.sum().backward()


# --- numerical gradcheck ----------------------------------------------------------------------

I2 = lamina.tensor([[1, 0, 1], [2, 2, 0]])


@pytest.mark.parametrize("fn,shapes", [
    (lambda a: lamina.take(a, lamina.tensor([[0, -1], [0, 3]])), [(2, 3)]),
    *[(lambda a, s, r=r: lamina.scatter_reduce(a, 1, I2, s, r), [(2, 4), (2, 3)])
      for r in REDUCES],
    *[(lambda a, s, r=r: lamina.scatter_reduce(a, 0, I2, s, r), [(3, 3), (3, 4)])
      for r in REDUCES],
    *[(lambda a, s, r=r: lamina.scatter_reduce(a, 1, I2, s, r, include_self=False),
       [(2, 4), (2, 3)]) for r in REDUCES],
    (lambda a, s: lamina.index_add(a, 0, lamina.tensor([1, 1, 0]), s, alpha=0.5),
     [(2, 3), (3, 3)]),
    (lambda a, s: lamina.index_copy(a, 1, lamina.tensor([2, 0]), s), [(2, 3), (2, 2)]),
    (lambda a, v: lamina.index_fill(a, 1, lamina.tensor([2, 0, 2]), v), [(2, 3), ()]),
    (lambda a, s: lamina.masked_scatter(a, lamina.tensor([True, False, True]), s),
     [(2, 3), (7,)]),
])
def test_gradcheck(fn, shapes):
    check_grad(fn, shapes)


def test_module_names_do_not_shadow_ops():
    # a submodule named like an op (ops/scatter.py) would replace lamina.ops.scatter, and with
    # it lamina.scatter and Tensor.scatter, by the module
    import lamina.ops.contraction
    import lamina.ops.scattering
    import lamina.ops.shaping

    for mod in (lamina.ops.contraction, lamina.ops.scattering, lamina.ops.shaping):
        for name in mod.__all__:
            assert getattr(lamina, name) is getattr(mod, name), name
    assert callable(lamina.scatter) and callable(lamina.Tensor.scatter)
