"""Matrix functions and decompositions with hand-written gradients: the reference math behind
``lamina.linalg`` (torch.linalg's names, signatures and semantics, batched over leading dims).

Every op works on stacks of matrices ``(*, m, n)``; NumPy's LAPACK wrappers do the forward,
and each backward is the standard matrix-calculus formula, written on arrays:

- ``inv``:       gA = -A^-T G A^-T
- ``solve``:     gB = A^-T G,  gA = -gB X^T
- ``det``:       gA = g det(A) A^-T;  ``slogdet``: gA = g_logabsdet A^-T
- ``cholesky``:  gA = L^-T Phi(L^T G) L^-1, Phi = lower triangle with a halved diagonal,
                 symmetrized (Murray 2016, "Differentiation of the Cholesky decomposition")
- ``qr``:        gA = (gQ + Q copyltu(M)) R^-T,  M = R gR^T - gQ^T Q (Walter & Lehmann 2018)
- ``svd``/``eigh``: Ionescu et al. 2015 / Seeger et al. 2017: the off-diagonal part of the
                 rotated gradients divided by the gaps between singular values / eigenvalues
- ``pinv``:      Golub & Pereyra 1973's derivative of the pseudoinverse (constant rank)

Errors follow PyTorch: shape and dtype problems raise ``RuntimeError`` naming the op; a
singular or not-positive-definite input raises ``LinAlgError`` (a ``RuntimeError``) naming
the op and the batch element.
"""

from __future__ import annotations

import math

import numpy as np

from lamina.autograd.function import Function
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor, _make

__all__ = ["LinAlgError", "inv", "inv_ex", "solve", "det", "slogdet", "cholesky",
           "cholesky_ex", "qr", "svd", "svdvals", "eigh", "eigvalsh", "pinv", "lstsq",
           "matrix_norm", "vector_norm", "norm", "matrix_power", "matrix_rank", "cond"]


class LinAlgError(LaminaValueError):
    """A linear-algebra routine failed on its input (singular, not positive-definite),
    like ``torch.linalg.LinAlgError``, which is also a ``RuntimeError`` (and, by lamina's
    error contract, a ``LaminaValueError``: a ``ValueError`` too)."""


# ----------------------------------------------------------------------------- helpers

def _mT(x):
    return np.swapaxes(x, -1, -2)


def _eye_like(x, n):
    return np.broadcast_to(np.eye(n, dtype=x.dtype), x.shape[:-2] + (n, n))


def _check_matrix(A, op, square=False):
    if not isinstance(A, Tensor):
        raise LaminaTypeError(f"{op}: expected a Tensor, got {type(A).__name__}")
    if A._data.dtype.kind != "f":
        raise LaminaValueError(f"{op}: Expected a floating point or complex tensor as input. "
                               f"Got {A.dtype}")
    if A._data.ndim < 2:
        raise LaminaValueError(f"{op}: The input tensor A must have at least 2 dimensions.")
    if square and A.shape[-1] != A.shape[-2]:
        raise LaminaValueError(f"{op}: A must be batches of square matrices, but they are "
                               f"{A.shape[-2]} by {A.shape[-1]} matrices")


def _batch_prefix(index, batch_shape):
    if not batch_shape:
        return ""
    return f"(Batch element {int(np.ravel_multi_index(index, batch_shape))}): "


def _first_failure(A, test):
    """The batch index of the first matrix of ``A`` for which ``test`` raises."""
    for idx in np.ndindex(A.shape[:-2]):
        try:
            test(A[idx])
        except np.linalg.LinAlgError:
            return idx
    return None


def _zero_pivot(a):
    """LAPACK getrf's ``info`` for one matrix: the 1-based index of the first exactly-zero
    pivot of LU with partial pivoting, or 0 when there is none."""
    u = np.array(a, dtype=np.float64)
    for k in range(u.shape[-1]):
        p = k + int(np.argmax(np.abs(u[k:, k])))
        if u[p, k] == 0:
            return k + 1
        u[[k, p]] = u[[p, k]]
        u[k + 1:, k:] -= np.outer(u[k + 1:, k] / u[k, k], u[k, k:])
    return 0


def _singular_element(A):
    """(batch index, zero pivot) of the first singular matrix in ``A``."""
    for idx in np.ndindex(A.shape[:-2]):
        k = _zero_pivot(A[idx])
        if k:
            return idx, k
    return None, None


def _inv_or_raise(A, op):
    try:
        return np.linalg.inv(A)
    except np.linalg.LinAlgError:
        idx, k = _singular_element(A)
        where = _batch_prefix(idx, A.shape[:-2]) if idx is not None else ""
        detail = f"The diagonal element {k} is zero, the" if k else "The"
        raise LinAlgError(f"{op}: {where}{detail} inversion could not be completed because "
                          "the input matrix is singular.") from None


def _not_pd_order(a):
    """The order of the first leading minor of ``a`` that is not positive-definite."""
    for k in range(1, a.shape[-1] + 1):
        try:
            np.linalg.cholesky(a[:k, :k])
        except np.linalg.LinAlgError:
            return k
    return a.shape[-1]


