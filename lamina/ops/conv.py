"""Convolutions: ``conv1d``, ``conv2d``, ``conv_transpose1d``, ``conv_transpose2d``.

PyTorch's definitions (cross-correlation)::

    out[n, o, y, x] = b[o]
        + sum_{c, i, j} w[o, c, i, j] * xpad[n, g*Cg + c, y*sh + i*dh, x*sw + j*dw]

How it is computed (im2col): the input is padded once into a buffer laid out channels first
and batch LAST, ``(C, Hp, Wp, N)``; a strided window view of that buffer,
``(C, kh, kw, Ho, Wo, N)``, is copied once into the column matrix ``cols`` of shape
``(C*kh*kw, Ho*Wo*N)`` whose rows are contiguous, and the output is ONE GEMM per group,
``W (O, C*kh*kw) @ cols``; the bias rides in that GEMM as an extra weight column against a
row of ones in ``cols``. The result ``(O, Ho, Wo, N)`` is handed out as an ``(N, O, Ho, Wo)``
view, so a following conv reads its input without a transpose copy (NumPy's element-wise
ufuncs keep that memory order). Backward: the weight and bias gradients are one GEMM
(``cols @ g.T``), the input gradient ``W.T @ g`` followed by a col2im that adds ``kh*kw``
strided slices (no per-pixel loop, no ``np.add.at``); when that column matrix would be large
it is computed in blocks of output rows that stay in cache (``_input_grad_chunked``; each
block zeroes the gradient rows it is first to reach). Without gradients (``no_grad``,
inference) the forward also runs in blocks of output rows, each block's columns consumed by
the GEMM while in cache and nothing kept (``_conv_forward_streamed``). Layers with at most
8 output channels (stride 1, 3- or 5-wide kernels) skip the column matrix: with numba they
run a direct convolution (``_use_direct``). Training layers with few input channels (C*kh*kw
at most 27, an RGB first layer) keep the padded input instead of the column matrix: with
numba their weight gradient is a compiled kernel on that input, so the forward streams its
columns as inference does (``_use_small_k``).

Measured on conv-wide (batch 32, 3x32x32, 2 threads) and kept out on purpose: training
with the streamed forward (the column blocks rebuilt in backward, or kept block by block
for the weight gradient) was 3-7% slower per step than keeping the whole column matrix;
4 KiB-staggered buffer offsets (against store-to-load aliasing) changed nothing measurable;
splitting the kernels and GEMM halves over two Python threads gained nothing (OpenBLAS's
idle worker spins on the second core between GEMMs, and with OpenBLAS at one thread our
two single-threaded GEMM halves were no faster than its own two-thread GEMM). For the first
layer (3 -> 32 channels, input in (N, C, H, W) order) also: a register-blocked direct
forward (4 output channels x 3 taps per pass, 1.1-1.4 ms on one thread inside a step) was no
better than the streamed GEMM; a compiled (N, C, H, W) -> padded (C, Hp, Wp, N) copy saved
0.06 ms over ``_pad_cn`` (0.2% of the step); a compiled 4x4-tile product on the column
matrix (cols @ g.T: 0.92 vs BLAS 1.16 ms, isolated) was no faster than ``gw_small`` and
would have kept the column matrix.

Why batch last: the innermost axis of every window copy and col2im add is then the batch, a
contiguous run of N elements (merged with ``Wo`` at stride 1), instead of a short strided
row of ``Wo``. Measured (float32, one thread) against the batch-second layout
``(C, N, Hp, Wp)``: im2col 2-3x faster (conv-wide layer 2: 1.00 vs 2.22 ms) and col2im about
2x (2.51 vs 4.63 ms); the GEMMs are the same. A channels-last layout (N, H, W, C), with
output pixels as GEMM rows, was measured too: its GEMMs were up to 1.4x faster for 6-16
output channels, but its col2im (runs of only C contiguous elements) was 2-3x slower for
small C, a net loss on LeNet-sized layers.

A transposed convolution is the adjoint: its forward is the conv input-gradient path and its
backward the conv forward path, sharing the same helpers.

With numba installed (an optional extra; ``LAMINA_NUMBA=0`` turns it off) col2im, and im2col
of a batch-last input, run as compiled loops (``_kernels``) that give the NumPy path's results
exactly, and the direct convolution and the few-input-channel weight gradient are available
(they sum in their own order: equal to the NumPy path up to rounding); without numba
everything is NumPy.
"""

from __future__ import annotations

import math
import os
import sys
import threading

import numpy as np

from lamina._jit import kernels
from lamina.autograd.function import Function
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"]

_as_strided = np.lib.stride_tricks.as_strided


# --- a small buffer pool ---------------------------------------------------------------------
# The big per-step temporaries (column matrices, padded inputs, col2im sums) are megabytes:
# glibc hands such blocks back to the OS when freed and every new step faults them in again
# (PERF-NOTES: about a third of a NumPy LeNet step). Buffers are recycled by shape once
# nothing but the pool refers to them (checked with the reference count, so a buffer saved
# for backward or handed out as an output view is never reused while alive).
# LAMINA_CONV_POOL=0 turns the pool off.

_POOL: dict = {}
_POOL_ON = os.environ.get("LAMINA_CONV_POOL", "1") != "0"
_POOL_PER_KEY = 4
_POOL_KEYS = 32
_POOL_MAX_BYTES = 64 << 20       # larger arrays are not kept
_POOL_LOCK = threading.Lock()


def _free_refcount() -> int:
    """Reference count ``_buffer`` sees for a pooled buffer nobody else holds."""
    lst = [np.empty(1)]
    for b in lst:
        return sys.getrefcount(b)
    return -1


_FREE_RC = _free_refcount()


def clear_buffer_pool() -> None:
    """Drop every recycled buffer (memory held between steps is returned to the allocator)."""
    with _POOL_LOCK:
        _POOL.clear()


def _buffer(shape, dtype, zero=False):
    """An array of ``shape`` and ``dtype`` (zeroed when ``zero``), recycled when possible."""
    if not _POOL_ON or math.prod(shape) * dtype.itemsize > _POOL_MAX_BYTES:
        return np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
    key = (shape, dtype)
    with _POOL_LOCK:                  # a buffer handed to one thread is referenced at once
        lst = _POOL.get(key)
        if lst is None:
            if len(_POOL) >= _POOL_KEYS:        # forget the oldest shape
                del _POOL[next(iter(_POOL))]
            lst = _POOL[key] = []
        for b in lst:
            if sys.getrefcount(b) == _FREE_RC:
                found = b
                break
        else:
            found = None
            if len(lst) < _POOL_PER_KEY:
                found = np.empty(shape, dtype)
                lst.append(found)
    if found is None:
        return np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
    if zero:
        found.fill(0)
    return found


