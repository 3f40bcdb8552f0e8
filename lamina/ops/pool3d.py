"""3-D pooling: ``max_pool3d``, ``avg_pool3d``, ``adaptive_avg_pool3d``,
``adaptive_max_pool3d``, with PyTorch's output sizes, padding, ``ceil_mode`` and index rules
(the 1-D and 2-D forms are in ``lamina.ops.pool``, whose helpers these share).

The Functions are written for any number of pooled (trailing) dims; every leading dim
(batch, channels) is treated alike.

- Max pooling loops over the ``kd*kh*kw`` kernel offsets, each a strided slice of the
  ``-inf``-padded input compared with the running maximum (PyTorch's rule: a larger value
  wins, ties keep the first offset, a NaN always wins), and stores the winning offset as a
  small int code; backward adds ``g`` where ``code == q`` into offset ``q``'s slice.
- Average pooling adds the offsets' slices of the zero-padded input and divides by the
  per-position count (an outer product of per-axis counts, as PyTorch's divisor is);
  backward spreads ``g / count`` back through the same slices.
- Adaptive average pooling averages window ``[floor(i*n/o), ceil((i+1)*n/o))`` one axis at a
  time (exact for NaN and inf, which stay in their windows); backward spreads
  ``g / window length`` back one axis at a time.
- Adaptive max pooling gathers every window (padded by repeating its last index, which
  never changes the maximum) and takes the first maximum, or the last NaN; backward
  scatters ``g`` to the winners with ``np.bincount``.

Indices (``return_indices``) are flat positions in each input volume, ``(d*H + h)*W + w``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from lamina.autograd.function import Function
from lamina.errors import LaminaValueError
from lamina.ops.pool import (
    _adaptive_bounds,
    _adaptive_gather,
    _avg_counts,
    _check_input,
    _pool_args,
    _pool_len,
    _tuple,
)
from lamina.tensor import Tensor

__all__ = ["max_pool3d", "avg_pool3d", "adaptive_avg_pool3d", "adaptive_max_pool3d"]


# --- helpers on arrays -----------------------------------------------------------------------

def _pad_to(x, p, padded, fill):
    """``x`` with its trailing ``len(p)`` dims placed at offset ``p`` in an array of sizes
    ``padded`` filled with ``fill`` (``x`` itself when nothing is added)."""
    nd = len(p)
    if not any(p) and tuple(padded) == x.shape[-nd:]:
        return x
    out = np.full(x.shape[:-nd] + tuple(padded), fill, x.dtype)
    out[(...,) + tuple(slice(pi, pi + n) for pi, n in zip(p, x.shape[-nd:]))] = x
    return out


def _offsets(k, s, d, out):
    """For each kernel offset (row-major), the slices selecting its value in every window."""
    return [tuple(slice(q * di, q * di + si * (oi - 1) + 1, si)
                  for q, si, di, oi in zip(offs, s, d, out))
            for offs in itertools.product(*(range(ki) for ki in k))]


def _geometry(shape, k, s, p, d, ceil_mode):
    """Output sizes and the padded sizes every window fits in."""
    out = tuple(_pool_len(n, ki, si, pi, di, ceil_mode)
                for n, ki, si, pi, di in zip(shape, k, s, p, d))
    padded = tuple(max(n + 2 * pi, (oi - 1) * si + di * (ki - 1) + 1)
                   for n, ki, si, pi, di, oi in zip(shape, k, s, p, d, out))
    return out, padded


def _flat_index(positions, sizes):
    """Row-major flat index of per-axis ``positions`` (broadcastable arrays) in ``sizes``."""
    flat = 0
    for pos, n in zip(positions, sizes):
        flat = flat * n + pos
    return flat


def _scatter(g, idx, shape, nd):
    """Sum ``g`` into arrays of ``shape`` at the flat per-volume indices ``idx``."""
    vol = math.prod(shape[-nd:])
    nvol = math.prod(shape[:-nd])
    flat = idx.reshape(nvol, -1) + (np.arange(nvol) * vol)[:, None]
    gx = np.bincount(flat.ravel(), weights=g.reshape(-1), minlength=nvol * vol)
    return gx.astype(g.dtype, copy=False).reshape(shape)


# --- Functions -------------------------------------------------------------------------------

class MaxPoolNdFn(Function):
    """Max pooling over the last ``len(k)`` dims; returns ``out`` or ``(out, indices)``."""

    @staticmethod
    def forward(ctx, x, k, s, p, d, ceil_mode, return_indices):
        nd = len(k)
        out_size, padded = _geometry(x.shape[-nd:], k, s, p, d, ceil_mode)
        xp = _pad_to(x, p, padded, -np.inf)
        sl = _offsets(k, s, d, out_size)
        out = xp[(...,) + sl[0]].copy()
        code = np.zeros(out.shape, np.int16 if len(sl) < 2**15 else np.int32)
        for q in range(1, len(sl)):
            v = xp[(...,) + sl[q]]
            upd = (v > out) | np.isnan(v)        # PyTorch: a NaN always wins
            np.copyto(code, q, where=upd)
            np.copyto(out, v, where=upd)
        ctx.geom = (x.shape, padded, sl)
        ctx.code = code
        if not return_indices:
            return out
        offs = np.unravel_index(code.astype(np.int64), k)
        pos = [o * di + (np.arange(n) * si - pi).reshape((n,) + (1,) * (nd - 1 - a))
               for a, (o, n, si, pi, di) in enumerate(zip(offs, out_size, s, p, d))]
        return out, _flat_index(pos, x.shape[-nd:])

    @staticmethod
    def backward(ctx, g, _gi=None):
        shape, padded, sl = ctx.geom
        p = ctx.inputs[3]
        gp = np.zeros(shape[:-len(p)] + tuple(padded), g.dtype)
        for q, idx in enumerate(sl):
            gp[(...,) + idx] += g * (ctx.code == q)      # windows may overlap: add
        gx = gp[(...,) + tuple(slice(pi, pi + n) for pi, n in zip(p, shape[-len(p):]))]
        return gx, None, None, None, None, None, None


class AvgPoolNdFn(Function):
    """Average pooling over the last ``len(k)`` dims (PyTorch's divisor rules)."""

    @staticmethod
    def forward(ctx, x, k, s, p, ceil_mode, count_include_pad, divisor_override):
        nd = len(k)
        one = (1,) * nd
        out_size, padded = _geometry(x.shape[-nd:], k, s, p, one, ceil_mode)
        xp = _pad_to(x, p, padded, 0)
        sl = _offsets(k, s, one, out_size)
        out = xp[(...,) + sl[0]].copy()
        for idx in sl[1:]:
            out += xp[(...,) + idx]
        if divisor_override:
            div = np.array(float(divisor_override), x.dtype)
        else:
            counts = [_avg_counts(n, o, ki, si, pi, count_include_pad)
                      for n, o, ki, si, pi in zip(x.shape[-nd:], out_size, k, s, p)]
            div = math.prod(np.ix_(*counts)).astype(x.dtype)
        out /= div
        ctx.geom = (x.shape, padded, sl, div)
        return out

    @staticmethod
    def backward(ctx, g):
        shape, padded, sl, div = ctx.geom
        p = ctx.inputs[3]
        gd = g / div
        gp = np.zeros(shape[:-len(p)] + tuple(padded), g.dtype)
        for idx in sl:
            gp[(...,) + idx] += gd
        gx = gp[(...,) + tuple(slice(pi, pi + n) for pi, n in zip(p, shape[-len(p):]))]
        return gx, None, None, None, None, None, None


class AdaptiveAvgPoolNdFn(Function):
    """Adaptive average pooling of the last ``len(out_size)`` dims, one axis at a time."""

    @staticmethod
    def forward(ctx, x, out_size):
        nd = len(out_size)
        y = x
        with np.errstate(over="ignore", invalid="ignore"):     # inf - inf is NaN, as meant
            for a, o in enumerate(out_size):
                ax = x.ndim - nd + a
                start, end = _adaptive_bounds(x.shape[ax], o)
                lead = (slice(None),) * ax
                y = np.stack([y[lead + (slice(b, e),)].mean(axis=ax)
                              for b, e in zip(start, end)], axis=ax)
        ctx.shape = x.shape
        return y.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        out_size = ctx.inputs[1]
        nd = len(out_size)
        shape = ctx.shape
        for a, o in enumerate(out_size):
            ax = len(shape) - nd + a
            start, end = _adaptive_bounds(shape[ax], o)
            gx = np.zeros(g.shape[:ax] + (shape[ax],) + g.shape[ax + 1:], g.dtype)
            lead = (slice(None),) * ax
            for i, (b, e) in enumerate(zip(start, end)):
                gx[lead + (slice(b, e),)] += g[lead + (slice(i, i + 1),)] / g.dtype.type(e - b)
            g = gx
        return g, None


class AdaptiveMaxPoolNdFn(Function):
    """Adaptive max pooling of the last ``len(out_size)`` dims; returns (out, indices)."""

    @staticmethod
    def forward(ctx, x, out_size):
        nd = len(out_size)
        sizes = x.shape[-nd:]
        tables = [_adaptive_gather(n, o)[0] for n, o in zip(sizes, out_size)]
        index = []
        for a, t in enumerate(tables):           # table a on dims (2a, 2a+1) of 2*nd
            shape = [1] * (2 * nd)
            shape[2 * a: 2 * a + 2] = t.shape
            index.append(t.reshape(shape))
        win = x[(...,) + tuple(index)]            # (..., O0, K0, O1, K1, ...)
        lead = win.ndim - 2 * nd
        order = (*range(lead), *range(lead, win.ndim, 2), *range(lead + 1, win.ndim, 2))
        kk = tuple(t.shape[1] for t in tables)
        win = win.transpose(order).reshape(x.shape[:-nd] + tuple(out_size) + (-1,))
        arg = win.argmax(axis=-1)                 # the first maximum (and NumPy's first NaN)
        nan = np.isnan(win)                       # PyTorch reports a window's LAST NaN
        last_nan = win.shape[-1] - 1 - nan[..., ::-1].argmax(axis=-1)
        arg = np.where(nan.any(axis=-1), last_nan, arg)
        out = np.take_along_axis(win, arg[..., None], axis=-1)[..., 0]
        offs = np.unravel_index(arg, kk)
        pos = [t[np.arange(o).reshape((o,) + (1,) * (nd - 1 - a)), q]
               for a, (t, o, q) in enumerate(zip(tables, out_size, offs))]
        idx = _flat_index(pos, sizes).astype(np.int64)
        ctx.save_for_backward(idx)
        ctx.shape = x.shape
        return out, idx

    @staticmethod
    def backward(ctx, g, _gi=None):
        (idx,) = ctx.saved
        return _scatter(g, idx, ctx.shape, len(ctx.inputs[1])), None


# --- public functions ------------------------------------------------------------------------

def _check_out(x, k, s, p, d, ceil_mode, op):
    nd = len(k)
    out = [_pool_len(n, ki, si, pi, di, ceil_mode)
           for n, ki, si, pi, di in zip(x.shape[-nd:], k, s, p, d)]
    if min(out) < 1:
        raise LaminaValueError(f"{op}: output size {tuple(out)} is too small for input "
                               f"{tuple(x.shape)} with kernel_size={k}, stride={s}, "
                               f"padding={p}, dilation={d}")


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """3-D max pooling over ``(N, C, D, H, W)`` or ``(C, D, H, W)``; ``stride`` defaults to
    ``kernel_size``; padding is implicit ``-inf``. With ``return_indices`` also returns the
    flat index ``(d*H + h)*W + w`` of each maximum in its input volume.

    >>> max_pool3d(lamina.randn(1, 2, 4, 4, 4), 2).shape
    (1, 2, 2, 2, 2)
    """
    op = "max_pool3d"
    _check_input(input, 3, op)
    k, s, p, d = _pool_args(kernel_size, stride, padding, dilation, 3, op)
    _check_out(input, k, s, p, d, ceil_mode, op)
    res = MaxPoolNdFn.apply(input, k, s, p, d, bool(ceil_mode), bool(return_indices))
    return tuple(res) if return_indices else res


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None) -> Tensor:
    """3-D average pooling; the divisor counts padded zeros when ``count_include_pad``
    (windows running past the padding in ``ceil_mode`` are clipped, as in PyTorch), or is
    ``divisor_override``.

    >>> avg_pool3d(lamina.ones(1, 1, 4, 4, 4), 2).shape
    (1, 1, 2, 2, 2)
    """
    op = "avg_pool3d"
    _check_input(input, 3, op)
    k, s, p, _ = _pool_args(kernel_size, stride, padding, 1, 3, op)
    if divisor_override is not None and divisor_override == 0:
        raise LaminaValueError(f"{op}: divisor must be not zero")
    _check_out(input, k, s, p, (1, 1, 1), ceil_mode, op)
    return AvgPoolNdFn.apply(input, k, s, p, bool(ceil_mode), bool(count_include_pad),
                             divisor_override)