# ----------------------------------------------------------------------------- inv, solve

class Inv(Function):
    @staticmethod
    def forward(ctx, A):
        X = _inv_or_raise(A, "linalg.inv")
        ctx.saved = (X,)
        return X

    @staticmethod
    def backward(ctx, g):
        (X,) = ctx.saved
        Xt = _mT(X)
        return -(Xt @ g @ Xt)        # d(A^-1) = -A^-1 dA A^-1


def inv(A: Tensor) -> Tensor:
    """The inverse of each square matrix in ``A`` (*, n, n).

    Raises ``LinAlgError`` naming the batch element when a matrix is singular.

    >>> inv(tensor([[2.0, 0.0], [0.0, 4.0]]))
    tensor([[0.5, 0.0], [0.0, 0.25]])
    """
    _check_matrix(A, "linalg.inv", square=True)
    return Inv.apply(A)


def inv_ex(A: Tensor, *, check_errors: bool = False):
    """``(inverse, info)`` like ``torch.linalg.inv_ex``: ``info`` (int32, batch-shaped) is 0
    where the inversion succeeded and the LU pivot index of the zero diagonal element where
    the matrix is singular (whose inverse is then filled with NaN here). With
    ``check_errors=True`` it raises like ``inv``. A result with a singular element is not
    recorded for autograd."""
    _check_matrix(A, "linalg.inv_ex", square=True)
    try:
        return inv(A), _make(np.zeros(A.shape[:-2], np.int32))
    except LinAlgError:
        if check_errors:
            raise
    a = A._data          # some matrix is singular: find which, and invert the others
    info = np.zeros(a.shape[:-2], np.int32)
    for idx in np.ndindex(a.shape[:-2]):
        info[idx] = _zero_pivot(a[idx])
    safe = np.where(info[..., None, None] > 0, np.eye(a.shape[-1], dtype=a.dtype), a)
    out = np.linalg.inv(safe)
    out[info > 0] = np.nan
    return _make(out), _make(info)


class Solve(Function):
    @staticmethod
    def forward(ctx, A, B):
        try:
            X = np.linalg.solve(A, B)
        except np.linalg.LinAlgError:
            raise LinAlgError("linalg.solve: The solver failed because the input matrix is "
                              "singular.") from None
        ctx.saved = (A, X)
        return X

    @staticmethod
    def backward(ctx, g):
        A, X = ctx.saved
        gB = np.linalg.solve(_mT(A), g)     # A^T gB = G
        gA = -(gB @ _mT(X)) if ctx.needs_input_grad[0] else None
        return gA, (gB if ctx.needs_input_grad[1] else None)


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """The solution ``X`` of ``A X = B`` (or ``X A = B`` with ``left=False``).

    ``A`` is (*, n, n); ``B`` is (*, n, k), or a batch of vectors (*, n) when it is 1-D or
    has the shape of ``A`` less its last dim (PyTorch's rule). Batch dims broadcast.

    >>> solve(tensor([[2.0, 0.0], [0.0, 4.0]]), tensor([2.0, 2.0]))
    tensor([1.0, 0.5])
    """
    _check_matrix(A, "linalg.solve", square=True)
    if not isinstance(B, Tensor) or B._data.dtype != A._data.dtype:
        raise LaminaValueError("linalg.solve: Expected A and B to have the same dtype, but found "
                               f"A of type {A.dtype} and B of type {getattr(B, 'dtype', type(B))} "
                               "instead")
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and B.shape == A.shape[:-1])
    if not left:
        if vector:
            raise LaminaValueError("linalg.solve: Vector broadcasting of the left hand side is "
                                   "not supported for left=False. In this case linalg.solve is "
                                   "equivalent to B / A.squeeze(-1)")
        return solve(A.mT, B.mT).mT                 # X A = B  <=>  A^T X^T = B^T
    if vector:
        B = B.unsqueeze(-1)
    n, rows = A.shape[-1], B.shape[-2]
    if rows != n:
        raise LaminaValueError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                               f"AX = B ({A.shape[-2]}x{n} and {rows}x{B.shape[-1]})")
    try:
        batch = np.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    except ValueError:
        raise LaminaValueError(f"linalg.solve: batch dimensions of A {tuple(A.shape)} and B "
                               f"{tuple(B.shape)} cannot be broadcast") from None
    if B.shape[:-2] != batch:
        B = B.expand(*batch, *B.shape[-2:])
    X = Solve.apply(A, B)
    return X.squeeze(-1) if vector else X


# ----------------------------------------------------------------------------- det, slogdet

class Det(Function):
    @staticmethod
    def forward(ctx, A):
        d = np.linalg.det(A)
        ctx.saved = (A, d)
        return np.asarray(d, dtype=A.dtype)

    @staticmethod
    def backward(ctx, g):
        A, d = ctx.saved
        # d det(A) = det(A) tr(A^-1 dA): gA = g det A^-T. For a singular A (det = 0) the
        # gradient is the adjugate, computed from the SVD: adj(A)^T = det(U V^T) U
        # diag(prod_{j != i} s_j) V^T.
        U, s, Vh = np.linalg.svd(A)
        n = A.shape[-1]
        if n == 0:
            return np.zeros_like(A)
        prods = np.stack([np.prod(np.delete(s, i, axis=-1), axis=-1) for i in range(n)], -1)
        sign = np.linalg.det(U) * np.linalg.det(Vh)
        cof = (U * prods[..., None, :]) @ Vh * sign[..., None, None]
        return np.asarray(g)[..., None, None] * cof


