"""BatchNorm's fast path: two compiled passes over memory in each direction, on the input's
own memory layout.

The reference ``lamina.ops.nn.BatchNorm`` reduces over axes (0, 2, 3, ...) with NumPy: about
five passes forward and eight backward, each a fresh temporary. Here the input is viewed as a
2-D array with one row (or one column) per channel, without a copy whenever its memory order
allows (conv outputs are laid out (C, H, W, N), dense ones (N, C)), so every pass runs over
contiguous memory, and the output keeps the input's memory order. Each direction is two
compiled passes: forward the statistics (mean, then the centred sum of squares, both
accumulated in float64; a conv channel's row is still in cache for the second read) and the
affine output ``(x - mean) * scale + bias``; backward the two per-channel sums ``sum(g)``,
``sum(g * (x - mean))`` (float64 accumulators) and the input gradient ``(g - mean(g)) *
scale - (x - mean) * k``. In training on the row layout both passes of a direction run
channel by channel in one kernel, so each row is read from memory once. Big outputs come
from the buffer pool (``lamina.kernels.memory``).

``batch_norm_relu`` rides in the same passes: forward writes ``max(y, 0)`` directly and
backward multiplies the incoming gradient by ``y > 0``, recomputing ``y`` from the input
exactly as forward computed it, so no ReLU output or mask is read back on the row layout.

Values: the reference's up to the rounding of the per-channel sums (added in another order).
Measured (BatchNorm2d forward + backward, batch 32, 64 channels, 16x16, float32, 2-core
AMD EPYC, median of 5): on a conv output's (C, H, W, N) layout 4.7 ms against the
reference's 7.1; a plain C-order (N, C, H, W) input has no copy-free channel view and stays
on the reference (3.9 ms there, against 5.9 for a copy plus these passes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from lamina import dispatch
from lamina.kernels.jit import kernels
from lamina.kernels.memory import buffer
from lamina.ops.nn import BatchNorm, BatchNormReLU, _update_running

__all__ = ["BatchNormKernels", "batch_norm_kernels", "BatchNormCompiled",
           "BatchNormReLUCompiled"]


class BatchNormKernels(NamedTuple):
    """The compiled passes. ``rows`` says the channels are the rows of the 2-D view (else its
    columns); ``relu`` rectifies the output (and masks the gradient)."""

    stats: Callable          # (x, rows, mean, var): per-channel mean and biased variance
    affine: Callable         # (x, m, s, t, out, rows): out = (x - m) * s + t
    grad_sums: Callable      # (g, x, m, gsum, gxsum, rows): sum(g), sum(g * (x - m))
    input_grad: Callable     # (g, x, gm, m, s, k, out, rows): (g - gm) * s - (x - m) * k
    forward_rows: Callable   # training, row layout: statistics and output, row by row
    backward_rows: Callable  # training, row layout: the two sums and the input gradient


@kernels
def batch_norm_kernels(numba) -> BatchNormKernels:
    """The compiled passes (a ``BatchNormKernels``), or None (no numba, turned off, or a dtype
    other than float32/float64)."""
    # reassociation lets LLVM vectorize the float64 accumulations (sums only; every
    # element-wise result below is computed in the NumPy path's order)
    fast = {"reassoc"}

    @numba.njit(cache=True, nogil=True, fastmath=fast)
    def _row_stats(xr):
        # one channel's mean and biased variance (two passes, float64 accumulators)
        m = xr.shape[0]
        s = 0.0
        for j in range(m):
            s += xr[j]
        mu = s / m
        q = 0.0
        for j in range(m):
            d = xr[j] - mu
            q += d * d
        return mu, q / m

    @numba.njit(cache=True, nogil=True, fastmath=fast)
    def stats(x, rows, mean, var):
        # per-channel mean and biased variance
        if rows:
            for r in range(x.shape[0]):
                mean[r], var[r] = _row_stats(x[r])
        else:
            m, c = x.shape
            acc = np.zeros(c)
            for i in range(m):
                xr = x[i]
                for j in range(c):
                    acc[j] += xr[j]
            mu = acc / m
            acc[:] = 0.0
            for i in range(m):
                xr = x[i]
                for j in range(c):
                    d = xr[j] - mu[j]
                    acc[j] += d * d
            for j in range(c):
                mean[j] = mu[j]
                var[j] = acc[j] / m

    @numba.njit(cache=True, nogil=True)
    def affine(x, m, s, t, out, rows):
        # out = (x - m) * s + t with per-channel m, s, t along rows (rows) or columns
        for r in range(x.shape[0]):
            xr, orow = x[r], out[r]
            if rows:
                mr, sr, tr = m[r], s[r], t[r]
                for j in range(x.shape[1]):
                    orow[j] = (xr[j] - mr) * sr + tr
            else:
                for j in range(x.shape[1]):
                    orow[j] = (xr[j] - m[j]) * s[j] + t[j]

    @numba.njit(cache=True, nogil=True, fastmath=fast)
    def grad_sums(g, x, m, gsum, gxsum, rows):
        # per-channel sum(g) and sum(g * (x - m)), float64 accumulators
        if rows:
            for r in range(g.shape[0]):
                gr, xr, mr = g[r], x[r], m[r]
                a = 0.0
                b = 0.0
                for j in range(g.shape[1]):
                    v = gr[j]
                    a += v
                    b += v * (xr[j] - mr)
                gsum[r] = a
                gxsum[r] = b
        else:
            c = g.shape[1]
            a = np.zeros(c)
            b = np.zeros(c)
            for i in range(g.shape[0]):
                gr, xr = g[i], x[i]
                for j in range(c):
                    v = gr[j]
                    a[j] += v
                    b[j] += v * (xr[j] - m[j])
            for j in range(c):
                gsum[j] = a[j]
                gxsum[j] = b[j]

    @numba.njit(cache=True, nogil=True)
    def input_grad(g, x, gm, m, s, k, out, rows):
        # out = (g - gm) * s - (x - m) * k with per-channel gm, m, s, k
        for r in range(g.shape[0]):
            gr, xr, orow = g[r], x[r], out[r]
            if rows:
                gmr, mr, sr, kr = gm[r], m[r], s[r], k[r]
                for j in range(g.shape[1]):
                    orow[j] = (gr[j] - gmr) * sr - (xr[j] - mr) * kr
            else:
                for j in range(g.shape[1]):
                    orow[j] = (gr[j] - gm[j]) * s[j] - (xr[j] - m[j]) * k[j]

    # fused per-channel passes for the row layout (conv outputs: one channel's values
    # contiguous, a row of 128 KB at most on conv-wide): the statistics and the output
    # (or the two sums and the input gradient) are computed row by row, so a row comes
    # from memory once and is re-read from cache. The element-wise steps run in helpers
    # compiled without fast-math (fast-math flags stay with their instructions).

    # With ``relu`` (``batch_norm_relu``) the output is ``np.maximum(y, 0)`` (NaN kept,
    # -0.0 made +0.0) and the incoming gradient is first multiplied by ``y > 0``, with
    # ``y`` recomputed from the input exactly as forward computed it (same operations,
    # same order), so no ReLU output or mask is stored or read back.

    @numba.njit(cache=True, nogil=True)
    def _affine_row(xr, m, s, t, orow, relu):
        if relu:
            for j in range(xr.shape[0]):
                v = (xr[j] - m) * s + t
                orow[j] = v if (v > 0 or v != v) else 0.0
        else:
            for j in range(xr.shape[0]):
                orow[j] = (xr[j] - m) * s + t

    @numba.njit(cache=True, nogil=True)
    def _igrad_row(gr, xr, gm, m, s, k, orow, relu, sf, tf):
        if relu:
            for j in range(gr.shape[0]):
                v = gr[j] * (((xr[j] - m) * sf + tf) > 0)
                orow[j] = (v - gm) * s - (xr[j] - m) * k
        else:
            for j in range(gr.shape[0]):
                orow[j] = (gr[j] - gm) * s - (xr[j] - m) * k

    @numba.njit(cache=True, nogil=True, fastmath=fast)
    def forward_rows(x, w, b, eps, mean, var, invstd, out, relu):
        for r in range(x.shape[0]):
            xr = x[r]
            mean[r], var[r] = _row_stats(xr)
            invstd[r] = 1.0 / np.sqrt(var[r] + eps)
            _affine_row(xr, mean[r], invstd[r] * w[r], b[r], out[r], relu)

    @numba.njit(cache=True, nogil=True, fastmath=fast)
    def backward_rows(g, x, mean, invstd, w, b, gsum, gxsum, gx, need_gx, tmp, relu):
        # tmp: four scratch values per row in the input's dtype (the per-row constants
        # stay in that precision, as in the NumPy path)
        m = g.shape[1]
        for r in range(g.shape[0]):
            gr, xr, mr = g[r], x[r], mean[r]
            tmp[0] = invstd[r] * w[r]           # forward's scale
            tmp[3] = b[r]
            a = 0.0
            bsum = 0.0
            if relu:
                for j in range(m):
                    v = gr[j] * (((xr[j] - mr) * tmp[0] + tmp[3]) > 0)
                    a += v
                    bsum += v * (xr[j] - mr)
            else:
                for j in range(m):
                    v = gr[j]
                    a += v
                    bsum += v * (xr[j] - mr)
            gsum[r] = a
            gxsum[r] = bsum
            gxsum[r] *= invstd[r]
            if need_gx:
                tmp[1] = gsum[r] / m
                tmp[2] = tmp[0] * invstd[r] * gxsum[r] / m
                _igrad_row(gr, xr, tmp[1], mr, tmp[0], tmp[2], gx[r], relu, tmp[0],
                           tmp[3])

    return BatchNormKernels(stats, affine, grad_sums, input_grad, forward_rows, backward_rows)


def _channel_perm(x):
    """An order of ``x``'s axes, channels (axis 1) first or last, in which ``x`` is
    C-contiguous (so its 2-D channel view needs no copy), or None."""
    nd = x.ndim
    for p in ((1, *range(2, nd), 0), (1, 0, *range(2, nd)), (0, *range(2, nd), 1)):
        if x.transpose(p).flags.c_contiguous:
            return p
    return None


def _as_2d(x, perm=None):
    """``(X, perm, rows)``: ``X`` the array as 2-D, ``x.transpose(perm)`` reshaped; with
    ``rows`` the channels are X's rows (C, M), else its columns (M, C). ``perm`` defaults to
    ``_channel_perm(x)``; a copy only when ``x`` is not contiguous in that order."""
    if perm is None:
        perm = _channel_perm(x) or (1, *range(2, x.ndim), 0)
    c = x.shape[1]
    v = x.transpose(perm)
    if not v.flags.c_contiguous:
        v = np.ascontiguousarray(v)
    return (v.reshape(c, -1), perm, True) if perm[0] == 1 else (v.reshape(-1, c), perm, False)


def _back(a2, x_shape, perm):
    """A 2-D result back to the input's shape (a view in the permuted memory order)."""
    inv = [0] * len(perm)               # the inverse permutation (np.argsort: ~10 us)
    for i, p in enumerate(perm):
        inv[p] = i
    return a2.reshape(tuple(x_shape[p] for p in perm)).transpose(inv)


