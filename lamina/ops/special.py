"""More element-wise math: trigonometric and hyperbolic functions, exp/log variants, special
functions (erf, erfc, erfinv, lgamma, digamma), binary math (atan2, fmod, hypot, xlogy...) and
float predicates (isclose, isposinf...).

Each differentiable unary op is one ``Function`` made by ``_unary(name, f, df)``: ``f`` is the
NumPy forward and ``df(x, y)`` the local derivative from the input ``x`` and the output ``y``;
backward is ``g * df(x, y)``. Integer and bool inputs promote to the default float dtype, as
in PyTorch.

The special functions need NumPy alone (no SciPy): ``erf``/``erfc``/``lgamma`` evaluate
Python's ``math`` functions element by element (correctly rounded to within an ulp or two; about
60 ns an element, enough for a reference implementation); ``erfinv`` refines Giles' single-
precision approximation (M. Giles, "Approximating the erfinv function", GPU Computing Gems,
2010) with Halley steps on ``erf``/``erfc``; ``digamma`` and its derivative ``trigamma`` use the
recurrence ``psi(x) = psi(x + 1) - 1/x`` up to ``x >= 10``, then the asymptotic (Bernoulli)
series, with the reflection formula for negative arguments (Abramowitz & Stegun 6.3.5-6.3.18,
6.4.7-6.4.12).
"""

from __future__ import annotations

import math

import numpy as np

from lamina.autograd.function import Function
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.ops.elementwise import (
    _check_tensor,
    _floating,
    _promote,
    cast,
    mul,
    pow,
)
from lamina.tensor import Tensor, _make

__all__ = [
    "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh",
    "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh",
    "exp2", "expm1", "log10", "erf", "erfc", "erfinv", "lgamma", "digamma",
    "trunc", "fix", "frac", "sinc", "nan_to_num",
    "atan2", "arctan2", "logaddexp", "logaddexp2", "fmod", "copysign", "hypot", "xlogy",
    "lerp", "float_power",
    "isposinf", "isneginf", "isclose", "allclose",
]

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


# --- special functions on arrays -----------------------------------------------------------

def _elementwise(fn, x):
    """``fn`` (a Python function of one float, from ``math``) over ``x``, in ``x``'s dtype.
    ``fromiter(map(...))`` over ``tolist()`` costs about 120 ns an element (``np.frompyfunc``,
    which builds an object array, about twice that)."""
    x = np.asarray(x)
    flat = np.asarray(x, np.float64).ravel().tolist()
    out = np.fromiter(map(fn, flat), np.float64, count=len(flat))
    return out.reshape(x.shape).astype(x.dtype, copy=False)


def erf_array(x):
    """erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt."""
    return _elementwise(math.erf, x)


def erfc_array(x):
    """erfc(x) = 1 - erf(x), accurate where erf(x) is near 1."""
    return _elementwise(math.erfc, x)


