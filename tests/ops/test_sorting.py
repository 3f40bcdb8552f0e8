"""sort/argsort/topk/kthvalue/median/mode (values, indices, gradients through the indices)
and unique/unique_consecutive/bincount/histc/searchsorted, against PyTorch.

Random float inputs have no ties, so the indices are compared exactly; ties are tested only
where PyTorch documents its choice (stable sort, lower median) or where its CPU choice is
deterministic (mode, cummax), see lamina/ops/sorting.py."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lamina
from tests.helpers import check_grad, check_op, check_raises_like, requires_torch, torch
from tests.strategies import shapes


@st.composite
def shape_and_dim(draw, min_side=0):
    shape = draw(shapes(min_dims=1, max_dims=4, min_side=min_side))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    return shape, dim


@requires_torch
@given(sd=shape_and_dim(), desc=st.booleans())
def test_sort_argsort(sd, desc):
    shape, dim = sd
    check_op([shape], lambda x: x.sort(dim, descending=desc))
    check_op([shape], lambda x: torch.sort(x, dim=dim, descending=desc, stable=True),
             lambda x: lamina.sort(x, dim=dim, descending=desc, stable=True))
    check_op([shape], lambda x: x.argsort(dim, descending=desc))


@requires_torch
def test_sort_stable_ties_and_nan():
    a = np.array([[2.0, 1.0, 2.0, np.nan, 1.0, -0.0, 0.0, np.inf, np.nan, 1.0]])
    for desc in (False, True):
        check_op([a], lambda x, d=desc: torch.sort(x, descending=d, stable=True),
                 lambda x, d=desc: lamina.sort(x, descending=d, stable=True))
        check_op([a], lambda x, d=desc: torch.argsort(x, descending=d, stable=True),
                 lambda x, d=desc: lamina.argsort(x, descending=d, stable=True))
    ints = np.array([[3, 1, 3, 2, 1, 3]])
    check_op([ints], lambda x: torch.sort(x, stable=True, descending=True),
             lambda x: lamina.sort(x, stable=True, descending=True))


@requires_torch
@given(sd=shape_and_dim(min_side=1), data=st.data())
def test_topk_kthvalue(sd, data):
    shape, dim = sd
    n = shape[dim]
    k = data.draw(st.integers(0, n))
    largest = data.draw(st.booleans())
    keep = data.draw(st.booleans())
    check_op([shape], lambda x: x.topk(k, dim, largest=largest))
    if k:
        check_op([shape], lambda x: x.kthvalue(k, dim, keepdim=keep))
        check_op([shape], lambda x: torch.kthvalue(x, k, dim=dim, keepdim=keep),
                 lambda x: lamina.kthvalue(x, k, dim=dim, keepdim=keep))


@requires_torch
@given(sd=shape_and_dim(min_side=1), keep=st.booleans())
def test_median(sd, keep):
    shape, dim = sd
    check_op([shape], lambda x: x.median(dim, keepdim=keep))
    check_op([shape], lambda x: x.median())


@requires_torch
def test_median_lower_middle_nan_and_0d():
    check_op([np.array([[4.0, 1.0, 3.0, 2.0]])], lambda x: x.median(1))
    check_op([np.array([4.0, 1.0, 3.0, 2.0])], lambda x: x.median())
    check_op([np.array([[1.0, np.nan, 3.0, np.nan], [1.0, 2.0, 3.0, 0.5]])],
             lambda x: x.median(1), grad=False)
    check_op([np.array([1.0, np.nan, 3.0])], lambda x: x.median(), grad=False)
    for op in (lambda x: x.median(0), lambda x: x.median(-1, keepdim=True),
               lambda x: x.kthvalue(1, 0), lambda x: x.mode(0), lambda x: x.sort(0),
               lambda x: x.topk(1)):
        check_op([()], op)


@requires_torch
@given(sd=shape_and_dim(min_side=1), keep=st.booleans(), seed=st.integers(0, 100))
def test_mode(sd, keep, seed):
    shape, dim = sd
    a = np.random.default_rng(seed).integers(0, 3, size=shape).astype(np.float64)
    check_op([a], lambda x: x.mode(dim, keepdim=keep))
    check_op([a.astype(np.int64)], lambda x: x.mode(dim, keepdim=keep))


@requires_torch
def test_noncontiguous():
    for op in (lambda x: x.sort(0), lambda x: x.topk(2, 0), lambda x: x.kthvalue(2, 0),
               lambda x: x.median(0), lambda x: x.argsort(0, descending=True)):
        check_op([(4, 3)], op, noncontiguous=True)


def test_gradcheck():
    check_grad(lambda x: lamina.sort(x, 1).values * lamina.arange(4.0), [(3, 4)])
    check_grad(lambda x: lamina.topk(x, 2, 0).values, [(5, 3)])
    check_grad(lambda x: lamina.median(x, 1).values, [(3, 5)])


# --- counting ops ----------------------------------------------------------------------------

@requires_torch
@given(shape=shapes(), inv=st.booleans(), cnt=st.booleans(), seed=st.integers(0, 100))
def test_unique(shape, inv, cnt, seed):
    a = np.asarray(np.random.default_rng(seed).integers(0, 4, size=shape))
    check_op([a], lambda x: torch.unique(x, return_inverse=inv, return_counts=cnt),
             lambda x: lamina.unique(x, return_inverse=inv, return_counts=cnt))
    check_op([a], lambda x: torch.unique_consecutive(x, return_inverse=inv,
                                                     return_counts=cnt),
             lambda x: lamina.unique_consecutive(x, return_inverse=inv, return_counts=cnt))
    check_op([a.astype(np.float64)], lambda x: x.unique(return_counts=True), grad=False)


@requires_torch
@given(sd=shape_and_dim(), seed=st.integers(0, 100))
def test_unique_dim(sd, seed):
    shape, dim = sd
    a = np.random.default_rng(seed).integers(0, 2, size=shape)
    if any(n == 0 for i, n in enumerate(shape) if i != dim % len(shape)):
        for f in ("unique", "unique_consecutive"):
            check_raises_like(lambda x, f=f: getattr(torch, f)(x, dim=dim),
                              lambda x, f=f: getattr(lamina, f)(x, dim=dim), [shape])
        return
    check_op([a], lambda x: torch.unique(x, dim=dim, return_inverse=True, return_counts=True),
             lambda x: lamina.unique(x, dim=dim, return_inverse=True, return_counts=True))
    check_op([a], lambda x: torch.unique_consecutive(x, dim=dim, return_inverse=True,
                                                     return_counts=True),
             lambda x: lamina.unique_consecutive(x, dim=dim, return_inverse=True,
                                                 return_counts=True))


@requires_torch
def test_unique_nan_distinct():
    a = np.array([np.nan, 1.0, np.nan, 1.0])
    check_op([a], lambda x: torch.unique(x, return_counts=True),
             lambda x: lamina.unique(x, return_counts=True), grad=False)


@requires_torch
def test_bincount():
    a = np.array([0, 3, 3, 1, 7, 3])
    w = np.array([0.5, 1.0, 2.0, -1.0, 3.0, 0.25])
    check_op([a], lambda x: torch.bincount(x), lambda x: lamina.bincount(x))
    check_op([a], lambda x: torch.bincount(x, minlength=10),
             lambda x: lamina.bincount(x, minlength=10))
    for wd in (np.float64, np.float32, np.int64):
        check_op([a, w.astype(wd)], lambda x, y: torch.bincount(x, y),
                 lambda x, y: lamina.bincount(x, y), grad=False)
    check_op([np.zeros(0, np.int64)], lambda x: torch.bincount(x, minlength=3),
             lambda x: lamina.bincount(x, minlength=3))


@requires_torch
@given(shape=shapes(max_side=6), bins=st.integers(1, 7), seed=st.integers(0, 100))
def test_histc(shape, bins, seed):
    a = np.asarray(np.random.default_rng(seed).uniform(-2, 2, size=shape).round(1))
    check_op([a], lambda x: torch.histc(x, bins=bins), lambda x: lamina.histc(x, bins=bins))
    check_op([a], lambda x: torch.histc(x, bins, -1, 1), lambda x: lamina.histc(x, bins, -1, 1))
    # values on the bin edges: the bin arithmetic runs in float32, as PyTorch's
    check_op([a.astype(np.float32)], lambda x: x.histc(bins, min=-0.5, max=1.5), grad=False)


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bins", [1, 2, 5, 6])
def test_histc_of_one_huge_value(dtype, bins):
    """x - 1 and x + 1 round back to x = 1e30: no zero-width division (it was a raw NumPy
    ValueError); every element lands in the middle bin of [x - 1, x + 1], as in PyTorch."""
    for vals, lo, hi in (([1e30], 0, 0), ([1e30, 1e30], 0, 0), ([-1e30, -1e30], 1e30, 1e30)):
        a = np.array(vals, dtype)
        check_op([a], lambda x, lo=lo, hi=hi: torch.histc(x, bins, lo, hi),
                 lambda x, lo=lo, hi=hi: lamina.histc(x, bins, lo, hi), grad=False)


def test_histc_range_wider_than_the_dtype():
    """float32 data at +-3e38: max - min overflows float32, so lamina bins in float64 (the true
    histogram; PyTorch's CPU kernel returns an empty one there)."""
    a = lamina.tensor(np.array([-3e38, 0, 3e38], np.float32))
    np.testing.assert_array_equal(lamina.histc(a, bins=4).numpy(), [1, 0, 1, 1])


@requires_torch
@given(n=st.integers(0, 6), vshape=shapes(max_dims=3), right=st.booleans(),
       seed=st.integers(0, 100))
def test_searchsorted(n, vshape, right, seed):
    rng = np.random.default_rng(seed)
    seq = np.sort(rng.integers(0, 5, size=n)).astype(np.float64)
    vals = np.asarray(rng.integers(-1, 6, size=vshape), np.float64)
    check_op([seq, vals], lambda s, v: torch.searchsorted(s, v, right=right),
             lambda s, v: lamina.searchsorted(s, v, right=right), grad=False)
    side = "right" if right else "left"
    check_op([seq, vals], lambda s, v: torch.searchsorted(s, v, side=side, out_int32=True),
             lambda s, v: lamina.searchsorted(s, v, side=side, out_int32=True), grad=False)


@requires_torch
def test_searchsorted_batched_sorter_scalar():
    rng = np.random.default_rng(0)
    seq = np.sort(rng.uniform(size=(2, 3, 5)), axis=-1)
    vals = rng.uniform(size=(2, 3, 4))
    check_op([seq, vals], lambda s, v: torch.searchsorted(s, v),
             lambda s, v: lamina.searchsorted(s, v), grad=False)
    raw = rng.uniform(size=6)
    order = np.argsort(raw)
    check_op([raw, order, vals[0, 0]],
             lambda s, o, v: torch.searchsorted(s, v, sorter=o),
             lambda s, o, v: lamina.searchsorted(s, v, sorter=o), grad=False)
    t = torch.searchsorted(torch.tensor(np.sort(raw)), 0.5)
    lt = lamina.searchsorted(lamina.tensor(np.sort(raw)), 0.5)
    assert lt.shape == tuple(t.shape) and lt.item() == t.item()


@requires_torch
def test_errors_like_torch():
    check_raises_like(lambda x: x.sort(2), lambda x: x.sort(2), [(3, 4)])
    check_raises_like(lambda x: x.topk(5), lambda x: x.topk(5), [(3, 4)])
    check_raises_like(lambda x: x.kthvalue(0), lambda x: x.kthvalue(0), [(3, 4)])
    check_raises_like(lambda x: x.kthvalue(5), lambda x: x.kthvalue(5), [(3, 4)])
    check_raises_like(lambda x: x.median(1), lambda x: x.median(1), [(3, 0)])
    check_raises_like(lambda x: x.mode(1), lambda x: x.mode(1), [(3, 0)])
    check_raises_like(lambda x: torch.bincount(x.long()), lambda x: lamina.bincount(x.long()),
                      [(3, 4)])
    check_raises_like(lambda x: torch.bincount(x.long() - 5),
                      lambda x: lamina.bincount(x.long() - 5), [(3,)])
    check_raises_like(lambda x: torch.bincount(x), lambda x: lamina.bincount(x), [(3,)])
    check_raises_like(lambda x: torch.histc(x, bins=0), lambda x: lamina.histc(x, bins=0),
                      [(3,)])
    check_raises_like(lambda x: torch.histc(x, 3, 1, 0), lambda x: lamina.histc(x, 3, 1, 0),
                      [(3,)])
    check_raises_like(lambda s, v: torch.searchsorted(s, v),
                      lambda s, v: lamina.searchsorted(s, v), [(2, 3), (3, 3)])
    check_raises_like(lambda s, v: torch.searchsorted(s, v, right=True, side="left"),
                      lambda s, v: lamina.searchsorted(s, v, right=True, side="left"),
                      [(3,), (3,)])
    check_raises_like(lambda x: torch.unique(x, dim=2), lambda x: lamina.unique(x, dim=2),
                      [(3, 4)])


# --- regressions from the fuzz test (issue #12) ------------------------------------------------

@pytest.mark.parametrize("bad", ["a", None, 1.5])
def test_int_arguments_reject_wrong_types(bad):
    x = lamina.tensor([1.0, 2.0])
    for name, call in [("kthvalue", lambda: lamina.kthvalue(x, bad)),
                       ("histc", lambda: lamina.histc(x, bins=bad)),
                       ("bincount", lambda: lamina.bincount(lamina.tensor([1, 2]), minlength=bad))]:
        with pytest.raises(lamina.LaminaTypeError, match=f"^{name}:"):
            call()


@pytest.mark.parametrize("bad", ["a", None])
def test_histc_range_and_searchsorted_reject_wrong_types(bad):
    x = lamina.tensor([1.0, 2.0])
    with pytest.raises(lamina.LaminaTypeError, match="^histc:"):
        lamina.histc(x, min=bad)
    with pytest.raises(lamina.LaminaTypeError, match="^searchsorted:"):
        lamina.searchsorted(x, bad)