def _compiled(x) -> bool:
    """The passes exist for ``x``'s dtype (float32/float64, numba present and on) and can
    read ``x`` in place: a plain C-order (N, C, H, W) input has no copy-free channel view,
    and the reference's NumPy reductions over it are faster than a copy plus the passes
    (3.9 vs 5.9 ms forward + backward at (32, 64, 16, 16) float32)."""
    return batch_norm_kernels(x.dtype) is not None and _channel_perm(x) is not None


@dispatch.register("batch_norm", applies=_compiled)
class BatchNormCompiled(BatchNorm):
    """``BatchNorm`` in two compiled passes each way on the input's own memory layout (see the
    module docstring)."""

    relu = False

    @classmethod
    def forward(cls, ctx, x, w, b, rm, rv, training, momentum, eps):
        k = batch_norm_kernels(x.dtype)
        x2, perm, rows = _as_2d(x)
        c = x.shape[1]
        dt = x2.dtype
        ctx.layout = (x.shape, perm, rows)
        ctx.training = training
        w1 = np.ones(c, dt) if w is None else w
        b1 = np.zeros(c, dt) if b is None else b
        out = buffer(x2.shape, dt)
        if training and rows:
            mean, var, invstd = (np.empty(c, dt) for _ in range(3))
            k.forward_rows(x2, w1, b1, eps, mean, var, invstd, out, cls.relu)
            _update_running(rm, rv, mean, var, momentum, x.size // c)
        else:
            if training:
                mean, var = np.empty(c, dt), np.empty(c, dt)
                k.stats(x2, rows, mean, var)
                _update_running(rm, rv, mean, var, momentum, x.size // c)
            else:
                # the running statistics may change in place before backward: a copy
                mean, var = rm.copy(), rv
            invstd = 1.0 / np.sqrt(var + eps)
            k.affine(x2, mean, invstd * w1, b1, out, rows)
            if cls.relu:
                np.maximum(out, 0, out=out)
        y = _back(out, x.shape, perm)
        # x itself is saved for the in-place-modification check; with relu, backward
        # recomputes the mask from x, w and b on the row layout and reads y elsewhere
        ctx.save_for_backward(x, x2, mean, invstd, w, b if cls.relu else None,
                              y if cls.relu else None)
        return y

    @classmethod
    def backward(cls, ctx, g):
        _, x2, mean, invstd, w, b, y = ctx.saved
        k = batch_norm_kernels(x2.dtype)
        x_shape, perm, rows = ctx.layout
        g2 = _as_2d(g, perm)[0]             # contiguous, in x2's layout
        c = mean.shape[0]
        dt = x2.dtype
        nx, nw, nb = ctx.needs_input_grad[:3]
        nones = (None,) * (len(ctx.needs_input_grad) - 3)
        w1 = np.ones(c, dt) if w is None else w
        gsum, gxsum = np.empty(c, dt), np.empty(c, dt)
        gx = None
        if ctx.training and rows:
            gx = buffer(x2.shape, dt) if nx else x2[:0]
            k.backward_rows(g2, x2, mean, invstd, w1, np.zeros(c, dt) if b is None else b,
                            gsum, gxsum, gx, nx, np.empty(4, dt), cls.relu)
            gx = _back(gx, x_shape, perm) if nx else None
            return (gx, gxsum if nw else None, gsum if nb else None, *nones)
        if cls.relu:
            g2 = g2 * (_as_2d(y, perm)[0] > 0)      # the ReLU's backward, a separate pass
        # sum(g * xhat) = invstd * sum(g * (x - mean))
        k.grad_sums(g2, x2, mean, gsum, gxsum, rows)
        gxsum *= invstd
        if nx:
            scale = invstd * w1
            gx = buffer(x2.shape, dt)
            if ctx.training:
                n = x2.size // c
                k.input_grad(g2, x2, gsum / n, mean, scale, scale * invstd * gxsum / n, gx,
                             rows)
            else:
                np.multiply(g2, scale[:, None] if rows else scale, out=gx)
            gx = _back(gx, x_shape, perm)
        return (gx, gxsum if nw else None, gsum if nb else None, *nones)


@dispatch.register("batch_norm_relu", applies=_compiled)
class BatchNormReLUCompiled(BatchNormCompiled, BatchNormReLU):
    """``BatchNormReLU`` in BatchNorm's compiled passes (the ReLU inside them)."""

    relu = True
