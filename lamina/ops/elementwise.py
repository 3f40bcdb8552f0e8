"""Elementwise ops: arithmetic, unary math, activations, comparisons, casts and in-place ops.

Binary ops broadcast like NumPy and promote dtypes like PyTorch (a float32 tensor times a
Python float stays float32; an int64 tensor plus 0.5 becomes float32; float32 with float64
becomes float64). The engine sums each gradient back to its input's shape.
"""

from __future__ import annotations

import numbers

import numpy as np

from lamina import dispatch
from lamina.autograd.function import Function
from lamina.autograd.grad_mode import GradMode, set_grad_enabled
from lamina.backend import (
    _category,
    as_dtype,
    get_default_dtype,
    is_floating,
    result_dtype,
    scalar_name,
    scalar_result_dtype,
)
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor, _make, _to_array

__all__ = [
    "add", "sub", "mul", "div", "true_divide", "pow", "neg", "exp", "log", "log1p", "log2",
    "sqrt", "rsqrt", "abs", "sign", "sin", "cos", "tanh", "sigmoid", "relu", "leaky_relu",
    "clamp", "clip", "maximum", "minimum", "where", "square", "reciprocal", "floor", "ceil",
    "round", "floor_divide", "remainder",
    "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not",
    "logical_xor", "bitwise_and", "bitwise_or", "isnan", "isinf", "isfinite",
    "cast", "clone",
    "add_", "sub_", "mul_", "div_", "pow_", "neg_", "exp_", "sqrt_", "zero_", "fill_",
    "copy_", "clamp_",
]

_PY_SCALARS = (int, float, bool)


def _scalar(x):
    """A Python scalar for ``x`` if it is one (NumPy scalars become Python ones), else None."""
    if type(x) in _PY_SCALARS:
        return x
    if isinstance(x, (numbers.Number, np.generic)) and not isinstance(x, complex):
        return x.item() if isinstance(x, np.generic) else x
    return None


