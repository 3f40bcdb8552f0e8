"""Ordering ops: sort, argsort, topk, kthvalue, median, mode; and the counting ops unique,
unique_consecutive, bincount, histc, searchsorted.

The ops that return ``(values, indices)`` pick the indices with NumPy and take the values
with ``take_along_dim``, so their gradient flows back through the indices (each selected
element gets the gradient of its value; the others get zero), as in PyTorch.

Ties: sorting is always stable (equal elements keep their order; descending too), which is
what PyTorch guarantees with ``stable=True``; without it PyTorch's order of equal elements
is unspecified, and so is which of several equal elements ``topk``, ``kthvalue`` and
``median(dim)`` return (lamina's choice: the stable order's). NaN sorts above +inf, as in
PyTorch. ``median`` returns the lower of the two middle values; with a NaN in the slice the
value is NaN (at the first NaN's index). ``mode`` returns the smallest of the most frequent
values and the index of its last occurrence (PyTorch's CPU result without NaN; with NaN,
PyTorch's ``mode``, like the index it picks among tied NaNs in ``topk``/``kthvalue``, depends
on how its sort handles NaN, and the tests avoid those cases).
"""

from __future__ import annotations

import builtins

import numpy as np

from lamina.errors import LaminaIndexError, LaminaTypeError, LaminaValueError
from lamina.ops.indexing import take_along_dim
from lamina.ops.movement import squeeze
from lamina.ops.reduce import _return_type, numpy_names
from lamina.tensor import Tensor, _make, _norm_dim

__all__ = ["sort", "argsort", "topk", "kthvalue", "median", "mode", "unique",
           "unique_consecutive", "bincount", "histc", "searchsorted"]

_sort_result = _return_type("sort")
_topk_result = _return_type("topk")
_kthvalue_result = _return_type("kthvalue")
_median_result = _return_type("median")
_mode_result = _return_type("mode")