def _adaptive_size(output_size, x, op):
    if isinstance(output_size, (tuple, list)) and len(output_size) == 3:
        output_size = tuple(x.shape[-3 + i] if v is None else v
                            for i, v in enumerate(output_size))
    size = _tuple(output_size, 3, "output_size", op)
    if min(size) < 1:
        raise LaminaValueError(f"{op}: output_size must be positive, got {size}")
    return size


def adaptive_avg_pool3d(input, output_size) -> Tensor:
    """Average pooling to a fixed ``output_size`` (an int, a triple; ``None`` keeps that
    dim); window ``i`` spans ``[floor(i*D/Do), ceil((i+1)*D/Do))`` along each dim.

    >>> adaptive_avg_pool3d(lamina.randn(2, 3, 5, 7, 9), (1, 2, 3)).shape
    (2, 3, 1, 2, 3)
    """
    op = "adaptive_avg_pool3d"
    _check_input(input, 3, op)
    return AdaptiveAvgPoolNdFn.apply(input, _adaptive_size(output_size, input, op))


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """Max pooling to a fixed ``output_size`` over adaptive windows (see
    ``adaptive_avg_pool3d``); optionally returns the flat volume indices of the maxima."""
    op = "adaptive_max_pool3d"
    _check_input(input, 3, op)
    out, idx = AdaptiveMaxPoolNdFn.apply(input, _adaptive_size(output_size, input, op))
    return (out, idx) if return_indices else out
