"""qr, svd, svdvals, eigh, eigvalsh against torch.linalg in float64.

Factors are unique only up to signs (per column of Q with a fixed sign convention of R's
diagonal, per singular pair, per eigenvector), and LAPACK builds may pick different signs,
so values are compared through gauge-invariant quantities: the reconstruction, |U|, |V|,
U U^T projections; gradients through losses built from such quantities. Test matrices have
distinct, separated singular values / eigenvalues (the backward formulas divide by gaps).
"""

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


def _w(t, arr):
    return torch.tensor(arr) if isinstance(t, torch.Tensor) else lamina.tensor(arr)


def _weights(shape, seed):
    return np.random.default_rng(100 + seed).standard_normal(shape)


# ----------------------------------------------------------------------------- qr

@pytest.mark.parametrize("mode", ["reduced", "complete"])
@given(batch=batches, m=st.integers(1, 5), n=st.integers(1, 5), seed=st.integers(0, 9))
def test_qr(mode, batch, m, n, seed):
    A = well_conditioned(batch, m, n, seed=seed)
    # Householder QR fixes the sign only up to LAPACK's convention: compare Q R, R^T R
    # (= A^T A), |Q|, |R| and the gradient of a loss of Q and R that is sign-invariant
    differentiable = not (mode == "complete" and m > n)
    Wq = _weights(batch + (m, m if mode == "complete" else min(m, n)), seed)
    Wr = _weights(batch + ((m if mode == "complete" else min(m, n)), n), seed + 1)

    def f(a):
        q, r = _mod(a).qr(a, mode=mode)
        return q @ r, q.abs(), r.abs()

    compare([A], f, grad=False)
    if differentiable:
        # (Q * sign) and (sign * R) cancel in Q diag(d) and diag(d) R products; use
        # q_ij * r_jk summed with weights, plus squares
        def loss(outs):
            return sum((o * o).sum() for o in outs[1:]) + outs[0].sum()

        def g(a):
            q, r = _mod(a).qr(a, mode=mode)
            return q @ r, q * q * _w(a, Wq), r * r * _w(a, Wr)

        compare([A], g, loss=loss)


def test_qr_r_mode_and_errors():
    A = well_conditioned((2,), 4, 3)
    q, r = L.qr(lamina.tensor(A), mode="r")
    tq, tr = torch.linalg.qr(torch.tensor(A), mode="r")
    assert q.shape == tuple(tq.shape) == (0,)
    np.testing.assert_allclose(np.abs(r._data), np.abs(tr.numpy()), rtol=1e-9, atol=1e-12)
    with pytest.raises(RuntimeError, match="unrecognized mode"):
        L.qr(lamina.tensor(A), mode="full")
    x = lamina.tensor(A, requires_grad=True)
    with pytest.raises(RuntimeError, match="mode='r'"):
        L.qr(x, mode="r").R.sum().backward()
    x = lamina.tensor(A, requires_grad=True)
    with pytest.raises(RuntimeError, match="complete"):
        L.qr(x, mode="complete").Q.sum().backward()


@pytest.mark.parametrize("m,n", [(4, 3), (3, 3), (3, 5)])
def test_qr_gradcheck(m, n):
    A = well_conditioned((2,), m, n, seed=3)
    Wq, Wr = _weights((2, m, min(m, n)), 0), _weights((2, min(m, n), n), 1)
    gradcheck(lambda a: tuple(L.qr(a)), [A])       # Q and R themselves: LAPACK's signs are
    gradcheck(lambda a: (L.qr(a).Q * lamina.tensor(Wq)).sum()   # locally constant
              + (L.qr(a).R * lamina.tensor(Wr)).sum(), [A])


# ----------------------------------------------------------------------------- svd

