"""Movement ops against PyTorch: values, dtypes, gradients, views and errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lamina
from tests.helpers import both, check_grad, check_op, raises_both, requires_torch, torch

F64, F32 = np.float64, np.float32


def tpad(lib):
    return torch.nn.functional.pad if lib is torch else lamina.pad


shapes = st.lists(st.integers(0, 4), min_size=1, max_size=4).map(tuple)
nonempty_shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)
dtypes = st.sampled_from([F64, F32])


# --- the basic view ops -----------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("dtype", [F64, F32])
@pytest.mark.parametrize("noncontig", [False, True])
@pytest.mark.parametrize("f", [
    lambda x: x.reshape(4, -1),
    lambda x: x.reshape(2, 4, 6),
    lambda x: x.flatten(),
    lambda x: x.flatten(1),
    lambda x: x.unsqueeze(-1).squeeze(),
    lambda x: x.unsqueeze(0).squeeze(0),
    lambda x: x[:, :1].squeeze(-1),
    lambda x: x.unsqueeze(1).expand(3, 2, 4, 4),
    lambda x: x.unsqueeze(0).expand(2, -1, -1, -1),
    lambda x: x.permute(2, 0, 1),
    lambda x: x.transpose(0, -1),
    lambda x: x.mT,
    lambda x: x.broadcast_to((2, 3, 4, 4)),
], ids=range(13))
def test_view_ops(f, dtype, noncontig):
    check_op([(3, 4, 4)], f, dtype=dtype, noncontiguous=noncontig)


@requires_torch
def test_movedim():
    both([(2, 3, 4, 5)], lambda L, x: L.movedim(x, (0, -1), (2, 0)))
    both([(2, 3, 4)], lambda L, x: L.movedim(x, 1, -1))


@requires_torch
def test_view_ops_edge_shapes():
    check_op([(0, 3)], lambda x: x.reshape(3, 0))
    check_op([(3, 4, 4)], lambda x: x.view(2, 4, 6).view_as(x))
    check_op([(1, 3, 1)], lambda x: x.squeeze((0, 2)))
    check_op([()], lambda x: x.flatten())
    check_op([()], lambda x: x.unsqueeze(0).expand(3))
    check_op([(2, 1)], lambda x: x.expand(0, 2, 3))


def test_reshape_copy_is_not_a_view():
    x = lamina.tensor(np.arange(12.0).reshape(3, 4))
    y = x.T.reshape(-1)            # NumPy must copy here
    with lamina.no_grad():
        y[0] = 100.0
    assert x._data[0, 0] == 0.0
    assert x._version == 0


def test_views_share_memory_and_version():
    x = lamina.tensor(np.zeros((2, 3)))
    for v in (x.view(3, 2), x.T, x.unsqueeze(0), x[1], lamina.narrow(x, 1, 1, 2), x.split(1)[1]):
        before = x._version
        with lamina.no_grad():
            v[...] = 1.0
        assert x._version == before + 1
    assert np.all(x._data == 1.0)


# --- cat / stack --------------------------------------------------------------------------------

@requires_torch
@settings(max_examples=20)
@given(shape=nonempty_shapes, data=st.data(), dtype=dtypes)
def test_cat_hypothesis(shape, data, dtype):
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    n = data.draw(st.integers(1, 3))
    sizes = data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    shps = [shape[:dim % nd] + (s,) + shape[dim % nd + 1:] for s in sizes]
    both(shps, lambda L, *xs: L.cat(xs, dim), dtype=dtype)
    both(shps, lambda L, *xs: L.cat(list(xs), dim=dim) * 2, dtype=dtype, noncontiguous=True)


@requires_torch
def test_cat_promotion_and_legacy_empty():
    both([(2, 3), np.arange(6).reshape(2, 3)], lambda L, x, i: L.cat([x, i]), dtype=F32)
    both([(2, 3), (1, 3)], lambda L, x, y: L.cat([x, y.double()]), dtype=F32)
    both([(2, 3), np.arange(3).reshape(1, 3)],
         lambda L, x, i: L.cat([i > 0, i]), grad=False)
    # legacy (0,) tensors are skipped whatever the others' shapes; they still get a gradient
    both([(2, 3), (0,), (1, 3)], lambda L, x, e, y: L.cat([x, e, y]))
    both([(0,), (0,)], lambda L, a, b: L.concat([a, b]))
    both([(0,), (2, 3)], lambda L, e, x: L.concatenate((e.long(), x), 1))


@requires_torch
@pytest.mark.parametrize("f", [
    lambda L, x, y: L.cat([]),
    lambda L, x, y: L.cat([x[0, 0], y[0, 0]]),
    lambda L, x, y: L.cat([x, y]),
    lambda L, x, y: L.cat([x, y[0]]),
    lambda L, x, y: L.cat([x, x], 2),
    lambda L, x, y: L.cat(x),
    lambda L, x, y: L.stack([]),
    lambda L, x, y: L.stack([x, y]),
    lambda L, x, y: L.stack([x, x], 3),
])
def test_cat_stack_errors(f):
    raises_both(f, np.zeros((2, 3)), np.zeros((2, 4)))


@requires_torch
@settings(max_examples=20)
@given(shape=st.lists(st.integers(0, 3), min_size=0, max_size=3).map(tuple), data=st.data(),
       dtype=dtypes)
def test_stack_hypothesis(shape, data, dtype):
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    n = data.draw(st.integers(1, 3))
    both([shape] * n, lambda L, *xs: L.stack(xs, dim), dtype=dtype)


@requires_torch
def test_stack_promotion():
    both([(2,), (2,)], lambda L, x, y: L.stack([x, y.double()]), dtype=F32)


# --- split / chunk / narrow --------------------------------------------------------------------

@requires_torch
@settings(max_examples=20)
@given(shape=shapes, data=st.data(), dtype=dtypes)
def test_split_chunk_hypothesis(shape, data, dtype):
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    n = shape[dim]
    size = data.draw(st.integers(1 if n else 0, 5))
    both([shape], lambda L, x: L.split(x, size, dim), dtype=dtype)
    chunks = data.draw(st.integers(1, 5))
    both([shape], lambda L, x: x.chunk(chunks, dim), dtype=dtype)
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=3)))
    sections = [b - a for a, b in zip([0] + cuts, cuts + [n])]
    both([shape], lambda L, x: x.split(sections, dim), dtype=dtype)


@requires_torch
def test_split_partial_gradients():
    # outputs that get no gradient give zeros in their slice; weights tell the slices apart
    both([(5, 3)], lambda L, x: x.split(2)[1] * 3)
    both([(5, 3)], lambda L, x: x.split([1, 3, 1])[0] * 2 + x.split([1, 3, 1])[2])
    both([(4, 6)], lambda L, x: L.chunk(x, 3, 1)[2].exp())
    both([(4, 6)], lambda L, x: [c * (i + 1) for i, c in enumerate(x.chunk(4, -1))])


@requires_torch
@pytest.mark.parametrize("f", [
    lambda L, x: L.split(x, [1, 2], 1),
    lambda L, x: L.split(x, 0, 1),
    lambda L, x: L.split(x, -1),
    lambda L, x: L.split(x, [4, -1], 1),
    lambda L, x: L.chunk(x, 0),
    lambda L, x: L.split(x, 1, 2),
    lambda L, x: L.narrow(x, 1, 3, 2),
    lambda L, x: L.narrow(x, 1, -5, 1),
    lambda L, x: L.narrow(x, 1, 0, -1),
])
def test_split_errors(f):
    raises_both(f, np.zeros((3, 4)))


@requires_torch
def test_narrow():
    both([(3, 4)], lambda L, x: L.narrow(x, 1, -2, 2))
    both([(3, 4)], lambda L, x: L.narrow(x, 0, 1, 2) * 2)
    both([(3, 4)], lambda L, x: L.narrow(x, 1, 4, 0))


def test_split_outputs_share_version():
    x = lamina.tensor(np.zeros(6))
    a, b, c = x.split(2)
    with lamina.no_grad():
        c[0] = 5.0
    assert x._data[4] == 5.0 and x._version == 1 and a._version == 1


# --- pad / flip / repeat / unflatten ----------------------------------------------------------

@requires_torch
@settings(max_examples=20)
@given(shape=shapes, data=st.data(), dtype=dtypes)
def test_pad_hypothesis(shape, data, dtype):
    k = data.draw(st.integers(0, len(shape)))
    p = []
    for i in range(k):
        n = shape[len(shape) - 1 - i]
        lo = data.draw(st.integers(-n, 3))
        hi = data.draw(st.integers(-(n + lo) if n + lo > 0 else 0, 3)) if lo < 0 else \
            data.draw(st.integers(-n, 3))
        p += [lo, hi]
    value = data.draw(st.sampled_from([0.0, -1.5, 2]))
    both([shape], lambda L, x: tpad(L)(x, tuple(p), value=value) * 1.5, dtype=dtype)


@requires_torch
def test_pad_cases():
    both([(2, 3, 4)], lambda L, x: tpad(L)(x, (1, 2, -1, 0)))
    both([(2, 3, 4)], lambda L, x: tpad(L)(x, (0, 0, 0, 0, 1, 1), "constant", 3.0))
    both([(3, 4)], lambda L, x: tpad(L)(x, (-2, -2)))
    both([np.arange(4).reshape(2, 2)], lambda L, i: tpad(L)(i, (1, 1), value=1.7), grad=False)
    both([(3, 4)], lambda L, x: tpad(L)(x.T, (1, 1), value=True), noncontiguous=True)


@requires_torch
@pytest.mark.parametrize("f", [
    lambda L, x: tpad(L)(x, (1,)),
    lambda L, x: tpad(L)(x, (1, 1, 1, 1, 1, 1)),
    lambda L, x: tpad(L)(x, (-3, -2)),
])
def test_pad_errors(f):
    raises_both(f, np.zeros((3, 4)))


def test_pad_unknown_mode_raises():
    # reflect / replicate / circular are tested in tests/ops/test_padding.py
    with pytest.raises(ValueError, match="pad: unrecognised padding mode 'mirror'"):
        lamina.pad(lamina.zeros(2, 3), (1, 1), mode="mirror")


@requires_torch
@settings(max_examples=20)
@given(shape=shapes, data=st.data(), dtype=dtypes)
def test_flip_hypothesis(shape, data, dtype):
    nd = len(shape)
    dims = data.draw(st.lists(st.integers(0, nd - 1), unique=True, max_size=nd))
    dims = [d - nd if data.draw(st.booleans()) else d for d in dims]
    both([shape], lambda L, x: L.flip(x, dims) * 2, dtype=dtype, noncontiguous=True)


def test_flip_is_a_copy():
    x = lamina.tensor([1.0, 2.0, 3.0])
    y = x.flip(0)
    y[0] = 10.0
    assert x.tolist() == [1.0, 2.0, 3.0] and x._version == 0


@requires_torch
@settings(max_examples=20)
@given(shape=st.lists(st.integers(0, 3), min_size=0, max_size=3).map(tuple), data=st.data(),
       dtype=dtypes)
def test_repeat_hypothesis(shape, data, dtype):
    extra = data.draw(st.integers(0 if shape else 1, 2))
    reps = data.draw(st.lists(st.integers(0, 3), min_size=len(shape) + extra,
                              max_size=len(shape) + extra))
    both([shape], lambda L, x: x.repeat(*reps) * 2, dtype=dtype)
    both([shape], lambda L, x: x.repeat(tuple(reps)), dtype=dtype)


@requires_torch
@pytest.mark.parametrize("f", [
    lambda L, x: x.repeat(2),
    lambda L, x: x.repeat(-1, 1),
    lambda L, x: L.flip(x, (0, 0)),
    lambda L, x: L.flip(x, (2,)),
    lambda L, x: x.unflatten(1, (3, -1)),
    lambda L, x: x.unflatten(1, (-1, -1)),
    lambda L, x: x.unflatten(1, ()),
    lambda L, x: x.unflatten(2, (2, 2)),
    lambda L, x: x.permute(0, 0),
    lambda L, x: x.reshape(5, -1),
    lambda L, x: x.expand(3, 5),
])
def test_shape_op_errors(f):
    raises_both(f, np.zeros((3, 4)))


@requires_torch
def test_unflatten():
    both([(3, 4)], lambda L, x: x.unflatten(1, (2, -1)) * 2)
    both([(3, 4)], lambda L, x: x.unflatten(-2, [1, 3, 1]))
    both([(0, 4)], lambda L, x: x.unflatten(0, (0, 5)))


# --- numerical gradcheck on each differentiable op --------------------------------------------

@pytest.mark.parametrize("fn,shapes", [
    (lambda a, b: lamina.cat([a, b], 1), [(2, 3), (2, 2)]),
    (lambda a, b: lamina.stack([a, b], -1), [(2, 3), (2, 3)]),
    (lambda a: lamina.split(a, 2, 1), [(2, 5)]),
    (lambda a: a.chunk(2)[1], [(3, 2)]),
    (lambda a: lamina.pad(a, (1, -1, 2, 0), value=0.5), [(3, 3)]),
    (lambda a: a.flip(0, 1), [(2, 3)]),
    (lambda a: a.repeat(2, 1, 3), [(2, 2)]),
    (lambda a: a.unflatten(1, (2, 2)).permute(2, 0, 1), [(2, 4)]),
    (lambda a: lamina.narrow(a, 1, 1, 2).unsqueeze(0).expand(2, 2, 2), [(2, 4)]),
    (lambda a: lamina.movedim(a.reshape(2, 3, 1), 0, -1).squeeze(), [(6,)]),
])
def test_gradcheck(fn, shapes):
    check_grad(fn, shapes)