def erfinv_array(x):
    """The inverse of erf on [-1, 1]: Giles' approximation, then four refining steps (about
    1.3 us an element).

    For ``|x| <= 0.5`` Halley's step for ``f(y) = erf(y) - x``: ``y - f / (f' + y f)`` with
    ``f' = 2/sqrt(pi) exp(-y^2)``. For ``|x| > 0.5`` Newton's step on
    ``log erfc(y) - log(1 - |x|)`` (``1 - |x|`` is exact there), which keeps full relative
    accuracy in the tails where ``erf(y)`` rounds to 1.
    """
    dt = x.dtype
    x = np.asarray(x, np.float64)
    ax = np.abs(x)
    inside = ax < 1
    a = np.where(inside, ax, 0.0)
    with np.errstate(divide="ignore"):
        w = -np.log((1.0 - a) * (1.0 + a))
    # Giles (2010), single-precision branch: central (w < 5) and tail polynomials
    wc = w - 2.5
    pc = 2.81022636e-08
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
              -0.00125372503, -0.00417768164, 0.246640727, 1.50140941):
        pc = c + pc * wc
    wt = np.sqrt(w) - 3.0
    pt = -0.000200214257
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
              -0.0076224613, 0.00943887047, 1.00167406, 2.83297682):
        pt = c + pt * wt
    y = np.asarray(np.where(w < 5.0, pc, pt) * a)      # 0-d stays an array (assigned below)
    tail = a > 0.5
    log_one_minus = np.log(np.where(tail, 1.0 - a, 1.0))
    for _ in range(4):
        d = _TWO_OVER_SQRT_PI * np.exp(-y * y)
        yc, yt = y[~tail], y[tail]
        with np.errstate(invalid="ignore", divide="ignore"):
            # centre: Halley on erf(y) - a; tail: Newton on log erfc(y) - log(1 - a), which is
            # nearly quadratic in y, so it converges where erfc spans hundreds of decades
            f = erf_array(yc) - a[~tail]
            y[~tail] = yc - f / (d[~tail] + yc * f)
            c = erfc_array(yt)
            y[tail] = np.where(d[tail] > 0, yt + (np.log(c) - log_one_minus[tail]) * c / d[tail],
                               yt)
    out = np.copysign(y, x)
    out = np.where(ax == 1, np.copysign(np.inf, x), out)
    out = np.where(inside | (ax == 1), out, np.nan)        # |x| > 1 and NaN give NaN
    return out.astype(dt, copy=False)


def lgamma_array(x):
    """log|Gamma(x)|: ``inf`` at the poles (0, -1, -2...) and at +-inf; Stirling's leading
    terms ``x (log x - 1) - log(x)/2 + log(2 pi)/2`` beyond 1e17 (where ``math.lgamma`` would
    overflow near 2.5e305 and the dropped terms are below double precision)."""
    dt = x.dtype
    x = np.asarray(x, np.float64)
    pole = (x <= 0) & (x == np.floor(x))
    big = (x > 1e17) & (x < np.inf)
    mid = np.isfinite(x) & ~pole & ~big
    out = np.full(x.shape, np.inf)
    out[mid] = _elementwise(math.lgamma, x[mid])
    with np.errstate(over="ignore"):
        xb = x[big]
        out[big] = xb * (np.log(xb) - 1) - 0.5 * np.log(xb) + 0.5 * math.log(2 * math.pi)
    out[np.isnan(x)] = np.nan
    return out.astype(dt, copy=False)


# Bernoulli numbers B_2k / (2k) for digamma's series, and B_2k for trigamma's
_PSI_SERIES = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)
_PSI1_SERIES = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6)


def _reduced(x):
    """``x`` minus its nearest integer, exactly (in [-1/2, 1/2]): tan(pi x) and sin(pi x)^2
    have period 1 in x, and ``pi * r`` for a small ``r`` keeps full relative accuracy near the
    poles, where ``pi * x`` would not."""
    return x - np.round(x)


def digamma_array(x):
    """psi(x) = d/dx log Gamma(x). At 0 it is ``-inf`` (``+inf`` at -0.0), NaN at the negative
    integers and at -inf, as in PyTorch."""
    dt = x.dtype
    x = np.asarray(x, np.float64)
    neg = x < 0
    pole = (x <= 0) & (x == np.floor(x))
    with np.errstate(all="ignore"):
        z = np.where(neg, 1.0 - x, x)           # reflection: psi(x) = psi(1-x) - pi/tan(pi x)
        z = np.where(pole | np.isnan(z), 1.0, z)
        acc = np.zeros_like(z)
        while True:                              # recurrence up to z >= 10
            small = z < 10
            if not small.any():
                break
            acc -= np.where(small, 1.0 / z, 0.0)
            z = np.where(small, z + 1.0, z)
        r = 1.0 / (z * z)
        s = 0.0
        for c in reversed(_PSI_SERIES):
            s = c + s * r
        psi = np.log(z) - 0.5 / z - s * r + acc
        psi = np.where(np.isinf(x) & (x > 0), np.inf, psi)
        psi = np.where(neg, psi - math.pi / np.tan(math.pi * _reduced(x)), psi)
    psi = np.where(pole, np.nan, psi)
    psi = np.where(x == 0, np.copysign(np.inf, -x), psi)
    psi = np.where(np.isnan(x), np.nan, psi)
    return psi.astype(dt, copy=False)


