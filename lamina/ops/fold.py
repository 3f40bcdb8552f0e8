"""Sliding blocks: ``unfold`` (im2col) and ``fold`` (col2im), PyTorch's ``F.unfold`` /
``F.fold``, and the N-d im2col / col2im helpers that ``conv3d`` is built on.

For an input ``(N, C, *spatial)`` zero-padded by ``padding``, a kernel ``k``, a ``stride``
``s`` and a ``dilation`` ``d``, block ``l`` (row-major over the output grid ``out``) holds

    cols[n, c*K + j, l] = xpad[n, c, out_pos(l) * s + kpos(j) * d]

with ``K = prod(k)`` and ``j`` the row-major kernel offset. ``im2col`` is one strided view
of the padded input, ``(N, C, *k, *out)``, copied once by its reshape to ``(N, C*K, L)``;
``col2im`` is its adjoint: a loop over the ``K`` kernel offsets, each adding its
``(N, C, *out)`` slice into the strided positions of a zero array (overlapping blocks add
up). So ``unfold``'s backward is ``fold`` and ``fold``'s backward is ``unfold``.

The helpers take any number of spatial dims; PyTorch's ``unfold`` / ``fold`` are 2-D only
(``(N, C, H, W)`` in, ``(N, C*kh*kw, L)`` out, or the unbatched forms), and so are these.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from lamina.autograd.function import Function
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor

# F.unfold / F.fold only (``lamina.nn.functional``): not exported into ``lamina.ops``, where
# ``unfold`` would read as ``Tensor.unfold`` (a different op) and ``fold`` shadow this module
__all__: list[str] = []

_as_strided = np.lib.stride_tricks.as_strided


# --- N-d helpers on arrays -------------------------------------------------------------------

def out_sizes(sizes, k, s, p, d):
    """Number of blocks along each spatial dim (``p`` is the padding on each side)."""
    return tuple((n + 2 * pi - di * (ki - 1) - 1) // si + 1
                 for n, ki, si, pi, di in zip(sizes, k, s, p, d))


def zero_pad(x: np.ndarray, pads) -> np.ndarray:
    """``x`` with its trailing ``len(pads)`` dims zero-padded, ``pads`` being ``(before,
    after)`` per dim (``x`` itself when there is nothing to pad)."""
    if not any(b or a for b, a in pads):
        return x
    lead = x.ndim - len(pads)
    out = np.zeros(x.shape[:lead] + tuple(n + b + a for n, (b, a) in
                                          zip(x.shape[lead:], pads)), x.dtype)
    out[(...,) + tuple(slice(b, b + n) for n, (b, _) in zip(x.shape[lead:], pads))] = x
    return out


def crop(x: np.ndarray, pads, sizes) -> np.ndarray:
    """The ``sizes`` window after ``pads`` (``(before, after)`` per dim) of the trailing
    dims of ``x``: the inverse of ``zero_pad``'s placement (a view)."""
    return x[(...,) + tuple(slice(b, b + n) for (b, _), n in zip(pads, sizes))]


def im2col(xp: np.ndarray, k, s, d, out) -> np.ndarray:
    """``(N, C, *padded)`` -> the block matrix ``(N, C*prod(k), prod(out))``."""
    n, c = xp.shape[:2]
    st = xp.strides[2:]
    view = _as_strided(xp, (n, c, *k, *out),
                       xp.strides[:2] + tuple(t * di for t, di in zip(st, d))
                       + tuple(t * si for t, si in zip(st, s)), writeable=False)
    return view.reshape(n, c * math.prod(k), math.prod(out))


def col2im(cols: np.ndarray, c: int, padded, k, s, d, out) -> np.ndarray:
    """Adjoint of ``im2col``: add the blocks ``(N, C*prod(k), prod(out))`` into a zero
    ``(N, C, *padded)`` array, one strided slice per kernel offset."""
    n = cols.shape[0]
    cols = cols.reshape(n, c, *k, *out)
    res = np.zeros((n, c, *padded), cols.dtype)
    for offs in itertools.product(*(range(ki) for ki in k)):
        dst = tuple(slice(o * di, o * di + si * (oi - 1) + 1, si)
                    for o, di, si, oi in zip(offs, d, s, out))
        res[(slice(None), slice(None)) + dst] += cols[(slice(None), slice(None)) + offs]
    return res


# --- Functions -------------------------------------------------------------------------------

class UnfoldFn(Function):
    """``(N, C, H, W)`` -> ``(N, C*kh*kw, L)`` blocks; backward folds the gradient back."""

    @staticmethod
    def forward(ctx, x, k, d, p, s):
        out = out_sizes(x.shape[2:], k, s, p, d)
        pads = tuple((pi, pi) for pi in p)
        ctx.geom = (x.shape, out, pads)
        return im2col(zero_pad(x, pads), k, s, d, out)

    @staticmethod
    def backward(ctx, g):
        k, d, _, s = ctx.inputs[1:5]
        shape, out, pads = ctx.geom
        padded = tuple(n + 2 * b for n, (b, _) in zip(shape[2:], pads))
        gx = col2im(g, shape[1], padded, k, s, d, out)
        return crop(gx, pads, shape[2:]), None, None, None, None