def det(A: Tensor) -> Tensor:
    """The determinant of each square matrix in ``A`` (*, n, n).

    The gradient is the cofactor matrix ``det(A) A^-T``, computed from the SVD so that it is
    right also where ``A`` is singular (PyTorch 2.13 returns zeros at an exactly singular
    matrix; lamina differs on purpose and matches finite differences).
    """
    _check_matrix(A, "linalg.det", square=True)
    return Det.apply(A)


class SlogDet(Function):
    @staticmethod
    def forward(ctx, A):
        sign, logabs = np.linalg.slogdet(A)
        ctx.saved = (A,)
        return np.asarray(sign, A.dtype), np.asarray(logabs, A.dtype)

    @staticmethod
    def backward(ctx, gsign, glog):
        (A,) = ctx.saved
        if glog is None:
            return None
        # d log|det A| = tr(A^-1 dA); the sign is piecewise constant (no gradient)
        return np.asarray(glog)[..., None, None] * _mT(_inv_or_raise(A, "linalg.slogdet"))


def slogdet(A: Tensor):
    """``(sign, logabsdet)`` of each square matrix: ``det(A) = sign * exp(logabsdet)``,
    without overflow. Singular matrices give ``(0, -inf)``."""
    _check_matrix(A, "linalg.slogdet", square=True)
    sign, logabs = SlogDet.apply(A)
    return _named("slogdet", sign=sign.detach(), logabsdet=logabs)


def _named(name, **fields):
    from collections import namedtuple

    cls = _NAMED.get(name)
    if cls is None:
        cls = _NAMED[name] = namedtuple(name, list(fields))
    return cls(**fields)


_NAMED: dict = {}


# ----------------------------------------------------------------------------- cholesky

def _tril_halfdiag(X):
    """Phi(X): the lower triangle of ``X`` with its diagonal halved."""
    out = np.tril(X)
    d = np.einsum("...ii->...i", out)     # a writable view of the diagonal
    d *= 0.5
    return out


class Cholesky(Function):
    @staticmethod
    def forward(ctx, A, upper):
        try:
            L = np.linalg.cholesky(A)
        except np.linalg.LinAlgError:
            idx = _first_failure(A, np.linalg.cholesky)
            k = _not_pd_order(A[idx])
            raise LinAlgError(
                f"linalg.cholesky: {_batch_prefix(idx, A.shape[:-2])}The factorization could "
                "not be completed because the input is not positive-definite (the leading "
                f"minor of order {k} is not positive-definite).") from None
        ctx.saved = (L,)
        ctx.upper = upper
        return _mT(L).copy() if upper else L

    @staticmethod
    def backward(ctx, g):
        (L,) = ctx.saved
        gL = _mT(g) if ctx.upper else g
        # Murray 2016: gA = L^-T Phi(L^T gL) L^-1, then symmetrized (A is symmetric)
        P = _tril_halfdiag(_mT(L) @ gL)
        P = P + _mT(P)
        P = P * 0.5
        S = np.linalg.solve(_mT(L), P)                 # L^-T P
        return _mT(np.linalg.solve(_mT(L), _mT(S))), None   # S L^-1 = (L^-T S^T)^T


def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """The Cholesky factor ``L`` (lower) with ``A = L L^T``, or ``U = L^T`` with
    ``upper=True``, of each symmetric positive-definite matrix in ``A``. Only the lower
    triangle of ``A`` is read. Raises ``LinAlgError`` naming the batch element and the
    first leading minor that is not positive-definite."""
    _check_matrix(A, "linalg.cholesky", square=True)
    return Cholesky.apply(A, upper)


def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool = False):
    """``(L, info)`` like ``torch.linalg.cholesky_ex``: ``info`` (int32, batch-shaped) is 0
    where the factorization succeeded, else the order of the leading minor that is not
    positive-definite (``L`` then holds NaN for that element here, and is not recorded
    for autograd)."""
    _check_matrix(A, "linalg.cholesky_ex", square=True)
    try:
        return cholesky(A, upper=upper), _make(np.zeros(A.shape[:-2], np.int32))
    except LinAlgError:
        if check_errors:
            raise
    a = A._data          # some matrix is not positive-definite: find which
    info = np.zeros(a.shape[:-2], np.int32)
    for idx in np.ndindex(a.shape[:-2]):
        try:
            np.linalg.cholesky(a[idx])
        except np.linalg.LinAlgError:
            info[idx] = _not_pd_order(a[idx])
    safe = np.where(info[..., None, None] > 0, np.eye(a.shape[-1], dtype=a.dtype), a)
    L = np.linalg.cholesky(safe)
    L[info > 0] = np.nan
    return _make(_mT(L).copy() if upper else L), _make(info)