def trigamma_array(x):
    """psi'(x), the derivative of digamma: ``sum_k 1/(x+k)^2``; reflection
    ``psi'(x) = pi^2 / sin^2(pi x) - psi'(1 - x)`` for negative ``x``."""
    dt = x.dtype
    x = np.asarray(x, np.float64)
    neg = x < 0
    pole = (x <= 0) & (x == np.floor(x))
    with np.errstate(all="ignore"):
        z = np.where(neg, 1.0 - x, x)
        z = np.where(pole | np.isnan(z), 1.0, z)
        acc = np.zeros_like(z)
        while True:
            small = z < 10
            if not small.any():
                break
            acc += np.where(small, 1.0 / (z * z), 0.0)
            z = np.where(small, z + 1.0, z)
        r = 1.0 / (z * z)
        s = 0.0
        for c in reversed(_PSI1_SERIES):
            s = c + s * r
        out = 1.0 / z + 0.5 * r + s * r / z + acc
        out = np.where(neg, (math.pi / np.sin(math.pi * _reduced(x))) ** 2 - out, out)
        out = np.where(np.isinf(x) & (x > 0), 0.0, out)
    out = np.where(pole, np.inf, out)
    out = np.where(np.isnan(x), np.nan, out)
    return out.astype(dt, copy=False)


# --- differentiable unary ops ----------------------------------------------------------------

def _unary(name: str, f, df, doc: str):
    """A unary float op: a ``Function`` with forward ``f(x)`` and backward ``g * df(x, y)``,
    and its public function, which promotes integer tensors to the default float dtype."""

    def forward(ctx, a):
        with np.errstate(all="ignore"):
            out = np.asarray(f(a))
        if ctx.needs_input_grad is not None:
            ctx.save_for_backward(a, out)
        return out

    def backward(ctx, g):
        a, out = ctx.saved
        with np.errstate(all="ignore"):
            return (g * df(a, out)).astype(g.dtype, copy=False)

    fn_cls = type(name.capitalize(), (Function,), {
        "forward": staticmethod(forward), "backward": staticmethod(backward),
        "__module__": __name__})

    def op(x) -> Tensor:
        if type(x) is not Tensor or x._data.dtype.kind != "f":
            x = _floating(x, name)
        return fn_cls.apply(x)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    op.Function = fn_cls
    return op


tan = _unary("tan", np.tan, lambda x, y: 1 + y * y, "tan(x); d/dx = 1 + tan(x)^2.")
asin = _unary("asin", np.arcsin, lambda x, y: 1 / np.sqrt(1 - x * x),
              "arcsin(x); d/dx = 1 / sqrt(1 - x^2).")
acos = _unary("acos", np.arccos, lambda x, y: -1 / np.sqrt(1 - x * x),
              "arccos(x); d/dx = -1 / sqrt(1 - x^2).")
atan = _unary("atan", np.arctan, lambda x, y: 1 / (1 + x * x), "arctan(x); d/dx = 1/(1+x^2).")
sinh = _unary("sinh", np.sinh, lambda x, y: np.cosh(x), "sinh(x); d/dx = cosh(x).")
cosh = _unary("cosh", np.cosh, lambda x, y: np.sinh(x), "cosh(x); d/dx = sinh(x).")
asinh = _unary("asinh", np.arcsinh, lambda x, y: 1 / np.sqrt(x * x + 1),
               "arsinh(x); d/dx = 1 / sqrt(x^2 + 1).")
acosh = _unary("acosh", np.arccosh, lambda x, y: 1 / np.sqrt((x - 1) * (x + 1)),
               "arcosh(x) for x >= 1; d/dx = 1 / sqrt((x - 1)(x + 1)).")
