"""What ``lamina.distributions`` needs beyond lamina's public ops: ``solve_triangular`` and
``diagonal`` (no public counterpart yet), and Gamma draws with an implicit reparametrization
gradient (``StandardGamma``).

The distributions use lamina's public ops for the rest: ``lgamma``, ``digamma`` (whose
backward is ``trigamma``, which the Gamma/Beta entropy and KL gradients need), ``erf``,
``erfinv`` and ``xlogy`` from ``lamina.ops.special``; ``cholesky`` and ``inv`` from
``lamina.linalg``; and ``softplus`` below is ``F.softplus`` with no threshold.
"""

from __future__ import annotations

import math

import numpy as np

from lamina.autograd.function import Function
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.ops.nn import softplus as _softplus
from lamina.tensor import Tensor

__all__ = ["solve_triangular", "diagonal", "softplus", "StandardGamma", "standard_gamma_grad"]

_lgamma = np.vectorize(math.lgamma, otypes=[np.float64])


def softplus(x: Tensor) -> Tensor:
    """``log(1 + exp(x))``, exact for every x: ``F.softplus`` with no threshold (its default
    threshold of 20 returns ``x`` above it, about 2e-9 off)."""
    return _softplus(x, threshold=math.inf)


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


def solve_triangular(lo: Tensor, b: Tensor) -> Tensor:
    """``L^-1 B`` for a lower-triangular ``L`` (..., n, n) and ``B`` (..., n, k)."""
    _square(lo, "solve_triangular")
    _t(b, "solve_triangular")
    if b.ndim < 2 or b.shape[-2] != lo.shape[-1]:
        raise LaminaValueError(f"solve_triangular: B of shape {tuple(b.shape)} does not match L of "
                               f"shape {tuple(lo.shape)}: expected B.shape[-2] == {lo.shape[-1]}")
    return SolveTriangular.apply(lo, b)


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
