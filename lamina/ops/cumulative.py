"""Cumulative ops along one dim: cumprod, cummax/cummin (values and indices) and
logcumsumexp. (``cumsum`` lives with the reductions, in ``ops/reduce.py``.)

The backward passes that cannot divide by the input (cumprod with zeros, logcumsumexp) run a
linear recurrence along the dim, one vectorized step per position: exact where the
closed forms would divide by zero or overflow.
"""

from __future__ import annotations

import numpy as np

from lamina.autograd.function import Function
from lamina.errors import LaminaValueError
from lamina.ops.reduce import _apply_dtype, _check, _return_type, numpy_names
from lamina.tensor import Tensor, _make, _norm_dim

__all__ = ["cumprod", "cummax", "cummin", "logcumsumexp"]

_cummax_result = _return_type("cummax")
_cummin_result = _return_type("cummin")


def _along(a, axis):
    """``a`` with ``axis`` moved last (a view), for loops over the positions of the dim."""
    return np.moveaxis(a, axis, -1)


class Cumprod(Function):
    @staticmethod
    def forward(ctx, a, axis):
        ctx.axis = axis
        ctx.save_for_backward(a)
        return a.copy() if a.ndim == 0 else np.cumprod(a, axis=axis)

    @staticmethod
    def backward(ctx, g):
        a = ctx.saved[0]
        if a.ndim == 0:
            return g.copy(), None
        # d out_j / d x_i = prod_{k <= j, k != i} x_k for j >= i, so
        # grad_i = (prod_{k < i} x_k) * S_i with S_i = g_i + x_{i+1} S_{i+1}: no division,
        # hence exact with zeros in the input (PyTorch's result, by a different route)
        x, gm = _along(a, ctx.axis), _along(g, ctx.axis)
        n = x.shape[-1]
        s = np.empty_like(gm)
        if n:
            s[..., n - 1] = gm[..., n - 1]
        for i in range(n - 2, -1, -1):
            s[..., i] = gm[..., i] + x[..., i + 1] * s[..., i + 1]
        before = np.ones_like(x)                # exclusive prefix products
        if n > 1:
            before[..., 1:] = np.cumprod(x[..., :-1], axis=-1)
        return np.moveaxis(before * s, -1, ctx.axis), None


@numpy_names
def cumprod(x, dim: int, dtype=None) -> Tensor:
    """Cumulative product along ``dim``. Integer and bool tensors give int64.

    >>> lamina.tensor([1., 2., 3.]).cumprod(0)
    tensor([1., 2., 6.])
    """
    _check(x, "cumprod")
    x = _apply_dtype(x, dtype, "cumprod")
    axis = _norm_dim(dim, x._data.ndim, "cumprod")
    if x._data.dtype.kind in "biu":
        a = x._data
        return _make(a.astype(np.int64) if a.ndim == 0 else np.cumprod(a, axis, np.int64))
    return Cumprod.apply(x, axis)


def _running_extreme(a, axis, is_max):
    """Running max (or min) of ``a`` along ``axis`` and the index of each, as arrays."""
    if a.ndim == 0:
        return a.copy(), np.zeros((), np.int64)
    x = _along(a, axis)
    n = x.shape[-1]
    vals = np.empty_like(x)
    idx = np.zeros(x.shape, np.int64)
    if n:
        vals[..., 0] = x[..., 0]
    better = np.greater_equal if is_max else np.less_equal
    nan = np.isnan if a.dtype.kind == "f" else (lambda v: np.zeros(np.shape(v), bool))
    for i in range(1, n):
        # ties and NaN move the index to the later position (PyTorch: x >= best, and a NaN,
        # once seen, stays)
        prev, cur = vals[..., i - 1], x[..., i]
        take = (better(cur, prev) | nan(cur)) & (~nan(prev) | nan(cur))
        vals[..., i] = np.where(take, cur, prev)
        idx[..., i] = np.where(take, i, idx[..., i - 1])
    return np.moveaxis(vals, -1, axis), np.moveaxis(idx, -1, axis)


