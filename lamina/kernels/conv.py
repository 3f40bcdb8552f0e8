"""Fast paths of ``conv2d`` and ``conv_transpose2d`` (the reference math is
``lamina/ops/conv.py``; read it first).

Each path is a subclass of the reference ``Function`` registered with ``lamina.dispatch``;
``conv2d`` asks once per call, in this order (the first that applies wins):

- ``Conv2dDirect``: at most 8 output channels, stride 1, 3- or 5-wide kernels (LeNet's first
  layer): a compiled direct convolution, no column matrix.
- ``Conv2dSmallChannels``: training layers with C*kh*kw at most 27 (an RGB first layer): the
  forward streams its columns, the weight gradient is a compiled kernel on the padded input.
- ``Conv2dStreamed``: no backward (``no_grad``, inference): the forward in blocks of output
  rows whose columns are consumed while in cache, nothing kept.
- ``Conv2dCompiled``: every other float32/float64 conv: the reference's im2col + GEMM with
  compiled im2col/col2im, the bias as an extra GEMM column, recycled buffers, and the input
  gradient in cache-sized blocks.

All of them need the compiled kernels (``compiled(dtype)``: numba installed, ``LAMINA_NUMBA``
not 0, float32 or float64); without them ``conv2d`` runs the reference.

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
matrix (cols @ g.T: 0.92 vs BLAS 1.16 ms, isolated) was no faster than
``small_k_weight_grad`` and would have kept the column matrix. A channels-last layout
(N, H, W, C), with output pixels as GEMM rows: its GEMMs were up to 1.4x faster for 6-16
output channels, but its col2im (runs of only C contiguous elements) was 2-3x slower for
small C, a net loss on LeNet-sized layers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from lamina import dispatch
from lamina.kernels.jit import kernels
from lamina.kernels.memory import buffer
from lamina.ops.conv import (
    Conv2dFn,
    ConvTranspose2dFn,
    _col2im,
    _gemm_groups,
    _out_len,
    _window_view,
)


class ConvKernels(NamedTuple):
    """The compiled conv kernels (see ``compiled``)."""

    col2im: Callable            # cols (C, kh, kw, Ho, Wo, N) added into (C, H, W, N)
    im2col: Callable            # (C, H, W, N), any strides -> cols (C, kh, kw, Ho, Wo, N)
    direct_forward: Callable    # few output channels: out (O, Ho, Wo, N) from padded input
    direct_weight_grad: Callable
    small_k_weight_grad: Callable   # few input channels: weight (and bias) gradient


@kernels
def compiled(numba) -> ConvKernels:
    """The conv kernels compiled with numba (optional; ``LAMINA_NUMBA=0`` turns it off), or
    None (also for dtypes other than float32/float64). im2col reads the unpadded input
    directly (writing zeros for the padding), which saves the padded copy; col2im writes only
    the unpadded window.

    col2im works one channel at a time, its output plane kept in cache while its kh*kw
    column blocks are added in order: each output element sums the same terms in the same
    (row-major offset) order as the reference ``_col2im``, so the results are the same (up
    to the sign of zero sums); LeNet/conv-wide col2im 0.73 -> 0.16, 2.4 -> 0.93,
    1.2 -> 0.35 ms. The direct convolution and the small-k weight gradient sum in their own
    order."""

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
    def direct_forward(xp, w, b, out):
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
    def direct_weight_grad(xp, g, gw, zero):
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

    # --- weight gradient of a layer with few input channels (``Conv2dSmallChannels``) --------
    # The gradient is (O, C*kh*kw) dot products of length Ho*Wo*N, an output too small for
    # BLAS to block well. Here each pass over g's rows computes 4 output channels x 3 kernel
    # columns at once: 12 dot products sharing 7 vector loads (4 rows of g, 3 shifted runs
    # of the padded input; out-of-range indices are clamped, which computes the same sum
    # twice). Per output row the sums run in the input's precision (reassociation lets
    # them vectorize) and are added in float64, as in direct_weight_grad.

    @numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
    def small_k_weight_grad(xp, g, gw, gb, sh, dh, dw, zero):
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

    return ConvKernels(col2im, im2col, direct_forward, direct_weight_grad,
                       small_k_weight_grad)


# --- recycled buffers and compiled helpers ---------------------------------------------------

def _pad_cn(x, pads):
    """The reference ``_pad_cn`` into a recycled buffer (only its border zeroed)."""
    n, c, h, w = x.shape
    pt, pb, pl, pr = pads
    xt = x.transpose(1, 2, 3, 0)
    if not (pt or pb or pl or pr):
        return xt
    buf = buffer((c, h + pt + pb, w + pl + pr, n), x.dtype)
    buf[:, pt:pt + h, pl:pl + w] = xt
    buf[:, :pt] = 0
    buf[:, pt + h:] = 0
    buf[:, pt:pt + h, :pl] = 0
    buf[:, pt:pt + h, pl + w:] = 0
    return buf


def _pad_dense(x, pads):
    """``_pad_cn``, always C-contiguous (C, Hp, Wp, N) (what the compiled kernels read)."""
    xp = _pad_cn(x, pads)
    if not xp.flags.c_contiguous:
        buf = buffer(xp.shape, x.dtype)
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
        buf = buffer((k, p), dtype)
        return buf, buf.reshape(c, kh, kw, ho, wo, n)
    buf = buffer((k + 1, p), dtype)
    buf[k] = 1
    return buf, buf[:k].reshape(c, kh, kw, ho, wo, n)


def _gemm(a, b, groups, trans_a=False):
    """The reference ``_gemm_groups`` with the ungrouped result in a recycled buffer."""
    if groups != 1:
        return _gemm_groups(a, b, groups, trans_a=trans_a)
    a2 = a.T if trans_a else a
    return np.matmul(a2, b, out=buffer((a2.shape[0], b.shape[1]), np.result_type(a2, b)))


def _col2im_into(kern, cols, c, n, kh, kw, ho, wo, stride, dilation, pads, h, w):
    """The compiled col2im: (C*kh*kw, Ho*Wo*N) columns summed into a dense (C, H, W, N)
    buffer (the unpadded window only, so the gradient a conv hands back has the dense
    batch-last layout of its output)."""
    out = buffer((c, h, w, n), cols.dtype)
    kern.col2im(cols.reshape(c, kh, kw, ho, wo, n), out, pads[0], pads[2], stride[0],
                stride[1], dilation[0], dilation[1], 0, h)
    return out


_CHUNK_BYTES = 1 << 20      # column-matrix block of the blocked input gradient and forward


def _input_grad_blocked(kern, w2, g2, c, n, h, wd, kh, kw, ho, wo, stride, pads, dilation):
    """The conv input gradient ``col2im(W.T @ g)`` in blocks of output rows: each block's
    columns (about ``_CHUNK_BYTES``) are computed into one recycled buffer that stays in
    cache while they are added into the gradient, instead of writing (after OpenBLAS zeroes
    it) and reading back a column matrix of kh*kw times the input's size. Each block zeroes
    the gradient rows it is first to reach. Returns (C, H, W, N)."""
    k = w2.shape[1]
    rows = max(1, _CHUNK_BYTES // (k * wo * n * g2.itemsize))
    sh, sw = stride
    dh, dw = dilation
    gx = buffer((c, h, wd, n), g2.dtype)    # zeroed row by row as blocks reach them
    done = 0                                # rows [0, done) are zeroed
    for oy0 in range(0, ho, rows):
        ro = min(rows, ho - oy0)
        gc = buffer((k, ro * wo * n), g2.dtype)
        np.matmul(w2.T, g2[:, oy0 * wo * n:(oy0 + ro) * wo * n], out=gc)
        # rows this block reaches: up to (last output row) * sh + (kh - 1) * dh - pt
        top = min(h, (oy0 + ro - 1) * sh + (kh - 1) * dh - pads[0] + 1)
        kern.col2im(gc.reshape(c, kh, kw, ro, wo, n), gx, pads[0] - oy0 * sh, pads[2], sh,
                    sw, dh, dw, done, top)
        done = max(done, top)
        del gc
    if done < h:
        gx[:, done:] = 0                    # rows no block reaches
    return gx


def _input_grad(kern, w, g2, groups, geom, stride, pads, dilation):
    """The conv input gradient as an (N, C, H, W) view of a dense (C, H, W, N) array: in
    blocks when the gradient column matrix would be large, else one GEMM and col2im."""
    n, c, h, wd, hp, wp, ho, wo = geom
    o, cg, kh, kw = w.shape
    w2 = w.reshape(o, cg * kh * kw)
    if groups == 1 and cg * kh * kw * ho * wo * n * g2.itemsize > 2 * _CHUNK_BYTES > 0:
        gx = _input_grad_blocked(kern, w2, g2, c, n, h, wd, kh, kw, ho, wo, stride, pads,
                                 dilation)
    else:
        gcols = _gemm(w2, g2, groups, trans_a=True)
        gx = _col2im_into(kern, gcols, c, n, kh, kw, ho, wo, stride, dilation, pads, h, wd)
    return gx.transpose(3, 0, 1, 2)


def _grad_rows(g):
    """The output gradient (N, O, Ho, Wo) as a (O, Ho*Wo*N) matrix."""
    n, o, ho, wo = g.shape
    return np.ascontiguousarray(g.transpose(1, 2, 3, 0)).reshape(o, ho * wo * n)


def _bias_grad(g2):
    # a BLAS matrix-vector product: 4x faster than a row reduction here (0.06 vs 0.23 ms
    # for conv-wide's first layer, 32 x 32768 float32)
    return g2 @ np.ones(g2.shape[1], g2.dtype)


def _geometry(x, w, pads, stride, dilation):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    hp = h + pads[0] + pads[1]
    wp = wd + pads[2] + pads[3]
    ho = _out_len(h, kh, stride[0], pads[0] + pads[1], dilation[0])
    wo = _out_len(wd, kw, stride[1], pads[2] + pads[3], dilation[1])
    return n, c, h, wd, hp, wp, ho, wo


# --- streamed forward ------------------------------------------------------------------------

_STREAM = os.environ.get("LAMINA_CONV_STREAM", "1") != "0"


def _block_rows(k, wo, n, itemsize, ho):
    """Output rows per block of the streamed conv: about ``_CHUNK_BYTES`` of columns (all
    rows when ``_CHUNK_BYTES`` is 0, or for an empty batch)."""
    if _CHUNK_BYTES <= 0 or k * wo * n == 0:
        return ho
    return max(1, min(ho, _CHUNK_BYTES // (k * wo * n * itemsize)))


def _forward_streamed(kern, src, w, b, ho, wo, n, pads, stride, dilation):
    """``W @ im2col(x) (+ b)`` as (O, Ho*Wo*N), one block of output rows at a time, from
    ``src``, the (C, H, W, N) input (``pads`` is the padding to apply): each block's columns
    (about ``_CHUNK_BYTES``) are written into one recycled buffer and consumed by the GEMM
    while they are in cache, so the whole column matrix (9x the input for a 3x3 kernel)
    never goes to memory. conv-wide's three layers inside a step: 1.85, 4.1, 2.9 -> 1.35,
    3.35, 2.7 ms. The bias rides in the GEMM as an extra weight column against a row of ones
    in each block."""
    o, c, kh, kw = w.shape
    k = c * kh * kw
    ones = b is not None
    kb = k + ones
    rows = _block_rows(kb, wo, n, w.itemsize, ho)
    w2 = w.reshape(o, k)
    if ones:
        w2 = np.concatenate((w2, b[:, None]), axis=1)
    out = buffer((o, ho * wo * n), w.dtype)
    blk = buffer((kb * rows * wo * n,), w.dtype)
    for oy0 in range(0, ho, rows):
        r = min(rows, ho - oy0)
        pc = r * wo * n
        cols = blk[:kb * pc].reshape(kb, pc)
        if ones:
            cols[k] = 1
        kern.im2col(src, cols[:k].reshape(c, kh, kw, r, wo, n), pads[0] - oy0 * stride[0],
                    pads[2], stride[0], stride[1], dilation[0], dilation[1])
        p0 = oy0 * wo * n
        np.matmul(w2, cols, out=out[:, p0:p0 + pc])
    return out


# --- the fast paths, in the order conv2d tries them ------------------------------------------
# Each ``applies`` gets conv2d's (x, w, stride, dilation, groups, training) on arrays.

_DIRECT_MAX_OUT = 8   # direct convolution for at most this many output channels


def _direct_applies(x, w, stride, dilation, groups, training):
    return (w.shape[0] <= _DIRECT_MAX_OUT and groups == 1 and w.shape[3] in (3, 5)
            and stride == (1, 1) and dilation == (1, 1) and compiled(x.dtype) is not None)


@dispatch.register("conv2d", applies=_direct_applies)
class Conv2dDirect(Conv2dFn):
    """A direct convolution for layers with few output channels (at most 8, stride 1,
    3- or 5-wide kernels, no dilation or groups): no column matrix.

    With very few output channels the GEMM has only o rows, so OpenBLAS runs it at a small
    fraction of its peak while the column matrix (kh*kw times the input) is written, packed
    and read again; the direct loop touches the input only. LeNet's first layer (1 -> 6
    channels, 5x5, batch 64), 1-thread CPU: forward 1.44 -> 0.5 ms, weight gradient
    0.85 -> 0.4 ms; with 16 or 32 output channels (LeNet conv2, conv-wide's first layer) the
    GEMM was faster, hence the bound. It sums in its own order: equal to the reference up to
    rounding."""

    @staticmethod
    def forward(ctx, x, w, b, stride, pads, dilation, groups):
        ctx.geom = n, c, h, wd, hp, wp, ho, wo = _geometry(x, w, pads, stride, dilation)
        o = w.shape[0]
        xp = _pad_dense(x, pads)
        out = buffer((o, ho, wo, n), x.dtype)
        compiled(x.dtype).direct_forward(xp, w, b if b is not None else np.zeros(o, x.dtype),
                                         out)
        ctx.save_for_backward(xp, w, x)     # x: xp may be a view of it
        return out.transpose(3, 0, 1, 2)

    @staticmethod
    def backward(ctx, g):
        xp, w, _ = ctx.saved
        stride, pads, dilation, groups = ctx.inputs[3:7]
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        kern = compiled(w.dtype)
        g2 = _grad_rows(g)
        gx = gw = gb = None
        if need_b:
            gb = _bias_grad(g2)
        if need_w:
            gw = np.empty(w.shape, w.dtype)
            n, ho, wo = ctx.geom[0], ctx.geom[6], ctx.geom[7]
            kern.direct_weight_grad(xp, g2.reshape(w.shape[0], ho, wo, n), gw,
                                    w.dtype.type(0))
        if need_x:
            gx = _input_grad(kern, w, g2, groups, ctx.geom, stride, pads, dilation)
        return gx, gw, gb, None, None, None, None


_SMALL_K_MAX = 27       # C*kh*kw bound of the few-input-channel weight gradient
_SMALL_K_MAX_OUT = 32   # ... and its output-channel bound


def _small_channels_applies(x, w, stride, dilation, groups, training):
    o, c, kh, kw = w.shape
    return (training and groups == 1 and stride[1] == 1 and c * kh * kw <= _SMALL_K_MAX
            and o <= _SMALL_K_MAX_OUT and compiled(x.dtype) is not None)


@dispatch.register("conv2d", applies=_small_channels_applies)
class Conv2dSmallChannels(Conv2dFn):
    """A training conv with few input channels (C*kh*kw at most 27, at most 32 output
    channels, stride 1 along the width: an RGB first layer) keeps the padded input instead
    of the column matrix and computes its weight gradient with the compiled
    ``small_k_weight_grad``; the forward streams its columns as inference does.

    With C*kh*kw of 27 (conv-wide's first layer: 3 -> 32 channels, 3x3, batch 32), BLAS runs
    the weight-gradient GEMM ``cols (28, 32768) @ g.T`` at about 40 GFLOP/s (1.2-1.5 ms on
    two threads); the kernel takes 0.95-1.1 ms on one. That layer inside a step: forward
    1.9-2.3 -> 1.5-1.85 ms, backward 1.4-1.5 -> 1.3-1.4 ms; the step 1.8-2.3% faster.
    Isolated, the kernel was also ahead at C*kh*kw = 36 (1.5 vs 2.2 ms) but not at 54 (2.8
    vs 1.9 ms) nor with 64 output channels; only 27 was measured inside a step, hence the
    bounds. The weight gradient sums in its own order (each output row in the input's
    precision, the rows in float64): equal to the reference up to rounding."""

    @staticmethod
    def forward(ctx, x, w, b, stride, pads, dilation, groups):
        ctx.geom = n, c, h, wd, hp, wp, ho, wo = _geometry(x, w, pads, stride, dilation)
        xp = _pad_dense(x, pads)
        out = _forward_streamed(compiled(x.dtype), xp, w, b, ho, wo, n, (0, 0, 0, 0), stride,
                                dilation)
        ctx.save_for_backward(xp, w, x)     # x: xp may be a view of it
        return out.reshape(w.shape[0], ho, wo, n).transpose(3, 0, 1, 2)

    @staticmethod
    def backward(ctx, g):
        xp, w, _ = ctx.saved
        stride, pads, dilation, groups = ctx.inputs[3:7]
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        kern = compiled(w.dtype)
        n, ho, wo = ctx.geom[0], ctx.geom[6], ctx.geom[7]
        o = w.shape[0]
        g2 = _grad_rows(g)
        gx = gw = gb = None
        if need_w:
            gw = np.empty(w.shape, w.dtype)
            gbk = np.empty(o if need_b else 0, w.dtype)    # summed by the kernel
            kern.small_k_weight_grad(xp, g2.reshape(o, ho, wo, n), gw, gbk, stride[0],
                                     dilation[0], dilation[1], w.dtype.type(0))
            gb = gbk if need_b else None
        elif need_b:
            gb = _bias_grad(g2)
        if need_x:
            gx = _input_grad(kern, w, g2, groups, ctx.geom, stride, pads, dilation)
        return gx, gw, gb, None, None, None, None


def _streamed_applies(x, w, stride, dilation, groups, training):
    return not training and groups == 1 and _STREAM and compiled(x.dtype) is not None


@dispatch.register("conv2d", applies=_streamed_applies)
class Conv2dStreamed(Conv2dFn):
    """Inference (no backward will run): the forward in blocks of output rows, each block's
    columns consumed by the GEMM while in cache, nothing saved (see ``_forward_streamed``;
    ``LAMINA_CONV_STREAM=0`` turns it off). The GEMMs split the sums as the whole-matrix
    product does only up to rounding."""

    @staticmethod
    def forward(ctx, x, w, b, stride, pads, dilation, groups):
        n, c, h, wd, hp, wp, ho, wo = _geometry(x, w, pads, stride, dilation)
        kern = compiled(x.dtype)
        # the block im2col reads the (C, H, W, N) input: its own memory when it is
        # batch-last, else a recycled dense copy
        xt = x.transpose(1, 2, 3, 0)
        if not xt.flags.c_contiguous:
            buf = buffer(xt.shape, x.dtype)
            np.copyto(buf, xt)
            xt = buf
        out = _forward_streamed(kern, xt, w, b, ho, wo, n, pads, stride, dilation)
        return out.reshape(w.shape[0], ho, wo, n).transpose(3, 0, 1, 2)


def _compiled_applies(x, w, stride, dilation, groups, training):
    return compiled(x.dtype) is not None


@dispatch.register("conv2d", applies=_compiled_applies)
class Conv2dCompiled(Conv2dFn):
    """The reference im2col + GEMM, made fast: a batch-last input (a previous conv's output)
    is copied into the column matrix by the compiled im2col (conv-wide layers 2, 3: pad +
    im2col 1.64 -> 0.71 and 0.81 -> 0.36 ms); the bias rides in the GEMM as an extra weight
    column against a row of ones (no pass over the output, and backward's ``cols @ g.T``
    gives the bias gradient as its last row); col2im is compiled and, for a large gradient
    column matrix, blocked (``_input_grad``); big temporaries are recycled
    (``lamina.kernels.memory``). The weight gradient is computed as ``cols @ g.T``: OpenBLAS
    runs that orientation 1.2-1.8x faster than ``g @ cols.T`` for these skinny shapes
    (LeNet conv2: 0.64 vs 1.15 ms). Same products as the reference, summed by BLAS in its
    own blocking: equal up to rounding."""

    @staticmethod
    def forward(ctx, x, w, b, stride, pads, dilation, groups):
        ctx.geom = n, c, h, wd, hp, wp, ho, wo = _geometry(x, w, pads, stride, dilation)
        o, cg, kh, kw = w.shape
        kern = compiled(x.dtype)
        xt = x.transpose(1, 2, 3, 0)
        ctx.bias_row = ones = b is not None and groups == 1
        cols, cols6 = _cols_buffer(c, kh, kw, ho, wo, n, x.dtype, ones)
        if xt.strides[3] == x.itemsize:
            # batch-last input: contiguous runs of N to copy, the padding written as zeros
            kern.im2col(xt, cols6, pads[0], pads[2], stride[0], stride[1], dilation[0],
                        dilation[1])
        else:
            np.copyto(cols6, _window_view(_pad_cn(x, pads), kh, kw, ho, wo, stride, dilation))
        del cols6
        w2 = w.reshape(o, cg * kh * kw)
        if ones:
            w2 = np.concatenate((w2, b[:, None]), axis=1)
        out = _gemm(w2, cols, groups)
        if b is not None and not ones:
            out += b[:, None]
        ctx.save_for_backward(cols, w)
        return out.reshape(o, ho, wo, n).transpose(3, 0, 1, 2)

    @staticmethod
    def backward(ctx, g):
        cols, w = ctx.saved
        stride, pads, dilation, groups = ctx.inputs[3:7]
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        g2 = _grad_rows(g)
        gx = gw = gb = None
        if ctx.bias_row and (need_w or need_b):
            # one GEMM for both: cols (with its row of ones) @ g.T is (K + 1, O)
            gwt = np.matmul(cols, g2.T)
            gb = gwt[-1].copy() if need_b else None
            if need_w:
                gw = np.ascontiguousarray(gwt[:-1].T).reshape(w.shape)
        else:
            if need_b:
                gb = _bias_grad(g2)
            if need_w and groups == 1:
                gw = np.ascontiguousarray((cols @ g2.T).T).reshape(w.shape)
            elif need_w:
                gwt = np.matmul(cols.reshape(groups, -1, cols.shape[1]),
                                g2.reshape(groups, -1, g2.shape[1]).transpose(0, 2, 1))
                gw = np.ascontiguousarray(gwt.transpose(0, 2, 1)).reshape(w.shape)
        if need_x:
            gx = _input_grad(compiled(w.dtype), w, g2, groups, ctx.geom, stride, pads,
                             dilation)
        return gx, gw, gb, None, None, None, None


@dispatch.register("conv_transpose2d", applies=lambda x: compiled(x.dtype) is not None)
class ConvTranspose2dCompiled(ConvTranspose2dFn):
    """The transposed convolution's forward (the conv input-gradient path) with the
    compiled col2im and recycled buffers; backward is the reference's."""

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, output_padding, dilation, groups):
        n, cin, h, wd = x.shape
        _, og, kh, kw = w.shape
        cout = og * groups
        hf = (h - 1) * stride[0] + dilation[0] * (kh - 1) + 1 + output_padding[0]
        wf = (wd - 1) * stride[1] + dilation[1] * (kw - 1) + 1 + output_padding[1]
        hout = hf - 2 * padding[0]
        wout = wf - 2 * padding[1]
        x2 = np.ascontiguousarray(x.transpose(1, 2, 3, 0)).reshape(cin, h * wd * n)
        cols = _gemm(w.reshape(cin, og * kh * kw), x2, groups, trans_a=True)
        if cols.flags.c_contiguous:
            out = _col2im_into(compiled(x.dtype), cols, cout, n, kh, kw, h, wd, stride,
                               dilation, (padding[0], 0, padding[1], 0), hout, wout)
        else:
            out = _col2im(cols, cout, n, hf, wf, kh, kw, h, wd, stride, dilation,
                          (padding[0], padding[1], hout, wout))
        if b is not None:
            out = out + b[:, None, None, None]
        ctx.save_for_backward(x2, w)
        ctx.geom = (n, cin, h, wd, hf, wf, hout, wout)
        return out.transpose(3, 0, 1, 2)
