"""Pooling: ``max_pool1d/2d``, ``avg_pool1d/2d``, ``adaptive_avg_pool1d/2d``,
``adaptive_max_pool1d/2d``, with PyTorch's output sizes, padding and ``ceil_mode`` rules.

Max pooling records the position of each window's maximum in forward, so backward routes the
incoming gradient by that stored position (a small int code per output), never by comparing
values. Which position, as PyTorch's CPU kernel chooses: the first maximum in row-major
window order, except that a NaN wins over every number and a later NaN over an earlier one
(the rule ``v > best or isnan(v)``), so a window holding a NaN gives NaN, its index and its
gradient point at the (last) NaN. The work is a loop over the kh*kw kernel offsets of
vectorized ops on strided views (no window array is materialized). Adaptive max pooling
gathers its windows and scatters with ``np.bincount``. Interpolation is in
``lamina.ops.resample``; the 3-D poolings are in ``lamina.ops.pool3d``.

The pooled axes are the last one or two; every leading axis (batch, channels) is treated
alike. Max pooling works on strided views and allocates its outputs in the input's memory
order, so a non-contiguous input (``conv2d`` hands out a batch-last layout) is pooled without
a transpose copy and its gradient comes back in that same layout.

This file is the reference math; ``lamina/kernels/pool.py`` holds the fast paths (compiled
2x2 max pooling and global average pooling), chosen through ``lamina.dispatch``.
"""

from __future__ import annotations

import numpy as np

from lamina import dispatch
from lamina.autograd.function import Function
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor

__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d"]

_as_strided = np.lib.stride_tricks.as_strided


def _lead_contig(x):
    """Return (array, swapped): a C-ordered view of a 4-d array, swapping the two leading
    axes when that makes it contiguous (channels-first-batch-second memory)."""
    if x.flags.c_contiguous:
        return x, False
    xt = x.swapaxes(0, 1)
    if xt.flags.c_contiguous:
        return xt, True
    return np.ascontiguousarray(x), False


