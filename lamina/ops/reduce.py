"""Reductions: sum, mean, max/min (values and indices), var/std, prod, logsumexp, norm,
all/any, cumsum, and the numerically stable softmax / log_softmax along a dim.

Every differentiable op is one ``Function`` with a hand-written backward. Dtypes follow
PyTorch: ``sum``, ``prod`` and ``cumsum`` of integer or bool tensors give int64; ``max``/``min``
keep the input dtype; ``all``/``any`` give bool; ``mean``, ``var``, ``std``, ``norm`` and
``softmax`` need a floating tensor; ``logsumexp`` promotes integers to the default float dtype.

Gradients at ties follow PyTorch exactly: a full ``max()``/``min()`` and ``amax``/``amin``
share the gradient evenly among the tied elements; ``max(dim=...)`` sends it to the index it
returned (the first occurrence of the extreme value).
"""

from __future__ import annotations

import builtins
import functools
from collections import namedtuple

import numpy as np

from lamina.autograd.function import Function
from lamina.autograd.grad_mode import GradMode
from lamina.backend import as_dtype, get_default_dtype, is_floating
from lamina.errors import LaminaIndexError, LaminaTypeError, LaminaValueError
from lamina.ops.elementwise import cast, maximum, minimum
from lamina.tensor import Tensor, _make, _norm_dim

__all__ = [
    "sum", "mean", "max", "min", "amax", "amin", "argmax", "argmin", "var", "std", "prod",
    "logsumexp", "norm", "softmax", "log_softmax", "all", "any", "cumsum",
]


# --- helpers ---------------------------------------------------------------------------------

def keepdim_max(a, axis: int):
    """``a.max(axis=axis, keepdims=True)``, faster for a short last axis (softmax over a few
    classes): NumPy reduces many short inner rows slowly (13 us for (128, 10) float32), so
    such a max runs over the leading axis of a transposed copy instead (4 us). The maximum
    is exact either way, NaN propagation included: the results are identical."""
    if axis == a.ndim - 1 and a.ndim >= 2 and a.shape[-1] <= 16 and a.size >= 256:
        t = a.T if a.ndim == 2 else np.moveaxis(a, -1, 0)      # .T: no Python-level helper
        return np.ascontiguousarray(t).max(axis=0)[..., None]
    return a.max(axis=axis, keepdims=True)


def _check(x, op: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise LaminaTypeError(f"{op}: expected a Tensor as input, got {type(x).__name__}")
    return x


def _dims(dim, ndim: int, op: str, empty_all: bool = True):
    """Normalize ``dim`` (None, int or tuple, negatives allowed) to a sorted tuple of axes.

    ``None`` means every axis; so does an empty tuple when ``empty_all`` (PyTorch's rule for
    ``sum``, ``mean``, ``amax``, ``var``...; ``all``/``any`` reduce nothing for ``dim=()``).
    A 0-d tensor accepts dims 0 and -1 and has no axes to reduce.
    """
    if dim is None:
        return tuple(range(ndim))
    if type(dim) is int and -ndim <= dim < ndim:     # the common case, kept cheap
        return (dim % ndim,)
    if isinstance(dim, (int, np.integer)) and not isinstance(dim, bool):
        dims = (dim,)
    elif isinstance(dim, (tuple, list)):
        dims = tuple(dim)
        if not dims and empty_all:
            return tuple(range(ndim))
    else:
        raise LaminaTypeError(f"{op}: dim must be an int or a tuple of ints, got {dim!r}")
    n = builtins.max(ndim, 1)
    out = []
    for d in dims:
        if not isinstance(d, (int, np.integer)) or isinstance(d, bool):
            raise LaminaTypeError(f"{op}: dim must be an int or a tuple of ints, got {dim!r}")
        if d < -n or d >= n:
            raise LaminaIndexError(
                f"{op}: Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                f"but got {d})"
            )
        d = int(d) % n
        if d in out:
            raise LaminaValueError(f"{op}: dim {d} appears multiple times in the list of dims")
        out.append(d)
    if ndim == 0:
        return ()
    return tuple(sorted(out))


_ALL_AXES = [tuple(range(n)) for n in range(33)]   # axes of a full reduction, by ndim


def _count(shape, axes) -> int:
    n = 1
    for ax in axes:
        n *= shape[ax]
    return n


def _expand_back(g, axes, keepdim):
    """Re-insert reduced axes into ``g`` so it broadcasts against the input."""
    if not keepdim and axes:
        shape = list(g.shape)
        for ax in axes:                 # axes are sorted: insert from the left
            shape.insert(ax, 1)
        g = g.reshape(shape)
    return g


def _spread(g, shape, axes, keepdim, scale=None):
    """``g`` (the gradient of a sum-like reduction) copied over the reduced axes, times
    ``scale``: a fresh, writeable array of ``shape``. Cheaper than ``np.broadcast_to`` for the
    small arrays where per-call overhead dominates, and the engine need not copy it again."""
    out = np.empty(shape, g.dtype)
    if scale is not None:
        g = g * scale
    if g.ndim == 0:
        out.fill(g)
    else:
        out[...] = _expand_back(g, axes, keepdim)
    return out