# ----------------------------------------------------------------------------- qr

def _copyltu(M):
    """The symmetric matrix with ``M``'s lower triangle: copyltu(M)_ij = M_max(i,j),min(i,j)."""
    low = np.tril(M, -1)
    return low + _mT(low) + np.einsum("...ii->...i", M)[..., None] * np.eye(M.shape[-1],
                                                                              dtype=M.dtype)


def _qr_backward_tall(Q, R, gQ, gR):
    """A = QR with m >= n (Q m x n, R n x n upper): gA = (gQ + Q copyltu(M)) R^-T with
    M = R gR^T - gQ^T Q."""
    M = R @ _mT(gR) - _mT(gQ) @ Q
    B = gQ + Q @ _copyltu(M)
    return _mT(np.linalg.solve(R, _mT(B)))       # B R^-T = (R^-1 B^T)^T


class QR(Function):
    @staticmethod
    def forward(ctx, A, mode):
        Q, R = np.linalg.qr(A, mode="complete" if mode == "complete" else "reduced")
        ctx.saved = (A, Q, R)
        ctx.mode = mode
        if mode == "r":
            return np.empty((0,), A.dtype), R
        return Q, R

    @staticmethod
    def backward(ctx, gQ, gR):
        A, Q, R = ctx.saved
        m, n = A.shape[-2:]
        if ctx.mode == "r":
            raise LaminaValueError("The derivative of linalg.qr depends on Q, which is not "
                                   "computed when mode='r'. Please use linalg.qr(A, "
                                   "mode='reduced') if you are going to differentiate through "
                                   "linalg.qr.")
        if ctx.mode == "complete" and m > n:
            raise LaminaValueError("The QR decomposition is not differentiable when "
                                   "mode='complete' "
                                   "and nrows > ncols.")
        gQ = np.zeros_like(Q) if gQ is None else gQ
        gR = np.zeros_like(R) if gR is None else gR
        if m >= n:
            return _qr_backward_tall(Q, R, gQ, gR), None
        # m < n: A = [X | Y] and R = [U | V] with X = Q U (square) and V = Q^T Y. Through V,
        # Y receives Q gV and Q receives Y gV^T; X then follows the square formula.
        U, gU, gV = R[..., :, :m], gR[..., :, :m], gR[..., :, m:]
        Y = A[..., :, m:]
        gX = _qr_backward_tall(Q, U, gQ + Y @ _mT(gV), gU)
        return np.concatenate([gX, Q @ gV], axis=-1), None


def qr(A: Tensor, mode: str = "reduced"):
    """``(Q, R)`` with ``A = Q R``, ``Q`` orthonormal columns and ``R`` upper triangular.

    ``mode``: ``'reduced'`` (Q m x k, R k x n, k = min(m, n)), ``'complete'`` (Q m x m,
    R m x n) or ``'r'`` (R only; Q is an empty tensor). Differentiable except for
    ``'complete'`` with m > n and for ``'r'``, like PyTorch.
    """
    _check_matrix(A, "linalg.qr")
    if mode not in ("reduced", "complete", "r"):
        raise LaminaValueError(f"qr received unrecognized mode '{mode}' but expected one of "
                               "'reduced' (default), 'r', or 'complete'")
    Q, R = QR.apply(A, mode)
    if mode == "r":
        Q = Q.detach()
    return _named("qr", Q=Q, R=R)


# ----------------------------------------------------------------------------- svd

def _svd_backward(U, S, Vh, gU, gS, gVh):
    """Gradient of A = U diag(S) Vh (reduced, k = min(m, n)) for real matrices.

    With E_ij = S_j^2 - S_i^2 (the gaps; 1 on the diagonal) and skew(X) = X - X^T:
    the k x k core is (skew(U^T gU) S_j + S_i skew(V^T gV)) / E + diag(gS), rotated back by
    U and V, plus the parts of gU and gV outside the spans of U and V (m != n).
    """
    m, n = U.shape[-2], Vh.shape[-1]
    k = S.shape[-1]
    if gU is None and gVh is None:
        gS = np.zeros_like(S) if gS is None else gS
        return (U * gS[..., None, :]) @ Vh
    V = _mT(Vh)
    gU = np.zeros_like(U) if gU is None else gU
    gV = np.zeros_like(V) if gVh is None else _mT(gVh)
    S2 = S * S
    E = S2[..., None, :] - S2[..., :, None]
    E[..., np.arange(k), np.arange(k)] = 1
    UtgU = _mT(U) @ gU
    VtgV = _mT(V) @ gV
    core = ((UtgU - _mT(UtgU)) * S[..., None, :] + S[..., :, None] * (VtgV - _mT(VtgV))) / E
    if gS is not None:
        core[..., np.arange(k), np.arange(k)] += gS
    if m > n:
        gUSinv = gU / S[..., None, :]
        return (U @ core + gUSinv - U @ (_mT(U) @ gUSinv)) @ Vh
    if m < n:
        gVSinv = gV / S[..., None, :]
        return U @ (core @ Vh + _mT(gVSinv - V @ (_mT(V) @ gVSinv)))
    return U @ core @ Vh