def _pool_len(size, k, s, p, d, ceil_mode):
    """PyTorch's pooling output length (``pooling_output_shape``)."""
    num = size + 2 * p - d * (k - 1) - 1
    out = (num + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _axis_order(x):
    """The axes of ``x`` from outermost to innermost in memory (None when C-contiguous)."""
    if x.flags.c_contiguous:
        return None
    return tuple(int(a) for a in np.argsort([-abs(st) for st in x.strides], kind="stable"))


def _alloc(shape, dtype, order, fill=None):
    """An array of ``shape`` whose memory follows axis ``order`` (see ``_axis_order``), so
    pooling keeps the memory layout of its input (e.g. conv's batch-last output)."""
    mem = shape if order is None else tuple(shape[a] for a in order)
    buf = np.empty(mem, np.dtype(dtype)) if fill is None else np.full(mem, fill, dtype)
    return buf if order is None else buf.transpose(np.argsort(order))


def _padded(x, pads_hw, sizes_hw, fill, order=None):
    """Pad the last two axes: ``pads_hw`` (top, left), total sizes ``sizes_hw``."""
    h, w = x.shape[-2:]
    pt, pl = pads_hw
    hp, wp = sizes_hw
    if pt == 0 and pl == 0 and hp == h and wp == w:
        return x
    buf = _alloc(x.shape[:-2] + (hp, wp), x.dtype, order, fill)
    hh = min(h, hp - pt)
    ww = min(w, wp - pl)
    buf[..., pt:pt + hh, pl:pl + ww] = x[..., :hh, :ww]
    return buf


def _windows(xp, ho, wo, k, s, d):
    """(..., Ho, Wo, kh, kw) strided view of the windows of ``xp``."""
    st = xp.strides
    return _as_strided(xp, xp.shape[:-2] + (ho, wo, k[0], k[1]),
                       st[:-2] + (st[-2] * s[0], st[-1] * s[1], st[-2] * d[0], st[-1] * d[1]),
                       writeable=False)


# --- max pooling -----------------------------------------------------------------------------

class MaxPool2dFn(Function):
    """Max pooling over the last two axes of a 4-d array; returns ``out`` or, with
    ``return_indices``, ``(out, flat plane indices)``.

    The window maximum is found by a loop over the kh*kw kernel offsets, each a strided view
    of the (-inf padded) input compared with the running maximum, so no window array is
    ever materialized; the winning offset is stored as a small int code. Backward adds ``g``
    times ``code == q`` into the strided view of each offset ``q``.
    """

    @staticmethod
    def forward(ctx, x, k, s, p, d, ceil_mode, return_indices):
        order = _axis_order(x)
        h, w = x.shape[-2:]
        ho = _pool_len(h, k[0], s[0], p[0], d[0], ceil_mode)
        wo = _pool_len(w, k[1], s[1], p[1], d[1], ceil_mode)
        hp = max(h + 2 * p[0], (ho - 1) * s[0] + d[0] * (k[0] - 1) + 1)
        wp = max(w + 2 * p[1], (wo - 1) * s[1] + d[1] * (k[1] - 1) + 1)
        xp = _padded(x, p, (hp, wp), -np.inf, order)
        sl = _offset_slices(k, s, d, ho, wo)
        out = xp[(..., *sl[0])].copy(order="K")
        code = np.zeros_like(out, np.int8 if len(sl) < 128 else np.int32)
        for q in range(1, len(sl)):
            v = xp[(..., *sl[q])]
            # PyTorch's rule: a larger value wins, ties keep the first, and a NaN always
            # wins (so the last NaN of a window is the one reported)
            upd = (v > out) | np.isnan(v)
            np.copyto(code, q, where=upd)
            np.copyto(out, v, where=upd)
        ctx.geom = (x.shape, order, hp, wp, sl)
        ctx.code = code
        if not return_indices:
            return out
        return out, _plane_indices(code, k, s, p, d, ho, wo, w)

    @staticmethod
    def backward(ctx, g, _gi=None):
        shape, order, hp, wp, sl = ctx.geom
        p = ctx.inputs[3]
        h, w = shape[-2:]
        gp = _alloc(shape[:-2] + (hp, wp), g.dtype, order, 0)
        for q, idx in enumerate(sl):
            gp[(..., *idx)] += g * (ctx.code == q)    # windows may overlap: add
        gx = gp[..., p[0]:p[0] + h, p[1]:p[1] + w]
        return gx, None, None, None, None, None, None


def _plane_indices(code, k, s, p, d, ho, wo, w):
    """Flat input-plane index (``row * W + col``) of each window's winning offset ``code``."""
    ki, kj = np.divmod(code.astype(np.int64), k[1])
    return (ki * d[0] + (np.arange(ho) * s[0] - p[0])[:, None]) * w \
        + kj * d[1] + (np.arange(wo) * s[1] - p[1])

def _offset_slices(k, s, d, ho, wo):
    """For each kernel offset (row-major), the (row, col) slices selecting its value in every
    window of a padded plane."""
    he = s[0] * (ho - 1) + 1
    we = s[1] * (wo - 1) + 1
    return [(slice(i * d[0], i * d[0] + he, s[0]), slice(j * d[1], j * d[1] + we, s[1]))
            for i in range(k[0]) for j in range(k[1])]


def _scatter_planes(g, idx, shape):
    """Sum ``g`` (..., Ho, Wo) into planes of ``shape`` at flat plane indices ``idx``."""
    hw = shape[-2] * shape[-1]
    nplanes = int(np.prod(shape[:-2]))
    flat = idx.reshape(nplanes, -1) + (np.arange(nplanes) * hw)[:, None]
    gx = np.bincount(flat.ravel(), weights=g.reshape(-1), minlength=nplanes * hw)
    return gx.astype(g.dtype, copy=False).reshape(shape)


class AdaptiveMaxPool2dFn(Function):
    """Adaptive max pooling over the last two axes; returns (out, flat indices)."""

    @staticmethod
    def forward(ctx, x, out_size):
        h, w = x.shape[-2:]
        ih, lh = _adaptive_gather(h, out_size[0])
        iw, lw = _adaptive_gather(w, out_size[1])
        win = x[..., ih[:, :, None, None], iw[None, None, :, :]]    # (..., Ho, kh, Wo, kw)
        win = win.swapaxes(-3, -2).reshape(x.shape[:-2] + (out_size[0], out_size[1], -1))
        arg = win.argmax(axis=-1)       # the first maximum (and NumPy's first NaN)
        # PyTorch reports the LAST NaN of a window: where a window holds one, point there
        nan = np.isnan(win)
        last_nan = win.shape[-1] - 1 - nan[..., ::-1].argmax(axis=-1)
        arg = np.where(nan.any(axis=-1), last_nan, arg)
        out = np.take_along_axis(win, arg[..., None], axis=-1)[..., 0]
        ki, kj = np.divmod(arg, iw.shape[1])
        hi = ih[np.arange(out_size[0])[:, None], ki]
        wi = iw[np.arange(out_size[1]), kj]
        idx = hi * w + wi
        ctx.save_for_backward(idx)
        ctx.shape = x.shape
        return out, idx

    @staticmethod
    def backward(ctx, g, _gi):
        (idx,) = ctx.saved
        return _scatter_planes(g, idx, ctx.shape), None


def _adaptive_bounds(size, out):
    i = np.arange(out)
    start = (i * size) // out
    end = -((-(i + 1) * size) // out)        # ceil((i + 1) * size / out)
    return start, end


def _adaptive_gather(size, out):
    """Index table (out, kmax) of each adaptive window, padded by repeating its last index
    (a repeat never changes the max, and argmax keeps the first occurrence)."""
    start, end = _adaptive_bounds(size, out)
    kmax = int((end - start).max())
    idx = start[:, None] + np.arange(kmax)
    return np.minimum(idx, (end - 1)[:, None]), end - start


# --- average pooling -------------------------------------------------------------------------

class AvgPool2dFn(Function):
    @staticmethod
    def forward(ctx, x, k, s, p, ceil_mode, count_include_pad, divisor_override):
        xa, swapped = _lead_contig(x)
        h, w = xa.shape[-2:]
        ho = _pool_len(h, k[0], s[0], p[0], 1, ceil_mode)
        wo = _pool_len(w, k[1], s[1], p[1], 1, ceil_mode)
        hp = max(h + 2 * p[0], (ho - 1) * s[0] + k[0])
        wp = max(w + 2 * p[1], (wo - 1) * s[1] + k[1])
        xp = _padded(xa, p, (hp, wp), 0)
        out = _windows(xp, ho, wo, k, s, (1, 1)).sum(axis=(-2, -1))
        if divisor_override:
            div = np.array(float(divisor_override), xa.dtype)
        else:
            dh = _avg_counts(h, ho, k[0], s[0], p[0], count_include_pad)
            dw = _avg_counts(w, wo, k[1], s[1], p[1], count_include_pad)
            div = np.multiply.outer(dh, dw).astype(xa.dtype)
        out /= div
        ctx.geom = (xa.shape, swapped, hp, wp, ho, wo)
        ctx.div = div
        return out.swapaxes(0, 1) if swapped else out

    @staticmethod
    def backward(ctx, g):
        shape, swapped, hp, wp, ho, wo = ctx.geom
        k, s, p = ctx.inputs[1:4]
        if swapped:
            g = g.swapaxes(0, 1)
        gd = g / ctx.div
        gp = np.zeros(shape[:-2] + (hp, wp), g.dtype)
        he = s[0] * (ho - 1) + 1
        we = s[1] * (wo - 1) + 1
        for i in range(k[0]):
            for j in range(k[1]):
                gp[..., i:i + he:s[0], j:j + we:s[1]] += gd
        gx = gp[..., p[0]:p[0] + shape[-2], p[1]:p[1] + shape[-1]]
        if swapped:
            gx = gx.swapaxes(0, 1)
        return gx, None, None, None, None, None, None


def _avg_counts(size, out, k, s, p, count_include_pad):
    """Per-output-position divisor along one axis (PyTorch's avg_pool rules)."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, size + p)
    pool = end - start
    if count_include_pad:
        return pool
    return np.minimum(end, size) - np.maximum(start, 0)


class Separable2dFn(Function):
    """``out = A_h @ x @ A_w.T`` over the last two axes, for fixed averaging matrices A
    (adaptive average pooling); the backward is the transposed products."""

    @staticmethod
    def forward(ctx, x, ah, aw):
        ctx.mats = (ah, aw)
        return np.matmul(np.matmul(ah, x), aw.T)

    @staticmethod
    def backward(ctx, g):
        ah, aw = ctx.mats
        return np.matmul(np.matmul(ah.T, g), aw), None, None



class GlobalAvgPoolFn(Function):
    """Mean over the last two axes, kept as (..., 1, 1): adaptive average pooling to 1x1
    (the separable products of the general path would run as thousands of tiny matmuls).
    Backward spreads ``g / (H*W)`` over each plane, in the input's memory order."""

    @staticmethod
    def forward(ctx, x):
        h, w = x.shape[-2:]
        ctx.geom = (x.shape, _axis_order(x))
        return (x.sum(axis=(-2, -1), keepdims=True) / x.dtype.type(h * w)).astype(
            x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        shape, order = ctx.geom
        gx = _alloc(shape, g.dtype, order)
        gx[...] = g / g.dtype.type(shape[-2] * shape[-1])    # g (..., 1, 1) broadcasts
        return gx



class AdaptiveAvgWindowsFn(Separable2dFn):
    """Adaptive average pooling as window means, one axis at a time: the path for inputs
    holding NaN or inf, which the averaging matrices would spread to every window
    (``0 * nan`` is NaN). The backward is the matrices' (the map is the same, and finite)."""

    @staticmethod
    def forward(ctx, x, ah, aw):
        ctx.mats = (ah, aw)
        rows = [(ah[i] != 0).nonzero()[0] for i in range(ah.shape[0])]
        cols = [(aw[j] != 0).nonzero()[0] for j in range(aw.shape[0])]
        with np.errstate(over="ignore", invalid="ignore"):     # inf - inf is NaN, as meant
            y = np.stack([x[..., r[0]:r[-1] + 1, :].mean(axis=-2) for r in rows], axis=-2)
            return np.stack([y[..., c[0]:c[-1] + 1].mean(axis=-1) for c in cols],
                            axis=-1).astype(x.dtype, copy=False)


def _adaptive_avg(x, out_size):
    h, w = x.shape[-2:]
    dt = x._data.dtype
    if tuple(out_size) == (1, 1):
        return dispatch.select("global_avg_pool", GlobalAvgPoolFn, x._data).apply(x)
    ah, aw = _avg_matrix(h, out_size[0], dt), _avg_matrix(w, out_size[1], dt)
    with np.errstate(over="ignore", invalid="ignore"):
        out = Separable2dFn.apply(x, ah, aw)
    # A NaN or inf in x makes the matrix products' output non-finite (0 * nan is NaN, in
    # every window): the output's max (NaN-propagating, a pass over the smaller array, under
    # 1% of the op) sends only such inputs down the exact window-mean path.
    if out._data.size and not np.isfinite(out._data.max()):
        out = AdaptiveAvgWindowsFn.apply(x, ah, aw)
    return out


def _avg_matrix(size, out, dtype):
    start, end = _adaptive_bounds(size, out)
    i = np.arange(size)
    m = (i >= start[:, None]) & (i < end[:, None])
    return (m / (end - start)[:, None]).astype(dtype)


# --- argument handling -----------------------------------------------------------------------

def _tuple(v, n, name, op, allow_none=False):
    if v is None and allow_none:
        return None
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return (int(v),) * n
    if isinstance(v, (tuple, list)) and len(v) == 1:
        return _tuple(v[0], n, name, op)
    if isinstance(v, (tuple, list)) and len(v) == n and all(
            isinstance(e, (int, np.integer)) and not isinstance(e, bool) for e in v):
        return tuple(int(e) for e in v)
    raise LaminaTypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {v!r}")


def _check_input(x, nd, op):
    if not isinstance(x, Tensor):
        raise LaminaTypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x._data.ndim not in (nd + 1, nd + 2):
        raise LaminaValueError(f"{op}: expected a {nd + 1}-D or {nd + 2}-D input, got shape "
                               f"{tuple(x.shape)}")
    if x._data.dtype.kind != "f":
        raise LaminaValueError(f"{op}: expected a floating input, got {x.dtype}")
    if any(n == 0 for n in x.shape[-nd:]):
        raise LaminaValueError(f"{op}: expected non-empty spatial dims, got shape "
                               f"{tuple(x.shape)}")


def _to4d(x, nd):
    """View an input as 4-d (lead, lead, H, W) for the 2-d Functions; returns the undo."""
    orig = tuple(x.shape)
    if nd == 1:
        x = x.unsqueeze(-2)
    if x._data.ndim == 3:
        x = x.unsqueeze(0)
        return x, (lambda t: t.reshape(orig[:-nd] + t.shape[-nd:]))
    if nd == 1:
        return x, (lambda t: t.squeeze(-2))
    return x, (lambda t: t)


def _pool_args(kernel_size, stride, padding, dilation, nd, op):
    k = _tuple(kernel_size, nd, "kernel_size", op)
    s = _tuple(stride, nd, "stride", op, allow_none=True)
    if s is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        s = k
    p = _tuple(padding, nd, "padding", op)
    d = _tuple(dilation, nd, "dilation", op)
    if min(k) < 1 or min(s) < 1 or min(d) < 1:
        raise LaminaValueError(f"{op}: kernel_size, stride and dilation must be positive, got "
                               f"kernel_size={k}, stride={s}, dilation={d}")
    if any(pi < 0 or 2 * pi > ki for pi, ki in zip(p, k)):
        raise LaminaValueError(f"{op}: pad should be at most half of effective kernel size, but "
                               f"got pad={p}, kernel_size={k}")
    if nd == 1:
        k, s, p, d = (1,) + k, (1,) + s, (0,) + p, (1,) + d
    return k, s, p, d


def _check_out(x, k, s, p, d, ceil_mode, op):
    for size, ki, si, pi, di in zip(x.shape[-2:], k, s, p, d):
        if _pool_len(size, ki, si, pi, di, ceil_mode) < 1:
            raise LaminaValueError(f"{op}: output size is too small for input {tuple(x.shape)} "
                                   f"with kernel_size={k}, stride={s}, padding={p}")


def _max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nd, op):
    _check_input(x, nd, op)
    k, s, p, d = _pool_args(kernel_size, stride, padding, dilation, nd, op)
    x4, undo = _to4d(x, nd)
    _check_out(x4, k, s, p, d, ceil_mode, op)
    fn = dispatch.select("max_pool2d", MaxPool2dFn, x4._data, k, s, p, d)
    if return_indices:
        out, idx = fn.apply(x4, k, s, p, d, bool(ceil_mode), True)
        return undo(out), undo(idx)
    return undo(fn.apply(x4, k, s, p, d, bool(ceil_mode), False))


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling over ``(N, C, H, W)`` or ``(C, H, W)``; ``stride`` defaults to
    ``kernel_size``; padding is implicit ``-inf``. With ``return_indices`` also returns the
    flat index (``h * W + w``) of each maximum in its input plane.

    >>> max_pool2d(lamina.randn(1, 2, 4, 4), 2).shape
    (1, 2, 2, 2)
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                     2, "max_pool2d")


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """1-D max pooling over ``(N, C, L)`` or ``(C, L)``. See ``max_pool2d``."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                     1, "max_pool1d")


def _avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
              nd, op):
    _check_input(x, nd, op)
    k, s, p, d = _pool_args(kernel_size, stride, padding, 1, nd, op)
    if divisor_override is not None and divisor_override == 0:
        raise LaminaValueError(f"{op}: divisor must be not zero")
    x4, undo = _to4d(x, nd)
    _check_out(x4, k, s, p, d, ceil_mode, op)
    return undo(AvgPool2dFn.apply(x4, k, s, p, bool(ceil_mode), bool(count_include_pad),
                                  divisor_override))


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None) -> Tensor:
    """2-D average pooling; the divisor counts padded zeros when ``count_include_pad``
    (windows running past the padding in ``ceil_mode`` are clipped, as in PyTorch).

    >>> avg_pool2d(lamina.ones(1, 1, 4, 4), 2).shape
    (1, 1, 2, 2)
    """
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, 2, "avg_pool2d")


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True) -> Tensor:
    """1-D average pooling over ``(N, C, L)`` or ``(C, L)``. See ``avg_pool2d``."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None,
                     1, "avg_pool1d")