def _squeeze(out, axes, keepdim):
    return out if keepdim or not axes else np.squeeze(out, axis=axes)


def _apply_dtype(x: Tensor, dtype, op: str) -> Tensor:
    """Cast ``x`` to the ``dtype`` argument of a reduction (PyTorch casts before reducing)."""
    if dtype is None:
        return x
    d = as_dtype(dtype)
    if not is_floating(d) and x.requires_grad and GradMode.enabled:
        raise LaminaValueError(f"{op}: autograd does not support dtype {d} for a tensor that "
                               "requires grad")
    return cast(x, d)


def _nonempty(x: Tensor, axes, op: str, full: bool) -> None:
    """PyTorch's checks for reductions without an identity (max, min, argmax...)."""
    shape = x._data.shape
    if full and x._data.size == 0:
        exc = LaminaIndexError if op.startswith("arg") else LaminaValueError
        raise exc(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
                  "Specify the reduction dim with the 'dim' argument.")
    for ax in axes:
        if shape[ax] == 0:
            raise LaminaIndexError(f"{op}(): Expected reduction dim {ax} to have non-zero size.")


def _return_type(name: str):
    """A named tuple like ``torch.return_types.<name>``: prints as ``max(values=...,
    indices=...)`` and pickles (its qualified name points at the module-level variable)."""
    cls = namedtuple(name, ["values", "indices"])
    cls.__qualname__ = f"_{name}_result"
    cls.__module__ = __name__
    cls.__doc__ = f"``(values, indices)`` returned by ``{name}(x, dim)``."
    return cls


_max_result = _return_type("max")
_min_result = _return_type("min")


# --- sum and mean ----------------------------------------------------------------------------

