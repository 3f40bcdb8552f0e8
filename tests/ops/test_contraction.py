"""einsum, tensordot, kron, cross and cdist against PyTorch: values, dtypes, gradients and
errors, plus numerical gradchecks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lamina
from tests.helpers import (
    both,
    check_grad,
    check_op,
    make_arrays,
    raises_both,
    requires_torch,
    torch,
)

F64, F32 = np.float64, np.float32
dtypes = st.sampled_from([F64, F32])


# --- einsum -----------------------------------------------------------------------------------

@st.composite
def einsum_case(draw):
    """A random equation over letters ``a..e`` (and ``A``) with 1-3 operands: repeated letters
    in an operand, size-0/size-1 dims (size 1 broadcasting against a letter's size), an
    ellipsis of broadcasting batch dims, and an explicit or implicit output."""
    letters = "abcdeA"
    size = {c: draw(st.integers(0, 3)) for c in letters}
    n_ops = draw(st.integers(1, 3))
    use_ell = draw(st.booleans())
    ell = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    terms, shapes = [], []
    for _ in range(n_ops):
        labels = draw(st.lists(st.sampled_from(letters), max_size=3))
        shape = [size[c] if not draw(st.integers(0, 4)) == 0 else 1 for c in labels]
        for c in set(labels):               # a repeated letter has one size in its operand
            s = next(n for lab, n in zip(labels, shape) if lab == c)
            shape = [s if lab == c else n for lab, n in zip(labels, shape)]
        term = "".join(labels)
        if use_ell:
            k = draw(st.integers(0, len(ell)))
            e = tuple(1 if draw(st.integers(0, 3)) == 0 else n for n in ell[len(ell) - k:])
            pos = draw(st.integers(0, len(labels)))
            term = term[:pos] + "..." + term[pos:]
            shape = shape[:pos] + list(e) + shape[pos:]
        terms.append(term)
        shapes.append(tuple(shape))
    eq = ",".join(terms)
    if draw(st.booleans()):
        used = sorted({c for t in terms for c in t if c.isalpha()})
        out = draw(st.lists(st.sampled_from(used), unique=True)) if used else []
        out = "".join(draw(st.permutations(out)))
        if use_ell:
            pos = draw(st.integers(0, len(out)))
            out = out[:pos] + "..." + out[pos:]
        eq += "->" + out
    return eq, shapes


@requires_torch
@settings(max_examples=60)
@given(case=einsum_case(), dtype=dtypes, nc=st.booleans())
def test_einsum_hypothesis(case, dtype, nc):
    eq, shapes = case
    both(shapes, lambda L, *xs: L.einsum(eq, *xs) * 2, dtype=dtype, noncontiguous=nc)


@requires_torch
@pytest.mark.parametrize("eq,shapes", [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(1, 2, 3), (4, 3, 2)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("iij->ji", [(2, 2, 3)]),
    ("iji->j", [(2, 3, 2)]),
    ("i,i->", [(4,), (4,)]),
    ("i,j->ij", [(2,), (3,)]),
    ("...ij->...ji", [(2, 3, 4)]),
    ("...ij,...jk", [(5, 1, 2, 3), (4, 3, 2)]),
    ("i...->i", [(2, 3, 4)]),
    ("b...i,b...i->b", [(2, 3, 4), (2, 1, 4)]),
    ("Ii->iI", [(2, 3)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("ab,bc,cd,de->ae", [(2, 3), (3, 2), (2, 4), (4, 2)]),
    ("ij,ij,ij->ij", [(2, 3), (2, 1), (1, 3)]),
    ("i i -> i", [(3, 3)]),
    ("->", [()]),
    ("i->", [(0,)]),
    ("ij,jk->ik", [(2, 0), (0, 3)]),
])
def test_einsum_cases(eq, shapes):
    both(shapes, lambda L, *xs: L.einsum(eq, *xs) * 2)
    both(shapes, lambda L, *xs: L.einsum(eq, list(xs)).exp(), dtype=F32)


@requires_torch
def test_einsum_int_and_large():
    both([np.arange(6).reshape(2, 3), np.arange(12).reshape(3, 4)],
         lambda L, a, b: L.einsum("ij,jk->ik", a, b), grad=False)
    for eq in ("ij", "ij->j", "ij->", "ji", "ii->i"):
        both([np.arange(9).reshape(3, 3) % 2 == 0], lambda L, m: L.einsum(eq, m),  # noqa: B023
             grad=False)
    # large enough for numpy's optimized (BLAS) path in forward and backward
    both([(40, 50), (50, 30)], lambda L, a, b: L.einsum("ij,jk->ik", a, b))
    both([(8, 20, 30), (8, 30, 10)], lambda L, a, b: L.einsum("bij,bjk", a, b))


@requires_torch
@pytest.mark.parametrize("f", [
    lambda L, x, y: L.einsum("ij,jk->ik", x),
    lambda L, x, y: L.einsum("ij->ik", x),
    lambda L, x, y: L.einsum("ij->ii", x),
    lambda L, x, y: L.einsum("i0", x),
    lambda L, x, y: L.einsum("i", x),
    lambda L, x, y: L.einsum("ijk", x),
    lambda L, x, y: L.einsum("ij,jk->ik", x, y),
    lambda L, x, y: L.einsum("ii", x),
    lambda L, x, y: L.einsum("ij,ij", x, x.float()),
    lambda L, x, y: L.einsum("ij,ij", x > 0, x > 0),
    lambda L, x, y: L.einsum("i...j...", x),
    lambda L, x, y: L.einsum("ij->j->i", x),
])
def test_einsum_errors(f):
    raises_both(f, np.zeros((2, 3)), np.zeros((4, 5)))


@requires_torch
def test_einsum_sublist_form():
    both([(2, 3), (3, 4)], lambda L, a, b: L.einsum(a, [0, 1], b, [1, 2], [0, 2]) * 2)
    both([(2, 3), (3, 4)], lambda L, a, b: L.einsum(a, [30, 1], b, [1, 51]))
    both([(5, 2, 3), (3,)], lambda L, a, b: L.einsum(a, [..., 0, 1], b, [1], [..., 0]))
    both([(3, 3)], lambda L, a: L.einsum(a, [7, 7]))
    raises_both(lambda L, a: L.einsum(a, [0, 52]), np.zeros((2, 2)))


# --- tensordot --------------------------------------------------------------------------------

@requires_torch
@settings(max_examples=25)
@given(data=st.data(), dtype=dtypes, nc=st.booleans())
def test_tensordot_hypothesis(data, dtype, nc):
    a = data.draw(st.lists(st.integers(0, 3), max_size=3))
    b = data.draw(st.lists(st.integers(0, 3), max_size=3))
    k = data.draw(st.integers(0, min(len(a), len(b))))
    if data.draw(st.booleans()):
        b[:k] = a[len(a) - k:]
        dims = k
    else:
        da = data.draw(st.permutations(range(len(a))))[:k]
        db = data.draw(st.permutations(range(len(b))))[:k]
        for i, j in zip(da, db):
            b[j] = a[i]
        dims = ([i - len(a) if data.draw(st.booleans()) else i for i in da], list(db))
    both([tuple(a), tuple(b)], lambda L, x, y: L.tensordot(x, y, dims) * 2, dtype=dtype,
         noncontiguous=nc)


@requires_torch
def test_tensordot_defaults():
    both([(2, 3, 4), (3, 4, 5)], lambda L, x, y: L.tensordot(x, y))
    both([(2, 3), (3, 2)], lambda L, x, y: L.tensordot(x, y, dims=[[1, 0], [0, 1]]))
    both([np.arange(6).reshape(2, 3), np.arange(6).reshape(3, 2)],
         lambda L, x, y: L.tensordot(x, y, 1), grad=False)


@requires_torch
@pytest.mark.parametrize("f", [
    lambda L, x, y: L.tensordot(x, y, -1),
    lambda L, x, y: L.tensordot(x, y, 3),
    lambda L, x, y: L.tensordot(x, y, 1),
    lambda L, x, y: L.tensordot(x, y, ([1], [0, 1])),
    lambda L, x, y: L.tensordot(x, y.T.float(), 1),
    lambda L, x, y: L.tensordot(x, y, ([2], [0])),
])
def test_tensordot_errors(f):
    raises_both(f, np.zeros((2, 3)), np.zeros((2, 2)))


# --- kron -------------------------------------------------------------------------------------

@requires_torch
@settings(max_examples=25)
@given(a=st.lists(st.integers(0, 3), max_size=3).map(tuple),
       b=st.lists(st.integers(0, 3), max_size=3).map(tuple), dtype=dtypes)
def test_kron_hypothesis(a, b, dtype):
    both([a, b], lambda L, x, y: L.kron(x, y) * 2, dtype=dtype)
    both([a, b], lambda L, x, y: x.kron(y), dtype=dtype)
    # PyTorch's kron fails on some non-contiguous inputs ("view size is not compatible"):
    # lamina's on them against PyTorch's on contiguous copies
    check_op([a, b], lambda x, y: torch.kron(x.contiguous(), y.contiguous()), lamina.kron,
             dtype=dtype, noncontiguous=True)


@requires_torch
def test_kron_dtypes():
    both([(2, 3), (2, 2)], lambda L, x, y: L.kron(x.float(), y), grad=False)
    both([np.arange(4).reshape(2, 2), np.ones((2, 1), bool)], lambda L, i, m: L.kron(i, m),
         grad=False)
    both([np.ones((2, 2), bool), np.ones((1, 2), bool)], lambda L, m, n: L.kron(m, n),
         grad=False)


# --- cross ------------------------------------------------------------------------------------

@requires_torch
@settings(max_examples=25)
@given(data=st.data(), dtype=dtypes, nc=st.booleans())
def test_cross_hypothesis(data, dtype, nc):
    nd = data.draw(st.integers(1, 3))
    d = data.draw(st.integers(-nd, nd - 1))
    full = [data.draw(st.integers(0, 3)) for _ in range(nd)]
    full[d] = 3
    a = tuple(1 if k != d % nd and data.draw(st.booleans()) else n for k, n in enumerate(full))
    b = tuple(1 if k != d % nd and data.draw(st.booleans()) else n for k, n in enumerate(full))
    both([a, b], lambda L, x, y: L.cross(x, y, dim=d) * 2, dtype=dtype, noncontiguous=nc)
    both([a, b], lambda L, x, y: x.cross(y, d), dtype=dtype)


@requires_torch
def test_cross_default_dim():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # PyTorch warns about the default dim
        both([(2, 3, 3), (2, 3, 3)], lambda L, x, y: L.cross(x, y) * 2)
        both([(4, 3), (4, 3)], lambda L, x, y: L.cross(x, y))
    both([np.arange(6).reshape(2, 3), np.ones((2, 3), np.int64)],
         lambda L, i, j: L.cross(i, j, dim=1), grad=False)


@requires_torch
@pytest.mark.parametrize("f", [
    lambda L, x, y: L.cross(x, y, dim=0),
    lambda L, x, y: L.cross(x, y[0], dim=-1),
    lambda L, x, y: L.cross(x, y.float(), dim=-1),
    lambda L, x, y: L.cross(x > 0, y > 0, dim=-1),
    lambda L, x, y: L.cross(x, y, dim=2),
    lambda L, x, y: L.cross(x[:, :2], y[:, :2]),
    lambda L, x, y: L.cross(x, y[:3], dim=-1),
])
def test_cross_errors(f):
    raises_both(f, np.zeros((2, 3)), np.zeros((4, 3)))


# --- cdist ------------------------------------------------------------------------------------

PS = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, float("inf")]


@requires_torch
@settings(max_examples=30)
@given(p=st.sampled_from(PS), data=st.data(), dtype=dtypes, nc=st.booleans())
def test_cdist_hypothesis(p, data, dtype, nc):
    batch = data.draw(st.lists(st.integers(1, 3), max_size=2))
    ba = tuple(1 if data.draw(st.booleans()) else n for n in batch)
    bb = tuple(batch[len(batch) - data.draw(st.integers(0, len(batch))):])
    m = data.draw(st.integers(0, 4))
    pa, pb = data.draw(st.integers(0, 4)), data.draw(st.integers(0, 4))
    # the "if necessary" matrix-product path of PyTorch starts above 25 rows: below it both
    # compute from the differences
    both([ba + (pa, m), bb + (pb, m)], lambda L, x, y: L.cdist(x, y, p) * 2, dtype=dtype,
         noncontiguous=nc)


@requires_torch
@pytest.mark.parametrize("p", PS)
def test_cdist_zero_distance_and_ties(p):
    # equal rows (distance 0: subgradient 0), equal coordinates (|d| = 0 with p < 1) and
    # ties in the max norm
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [1.0, -1.0, 2.0]])
    y = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 0.0], [0.0, 2.0, 5.0]])
    both([x, y], lambda L, a, b: L.cdist(a, b, p) * 2)


@requires_torch
@pytest.mark.parametrize("p", PS)
def test_cdist_in_row_blocks(p, monkeypatch):
    # many points run a block of x1's rows at a time: force tiny blocks
    import lamina.ops.contraction as contraction

    monkeypatch.setattr(contraction, "_CDIST_BLOCK", 20)
    both([(2, 7, 3), (5, 3)], lambda L, a, b: L.cdist(a, b, p) ** 2)


@requires_torch
def test_cdist_donot_use_mm_matches_on_large_inputs():
    mode = "donot_use_mm_for_euclid_dist"
    both([(30, 4), (40, 4)], lambda L, a, b: L.cdist(a, b, compute_mode=mode))
    # PyTorch's default switches to the matrix-product formula above 25 rows: same values
    # up to its rounding
    x, y = make_arrays([(30, 4), (40, 4)])
    want = torch.cdist(torch.tensor(x), torch.tensor(y)).numpy()
    got = lamina.cdist(lamina.tensor(x), lamina.tensor(y)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@requires_torch
@pytest.mark.parametrize("f", [
    lambda L, x, y: L.cdist(x[0], y),
    lambda L, x, y: L.cdist(x, y[:, :2]),
    lambda L, x, y: L.cdist(x, y, -1.0),
    lambda L, x, y: L.cdist(x.long(), y.long()),
    lambda L, x, y: L.cdist(x, y.float()),
    lambda L, x, y: L.cdist(x, y, compute_mode="fast"),
    lambda L, x, y: L.cdist(x.expand(2, 2, 3), y.expand(3, 4, 3)),
])
def test_cdist_errors(f):
    raises_both(f, np.zeros((2, 3)), np.zeros((4, 3)))


# --- numerical gradcheck ----------------------------------------------------------------------

@pytest.mark.parametrize("fn,shapes", [
    (lambda a, b: lamina.einsum("ij,jk->ik", a, b), [(2, 3), (3, 2)]),
    (lambda a: lamina.einsum("ii->i", a), [(3, 3)]),
    (lambda a: lamina.einsum("iij->j", a), [(2, 2, 3)]),
    (lambda a, b: lamina.einsum("i...j,j->...", a, b), [(2, 3, 4), (4,)]),
    (lambda a, b, c: lamina.einsum("ab,bc,c", a, b, c), [(2, 3), (3, 1), (4,)]),
    (lambda a, b: lamina.einsum("ij,kl->", a, b), [(2, 3), (1, 2)]),
    (lambda a, b: lamina.tensordot(a, b, ([0, 2], [1, 0])), [(2, 3, 4), (4, 2)]),
    (lambda a, b: lamina.kron(a, b), [(2, 3), (3,)]),
    (lambda a, b: lamina.cross(a, b, dim=0), [(3, 2), (3, 1)]),
    *[(lambda a, b, p=p: lamina.cdist(a, b, p), [(2, 3, 4), (5, 4)]) for p in PS[1:]],
])
def test_gradcheck(fn, shapes):
    check_grad(fn, shapes)