def _as_tensor(x, op: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    try:
        return _make(_to_array(x, copy=False))
    except (TypeError, ValueError) as e:
        raise LaminaTypeError(
            f"{op}: expected a Tensor or a number, got {type(x).__name__}"
        ) from e


def _promote(a, b, op: str, floating: bool = False):
    """Bring two operands (tensors or Python scalars) to one dtype, PyTorch's way.

    Returns ``(a, b)`` where every tensor has the result dtype; scalars stay Python scalars.
    With ``floating`` an integer result is promoted to the default float dtype (true division).
    """
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            da, db = a._data.dtype, b._data.dtype
            if da is db and (not floating or da.kind == "f"):
                return a, b
            rd = result_dtype(da, a._data.ndim > 0, db, b._data.ndim > 0)
        else:
            s = _scalar(b)
            if s is None:
                return _promote(a, _as_tensor(b, op), op, floating)
            b = s
            da = a._data.dtype
            rd = scalar_result_dtype(da, b)
            if rd is da and (not floating or da.kind == "f"):
                return a, (_wrapped_int(b, rd) if type(b) is int and rd.kind in "iu" else b)
    elif isinstance(b, Tensor):
        s = _scalar(a)
        if s is None:
            return _promote(_as_tensor(a, op), b, op, floating)
        a = s
        rd = scalar_result_dtype(b._data.dtype, a)
    else:
        return _promote(_as_tensor(a, op), b, op, floating)
    if floating and not is_floating(rd):
        rd = get_default_dtype()
    if isinstance(a, Tensor) and a._data.dtype != rd:
        a = cast(a, rd)
    if isinstance(b, Tensor) and b._data.dtype != rd:
        b = cast(b, rd)
    if is_floating(rd):
        a = float(a) if type(a) in _PY_SCALARS else a
        b = float(b) if type(b) in _PY_SCALARS else b
    elif rd.kind in "iu":
        a = _wrapped_int(a, rd) if type(a) is int else a
        b = _wrapped_int(b, rd) if type(b) is int else b
    return a, b


def _wrapped_int(v: int, rd: np.dtype) -> int:
    """A Python int as PyTorch casts it to an integer result dtype: modulo 2^bits, so that an
    int8 tensor plus 1000 wraps around as in PyTorch (NumPy raises OverflowError instead)."""
    info = np.iinfo(rd)
    if info.min <= v <= info.max:
        return v
    return (v - int(info.min)) % (1 << info.bits) + int(info.min)


# --- binary arithmetic ---------------------------------------------------------------------

class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        n = ctx.needs_input_grad
        if n is not None:
            # each gradient needs only the other factor (as in PyTorch)
            ctx.saved = (a if n[1] else None, b if n[0] else None)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        na, nb = ctx.needs_input_grad
        return (g * b if na else None), (g * a if nb else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = a / b
        ctx.save_for_backward(b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        b, out = ctx.saved
        na, nb = ctx.needs_input_grad
        ga = g / b if na else None
        gb = -g * out / b if nb else None  # d(a/b)/db = -a/b^2 = -out/b
        return ga, gb


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = a ** b
        n = ctx.needs_input_grad
        if n is not None:
            # the exponent's gradient needs the output too; a's needs only a and b
            ctx.saved = (a, b, out if n[1] else None)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved
        na, nb = ctx.needs_input_grad
        ga = gb = None
        if na:
            if isinstance(b, np.ndarray):
                # d/da a^b = b * a^(b-1), defined as 0 where b == 0 (PyTorch's convention)
                with np.errstate(divide="ignore", invalid="ignore"):
                    ga = g * b * a ** (b - 1)
                ga = np.where(b == 0, 0.0, ga).astype(g.dtype, copy=False)
            elif b == 0:
                ga = np.zeros_like(g)
            elif b == 2:
                ga = g * (2 * a)
            else:
                ga = g * (b * a ** (b - 1))
        if nb:
            # d/db a^b = a^b * log(a), defined as 0 where a == 0 and b >= 0
            with np.errstate(divide="ignore", invalid="ignore"):
                lg = g * out * np.log(a)
            gb = np.where((np.asarray(a) == 0) & (b >= 0), 0.0, lg).astype(g.dtype, copy=False)
        return ga, gb


def _ready(a, b) -> bool:
    """True when ``a`` and ``b`` need no promotion: two tensors of one non-bool dtype, or a
    float tensor with a Python number, or an int64 tensor with a Python int. This is the
    common case, checked first to keep per-op overhead low. (Narrower integer tensors with a
    Python int go through ``_promote``, which wraps an out-of-range int as PyTorch does.)"""
    if type(a) is Tensor or isinstance(a, Tensor):
        d = a._data.dtype
        if type(b) is Tensor or isinstance(b, Tensor):
            return d is b._data.dtype and d.kind != "b"
        t = type(b)
        k = d.kind
        return (t is float and k == "f" and d.itemsize > 2) or \
            (t is int and ((k == "f" and d.itemsize > 2) or d is _INT64))
    if isinstance(b, Tensor):
        d = b._data.dtype
        t = type(a)
        k = d.kind
        return (t is float and k == "f" and d.itemsize > 2) or \
            (t is int and ((k == "f" and d.itemsize > 2) or d is _INT64))
    return False


def _half_with_number(a, b):
    """The dtype when one operand is a float16/bfloat16 tensor and the other a Python number,
    else None. PyTorch multiplies and divides such operands in float32 (its "opmath" type)
    with the number unrounded, then rounds once: ``float16(1e-4) * 1e6`` is 100, not
    ``1e-4 * inf`` (its add and sub round the number to the half dtype first, as NumPy)."""
    for t, v in ((a, b), (b, a)):
        if type(v) in _PY_SCALARS and isinstance(t, Tensor):
            d = t._data.dtype
            return d if d.itemsize == 2 and is_floating(d) else None
    return None


def _in_float32(fn, a, b, d):
    """``fn(a, b)`` with the tensor operand widened to float32, rounded back to ``d``."""
    a = cast(a, np.float32) if isinstance(a, Tensor) else a
    b = cast(b, np.float32) if isinstance(b, Tensor) else b
    return cast(fn.apply(a, b), d)


_INT64 = np.dtype(np.int64)


def add(a, b, alpha=None) -> Tensor:
    """``a + alpha * b`` with broadcasting."""
    if alpha is None and _ready(a, b):
        return Add.apply(a, b)
    if alpha is not None and alpha != 1:
        b = mul(b, alpha)
    a, b = _promote(a, b, "add")
    return Add.apply(a, b)


def sub(a, b, alpha=None) -> Tensor:
    """``a - alpha * b`` with broadcasting."""
    if alpha is None and _ready(a, b):
        return Sub.apply(a, b)
    if _is_bool(a) or _is_bool(b):
        raise LaminaValueError("sub: subtraction, the `-` operator, with a bool tensor is not "
                               "supported; to invert a mask use `~` or logical_not() instead")
    if alpha is not None and alpha != 1:
        b = mul(b, alpha)
    a, b = _promote(a, b, "sub")
    return Sub.apply(a, b)


def mul(a, b) -> Tensor:
    if _ready(a, b):
        return Mul.apply(a, b)
    a, b = _promote(a, b, "mul")
    h = _half_with_number(a, b)
    return Mul.apply(a, b) if h is None else _in_float32(Mul, a, b, h)


def div(a, b, rounding_mode=None) -> Tensor:
    """True division; ``rounding_mode='floor'`` or ``'trunc'`` as in PyTorch (no gradient)."""
    if rounding_mode is not None:
        if rounding_mode not in ("floor", "trunc"):
            raise LaminaValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', got "
                                   f"{rounding_mode!r}")
        a, b = _promote(a, b, "div")
        _check_int_divisor(a, b, "div")
        fn = np.floor_divide if rounding_mode == "floor" else _trunc_div
        return _nograd(fn, a, b)
    if _ready(a, b) and (a._data.dtype.kind if isinstance(a, Tensor) else
                         b._data.dtype.kind) == "f":
        return Div.apply(a, b)
    a, b = _promote(a, b, "div", floating=True)
    h = _half_with_number(a, b)
    return Div.apply(a, b) if h is None else _in_float32(Div, a, b, h)


true_divide = div


def _trunc_div(a, b):
    q = np.true_divide(a, b)
    q = np.trunc(q)
    return q.astype(np.result_type(a, b), copy=False)


def _check_int_divisor(a, b, op) -> None:
    """PyTorch raises for an integer division or remainder by zero; NumPy gives 0 and warns."""
    ad = a._data if isinstance(a, Tensor) else np.asarray(a)
    bd = b._data if isinstance(b, Tensor) else np.asarray(b)
    if ad.dtype.kind in "iub" and bd.dtype.kind in "iub" and bd.size and not bd.all():
        raise LaminaValueError(f"{op}: ZeroDivisionError (integer division or remainder by zero)")


def floor_divide(a, b) -> Tensor:
    a, b = _promote(a, b, "floor_divide")
    _check_int_divisor(a, b, "floor_divide")
    return _nograd(np.floor_divide, a, b)


class Remainder(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        with np.errstate(all="ignore"):
            return np.remainder(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        na, nb = ctx.needs_input_grad
        gb = None
        if nb:
            # a = floor(a/b) b + remainder(a, b): d/db remainder = -floor(a/b)
            with np.errstate(all="ignore"):
                gb = -g * np.floor_divide(a, b)
        return (g.copy() if na else None), gb


def remainder(a, b) -> Tensor:
    """Python's ``%``: the remainder of ``a / b`` rounded towards -inf (the sign of ``b``);
    differentiable for floating tensors."""
    a, b = _promote(a, b, "remainder")
    if any(isinstance(v, Tensor) and is_floating(v._data.dtype) for v in (a, b)):
        return Remainder.apply(a, b)
    _check_int_divisor(a, b, "remainder")
    return _nograd(np.remainder, a, b)


def pow(a, b) -> Tensor:
    """``a ** b``; either side may be a tensor or a Python number."""
    if _ready(a, b) and (a._data.dtype.kind if isinstance(a, Tensor) else
                         b._data.dtype.kind) == "f":
        return Pow.apply(a, b)
    a, b = _promote(a, b, "pow")
    if all(isinstance(v, bool) or (isinstance(v, Tensor) and v._data.dtype.kind == "b")
           for v in (a, b)):  # NumPy would answer in int8, a dtype lamina does not have
        raise LaminaValueError("pow: not implemented for two bool operands")
    if isinstance(a, Tensor) and a._data.dtype.kind in "iu":
        bb = b._data if isinstance(b, Tensor) else b
        if np.any(np.asarray(bb) < 0):
            raise LaminaValueError("pow: integers to negative integer powers are not allowed")
    return Pow.apply(a, b)


def _is_bool(x) -> bool:
    return isinstance(x, Tensor) and x._data.dtype.kind == "b"


# --- unary math ------------------------------------------------------------------------------

def _check_tensor(x, op: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise LaminaTypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    return x


def _floating(x, op: str) -> Tensor:
    """Unary float math promotes integer/bool tensors to the default float dtype."""
    _check_tensor(x, op)
    if not is_floating(x._data.dtype):
        return cast(x, get_default_dtype())
    return x


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved[0]


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(a)

    @staticmethod
    def backward(ctx, g):
        with np.errstate(divide="ignore"):
            return g / ctx.saved[0]


class Log1p(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log1p(a)

    @staticmethod
    def backward(ctx, g):
        with np.errstate(divide="ignore"):
            return g / (1 + ctx.saved[0])


class Log2(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log2(a)

    @staticmethod
    def backward(ctx, g):
        a = ctx.saved[0]
        with np.errstate(divide="ignore"):
            return g / (a * np.log(2.0).astype(a.dtype))


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        with np.errstate(invalid="ignore"):
            out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        with np.errstate(divide="ignore"):
            return g / (2 * ctx.saved[0])


class Rsqrt(Function):
    @staticmethod
    def forward(ctx, a):
        with np.errstate(divide="ignore", invalid="ignore"):
            out = 1 / np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out = ctx.saved[0]
        return -0.5 * g * out * out * out  # d/da a^(-1/2) = -1/2 a^(-3/2)


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, g):
        return g * np.sign(ctx.saved[0])


class Sin(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.sin(a)

    @staticmethod
    def backward(ctx, g):
        return g * np.cos(ctx.saved[0])


class Cos(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.cos(a)

    @staticmethod
    def backward(ctx, g):
        return -g * np.sin(ctx.saved[0])


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.saved = (out,)
        return out

    @staticmethod
    def backward(ctx, g):
        y = ctx.saved[0]
        return g * (1 - y * y)  # d/dx tanh = 1 - tanh^2


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, a):
        # 1 / (1 + exp(-a)). Where exp(-a) overflows to inf the reciprocal is exactly 0, as
        # in PyTorch (sigmoid(-inf) == 0); the overflow is expected, so not warned about. In
        # place on one buffer, with array-only ufuncs where possible (scalar operands cost
        # more per call).
        out = np.negative(a)
        if type(out) is not np.ndarray:         # 0-d input: NumPy returned a scalar
            out = np.asarray(out)
        with np.errstate(over="ignore"):
            np.exp(out, out=out)
        np.add(out, 1.0, out=out)
        np.reciprocal(out, out=out)
        ctx.saved = (out,)
        return out

    @staticmethod
    def backward(ctx, g):
        y = ctx.saved[0]
        return g * y * (1 - y)  # d/dx sigmoid = y (1 - y)


class Sign(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.asarray(np.sign(a))            # a 0-d input gives a NumPy scalar
        if out.dtype.kind == "f":
            np.copyto(out, 0, where=out != out)     # sign(nan) is 0, as in PyTorch
        return out

    @staticmethod
    def backward(ctx, g):
        return np.zeros_like(g)                 # piecewise constant: zero gradient


class Relu(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.maximum(a, 0)
        ctx.saved = (out,)
        return out

    @staticmethod
    def backward(ctx, g):
        out = ctx.saved[0]
        return g * (out > 0)        # d/dx max(x, 0): 1 where the output is positive


class LeakyRelu(Function):
    @staticmethod
    def forward(ctx, a, slope):
        ctx.save_for_backward(a)
        ctx.slope = slope
        return np.where(a > 0, a, a * slope)

    @staticmethod
    def backward(ctx, g):
        a = ctx.saved[0]
        return np.where(a > 0, g, g * ctx.slope), None


class Clamp(Function):
    @staticmethod
    def forward(ctx, a, lo, hi):
        ctx.save_for_backward(a)
        ctx.lo, ctx.hi = lo, hi
        return np.clip(a, lo, hi).astype(a.dtype, copy=False)   # bfloat16 stays bfloat16

    @staticmethod
    def backward(ctx, g):
        a = ctx.saved[0]
        lo, hi = ctx.lo, ctx.hi
        # the gradient passes where lo <= a <= hi (both ends inclusive, as in PyTorch)
        if lo is None:
            mask = a <= hi
        elif hi is None:
            mask = a >= lo
        else:
            mask = (a >= lo) & (a <= hi)
        return g * mask, None, None


class Maximum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.maximum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        # ties split the gradient equally between both inputs (PyTorch's rule)
        half = np.where(a == b, g / 2, g)
        na, nb = ctx.needs_input_grad
        return (np.where(a < b, 0, half) if na else None,
                np.where(a > b, 0, half) if nb else None)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.minimum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        half = np.where(a == b, g / 2, g)
        na, nb = ctx.needs_input_grad
        return (np.where(a > b, 0, half) if na else None,
                np.where(a < b, 0, half) if nb else None)


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        cond = ctx.saved[0]
        _, na, nb = ctx.needs_input_grad
        return (None,
                np.where(cond, g, 0) if na else None,
                np.where(cond, 0, g) if nb else None)


class Cast(Function):
    @staticmethod
    def forward(ctx, a, dtype):
        ctx.src = a.dtype
        return _astype(a, dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.src), None


def _astype(a: np.ndarray, dtype) -> np.ndarray:
    """``a.astype(dtype)`` with PyTorch's conversions: floats truncate toward zero into
    integers; a NaN, an infinity or an out-of-range float has no defined integer value (as in
    PyTorch, whose answer is platform dependent too) and is not warned about."""
    with np.errstate(invalid="ignore", over="ignore"):
        if a.dtype.kind == "V" and dtype.kind in "iu":
            a = a.astype(np.float32)        # bfloat16 -> int through float32, as PyTorch
        return a.astype(dtype)


class Clone(Function):
    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, g):
        return g


def neg(x) -> Tensor:
    _check_tensor(x, "neg")
    if x._data.dtype.kind == "b":
        raise LaminaValueError("neg: negation of a bool tensor is not supported; use ~ or "
                               "logical_not instead")
    return Neg.apply(x)


def exp(x) -> Tensor:
    if type(x) is not Tensor or x._data.dtype.kind != "f":
        x = _floating(x, "exp")
    return Exp.apply(x)


def log(x) -> Tensor:
    if type(x) is not Tensor or x._data.dtype.kind != "f":
        x = _floating(x, "log")
    return Log.apply(x)


def log1p(x) -> Tensor:
    if type(x) is not Tensor or x._data.dtype.kind != "f":
        x = _floating(x, "log1p")
    return Log1p.apply(x)


def log2(x) -> Tensor:
    if type(x) is not Tensor or x._data.dtype.kind != "f":
        x = _floating(x, "log2")
    return Log2.apply(x)


def sqrt(x) -> Tensor:
    if type(x) is not Tensor or x._data.dtype.kind != "f":
        x = _floating(x, "sqrt")
    return Sqrt.apply(x)


def rsqrt(x) -> Tensor:
    if type(x) is not Tensor or x._data.dtype.kind != "f":
        x = _floating(x, "rsqrt")
    return Rsqrt.apply(x)


def abs(x) -> Tensor:
    _check_tensor(x, "abs")
    if x._data.dtype.kind == "b":
        raise LaminaValueError("abs: not implemented for bool tensors")
    return Abs.apply(x)


def sign(x) -> Tensor:
    """Sign of each element (-1, 0 or 1); its gradient is zero everywhere."""
    _check_tensor(x, "sign")
    if x._data.dtype.kind == "b":
        raise LaminaValueError("sign: not implemented for bool tensors")
    if x.requires_grad and GradMode.enabled:
        return Sign.apply(x)
    return _make(Sign.forward(None, x._data))


def sin(x) -> Tensor:
    if type(x) is not Tensor or x._data.dtype.kind != "f":
        x = _floating(x, "sin")
    return Sin.apply(x)


def cos(x) -> Tensor:
    if type(x) is not Tensor or x._data.dtype.kind != "f":
        x = _floating(x, "cos")
    return Cos.apply(x)


def tanh(x) -> Tensor:
    if type(x) is not Tensor or x._data.dtype.kind != "f":
        x = _floating(x, "tanh")
    return Tanh.apply(x)


def sigmoid(x) -> Tensor:
    if type(x) is not Tensor or x._data.dtype.kind != "f":
        x = _floating(x, "sigmoid")
    return Sigmoid.apply(x)


def relu(x) -> Tensor:
    _check_tensor(x, "relu")
    if x._data.dtype.kind == "b":
        raise LaminaValueError("relu: not implemented for bool tensors")
    return dispatch.select("relu", Relu, x._data).apply(x)


def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    """``x`` where positive, ``negative_slope * x`` elsewhere."""
    return LeakyRelu.apply(_floating(x, "leaky_relu"), float(negative_slope))


def square(x) -> Tensor:
    """``x * x``; a bool tensor is squared as int64, as in PyTorch."""
    if isinstance(x, Tensor) and x._data.dtype.kind == "b":
        x = _make(x._data.astype(np.int64))
    return mul(x, x)


def reciprocal(x) -> Tensor:
    return div(1.0, _floating(x, "reciprocal"))


def _rounding(fn, name):
    def op(x) -> Tensor:
        """Rounds elementwise; the gradient is zero (as in PyTorch)."""
        _check_tensor(x, name)
        out = _make(fn(x._data))
        if x.requires_grad and GradMode.enabled:
            return mul(x, 0.0) + out.detach()
        return out

    op.__name__ = name
    return op


floor = _rounding(np.floor, "floor")
ceil = _rounding(np.ceil, "ceil")
round = _rounding(np.round, "round")  # noqa: A001  (half to even, like torch.round)


def _bound(v, x, op):
    if v is None or isinstance(v, Tensor):
        return v
    s = _scalar(v)
    if s is None:
        raise LaminaTypeError(f"{op}: min/max must be numbers or tensors, got {type(v).__name__}")
    return s


def clamp(x, min=None, max=None) -> Tensor:  # noqa: A002
    """Limit every element to ``[min, max]``; the gradient passes where ``min <= x <= max``."""
    _check_tensor(x, "clamp")
    if min is None and max is None:
        raise LaminaValueError("clamp: at least one of 'min' or 'max' must not be None")
    lo, hi = _bound(min, x, "clamp"), _bound(max, x, "clamp")
    if isinstance(lo, Tensor) or isinstance(hi, Tensor):
        # ties send the gradient to x, as PyTorch's clamp does
        out = x
        if lo is not None:
            out = where(ge(out, lo), out, lo)
        if hi is not None:
            out = where(le(out, hi), out, hi)
        return out
    if not is_floating(x._data.dtype) and any(isinstance(v, float) for v in (lo, hi)):
        x = cast(x, get_default_dtype())
    if x._data.dtype.kind in "iu":
        for v in (lo, hi):
            if type(v) is int and _wrapped_int(v, x._data.dtype) != v:
                raise LaminaValueError(f"clamp: value {v} cannot be converted to "
                                       f"{x._data.dtype} without overflow")
    if is_floating(x._data.dtype):
        lo = None if lo is None else float(lo)
        hi = None if hi is None else float(hi)
    return Clamp.apply(x, lo, hi)


clip = clamp


def maximum(a, b) -> Tensor:
    _check_tensor(a, "maximum")
    _check_tensor(b, "maximum")
    a, b = _promote(a, b, "maximum")
    return Maximum.apply(a, b)


def minimum(a, b) -> Tensor:
    _check_tensor(a, "minimum")
    _check_tensor(b, "minimum")
    a, b = _promote(a, b, "minimum")
    return Minimum.apply(a, b)


def where(condition, input=None, other=None) -> Tensor:  # noqa: A002
    """``input`` where ``condition`` is true, else ``other`` (all three broadcast)."""
    if input is None and other is None:
        from lamina.ops.indexing import nonzero
        return nonzero(condition, as_tuple=True)
    cond = _as_tensor(condition, "where")
    if cond._data.dtype.kind != "b":
        raise LaminaTypeError(f"where: expected condition to be a bool tensor, got {cond.dtype}")
    a, b = _promote(input, other, "where")
    _check_fits((input, other), (a, b), "where")
    try:
        np.broadcast_shapes(cond.shape, np.shape(_raw(a)), np.shape(_raw(b)))
    except ValueError:
        raise LaminaValueError(
            f"where: shapes {tuple(cond.shape)} (condition), {np.shape(_raw(a))} (input) and "
            f"{np.shape(_raw(b))} (other) cannot be broadcast together"
        ) from None
    return Where.apply(cond, a, b)


def _check_fits(given, promoted, op: str) -> None:
    """PyTorch refuses a Python int that an integer result dtype cannot hold in ``where``
    and ``clamp`` (``add`` wraps it around instead): ``_promote`` wrapped it; raise here."""
    for v, p in zip(given, promoted):
        if type(v) is int and type(p) is int and v != p:
            raise LaminaValueError(f"{op}: value {v} cannot be converted to the integer "
                                   "result dtype without overflow")


def _raw(x):
    return x._data if isinstance(x, Tensor) else x


def cast(x, dtype) -> Tensor:
    """A copy of ``x`` with ``dtype``; differentiable between floating dtypes.

    Conversions are PyTorch's: float to integer truncates toward zero, anything to bool is
    ``!= 0`` (NaN is True), integers wrap around modulo 2^bits when narrowed.
    """
    dtype = as_dtype(dtype)
    if x._data.dtype == dtype:
        return x
    if not is_floating(dtype) or not is_floating(x._data.dtype):
        return _make(_astype(x._data, dtype))
    return Cast.apply(x, dtype)


def clone(x) -> Tensor:
    return Clone.apply(_check_tensor(x, "clone"))


# --- comparisons and logic: no gradient ------------------------------------------------------

def _nograd(fn, a, b) -> Tensor:
    try:
        return _make(np.asarray(fn(_raw(a), _raw(b))))
    except ValueError:
        raise LaminaValueError(
            f"{fn.__name__}: shapes {np.shape(_raw(a))} and {np.shape(_raw(b))} cannot be "
            "broadcast together"
        ) from None


def _compare(fn, name):
    def op(a, b) -> Tensor:
        a, b = _promote(a, b, name)
        return _nograd(fn, a, b)

    op.__name__ = name
    op.__doc__ = f"Elementwise ``{name}``; returns a bool tensor (no gradient)."
    return op


eq = _compare(np.equal, "eq")
ne = _compare(np.not_equal, "ne")
lt = _compare(np.less, "lt")
le = _compare(np.less_equal, "le")
gt = _compare(np.greater, "gt")
ge = _compare(np.greater_equal, "ge")


def _logical(fn, name):
    def op(a, b) -> Tensor:
        return _nograd(fn, _as_tensor(a, name), _as_tensor(b, name))

    op.__name__ = name
    return op


logical_and = _logical(np.logical_and, "logical_and")
logical_or = _logical(np.logical_or, "logical_or")
logical_xor = _logical(np.logical_xor, "logical_xor")


def bitwise_and(a, b) -> Tensor:
    a, b = _promote(a, b, "bitwise_and")
    if any(isinstance(v, Tensor) and is_floating(v._data.dtype) for v in (a, b)):
        raise LaminaTypeError("bitwise_and: not implemented for floating tensors")
    return _nograd(np.bitwise_and, a, b)


def bitwise_or(a, b) -> Tensor:
    a, b = _promote(a, b, "bitwise_or")
    if any(isinstance(v, Tensor) and is_floating(v._data.dtype) for v in (a, b)):
        raise LaminaTypeError("bitwise_or: not implemented for floating tensors")
    return _nograd(np.bitwise_or, a, b)


def logical_not(x) -> Tensor:
    return _make(np.logical_not(_as_tensor(x, "logical_not")._data))


def isnan(x) -> Tensor:
    return _make(np.isnan(_check_tensor(x, "isnan")._data))


def isinf(x) -> Tensor:
    return _make(np.isinf(_check_tensor(x, "isinf")._data))


def isfinite(x) -> Tensor:
    return _make(np.isfinite(_check_tensor(x, "isfinite")._data))


# --- in-place ops ----------------------------------------------------------------------------

def _bump(t: Tensor) -> None:
    if t._vc is not None:
        t._vc[0] += 1


def _inplace(t: Tensor, op_name: str, out_of_place, *args) -> Tensor:
    """Run ``out_of_place(t, *args)`` and write its result into ``t``'s memory.

    Follows PyTorch's rules: a leaf that requires grad cannot be changed in place while grad
    mode is on; changing a tensor whose value a recorded op saved bumps its version, and that
    op's backward then raises instead of computing a wrong gradient.
    """
    _check_tensor(t, op_name)
    others_rg = any(isinstance(a, Tensor) and a.requires_grad for a in args)
    record = GradMode.enabled and (t.requires_grad or others_rg)
    if record and t.requires_grad and t._ctx is None:
        raise LaminaValueError(
            f"{op_name}: a leaf Variable that requires grad is being used in an in-place "
            "operation (wrap it in lamina.no_grad() or use the out-of-place op)"
        )
    if record and t._ctx is not None and t._ctx.is_view:
        raise LaminaValueError(
            f"{op_name}: in-place modification of a view of a tensor that requires grad is not "
            "supported by lamina (PyTorch rewrites the base's graph here); use the "
            "out-of-place op instead"
        )
    if record:
        # the recorded op reads a snapshot of t, then t takes its place in the graph
        old = _make(t._data.copy(), t.requires_grad)
        old._ctx, old._out_idx = t._ctx, t._out_idx
        with set_grad_enabled(True):
            r = out_of_place(old, *args)
        _write(t, r._data, op_name)
        if t._ctx is not None:
            # nodes recorded before r still reach t's old grad_fn (autograd.engine.edge)
            t._prev = (r._ctx.seq, t._ctx, t._out_idx, t._prev)
        t._ctx, t._out_idx, t.requires_grad = r._ctx, r._out_idx, True
        return t
    with set_grad_enabled(False):
        r = out_of_place(t, *args)
    _write(t, r._data, op_name)
    return t


def _write(t: Tensor, value: np.ndarray, op_name: str) -> None:
    if value.dtype != t._data.dtype and _category(value.dtype) > _category(t._data.dtype):
        raise LaminaValueError(
            f"{op_name}: result type {scalar_name(value.dtype)} can't be cast to the desired "
            f"output type {scalar_name(t._data.dtype)}"
        )
    if value.shape != t._data.shape:
        try:
            np.broadcast_to(value, t._data.shape)
        except ValueError:
            raise LaminaValueError(
                f"{op_name}: output with shape {t._data.shape} doesn't match the broadcast "
                f"shape {value.shape}"
            ) from None
    np.copyto(t._data, value, casting="unsafe")
    _bump(t)


def _fast_inplace(t, ufunc, other, op_name: str):
    """``t <op>= other`` straight into ``t``'s memory when no graph is involved.

    Returns None when the slow, general path must run instead.
    """
    if not isinstance(t, Tensor):
        raise LaminaTypeError(f"{op_name}: expected a Tensor, got {type(t).__name__}")
    if GradMode.enabled and (t.requires_grad or
                             (isinstance(other, Tensor) and other.requires_grad)):
        return None
    if isinstance(other, Tensor):
        o = other._data
        if o.dtype is not t._data.dtype and _category(o.dtype) > _category(t._data.dtype):
            return None                     # the general path raises the clear error
    elif type(other) in _PY_SCALARS:
        o = other
        if (isinstance(o, float) and t._data.dtype.kind != "f") or \
                (type(o) is int and t._data.dtype.kind != "f" and t._data.dtype is not _INT64):
            return None         # the general path raises the clear error or wraps the int
    else:
        return None
    if ufunc is np.true_divide and t._data.dtype.kind != "f":
        return None
    try:
        ufunc(t._data, o, out=t._data)
    except (ValueError, TypeError):
        return None                         # shape or bool mismatch: the general path explains
    if t._vc is not None:
        t._vc[0] += 1
    return t


def add_(t, other, alpha=None) -> Tensor:
    if alpha is None and _fast_inplace(t, np.add, other, "add_") is not None:
        return t
    return _inplace(t, "add_", lambda x, o: add(x, o, alpha=alpha), other)


def sub_(t, other, alpha=None) -> Tensor:
    if alpha is None and _fast_inplace(t, np.subtract, other, "sub_") is not None:
        return t
    return _inplace(t, "sub_", lambda x, o: sub(x, o, alpha=alpha), other)


def mul_(t, other) -> Tensor:
    if _fast_inplace(t, np.multiply, other, "mul_") is not None:
        return t
    return _inplace(t, "mul_", mul, other)


def div_(t, other) -> Tensor:
    if _fast_inplace(t, np.true_divide, other, "div_") is not None:
        return t
    return _inplace(t, "div_", div, other)


def pow_(t, other) -> Tensor:
    return _inplace(t, "pow_", pow, other)


def neg_(t) -> Tensor:
    return _inplace(t, "neg_", neg)


def exp_(t) -> Tensor:
    return _inplace(t, "exp_", exp)


def sqrt_(t) -> Tensor:
    return _inplace(t, "sqrt_", sqrt)


def clamp_(t, min=None, max=None) -> Tensor:  # noqa: A002
    return _inplace(t, "clamp_", lambda x: clamp(x, min, max))


def zero_(t) -> Tensor:
    return fill_(t, 0)


def fill_(t, value) -> Tensor:
    """Set every element to ``value`` (a number or a 0-d tensor)."""
    if isinstance(value, Tensor):
        if value._data.size != 1 or value._data.ndim > 0:
            raise LaminaValueError(
                f"fill_: only supports 0-dimension value tensor but got tensor with "
                f"{value._data.ndim} dimensions"
            )
        return _inplace(t, "fill_", lambda x, v: add(mul(x, 0), v), value)
    return _inplace(t, "fill_", lambda x: _filled(x, value))


def _filled(x: Tensor, value) -> Tensor:
    if GradMode.enabled and x.requires_grad:
        return add(mul(x, 0), value)
    return _make(np.full(x.shape, value, dtype=x.dtype))


def copy_(t, src) -> Tensor:
    """Copy ``src`` (broadcast to ``t``'s shape, cast to its dtype) into ``t``."""
    src = _as_tensor(src, "copy_")
    try:
        np.broadcast_shapes(src.shape, t.shape)
        if np.broadcast_shapes(src.shape, t.shape) != t.shape:
            raise LaminaValueError
    except ValueError:
        raise LaminaValueError(
            f"copy_: the source of shape {tuple(src.shape)} cannot be broadcast to the "
            f"destination of shape {tuple(t.shape)}"
        ) from None

    def _copied(x, s):
        s = cast(s, x.dtype) if x.dtype.kind == "f" or s.dtype == x.dtype else \
            _make(s._data.astype(x.dtype))
        return add(mul(x, 0), s) if GradMode.enabled and s.requires_grad else \
            _make(np.broadcast_to(s._data, x.shape).copy())

    return _inplace(t, "copy_", _copied, src)