atanh = _unary("atanh", np.arctanh, lambda x, y: 1 / (1 - x * x),
               "artanh(x) on (-1, 1); d/dx = 1 / (1 - x^2).")
exp2 = _unary("exp2", np.exp2, lambda x, y: y * _LN2, "2^x; d/dx = 2^x ln 2.")
expm1 = _unary("expm1", np.expm1, lambda x, y: y + 1,
               "exp(x) - 1, accurate near 0; d/dx = exp(x).")
log10 = _unary("log10", np.log10, lambda x, y: 1 / (x * _LN10), "log10(x); d/dx = 1/(x ln 10).")
erf = _unary("erf", erf_array, lambda x, y: _TWO_OVER_SQRT_PI * np.exp(-x * x),
             "The error function; d/dx erf = 2/sqrt(pi) exp(-x^2).")
erfc = _unary("erfc", erfc_array, lambda x, y: -_TWO_OVER_SQRT_PI * np.exp(-x * x),
              "1 - erf(x), accurate for large x; d/dx = -2/sqrt(pi) exp(-x^2).")
erfinv = _unary("erfinv", erfinv_array,
                lambda x, y: 0.5 * math.sqrt(math.pi) * np.exp(y * y),
                "The inverse error function on [-1, 1]; d/dx = sqrt(pi)/2 exp(erfinv(x)^2).")
lgamma = _unary("lgamma", lgamma_array, lambda x, y: digamma_array(x),
                "log|Gamma(x)|; d/dx = digamma(x).")
digamma = _unary("digamma", digamma_array, lambda x, y: trigamma_array(x),
                 "psi(x) = d/dx log Gamma(x); d/dx = trigamma(x).")
arcsin, arccos, arctan = asin, acos, atan
arcsinh, arccosh, arctanh = asinh, acosh, atanh


def _sinc(x):
    return np.sinc(x)       # sin(pi x) / (pi x), 1 at 0


def _dsinc(x, y):
    # d/dx sin(pi x)/(pi x) = (cos(pi x) - sinc(x)) / x, 0 at x = 0
    safe = np.where(x == 0, 1.0, x)
    return np.where(x == 0, 0.0, (np.cos(math.pi * x) - y) / safe)


sinc = _unary("sinc", _sinc, _dsinc, "sin(pi x) / (pi x), 1 at 0.")


def _zero_grad_op(fn, name, doc):
    def op(x) -> Tensor:
        _check_tensor(x, name)
        out = _make(np.asarray(fn(x._data)))
        if x.requires_grad and x._data.dtype.kind == "f":
            return mul(x, 0.0) + out.detach()
        return out

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


trunc = _zero_grad_op(np.trunc, "trunc", "Round towards zero; the gradient is zero.")
fix = trunc


_frac = _unary("frac", lambda x: x - np.trunc(x), lambda x, y: np.ones_like(x),
               "``x - trunc(x)``, with the sign of ``x``; the gradient is 1.")


def frac(x) -> Tensor:
    """``x - trunc(x)``, with the sign of ``x``; the gradient is 1."""
    _check_tensor(x, "frac")
    if x._data.dtype.kind != "f":
        raise LaminaValueError(f"frac: not implemented for '{x.dtype}' tensors")
    return _frac(x)


class NanToNum(Function):
    @staticmethod
    def forward(ctx, a, nan, posinf, neginf):
        ctx.save_for_backward(a)
        return np.nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf)

    @staticmethod
    def backward(ctx, g):
        # the gradient passes where x was finite (PyTorch: grad * isfinite(x))
        return g * np.isfinite(ctx.saved[0]), None, None, None