@given(batch=batches, m=st.integers(1, 5), n=st.integers(1, 5), seed=st.integers(0, 9))
def test_svd(batch, m, n, seed):
    A = well_conditioned(batch, m, n, seed=seed)
    k = min(m, n)
    Wu, Wv = _weights(batch + (m, k), seed), _weights(batch + (k, n), seed + 1)

    def f(a):
        u, s, vh = _mod(a).svd(a, full_matrices=False)
        return (u * s[..., None, :]) @ vh, s, u.abs(), vh.abs()

    compare([A], f, grad=False)

    def g(a):     # u_i^2 and v_i^2 do not see the sign of a singular pair
        u, s, vh = _mod(a).svd(a, full_matrices=False)
        return s, u * u * _w(a, Wu), vh * vh * _w(a, Wv)

    compare([A], g)


@pytest.mark.parametrize("m,n", [(3, 3), (4, 2), (2, 4)])
def test_svd_full_matrices(m, n):
    A = well_conditioned((2,), m, n)
    u, s, vh = L.svd(lamina.tensor(A))
    tu, ts, tvh = torch.linalg.svd(torch.tensor(A))
    assert u.shape == tuple(tu.shape) and vh.shape == tuple(tvh.shape)
    np.testing.assert_allclose(s.data, ts.numpy(), rtol=1e-10)
    k = min(m, n)
    np.testing.assert_allclose((u.data[..., :k] * s.data[..., None, :]) @ vh.data[..., :k, :],
                               A, atol=1e-12)
    if m != n:
        x = lamina.tensor(A, requires_grad=True)
        with pytest.raises(RuntimeError, match="full_matrices"):
            L.svd(x).U.sum().backward()


@given(batch=batches, m=st.integers(0, 5), n=st.integers(0, 5))
def test_svdvals(batch, m, n):
    A = well_conditioned(batch, m, n) if min(m, n) else np.zeros(batch + (m, n))
    compare([A], lambda a: _mod(a).svdvals(a), grad=min(m, n) > 0)


@pytest.mark.parametrize("m,n", [(3, 3), (4, 2), (2, 4)])
def test_svd_gradcheck(m, n):
    A = well_conditioned((2,), m, n, seed=5)
    gradcheck(lambda a: L.svdvals(a), [A])
    gradcheck(lambda a: tuple(L.svd(a, full_matrices=False)), [A])


# ----------------------------------------------------------------------------- eigh

@pytest.mark.parametrize("UPLO", ["L", "U"])
@given(batch=batches, n=st.integers(1, 5), seed=st.integers(0, 9))
def test_eigh(UPLO, batch, n, seed):
    S = well_conditioned(batch, n, seed=seed, symmetric=True)
    # garbage in the unread triangle: only the UPLO one is used (and differentiated)
    junk = np.triu(_weights(S.shape, seed), 1)
    A = S + (junk if UPLO == "L" else np.swapaxes(junk, -1, -2))
    W = _weights(S.shape, seed + 1)

    def f(a):
        w, v = _mod(a).eigh(a, UPLO=UPLO)
        return w, v.abs(), (v * w[..., None, :]) @ v.mT

    compare([A], f, grad=False)

    def g(a):
        w, v = _mod(a).eigh(a, UPLO=UPLO)
        return w, v * v * _w(a, W)

    compare([A], g)
    compare([A], lambda a: _mod(a).eigvalsh(a, UPLO=UPLO))


def test_eigh_gradcheck_and_errors():
    S = well_conditioned((2,), 4, seed=7, symmetric=True)
    sym = lambda a: (a + a.mT) * 0.5   # noqa: E731
    gradcheck(lambda a: tuple(L.eigh(sym(a))), [S])
    gradcheck(lambda a: L.eigvalsh(sym(a)), [S])
    with pytest.raises(RuntimeError, match="UPLO"):
        L.eigh(lamina.tensor(S), UPLO="X")
    with pytest.raises(RuntimeError, match="square"):
        L.eigh(lamina.ones(2, 3))
    with pytest.raises(RuntimeError):
        torch.linalg.eigh(torch.ones(2, 3))