class SVD(Function):
    @staticmethod
    def forward(ctx, A, full_matrices):
        U, S, Vh = np.linalg.svd(A, full_matrices=full_matrices)
        ctx.saved = (U, S, Vh)
        ctx.full = full_matrices and A.shape[-1] != A.shape[-2]
        return U, S, Vh

    @staticmethod
    def backward(ctx, gU, gS, gVh):
        U, S, Vh = ctx.saved
        if ctx.full:
            raise LaminaValueError("linalg.svd_backward: Setting full_matrices=True in forward is "
                                   "not supported in backward when the matrix is not square: "
                                   "use full_matrices=False")
        return _svd_backward(U, S, Vh, gU, gS, gVh), None


def svd(A: Tensor, full_matrices: bool = True):
    """``(U, S, Vh)`` with ``A = U diag(S) Vh``, singular values ``S`` in descending order.

    As in PyTorch, U and V are unique only up to the sign of each singular pair; gradients
    are defined when the loss depends on them through gauge-invariant quantities and the
    singular values are distinct (the gaps divide the gradient). Backward needs
    ``full_matrices=False`` unless A is square.
    """
    _check_matrix(A, "linalg.svd")
    U, S, Vh = SVD.apply(A, full_matrices)
    return _named("svd", U=U, S=S, Vh=Vh)


class SVDVals(Function):
    @staticmethod
    def forward(ctx, A):
        if ctx.needs_input_grad is None:
            return np.linalg.svd(A, compute_uv=False)
        U, S, Vh = np.linalg.svd(A, full_matrices=False)
        ctx.saved = (U, Vh)
        return S

    @staticmethod
    def backward(ctx, g):
        U, Vh = ctx.saved
        return (U * g[..., None, :]) @ Vh          # dS_i = u_i^T dA v_i


def svdvals(A: Tensor) -> Tensor:
    """The singular values of each matrix in ``A``, in descending order. Its gradient
    ``U diag(g) V^T`` is well defined even with repeated singular values."""
    _check_matrix(A, "linalg.svdvals")
    return SVDVals.apply(A)


# ----------------------------------------------------------------------------- eigh

class Eigh(Function):
    @staticmethod
    def forward(ctx, A, UPLO):
        L, V = np.linalg.eigh(A, UPLO=UPLO)
        ctx.saved = (L, V)
        return L, V

    @staticmethod
    def backward(ctx, gL, gV):
        L, V = ctx.saved
        n = L.shape[-1]
        # gA = V (diag(gL) + skew(V^T gV) / 2E) V^T with E_ij = L_j - L_i (1 on the
        # diagonal); the skew part makes gA symmetric, the gradient within symmetric
        # matrices, as PyTorch returns it
        if gV is None:
            core = np.zeros(V.shape, V.dtype)
        else:
            E = L[..., None, :] - L[..., :, None]
            E[..., np.arange(n), np.arange(n)] = 1
            VtgV = _mT(V) @ gV
            core = (VtgV - _mT(VtgV)) / (2 * E)
            core[..., np.arange(n), np.arange(n)] = 0
        if gL is not None:
            core[..., np.arange(n), np.arange(n)] = gL
        return V @ core @ _mT(V), None


def eigh(A: Tensor, UPLO: str = "L"):
    """``(eigenvalues, eigenvectors)`` of each symmetric matrix in ``A``, eigenvalues in
    ascending order; only the triangle named by ``UPLO`` ('L' or 'U') is read.

    Eigenvectors are unique up to sign (and gradients need distinct eigenvalues), as in
    PyTorch.
    """
    _check_matrix(A, "linalg.eigh", square=True)
    if UPLO not in ("L", "U"):
        raise LaminaValueError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    L, V = Eigh.apply(A, UPLO)
    return _named("eigh", eigenvalues=L, eigenvectors=V)


class EigvalsH(Function):
    @staticmethod
    def forward(ctx, A, UPLO):
        L, V = np.linalg.eigh(A, UPLO=UPLO)
        ctx.saved = (V,)
        return L

    @staticmethod
    def backward(ctx, g):
        (V,) = ctx.saved
        return (V * g[..., None, :]) @ _mT(V), None     # dL_i = v_i^T dA v_i


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:
    """The eigenvalues of each symmetric matrix in ``A``, ascending."""
    _check_matrix(A, "linalg.eigvalsh", square=True)
    if UPLO not in ("L", "U"):
        raise LaminaValueError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    return EigvalsH.apply(A, UPLO)


# ----------------------------------------------------------------------------- pinv, lstsq

def _tolerances(s_max, m, n, dtype, atol, rtol):
    """PyTorch's cutoff max(atol, rtol * s_max); rtol defaults to max(m, n) eps, or to 0
    when only a positive atol is given."""
    if rtol is None:
        rtol = 0.0 if (atol is not None and np.any(np.asarray(atol) > 0)) else \
            max(m, n) * np.finfo(dtype).eps
    atol = 0.0 if atol is None else atol
    return np.maximum(np.asarray(atol, dtype), np.asarray(rtol, dtype) * s_max)


