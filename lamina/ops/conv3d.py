"""3-D convolutions: ``conv3d`` and ``conv_transpose3d`` (PyTorch's definitions), on an N-d
im2col (``lamina.ops.fold``).

The convolution of ``x (N, C, D, H, W)`` with ``w (O, C/G, kd, kh, kw)`` is, per group,

    out[n] = W (O/G, Cg*K) @ cols[n] (Cg*K, L)   (+ bias)

where ``cols = im2col(xpad)`` holds one column per output position (``K = kd*kh*kw``,
``L = Do*Ho*Wo``): one strided-view copy and one batched BLAS product. Backward:

- bias gradient: ``g`` summed over batch and positions;
- weight gradient: ``sum_n g[n] @ cols[n].T``;
- input gradient: ``col2im(W.T @ g)``, the adjoint of im2col (a loop over the ``K``
  kernel offsets, each adding one strided slice).

The transposed convolution is the adjoint of the convolution in its input: its forward is
the conv input-gradient path (``col2im(W.T @ x)``, then ``padding`` cropped from each side)
and its backward the conv forward path. The Functions are written for any number of spatial
dims; lamina uses them for 3-D (1-D and 2-D have the tuned paths of ``lamina.ops.conv``).
No compiled kernel: the products are BLAS, the copies strided NumPy.
"""

from __future__ import annotations

import math

import numpy as np

from lamina.autograd.function import Function
from lamina.errors import LaminaValueError
from lamina.ops.conv import _check_tensors, _tuple
from lamina.ops.fold import col2im, crop, im2col, out_sizes, zero_pad
from lamina.tensor import Tensor

__all__ = ["conv3d", "conv_transpose3d"]


