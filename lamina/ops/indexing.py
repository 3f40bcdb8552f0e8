"""Indexing: ``x[index]`` (ints, slices with steps, None, Ellipsis, boolean masks, integer
arrays), ``gather``, ``index_select``, ``masked_fill`` and ``__setitem__``."""

from __future__ import annotations

import numpy as np

from lamina.autograd.function import Function
from lamina.autograd.grad_mode import GradMode
from lamina.tensor import Tensor

__all__ = ["getitem", "setitem"]


def _convert_index(index):
    """Turn tensors inside an index into arrays (NumPy then does the indexing)."""
    if isinstance(index, tuple):
        return tuple(_convert_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray([i.item() if isinstance(i, Tensor) else i for i in index])
    return index


def _is_basic(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice, np.integer))
               and not isinstance(i, bool) for i in items)


class GetItem(Function):
    @staticmethod
    def forward(ctx, a, index, basic):
        ctx.shape, ctx.dtype, ctx.index, ctx.basic = a.shape, a.dtype, index, basic
        return a[index]

    @staticmethod
    def backward(ctx, g):
        out = np.zeros(ctx.shape, ctx.dtype)
        if ctx.basic:
            out[ctx.index] = g
        else:
            np.add.at(out, ctx.index, g)  # repeated indices accumulate
        return out, None, None


class _ViewItem(GetItem):
    is_view = True


def getitem(x, index) -> Tensor:
    idx = _convert_index(index)
    basic = _is_basic(idx)
    try:
        if basic:
            return _ViewItem.apply(x, idx, True)
        return GetItem.apply(x, idx, False)
    except IndexError as e:
        raise IndexError(f"index: {e} (tensor of shape {tuple(x.shape)})") from None


def setitem(x, index, value) -> None:
    """``x[index] = value`` for tensors outside the graph (in no_grad, or not requiring grad)."""
    if GradMode.enabled and (x.requires_grad or
                             (isinstance(value, Tensor) and value.requires_grad)):
        raise RuntimeError(
            "__setitem__: assigning into a tensor that requires grad (or assigning a value that "
            "requires grad) is not supported; do it under lamina.no_grad() or build the result "
            "with where/cat"
        )
    idx = _convert_index(index)
    v = value.data if isinstance(value, Tensor) else value
    x.data[idx] = v
    if x._vc is not None:
        x._vc[0] += 1