def _pinv_array(A, atol, rtol, hermitian):
    m, n = A.shape[-2:]
    if m == 0 or n == 0:
        return np.zeros(A.shape[:-2] + (n, m), A.dtype)
    if hermitian:
        w, V = np.linalg.eigh(A)
        s = np.abs(w)
        cut = _tolerances(s.max(-1, keepdims=True), m, n, A.dtype, atol, rtol)
        winv = np.where(s > cut, 1 / np.where(s > cut, w, 1), 0)
        return (V * winv[..., None, :]) @ _mT(V)
    U, s, Vh = np.linalg.svd(A, full_matrices=False)
    cut = _tolerances(s[..., :1], m, n, A.dtype, atol, rtol)
    sinv = np.where(s > cut, 1 / np.where(s > cut, s, 1), 0)
    return (_mT(Vh) * sinv[..., None, :]) @ _mT(U)


def _pinv_backward(A, P, G):
    """Gradient of P = pinv(A) (constant rank, Golub & Pereyra 1973):
    gA = -P^T G P^T + (I - A P) G^T P P^T + P^T P G^T (I - P A)."""
    Pt, Gt = _mT(P), _mT(G)
    return (-(Pt @ G @ Pt) + (Gt @ P @ Pt) - A @ (P @ (Gt @ (P @ Pt)))
            + (Pt @ P) @ Gt - ((Pt @ P) @ Gt @ P) @ A)


class PInv(Function):
    @staticmethod
    def forward(ctx, A, atol, rtol, hermitian):
        P = _pinv_array(A, atol, rtol, hermitian)
        ctx.saved = (A, P)
        return P

    @staticmethod
    def backward(ctx, g):
        A, P = ctx.saved
        return _pinv_backward(A, P, g), None, None, None


def pinv(A: Tensor, *, atol=None, rtol=None, hermitian: bool = False) -> Tensor:
    """The Moore-Penrose pseudoinverse of each matrix in ``A`` (*, m, n) -> (*, n, m).

    Singular values (absolute eigenvalues with ``hermitian=True``) at or below
    ``max(atol, rtol * sigma_1)`` count as zero; ``rtol`` defaults to ``max(m, n) * eps``,
    or to 0 when only a positive ``atol`` is given. The gradient assumes the rank is
    constant near ``A``.
    """
    _check_matrix(A, "linalg.pinv")
    return PInv.apply(A, _unwrap(atol), _unwrap(rtol), hermitian)


def _unwrap(x):
    return x._data if isinstance(x, Tensor) else x


class LstsqSolution(Function):
    @staticmethod
    def forward(ctx, A, B, rcond):
        P = _pinv_array(A, None, rcond, False)
        ctx.saved = (A, B, P)
        return P @ B

    @staticmethod
    def backward(ctx, g):
        A, B, P = ctx.saved
        # X = pinv(A) B: gB = pinv(A)^T G, and pinv(A) receives G B^T
        gA = _pinv_backward(A, P, g @ _mT(B)) if ctx.needs_input_grad[0] else None
        gB = _mT(P) @ g if ctx.needs_input_grad[1] else None
        return gA, gB, None


_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


def lstsq(A: Tensor, B: Tensor, rcond: float | None = None, *, driver: str | None = None):
    """The least-squares solution of ``A X = B``: ``(solution, residuals, rank,
    singular_values)`` filled as PyTorch's CPU drivers fill them.

    The solution is always the minimum-norm one, ``pinv(A) B`` with singular values below
    ``rcond * sigma_1`` dropped (``rcond`` defaults to ``max(m, n) * eps``): what 'gelsy'
    (the default), 'gelsd' and 'gelss' compute, and what 'gels' computes for a full-rank
    ``A``. The other fields, per driver as in PyTorch:

    - ``residuals``: squared residual norms per column, for 'gels', 'gelsd', 'gelss' when
      m > n and every matrix has full rank; else empty. (Not for the default 'gelsy'.)
    - ``rank``: int64, for 'gelsy', 'gelsd', 'gelss'; else empty.
    - ``singular_values``: for 'gelsd' and 'gelss'; else empty.
    """
    _check_matrix(A, "linalg.lstsq")
    driver = "gelsy" if driver is None else driver
    if driver not in _DRIVERS:
        raise LaminaValueError(f"torch.linalg.lstsq: parameter `driver` should be one of "
                               f"{_DRIVERS}")
    if not isinstance(B, Tensor) or B._data.dtype != A._data.dtype:
        raise LaminaValueError("torch.linalg.lstsq: Expected input and other to have the same "
                               "dtype")
    vector = B.ndim == A.ndim - 1
    Bm = B.unsqueeze(-1) if vector else B
    m, n = A.shape[-2:]
    if Bm.shape[-2] != m:
        raise LaminaValueError(f"torch.linalg.lstsq: input.size(-2) should match other.size(-2)"
                               f" ({m} != {Bm.shape[-2]})")
    eps = np.finfo(A._data.dtype).eps
    rc = max(m, n) * eps if rcond is None or rcond < 0 else rcond
    X = LstsqSolution.apply(A, Bm, rc)
    dt = A._data.dtype
    s = np.linalg.svd(A._data, compute_uv=False) if min(m, n) else \
        np.zeros(A.shape[:-2] + (0,), dt)
    rank_arr = (s > rc * s[..., :1]).sum(-1).astype(np.int64) if s.shape[-1] else \
        np.zeros(A.shape[:-2], np.int64)
    full = bool(np.all(rank_arr == n)) if driver != "gels" else True
    if driver != "gelsy" and m > n and full:
        from lamina.ops.reduce import sum as _sum
        r = A @ X - Bm
        residuals = _sum(r * r, dim=-2)
    else:
        residuals = _make(np.empty((0,), dt))
    rank = _make(rank_arr) if driver != "gels" else _make(np.empty((0,), np.int64))
    sv = _make(s) if driver in ("gelsd", "gelss") else _make(np.empty((0,), dt))
    solution = X.squeeze(-1) if vector else X
    return _named("lstsq", solution=solution, residuals=residuals, rank=rank,
                  singular_values=sv)