class ConvNdFn(Function):
    """N-d convolution on batched arrays; ``pads`` is ``(before, after)`` per spatial dim."""

    @staticmethod
    def forward(ctx, x, w, b, stride, pads, dilation, groups):
        n, c = x.shape[:2]
        o, cg = w.shape[:2]
        k = w.shape[2:]
        xp = zero_pad(x, pads)
        out = out_sizes(xp.shape[2:], k, stride, (0,) * len(k), dilation)
        rows, cols_n = c // groups * math.prod(k), math.prod(out)   # Cg*K, L (sizes may be 0)
        cols = im2col(xp, k, stride, dilation, out).reshape(n, groups, rows, cols_n)
        w3 = w.reshape(groups, o // groups, -1)                     # (G, Og, Cg*K)
        y = np.matmul(w3, cols).reshape(n, o, *out)                 # (N, G, Og, L) -> out
        if b is not None:
            y += b.reshape((o,) + (1,) * len(k))
        ctx.save_for_backward(cols, w)
        ctx.geom = (x.shape, xp.shape[2:], out)
        return y

    @staticmethod
    def backward(ctx, g):
        cols, w = ctx.saved
        stride, pads, dilation, groups = ctx.inputs[3:7]
        shape, padded, out = ctx.geom
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        n, o = g.shape[:2]
        g3 = g.reshape(n, groups, o // groups, math.prod(out))       # (N, G, Og, L)
        gx = gw = gb = None
        if need_b:
            gb = g.sum(axis=(0,) + tuple(range(2, g.ndim)))
        if need_w:
            gw = np.matmul(g3, cols.swapaxes(-1, -2)).sum(axis=0).reshape(w.shape)
        if need_x:
            w3 = w.reshape(groups, o // groups, -1)
            gcols = np.matmul(w3.swapaxes(-1, -2), g3)               # (N, G, Cg*K, L)
            gcols = gcols.reshape(n, shape[1] * math.prod(w.shape[2:]), gcols.shape[-1])
            gp = col2im(gcols, shape[1], padded, w.shape[2:], stride, dilation, out)
            gx = crop(gp, pads, shape[2:])
        return gx, gw, gb, None, None, None, None


class ConvTransposeNdFn(Function):
    """N-d transposed convolution on batched arrays: ``x (N, Cin, *in)``, ``w (Cin, Og,
    *k)``; the full output ``(in - 1) * s + d * (k - 1) + 1 + output_padding`` has
    ``padding`` cropped from each side."""

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, output_padding, dilation, groups):
        n, cin = x.shape[:2]
        og = w.shape[1]
        k = w.shape[2:]
        size = x.shape[2:]
        full = tuple((i - 1) * s + d * (kk - 1) + 1 + q for i, s, d, kk, q in
                     zip(size, stride, dilation, k, output_padding))
        out = tuple(f - 2 * p for f, p in zip(full, padding))
        x3 = x.reshape(n, groups, cin // groups, math.prod(size))   # (N, G, Cg, L)
        w3 = w.reshape(groups, cin // groups, -1)                   # (G, Cg, Og*K)
        cols = np.matmul(w3.swapaxes(-1, -2), x3)                   # (N, G, Og*K, L)
        cols = cols.reshape(n, og * groups * math.prod(k), cols.shape[-1])
        y = col2im(cols, og * groups, full, k, stride, dilation, size)
        pads = tuple((p, f - o - p) for p, f, o in zip(padding, full, out))
        y = np.ascontiguousarray(crop(y, pads, out))
        if b is not None:
            y += b.reshape((-1,) + (1,) * len(k))
        ctx.save_for_backward(x3, w)
        ctx.geom = (size, pads)
        return y

    @staticmethod
    def backward(ctx, g):
        x3, w = ctx.saved
        stride, dilation, groups = ctx.inputs[3], ctx.inputs[6], ctx.inputs[7]
        size, pads = ctx.geom
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        n = g.shape[0]
        cin = w.shape[0]
        gx = gw = gb = None
        if need_b:
            gb = g.sum(axis=(0,) + tuple(range(2, g.ndim)))
        gcols = im2col(zero_pad(g, pads), w.shape[2:], stride, dilation, size)
        gcols = gcols.reshape(n, groups, gcols.shape[1] // groups, gcols.shape[-1])
        w3 = w.reshape(groups, cin // groups, -1)
        if need_x:
            gx = np.matmul(w3, gcols).reshape((n, cin) + tuple(size))
        if need_w:
            gw = np.matmul(x3, gcols.swapaxes(-1, -2)).sum(axis=0).reshape(w.shape)
        return gx, gw, gb, None, None, None, None, None


# --- argument handling -----------------------------------------------------------------------

def _groups(groups, op):
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise LaminaValueError(f"{op}: groups must be a positive int, got {groups!r}")
    return int(groups)


def _batched(x, nd):
    """``(x batched, undo)``: an unbatched input gets a batch dim of 1, removed after."""
    if x._data.ndim == nd + 1:
        return x.unsqueeze(0), (lambda t: t.squeeze(0))
    return x, (lambda t: t)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """3-D convolution (cross-correlation) over an ``(N, C, D, H, W)`` or ``(C, D, H, W)``
    input; ``weight`` is ``(out_channels, in_channels / groups, kd, kh, kw)``; ``padding``
    is an int, a triple, ``'valid'`` or ``'same'`` (stride 1 only; an odd total pads one
    more at the end, as PyTorch does).

    >>> conv3d(lamina.randn(2, 3, 6, 6, 6), lamina.randn(4, 3, 3, 3, 3), padding=1).shape
    (2, 4, 6, 6, 6)
    """
    op, nd = "conv3d", 3
    _check_tensors(input, weight, bias, op, nd)
    stride = _tuple(stride, nd, "stride", op)
    dilation = _tuple(dilation, nd, "dilation", op)
    groups = _groups(groups, op)
    if min(stride) < 1:
        raise LaminaValueError(f"{op}: non-positive stride is not supported, got {stride}")
    if min(dilation) < 1:
        raise LaminaValueError(f"{op}: dilation should be greater than zero, got {dilation}")
    ks = tuple(weight.shape[2:])
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise LaminaValueError(f"{op}: invalid padding string {padding!r}, expected "
                                   "'valid' or 'same'")
        if padding == "same" and any(s != 1 for s in stride):
            raise LaminaValueError(f"{op}: padding='same' is not supported for strided "
                                   "convolutions")
        totals = [d * (k - 1) if padding == "same" else 0 for k, d in zip(ks, dilation)]
        pads = tuple((t // 2, t - t // 2) for t in totals)
    else:
        p = _tuple(padding, nd, "padding", op)
        if min(p) < 0:
            raise LaminaValueError(f"{op}: negative padding is not supported, got {p}")
        pads = tuple((q, q) for q in p)
    c_in = input.shape[-nd - 1]
    o = weight.shape[0]
    if c_in != weight.shape[1] * groups:
        raise LaminaValueError(
            f"{op}: expected input with {weight.shape[1] * groups} channels (weight "
            f"{tuple(weight.shape)} with groups={groups}), got input of shape "
            f"{tuple(input.shape)}")
    if o % groups:
        raise LaminaValueError(f"{op}: out_channels ({o}) must be divisible by groups ({groups})")
    if bias is not None and tuple(bias.shape) != (o,):
        raise LaminaValueError(f"{op}: expected bias of shape ({o},), got {tuple(bias.shape)}")
    spatial = tuple(input.shape[-nd:])
    for size, k, d, (b, a) in zip(spatial, ks, dilation, pads):
        if size + b + a < d * (k - 1) + 1:
            raise LaminaValueError(
                f"{op}: input spatial size {spatial} (padded by {pads}) is smaller than the "
                f"dilated kernel {ks} (dilation {dilation})")
    x, undo = _batched(input, nd)
    return undo(ConvNdFn.apply(x, weight, bias, stride, pads, dilation, groups))


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1) -> Tensor:
    """3-D transposed convolution over an ``(N, Cin, D, H, W)`` or ``(Cin, D, H, W)`` input;
    ``weight`` is ``(in_channels, out_channels / groups, kd, kh, kw)``; each output size is
    ``(in - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1``.

    >>> conv_transpose3d(lamina.randn(1, 4, 3, 3, 3), lamina.randn(4, 2, 3, 3, 3),
    ...                  stride=2).shape
    (1, 2, 7, 7, 7)
    """
    op, nd = "conv_transpose3d", 3
    _check_tensors(input, weight, bias, op, nd)
    stride = _tuple(stride, nd, "stride", op)
    padding = _tuple(padding, nd, "padding", op)
    output_padding = _tuple(output_padding, nd, "output_padding", op)
    dilation = _tuple(dilation, nd, "dilation", op)
    groups = _groups(groups, op)
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0 or min(output_padding) < 0:
        raise LaminaValueError(f"{op}: stride and dilation must be positive and padding, "
                               f"output_padding non-negative; got stride={stride}, "
                               f"padding={padding}, output_padding={output_padding}, "
                               f"dilation={dilation}")
    for q, s, d in zip(output_padding, stride, dilation):
        if q >= s and q >= d:
            raise LaminaValueError(f"{op}: output padding must be smaller than either stride or "
                                   f"dilation, got output_padding={output_padding}, "
                                   f"stride={stride}, dilation={dilation}")
    c_in = input.shape[-nd - 1]
    if c_in != weight.shape[0]:
        raise LaminaValueError(f"{op}: expected input with {weight.shape[0]} channels (weight "
                               f"{tuple(weight.shape)}), got input of shape "
                               f"{tuple(input.shape)}")
    if c_in % groups:
        raise LaminaValueError(f"{op}: in_channels ({c_in}) must be divisible by groups "
                               f"({groups})")
    cout = weight.shape[1] * groups
    if bias is not None and tuple(bias.shape) != (cout,):
        raise LaminaValueError(f"{op}: expected bias of shape ({cout},), got "
                               f"{tuple(bias.shape)}")
    for size, k, s, p, q, d in zip(input.shape[-nd:], weight.shape[2:], stride, padding,
                                   output_padding, dilation):
        if (size - 1) * s - 2 * p + d * (k - 1) + q + 1 <= 0:
            raise LaminaValueError(f"{op}: the output size for input {tuple(input.shape)} "
                                   "would be non-positive")
    x, undo = _batched(input, nd)
    return undo(ConvTransposeNdFn.apply(x, weight, bias, stride, padding, output_padding,
                                        dilation, groups))