def nan_to_num(x, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:
    """NaN to ``nan``, +inf to ``posinf`` and -inf to ``neginf`` (default: the dtype's largest
    and lowest finite values)."""
    _check_tensor(x, "nan_to_num")
    for arg, v in (("nan", nan), ("posinf", posinf), ("neginf", neginf)):
        if v is not None and not isinstance(v, (int, float, np.integer, np.floating)):
            raise LaminaTypeError(f"nan_to_num: {arg} must be a number, got {type(v).__name__}")
    if nan is None:  # PyTorch's default, as an explicit None
        nan = 0.0
    if x._data.dtype.kind != "f":
        return _make(x._data.copy())
    return NanToNum.apply(x, nan, posinf, neginf)


# --- binary ops ------------------------------------------------------------------------------

def _binary_float(a, b, name):
    """Promote two operands (tensors or numbers, at least one tensor) to one float dtype."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise LaminaTypeError(f"{name}: expected at least one Tensor, got {type(a).__name__} and "
                              f"{type(b).__name__}")
    return _promote(a, b, name, floating=True)


class Atan2(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.arctan2(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        with np.errstate(all="ignore"):
            r = g / (a * a + b * b)        # d/da atan2(a, b) = b/r^2, d/db = -a/r^2
        na, nb = ctx.needs_input_grad
        return (r * b if na else None), (-r * a if nb else None)


def atan2(input, other) -> Tensor:  # noqa: A002
    """The angle of the point ``(other, input)``: ``arctan(input / other)`` in the right
    quadrant."""
    return Atan2.apply(*_binary_float(input, other, "atan2"))


arctan2 = atan2


class LogAddExp(Function):
    @staticmethod
    def forward(ctx, a, b, base2):
        out = np.logaddexp2(a, b) if base2 else np.logaddexp(a, b)
        ctx.save_for_backward(a, b, out)
        ctx.base2 = base2
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved
        e = np.exp2 if ctx.base2 else np.exp
        # d/da log(e^a + e^b) = e^(a - out); base 2 alike
        with np.errstate(invalid="ignore"):
            na, nb = ctx.needs_input_grad[:2]
            return (g * e(a - out) if na else None), (g * e(b - out) if nb else None), None


def logaddexp(input, other) -> Tensor:  # noqa: A002
    """``log(exp(input) + exp(other))`` without overflow."""
    a, b = _binary_float(input, other, "logaddexp")
    return LogAddExp.apply(a, b, False)


class LogAddExp2(LogAddExp):
    """``LogAddExp`` in base 2, a class of its own so that its errors name ``logaddexp2``."""


def logaddexp2(input, other) -> Tensor:  # noqa: A002
    """``log2(2^input + 2^other)`` without overflow."""
    a, b = _binary_float(input, other, "logaddexp2")
    return LogAddExp2.apply(a, b, True)


class Fmod(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        with np.errstate(all="ignore"):
            return np.fmod(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        na, nb = ctx.needs_input_grad
        gb = None
        if nb:
            # a = trunc(a/b) b + fmod(a, b): d/db fmod = -trunc(a/b)
            with np.errstate(all="ignore"):
                gb = -g * np.trunc(a / b)
        return (g.copy() if na else None), gb


def fmod(input, other) -> Tensor:  # noqa: A002
    """C's ``fmod``: the remainder of ``input / other`` rounded towards zero (the sign of
    ``input``); ``remainder`` rounds towards -inf instead (the sign of ``other``)."""
    if not isinstance(input, Tensor):
        raise LaminaTypeError(f"fmod: expected a Tensor as input, got {type(input).__name__}")
    a, b = _promote(input, other, "fmod")
    if a._data.dtype.kind in "iub":
        bb = b._data if isinstance(b, Tensor) else np.asarray(b)
        try:
            np.broadcast_shapes(a.shape, bb.shape)
        except ValueError:
            raise LaminaValueError(f"fmod: shapes {tuple(a.shape)} and {tuple(bb.shape)} cannot "
                                   "be broadcast together") from None
        if np.any(bb == 0):
            raise LaminaValueError("fmod: ZeroDivisionError")
        # a Python int stays a Python int: NumPy then keeps the tensor's integer dtype
        return _make(np.asarray(np.fmod(a._data, b._data if isinstance(b, Tensor) else b)))
    return Fmod.apply(a, b)


class Copysign(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = np.copysign(a, b)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved
        na, nb = ctx.needs_input_grad
        ga = None
        if na:
            # +-1 where the sign flips; 0 at a == 0 (PyTorch's rule)
            with np.errstate(all="ignore"):
                ga = np.where(a == 0, 0.0, g * (out / np.where(a == 0, 1.0, a)))
            ga = ga.astype(g.dtype, copy=False)
        return ga, (np.zeros_like(g) if nb else None)


def copysign(input, other) -> Tensor:  # noqa: A002
    """``|input|`` with the sign of ``other`` (signed zeros included)."""
    return Copysign.apply(*_binary_float(input, other, "copysign"))


class Hypot(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = np.hypot(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved
        na, nb = ctx.needs_input_grad
        with np.errstate(all="ignore"):
            r = g / out                     # d/da sqrt(a^2 + b^2) = a / out
        return (r * a if na else None), (r * b if nb else None)


def hypot(input, other) -> Tensor:  # noqa: A002
    """``sqrt(input^2 + other^2)`` without overflow. Both must be floating tensors."""
    for v in (input, other):
        if not isinstance(v, Tensor):
            raise LaminaTypeError(f"hypot: expected Tensors, got {type(v).__name__}")
    a, b = _promote(input, other, "hypot")
    if a._data.dtype.kind != "f":
        raise LaminaValueError(f"hypot: not implemented for '{a.dtype}' tensors")
    return Hypot.apply(a, b)


class Xlogy(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        # the tensors' dtype: NumPy would widen a float32 array times log(a Python number)
        dt = np.result_type(*(v for v in (a, b) if isinstance(v, np.ndarray)))
        with np.errstate(all="ignore"):
            out = a * np.log(b)
        return np.where(np.isnan(b), np.nan, np.where(a == 0, 0.0, out)).astype(dt)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        na, nb = ctx.needs_input_grad
        ga = gb = None
        with np.errstate(all="ignore"):
            if na:
                # g log(y), 0 where x == 0 and y <= 0 (PyTorch's rule)
                ga = np.where((a == 0) & (b <= 0), 0.0, g * np.log(b)).astype(g.dtype)
            if nb:
                gb = g * a / b
        return ga, gb


def xlogy(input, other) -> Tensor:  # noqa: A002
    """``input * log(other)``, 0 where ``input == 0`` (unless ``other`` is NaN)."""
    return Xlogy.apply(*_binary_float(input, other, "xlogy"))


class Lerp(Function):
    @staticmethod
    def forward(ctx, a, b, w):
        ctx.save_for_backward(a, b, w)
        # PyTorch's two-branch form (exact at both ends; lerp(0, inf, 1) is NaN as there)
        d = b - a
        with np.errstate(invalid="ignore"):
            if np.ndim(w) == 0:
                return (a + w * d) if abs(w) < 0.5 else (b - d * (1 - w))
            return np.where(np.abs(w) < 0.5, a + w * d, b - d * (1 - w))

    @staticmethod
    def backward(ctx, g):
        a, b, w = ctx.saved
        na, nb, nw = ctx.needs_input_grad
        return ((g * (1 - w)) if na else None, (g * w) if nb else None,
                (g * (b - a)) if nw else None)


def lerp(input, end, weight) -> Tensor:  # noqa: A002
    """``input + weight * (end - input)``; ``weight`` a number or a tensor (all three
    broadcast). The tensors must share one floating dtype."""
    _check_tensor(input, "lerp")
    _check_tensor(end, "lerp")
    if input._data.dtype != end._data.dtype:
        raise LaminaValueError(f"lerp: expected dtype {input.dtype} for `end` but got dtype "
                               f"{end.dtype}")
    if input._data.dtype.kind != "f":
        raise LaminaValueError(f"lerp: not implemented for '{input.dtype}' tensors")
    if isinstance(weight, Tensor):
        if weight._data.dtype != input._data.dtype:
            raise LaminaValueError(f"lerp: expected dtype {input.dtype} for `weight` but got dtype "
                                   f"{weight.dtype}")
    elif not isinstance(weight, (int, float, np.integer, np.floating)):
        raise LaminaTypeError(f"lerp: weight must be a Tensor or a number, got "
                              f"{type(weight).__name__}")
    else:
        weight = float(weight)
    return Lerp.apply(input, end, weight)


def float_power(input, exponent) -> Tensor:  # noqa: A002
    """``input ** exponent`` computed in float64 (the result is always float64)."""
    if not isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        raise LaminaTypeError("float_power: expected at least one Tensor")
    for v in (input, exponent):
        if not isinstance(v, (Tensor, int, float, np.integer, np.floating)):
            raise LaminaTypeError(f"float_power: expected a Tensor or a number, got "
                                  f"{type(v).__name__}")
    if isinstance(input, Tensor) and isinstance(exponent, Tensor):
        try:
            np.broadcast_shapes(input.shape, exponent.shape)
        except ValueError:
            raise LaminaValueError(f"float_power: shapes {tuple(input.shape)} and "
                                   f"{tuple(exponent.shape)} cannot be broadcast "
                                   "together") from None
    a = cast(input, np.float64) if isinstance(input, Tensor) else float(input)
    b = cast(exponent, np.float64) if isinstance(exponent, Tensor) else float(exponent)
    return pow(a, b)


# --- predicates: no gradient -----------------------------------------------------------------

def isposinf(x) -> Tensor:
    """True where ``x`` is +inf."""
    d = _check_tensor(x, "isposinf")._data
    return _make(np.asarray(np.isposinf(d) if d.dtype.kind == "f" else np.zeros(d.shape, bool)))


def isneginf(x) -> Tensor:
    """True where ``x`` is -inf."""
    d = _check_tensor(x, "isneginf")._data
    return _make(np.asarray(np.isneginf(d) if d.dtype.kind == "f" else np.zeros(d.shape, bool)))


def _isclose(name, input, other, rtol, atol, equal_nan) -> np.ndarray:  # noqa: A002
    _check_tensor(input, name)
    _check_tensor(other, name)
    if input._data.dtype != other._data.dtype:
        raise LaminaValueError(f"{name}: {input.dtype} did not match {other.dtype}")
    for arg, v in (("rtol", rtol), ("atol", atol)):
        if not isinstance(v, (int, float, np.integer, np.floating)):
            raise LaminaTypeError(f"{name}: {arg} must be a number, got {type(v).__name__}")
    if rtol < 0 or atol < 0:
        raise LaminaValueError(f"{name}: rtol and atol must be non-negative, got rtol={rtol}, "
                               f"atol={atol}")
    try:
        np.broadcast_shapes(input.shape, other.shape)
    except ValueError:
        raise LaminaValueError(f"{name}: shapes {tuple(input.shape)} and {tuple(other.shape)} "
                               "cannot be broadcast together") from None
    a, b = input._data, other._data
    if a.dtype.kind == "b":
        return np.asarray(a == b)
    with np.errstate(all="ignore"):
        return np.asarray(np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=bool(equal_nan)))


def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08,  # noqa: A002
            equal_nan: bool = False) -> Tensor:
    """``|input - other| <= atol + rtol * |other|`` element-wise (equal infinities are close;
    NaNs are close to each other only with ``equal_nan``). Both must have one dtype."""
    return _make(_isclose("isclose", input, other, rtol, atol, equal_nan))


def allclose(input, other, rtol: float = 1e-05, atol: float = 1e-08,  # noqa: A002
             equal_nan: bool = False) -> bool:
    """True when every element of ``isclose(input, other, ...)`` is."""
    return bool(_isclose("allclose", input, other, rtol, atol, equal_nan).all())