def _adaptive_size(output_size, x, nd, op):
    if nd == 1:
        os_ = _tuple(output_size, 1, "output_size", op)
        if os_[0] < 1:
            raise LaminaValueError(f"{op}: output_size must be positive, got {os_}")
        return (1,) + os_
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        os_ = tuple(x.shape[-2 + i] if v is None else v for i, v in enumerate(output_size))
    else:
        os_ = output_size
    os_ = _tuple(os_, 2, "output_size", op)
    if min(os_) < 1:
        raise LaminaValueError(f"{op}: output_size must be positive, got {os_}")
    return os_


def adaptive_avg_pool2d(input, output_size) -> Tensor:
    """Average pooling to a fixed ``output_size`` (an int, a pair, ``None`` keeps that
    dim); window ``i`` spans ``[floor(i*H/Ho), ceil((i+1)*H/Ho))``.

    >>> adaptive_avg_pool2d(lamina.randn(2, 3, 7, 9), (2, 3)).shape
    (2, 3, 2, 3)
    """
    op = "adaptive_avg_pool2d"
    _check_input(input, 2, op)
    return _adaptive_avg(input, _adaptive_size(output_size, input, 2, op))


def adaptive_avg_pool1d(input, output_size) -> Tensor:
    """Adaptive average pooling over the last axis. See ``adaptive_avg_pool2d``."""
    op = "adaptive_avg_pool1d"
    _check_input(input, 1, op)
    x4, undo = _to4d(input, 1)
    return undo(_adaptive_avg(x4, _adaptive_size(output_size, input, 1, op)))


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed ``output_size`` over adaptive windows (see
    ``adaptive_avg_pool2d``); optionally returns the flat plane indices of the maxima."""
    op = "adaptive_max_pool2d"
    _check_input(input, 2, op)
    out, idx = AdaptiveMaxPool2dFn.apply(input, _adaptive_size(output_size, input, 2, op))
    return (out, idx) if return_indices else out


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Adaptive max pooling over the last axis. See ``adaptive_max_pool2d``."""
    op = "adaptive_max_pool1d"
    _check_input(input, 1, op)
    x4, undo = _to4d(input, 1)
    out, idx = AdaptiveMaxPool2dFn.apply(x4, _adaptive_size(output_size, input, 1, op))
    out, idx = undo(out), undo(idx)
    return (out, idx) if return_indices else out


# ``interpolate`` moved to ``lamina.ops.resample`` (all modes, 3-, 4- and 5-D); it stays
# importable from here for older code.
from lamina.ops.resample import interpolate  # noqa: E402,F401