# --- helpers on raw arrays -------------------------------------------------------------------

def _pad_cn(x, pads):
    """``x`` (N, C, H, W) -> zero-padded buffer laid out (C, Hp, Wp, N) (a view if no pad)."""
    n, c, h, w = x.shape
    pt, pb, pl, pr = pads
    xt = x.transpose(1, 2, 3, 0)
    if not (pt or pb or pl or pr):
        return xt
    buf = _buffer((c, h + pt + pb, w + pl + pr, n), x.dtype)
    buf[:, pt:pt + h, pl:pl + w] = xt
    # zero only the border (the buffer may be recycled)
    buf[:, :pt] = 0
    buf[:, pt + h:] = 0
    buf[:, pt:pt + h, :pl] = 0
    buf[:, pt:pt + h, pl + w:] = 0
    return buf


def _pad_dense(x, pads):
    """``_pad_cn``, always C-contiguous (C, Hp, Wp, N) (what the compiled kernels read)."""
    xp = _pad_cn(x, pads)
    if not xp.flags.c_contiguous:
        buf = _buffer(xp.shape, x.dtype)
        np.copyto(buf, xp)
        xp = buf
    return xp


def _cols_buffer(c, kh, kw, ho, wo, n, dtype, ones_row=False):
    """A recycled column matrix (C*kh*kw [+ 1], Ho*Wo*N) and its (C, kh, kw, Ho, Wo, N) view
    of the window rows; with ``ones_row`` the extra last row is filled with ones (so a GEMM
    with the bias as an extra weight column adds the bias, and ``cols @ g.T`` yields the
    bias gradient as its last row)."""
    k, p = c * kh * kw, ho * wo * n
    if not ones_row:
        buf = _buffer((k, p), dtype)
        return buf, buf.reshape(c, kh, kw, ho, wo, n)
    buf = _buffer((k + 1, p), dtype)
    buf[k] = 1
    return buf, buf[:k].reshape(c, kh, kw, ho, wo, n)


def _im2col(xp, kh, kw, ho, wo, stride, dilation, ones_row=False):
    """Window view of a (C, Hp, Wp, N)-shaped buffer -> contiguous (C*kh*kw, Ho*Wo*N)
    (plus a row of ones with ``ones_row``)."""
    c, n = xp.shape[0], xp.shape[3]
    s_c, s_h, s_w, s_n = xp.strides
    view = _as_strided(
        xp, (c, kh, kw, ho, wo, n),
        (s_c, s_h * dilation[0], s_w * dilation[1], s_h * stride[0], s_w * stride[1], s_n),
        writeable=False)
    cols, cols6 = _cols_buffer(c, kh, kw, ho, wo, n, xp.dtype, ones_row)
    np.copyto(cols6, view)
    return cols


