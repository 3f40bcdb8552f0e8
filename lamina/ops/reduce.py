"""Reductions: sum, mean, max/min (values and indices), var/std, prod, logsumexp, norm,
and the numerically stable softmax / log_softmax along a dim."""

from __future__ import annotations

import numpy as np

from lamina.autograd.function import Function
from lamina.tensor import Tensor, _make

__all__ = ["sum", "mean"]


def _dims(dim, ndim: int, op: str):
    """Normalize ``dim`` (None, int or tuple, negatives allowed) to a sorted tuple of axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    n = max(ndim, 1)
    out = []
    for d in dims:
        if not isinstance(d, (int, np.integer)) or isinstance(d, bool):
            raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {dim!r}")
        if d < -n or d >= n:
            raise IndexError(
                f"{op}: Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                f"but got {d})"
            )
        d = int(d) % n
        if d in out:
            raise RuntimeError(f"{op}: dim {d} appears multiple times in the list of dims")
        out.append(d)
    if ndim == 0:
        return ()
    return tuple(sorted(out))


def _expand_back(g, shape, axes, keepdim):
    """Re-insert reduced axes into ``g`` so it broadcasts against the input's ``shape``."""
    if not keepdim and axes:
        g = np.expand_dims(g, axes)
    return g


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        return np.sum(a, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        g = _expand_back(g, ctx.shape, ctx.axes, ctx.keepdim)
        return np.broadcast_to(g, ctx.shape), None, None


def sum(x, dim=None, keepdim: bool = False, dtype=None) -> Tensor:  # noqa: A001
    """Sum over ``dim`` (all dims by default). Integer and bool tensors sum to int64."""
    if dtype is not None:
        x = x.to(dtype)
    axes = _dims(dim, x.data.ndim, "sum")
    if x.data.dtype.kind in "bi":
        return _make(np.asarray(np.sum(x.data, axis=axes, keepdims=keepdim, dtype=np.int64)))
    return Sum.apply(x, axes, keepdim)


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        n = 1
        for ax in axes:
            n *= a.shape[ax]
        ctx.n = n
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.mean(a, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        g = _expand_back(g, ctx.shape, ctx.axes, ctx.keepdim)
        return np.broadcast_to(g / ctx.n if ctx.n else g, ctx.shape), None, None


def mean(x, dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """Mean over ``dim`` (all dims by default); floating tensors only, as in PyTorch."""
    if dtype is not None:
        x = x.to(dtype)
    if x.data.dtype.kind != "f":
        raise RuntimeError(
            f"mean(): could not infer output dtype. Input dtype must be either a floating "
            f"point or complex dtype. Got: {x.dtype}"
        )
    return Mean.apply(x, _dims(dim, x.data.ndim, "mean"), keepdim)