class CumExtreme(Function):
    @staticmethod
    def forward(ctx, a, axis, is_max):
        vals, idx = _running_extreme(a, axis, is_max)
        ctx.idx, ctx.axis = (None if a.ndim == 0 else _along(idx, axis)), axis
        return vals, idx

    @staticmethod
    def backward(ctx, g, _gi=None):
        if ctx.idx is None:
            return g.copy(), None, None
        # every output sends its gradient to the input it copied
        gm = _along(g, ctx.axis)
        out = np.zeros_like(gm)
        lead = np.indices(gm.shape[:-1], sparse=True)
        for i in range(gm.shape[-1]):
            np.add.at(out, (*lead, ctx.idx[..., i]), gm[..., i])
        return np.moveaxis(out, -1, ctx.axis), None, None


def _cum_extreme(x, dim, is_max):
    op = "cummax" if is_max else "cummin"
    _check(x, op)
    axis = _norm_dim(dim, x._data.ndim, op)
    if x._data.dtype.kind != "f":
        v, i = (_make(np.asarray(o)) for o in _running_extreme(x._data, axis, is_max))
    else:
        v, i = CumExtreme.apply(x, axis, is_max)
    return (_cummax_result if is_max else _cummin_result)(v, i)


@numpy_names
def cummax(x, dim: int):
    """Running maximum along ``dim``: ``(values, indices)``, the index of the latest
    occurrence of each running maximum (PyTorch's choice on ties).

    >>> lamina.tensor([1., 3., 2., 3.]).cummax(0)
    cummax(values=tensor([1., 3., 3., 3.]), indices=tensor([0, 1, 1, 3]))
    """
    return _cum_extreme(x, dim, True)


@numpy_names
def cummin(x, dim: int):
    """Running minimum along ``dim``: ``(values, indices)``, like ``cummax``."""
    return _cum_extreme(x, dim, False)


class LogCumSumExp(Function):
    @staticmethod
    def forward(ctx, a, axis):
        ctx.axis = axis
        if a.ndim == 0:
            out = a.copy()
        else:
            with np.errstate(invalid="ignore"):
                out = np.logaddexp.accumulate(a, axis=axis)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved
        if a.ndim == 0:
            return g.copy(), None
        # grad_i = sum_{j >= i} g_j exp(x_i - out_j) = exp(x_i - out_i) R_i with
        # R_i = g_i + exp(out_i - out_{i+1}) R_{i+1}: every exponent is <= 0 (out rises
        # along the dim), so nothing overflows
        x, y, gm = _along(a, ctx.axis), _along(out, ctx.axis), _along(g, ctx.axis)
        n = x.shape[-1]
        r = np.empty_like(gm)
        with np.errstate(invalid="ignore", over="ignore"):
            if n:
                r[..., n - 1] = gm[..., n - 1]
            for i in range(n - 2, -1, -1):
                step = np.exp(y[..., i] - y[..., i + 1])
                step = np.where(y[..., i + 1] == -np.inf, 0.0, step)
                r[..., i] = gm[..., i] + step * r[..., i + 1]
            # exp(-inf - (-inf)) is NaN where nothing finite came before, as in PyTorch
            w = np.where((x == -np.inf) & (y > -np.inf), 0.0, np.exp(x - y))
        return np.moveaxis(w * r, -1, ctx.axis), None


@numpy_names
def logcumsumexp(x, dim: int) -> Tensor:
    """``log(cumsum(exp(x), dim))`` without overflow. Needs a floating tensor.

    >>> lamina.tensor([0., 0.]).logcumsumexp(0)
    tensor([0.0000, 0.6931])
    """
    _check(x, "logcumsumexp")
    axis = _norm_dim(dim, x._data.ndim, "logcumsumexp")
    if x._data.dtype.kind != "f":
        raise LaminaValueError(f"logcumsumexp: not implemented for '{x.dtype}' tensors")
    return LogCumSumExp.apply(x, axis)
