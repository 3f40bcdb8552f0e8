"""Shape ops of ops/shaping.py against PyTorch: values, dtypes, gradients, views, in-place
forms and errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lamina
from tests.helpers import both, check_grad, raises_both, requires_torch

F64, F32 = np.float64, np.float32
dtypes = st.sampled_from([F64, F32])


def shape_st(min_dims=0, max_dims=4, min_side=0):
    return st.lists(st.integers(min_side, 4), min_size=min_dims, max_size=max_dims).map(tuple)


# --- triangles and diagonals ------------------------------------------------------------------

@requires_torch
@settings(max_examples=20)
@given(shape=shape_st(2), k=st.integers(-5, 5), dtype=dtypes, nc=st.booleans())
def test_tril_triu_hypothesis(shape, k, dtype, nc):
    both([shape], lambda L, x: L.tril(x, k) * 2, dtype=dtype, noncontiguous=nc)
    both([shape], lambda L, x: x.triu(diagonal=k) * 2, dtype=dtype, noncontiguous=nc)


@requires_torch
def test_tril_triu_int_bool():
    both([np.arange(12).reshape(3, 4)], lambda L, i: L.tril(i, -1), grad=False)
    both([np.arange(12).reshape(3, 4)], lambda L, i: L.triu(i > 4, 1), grad=False)


@requires_torch
@settings(max_examples=20)
@given(shape=shape_st(2), data=st.data(), dtype=dtypes, nc=st.booleans())
def test_diagonal_hypothesis(shape, data, dtype, nc):
    nd = len(shape)
    d1 = data.draw(st.integers(-nd, nd - 1))
    d2 = data.draw(st.integers(-nd, nd - 1).filter(lambda d: d % nd != d1 % nd))
    off = data.draw(st.integers(-5, 5))
    both([shape], lambda L, x: L.diagonal(x, off, d1, d2) * 2, dtype=dtype, noncontiguous=nc)
    both([shape], lambda L, x: x.diagonal(offset=off, dim1=d1, dim2=d2).exp(), dtype=dtype)


@requires_torch
@settings(max_examples=20)
@given(shape=shape_st(1, 3), data=st.data(), dtype=dtypes)
def test_diag_embed_hypothesis(shape, data, dtype):
    nd = len(shape) + 1
    d1 = data.draw(st.integers(-nd, nd - 1))
    d2 = data.draw(st.integers(-nd, nd - 1).filter(lambda d: d % nd != d1 % nd))
    off = data.draw(st.integers(-3, 3))
    both([shape], lambda L, x: L.diag_embed(x, off, d1, d2) * 2, dtype=dtype)


@requires_torch
@pytest.mark.parametrize("k", [-2, 0, 1, 4])
def test_diag_trace(k):
    both([(3,)], lambda L, x: L.diag(x, k) * 2)
    both([(3, 4)], lambda L, x: x.diag(k) * 2, noncontiguous=True)
    both([(0,)], lambda L, x: L.diag(x, k))
    both([(3, 4)], lambda L, x: L.trace(x) * 2)
    both([(0, 2)], lambda L, x: x.trace())
    both([np.arange(6).reshape(2, 3)], lambda L, i: L.trace(i), grad=False)
    both([np.arange(6).reshape(2, 3)], lambda L, i: L.diag(i, k), grad=False)


def test_diagonal_is_a_writable_view():
    x = lamina.zeros(3, 3)
    d = x.diagonal()
    with lamina.no_grad():
        d[...] = 1.0
    assert np.array_equal(x.numpy(), np.eye(3)) and x._version == d._version == 1
    assert lamina.diag(x)._version == 0            # diag of a matrix is a copy


@requires_torch
@pytest.mark.parametrize("f", [
    lambda L, x: L.tril(x[0]),
    lambda L, x: L.triu(x[0, 0]),
    lambda L, x: L.diagonal(x, 0, 1, 1),
    lambda L, x: L.diagonal(x, 0, 0, -2),
    lambda L, x: L.diagonal(x, 0, 0, 2),
    lambda L, x: L.diagonal(x[0]),
    lambda L, x: L.diag_embed(x, 0, 0, 0),
    lambda L, x: L.diag_embed(x[0, 0]),
    lambda L, x: L.diag(x.unsqueeze(0)),
    lambda L, x: L.trace(x[0]),
    lambda L, x: L.trace(x > 0),
])
def test_triangle_diagonal_errors(f):
    raises_both(f, np.zeros((3, 4)))


# --- roll / rot90 -----------------------------------------------------------------------------

@requires_torch
@settings(max_examples=20)
@given(shape=shape_st(0), data=st.data(), dtype=dtypes, nc=st.booleans())
def test_roll_hypothesis(shape, data, dtype, nc):
    nd = len(shape)
    s = data.draw(st.integers(-6, 6))
    both([shape], lambda L, x: L.roll(x, s) * 2, dtype=dtype, noncontiguous=nc)
    if nd:
        dims = data.draw(st.lists(st.integers(-nd, nd - 1), min_size=1, max_size=3))
        shifts = data.draw(st.lists(st.integers(-6, 6), min_size=len(dims),
                                    max_size=len(dims)))
        both([shape], lambda L, x: x.roll(shifts, dims) * 2, dtype=dtype, noncontiguous=nc)
        both([shape], lambda L, x: L.roll(x, shifts[0], dims[0]), dtype=dtype)


@requires_torch
@settings(max_examples=20)
@given(shape=shape_st(2), data=st.data(), dtype=dtypes, nc=st.booleans())
def test_rot90_hypothesis(shape, data, dtype, nc):
    nd = len(shape)
    d0 = data.draw(st.integers(-nd, nd - 1))
    d1 = data.draw(st.integers(-nd, nd - 1).filter(lambda d: d % nd != d0 % nd))
    k = data.draw(st.integers(-5, 5))
    both([shape], lambda L, x: L.rot90(x, k, (d0, d1)) * 2, dtype=dtype, noncontiguous=nc)
    both([shape], lambda L, x: x.rot90(k, [d0, d1]), dtype=dtype)


@requires_torch
@pytest.mark.parametrize("f", [
    lambda L, x: L.roll(x, (1, 2)),
    lambda L, x: L.roll(x, (1, 2), (0,)),
    lambda L, x: L.roll(x, 1, 2),
    lambda L, x: L.rot90(x, 1, (0, 0)),
    lambda L, x: L.rot90(x, 1, (0, -2)),
    lambda L, x: L.rot90(x, 1, (0, 1, 2)),
    lambda L, x: L.rot90(x[0], 1),
    lambda L, x: L.rot90(x, 1, (0, 2)),
])
def test_roll_rot90_errors(f):
    raises_both(f, np.zeros((3, 4)))


# --- tile / repeat_interleave -----------------------------------------------------------------

@requires_torch
@settings(max_examples=20)
@given(shape=shape_st(0, 3), data=st.data(), dtype=dtypes)
def test_tile_hypothesis(shape, data, dtype):
    reps = data.draw(st.lists(st.integers(0, 3), min_size=0, max_size=4))
    both([shape], lambda L, x: L.tile(x, reps) * 2, dtype=dtype)
    both([shape], lambda L, x: x.tile(tuple(reps)), dtype=dtype)


@requires_torch
@settings(max_examples=20)
@given(shape=shape_st(0, 3), data=st.data(), dtype=dtypes)
def test_repeat_interleave_hypothesis(shape, data, dtype):
    nd = len(shape)
    r = data.draw(st.integers(0, 3))
    both([shape], lambda L, x: L.repeat_interleave(x, r) * 2, dtype=dtype)
    if nd:
        d = data.draw(st.integers(-nd, nd - 1))
        both([shape], lambda L, x: x.repeat_interleave(r, dim=d) * 2, dtype=dtype)
        counts = np.array(data.draw(st.lists(st.integers(0, 3), min_size=shape[d],
                                             max_size=shape[d])), dtype=np.int64)
        both([shape], lambda L, x: L.repeat_interleave(x, L.tensor(counts), d) * 2,
             dtype=dtype)
        both([shape], lambda L, x: L.repeat_interleave(x, L.tensor([r]), d), dtype=dtype)


@requires_torch
def test_repeat_interleave_counts_only():
    both([np.array([2, 0, 3])], lambda L, c: L.repeat_interleave(c), grad=False)
    both([np.array([1, 2])], lambda L, c: L.repeat_interleave(c, output_size=3), grad=False)


@requires_torch
@pytest.mark.parametrize("f", [
    lambda L, x: L.tile(x, (-1, 1)),
    lambda L, x: L.repeat_interleave(x, -1),
    lambda L, x: L.repeat_interleave(x, L.tensor([1, 2]), 0),
    lambda L, x: L.repeat_interleave(x, L.tensor([1, -2, 1]), 0),
    lambda L, x: L.repeat_interleave(x, 2, 2),
    lambda L, x: L.repeat_interleave(x),
    lambda L, x: L.repeat_interleave(x[0, 0], 2, 0),
    lambda L, x: L.repeat_interleave(x, 2, 0, output_size=5),
])
def test_tile_repeat_interleave_errors(f):
    raises_both(f, np.zeros((3, 4)))


# --- unbind / swapdims / meshgrid -------------------------------------------------------------

@requires_torch
@settings(max_examples=20)
@given(shape=shape_st(1), data=st.data(), dtype=dtypes)
def test_unbind_hypothesis(shape, data, dtype):
    nd = len(shape)
    d = data.draw(st.integers(-nd, nd - 1))
    both([shape], lambda L, x: L.unbind(x, d), dtype=dtype)
    # weights tell the slices apart; a slice without gradient gives zeros
    both([shape], lambda L, x: [t * (i + 1) for i, t in enumerate(x.unbind(d)) if i % 2 == 0],
         dtype=dtype)


def test_unbind_views_share_version():
    x = lamina.zeros(2, 3)
    a, b = x.unbind()
    with lamina.no_grad():
        b[1] = 4.0
    assert x.numpy()[1, 1] == 4.0 and x._version == a._version == 1


@requires_torch
def test_swapdims_swapaxes_moveaxis():
    both([(2, 3, 4)], lambda L, x: L.swapdims(x, 0, -1) * 2, noncontiguous=True)
    both([(2, 3, 4)], lambda L, x: x.swapdims(1, 2) * 2)
    both([(2, 3, 4)], lambda L, x: x.swapaxes(0, 1) * 2)
    both([(2, 3, 4)], lambda L, x: x.moveaxis(0, 2) * 2)


@requires_torch
@pytest.mark.parametrize("indexing", ["ij", "xy"])
@pytest.mark.parametrize("shapes", [[(2,), (3,)], [(2,), (), (4,)], [(0,), (3,)], [(3,)],
                                    [(2,), (3,), (1,), (2,)]])
def test_meshgrid(shapes, indexing):
    both(shapes, lambda L, *xs: [g * (i + 1) for i, g in
                                 enumerate(L.meshgrid(*xs, indexing=indexing))])
    both(shapes, lambda L, *xs: L.meshgrid(list(xs), indexing=indexing))


@requires_torch
@pytest.mark.parametrize("f", [
    lambda L, x: L.meshgrid(x, x[0], indexing="ij"),
    lambda L, x: L.meshgrid(x[0], x[0].long(), indexing="ij"),
    lambda L, x: L.meshgrid(x[0], indexing="ab"),
    lambda L, x: L.unbind(x, 2),
    lambda L, x: L.unbind(x[0, 0]),
    lambda L, x: L.swapdims(x, 0, 2),
])
def test_unbind_meshgrid_errors(f):
    raises_both(f, np.zeros((3, 4)))


# --- Tensor.unfold ----------------------------------------------------------------------------

@requires_torch
@settings(max_examples=25)
@given(shape=shape_st(0), data=st.data(), dtype=dtypes, nc=st.booleans())
def test_unfold_hypothesis(shape, data, dtype, nc):
    nd = len(shape)
    d = data.draw(st.integers(-max(nd, 1), max(nd, 1) - 1))
    n = shape[d] if nd else 1
    size = data.draw(st.integers(0, n))
    step = data.draw(st.integers(1, 4))
    both([shape], lambda L, x: x.unfold(d, size, step) * 2, dtype=dtype, noncontiguous=nc)


def test_unfold_is_a_view():
    x = lamina.zeros(5)
    w = x.unfold(0, 2, 1)
    with lamina.no_grad():
        w[1, 1] = 3.0
    assert x.numpy()[2] == 3.0 and x._version == 1 and w[2, 0].item() == 3.0


@requires_torch
@pytest.mark.parametrize("f", [
    lambda L, x: x.unfold(1, 5, 1),
    lambda L, x: x.unfold(1, 2, 0),
    lambda L, x: x.unfold(1, -1, 1),
    lambda L, x: x.unfold(2, 1, 1),
])
def test_unfold_errors(f):
    raises_both(f, np.zeros((3, 4)))


# --- in-place triangles -----------------------------------------------------------------------

@requires_torch
def test_tril_triu_inplace():
    def f(L, x):
        y = x * 2
        y.tril_(-1)
        z = x + 1
        z.triu_(1)
        return y + z
    both([(3, 4)], f)
    x = lamina.ones(2, 2)
    x.tril_()
    assert x.tolist() == [[1.0, 0.0], [1.0, 1.0]]
    leaf = lamina.ones(2, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match="tril_"):
        leaf.tril_()


def test_tril_inplace_invalidates_saved():
    x = lamina.ones(2, 2, requires_grad=True)
    y = x * 1
    z = y.exp()                       # saves its output... and y is changed below
    w = y * y                         # saves y
    y.triu_()
    z.sum().backward()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        w.sum().backward()


# --- numerical gradcheck ----------------------------------------------------------------------

@pytest.mark.parametrize("fn,shapes", [
    (lambda a: lamina.tril(a, 1), [(3, 4)]),
    (lambda a: lamina.triu(a, -1), [(2, 3, 3)]),
    (lambda a: lamina.diagonal(a, 1, 2, 0), [(3, 2, 4)]),
    (lambda a: lamina.diag_embed(a, -1, 0, 2), [(2, 3)]),
    (lambda a: lamina.diag(a, 1), [(3,)]),
    (lambda a: lamina.diag(a, -1), [(3, 4)]),
    (lambda a: lamina.trace(a), [(3, 4)]),
    (lambda a: lamina.roll(a, (1, -2), (0, 1)), [(3, 4)]),
    (lambda a: lamina.roll(a, 5), [(3, 4)]),
    (lambda a: lamina.rot90(a, 3, (1, 0)), [(2, 3)]),
    (lambda a: lamina.tile(a, (2, 1, 2)), [(2, 3)]),
    (lambda a: lamina.repeat_interleave(a, lamina.tensor([2, 0, 1]), 1), [(2, 3)]),
    (lambda a: lamina.unbind(a, 1), [(2, 3)]),
    (lambda a, b: lamina.meshgrid(a, b, indexing="xy"), [(2,), (3,)]),
    (lambda a: a.unfold(1, 3, 2), [(2, 7)]),
    (lambda a: a.unfold(0, 2, 1), [(4, 2)]),
])
def test_gradcheck(fn, shapes):
    check_grad(fn, shapes)


# --- NumPy's axis= spelling, which PyTorch's functions accept for dim= ---------------------

I24 = np.array([[0, 1, 0, 1], [1, 0, 1, 1]])       # rows, for axis=0
P24 = np.array([[0, 1, 2, 3], [3, 2, 1, 0]])       # a permutation of each row


@requires_torch
@pytest.mark.parametrize("f", [
    lambda L, x: L.unbind(x, axis=1),
    lambda L, x: x.unbind(axis=-1),
    lambda L, x: L.repeat_interleave(x, 2, axis=0),
    lambda L, x: L.cross(x[:, :3], x[:, 1:], axis=1),
    lambda L, x: L.softmax(x, axis=0),
    lambda L, x: x.log_softmax(axis=1),
    lambda L, x: L.cat([x, x], axis=1),
    lambda L, x: L.stack([x, x], axis=-1),
    lambda L, x: L.squeeze(x[:1], axis=0),
    lambda L, x: x.unsqueeze(axis=1),
    lambda L, x: L.chunk(x, 2, axis=1),
    lambda L, x: L.narrow(x, axis=1, start=1, length=2),
    lambda L, x: L.gather(x, axis=0, index=L.tensor(I24)),
    lambda L, x: L.index_select(x, axis=1, index=L.tensor([2, 0])),
    lambda L, x: L.take_along_dim(x, L.tensor(I24), axis=0),
    lambda L, x: L.scatter(x, axis=1, index=L.tensor(P24), src=x * 2),
    lambda L, x: L.scatter_add(x, axis=0, index=L.tensor(I24), src=x),
    lambda L, x: L.scatter_reduce(x, axis=0, index=L.tensor(I24), src=x, reduce="prod"),
    lambda L, x: L.index_add(x, axis=1, index=L.tensor([0, 0]), source=x[:, :2]),
    lambda L, x: L.index_copy(x, axis=1, index=L.tensor([3, 0]), source=x[:, :2]),
    lambda L, x: L.index_fill(x, axis=1, index=L.tensor([3, 0]), value=2.0),
])
def test_axis_keyword(f):
    both([(2, 4)], f)


def test_axis_and_dim_together_raise():
    with pytest.raises(TypeError):
        lamina.unbind(lamina.ones(2), dim=0, axis=0)
