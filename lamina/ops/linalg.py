"""Linear algebra: ``matmul`` (PyTorch's 1-D, 2-D and batched broadcasting rules), ``dot``,
``outer``, ``mm``, ``bmm``."""

from __future__ import annotations

import numpy as np

from lamina.autograd.function import Function
from lamina.backend import float32, is_floating
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.ops.elementwise import cast
from lamina.tensor import Tensor

__all__ = ["matmul", "mm", "bmm", "dot", "outer"]


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.saved = (a, b)      # ctx.save_for_backward(a, b), without the call
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        na, nb = ctx.needs_input_grad
        ga = gb = None
        if a.ndim == 1 and b.ndim == 1:           # dot product: g is a scalar
            return (g * b if na else None), (g * a if nb else None)
        if a.ndim == 1:                           # (k) @ (..., k, n) -> (..., n)
            if na:
                ga = (g[..., None, :] @ np.swapaxes(b, -1, -2))[..., 0, :]
            if nb:
                gb = a[:, None] * g[..., None, :]
            return ga, gb
        if b.ndim == 1:                           # (..., m, k) @ (k) -> (..., m)
            if na:
                ga = g[..., :, None] * b
            if nb:
                gb = (np.swapaxes(a, -1, -2) @ g[..., :, None])[..., 0]
            return ga, gb
        if na:
            ga = g @ b.swapaxes(-1, -2)
        if nb:
            gb = a.swapaxes(-1, -2) @ g   # the engine sums broadcast batch dims
        return ga, gb


def _check_float_match(a, b, op):
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise LaminaTypeError(f"{op}: expected two Tensors, got {type(a).__name__} and "
                              f"{type(b).__name__}")
    if a._data.dtype != b._data.dtype:
        raise LaminaValueError(
            f"{op}: expected both operands to have the same dtype, but got {a.dtype} and "
            f"{b.dtype}"
        )
    if a._data.ndim == 0 or b._data.ndim == 0:
        raise LaminaValueError(
            f"{op}: both arguments need to be at least 1D, but they are {a._data.ndim}D and "
            f"{b._data.ndim}D"
        )


def matmul(a, b) -> Tensor:
    """Matrix product with PyTorch's rules: 1-D operands are vectors, leading dims broadcast.

    >>> matmul(randn(2, 4, 5), randn(5, 3)).shape
    (2, 4, 3)
    """
    if (type(a) is Tensor and type(b) is Tensor and a._data.ndim == 2 and b._data.ndim == 2
            and a._data.shape[1] == b._data.shape[0] and a._data.dtype is b._data.dtype
            and a._data.dtype.itemsize > 2):
        return MatMul.apply(a, b)           # the common case, already known to be valid
    _check_float_match(a, b, "matmul")
    sa, sb = a._data.shape, b._data.shape
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        raise LaminaValueError(
            f"matmul: shapes {tuple(sa)} and {tuple(sb)} are not aligned: {ka} (dim "
            f"{len(sa) - 1} of input) != {kb} (dim {max(len(sb) - 2, 0)} of other)"
        )
    if len(sa) > 2 or len(sb) > 2:
        try:
            np.broadcast_shapes(sa[:-2] if len(sa) >= 2 else (), sb[:-2] if len(sb) >= 2 else ())
        except ValueError:
            raise LaminaValueError(
                f"matmul: batch dimensions of {tuple(sa)} and {tuple(sb)} cannot be broadcast"
            ) from None
    d = a._data.dtype
    if is_floating(d) and d.itemsize == 2:
        # float16 / bfloat16: multiply and accumulate in float32, round once (PyTorch's CPU
        # kernels do the same; NumPy has no fast half-precision matmul)
        return cast(MatMul.apply(cast(a, float32), cast(b, float32)), d)
    return MatMul.apply(a, b)


def mm(a, b) -> Tensor:
    """Product of two 2-D matrices (no broadcasting)."""
    _check_float_match(a, b, "mm")
    if a._data.ndim != 2 or b._data.ndim != 2:
        raise LaminaValueError(
            f"mm: expected 2-D tensors, got {a._data.ndim}-D and {b._data.ndim}-D")
    return matmul(a, b)


def bmm(a, b) -> Tensor:
    """Batched product of two 3-D tensors with equal batch size (no broadcasting)."""
    _check_float_match(a, b, "bmm")
    if a._data.ndim != 3 or b._data.ndim != 3:
        raise LaminaValueError(f"bmm: expected 3-D tensors, got {a._data.ndim}-D and "
                               f"{b._data.ndim}-D")
    if a.shape[0] != b.shape[0]:
        raise LaminaValueError(f"bmm: batch sizes differ: {a.shape[0]} and {b.shape[0]}")
    return matmul(a, b)


def dot(a, b) -> Tensor:
    """Inner product of two 1-D tensors of equal length."""
    _check_float_match(a, b, "dot")
    if a._data.ndim != 1 or b._data.ndim != 1:
        raise LaminaValueError(f"dot: 1D tensors expected, but got {a._data.ndim}D and "
                               f"{b._data.ndim}D tensors")
    if a.shape[0] != b.shape[0]:
        raise LaminaValueError(f"dot: inconsistent tensor size, expected tensor [{a.shape[0]}] "
                               f"and src [{b.shape[0]}] to have the same number of elements")
    return matmul(a, b)


def outer(a, b) -> Tensor:
    """Outer product ``a[:, None] * b[None, :]`` of two 1-D tensors."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor) or a.ndim != 1 or b.ndim != 1:
        raise LaminaValueError("outer: expected two 1-D tensors")
    from lamina.ops.movement import unsqueeze
    return unsqueeze(a, 1) * unsqueeze(b, 0)