class FoldFn(Function):
    """``(N, C*kh*kw, L)`` blocks -> the ``(N, C, *output_size)`` sum of the blocks placed at
    their positions; backward unfolds the gradient."""

    @staticmethod
    def forward(ctx, cols, size, k, d, p, s):
        c = cols.shape[1] // math.prod(k)
        out = out_sizes(size, k, s, p, d)
        pads = tuple((pi, pi) for pi in p)
        padded = tuple(n + 2 * pi for n, pi in zip(size, p))
        ctx.geom = (out, pads)
        return np.ascontiguousarray(crop(col2im(cols, c, padded, k, s, d, out), pads, size))

    @staticmethod
    def backward(ctx, g):
        k, d, _, s = ctx.inputs[2:6]
        out, pads = ctx.geom
        return im2col(zero_pad(g, pads), k, s, d, out), None, None, None, None, None


# --- argument handling -----------------------------------------------------------------------

def _pair(v, name, op):
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return (int(v),) * 2
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(
            isinstance(e, (int, np.integer)) and not isinstance(e, bool) for e in v):
        return tuple(int(e) for e in v)
    raise LaminaTypeError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")


def _block_args(kernel_size, dilation, padding, stride, op):
    k = _pair(kernel_size, "kernel_size", op)
    d = _pair(dilation, "dilation", op)
    p = _pair(padding, "padding", op)
    s = _pair(stride, "stride", op)
    for name, v, low in (("kernel size", k, 1), ("dilation", d, 1), ("stride", s, 1),
                         ("padding", p, 0)):
        if min(v) < low:
            raise LaminaValueError(f"{op}: {name} should be "
                                   f"{'non-negative' if low == 0 else 'greater than zero'}, "
                                   f"got {v}")
    return k, d, p, s


def _check_float(x, op):
    if not isinstance(x, Tensor):
        raise LaminaTypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x._data.dtype.kind != "f":
        raise LaminaValueError(f"{op}: expected a floating input, got {x.dtype}")


def unfold(input, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Extract sliding blocks (im2col): ``(N, C, H, W)`` -> ``(N, C*kh*kw, L)``, ``L`` the
    number of block positions, in row-major order; ``(C, H, W)`` -> ``(C*kh*kw, L)``.

    >>> unfold(lamina.randn(2, 3, 5, 6), 2).shape
    (2, 12, 20)
    """
    op = "unfold"
    _check_float(input, op)
    k, d, p, s = _block_args(kernel_size, dilation, padding, stride, op)
    shape = tuple(input.shape)
    if input.ndim not in (3, 4) or 0 in shape[-3:]:
        raise LaminaValueError(f"{op}: expected a 3-D or 4-D (batched) input with non-zero "
                               f"dims except the batch, got shape {shape}")
    out = out_sizes(shape[-2:], k, s, p, d)
    if min(out) < 1:
        raise LaminaValueError(
            f"{op}: input spatial size {shape[-2:]} with kernel_size={k}, dilation={d}, "
            f"padding={p} gives a block grid of {out}; it should be at least 1 per dim")
    x = input if input.ndim == 4 else input.unsqueeze(0)
    y = UnfoldFn.apply(x, k, d, p, s)
    return y if input.ndim == 4 else y.squeeze(0)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sum sliding blocks into an image (col2im), the adjoint of ``unfold``:
    ``(N, C*kh*kw, L)`` -> ``(N, C, *output_size)``; overlapping blocks add up.

    >>> fold(lamina.randn(2, 12, 20), (5, 6), 2).shape
    (2, 3, 5, 6)
    """
    op = "fold"
    _check_float(input, op)
    if isinstance(output_size, (tuple, list)) and len(output_size) != 2:
        raise LaminaValueError(f"{op}: expected output_size to have 2 elements, got "
                               f"{tuple(output_size)}")
    size = _pair(output_size, "output_size", op)
    k, d, p, s = _block_args(kernel_size, dilation, padding, stride, op)
    shape = tuple(input.shape)
    if input.ndim not in (2, 3) or 0 in shape[-2:]:
        raise LaminaValueError(f"{op}: expected a 2-D or 3-D (batched) input with non-zero "
                               f"dims except the batch, got shape {shape}")
    kk = k[0] * k[1]
    if shape[-2] % kk:
        raise LaminaValueError(f"{op}: expected size of input's dimension 1 to be divisible by "
                               f"the product of kernel_size, but got input.size(1)="
                               f"{shape[-2]} and kernel_size={k}")
    out = out_sizes(size, k, s, p, d)
    if min(out) < 1 or out[0] * out[1] != shape[-1]:
        raise LaminaValueError(
            f"{op}: given output_size={size}, kernel_size={k}, dilation={d}, padding={p}, "
            f"stride={s}, expected size of input's last dimension to be "
            f"{out[0] * out[1] if min(out) >= 1 else 'positive'}, but got {shape[-1]}")
    x = input if input.ndim == 3 else input.unsqueeze(0)
    y = FoldFn.apply(x, size, k, d, p, s)
    return y if input.ndim == 3 else y.squeeze(0)