class Sum(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        if a.dtype.itemsize == 2:       # float16 / bfloat16: accumulate in float32, round once
            return np.asarray(a.sum(axis=axes, keepdims=keepdim, dtype=np.float32)
                              ).astype(a.dtype)
        if not keepdim and len(axes) == a.ndim:
            return a.sum()              # a full reduction: no axis bookkeeping (faster)
        return a.sum(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        return _spread(g, ctx.shape, ctx.axes, ctx.keepdim), None, None


def sum(x, dim=None, keepdim: bool = False, dtype=None) -> Tensor:  # noqa: A001
    """Sum over ``dim`` (an int or a tuple; all dims by default or for ``dim=()``).

    Integer and bool tensors sum to int64; ``dtype`` casts the input first and is the result's
    dtype (an integer ``dtype`` wraps around on overflow, as in PyTorch). float16 and bfloat16
    accumulate in float32 and round once, as PyTorch's CPU kernels do.

    >>> lamina.tensor([[1., 2.], [3., 4.]]).sum(dim=0)
    tensor([4., 6.])
    """
    _check(x, "sum")
    x = _apply_dtype(x, dtype, "sum")
    axes = _dims(dim, x._data.ndim, "sum")
    if x._data.dtype.kind in "biu":     # int64, or the integer dtype asked for (PyTorch)
        acc = np.int64 if dtype is None else x._data.dtype
        return _make(np.asarray(x._data.sum(axis=axes, keepdims=keepdim, dtype=acc)))
    return Sum.apply(x, axes, keepdim)


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        if a.dtype.itemsize == 2:       # float16 / bfloat16: accumulate in float32, round once
            n = ctx.n = _count(a.shape, axes)
            s = a.sum(axis=axes, keepdims=keepdim, dtype=np.float32)
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.asarray(np.true_divide(s, n, dtype=np.float32)).astype(a.dtype)
        if not keepdim and len(axes) == a.ndim:
            n = ctx.n = a.size
            s = a.sum()                 # a full reduction: no axis bookkeeping (faster)
        else:
            n = ctx.n = _count(a.shape, axes)
            s = a.sum(axis=axes, keepdims=keepdim)
        if n:
            return np.true_divide(s, n, dtype=a.dtype)
        # the mean of an empty slice is 0 / 0 = nan, as in PyTorch
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.true_divide(s, n, dtype=a.dtype)

    @staticmethod
    def backward(ctx, g):
        n = ctx.n
        return _spread(g, ctx.shape, ctx.axes, ctx.keepdim, 1 / n if n else None), None, None


def mean(x, dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """Mean over ``dim`` (all dims by default); floating tensors only, as in PyTorch.

    >>> lamina.tensor([[1., 2.], [3., 4.]]).mean(dim=1)
    tensor([1.5, 3.5])
    """
    if dim is None and dtype is None and type(x) is Tensor and x._data.dtype.kind == "f":
        return Mean.apply(x, _ALL_AXES[x._data.ndim], keepdim)     # the loss's common case
    _check(x, "mean")
    x = _apply_dtype(x, dtype, "mean")
    if not is_floating(x._data.dtype):
        raise LaminaValueError(
            f"mean(): could not infer output dtype. Input dtype must be either a floating "
            f"point or complex dtype. Got: {x.dtype}"
        )
    return Mean.apply(x, _dims(dim, x._data.ndim, "mean"), keepdim)


# --- max / min -------------------------------------------------------------------------------

class ExtremeAll(Function):
    """Full ``max()``/``min()``: the gradient is shared evenly by every element equal to the
    result (NaN counts as equal to a NaN result)."""

    @staticmethod
    def forward(ctx, a, is_max):
        out = a.max() if is_max else a.min()
        ctx.save_for_backward(a, out)
        return np.asarray(out)

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved
        mask = np.isnan(a) if np.isnan(out) else a == out
        return np.asarray(mask * (g / np.count_nonzero(mask))), None


class ExtremeDims(Function):
    """``amax``/``amin`` over several axes: the gradient of each slice is divided by the
    number of elements equal to its extreme value (PyTorch's ``scale_grad_by_count``)."""

    @staticmethod
    def forward(ctx, a, axes, keepdim, is_max):
        out = a.max(axis=axes, keepdims=True) if is_max else a.min(axis=axes, keepdims=True)
        ctx.save_for_backward(a, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return _squeeze(out, axes, keepdim)

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved
        g = _expand_back(g, ctx.axes, ctx.keepdim)
        mask = a == out
        cnt = mask.sum(axis=ctx.axes, keepdims=True, dtype=a.dtype)
        # a slice holding NaN matches nothing: 0 / 0 gives NaN there, as in PyTorch
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray((g / cnt) * mask), None, None, None


class ExtremeDim(Function):
    """``max(x, dim)``/``min(x, dim)``: values and the index of the first extreme element;
    the gradient goes to that index only."""

    @staticmethod
    def forward(ctx, a, axis, keepdim, is_max):
        ctx.shape = a.shape
        if a.ndim == 0:
            ctx.idx = None
            return a.copy(), np.zeros((), np.int64)
        if is_max:
            vals, idx = a.max(axis=axis, keepdims=keepdim), a.argmax(axis=axis, keepdims=True)
        else:
            vals, idx = a.min(axis=axis, keepdims=keepdim), a.argmin(axis=axis, keepdims=True)
        ctx.idx, ctx.axis, ctx.keepdim = idx, axis, keepdim
        return vals, (idx if keepdim else idx.squeeze(axis)).astype(np.int64, copy=False)

    @staticmethod
    def backward(ctx, g, g_idx=None):
        if g is None:
            return None, None, None, None
        if ctx.idx is None:
            return g.copy(), None, None, None
        idx, axis = ctx.idx, ctx.axis
        # scatter g to the arg-extreme positions: arange along every other axis, idx along axis
        index = []
        for i, n in enumerate(idx.shape):
            if i == axis:
                index.append(idx)
            else:
                shape = [1] * idx.ndim
                shape[i] = n
                index.append(np.arange(n).reshape(shape))
        out = np.zeros(ctx.shape, g.dtype)
        out[tuple(index)] = g.reshape(idx.shape)
        return out, None, None, None


def _extreme(x, dim, keepdim, other, is_max):
    op = "max" if is_max else "min"
    _check(x, op)
    if isinstance(dim, Tensor):
        if other is not None:
            raise LaminaTypeError(f"{op}: got two tensors to compare with")
        dim, other = None, dim
    if other is not None:
        if keepdim:
            raise LaminaTypeError(f"{op}: keepdim is not allowed with a second tensor")
        return (maximum if is_max else minimum)(x, other)
    if dim is None:
        if keepdim:
            raise LaminaTypeError(f"{op}(): keepdim=True needs a dim (got dim=None)")
        _nonempty(x, (), op, full=True)
        return ExtremeAll.apply(x, is_max)
    axis = _norm_dim(dim, x._data.ndim, op)
    if x._data.ndim:
        _nonempty(x, (axis,), op, full=False)
    vals, idx = ExtremeDim.apply(x, axis, bool(keepdim), is_max)
    return (_max_result if is_max else _min_result)(vals, idx)


def max(x, dim=None, keepdim: bool = False, *, other=None):  # noqa: A001
    """The largest element, or ``(values, indices)`` along ``dim``, or ``maximum(x, other)``.

    ``max(x)`` returns a 0-d tensor; ``max(x, dim, keepdim=False)`` returns a named tuple with
    ``.values`` and ``.indices`` (the first occurrence of the maximum); ``max(x, other)`` with a
    tensor ``other`` is the elementwise maximum.

    >>> lamina.tensor([[1., 5.], [7., 2.]]).max(dim=1)
    max(values=tensor([5., 7.]), indices=tensor([1, 0]))
    """
    return _extreme(x, dim, keepdim, other, True)


def min(x, dim=None, keepdim: bool = False, *, other=None):  # noqa: A001
    """The smallest element, or ``(values, indices)`` along ``dim``, or ``minimum(x, other)``.

    Same forms as ``max``.

    >>> lamina.tensor([[1., 5.], [7., 2.]]).min()
    tensor(1.)
    """
    return _extreme(x, dim, keepdim, other, False)


def _amaxmin(x, dim, keepdim, is_max):
    op = "amax" if is_max else "amin"
    _check(x, op)
    full = dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0)
    axes = _dims(dim, x._data.ndim, op)
    _nonempty(x, axes, op, full)
    return ExtremeDims.apply(x, axes, bool(keepdim), is_max)


def amax(x, dim=(), keepdim: bool = False) -> Tensor:
    """Maximum over ``dim`` (an int or a tuple; all dims by default).

    Ties share the gradient evenly.

    >>> lamina.tensor([[1., 5.], [7., 2.]]).amax(dim=0)
    tensor([7., 5.])
    """
    return _amaxmin(x, dim, keepdim, True)


def amin(x, dim=(), keepdim: bool = False) -> Tensor:
    """Minimum over ``dim`` (an int or a tuple; all dims by default).

    Ties share the gradient evenly.

    >>> lamina.tensor([[1., 5.], [7., 2.]]).amin(dim=0)
    tensor([1., 2.])
    """
    return _amaxmin(x, dim, keepdim, False)


def _argextreme(x, dim, keepdim, is_max):
    op = "argmax" if is_max else "argmin"
    _check(x, op)
    a = x._data
    if a.dtype.kind == "b":
        raise LaminaValueError(f"{op}(): does not support bool input")
    fn = np.argmax if is_max else np.argmin
    if dim is None:
        _nonempty(x, (), op, full=True)
        idx = fn(a.reshape(-1))
        shape = (1,) * a.ndim if keepdim else ()
        return _make(np.full(shape, idx, dtype=np.int64))
    axis = _norm_dim(dim, a.ndim, op)
    if a.ndim == 0:
        return _make(np.zeros((), np.int64))
    _nonempty(x, (axis,), op, full=False)
    return _make(fn(a, axis=axis, keepdims=bool(keepdim)).astype(np.int64, copy=False))


def argmax(x, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the largest element (of the flattened tensor when ``dim`` is None); ties give
    the first occurrence. No gradient.

    >>> lamina.tensor([[1., 5.], [7., 2.]]).argmax(dim=1)
    tensor([1, 0])
    """
    return _argextreme(x, dim, keepdim, True)


def argmin(x, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the smallest element (see ``argmax``). No gradient.

    >>> lamina.tensor([[1., 5.], [7., 2.]]).argmin()
    tensor(0)
    """
    return _argextreme(x, dim, keepdim, False)


# --- var / std -------------------------------------------------------------------------------

class VarStd(Function):
    """Variance (or standard deviation) with ``sum((x - mean)^2) / max(0, N - correction)``."""

    @staticmethod
    def forward(ctx, a, axes, correction, keepdim, take_sqrt):
        n = _count(a.shape, axes)
        denom = builtins.max(0.0, n - correction)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            mu = np.true_divide(a.sum(axis=axes, keepdims=True), n, dtype=a.dtype)
            d = a - mu
            out = np.true_divide((d * d).sum(axis=axes, keepdims=True), denom, dtype=a.dtype)
            if take_sqrt:
                out = np.sqrt(out)
            if np.isinf(out).any():  # finite inputs only overflow to +inf (NaN: NaN inputs)
                d, out = _var_std_scaled(a, axes, n, denom, take_sqrt, d, out)
        ctx.save_for_backward(d, out)
        ctx.axes, ctx.keepdim, ctx.denom, ctx.take_sqrt = axes, keepdim, denom, take_sqrt
        return _squeeze(out, axes, keepdim)

    @staticmethod
    def backward(ctx, g):
        d, out = ctx.saved
        g = _expand_back(g, ctx.axes, ctx.keepdim)
        with np.errstate(invalid="ignore", divide="ignore"):
            if ctx.take_sqrt:
                # d std = (x - mean) / (denom * std); PyTorch defines it as 0 where std == 0
                scale = np.where(out == 0, 0, (g / ctx.denom) / out)  # no overflow near max
            else:
                scale = g * (2.0 / ctx.denom if ctx.denom else np.inf)
            return np.asarray(d * scale, dtype=d.dtype), None, None, None, None


def _var_std_scaled(a, axes, n, denom, take_sqrt, d, out):
    """Redo ``VarStd`` where the plain two-pass sum overflowed (``std([1e30, 0, 0, 0, 0])`` in
    float32: the squares pass 3.4e38), on ``a / s`` with ``s = max |a|`` per slice:
    ``var = s^2 var(a / s)``, ``std = s std(a / s)``. Only slices whose result is not finite
    are replaced; a slice holding a NaN or an infinity stays NaN, as in PyTorch."""
    s = np.abs(a).max(axis=axes, keepdims=True, initial=0)
    s = np.where(s == 0, 1, s).astype(a.dtype, copy=False)
    xs = a / s
    ds = xs - np.true_divide(xs.sum(axis=axes, keepdims=True), n, dtype=a.dtype)
    v = np.true_divide((ds * ds).sum(axis=axes, keepdims=True), denom, dtype=a.dtype)
    out_s = np.sqrt(v) * s if take_sqrt else v * s * s
    keep = np.isfinite(out)
    return np.where(keep, d, ds * s), np.where(keep, out, out_s)


def _var_std(x, dim, unbiased, keepdim, correction, take_sqrt):
    op = "std" if take_sqrt else "var"
    _check(x, op)
    if isinstance(dim, bool):           # var(x, False) is var(x, unbiased=False)
        if unbiased is not None:
            raise LaminaTypeError(f"{op}: got unbiased twice")
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise LaminaTypeError(f"{op}: pass either unbiased or correction, not both")
    if correction is None:
        correction = 0 if unbiased is False else 1
    elif isinstance(correction, bool) or not isinstance(correction, (int, float, np.number)):
        raise LaminaTypeError(f"{op}: correction must be a number, got {correction!r}")
    if not is_floating(x._data.dtype):
        raise LaminaValueError(f"{op}: std and var only support floating point and complex "
                               f"dtypes, got {x.dtype}")
    axes = _dims(dim, x._data.ndim, op)
    return VarStd.apply(x, axes, float(correction), bool(keepdim), take_sqrt)


def var(x, dim=None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction=None) -> Tensor:
    """Variance over ``dim``: ``sum((x - mean)^2) / max(0, N - correction)``.

    ``correction`` defaults to 1 (Bessel's correction); ``unbiased=False`` means
    ``correction=0``. As in PyTorch, ``var(x, False)`` is ``var(x, unbiased=False)``.

    >>> lamina.tensor([1., 2., 3., 4.]).var()
    tensor(1.6667)
    """
    return _var_std(x, dim, unbiased, keepdim, correction, False)


def std(x, dim=None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction=None) -> Tensor:
    """Standard deviation over ``dim``: the square root of ``var`` (same arguments).

    The gradient where the result is 0 is 0, as in PyTorch.

    >>> lamina.tensor([1., 2., 3., 4.]).std(correction=0)
    tensor(1.118)
    """
    return _var_std(x, dim, unbiased, keepdim, correction, True)


# --- prod ------------------------------------------------------------------------------------

class Prod(Function):
    """Product over axes. Its gradient, the product of the other elements, stays exact when
    the input holds zeros: with one zero in a slice only that zero gets a gradient (the
    product of the non-zero elements); with several zeros the whole slice gets 0."""

    @staticmethod
    def forward(ctx, a, axes, keepdim):
        out = a.prod(axis=axes, keepdims=True)
        ctx.save_for_backward(a, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return _squeeze(out, axes, keepdim)

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved
        axes = ctx.axes
        g = _expand_back(g, axes, ctx.keepdim)
        zeros = a == 0
        if not zeros.any():
            return np.asarray(g * out / a), None, None
        nz = zeros.sum(axis=axes, keepdims=True)
        safe = np.where(zeros, 1, a)
        base = g * safe.prod(axis=axes, keepdims=True)   # product of the non-zeros
        grad = np.where(nz == 0, base / safe, np.where(zeros & (nz == 1), base, 0))
        return np.asarray(grad, dtype=a.dtype), None, None


def prod(x, dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """Product of all elements, or along one ``dim`` (an int, as in PyTorch).

    Integer and bool tensors give int64.

    >>> lamina.tensor([[1., 2.], [3., 4.]]).prod(dim=1)
    tensor([ 2., 12.])
    """
    _check(x, "prod")
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, (int, np.integer))):
        raise LaminaTypeError(f"prod: dim must be an int, got {dim!r}")
    x = _apply_dtype(x, dtype, "prod")
    axes = _dims(dim, x._data.ndim, "prod")
    if x._data.dtype.kind in "biu":     # int64, or the integer dtype asked for (PyTorch)
        acc = np.int64 if dtype is None else x._data.dtype
        return _make(np.asarray(x._data.prod(axis=axes, keepdims=keepdim, dtype=acc)))
    return Prod.apply(x, axes, bool(keepdim))


# --- logsumexp -------------------------------------------------------------------------------

class LogSumExp(Function):
    """``log(sum(exp(x)))`` computed as ``m + log(sum(exp(x - m)))`` with ``m`` the max (0 where
    the max is infinite, as PyTorch does); the gradient is ``exp(x - result)``."""

    @staticmethod
    def forward(ctx, a, axes, keepdim):
        m = a.max(axis=axes, keepdims=True, initial=-np.inf)
        m = np.where(np.isfinite(m), m, 0).astype(a.dtype, copy=False)
        e = np.exp(a - m)
        with np.errstate(divide="ignore"):
            out = np.log(e.sum(axis=axes, keepdims=True))
        out += m
        ctx.save_for_backward(a, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return _squeeze(out, axes, keepdim)

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved
        g = _expand_back(g, ctx.axes, ctx.keepdim)
        return np.asarray(g * np.exp(a - out)), None, None


def logsumexp(x, dim, keepdim: bool = False) -> Tensor:
    """``log(sum(exp(x), dim))``, stable for large and small values.

    ``dim`` is required (an int or a tuple); integer and bool inputs are promoted to the default
    float dtype.

    >>> lamina.tensor([1000., 1000.]).logsumexp(0)
    tensor(1000.6932)
    """
    _check(x, "logsumexp")
    if dim is None:
        raise LaminaTypeError("logsumexp(): argument 'dim' must be an int or a tuple of ints, not "
                              "None")
    if not is_floating(x._data.dtype):
        x = cast(x, get_default_dtype())
    axes = _dims(dim, x._data.ndim, "logsumexp")
    return LogSumExp.apply(x, axes, bool(keepdim))


# --- norm ------------------------------------------------------------------------------------

def _norm_rescaled(a, p, kw, out):
    """Where ``sum |x|^p`` overflowed (``norm([1e30])`` in float32), redo it on ``x / s`` with
    ``s = max |x|``: ``norm(x) = s norm(x / s)``. An infinite input keeps its infinite norm."""
    s = np.abs(a).max(initial=0, **kw)
    s = np.where((s == 0) | ~np.isfinite(s), 1, s).astype(a.dtype, copy=False)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        out_s = (np.abs(a / s) ** p).sum(**kw) ** (1.0 / p) * s
    return np.where(np.isinf(out) & np.isfinite(out_s), out_s, out)


class VectorNorm(Function):
    """``(sum |x|^p)^(1/p)`` over axes, with the special cases p = 0, 1, 2, inf, -inf.

    Gradients follow PyTorch: 0 where the norm is 0 (for p=2 and general p), ``sign(x)`` for
    p=1, and for p=inf/-inf the gradient is shared evenly among the elements whose absolute
    value attains the norm.
    """

    @staticmethod
    def forward(ctx, a, p, axes, keepdim):
        kw = dict(axis=axes, keepdims=True)
        if p == 2:
            with np.errstate(over="ignore"):
                out = np.sqrt((a * a).sum(**kw))
            if np.isinf(out).any():
                out = _norm_rescaled(a, 2, kw, out)
        elif p == 1:
            out = np.abs(a).sum(**kw)
        elif p == np.inf:
            out = np.abs(a).max(initial=0, **kw)
        elif p == -np.inf:
            out = np.abs(a).min(initial=np.inf, **kw)
        elif p == 0:
            out = (a != 0).sum(**kw).astype(a.dtype)
        else:
            with np.errstate(divide="ignore", over="ignore"):
                out = (np.abs(a) ** p).sum(**kw) ** (1.0 / p)
            if p > 0 and np.isinf(out).any():
                out = _norm_rescaled(a, p, kw, out)
        out = out.astype(a.dtype, copy=False)
        ctx.save_for_backward(a, out)
        ctx.p, ctx.axes, ctx.keepdim = p, axes, keepdim
        return _squeeze(out, axes, keepdim)

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved
        p, axes = ctx.p, ctx.axes
        g = _expand_back(g, axes, ctx.keepdim)
        with np.errstate(divide="ignore", invalid="ignore"):
            if p == 2:
                grad = a * np.where(out == 0, 0, g / out)
            elif p == 1:
                grad = np.sign(a) * g
            elif p in (np.inf, -np.inf):
                mask = np.abs(a) == out
                cnt = mask.sum(axis=axes, keepdims=True, dtype=a.dtype)
                grad = np.sign(a) * mask * (g / cnt)
            elif p == 0:
                grad = np.zeros_like(a)
            else:
                absa = np.abs(a)
                if p < 1:
                    # sign(x) |x|^(p-1) * norm^(1-p), taken as 0 at x == 0
                    scaled = np.sign(a) * np.where(a == 0, 0, absa ** (p - 1))
                    grad = scaled * (g * out ** (1 - p))
                else:
                    scaled = np.sign(a) * absa ** (p - 1) if p < 2 else a * absa ** (p - 2)
                    grad = scaled * np.where(out == 0, 0, g / out ** (p - 1))
        return np.asarray(grad, dtype=a.dtype), None, None, None


def norm(x, p="fro", dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """The vector p-norm of ``x`` over ``dim`` (all elements by default), as ``torch.norm``.

    ``p`` is a number (0, 1, 2, inf, -inf or any other, including negative and fractional) or
    ``'fro'`` (the 2-norm over ``dim``, which may then have at most 2 dims) or ``'nuc'`` (the
    nuclear norm, the sum of singular values, of the matrices spanned by the 2 dims in ``dim``;
    by default the input must be a matrix). Floating tensors only; ``dtype`` casts first.

    >>> lamina.tensor([3., -4.]).norm()
    tensor(5.)
    """
    _check(x, "norm")
    x = _apply_dtype(x, dtype, "norm")
    if not is_floating(x._data.dtype):
        raise LaminaValueError(f"linalg.vector_norm: Expected a floating point or complex tensor "
                               f"as input. Got {x.dtype}")
    if p is None:
        p = 2
    if isinstance(p, str):
        if p == "nuc":
            return _nuclear_norm(x, dim, keepdim)
        if p != "fro":
            raise LaminaValueError(f"norm: Order {p} not supported; expected a number, 'fro' or "
                                   "'nuc'")
        if isinstance(dim, (tuple, list)) and len(dim) > 2:
            raise LaminaValueError(f"norm: p='fro' needs dim to have at most 2 dims, got {dim!r}")
        p = 2
    elif isinstance(p, bool) or not isinstance(p, (int, float, np.number)):
        raise LaminaTypeError(f"norm: p must be a number or 'fro', got {p!r}")
    p = float(p)
    axes = _dims(dim, x._data.ndim, "norm")
    if p in (np.inf, -np.inf):
        full = x._data.size == 0 and len(axes) == x._data.ndim
        for ax in axes:
            if x._data.shape[ax] == 0:
                where = "an empty tensor" if full else f"the dimension {ax}"
                raise LaminaValueError(
                    f"linalg.vector_norm cannot compute the {p} norm on {where} because "
                    "the operation does not have an identity"
                )
    return VectorNorm.apply(x, p, axes, bool(keepdim))


class NuclearNorm(Function):
    """Sum of the singular values of the matrices spanned by two axes; its gradient is
    ``U @ Vh`` from the reduced SVD (PyTorch's subgradient for rank-deficient matrices too)."""

    @staticmethod
    def forward(ctx, a, dims, keepdim):
        m = np.moveaxis(a, dims, (-2, -1))
        if m.size == 0:
            out = np.zeros(m.shape[:-2], a.dtype)
            ctx.uvh = np.zeros(m.shape, a.dtype)
        else:
            u, sv, vh = np.linalg.svd(m, full_matrices=False)
            out = sv.sum(axis=-1)
            ctx.uvh = u @ vh
        ctx.dims, ctx.keepdim = dims, keepdim
        return np.expand_dims(out, dims) if keepdim else out

    @staticmethod
    def backward(ctx, g):
        if ctx.keepdim:
            g = np.squeeze(g, ctx.dims)
        gm = g[..., None, None] * ctx.uvh
        return np.moveaxis(gm, (-2, -1), ctx.dims), None, None


def _nuclear_norm(x, dim, keepdim):
    nd = x._data.ndim
    if dim is None:
        if nd != 2:
            raise LaminaValueError(f"norm: p='nuc' needs a matrix (2 dims) when dim is None, got "
                                   f"{nd} dims; pass dim=(d0, d1)")
        dim = (0, 1)
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise LaminaValueError(f"norm: p='nuc' needs dim to be a 2-tuple, got {dim!r}")
    dims = _dims(tuple(dim), nd, "norm")
    return NuclearNorm.apply(x, dims, bool(keepdim))


# --- softmax / log_softmax -------------------------------------------------------------------

class Softmax(Function):
    @staticmethod
    def forward(ctx, a, axis):
        ctx.scalar = a.ndim == 0
        if ctx.scalar:              # a 0-d tensor is a row of one element
            a, axis = a.reshape(1), 0
        if a.size == 0:
            y = a.copy()
        else:
            y = a - keepdim_max(a, axis)
            np.exp(y, out=y)
            y /= y.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y.reshape(()) if ctx.scalar else y

    @staticmethod
    def backward(ctx, g):
        y = ctx.saved[0]
        g = g.reshape(y.shape)
        # dx = y * (g - sum(g * y)); along the last axis einsum forms sum(g * y) without a
        # temporary (about 5x faster than (g * y).sum on a 128x1000 float32 batch)
        if ctx.axis == y.ndim - 1:
            s = np.einsum("...i,...i->...", g, y)[..., None]
        else:
            s = (g * y).sum(axis=ctx.axis, keepdims=True)
        gx = g - s
        gx *= y
        return (gx.reshape(()) if ctx.scalar else gx), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, a, axis):
        ctx.scalar = a.ndim == 0
        if ctx.scalar:
            a, axis = a.reshape(1), 0
        if a.size == 0:
            y = a.copy()
        else:
            y = a - keepdim_max(a, axis)
            y -= np.log(np.exp(y).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y.reshape(()) if ctx.scalar else y

    @staticmethod
    def backward(ctx, g):
        y = ctx.saved[0]
        g = g.reshape(y.shape)
        # dx = g - softmax * sum(g), in one temporary (the same operations in the same order:
        # 97 -> 77 us for a (64, 1000) float32 batch)
        gx = np.exp(y)
        gx *= np.add.reduce(g, axis=ctx.axis, keepdims=True)
        np.subtract(g, gx, out=gx)
        return (gx.reshape(()) if ctx.scalar else gx), None


def _softmax_input(x, dim, dtype, op):
    _check(x, op)
    if dtype is not None:
        x = cast(x, as_dtype(dtype))
    if not is_floating(x._data.dtype):
        raise NotImplementedError(f"{op}: not implemented for {x.dtype} tensors; pass a "
                                  "floating dtype= or cast the input")
    return x, _norm_dim(dim, x._data.ndim, op)


def softmax(x, dim: int, dtype=None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim`` (required), computed stably.

    ``dtype`` casts the input first.

    >>> lamina.tensor([1., 2., 3.]).softmax(0)
    tensor([0.09  , 0.2447, 0.6652])
    """
    x, axis = _softmax_input(x, dim, dtype, "softmax")
    return Softmax.apply(x, axis)


def log_softmax(x, dim: int, dtype=None) -> Tensor:
    """``x - logsumexp(x, dim)``: the log of ``softmax`` along ``dim``, computed stably.

    >>> lamina.tensor([1., 2., 3.]).log_softmax(0)
    tensor([-2.4076, -1.4076, -0.4076])
    """
    x, axis = _softmax_input(x, dim, dtype, "log_softmax")
    return LogSoftmax.apply(x, axis)


# --- all / any -------------------------------------------------------------------------------

def _logical_reduce(x, dim, keepdim, fn, op):
    _check(x, op)
    axes = _dims(dim, x._data.ndim, op, empty_all=False)
    out = np.asarray(fn(x._data, axis=axes, keepdims=bool(keepdim)))
    # PyTorch keeps uint8 for a uint8 input (its older convention); bool for every other dtype
    return _make(out.astype(np.uint8) if x._data.dtype == np.uint8 else out)


def all(x, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """True where every element over ``dim`` is non-zero (all dims by default). A bool tensor
    (uint8 for a uint8 input, as in PyTorch).

    >>> lamina.tensor([[1., 0.], [2., 3.]]).all(dim=1)
    tensor([False,  True])
    """
    return _logical_reduce(x, dim, keepdim, np.all, "all")


def any(x, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """True where some element over ``dim`` is non-zero (all dims by default). A bool tensor
    (uint8 for a uint8 input, as in PyTorch).

    >>> lamina.tensor([[1., 0.], [0., 0.]]).any(dim=1)
    tensor([ True, False])
    """
    return _logical_reduce(x, dim, keepdim, np.any, "any")


# --- cumsum ----------------------------------------------------------------------------------

class Cumsum(Function):
    @staticmethod
    def forward(ctx, a, axis):
        ctx.axis = axis
        if a.ndim == 0:
            return a.copy()
        return a.cumsum(axis=axis)

    @staticmethod
    def backward(ctx, g):
        if g.ndim == 0:
            return g.copy(), None
        ax = ctx.axis
        # each input feeds every later output: the gradient is the reversed cumulative sum
        return np.flip(np.flip(g, ax).cumsum(axis=ax), ax), None


def cumsum(x, dim: int, dtype=None) -> Tensor:
    """Cumulative sum along ``dim`` (required). Integer and bool tensors give int64.

    >>> lamina.tensor([1., 2., 3.]).cumsum(0)
    tensor([1., 3., 6.])
    """
    _check(x, "cumsum")
    x = _apply_dtype(x, dtype, "cumsum")
    axis = _norm_dim(dim, x._data.ndim, "cumsum")
    if x._data.dtype.kind in "biu":
        a = x._data
        out = a.astype(np.int64) if a.ndim == 0 else a.cumsum(axis=axis, dtype=np.int64)
        return _make(out)
    return Cumsum.apply(x, axis)


# --- NumPy's keyword spellings ---------------------------------------------------------------

def numpy_names(fn):
    """Let ``fn`` take NumPy's ``axis=`` and ``keepdims=`` for ``dim=`` and ``keepdim=``, as
    PyTorch's functions and methods do (``x.sum(axis=0, keepdims=True)``), and ``out=None``,
    which NumPy passes when it calls the method (``np.all(t)``, ``np.mean(t)``)."""
    @functools.wraps(fn)
    def op(*args, **kwargs):
        if kwargs:
            if "out" in kwargs and kwargs["out"] is None:   # NumPy's np.all(t) passes out=None
                del kwargs["out"]
            for np_name, name in (("axis", "dim"), ("keepdims", "keepdim")):
                if np_name in kwargs:
                    if name in kwargs:
                        raise LaminaTypeError(f"{fn.__name__}() got multiple values for argument "
                                              f"'{name}'")
                    kwargs[name] = kwargs.pop(np_name)
        return fn(*args, **kwargs)

    return op


for _name in ("sum mean max min amax amin argmax argmin var std prod logsumexp all any "
              "cumsum softmax log_softmax").split():
    globals()[_name] = numpy_names(globals()[_name])
del _name