# ----------------------------------------------------------------------------- norms

class VectorNorm(Function):
    @staticmethod
    def forward(ctx, x, p, dim, keepdim):
        a = np.abs(x)
        if p == 2:
            out = np.sqrt(np.sum(a * a, axis=dim, keepdims=True))
        elif p == 1:
            out = np.sum(a, axis=dim, keepdims=True)
        else:
            out = np.sum(a ** p, axis=dim, keepdims=True) ** (1.0 / p)
        ctx.saved = (x, out)
        ctx.p = p
        ctx.dim, ctx.keepdim = dim, keepdim
        return out if keepdim else np.squeeze(out, axis=dim)

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved
        p = ctx.p
        if not ctx.keepdim:
            g = np.expand_dims(g, ctx.dim)
        # d||x||_p / dx = sign(x) |x|^(p-1) / ||x||_p^(p-1); 0 where the norm is 0
        if p == 1:
            return g * np.sign(x), None, None, None
        safe = np.where(out == 0, 1, out)
        if p == 2:
            grad = x / safe
        else:
            grad = np.sign(x) * np.abs(x) ** (p - 1) / safe ** (p - 1)
        return g * np.where(out == 0, 0, grad), None, None, None


def _dims(dim, ndim):
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return tuple(sorted(d % ndim if ndim else 0 for d in dims))


def vector_norm(x: Tensor, ord: float = 2, dim=None, keepdim: bool = False, *,  # noqa: A002
                dtype=None) -> Tensor:
    """The vector p-norm ``(sum |x|^ord)^(1/ord)`` over ``dim`` (all dims when None);
    ``ord`` may be inf (max |x|), -inf (min |x|) or 0 (the count of non-zeros).
    The gradient at a zero norm is 0, like PyTorch's subgradient."""
    if not isinstance(x, Tensor) or x._data.dtype.kind != "f":
        raise LaminaValueError("linalg.vector_norm: Expected a floating point or complex tensor "
                               f"as input. Got {getattr(x, 'dtype', type(x))}")
    if dtype is not None:
        x = x.to(dtype)
    dims = _dims(dim, x.ndim)
    from lamina.ops.reduce import amax, amin
    from lamina.ops.reduce import sum as _sum

    if ord in (math.inf, -math.inf):
        if ord == -math.inf and any(x.shape[d] == 0 for d in dims):
            raise LaminaValueError("linalg.vector_norm cannot compute the -inf norm on an empty "
                                   "tensor because the operation does not have an identity")
        if any(x.shape[d] == 0 for d in dims):
            return _make(np.zeros(_reduced_shape(x.shape, dims, keepdim), x._data.dtype))
        f = amax if ord == math.inf else amin
        return f(x.abs(), dim=dims, keepdim=keepdim)
    if ord == 0:
        return _sum((x != 0).to(x.dtype), dim=dims, keepdim=keepdim).detach()
    if ord < 0:
        from lamina.ops.elementwise import pow as _pow
        return _pow(_sum(_pow(x.abs(), ord), dim=dims, keepdim=keepdim), 1.0 / ord)
    return VectorNorm.apply(x, float(ord), dims, keepdim)


