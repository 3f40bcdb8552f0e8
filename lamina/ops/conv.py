"""Convolutions: ``conv1d``, ``conv2d``, ``conv_transpose1d``, ``conv_transpose2d``.

PyTorch's definitions (cross-correlation)::

    out[n, o, y, x] = b[o]
        + sum_{c, i, j} w[o, c, i, j] * xpad[n, g*Cg + c, y*sh + i*dh, x*sw + j*dw]

How it is computed (im2col): the input is padded once into an array laid out channels first
and batch LAST, ``(C, Hp, Wp, N)``; a strided window view of it, ``(C, kh, kw, Ho, Wo, N)``,
is copied once into the column matrix ``cols`` of shape ``(C*kh*kw, Ho*Wo*N)``, and the
output is ONE matrix product per group, ``W (O, C*kh*kw) @ cols``, plus the bias. The result
``(O, Ho, Wo, N)`` is handed out as an ``(N, O, Ho, Wo)`` view, so a following conv reads its
input without a transpose copy.

Backward, with ``g`` the output gradient as a matrix ``(O, Ho*Wo*N)``:

- bias gradient: ``g`` summed over its columns;
- weight gradient: ``g @ cols.T``, one product (the columns are saved by forward);
- input gradient: ``W.T @ g`` gives a gradient column matrix, and col2im, the adjoint of
  im2col, adds its ``kh*kw`` strided slices back into the padded input (no per-pixel loop,
  no ``np.add.at``).

Why batch last: the innermost axis of every window copy and col2im add is then the batch, a
contiguous run of N elements, instead of a short strided row of ``Wo``: im2col was 2-3x and
col2im about 2x faster than with the batch-second layout ``(C, N, Hp, Wp)``; the products
are the same.

A transposed convolution is the adjoint: its forward is the conv input-gradient path and its
backward the conv forward path, sharing the same helpers.

This file is the reference math. ``lamina/kernels/conv.py`` holds the fast paths (compiled
im2col/col2im, a direct convolution for few output channels, streamed and blocked column
matrices, recycled buffers); ``conv2d`` asks ``lamina.dispatch`` which one applies.
"""

from __future__ import annotations

import numpy as np

from lamina import dispatch
from lamina.autograd.function import Function
from lamina.autograd.grad_mode import GradMode
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"]

_as_strided = np.lib.stride_tricks.as_strided


# --- helpers on raw arrays -------------------------------------------------------------------

def _out_len(size, k, s, p_total, d):
    """Output length of a convolution along one axis (``p_total`` = both sides' padding)."""
    return (size + p_total - d * (k - 1) - 1) // s + 1


def _pad_cn(x, pads):
    """``x`` (N, C, H, W) -> zero-padded array laid out (C, Hp, Wp, N) (a view if no pad);
    ``pads`` is (top, bottom, left, right)."""
    n, c, h, w = x.shape
    pt, pb, pl, pr = pads
    xt = x.transpose(1, 2, 3, 0)
    if not (pt or pb or pl or pr):
        return xt
    xp = np.zeros((c, h + pt + pb, w + pl + pr, n), x.dtype)
    xp[:, pt:pt + h, pl:pl + w] = xt
    return xp


def _window_view(xp, kh, kw, ho, wo, stride, dilation):
    """The read-only (C, kh, kw, Ho, Wo, N) view of a (C, Hp, Wp, N) array:
    ``view[c, i, j, y, x, n] = xp[c, y*sh + i*dh, x*sw + j*dw, n]``."""
    c, n = xp.shape[0], xp.shape[3]
    s_c, s_h, s_w, s_n = xp.strides
    return _as_strided(
        xp, (c, kh, kw, ho, wo, n),
        (s_c, s_h * dilation[0], s_w * dilation[1], s_h * stride[0], s_w * stride[1], s_n),
        writeable=False)


def _im2col(xp, kh, kw, ho, wo, stride, dilation):
    """(C, Hp, Wp, N) -> the column matrix (C*kh*kw, Ho*Wo*N): one row per (channel, kernel
    offset), one column per output pixel (the reshape of the window view copies it)."""
    c, n = xp.shape[0], xp.shape[3]
    return _window_view(xp, kh, kw, ho, wo, stride, dilation).reshape(c * kh * kw,
                                                                     ho * wo * n)


def _col2im(cols, c, n, hp, wp, kh, kw, ho, wo, stride, dilation, crop=None):
    """Adjoint of ``_im2col``: add (C*kh*kw, Ho*Wo*N) columns into a zero (C, Hp, Wp, N)
    array, each kernel offset's slice at its strided positions; with ``crop`` =
    (top, left, H, W) only that (C, H, W, N) window of the result is returned."""
    cols = cols.reshape(c, kh, kw, ho, wo, n)
    sh, sw = stride
    dh, dw = dilation
    he = sh * (ho - 1) + 1          # extent of one offset's rows, columns
    we = sw * (wo - 1) + 1
    out = np.zeros((c, hp, wp, n), cols.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, i * dh:i * dh + he:sh, j * dw:j * dw + we:sw] += cols[:, i, j]
    if crop is not None:
        return out[:, crop[0]:crop[0] + crop[2], crop[1]:crop[1] + crop[3]]
    return out


