"""inv, solve, det, slogdet, cholesky (and the _ex variants) against torch.linalg, in float64
on well-conditioned matrices, plus lamina's gradcheck, batch shapes and error parity."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lamina
from tests.helpers import requires_torch, torch
from tests.linalg.helpers import compare, gradcheck, well_conditioned

pytestmark = requires_torch
L = lamina.linalg
batches = st.lists(st.integers(1, 3), max_size=2).map(tuple)


def pd(batch, n, seed=0):
    return well_conditioned(batch, n, seed=seed, symmetric=True, pd=True)


@given(batch=batches, n=st.integers(1, 5), seed=st.integers(0, 99))
def test_inv_det_slogdet(batch, n, seed):
    A = well_conditioned(batch, n, seed=seed)
    compare([A], lambda a: a.__class__ and _mod(a).inv(a))
    compare([A], lambda a: _mod(a).det(a))
    compare([A], lambda a: tuple(_mod(a).slogdet(a)))


def _mod(t):
    return torch.linalg if isinstance(t, torch.Tensor) else L


@pytest.mark.parametrize("batch", [(0,), (2, 0), (1,), ()])
def test_empty_and_unit_batches(batch):
    A = well_conditioned(batch, 3) if 0 not in batch else np.zeros(batch + (3, 3))
    for f in ("inv", "det", "slogdet"):
        compare([A], lambda a, f=f: _tuple(getattr(_mod(a), f)(a)))
    compare([np.zeros(batch + (0, 0))], lambda a: _tuple(_mod(a).det(a)), grad=False)


def _tuple(x):
    return tuple(x) if isinstance(x, tuple) else x


def test_float32_inv_det():
    A = well_conditioned((2,), 4).astype(np.float32)
    compare([A], lambda a: _mod(a).inv(a), rtol=1e-5, atol=1e-6)
    compare([A], lambda a: _mod(a).det(a), rtol=1e-5, atol=1e-6)


def test_det_gradient_of_a_singular_matrix_is_the_cofactor():
    # torch 2.13 returns a zero gradient at an exactly singular matrix; the derivative of det
    # there is the (non-zero) cofactor matrix, which finite differences confirm
    A = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.5, 1.0, 4.0]])
    compare([A], lambda a: _mod(a).det(a), grad=False)
    gradcheck(L.det, [A])
    g = lamina.tensor(A, requires_grad=True)
    L.det(g).backward()
    np.testing.assert_allclose(g.grad.data[0], [10.0, -5.0, 0.0], atol=1e-12)


@given(batch=batches, n=st.integers(1, 4), k=st.integers(1, 3), vector=st.booleans(),
       left=st.booleans(), bcast=st.booleans())
def test_solve(batch, n, k, vector, left, bcast):
    A = well_conditioned(batch, n, seed=n)
    rng = np.random.default_rng(k)
    bb = (2,) + batch if bcast else batch      # B with an extra broadcast batch dim
    if vector and left:
        B = rng.standard_normal((n,) if bcast else batch + (n,))   # (n) or (*, n)
    else:
        B = rng.standard_normal(bb + ((n, k) if left else (k, n)))
    compare([A, B], lambda a, b: _mod(a).solve(a, b, left=left))


def test_solve_vector_rhs_1d_broadcasts():
    A = well_conditioned((3,), 4)
    compare([A, np.arange(4.0)], lambda a, b: _mod(a).solve(a, b))


@pytest.mark.parametrize("upper", [False, True])
@given(batch=batches, n=st.integers(1, 5), seed=st.integers(0, 99))
def test_cholesky(upper, batch, n, seed):
    A = pd(batch, n, seed)
    compare([A], lambda a: _mod(a).cholesky(a, upper=upper))
    # a loss through a random weighting, so every entry of L matters
    W = np.random.default_rng(seed).standard_normal(A.shape)
    compare([A], lambda a: _mod(a).cholesky(a, upper=upper),
            loss=lambda out: (out * _like(out, W)).sum())


def _like(t, arr):
    return torch.tensor(arr) if isinstance(t, torch.Tensor) else lamina.tensor(arr)


def test_gradcheck():
    A = well_conditioned((2,), 3, seed=1)
    P = pd((2,), 3, seed=2)
    B = np.random.default_rng(0).standard_normal((2, 3, 2))
    gradcheck(L.inv, [A])
    gradcheck(L.det, [A])
    gradcheck(lambda a: L.slogdet(a).logabsdet, [A])
    gradcheck(L.solve, [A, B])
    gradcheck(lambda a, b: L.solve(a, b.mT, left=False), [A, B])
    # cholesky reads the lower triangle only: differentiate through a symmetric input
    gradcheck(lambda a: L.cholesky((a + a.mT) * 0.5), [P])
    gradcheck(lambda a: L.cholesky((a + a.mT) * 0.5, upper=True), [P])


def test_ex_variants():
    A = np.stack([well_conditioned((), 3), np.ones((3, 3))])
    inv, info = L.inv_ex(lamina.tensor(A))
    tinv, tinfo = torch.linalg.inv_ex(torch.tensor(A))
    assert info.dtype == lamina.int32 if hasattr(lamina, "int32") else info.data.dtype == np.int32
    np.testing.assert_array_equal(info.data, tinfo.numpy())
    np.testing.assert_allclose(inv.data[0], tinv.numpy()[0], rtol=1e-9)
    P = np.stack([pd((), 3), -np.eye(3), np.diag([1.0, -1, 1])])
    Lc, info = L.cholesky_ex(lamina.tensor(P))
    tL, tinfo = torch.linalg.cholesky_ex(torch.tensor(P))
    np.testing.assert_array_equal(info.data, tinfo.numpy())
    np.testing.assert_allclose(Lc.data[0], tL.numpy()[0], rtol=1e-9)
    with pytest.raises(L.LinAlgError, match="Batch element 1"):
        L.cholesky_ex(lamina.tensor(P), check_errors=True)


def _raise_both(fn, arrays, exc, match=None):
    texc = torch.linalg.LinAlgError if exc is L.LinAlgError else exc
    with pytest.raises(texc) as te:
        fn(torch.linalg, *[torch.tensor(a) for a in arrays])
    with pytest.raises(exc) as le:
        fn(L, *[lamina.tensor(a) for a in arrays])
    if match:
        assert match in str(le.value), str(le.value)
    return str(te.value), str(le.value)


def test_errors_like_torch():
    assert issubclass(L.LinAlgError, RuntimeError)
    sing = np.stack([np.eye(3), np.diag([1.0, 0.0, 1.0])])
    t, m = _raise_both(lambda M, a: M.inv(a), [sing], L.LinAlgError)
    assert t == m, (t, m)      # the same message: op, batch element, zero pivot
    _raise_both(lambda M, a: M.inv(a), [np.ones((2, 3))], RuntimeError,
                "A must be batches of square matrices, but they are 2 by 3 matrices")
    _raise_both(lambda M, a: M.inv(a), [np.ones(3)], RuntimeError, "at least 2 dimensions")
    _raise_both(lambda M, a: M.det(a), [np.ones((3, 2))], RuntimeError)
    _raise_both(lambda M, a, b: M.solve(a, b), [sing[1], np.ones(3)], L.LinAlgError,
                "singular")
    _raise_both(lambda M, a, b: M.solve(a, b), [np.eye(3), np.ones(4)], RuntimeError)
    notpd = np.stack([np.eye(3), np.diag([1.0, -2.0, 1.0])])
    t, m = _raise_both(lambda M, a: M.cholesky(a), [notpd], L.LinAlgError)
    assert t == m, (t, m)
    with pytest.raises(RuntimeError, match="floating point"):
        L.inv(lamina.tensor(np.eye(2, dtype=np.int64)))
