"""pinv, lstsq (every CPU driver's fields), matrix_power, matrix_rank, cond against
torch.linalg, gradcheck, and the README's normal-equations example against scikit-learn."""

import math

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


def _mod(t):
    return torch.linalg if isinstance(t, torch.Tensor) else L


@given(batch=batches, m=st.integers(1, 5), n=st.integers(1, 5), seed=st.integers(0, 9))
def test_pinv(batch, m, n, seed):
    A = well_conditioned(batch, m, n, seed=seed)
    compare([A], lambda a: _mod(a).pinv(a))


def test_pinv_rank_deficient_tolerances_and_hermitian():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((2, 5, 2)) @ rng.standard_normal((2, 2, 4))   # rank 2
    compare([A], lambda a: _mod(a).pinv(a), rtol=1e-8, atol=1e-10)
    compare([A], lambda a: _mod(a).pinv(a, atol=1e-8), rtol=1e-8, atol=1e-10)
    compare([A], lambda a: _mod(a).pinv(a, rtol=0.5), rtol=1e-8, atol=1e-10, grad=False)
    S = well_conditioned((2,), 4, symmetric=True)
    compare([S], lambda a: _mod(a).pinv(a, hermitian=True))
    compare([np.zeros((3, 0))], lambda a: _mod(a).pinv(a), grad=False)


@pytest.mark.parametrize("driver", [None, "gels", "gelsy", "gelsd", "gelss"])
@pytest.mark.parametrize("m,n,k,batch", [(5, 3, 2, ()), (5, 3, 1, (2,)), (3, 3, 2, (2, 1)),
                                         (3, 5, 2, ())])
def test_lstsq_fields_per_driver(driver, m, n, k, batch):
    if driver == "gels" and m < n:
        pytest.skip("gels assumes a full-rank tall or square A")
    A = well_conditioned(batch, m, n, seed=m)
    B = np.random.default_rng(k).standard_normal(batch + (m, k))
    compare([A, B], lambda a, b: tuple(_mod(a).lstsq(a, b, driver=driver)),
            loss=lambda out: out[0].sum())


def test_lstsq_vector_rhs_and_rank_deficient():
    A = well_conditioned((), 5, 3)
    compare([A, np.arange(5.0)], lambda a, b: tuple(_mod(a).lstsq(a, b)),
            loss=lambda out: out[0].sum())
    rng = np.random.default_rng(1)
    R = rng.standard_normal((6, 2)) @ rng.standard_normal((2, 4))   # rank 2: min-norm
    B = rng.standard_normal((6, 2))
    for driver in ("gelsy", "gelsd"):
        compare([R, B], lambda a, b, d=driver: tuple(_mod(a).lstsq(a, b, driver=d)),
                loss=lambda out: out[0].sum(), rtol=1e-8, atol=1e-10)


def test_lstsq_errors():
    with pytest.raises(RuntimeError, match="driver"):
        L.lstsq(lamina.ones(3, 2), lamina.ones(3, 1), driver="gesv")
    with pytest.raises(RuntimeError):
        L.lstsq(lamina.ones(3, 2), lamina.ones(4, 1))
    with pytest.raises(RuntimeError):
        torch.linalg.lstsq(torch.ones(3, 2), torch.ones(4, 1))


@pytest.mark.parametrize("p", [0, 1, 2, 3, 5, -1, -2, -3])
def test_matrix_power(p):
    A = well_conditioned((2,), 3) / 2
    compare([A], lambda a: _mod(a).matrix_power(a, p), grad=p != 0)
    compare([np.zeros((0, 3, 3))], lambda a: _mod(a).matrix_power(a, p), grad=False)


def test_matrix_rank():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((3, 5, 2)) @ rng.standard_normal((3, 2, 4))
    for kw in ({}, {"atol": 1.0}, {"rtol": 0.3}, {"atol": 0.1, "rtol": 0.01}):
        compare([A], lambda a, kw=kw: _mod(a).matrix_rank(a, **kw), grad=False)
    S = A @ np.swapaxes(A, -1, -2)
    compare([S], lambda a: _mod(a).matrix_rank(a, hermitian=True), grad=False)
    compare([np.zeros((2, 0, 3))], lambda a: _mod(a).matrix_rank(a), grad=False)


@pytest.mark.parametrize("p", [None, 2, -2, "fro", "nuc", 1, -1, math.inf, -math.inf])
def test_cond(p):
    A = well_conditioned((2,), 4, seed=3)
    # torch 2.13's backward through cond for the norm-based p fails (it modifies its
    # inverse in place): lamina's gradient there is checked by gradcheck instead
    svd_based = p in (None, 2, -2)
    compare([A], lambda a: _mod(a).cond(a, p), grad=svd_based)
    if not svd_based:
        gradcheck(lambda a: L.cond(a, p), [A[0]])
    if p in (None, 2, -2):
        compare([well_conditioned((), 4, 2)], lambda a: _mod(a).cond(a, p))


def test_gradcheck():
    A = well_conditioned((2,), 4, 3, seed=4)
    B = np.random.default_rng(0).standard_normal((2, 4, 2))
    gradcheck(L.pinv, [A])
    gradcheck(L.pinv, [np.swapaxes(A, -1, -2).copy()])
    gradcheck(lambda a, b: L.lstsq(a, b).solution, [A, B])
    gradcheck(lambda a: L.matrix_power(a, -2), [well_conditioned((), 3)])
    gradcheck(lambda a: L.cond(a), [well_conditioned((), 3)])


def test_readme_normal_equations_match_sklearn():
    LinearRegression = pytest.importorskip("sklearn.linear_model").LinearRegression
    rng = np.random.default_rng(0)
    Xn = rng.standard_normal((50, 3))
    yn = Xn @ np.array([1.5, -2.0, 0.5]) + 0.1 * rng.standard_normal(50)
    X, y = lamina.tensor(Xn), lamina.tensor(yn)
    w = lamina.linalg.solve(X.T @ X, X.T @ y)            # the README's one line
    ref = LinearRegression(fit_intercept=False).fit(Xn, yn)
    np.testing.assert_allclose(w.data, ref.coef_, rtol=1e-10)
    np.testing.assert_allclose(lamina.linalg.lstsq(X, y).solution.data, ref.coef_,
                               rtol=1e-10)
    # with an intercept: a column of ones, against fit_intercept=True
    X1 = lamina.tensor(np.hstack([Xn, np.ones((50, 1))]))
    w1 = lamina.linalg.solve(X1.T @ X1, X1.T @ y)
    ref = LinearRegression().fit(Xn, yn)
    np.testing.assert_allclose(w1.data, [*ref.coef_, ref.intercept_], rtol=1e-9)
