"""Special functions and small linear-algebra ops the distributions need, each one ``Function``
with a hand-written backward: ``lgamma``, ``digamma``, ``erf``, ``erfinv``, ``cholesky``,
``solve_triangular``, ``inverse`` and ``diagonal``.

They live here, not in ``lamina.ops``, because only ``lamina.distributions`` uses them so far.
Forward values come from Python's ``math`` module (vectorized) or NumPy's LAPACK wrappers;
``digamma``/``trigamma`` use the recurrence ``psi(x) = psi(x + 1) - 1/x`` up to ``x >= 6`` and
then the asymptotic series, accurate to about 1e-14 for ``x > 0``.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from lamina.autograd.function import Function
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor

__all__ = ["lgamma", "digamma", "erf", "erfinv", "cholesky", "solve_triangular", "inverse",
           "diagonal", "softplus", "xlogy"]

_lgamma = np.vectorize(math.lgamma, otypes=[np.float64])
_erf = np.vectorize(math.erf, otypes=[np.float64])
_inv_cdf = np.vectorize(lambda p: NormalDist().inv_cdf(p) if 0.0 < p < 1.0 else
                        (-math.inf if p == 0.0 else (math.inf if p == 1.0 else math.nan)),
                        otypes=[np.float64])


def _digamma_np(x: np.ndarray) -> np.ndarray:
    """psi(x) for x > 0 (reflection psi(1 - x) - pi cot(pi x) below 0, nan at poles)."""
    x = np.asarray(x, dtype=np.float64)
    neg = x <= 0
    xr = np.where(neg, 1.0 - x, x)
    acc = np.zeros_like(xr)
    while True:                          # psi(x) = psi(x + 1) - 1/x until every x >= 6
        small = xr < 6.0
        if not small.any():
            break
        acc -= np.where(small, 1.0 / np.where(small, xr, 1.0), 0.0)
        xr = np.where(small, xr + 1.0, xr)
    inv2 = 1.0 / (xr * xr)
    # psi(x) ~ log x - 1/(2x) - sum B_2k / (2k x^2k)
    series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (
        1 / 240 - inv2 * (1 / 132 - inv2 * (691 / 32760 - inv2 / 12))))))
    out = acc + np.log(xr) - 0.5 / xr - series
    with np.errstate(divide="ignore", invalid="ignore"):
        refl = out - np.pi / np.tan(np.pi * x)
    out = np.where(neg, refl, out)
    return np.where(neg & (x == np.floor(x)), np.nan, out)


def _trigamma_np(x: np.ndarray) -> np.ndarray:
    """psi'(x) for x > 0: recurrence psi'(x) = psi'(x + 1) + 1/x^2, then the series."""
    xr = np.asarray(x, dtype=np.float64).copy()
    acc = np.zeros_like(xr)
    while True:
        small = xr < 6.0
        if not small.any():
            break
        safe = np.where(small, xr, 1.0)
        acc += np.where(small, 1.0 / (safe * safe), 0.0)
        xr = np.where(small, xr + 1.0, xr)
    inv = 1.0 / xr
    inv2 = inv * inv
    # psi'(x) ~ 1/x + 1/(2x^2) + sum B_2k / x^(2k+1)
    series = inv + 0.5 * inv2 + inv * inv2 * (1 / 6 - inv2 * (1 / 30 - inv2 * (
        1 / 42 - inv2 * (1 / 30 - inv2 * (5 / 66 - inv2 * (691 / 2730 - inv2 * 7 / 6))))))
    return acc + series


def _cast(out, like):
    return np.asarray(out, dtype=like.dtype if like.dtype.kind == "f" else np.float64)