def _check(x, op: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise LaminaTypeError(f"{op}: expected a Tensor as input, got {type(x).__name__}")
    return x


def _sort_order(a: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """Stable argsort along ``axis``; NaN last ascending, first descending."""
    if a.ndim == 0:
        return np.zeros((), np.int64)
    if not descending:
        return np.argsort(a, axis=axis, kind="stable")
    # a stable descending order: sort the reversed slice ascending and read it backwards;
    # equal elements then keep their original order
    n = a.shape[axis]
    rev = np.argsort(np.flip(a, axis), axis=axis, kind="stable")
    return (n - 1) - np.flip(rev, axis)


def _take(x: Tensor, idx: np.ndarray, axis: int) -> Tensor:
    """``x``'s elements at ``idx`` along ``axis``, differentiable through ``x``."""
    if x._data.ndim == 0:
        return x * 1 if x._data.dtype.kind != "b" else _make(x._data.copy())
    return take_along_dim(x, _make(idx.astype(np.int64, copy=False)), axis)


@numpy_names
def sort(input, dim: int = -1, descending: bool = False, stable: bool = False):  # noqa: A002
    """Sorted values along ``dim`` and their original indices: ``(values, indices)``.

    Always stable (see the module docstring), so ``stable`` changes nothing.

    >>> lamina.tensor([3., 1., 2.]).sort()
    sort(values=tensor([1., 2., 3.]), indices=tensor([1, 2, 0]))
    """
    x = _check(input, "sort")
    axis = _norm_dim(dim, x._data.ndim, "sort")
    idx = _sort_order(x._data, axis, bool(descending))
    return _sort_result(_take(x, idx, axis), _make(idx.astype(np.int64, copy=False)))


@numpy_names
def argsort(input, dim: int = -1, descending: bool = False,  # noqa: A002
            stable: bool = False) -> Tensor:
    """The indices that sort ``input`` along ``dim`` (``sort(...).indices``)."""
    x = _check(input, "argsort")
    axis = _norm_dim(dim, x._data.ndim, "argsort")
    return _make(_sort_order(x._data, axis, bool(descending)).astype(np.int64, copy=False))


@numpy_names
def topk(input, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    """The ``k`` largest (or smallest) elements along ``dim``: ``(values, indices)``, in
    sorted order (also with ``sorted=False``, where PyTorch leaves the order unspecified)."""
    x = _check(input, "topk")
    axis = _norm_dim(dim, x._data.ndim, "topk")
    n = x._data.shape[axis] if x._data.ndim else 1
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        raise LaminaTypeError(f"topk: k must be an int, got {type(k).__name__}")
    if k < 0 or k > n:
        raise LaminaValueError(f"topk: selected index k out of range (k={k}, size of dim {n})")
    if x._data.ndim == 0 and k == 0:
        raise LaminaValueError("topk: k == 0 is not supported for a 0-dim tensor in lamina")
    idx = _sort_order(x._data, axis, bool(largest))
    if x._data.ndim:
        idx = np.take(idx, np.arange(k), axis=axis)
    return _topk_result(_take(x, idx, axis), _make(idx.astype(np.int64, copy=False)))


def _select(x: Tensor, pos: np.ndarray, axis: int, keepdim: bool, result):
    """The element at sorted position ``pos`` (an array broadcast along the other dims) of
    every slice along ``axis``: ``result(values, indices)``."""
    idx = np.take_along_axis(_sort_order(x._data, axis, False), pos, axis)
    vals = _take(x, idx, axis)
    idx = idx.astype(np.int64, copy=False)
    if not keepdim:
        vals = squeeze(vals, axis)
        idx = np.squeeze(idx, axis)
    return result(vals, _make(np.asarray(idx)))


def _slice_ready(x: Tensor, dim, op: str):
    """``x`` as at least 1-d, the axis, and whether the input was 0-d."""
    axis = _norm_dim(dim, x._data.ndim, op)
    if x._data.ndim == 0:
        return x.reshape(1), 0, True
    return x, axis, False


@numpy_names
def kthvalue(input, k: int, dim: int = -1, keepdim: bool = False):  # noqa: A002
    """The ``k``-th smallest element (1-based) along ``dim``: ``(values, indices)``."""
    x = _check(input, "kthvalue")
    x, axis, scalar = _slice_ready(x, dim, "kthvalue")
    n = x._data.shape[axis]
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        raise LaminaTypeError(f"kthvalue: k must be an int, got {type(k).__name__}")
    if not 1 <= k <= builtins.max(n, 1) or n == 0:
        raise LaminaIndexError(f"kthvalue: selected number k out of range for dimension {dim} "
                               f"(k={k}, size {n})")
    shape = list(x._data.shape)
    shape[axis] = 1
    pos = np.full(shape, k - 1, np.int64)
    out = _select(x, pos, axis, keepdim and not scalar, _kthvalue_result)
    return _kthvalue_result(*(_squeeze0(o) for o in out)) if scalar else out


def _squeeze0(t: Tensor) -> Tensor:
    return t.reshape(()) if t._data.ndim else t


@numpy_names
def median(input, dim=None, keepdim: bool = False):  # noqa: A002
    """The lower median: with ``dim=None`` a 0-d tensor of all elements; with ``dim`` the
    named tuple ``(values, indices)``. A slice holding a NaN has median NaN."""
    x = _check(input, "median")
    if dim is None:
        flat = x.reshape(-1)
        if flat._data.size == 0:
            return _make(np.asarray(np.nan, x._data.dtype)) if x._data.dtype.kind == "f" \
                else _make(np.zeros((), x._data.dtype))
        return median(flat, 0).values
    x, axis, scalar = _slice_ready(x, dim, "median")
    n = x._data.shape[axis]
    if n == 0:
        raise LaminaIndexError(f"median(): Expected reduction dim {axis} to have non-zero size.")
    a = x._data
    shape = list(a.shape)
    shape[axis] = 1
    pos = np.full(shape, (n - 1) // 2, np.int64)
    if a.dtype.kind == "f":
        # a slice with NaN: its first NaN sorts at position (count of non-NaN)
        nan_count = np.isnan(a).sum(axis=axis, keepdims=True)
        pos = np.where(nan_count > 0, n - nan_count, pos)
    out = _select(x, pos, axis, keepdim and not scalar, _median_result)
    return _median_result(*(_squeeze0(o) for o in out)) if scalar else out


@numpy_names
def mode(input, dim: int = -1, keepdim: bool = False):  # noqa: A002
    """The most frequent value along ``dim`` and the index of its last occurrence:
    ``(values, indices)``. Among equally frequent values, the smallest."""
    x = _check(input, "mode")
    x, axis, scalar = _slice_ready(x, dim, "mode")
    a = x._data
    n = a.shape[axis]
    if n == 0:
        raise LaminaIndexError(f"mode(): Expected reduction dim {axis} to have non-zero size.")
    order = np.moveaxis(_sort_order(a, axis, False), axis, -1)
    s = np.take_along_axis(np.moveaxis(a, axis, -1), order, -1)
    # run lengths in the sorted slice: start[i] is where the run holding position i begins
    new_run = np.ones(s.shape, bool)
    new_run[..., 1:] = s[..., 1:] != s[..., :-1]
    pos = np.arange(n)
    start = np.maximum.accumulate(np.where(new_run, pos, 0), axis=-1)
    count = pos - start + 1                   # at the run's last position: its length
    # the first (smallest) value with the largest count: argmax returns the first maximum;
    # its position is the run's end, whose stable order entry is the last occurrence
    end = np.argmax(count, axis=-1)[..., None]
    idx = np.moveaxis(np.take_along_axis(order, end, -1), -1, axis)
    vals = _take(x, idx, axis)
    idx = idx.astype(np.int64, copy=False)
    if not keepdim or scalar:
        vals, idx = squeeze(vals, axis), np.squeeze(idx, axis)
    return _mode_result(vals, _make(np.asarray(idx)))


# --- counting ops: no gradient ---------------------------------------------------------------

def _unique_result(out, inverse, counts, return_inverse, return_counts):
    res = [_make(np.asarray(out))]
    if return_inverse:
        res.append(_make(np.asarray(inverse, np.int64)))
    if return_counts:
        res.append(_make(np.asarray(counts, np.int64)))
    return res[0] if len(res) == 1 else tuple(res)


def _dim_for_unique(a, dim, op: str) -> int:
    """The axis for ``unique(..., dim)``, with PyTorch's checks on size-0 dims: only the
    selected dim may have size 0."""
    axis = _norm_dim(dim, a.ndim, op)
    if a.ndim == 0:
        raise LaminaIndexError(f"{op}: dim specified for a 0-dim tensor")
    if any(n == 0 for i, n in enumerate(a.shape) if i != axis):
        raise LaminaValueError(f"{op}: there are 0 sized dimensions, and they aren't selected, "
                               f"so unique cannot be applied (shape {a.shape}, dim {dim})")
    return axis


@numpy_names
def unique(input, sorted: bool = True, return_inverse: bool = False,  # noqa: A002
           return_counts: bool = False, dim=None):
    """The distinct elements (or, with ``dim``, distinct slices along ``dim``), sorted; with
    ``return_inverse`` the index of each input element in the output, with ``return_counts``
    how often each occurs. NaNs are all distinct, as in PyTorch. The output is always sorted
    (PyTorch sorts on CPU whatever ``sorted`` says)."""
    x = _check(input, "unique")
    a = x._data
    if dim is None:
        out, inv, cnt = np.unique(a.reshape(-1), return_inverse=True, return_counts=True,
                                  equal_nan=False)
        return _unique_result(out, inv.reshape(a.shape), cnt, return_inverse, return_counts)
    axis = _dim_for_unique(a, dim, "unique")
    if a.shape[axis] == 0:
        return _unique_result(a, np.zeros(0, np.int64), np.zeros(0, np.int64),
                              return_inverse, return_counts)
    out, inv, cnt = np.unique(a, return_inverse=True, return_counts=True, axis=axis)
    return _unique_result(out, inv.reshape(-1), cnt, return_inverse, return_counts)


@numpy_names
def unique_consecutive(input, return_inverse: bool = False,  # noqa: A002
                       return_counts: bool = False, dim=None):
    """Collapse each run of equal consecutive elements (or slices along ``dim``) to one;
    ``return_inverse`` and ``return_counts`` as in ``unique``."""
    x = _check(input, "unique_consecutive")
    a = x._data
    if dim is None:
        flat = a.reshape(-1)
        axis, work = 0, flat
    else:
        axis = _dim_for_unique(a, dim, "unique_consecutive")
        work = np.moveaxis(a, axis, 0).reshape(a.shape[axis], a.size // builtins.max(
            a.shape[axis], 1))
    n = work.shape[0]
    change = np.ones(n, bool)
    if n > 1:
        diff = work[1:] != work[:-1]
        change[1:] = diff if diff.ndim == 1 else diff.any(axis=1)
    starts = np.flatnonzero(change)
    counts = np.diff(np.append(starts, n))
    inverse = np.cumsum(change) - 1
    if dim is None:
        out = flat[starts]
        inverse = inverse.reshape(a.shape)
    else:
        out = np.take(a, starts, axis=axis)
    return _unique_result(out, inverse, counts, return_inverse, return_counts)


def bincount(input, weights=None, minlength: int = 0) -> Tensor:  # noqa: A002
    """Count each value of a 1-d non-negative integer tensor (``out[v]`` = occurrences of
    ``v``, or the sum of their ``weights``); length ``max(input) + 1`` or ``minlength``."""
    x = _check(input, "bincount")
    a = x._data
    if a.ndim != 1 or a.dtype.kind not in "iub":
        raise LaminaValueError(f"bincount only supports 1-d non-negative integral inputs, got "
                               f"{a.ndim}-d {x.dtype}")
    if a.size and a.min() < 0:
        raise LaminaValueError("bincount only supports 1-d non-negative integral inputs")
    if not isinstance(minlength, (int, np.integer)) or isinstance(minlength, bool):
        raise LaminaTypeError(f"bincount: minlength must be an int, got {type(minlength).__name__}")
    if minlength < 0:
        raise LaminaValueError("bincount: minlength should be >= 0")
    if weights is None:
        return _make(np.bincount(a, minlength=minlength).astype(np.int64))
    w = weights._data if isinstance(weights, Tensor) else np.asarray(weights)
    if w.shape != a.shape:
        raise LaminaValueError("bincount: weights should be 1-d and have the same length as input")
    dt = w.dtype if w.dtype.kind == "f" else np.dtype(np.float64)
    return _make(np.bincount(a, weights=w, minlength=minlength).astype(dt))


def histc(input, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:  # noqa: A002
    """A histogram of ``bins`` equal-width bins over ``[min, max]`` (the data's range when
    both are 0); elements outside are ignored; the last bin includes ``max``.

    Differs from PyTorch where ``max - min`` overflows the input's dtype (float32 data near
    +-3e38): lamina then bins in float64 and returns the true histogram, where PyTorch's
    CPU kernel returns an empty one."""
    x = _check(input, "histc")
    a = x._data
    if a.dtype.kind != "f":
        raise LaminaValueError(f"histc: not implemented for '{x.dtype}' tensors")
    if not isinstance(bins, (int, np.integer)) or isinstance(bins, bool):
        raise LaminaTypeError(f"histc: bins must be an int, got {type(bins).__name__}")
    for arg, v in (("min", min), ("max", max)):
        if not isinstance(v, (int, float, np.integer, np.floating)):
            raise LaminaTypeError(f"histc: {arg} must be a number, got {type(v).__name__}")
    if bins <= 0:
        raise LaminaValueError(f"histc: bins must be > 0, but got {bins}")
    lo, hi = float(min), float(max)
    if lo > hi:
        raise LaminaValueError(f"histc: max must be larger than min, got min={lo}, max={hi}")
    if lo == hi and a.size:
        lo, hi = float(a.min()), float(a.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise LaminaValueError(f"histc: range of [{lo}, {hi}] is not finite")
    v = a.reshape(-1)
    lo_, hi_ = np.asarray(lo, a.dtype), np.asarray(hi, a.dtype)
    v = v[(v >= lo_) & (v <= hi_)]
    with np.errstate(over="ignore"):
        width = hi_ - lo_
    if width == 0:
        # the data's single value x is so large that x - 1 and x + 1 round back to x: the
        # range is [x - 1, x + 1] mathematically, so every element (all equal x) lands in the
        # middle bin, as in PyTorch
        b = np.full(v.shape, bins // 2, np.int64)
    else:
        if not np.isfinite(width):
            # hi - lo overflows the dtype (float32 data near +-3e38): compute in float64.
            # PyTorch's result there is garbage (an empty histogram); lamina's is the true one
            v, lo_, width = v.astype(np.float64), lo_.astype(np.float64), hi - lo
        # bin = floor((v - lo) * bins / (hi - lo)), with v == hi in the last bin; in the
        # input's dtype, as PyTorch computes it (which side of an edge a value lands on
        # depends on it)
        b = ((v - lo_) * np.asarray(bins, v.dtype) / np.asarray(width, v.dtype))
        b = np.minimum(b.astype(np.int64), bins - 1)
    return _make(np.bincount(b, minlength=bins).astype(a.dtype))


def searchsorted(sorted_sequence, input, *, out_int32: bool = False,  # noqa: A002
                 right: bool = False, side: str | None = None, sorter=None) -> Tensor:
    """For each value of ``input``, the index where it would be inserted into the innermost
    dim of ``sorted_sequence`` to keep it sorted (before equal elements; after them with
    ``right=True`` or ``side='right'``). ``sorted_sequence`` is 1-d or has ``input``'s
    leading dims."""
    seq = _check(sorted_sequence, "searchsorted")._data
    scalar = not isinstance(input, Tensor)
    if scalar and not isinstance(input, (int, float, np.integer, np.floating)):
        raise LaminaTypeError(f"searchsorted: input must be a Tensor or a number, got "
                              f"{type(input).__name__}")
    vals = np.asarray(input) if scalar else input._data
    if side is not None:
        if side not in ("left", "right"):
            raise LaminaValueError(f"searchsorted: side can only be 'left' or 'right' but got "
                                   f"{side!r}")
        if right and side == "left":
            raise LaminaValueError("searchsorted: side and right can't be set to opposites, got "
                                   "side of left while right was True")
        right = side == "right"
    how = "right" if right else "left"
    srt = None if sorter is None else (sorter._data if isinstance(sorter, Tensor)
                                       else np.asarray(sorter))
    if srt is not None:
        if srt.shape != seq.shape:
            raise LaminaValueError("searchsorted: boundary and sorter must have the same size")
        seq = np.take_along_axis(seq, srt, -1)
    if seq.ndim == 0:
        raise LaminaValueError("searchsorted: input value can be a scalar only when "
                               "sorted_sequence tensor is 1-dimensional")
    if seq.ndim == 1:
        out = np.searchsorted(seq, vals, side=how)
    else:
        if scalar or seq.shape[:-1] != vals.shape[:-1]:
            raise LaminaValueError(
                f"searchsorted: boundaries tensor should be 1 dimension or the first N-1 "
                f"dimensions of boundaries tensor and input value tensor must match, but we "
                f"got boundaries tensor {list(seq.shape)} and input value tensor "
                f"{list(vals.shape)}")
        s2 = seq.reshape(-1, seq.shape[-1])
        v2 = vals.reshape(s2.shape[0], -1)
        out = np.stack([np.searchsorted(s, v, side=how) for s, v in zip(s2, v2)]) \
            if s2.shape[0] else np.zeros(v2.shape, np.int64)
        out = out.reshape(vals.shape)
    return _make(np.asarray(out, np.int32 if out_int32 else np.int64))
