"""Non-constant padding: ``pad(x, pads, mode)`` with ``mode`` ``'reflect'``, ``'replicate'`` or
``'circular'`` over the last one, two or three dims (PyTorch's ``F.pad`` modes; the constant
mode is ``lamina.ops.movement.pad``, which hands the other modes to this file).

Every mode is an index map along each padded axis: output position ``i`` of an axis padded
by ``(before, after)`` reads input position ``src(i - before)``, where ``src`` is

- reflect: mirror at the edges without repeating them (``-1 -> 1``, ``n -> n - 2``);
- replicate: clamp to ``[0, n - 1]``;
- circular: wrap around (``i mod n``); a negative amount crops first, and the wrapping
  is around what is left (PyTorch's order).

So the forward is one gather per padded axis (``np.take``), and the backward the adjoint:
each output gradient is added back to the input position it was read from, so a reflected
or replicated position collects the sum of every copy of it. The adjoint is computed in
*runs*: maximal stretches where the source index moves by +1 or -1 at each step (the
interior, each reflected border, each wrapped border), each added with one slice, so no
element-wise scatter loop is needed. A negative amount crops, as in PyTorch.
"""

from __future__ import annotations

import numpy as np

from lamina.autograd.function import Function
from lamina.errors import LaminaValueError
from lamina.tensor import Tensor

__all__: list[str] = []    # ``pad`` itself is ``lamina.ops.movement.pad``

MODES = ("reflect", "replicate", "circular")


def source_index(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """The input position read by each output position of one axis padded by
    ``(before, after)`` in ``mode`` (negative amounts crop)."""
    if mode == "circular":
        # PyTorch crops by the negative amounts first, then wraps around what is left
        lo, hi = max(-before, 0), size - max(-after, 0)
        i = np.arange(-max(before, 0), hi - lo + max(after, 0))
        return lo + i % (hi - lo) if hi > lo else i[:0]
    i = np.arange(-before, size + after)
    if mode == "replicate":
        return np.clip(i, 0, size - 1)
    if size == 1:                  # reflect of a single element (only a crop reaches here)
        return np.zeros_like(i)
    period = 2 * (size - 1)        # reflect: the edges are not repeated
    i = np.abs(i) % period
    return np.where(i > size - 1, period - i, i)


def _runs(idx: np.ndarray):
    """Split an index map into runs ``(out_start, out_stop, src_start, step)`` where the
    source moves by ``step`` (+1 or -1) at each output position; a lone position is a run
    of step +1."""
    runs, start, n = [], 0, len(idx)
    while start < n:
        step = 1
        if start + 1 < n and idx[start + 1] - idx[start] in (1, -1):
            step = int(idx[start + 1] - idx[start])
        stop = start + 1
        while stop < n and idx[stop] - idx[stop - 1] == step:
            stop += 1
        runs.append((start, stop, int(idx[start]), step))
        start = stop
    return runs


def _scatter_axis(g: np.ndarray, idx: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Adjoint of ``np.take(x, idx, axis)``: add each slice of ``g`` along ``axis`` into
    position ``idx[i]`` of a zero array whose ``axis`` has length ``size``."""
    shape = list(g.shape)
    shape[axis] = size
    out = np.zeros(shape, g.dtype)
    lead = (slice(None),) * (axis % g.ndim)
    for o0, o1, s0, step in _runs(idx):
        s1 = s0 + step * (o1 - o0)
        src = slice(s0, s1, 1) if step == 1 else slice(s0, s1 if s1 >= 0 else None, -1)
        out[lead + (src,)] += g[lead + (slice(o0, o1),)]
    return out


class PadModeFn(Function):
    """Gather along the last ``len(maps)`` axes by the index ``maps`` (one per axis); the
    backward adds the gradient back along the same maps."""

    @staticmethod
    def forward(ctx, a, maps):
        nd = len(maps)
        ctx.sizes = a.shape[a.ndim - nd:]
        out = a
        for k, idx in enumerate(maps):
            out = np.take(out, idx, axis=a.ndim - nd + k)
        return out

    @staticmethod
    def backward(ctx, g):
        maps = ctx.inputs[1]
        nd = len(maps)
        for k, (idx, size) in enumerate(zip(maps, ctx.sizes)):
            g = _scatter_axis(g, idx, size, g.ndim - nd + k)
        return g, None


def pad_mode(x: Tensor, pairs, mode: str) -> Tensor:
    """Pad the last ``len(pairs)`` dims of ``x`` by ``pairs`` (``(before, after)`` per dim,
    outermost first) in ``mode``, with PyTorch's checks; called by ``movement.pad``."""
    nd = len(pairs)
    ndim = x._data.ndim
    if nd not in (1, 2, 3) or ndim not in (nd + 1, nd + 2):
        raise LaminaValueError(
            f"pad: mode {mode!r} pads 1, 2 or 3 trailing dims of a 2-D/3-D, 3-D/4-D or "
            f"4-D/5-D input, got padding length {2 * nd} for an input of shape "
            f"{tuple(x.shape)}")
    shape = x._data.shape
    if mode != "circular":
        # PyTorch: a zero-size batch is allowed, every other dim must be non-empty
        rest = shape[1:] if ndim == nd + 2 else shape
        if 0 in rest:
            raise LaminaValueError(f"pad: mode {mode!r} expects non-empty dims (except a "
                                   f"batch dim), got input of shape {tuple(shape)}")
    maps = []
    for k, (before, after) in enumerate(pairs):
        size = shape[ndim - nd + k]
        out = size + before + after
        if mode == "reflect" and (before >= size or after >= size):
            raise LaminaValueError(
                f"pad: padding size should be less than the corresponding input dimension "
                f"for mode 'reflect', but got padding ({before}, {after}) at dimension "
                f"{ndim - nd + k} of input {list(shape)}")
        kept = size - max(-before, 0) - max(-after, 0)     # circular wraps around these
        if mode == "circular" and (before > kept or after > kept) and out > 0:
            raise LaminaValueError(
                f"pad: padding value causes wrapping around more than once (mode 'circular', "
                f"padding ({before}, {after}) at dimension {ndim - nd + k} of input "
                f"{list(shape)})")
        if out < (0 if mode == "circular" else 1):
            raise LaminaValueError(
                f"pad: input size {size} at dimension {ndim - nd + k} is too small for "
                f"padding ({before}, {after}): the output size would be {out}")
        maps.append(source_index(size, before, after, mode))
    return PadModeFn.apply(x, tuple(maps))