def _gemm_groups(a, b, groups, trans_a=False, trans_b=False):
    """``a @ b`` per group: ``a`` (G*m, k) and ``b`` (G*k, n) stacked along axis 0 (with
    ``trans_a`` / ``trans_b`` each is transposed within its group)."""
    if groups == 1:
        return (a.T if trans_a else a) @ (b.T if trans_b else b)
    a3 = a.reshape(groups, -1, a.shape[-1])
    b3 = b.reshape(groups, -1, b.shape[-1])
    if trans_a:
        a3 = a3.transpose(0, 2, 1)
    if trans_b:
        b3 = b3.transpose(0, 2, 1)
    out = np.matmul(a3, b3)
    return out.reshape(-1, out.shape[-1])


def _grad_rows(g):
    """The output gradient (N, O, Ho, Wo) as the matrix (O, Ho*Wo*N) of the forward GEMM."""
    n, o, ho, wo = g.shape
    return np.ascontiguousarray(g.transpose(1, 2, 3, 0)).reshape(o, ho * wo * n)


def _conv_input_grad(w, g2, groups, geom, stride, pads, dilation):
    """The conv input gradient ``col2im(W.T @ g)`` as an (N, C, H, W) view."""
    n, c, h, wd, hp, wp, ho, wo = geom
    o, cg, kh, kw = w.shape
    gcols = _gemm_groups(w.reshape(o, cg * kh * kw), g2, groups, trans_a=True)
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
        cols = _im2col(_pad_cn(x, pads), kh, kw, ho, wo, stride, dilation)
        out = _gemm_groups(w.reshape(o, cg * kh * kw), cols, groups)     # (O, Ho*Wo*N)
        if b is not None:
            out += b[:, None]
        ctx.save_for_backward(cols, w)
        ctx.geom = (n, c, h, wd, hp, wp, ho, wo)
        return out.reshape(o, ho, wo, n).transpose(3, 0, 1, 2)

    @staticmethod
    def backward(ctx, g):
        cols, w = ctx.saved
        stride, pads, dilation, groups = ctx.inputs[3:7]
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        g2 = _grad_rows(g)
        gx = gw = gb = None
        if need_b:
            gb = g2.sum(axis=1)
        if need_w:
            gw = _gemm_groups(g2, cols, groups, trans_b=True).reshape(w.shape)
        if need_x:
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
        cols = _gemm_groups(w2, x2, groups, trans_a=True)     # (Cout*kh*kw, H*W*N)
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
        gcols = _im2col(_pad_cn(g, pads), kh, kw, h, wd, stride, dilation)  # (Cout*K, H*W*N)
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
    if x._data.dtype.kind != "f":
        raise LaminaValueError(f"{op}: expected a floating input, got {x.dtype}")
    if x._data.dtype != w._data.dtype or (b is not None and b._data.dtype != x._data.dtype):
        raise LaminaValueError(
            f"{op}: input ({x.dtype}), weight ({w.dtype})"
            + (f" and bias ({b.dtype})" if b is not None else "")
            + " should have the same dtype")
    if w._data.ndim != nd + 2:
        raise LaminaValueError(f"{op}: expected a {nd + 2}-D weight, got shape {w.shape}")
    if 0 in w.shape[2:]:
        raise LaminaValueError(f"{op}: kernel size should be greater than zero, got "
                               f"{tuple(w.shape[2:])}")
    if x._data.ndim not in (nd + 1, nd + 2):
        raise LaminaValueError(f"{op}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) "
                               f"input, got shape {x.shape}")


def _prepare(x, w, b, nd, op):
    """Bring 1-d / unbatched cases to the batched 2-d arrays the Functions take.

    Returns (x, w, unbatched) where x and w are tensors shaped for 2-d; reshapes are views
    recorded as cheap nodes only when needed."""
    unbatched = x._data.ndim == nd + 1
    if unbatched:
        x = x.unsqueeze(0)
    if nd == 1:
        x = x.unsqueeze(2)
        w = w.unsqueeze(2)
    return x, w, unbatched


def _records_graph(x, w, b):
    """Whether conv records a backward (a fast path may then keep what backward needs, or
    skip it)."""
    return GradMode.enabled and (x.requires_grad or w.requires_grad
                                 or (b is not None and b.requires_grad))


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
    c_in = x.shape[1] if x._data.ndim == nd + 2 else x.shape[0]
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
    fn = dispatch.select("conv2d", Conv2dFn, x._data, w._data, stride, dilation, int(groups),
                         _records_graph(x, w, bias))
    out = fn.apply(x, w, bias, stride, pads, dilation, int(groups))
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
    c_in = x.shape[1] if x._data.ndim == nd + 2 else x.shape[0]
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
    fn = dispatch.select("conv_transpose2d", ConvTranspose2dFn, x._data)
    out = fn.apply(x, w, bias, stride, padding, output_padding, dilation, int(groups))
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
