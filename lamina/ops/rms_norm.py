"""Root-mean-square layer normalization (Zhang and Sennrich, 2019) as one fused op.

Over the last ``k`` axes: ``y = x / rms(x) * w`` with ``rms(x) = sqrt(mean(x^2) + eps)``; no
mean is subtracted and there is no bias. Backward, with ``r = 1 / rms(x)``, ``xhat = x r``
and ``gh = g w``::

    dx = r * (gh - xhat * mean(gh * xhat))
    dw = sum over the leading axes of g * xhat
"""

from __future__ import annotations

import numpy as np

from lamina.autograd.function import Function
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor

__all__ = ["rms_norm"]


class RMSNorm(Function):
    @staticmethod
    def forward(ctx, x, w, k, eps):
        axes = tuple(range(x.ndim - k, x.ndim))
        r = 1.0 / np.sqrt(np.square(x).mean(axis=axes, keepdims=True) + eps)
        xhat = x * r
        ctx.save_for_backward(xhat, r, w)
        ctx.axes = axes
        return xhat * w if w is not None else xhat.copy()

    @staticmethod
    def backward(ctx, g):
        xhat, r, w = ctx.saved
        nx, nw = ctx.needs_input_grad[:2]
        lead = tuple(range(g.ndim - len(ctx.axes)))
        gw = (g * xhat).sum(axis=lead) if nw else None
        gx = None
        if nx:
            gh = g * w if w is not None else g
            gx = gh - xhat * (gh * xhat).mean(axis=ctx.axes, keepdims=True)
            gx *= r
        return gx, gw, None, None


def rms_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:
    """``input / sqrt(mean(input^2) + eps) * weight`` over the trailing ``normalized_shape``
    dims (PyTorch's ``torch.nn.functional.rms_norm``). ``eps=None`` is the input dtype's
    machine epsilon (``finfo.eps``), as in PyTorch.

    >>> rms_norm(lamina.ones(2, 4), 4).shape
    (2, 4)
    """
    if not isinstance(input, Tensor):
        raise LaminaTypeError(f"rms_norm: expected a Tensor, got {type(input).__name__}")
    if input._data.dtype.kind != "f":
        raise LaminaValueError(f"rms_norm: expected a floating point tensor, got dtype "
                               f"{input.dtype}")
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(ns)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != ns:
        raise LaminaValueError(
            f"rms_norm: given normalized_shape={list(ns)}, expected input with shape "
            f"[*, {', '.join(map(str, ns))}], but got input of size {tuple(input.shape)}")
    if weight is not None and tuple(weight.shape) != ns:
        raise LaminaValueError(f"rms_norm: weight must have shape {ns}, got "
                               f"{tuple(weight.shape)}")
    if eps is None:
        eps = float(np.finfo(input._data.dtype).eps)
    return RMSNorm.apply(input, weight, k, float(eps))