def _reduced_shape(shape, dims, keepdim):
    return tuple(1 if i in dims else s for i, s in enumerate(shape) if keepdim or i not in dims)


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *,  # noqa: A002
                dtype=None) -> Tensor:
    """The matrix norm over the two dims ``dim``: 'fro' (sqrt of the sum of squares), 'nuc'
    (sum of singular values), 2 / -2 (largest / smallest singular value), 1 / -1 (max / min
    column abs-sum), inf / -inf (max / min row abs-sum)."""
    _check_matrix(A, "linalg.matrix_norm")
    if dtype is not None:
        A = A.to(dtype)
    d0, d1 = (d % A.ndim for d in dim)
    if d0 == d1:
        raise LaminaValueError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, "
                               f"{dim[1]})")
    if ord == "fro":
        return vector_norm(A, 2, dim=(d0, d1), keepdim=keepdim)
    if ord in (2, 1, math.inf) and 0 in (A.shape[d0], A.shape[d1]):
        # the max over an empty set of non-negative numbers: 0, as in PyTorch
        return _make(np.zeros(_reduced_shape(A.shape, (d0, d1), keepdim), A._data.dtype))
    from lamina.ops.reduce import amax, amin
    from lamina.ops.reduce import sum as _sum

    if ord in ("nuc", 2, -2):
        # move the two dims last, take the singular values, reduce them
        perm = [i for i in range(A.ndim) if i not in (d0, d1)] + [d0, d1]
        s = svdvals(A.permute(*perm))
        out = _sum(s, dim=-1) if ord == "nuc" else (amax(s, -1) if ord == 2 else amin(s, -1))
        if keepdim:
            out = out.unsqueeze(min(d0, d1)).unsqueeze(max(d0, d1))
        return out
    if ord in (1, -1, math.inf, -math.inf):
        # 1: max over columns of the column abs-sums (sum over rows d0); inf: over rows
        sum_dim, red_dim = (d0, d1) if ord in (1, -1) else (d1, d0)
        sums = _sum(A.abs(), dim=sum_dim, keepdim=True)
        f = amax if ord in (1, math.inf) else amin
        out = f(sums, dim=red_dim, keepdim=True)
        return out if keepdim else out.squeeze(max(d0, d1)).squeeze(min(d0, d1))
    raise LaminaValueError(f"linalg.matrix_norm: Order {ord} not supported.")


def norm(A: Tensor, ord=None, dim=None, keepdim: bool = False, *,  # noqa: A002
         dtype=None) -> Tensor:
    """``torch.linalg.norm``: a vector norm when ``dim`` is an int or when ``ord`` is None and
    ``dim`` is None (the 2-norm of the flattened input), a matrix norm when ``dim`` is a
    pair or when ``ord`` is given for a 2-D input."""
    if isinstance(dim, int):
        dim = (dim,)
    if ord is None:
        if dim is not None and len(dim) == 2:
            return matrix_norm(A, "fro", dim, keepdim, dtype=dtype)
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if dim is None:
        if A.ndim not in (1, 2):
            raise LaminaValueError(f"linalg.norm: If dim is not specified but ord is, the input "
                                   f"must be 1D or 2D. Got {A.ndim}D.")
        dim = tuple(range(A.ndim))
    if len(dim) == 2:
        return matrix_norm(A, ord, dim, keepdim, dtype=dtype)
    if isinstance(ord, str):
        raise LaminaValueError(f"linalg.vector_norm: Order {ord} not supported.")
    return vector_norm(A, ord, dim, keepdim, dtype=dtype)


# ----------------------------------------------------------------------------- composites

def matrix_power(A: Tensor, n: int) -> Tensor:
    """``A`` to the integer power ``n`` by repeated squaring; ``n = 0`` gives the identity
    and ``n < 0`` powers of ``inv(A)``."""
    _check_matrix(A, "linalg.matrix_power", square=True)
    if not isinstance(n, (int, np.integer)):
        raise LaminaTypeError(f"linalg.matrix_power: n must be an int, got {type(n).__name__}")
    if n == 0:
        eye = np.broadcast_to(np.eye(A.shape[-1], dtype=A._data.dtype), A.shape).copy()
        return _make(eye)
    if n < 0:
        A, n = inv(A), -n
    result, base = None, A
    while n:
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if n:
            base = base @ base
    return result


def matrix_rank(A: Tensor, *, atol=None, rtol=None, hermitian: bool = False) -> Tensor:
    """The number of singular values (absolute eigenvalues with ``hermitian``) above
    ``max(atol, rtol * sigma_1)``; the tolerances as in ``pinv``. Returns int64."""
    _check_matrix(A, "linalg.matrix_rank")
    a = A._data
    m, n = a.shape[-2:]
    if m == 0 or n == 0:
        return _make(np.zeros(a.shape[:-2], np.int64))
    s = np.abs(np.linalg.eigvalsh(a)) if hermitian else np.linalg.svd(a, compute_uv=False)
    cut = _tolerances(s.max(-1, keepdims=True), m, n, a.dtype, _unwrap(atol), _unwrap(rtol))
    return _make((s > cut).sum(-1).astype(np.int64))


def cond(A: Tensor, p=None) -> Tensor:
    """The condition number ``norm(A, p) * norm(inv(A), p)``; for ``p`` None or 2 the ratio
    of the extreme singular values (any shape), for -2 its inverse."""
    _check_matrix(A, "linalg.cond")
    if 0 in A.shape[-2:]:
        return _make(np.zeros(A.shape[:-2], A._data.dtype))     # PyTorch's value
    if p in (None, 2, -2):
        s = svdvals(A)
        big, small = s[..., 0], s[..., -1]
        return big / small if p in (None, 2) else small / big
    if A.shape[-1] != A.shape[-2]:
        raise LaminaValueError(f"linalg.cond(ord={p}): A must be batches of square matrices, "
                               f"but they are {A.shape[-2]} by {A.shape[-1]} matrices")
    return matrix_norm(A, p) * matrix_norm(inv(A), p)