class Lgamma(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _cast(_lgamma(x), x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * _cast(_digamma_np(x), x)          # d/dx log Gamma(x) = psi(x)


class Digamma(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _cast(_digamma_np(x), x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * _cast(_trigamma_np(x), x)


class Erf(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _cast(_erf(x), x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * (2.0 / math.sqrt(math.pi)) * np.exp(-x * x)


class Erfinv(Function):
    @staticmethod
    def forward(ctx, y):
        # erfinv(y) = Phi^-1((y + 1) / 2) / sqrt(2), Phi^-1 from statistics.NormalDist
        x = _cast(_inv_cdf((np.asarray(y, dtype=np.float64) + 1.0) / 2.0) / math.sqrt(2.0), y)
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * (math.sqrt(math.pi) / 2.0) * np.exp(x * x)   # 1 / erf'(x)


def _tril_half(a):
    """Phi(A): the lower triangle of A with its diagonal halved."""
    out = np.tril(a)
    d = np.einsum("...ii->...i", out)
    d *= 0.5
    return out


class Cholesky(Function):
    @staticmethod
    def forward(ctx, a):
        try:
            lo = np.linalg.cholesky(a)
        except np.linalg.LinAlgError as e:
            raise LaminaValueError("cholesky: the input is not positive-definite (the "
                                   f"factorization failed: {e})") from None
        ctx.save_for_backward(lo)
        return lo

    @staticmethod
    def backward(ctx, g):
        # A = L L^T: Abar = sym(L^-T Phi(L^T Lbar) L^-1)  (Murray 2016, eq. 10)
        (lo,) = ctx.saved
        p = _tril_half(np.swapaxes(lo, -1, -2) @ g)
        linv = np.linalg.inv(lo)
        s = np.swapaxes(linv, -1, -2) @ p @ linv
        return 0.5 * (s + np.swapaxes(s, -1, -2))


class SolveTriangular(Function):
    """X = L^-1 B for lower-triangular L (batched, broadcasting the batch dims)."""

    @staticmethod
    def forward(ctx, lo, b):
        x = np.linalg.solve(lo, b)
        ctx.save_for_backward(lo, x)
        return x

    @staticmethod
    def backward(ctx, g):
        lo, x = ctx.saved
        gb = np.linalg.solve(np.swapaxes(lo, -1, -2), g)          # Bbar = L^-T Xbar
        gl = -np.tril(gb @ np.swapaxes(x, -1, -2)) if ctx.needs_input_grad[0] else None
        return gl, gb


class Inverse(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.linalg.inv(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (inv,) = ctx.saved
        it = np.swapaxes(inv, -1, -2)
        return -(it @ g @ it)                 # d(A^-1) = -A^-1 dA A^-1


class Diagonal(Function):
    """The diagonal of the last two dims (a copy), like ``torch.diagonal(a, dim1=-2, dim2=-1)``."""

    @staticmethod
    def forward(ctx, a):
        ctx.shape = a.shape
        return np.einsum("...ii->...i", a).copy()

    @staticmethod
    def backward(ctx, g):
        out = np.zeros(ctx.shape, dtype=g.dtype)
        np.einsum("...ii->...i", out)[...] = g
        return out


class Softplus(Function):
    """log(1 + exp(x)) without a threshold: max(x, 0) + log1p(exp(-|x|))."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        e = np.exp(-np.abs(x))             # sigmoid(x), computed without overflow
        return g * np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _t(x, name):
    if not isinstance(x, Tensor):
        raise LaminaTypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise LaminaTypeError(f"{name}: expected a floating tensor, got dtype {x.dtype}")
    return x


def _square(x, name):
    _t(x, name)
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise LaminaValueError(f"{name}: expected a (batch of) square matrices, got shape "
                               f"{tuple(x.shape)}")
    return x


def lgamma(x: Tensor) -> Tensor:
    """``log |Gamma(x)|``, elementwise; gradient ``digamma(x)``."""
    return Lgamma.apply(_t(x, "lgamma"))


def digamma(x: Tensor) -> Tensor:
    """``psi(x) = d/dx log Gamma(x)``, elementwise; gradient ``trigamma(x)``."""
    return Digamma.apply(_t(x, "digamma"))


def erf(x: Tensor) -> Tensor:
    """The error function ``2/sqrt(pi) int_0^x exp(-t^2) dt``."""
    return Erf.apply(_t(x, "erf"))


def erfinv(x: Tensor) -> Tensor:
    """The inverse of ``erf`` on (-1, 1) (+-inf at +-1, nan outside)."""
    return Erfinv.apply(_t(x, "erfinv"))


def softplus(x: Tensor) -> Tensor:
    """``log(1 + exp(x))``, exact for every x (no threshold, unlike ``nn.functional``'s)."""
    return Softplus.apply(_t(x, "softplus"))


def xlogy(x, y: Tensor) -> Tensor:
    """``x * log(y)``, 0 where ``x == 0`` (like ``torch.xlogy``)."""
    import lamina
    if isinstance(x, Tensor):
        return lamina.where(x == 0, lamina.zeros_like(y) * 0.0, x * y.log())
    if x == 0:
        return lamina.zeros_like(y)
    return x * y.log()


def cholesky(a: Tensor) -> Tensor:
    """The lower Cholesky factor ``L`` of a symmetric positive-definite ``A = L L^T``."""
    return Cholesky.apply(_square(a, "cholesky"))


def solve_triangular(lo: Tensor, b: Tensor) -> Tensor:
    """``L^-1 B`` for a lower-triangular ``L`` (..., n, n) and ``B`` (..., n, k)."""
    _square(lo, "solve_triangular")
    _t(b, "solve_triangular")
    if b.ndim < 2 or b.shape[-2] != lo.shape[-1]:
        raise LaminaValueError(f"solve_triangular: B of shape {tuple(b.shape)} does not match L of "
                               f"shape {tuple(lo.shape)}: expected B.shape[-2] == {lo.shape[-1]}")
    return SolveTriangular.apply(lo, b)


def inverse(a: Tensor) -> Tensor:
    """The inverse of a (batch of) square matrices."""
    return Inverse.apply(_square(a, "inverse"))


def diagonal(a: Tensor) -> Tensor:
    """The diagonal of the last two dims (..., n, n) -> (..., n)."""
    return Diagonal.apply(_square(a, "diagonal"))


# --- gamma draws with an implicit reparametrization gradient ------------------------------

def _gammainc_scalar(a: float, x: float) -> float:
    """The regularized lower incomplete gamma P(a, x): its series below x = a + 1, a continued
    fraction for Q = 1 - P above (Numerical Recipes, section 6.2)."""
    if x <= 0.0:
        return 0.0
    log_pre = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        ap = a
        for _ in range(1000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return total * math.exp(log_pre)
    tiny = 1e-300
    b = x + 1.0 - a
    c, d = 1.0 / tiny, 1.0 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return 1.0 - math.exp(log_pre) * h


_gammainc = np.vectorize(_gammainc_scalar, otypes=[np.float64])


def standard_gamma_grad(alpha: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``dx/dalpha`` of a Gamma(alpha, 1) draw x at fixed quantile u = P(alpha, x):
    ``-(dP/dalpha) / p(x)`` (implicit reparametrization; Figurnov et al., 2018). ``dP/dalpha``
    by a central difference in float64 (relative error about 1e-9)."""
    a = np.asarray(alpha, dtype=np.float64)
    xx = np.asarray(x, dtype=np.float64)
    h = 1e-5 * np.maximum(a, 1.0)
    h = np.minimum(h, 0.5 * a)
    dp = (_gammainc(a + h, xx) - _gammainc(a - h, xx)) / (2.0 * h)
    log_pdf = (a - 1.0) * np.log(xx) - xx - _lgamma(a)
    return -dp / np.exp(log_pdf)


class StandardGamma(Function):
    """Gamma(alpha, 1) draws ``x`` (given, drawn by the caller) with the implicit gradient
    ``dx/dalpha`` in backward."""

    @staticmethod
    def forward(ctx, alpha, x):
        ctx.save_for_backward(alpha, x)
        return np.asarray(x, dtype=alpha.dtype).copy()

    @staticmethod
    def backward(ctx, g):
        alpha, x = ctx.saved
        return g * standard_gamma_grad(alpha, x).astype(g.dtype), None