@kernels
def _kernels(numba):
    """``(col2im, im2col, direct_fwd, direct_gw, gw_small)`` compiled with numba (optional;
    ``LAMINA_NUMBA=0`` turns it off), or None (also for dtypes other than float32/float64).
    im2col reads the unpadded input directly (writing zeros for the padding), which saves
    the padded copy; col2im writes only the unpadded window.

    col2im works one channel at a time, its output plane kept in cache while its kh*kw
    column blocks are added in order: each output element sums the same terms in the same
    (row-major offset) order as the NumPy path below, so the results are the same (up to the
    sign of zero sums); LeNet/conv-wide col2im 0.73 -> 0.16, 2.4 -> 0.93, 1.2 -> 0.35 ms.
    The direct convolution (few output channels, see ``_use_direct``) and gw_small (few input
    channels, ``_use_small_k``) sum in their own order."""

    @numba.njit(cache=True, nogil=True, inline="always")
    def span(off, size, s, count):
        # the t in [a, b) with 0 <= t * s + off < size (0 <= a <= b <= count)
        a = 0 if off >= 0 else (s - 1 - off) // s
        last = size - 1 - off
        b = 0 if last < 0 else min(count, last // s + 1)
        return a, max(a, b)

    @numba.njit(cache=True, nogil=True)
    def col2im(cols, out, pt, pl, sh, sw, dh, dw, z0, z1):
        # cols (C, kh, kw, Ho, Wo, N) added into out (C, H, W, N) at row oy*sh + i*dh - pt,
        # column ox*sw + j*dw - pl; positions outside out (the padding) are dropped. Rows
        # z0 .. z1 of each channel are zeroed just before that channel's adds (the rows
        # this call is first to touch: zeroed while they are in cache, not in a separate
        # pass over the whole gradient). The in-range output rows and columns of each
        # offset are computed up front, so the inner loops carry no bounds tests.
        c_n, kh, kw, ho, wo, n = cols.shape
        h, w = out.shape[1], out.shape[2]
        for c in range(c_n):
            oc = out[c]
            cc = cols[c]
            for y in range(z0, z1):
                for x in range(w):
                    r = oc[y, x]
                    for k in range(n):
                        r[k] = 0
            for i in range(kh):
                ya, yb = span(i * dh - pt, h, sh, ho)
                for j in range(kw):
                    xa, xb = span(j * dw - pl, w, sw, wo)
                    for oy in range(ya, yb):
                        orow = oc[oy * sh + i * dh - pt]
                        crow = cc[i, j, oy]
                        for ox in range(xa, xb):
                            src = crow[ox]
                            r = orow[ox * sw + j * dw - pl]
                            for k in range(n):
                                r[k] = r[k] + src[k]

    @numba.njit(cache=True, nogil=True)
    def im2col(xt, cols, pt, pl, sh, sw, dh, dw):
        # xt (C, H, W, N) any strides -> cols (C, kh, kw, Ho, Wo, N), zero outside the input
        c_n, kh, kw, ho, wo, n = cols.shape
        h, w = xt.shape[1], xt.shape[2]
        for c in range(c_n):
            for i in range(kh):
                for j in range(kw):
                    for oy in range(ho):
                        y = oy * sh + i * dh - pt
                        for ox in range(wo):
                            x = ox * sw + j * dw - pl
                            dst = cols[c, i, j, oy, ox]
                            if 0 <= y < h and 0 <= x < w:
                                src = xt[c, y, x]
                                for k in range(n):
                                    dst[k] = src[k]
                            else:
                                for k in range(n):
                                    dst[k] = 0

    # --- direct convolution (stride 1, no dilation) for layers with few output channels --
    # Rows of a padded batch-last input (C, Hp, Wp, N) are runs of Wp*N values, and for
    # stride 1 the window column j of an output row is the contiguous run starting at j*N:
    # each output row (o, y) is a sum of kh*kw*C scaled runs. The kw taps of one kernel row
    # are added in one pass (kw = 3 or 5 spelled out, so the loop over the row vectorizes),
    # with fused multiply-adds ("contract": LeNet's first layer 0.41 -> 0.35 ms).

    @numba.njit(cache=True, nogil=True, inline="always", fastmath={"contract"})
    def _taps5(acc, src, n, w0, w1, w2, w3, w4):
        m = acc.shape[0]
        s0, s1, s2 = src[0:m], src[n:n + m], src[2 * n:2 * n + m]
        s3, s4 = src[3 * n:3 * n + m], src[4 * n:4 * n + m]
        for q in range(m):
            acc[q] = acc[q] + w0 * s0[q] + w1 * s1[q] + w2 * s2[q] + w3 * s3[q] + w4 * s4[q]

    @numba.njit(cache=True, nogil=True, inline="always", fastmath={"contract"})
    def _taps3(acc, src, n, w0, w1, w2):
        m = acc.shape[0]
        s0, s1, s2 = src[0:m], src[n:n + m], src[2 * n:2 * n + m]
        for q in range(m):
            acc[q] = acc[q] + w0 * s0[q] + w1 * s1[q] + w2 * s2[q]

    @numba.njit(cache=True, nogil=True, fastmath={"contract"})
    def direct_fwd(xp, w, b, out):
        # out (O, Ho, Wo, N) = b + sum_{c,i,j} w[o,c,i,j] * xp[c, y+i, x+j, :]
        o_n, c_n, kh, kw = w.shape
        ho, n = out.shape[1], out.shape[3]
        m = out.shape[2] * n
        xf = xp.reshape(c_n, xp.shape[1], xp.shape[2] * n)
        of = out.reshape(o_n, ho, m)
        for o in range(o_n):
            for y in range(ho):
                acc = of[o, y]
                for q in range(m):
                    acc[q] = 0
                for c in range(c_n):
                    for i in range(kh):
                        src = xf[c, y + i]
                        wr = w[o, c, i]
                        if kw == 5:
                            _taps5(acc, src, n, wr[0], wr[1], wr[2], wr[3], wr[4])
                        elif kw == 3:
                            _taps3(acc, src, n, wr[0], wr[1], wr[2])
                        else:
                            for j in range(kw):
                                sj = src[j * n:j * n + m]
                                wv = wr[j]
                                for q in range(m):
                                    acc[q] = acc[q] + wv * sj[q]
                bo = b[o]
                for q in range(m):
                    acc[q] = acc[q] + bo

    @numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
    def direct_gw(xp, g, gw, zero):
        # gw[o,c,i,j] = sum_{y,x,n} g[o,y,x,n] * xp[c, y+i, x+j, n]: per output row, kw dot
        # products at once in the input's precision (``zero`` sets it; reassociation lets
        # them vectorize), the rows' sums added in float64
        o_n, c_n, kh, kw = gw.shape
        ho, n = g.shape[1], g.shape[3]
        m = g.shape[2] * n
        xf = xp.reshape(c_n, xp.shape[1], xp.shape[2] * n)
        gf = g.reshape(o_n, ho, m)
        acc = np.zeros(kw)
        for o in range(o_n):
            for c in range(c_n):
                for i in range(kh):
                    acc[:] = 0.0
                    for y in range(ho):
                        gr = gf[o, y]
                        src = xf[c, y + i]
                        if kw == 5:
                            s0, s1, s2 = src[0:m], src[n:n + m], src[2 * n:2 * n + m]
                            s3, s4 = src[3 * n:3 * n + m], src[4 * n:4 * n + m]
                            a0 = a1 = a2 = a3 = a4 = zero
                            for q in range(m):
                                v = gr[q]
                                a0 += v * s0[q]
                                a1 += v * s1[q]
                                a2 += v * s2[q]
                                a3 += v * s3[q]
                                a4 += v * s4[q]
                            acc[0] += a0
                            acc[1] += a1
                            acc[2] += a2
                            acc[3] += a3
                            acc[4] += a4
                        elif kw == 3:
                            s0, s1, s2 = src[0:m], src[n:n + m], src[2 * n:2 * n + m]
                            a0 = a1 = a2 = zero
                            for q in range(m):
                                v = gr[q]
                                a0 += v * s0[q]
                                a1 += v * s1[q]
                                a2 += v * s2[q]
                            acc[0] += a0
                            acc[1] += a1
                            acc[2] += a2
                        else:
                            for j in range(kw):
                                sj = src[j * n:j * n + m]
                                a0 = zero
                                for q in range(m):
                                    a0 += gr[q] * sj[q]
                                acc[j] += a0
                    for j in range(kw):
                        gw[o, c, i, j] = acc[j]

    # --- weight gradient of a layer with few input channels (see ``_use_small_k``) --------
    # The gradient is (O, C*kh*kw) dot products of length Ho*Wo*N, an output too small for
    # BLAS to block well. Here each pass over g's rows computes 4 output channels x 3 kernel
    # columns at once: 12 dot products sharing 7 vector loads (4 rows of g, 3 shifted runs
    # of the padded input; out-of-range indices are clamped, which computes the same sum
    # twice). Per output row the sums run in the input's precision (reassociation lets
    # them vectorize) and are added in float64, as in direct_gw.

    @numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
    def gw_small(xp, g, gw, gb, sh, dh, dw, zero):
        # gw[o,c,i,j] = sum_{y,x,n} g[o,y,x,n] * xp[c, y*sh + i*dh, x + j*dw, n] (stride 1
        # along x); with a non-empty gb also gb[o] = sum g[o] (each 4-channel block's rows
        # summed just before its passes, which then find them in cache)
        o_n, c_n, kh, kw = gw.shape
        ho, n = g.shape[1], g.shape[3]
        m = g.shape[2] * n
        xf = xp.reshape(c_n, xp.shape[1], xp.shape[2] * n)
        gf = g.reshape(o_n, ho, m)
        acc = np.zeros((4, 3))
        last = o_n - 1
        for o in range(0, o_n, 4):
            o1, o2, o3 = min(o + 1, last), min(o + 2, last), min(o + 3, last)
            if gb.shape[0]:
                for oo in range(o, min(o + 4, o_n)):
                    t = 0.0
                    for y in range(ho):
                        row = gf[oo, y]
                        s = zero
                        for q in range(m):
                            s += row[q]
                        t += s
                    gb[oo] = t
            for c in range(c_n):
                for i in range(kh):
                    for j in range(0, kw, 3):
                        j1, j2 = min(j + 1, kw - 1), min(j + 2, kw - 1)
                        acc[:] = 0.0
                        for y in range(ho):
                            g0, g1, g2, g3 = gf[o, y], gf[o1, y], gf[o2, y], gf[o3, y]
                            src = xf[c, y * sh + i * dh]
                            s0 = src[j * dw * n:j * dw * n + m]
                            s1 = src[j1 * dw * n:j1 * dw * n + m]
                            s2 = src[j2 * dw * n:j2 * dw * n + m]
                            a00 = a01 = a02 = a10 = a11 = a12 = zero
                            a20 = a21 = a22 = a30 = a31 = a32 = zero
                            for q in range(m):
                                v0, v1, v2 = s0[q], s1[q], s2[q]
                                u = g0[q]
                                a00 += u * v0
                                a01 += u * v1
                                a02 += u * v2
                                u = g1[q]
                                a10 += u * v0
                                a11 += u * v1
                                a12 += u * v2
                                u = g2[q]
                                a20 += u * v0
                                a21 += u * v1
                                a22 += u * v2
                                u = g3[q]
                                a30 += u * v0
                                a31 += u * v1
                                a32 += u * v2
                            acc[0, 0] += a00
                            acc[0, 1] += a01
                            acc[0, 2] += a02
                            acc[1, 0] += a10
                            acc[1, 1] += a11
                            acc[1, 2] += a12
                            acc[2, 0] += a20
                            acc[2, 1] += a21
                            acc[2, 2] += a22
                            acc[3, 0] += a30
                            acc[3, 1] += a31
                            acc[3, 2] += a32
                        for r in range(4):
                            oo = min(o + r, last)
                            gw[oo, c, i, j] = acc[r, 0]
                            gw[oo, c, i, j1] = acc[r, 1]
                            gw[oo, c, i, j2] = acc[r, 2]

    return (col2im, im2col, direct_fwd, direct_gw, gw_small)


_DIRECT_MAX_OUT = 8   # direct convolution for at most this many output channels


def _use_direct(kern, o, kw, stride, dilation, groups):
    """Whether to run the compiled direct convolution instead of im2col + GEMM.

    With very few output channels the GEMM has only o rows, so OpenBLAS runs it at a small
    fraction of its peak while the column matrix (kh*kw times the input) is written, packed
    and read again; the direct loop touches the input only. LeNet's first layer (1 -> 6
    channels, 5x5, batch 64), 1-thread CPU: forward 1.44 -> 0.5 ms, weight gradient
    0.85 -> 0.4 ms; with 16 or 32 output channels (LeNet conv2, conv-wide's first layer) the
    GEMM was faster, hence the bound."""
    return (kern is not None and o <= _DIRECT_MAX_OUT and groups == 1 and kw in (3, 5)
            and stride == (1, 1) and dilation == (1, 1))


_SMALL_K_MAX = 27       # C*kh*kw bound of the few-input-channel weight gradient
_SMALL_K_MAX_OUT = 32   # ... and its output-channel bound


def _use_small_k(kern, c, kh, kw, o, stride, groups):
    """Whether a training conv keeps the padded input instead of the column matrix and
    computes its weight gradient with the compiled ``gw_small`` (an RGB first layer).

    With C*kh*kw of 27 (conv-wide's first layer: 3 -> 32 channels, 3x3, batch 32), BLAS runs
    the weight-gradient GEMM ``cols (28, 32768) @ g.T`` at about 40 GFLOP/s (1.2-1.5 ms on
    two threads); gw_small takes 0.95-1.1 ms on one, and since backward no longer needs the
    column matrix the forward streams it in blocks that stay in cache
    (``_conv_forward_streamed``). That layer inside a step: forward 1.9-2.3 -> 1.5-1.85 ms,
    backward 1.4-1.5 -> 1.3-1.4 ms (0.1 ms slower in one run under heavy load from other
    processes); the step 1.8-2.3% faster. Isolated, gw_small was also ahead at C*kh*kw = 36
    (1.5 vs 2.2 ms) but not at 54 (2.8 vs 1.9 ms) nor with 64 output channels; only 27 was
    measured inside a step, hence the bounds.
    """
    return (kern is not None and groups == 1 and stride[1] == 1
            and c * kh * kw <= _SMALL_K_MAX and o <= _SMALL_K_MAX_OUT)


def _col2im(cols, c, n, hp, wp, kh, kw, ho, wo, stride, dilation, crop=None):
    """Adjoint of ``_im2col``: sum (C*kh*kw, Ho*Wo*N) columns into a (C, Hp, Wp, N) buffer;
    with ``crop`` = (top, left, H, W) only that (C, H, W, N) window of it is returned (the
    compiled kernel writes it as a contiguous array, so the gradient a conv hands back has
    the same dense batch-last layout as its output; the NumPy path returns a view)."""
    kern = _kernels(cols.dtype)
    if kern is not None and cols.flags.c_contiguous:
        pt, pl, h, w = crop if crop is not None else (0, 0, hp, wp)
        out = _buffer((c, h, w, n), cols.dtype)
        kern[0](cols.reshape(c, kh, kw, ho, wo, n), out, pt, pl, stride[0], stride[1],
                dilation[0], dilation[1], 0, h)
        return out
    cols = cols.reshape(c, kh, kw, ho, wo, n)
    sh, sw = stride
    dh, dw = dilation
    he = sh * (ho - 1) + 1
    we = sw * (wo - 1) + 1
    first = set()
    if dilation == (1, 1) and kh >= sh and kw >= sw:
        # the first sh x sw kernel offsets write disjoint strided slices that together tile
        # rows [0, sh*ho) x columns [0, sw*wo): assign them instead of zero-fill-and-add and
        # zero only the rest (conv-wide's stride-2 layers: 3.1 -> 2.0 and 2.0 -> 1.4 ms)
        out = _buffer((c, hp, wp, n), cols.dtype)
        for i in range(sh):
            for j in range(sw):
                out[:, i:i + he:sh, j:j + we:sw] = cols[:, i, j]
                first.add((i, j))
        out[:, sh * ho:] = 0
        out[:, :sh * ho, sw * wo:] = 0
    else:
        out = _buffer((c, hp, wp, n), cols.dtype, zero=True)
    for i in range(kh):
        for j in range(kw):
            if (i, j) not in first:
                out[:, i * dh:i * dh + he:sh, j * dw:j * dw + we:sw] += cols[:, i, j]
    if crop is not None:
        return out[:, crop[0]:crop[0] + crop[2], crop[1]:crop[1] + crop[3]]
    return out


_CHUNK_BYTES = 1 << 20      # column-matrix block of the chunked input gradient


def _input_grad_chunked(w2, g2, c, n, h, wd, kh, kw, ho, wo, stride, pads, dilation):
    """The conv input gradient ``col2im(W.T @ g)`` in blocks of output rows: each block's
    columns (about ``_CHUNK_BYTES``) are computed into one recycled buffer that stays in
    cache while they are added into the gradient, instead of writing (after OpenBLAS zeroes
    it) and reading back a column matrix of kh*kw times the input's size. Returns (C, H, W,
    N). The GEMM calls are the same with and without numba, and the NumPy block add does the
    kernel's additions in its order, so both paths give the same values."""
    k = w2.shape[1]
    rows = max(1, _CHUNK_BYTES // (k * wo * n * g2.itemsize))
    sh, sw = stride
    dh, dw = dilation
    kern = _kernels(g2.dtype)
    if kern is not None:
        gx = _buffer((c, h, wd, n), g2.dtype)    # zeroed row by row as blocks reach them
        done = 0                                 # rows [0, done) are zeroed
    else:
        hp, wp = h + pads[0] + pads[1], wd + pads[2] + pads[3]
        gxp = _buffer((c, hp, wp, n), g2.dtype, zero=True)
    for oy0 in range(0, ho, rows):
        ro = min(rows, ho - oy0)
        gc = _buffer((k, ro * wo * n), g2.dtype)
        np.matmul(w2.T, g2[:, oy0 * wo * n:(oy0 + ro) * wo * n], out=gc)
        gc6 = gc.reshape(c, kh, kw, ro, wo, n)
        if kern is not None:
            # rows this block reaches: up to (last output row) * sh + (kh - 1) * dh - pt
            top = min(h, (oy0 + ro - 1) * sh + (kh - 1) * dh - pads[0] + 1)
            kern[0](gc6, gx, pads[0] - oy0 * sh, pads[2], sh, sw, dh, dw, done, top)
            done = max(done, top)
        else:
            he, we = sh * (ro - 1) + 1, sw * (wo - 1) + 1
            blk = gxp[:, oy0 * sh:]
            for i in range(kh):
                for j in range(kw):
                    blk[:, i * dh:i * dh + he:sh, j * dw:j * dw + we:sw] += gc6[:, i, j]
        del gc, gc6
    if kern is not None:
        if done < h:
            gx[:, done:] = 0                     # rows no block reaches
        return gx
    return gxp[:, pads[0]:pads[0] + h, pads[2]:pads[2] + wd]


_STREAM = os.environ.get("LAMINA_CONV_STREAM", "1") != "0"


def _block_rows(k, wo, n, itemsize, ho):
    """Output rows per block of the streamed conv: about ``_CHUNK_BYTES`` of columns (all
    rows when ``_CHUNK_BYTES`` is 0, or for an empty batch)."""
    if _CHUNK_BYTES <= 0 or k * wo * n == 0:
        return ho
    return max(1, min(ho, _CHUNK_BYTES // (k * wo * n * itemsize)))


def _im2col_source(x, pads, kern):
    """What the block im2col reads: with numba the input as (C, H, W, N), its own memory
    when it is batch-last, else a recycled dense copy; without, the zero-padded
    (C, Hp, Wp, N) buffer."""
    if kern is None:
        return _pad_cn(x, pads)
    xt = x.transpose(1, 2, 3, 0)
    if xt.flags.c_contiguous:
        return xt
    buf = _buffer(xt.shape, x.dtype)
    np.copyto(buf, xt)
    return buf


def _im2col_block(src, cols6, oy0, pads, stride, dilation, kern):
    """Columns of output rows ``oy0 .. oy0 + R`` into ``cols6`` (C, kh, kw, R, Wo, N), from
    ``_im2col_source``'s array; the compiled copy and NumPy's give the same values."""
    sh, sw = stride
    dh, dw = dilation
    if kern is not None:
        kern[1](src, cols6, pads[0] - oy0 * sh, pads[2], sh, sw, dh, dw)
        return
    s_c, s_h, s_w, s_n = src.strides
    view = _as_strided(src[:, oy0 * sh:], cols6.shape,
                       (s_c, s_h * dh, s_w * dw, s_h * sh, s_w * sw, s_n), writeable=False)
    np.copyto(cols6, view)


def _conv_forward_streamed(src, w, b, ho, wo, n, pads, stride, dilation, kern):
    """``W @ im2col(x) (+ b)`` as (O, Ho*Wo*N), one block of output rows at a time: each
    block's columns (about ``_CHUNK_BYTES``) are written into one recycled buffer and
    consumed by the GEMM while they are in cache, so the whole column matrix (9x the input
    for a 3x3 kernel) never goes to memory. Used when no gradient is needed, and in training
    for the layers whose weight gradient reads the padded input (``_use_small_k``); other
    training layers keep the whole matrix for the weight gradient (rebuilding it block by
    block in backward cost more than the forward saved: conv-wide step 1.05x slower).
    conv-wide's three layers inside a step: 1.85, 4.1, 2.9 -> 1.35, 3.35, 2.7 ms. The bias
    rides in the GEMM as an extra weight column against a row of ones in each block."""
    o, c, kh, kw = w.shape
    k = c * kh * kw
    ones = b is not None
    kb = k + ones
    rows = _block_rows(kb, wo, n, w.itemsize, ho)
    w2 = w.reshape(o, k)
    if ones:
        w2 = np.concatenate((w2, b[:, None]), axis=1)
    out = _buffer((o, ho * wo * n), w.dtype)
    blk = _buffer((kb * rows * wo * n,), w.dtype)
    for oy0 in range(0, ho, rows):
        r = min(rows, ho - oy0)
        pc = r * wo * n
        cols = blk[:kb * pc].reshape(kb, pc)
        if ones:
            cols[k] = 1
        _im2col_block(src, cols[:k].reshape(c, kh, kw, r, wo, n), oy0, pads, stride,
                      dilation, kern)
        p0 = oy0 * wo * n
        np.matmul(w2, cols, out=out[:, p0:p0 + pc])
    return out


def _gemm_groups(a, b, groups, trans_a=False, trans_b=False, pooled=False):
    """``a @ b`` per group: ``a`` (G*m, k) and ``b`` (G*k, n) stacked along axis 0; with
    ``pooled`` the (ungrouped) result is written into a recycled buffer."""
    if groups == 1:
        a2 = a.T if trans_a else a
        b2 = b.T if trans_b else b
        if pooled:
            return np.matmul(a2, b2, out=_buffer((a2.shape[0], b2.shape[1]),
                                                 np.result_type(a2, b2)))
        return a2 @ b2
    a3 = a.reshape(groups, -1, a.shape[-1])
    b3 = b.reshape(groups, -1, b.shape[-1])
    if trans_a:
        a3 = a3.transpose(0, 2, 1)
    if trans_b:
        b3 = b3.transpose(0, 2, 1)
    out = np.matmul(a3, b3)
    return out.reshape(-1, out.shape[-1])


def _out_len(size, k, s, p_total, d):
    return (size + p_total - d * (k - 1) - 1) // s + 1


def _conv_input_grad(w, g2, groups, geom, stride, pads, dilation):
    """The conv input gradient ``col2im(W.T @ g)`` as an (N, C, H, W) view."""
    n, c, h, wd, hp, wp, ho, wo = geom
    o, cg, kh, kw = w.shape
    if groups == 1 and cg * kh * kw * ho * wo * n * g2.itemsize > 2 * _CHUNK_BYTES > 0:
        return _input_grad_chunked(w.reshape(o, cg * kh * kw), g2, c, n, h, wd, kh, kw, ho,
                                   wo, stride, pads, dilation).transpose(3, 0, 1, 2)
    gcols = _gemm_groups(w.reshape(o, cg * kh * kw), g2, groups, trans_a=True, pooled=True)
    return _col2im(gcols, c, n, hp, wp, kh, kw, ho, wo, stride, dilation,
                   (pads[0], pads[2], h, wd)).transpose(3, 0, 1, 2)


# --- Functions -------------------------------------------------------------------------------

class Conv2dFn(Function):
    """2-D convolution on arrays; ``pads`` is (top, bottom, left, right)."""

    @staticmethod
    def forward(ctx, x, w, b, stride, pads, dilation, groups):
        n, c, h, wd = x.shape
        o, cg, kh, kw = w.shape
        hp = h + pads[0] + pads[1]
        wp = wd + pads[2] + pads[3]
        ho = _out_len(h, kh, stride[0], pads[0] + pads[1], dilation[0])
        wo = _out_len(wd, kw, stride[1], pads[2] + pads[3], dilation[1])
        kern = _kernels(x.dtype)
        xt = x.transpose(1, 2, 3, 0)
        ctx.geom = (n, c, h, wd, hp, wp, ho, wo)
        ctx.direct = _use_direct(kern, o, kw, stride, dilation, groups)
        ctx.bias_row = ctx.small_k = False
        if ctx.direct:
            xp = _pad_dense(x, pads)
            out = _buffer((o, ho, wo, n), x.dtype)
            kern[2](xp, w, b if b is not None else np.zeros(o, x.dtype), out)
            ctx.save_for_backward(xp, w, x)     # x: xp may be a view of it
            return out.transpose(3, 0, 1, 2)
        ctx.small_k = (ctx.needs_input_grad is not None
                       and _use_small_k(kern, c, kh, kw, o, stride, groups))
        if ctx.small_k:
            # keep the padded input (C, Hp, Wp, N) for gw_small; the columns are only
            # needed here, so they are made block by block and consumed while in cache
            xp = _pad_dense(x, pads)
            out = _conv_forward_streamed(xp, w, b, ho, wo, n, (0, 0, 0, 0), stride, dilation,
                                         kern)
            ctx.save_for_backward(xp, w, x)     # x: xp may be a view of it
            return out.reshape(o, ho, wo, n).transpose(3, 0, 1, 2)
        if groups == 1 and _STREAM and ctx.needs_input_grad is None:
            # no backward: blocks of columns that stay in cache, nothing saved
            src = _im2col_source(x, pads, kern)
            out = _conv_forward_streamed(src, w, b, ho, wo, n, pads, stride, dilation, kern)
            return out.reshape(o, ho, wo, n).transpose(3, 0, 1, 2)
        # the bias rides in the GEMM (an extra weight column against a row of ones in the
        # column matrix): no separate pass over the output, and backward's cols @ g.T gives
        # the bias gradient as its last row (no matrix-vector pass over g)
        ctx.bias_row = ones = b is not None and groups == 1
        if kern is not None and xt.strides[3] == x.itemsize:
            # batch-last input (a previous conv's output): contiguous runs of N to copy;
            # conv-wide layers 2, 3: pad + im2col 1.64 -> 0.71 and 0.81 -> 0.36 ms
            cols, cols6 = _cols_buffer(c, kh, kw, ho, wo, n, x.dtype, ones)
            kern[1](xt, cols6, pads[0], pads[2], stride[0], stride[1], dilation[0],
                    dilation[1])
            del cols6
        else:
            cols = _im2col(_pad_cn(x, pads), kh, kw, ho, wo, stride, dilation, ones)
        w2 = w.reshape(o, cg * kh * kw)
        if ones:
            w2 = np.concatenate((w2, b[:, None]), axis=1)
        out = _gemm_groups(w2, cols, groups, pooled=True)
        if b is not None and not ones:
            out += b[:, None]
        ctx.save_for_backward(cols, w)
        return out.reshape(o, ho, wo, n).transpose(3, 0, 1, 2)

    @staticmethod
    def backward(ctx, g):
        cols, w = ctx.saved[:2]
        stride, pads, dilation, groups = ctx.inputs[3:7]
        n, c, h, wd, hp, wp, ho, wo = ctx.geom
        o, cg, kh, kw = w.shape
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        g2 = np.ascontiguousarray(g.transpose(1, 2, 3, 0)).reshape(o, ho * wo * n)
        gx = gw = gb = None
        if ctx.small_k:
            if need_w:
                xp = cols
                gw = np.empty(w.shape, w.dtype)
                gb = np.empty(o if need_b else 0, w.dtype)   # summed by the kernel
                _kernels(w.dtype)[4](xp, g2.reshape(o, ho, wo, n), gw, gb, stride[0],
                                     dilation[0], dilation[1], w.dtype.type(0))
                gb = gb if need_b else None
                need_b = False
            need_w = False
        if ctx.bias_row and (need_w or need_b):
            # one GEMM for both: cols (with its row of ones) @ g.T is (K + 1, O)
            gwt = np.matmul(cols, g2.T)
            gb = gwt[-1].copy() if need_b else None
            if need_w:
                gw = np.ascontiguousarray(gwt[:-1].T).reshape(w.shape)
            need_w = need_b = False
        if need_b:
            # a BLAS matrix-vector product: 4x faster than a row reduction here (0.06 vs
            # 0.23 ms for conv-wide's first layer, 32 x 32768 float32)
            gb = g2 @ np.ones(g2.shape[1], g2.dtype)
        if need_w and ctx.direct:
            gw = np.empty(w.shape, w.dtype)
            _kernels(w.dtype)[3](cols, g2.reshape(o, ho, wo, n), gw, w.dtype.type(0))  # cols: xp
        elif need_w:
            # computed transposed, cols @ g.T: OpenBLAS runs this orientation 1.2-1.8x faster
            # than g @ cols.T for these skinny shapes (LeNet conv2: 0.64 vs 1.15 ms)
            if groups == 1:
                gw = np.ascontiguousarray((cols @ g2.T).T).reshape(w.shape)
            else:
                gwt = np.matmul(cols.reshape(groups, -1, cols.shape[1]),
                                g2.reshape(groups, -1, g2.shape[1]).transpose(0, 2, 1))
                gw = np.ascontiguousarray(gwt.transpose(0, 2, 1)).reshape(w.shape)
        if need_x:      # (computing it before the weight gradient: no difference)
            gx = _conv_input_grad(w, g2, groups, ctx.geom, stride, pads, dilation)
        return gx, gw, gb, None, None, None, None


class ConvTranspose2dFn(Function):
    """2-D transposed convolution on arrays (the adjoint of ``Conv2dFn`` in its input)."""

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, output_padding, dilation, groups):
        n, cin, h, wd = x.shape
        _, og, kh, kw = w.shape
        cout = og * groups
        sh, sw = stride
        dh, dw = dilation
        # the full (uncropped) output; PyTorch crops ``padding`` from each side
        hf = (h - 1) * sh + dh * (kh - 1) + 1 + output_padding[0]
        wf = (wd - 1) * sw + dw * (kw - 1) + 1 + output_padding[1]
        hout = hf - 2 * padding[0]
        wout = wf - 2 * padding[1]
        x2 = np.ascontiguousarray(x.transpose(1, 2, 3, 0)).reshape(cin, h * wd * n)
        # weight (Cin, Cout/G, kh, kw): group gi maps its Cg inputs to its Og*kh*kw columns
        w2 = w.reshape(cin, og * kh * kw)
        cols = _gemm_groups(w2, x2, groups, trans_a=True, pooled=True)   # (Cout*K, H*W*N)
        out = _col2im(cols, cout, n, hf, wf, kh, kw, h, wd, stride, dilation,
                      (padding[0], padding[1], hout, wout))
        if b is not None:
            out = out + b[:, None, None, None]
        ctx.save_for_backward(x2, w)
        ctx.geom = (n, cin, h, wd, hf, wf, hout, wout)
        return out.transpose(3, 0, 1, 2)

    @staticmethod
    def backward(ctx, g):
        x2, w = ctx.saved
        stride, padding, _, dilation, groups = ctx.inputs[3:8]
        n, cin, h, wd, hf, wf, hout, wout = ctx.geom
        _, og, kh, kw = w.shape
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = gw = gb = None
        if need_b:
            gb = g.sum(axis=(0, 2, 3))
        pads = (padding[0], hf - hout - padding[0], padding[1], wf - wout - padding[1])
        gp = _pad_cn(g, pads)
        gcols = _im2col(gp, kh, kw, h, wd, stride, dilation)   # (Cout*kh*kw, H*W*N)
        w2 = w.reshape(cin, og * kh * kw)
        if need_x:
            gx2 = _gemm_groups(w2, gcols, groups)               # (Cin, H*W*N)
            gx = gx2.reshape(cin, h, wd, n).transpose(3, 0, 1, 2)
        if need_w:
            gw = _gemm_groups(x2, gcols, groups, trans_b=True).reshape(w.shape)
        return gx, gw, gb, None, None, None, None, None


# --- argument handling -----------------------------------------------------------------------

def _tuple(v, n, name, op):
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return (int(v),) * n
    if isinstance(v, (tuple, list)) and len(v) == n and all(
            isinstance(e, (int, np.integer)) and not isinstance(e, bool) for e in v):
        return tuple(int(e) for e in v)
    if isinstance(v, (tuple, list)) and len(v) == 1 and n > 1:
        return _tuple(v[0], n, name, op)
    raise LaminaTypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {v!r}")


def _check_tensors(x, w, b, op, nd, transposed=False):
    if not isinstance(x, Tensor) or not isinstance(w, Tensor):
        raise LaminaTypeError(f"{op}: expected Tensors for input and weight, got "
                              f"{type(x).__name__} and {type(w).__name__}")
    if b is not None and not isinstance(b, Tensor):
        raise LaminaTypeError(f"{op}: bias must be a Tensor or None, got {type(b).__name__}")
    if x.data.dtype.kind != "f":
        raise LaminaValueError(f"{op}: expected a floating input, got {x.dtype}")
    if x.data.dtype != w.data.dtype or (b is not None and b.data.dtype != x.data.dtype):
        raise LaminaValueError(
            f"{op}: input ({x.dtype}), weight ({w.dtype})"
            + (f" and bias ({b.dtype})" if b is not None else "")
            + " should have the same dtype")
    if w.data.ndim != nd + 2:
        raise LaminaValueError(f"{op}: expected a {nd + 2}-D weight, got shape {w.shape}")
    if 0 in w.shape[2:]:
        raise LaminaValueError(f"{op}: kernel size should be greater than zero, got "
                               f"{tuple(w.shape[2:])}")
    if x.data.ndim not in (nd + 1, nd + 2):
        raise LaminaValueError(f"{op}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) "
                               f"input, got shape {x.shape}")


def _prepare(x, w, b, nd, op):
    """Bring 1-d / unbatched cases to the batched 2-d arrays the Functions take.

    Returns (x, w, unbatched) where x and w are tensors shaped for 2-d; reshapes are views
    recorded as cheap nodes only when needed."""
    unbatched = x.data.ndim == nd + 1
    if unbatched:
        x = x.unsqueeze(0)
    if nd == 1:
        x = x.unsqueeze(2)
        w = w.unsqueeze(2)
    return x, w, unbatched


def _finish(out, nd, unbatched):
    if nd == 1:
        out = out.squeeze(2)
    if unbatched:
        out = out.squeeze(0)
    return out


def _conv(x, weight, bias, stride, padding, dilation, groups, nd, op):
    _check_tensors(x, weight, bias, op, nd)
    stride = _tuple(stride, nd, "stride", op)
    dilation = _tuple(dilation, nd, "dilation", op)
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise LaminaValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if min(stride) < 1:
        raise LaminaValueError(f"{op}: non-positive stride is not supported, got {stride}")
    if min(dilation) < 1:
        raise LaminaValueError(f"{op}: dilation should be greater than zero, got {dilation}")
    ks = weight.shape[2:]
    if isinstance(padding, str):
        if padding == "valid":
            pads = (0, 0) * nd
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise LaminaValueError(f"{op}: padding='same' is not supported for strided "
                                       "convolutions")
            pads = ()
            for k, d in zip(ks, dilation):
                total = d * (k - 1)
                pads += (total // 2, total - total // 2)
        else:
            raise LaminaValueError(f"{op}: invalid padding string {padding!r}, expected 'valid' "
                                   "or 'same'")
    else:
        p = _tuple(padding, nd, "padding", op)
        if min(p) < 0:
            raise LaminaValueError(f"{op}: negative padding is not supported, got {p}")
        pads = tuple(v for q in p for v in (q, q))
    c_in = x.shape[1] if x.data.ndim == nd + 2 else x.shape[0]
    o = weight.shape[0]
    if c_in != weight.shape[1] * groups:
        raise LaminaValueError(
            f"{op}: expected input with {weight.shape[1] * groups} channels (weight "
            f"{tuple(weight.shape)} with groups={groups}), got input of shape "
            f"{tuple(x.shape)}")
    if o % groups:
        raise LaminaValueError(f"{op}: out_channels ({o}) must be divisible by groups ({groups})")
    if bias is not None and tuple(bias.shape) != (o,):
        raise LaminaValueError(f"{op}: expected bias of shape ({o},), got {tuple(bias.shape)}")
    spatial = x.shape[-nd:]
    for size, k, d, i in zip(spatial, ks, dilation, range(nd)):
        if size + pads[2 * i] + pads[2 * i + 1] < d * (k - 1) + 1:
            raise LaminaValueError(
                f"{op}: input spatial size {tuple(spatial)} (padded by {pads}) is smaller "
                f"than the dilated kernel {tuple(ks)} (dilation {dilation})")
    x, w, unbatched = _prepare(x, weight, bias, nd, op)
    if nd == 1:
        stride, dilation, pads = (1,) + stride, (1,) + dilation, (0, 0) + pads
    out = Conv2dFn.apply(x, w, bias, stride, pads, dilation, int(groups))
    return _finish(out, nd, unbatched)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2-D convolution (cross-correlation) over an ``(N, C, H, W)`` or ``(C, H, W)`` input.

    ``weight`` is ``(out_channels, in_channels / groups, kh, kw)``; ``padding`` is an int, a
    pair, ``'valid'`` or ``'same'`` (stride 1 only; an odd total pads one more on the right,
    as PyTorch does).

    >>> x = lamina.randn(2, 3, 8, 8); w = lamina.randn(4, 3, 3, 3)
    >>> conv2d(x, w, padding=1).shape
    (2, 4, 8, 8)
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """1-D convolution over an ``(N, C, L)`` or ``(C, L)`` input; ``weight`` is
    ``(out_channels, in_channels / groups, k)``. See ``conv2d``.

    >>> conv1d(lamina.randn(2, 3, 10), lamina.randn(4, 3, 3)).shape
    (2, 4, 8)
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def _conv_t(x, weight, bias, stride, padding, output_padding, groups, dilation, nd, op):
    _check_tensors(x, weight, bias, op, nd)
    stride = _tuple(stride, nd, "stride", op)
    padding = _tuple(padding, nd, "padding", op)
    output_padding = _tuple(output_padding, nd, "output_padding", op)
    dilation = _tuple(dilation, nd, "dilation", op)
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise LaminaValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0 or min(output_padding) < 0:
        raise LaminaValueError(f"{op}: stride and dilation must be positive and padding, "
                               f"output_padding non-negative; got stride={stride}, "
                               f"padding={padding}, output_padding={output_padding}, "
                               f"dilation={dilation}")
    for op_, s, d in zip(output_padding, stride, dilation):
        if op_ >= s and op_ >= d:
            raise LaminaValueError(f"{op}: output padding must be smaller than either stride or "
                                   f"dilation, got output_padding={output_padding}, "
                                   f"stride={stride}, dilation={dilation}")
    c_in = x.shape[1] if x.data.ndim == nd + 2 else x.shape[0]
    if c_in != weight.shape[0]:
        raise LaminaValueError(f"{op}: expected input with {weight.shape[0]} channels (weight "
                               f"{tuple(weight.shape)}), got input of shape {tuple(x.shape)}")
    if c_in % groups:
        raise LaminaValueError(f"{op}: in_channels ({c_in}) must be divisible by groups "
                               f"({groups})")
    cout = weight.shape[1] * groups
    if bias is not None and tuple(bias.shape) != (cout,):
        raise LaminaValueError(f"{op}: expected bias of shape ({cout},), got {tuple(bias.shape)}")
    ks = weight.shape[2:]
    for size, k, s, p, q, d in zip(x.shape[-nd:], ks, stride, padding, output_padding,
                                   dilation):
        if (size - 1) * s - 2 * p + d * (k - 1) + q + 1 <= 0:
            raise LaminaValueError(f"{op}: the output size for input {tuple(x.shape)} would be "
                                   "non-positive")
    x, w, unbatched = _prepare(x, weight, bias, nd, op)
    if nd == 1:
        stride, padding, output_padding, dilation = ((1,) + stride, (0,) + padding,
                                                     (0,) + output_padding, (1,) + dilation)
    out = ConvTranspose2dFn.apply(x, w, bias, stride, padding, output_padding, dilation,
                                  int(groups))
    return _finish(out, nd, unbatched)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1) -> Tensor:
    """2-D transposed convolution ("deconvolution") over an ``(N, Cin, H, W)`` input.

    ``weight`` is ``(in_channels, out_channels / groups, kh, kw)``; the output size is
    ``(H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1``.

    >>> conv_transpose2d(lamina.randn(1, 4, 5, 5), lamina.randn(4, 2, 3, 3), stride=2).shape
    (1, 2, 11, 11)
    """
    return _conv_t(input, weight, bias, stride, padding, output_padding, groups, dilation, 2,
                   "conv_transpose2d")


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1) -> Tensor:
    """1-D transposed convolution over an ``(N, Cin, L)`` input. See ``conv_transpose2d``."""
    return _conv_t(input, weight, bias, stride, padding, output_padding, groups, dilation, 1,
                   "conv_transpose1d")
