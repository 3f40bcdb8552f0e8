"""Writing into a copy of a tensor at given positions: ``scatter_reduce``, ``index_add``,
``index_copy``, ``index_fill``, ``masked_scatter``, and reading by flat position: ``take``;
with the in-place forms (``scatter_``, ``scatter_add_``, ``scatter_reduce_``, ``index_add_``,
``index_copy_``, ``index_fill_``, ``masked_scatter_``).

Each out-of-place op is one ``Function`` with a hand-written backward; an in-place form runs it
and writes the result into its input (``lamina.ops.elementwise._inplace``: the version counter
is bumped, and a leaf that requires grad is refused, as in PyTorch).
"""

from __future__ import annotations

import numpy as np

from lamina.autograd.function import Function
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.ops.elementwise import _inplace, cast
from lamina.ops.indexing import (
    IndexOutOfRangeError,
    _accumulate_rows,
    _check_bounds,
    _flat_positions,
    _index_tensor,
    _pad_to,
    _scatter_add_flat,
    _scatter_args,
    scatter,
    scatter_add,
)
from lamina.ops.movement import reshape
from lamina.ops.reduce import numpy_names
from lamina.tensor import Tensor, _norm_dim

__all__ = ["take", "scatter_reduce", "index_add", "index_copy", "index_fill", "masked_scatter",
           "scatter_", "scatter_add_", "scatter_reduce_", "index_add_", "index_copy_",
           "index_fill_", "masked_scatter_"]


def _tensor(x, op: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise LaminaTypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    return x


# --- take -------------------------------------------------------------------------------------

class Take(Function):
    @staticmethod
    def forward(ctx, a, idx):
        ctx.shape, ctx.idx = a.shape, idx
        return a.reshape(-1)[idx]

    @staticmethod
    def backward(ctx, g):
        n = int(np.prod(ctx.shape))
        return _scatter_add_flat(ctx.idx, g, n).reshape(ctx.shape), None


def take(input, index) -> Tensor:  # noqa: A002
    """The elements of ``input``, seen as 1-D, at ``index`` (any shape, negative counts from
    the end); the result has ``index``'s shape. Repeated indices accumulate their gradients.

    >>> take(tensor([[1, 2], [3, 4]]), tensor([0, -1]))
    tensor([1, 4])
    """
    _tensor(input, "take")
    idx = _index_tensor(index, "take")
    n = input._data.size
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = int(idx.min() if idx.min() < -n else idx.max())
        raise IndexOutOfRangeError(f"take: out of range: tried to access index {bad} on a "
                                   f"tensor of {n} elements")
    return Take.apply(input, np.where(idx < 0, idx + n, idx))


# --- scatter_reduce ---------------------------------------------------------------------------

_REDUCES = ("sum", "prod", "mean", "amax", "amin")
_UFUNCS = {"sum": np.add, "mean": np.add, "prod": np.multiply, "amax": np.maximum,
           "amin": np.minimum}


def _identity(reduce, dtype):
    if reduce in ("sum", "mean"):
        return 0
    if reduce == "prod":
        return 1
    big = np.inf if dtype.kind == "f" else (True if dtype.kind == "b" else np.iinfo(dtype).max)
    small = -np.inf if dtype.kind == "f" else (False if dtype.kind == "b" else
                                                np.iinfo(dtype).min)
    return small if reduce == "amax" else big


class ScatterReduce(Function):
    """``out = input``, then every ``src`` element is combined into ``out`` at its position
    (``_flat_positions``) with ``reduce``; without ``include_self`` the positions written to
    start from the reduction's identity instead of ``input``."""

    @staticmethod
    def forward(ctx, a, dim, idx, src, reduce, include_self):
        flat = _flat_positions(idx, dim, a.shape).ravel()
        vals = src[tuple(slice(0, k) for k in idx.shape)].ravel()
        out = a.copy().reshape(-1)
        count = np.bincount(flat, minlength=a.size)
        touched = count > 0
        if not include_self:
            out[touched] = _identity(reduce, a.dtype)
        _UFUNCS[reduce].at(out, flat, vals)
        if reduce == "mean":
            n = np.maximum(count + (1 if include_self else 0), 1)
            if a.dtype.kind == "f":
                out /= n
            else:
                out //= n                       # PyTorch floors integer means
        out = out.reshape(a.shape)
        ctx.flat, ctx.vals, ctx.count, ctx.src_shape = flat, vals, count, src.shape
        ctx.idx_shape, ctx.reduce, ctx.include_self = idx.shape, reduce, include_self
        if ctx.needs_input_grad is not None and reduce in ("prod", "amax", "amin"):
            ctx.a, ctx.out = a, out
        return out

    @staticmethod
    def backward(ctx, g):
        flat, vals, count, reduce = ctx.flat, ctx.vals, ctx.count, ctx.reduce
        inc = ctx.include_self
        touched = count > 0
        gf = g.reshape(-1)
        zero = np.zeros((), g.dtype)
        if reduce == "sum":
            ga, gsrc = gf, gf[flat]
        elif reduce == "mean":
            gm = gf / np.maximum(count + (1 if inc else 0), 1)
            ga, gsrc = gm, gm[flat]
        elif reduce == "prod":
            ga, gsrc = _prod_grads(gf, ctx.a.reshape(-1), ctx.out.reshape(-1), flat, vals, inc)
        else:   # amax / amin: split evenly among the elements equal to the result
            a, r = ctx.a.reshape(-1), ctx.out.reshape(-1)
            eq_self = (a == r) if inc else np.zeros(a.shape, bool)
            eq_src = vals == r[flat]
            n_eq = eq_self + np.bincount(flat, weights=eq_src, minlength=a.size)
            share = gf / np.maximum(n_eq, 1)
            ga = np.where(eq_self, share, zero)
            gsrc = np.where(eq_src, share[flat], zero)
        if not inc:
            ga = np.where(touched, zero, gf)        # overwritten positions: no gradient
        elif reduce in ("amax", "amin"):
            ga = np.where(touched, ga, gf)
        ga = np.asarray(ga, g.dtype).reshape(g.shape)
        gs = _pad_to(np.asarray(gsrc, g.dtype).reshape(ctx.idx_shape), ctx.src_shape)
        return ga, None, None, gs, None, None


def _prod_grads(gf, a, r, flat, vals, inc):
    """Gradients of a scatter product: ``g * r / v`` for a non-zero factor ``v`` where no factor
    is zero; where exactly one factor is zero, that factor gets ``g`` times the product of the
    others and the others 0; with two or more zeros, 0 for all (PyTorch's rule)."""
    n = a.size
    zeros = np.bincount(flat, weights=(vals == 0), minlength=n)
    others = np.ones(n, gf.dtype)                 # product of the non-zero factors
    np.multiply.at(others, flat, np.where(vals == 0, 1, vals))
    if inc:
        zeros = zeros + (a == 0)
        others *= np.where(a == 0, 1, a)

    def grad(v, z, o, g, res):
        with np.errstate(divide="ignore", invalid="ignore"):
            nonzero = np.where(z == 0, g * res / np.where(v == 0, 1, v), 0)
        return np.where(v == 0, np.where(z == 1, g * o, 0), nonzero)

    ga = grad(a, zeros, others, gf, r) if inc else np.zeros(n, gf.dtype)
    gsrc = grad(vals, zeros[flat], others[flat], gf[flat], r[flat])
    return ga, gsrc


def scatter_reduce(input, dim: int, index, src, reduce: str, *,  # noqa: A002
                   include_self: bool = True) -> Tensor:
    """``scatter`` that combines instead of overwriting: every ``src`` element is reduced into
    ``input`` at its ``index`` along ``dim`` with ``reduce`` (``'sum'``, ``'prod'``, ``'mean'``,
    ``'amax'``, ``'amin'``). With ``include_self=False`` the input's values at the positions
    written to take no part. Integer ``'mean'`` floors, as in PyTorch. Gradients follow
    PyTorch's: ``amax``/``amin`` split evenly among ties, ``prod`` handles zeros exactly.
    Differences from PyTorch: with ``include_self=False``, an input value equal to the result
    does not count among the ties (PyTorch counts it, so its shares sum to less than the
    gradient); and where ``index`` is smaller than ``src``, the ``src`` elements not indexed
    get a zero gradient (PyTorch's backward fails there).

    >>> scatter_reduce(zeros(3), 0, tensor([0, 0, 2]), tensor([1., 2., 3.]), "amax")
    tensor([2., 0., 3.])
    """
    _tensor(input, "scatter_reduce")
    if reduce not in _REDUCES:
        raise LaminaValueError(f"scatter_reduce: reduce argument must be one of {_REDUCES}, "
                               f"got {reduce!r}")
    if not isinstance(src, Tensor):
        raise LaminaTypeError(f"scatter_reduce: src must be a Tensor, got "
                              f"{type(src).__name__}")
    x, s, idx = input, src, index
    if x._data.ndim == 0:
        idx = _index_tensor(index, "scatter_reduce").reshape(-1)
        s = reshape(s, -1) if s._data.ndim == 0 else s
        out = scatter_reduce(reshape(x, 1), 0, idx, s, reduce, include_self=include_self)
        return reshape(out, ())
    d, idx = _scatter_args("scatter_reduce", x, dim, idx, s)
    return ScatterReduce.apply(x, d, idx, s, reduce, bool(include_self))


# --- index_add / index_copy / index_fill ------------------------------------------------------

def _vector_index(index, op):
    idx = _index_tensor(index, op)
    if idx.ndim > 1:
        raise LaminaValueError(f"{op}: index must be a vector (0-D or 1-D), got shape "
                               f"{tuple(idx.shape)}")
    return idx.reshape(-1)


def _index_args(op, x, dim, index, source):
    """Check ``(dim, index, source)`` of index_add/index_copy against ``x``; returns
    ``(dim, index)``."""
    _tensor(x, op)
    if not isinstance(source, Tensor):
        raise LaminaTypeError(f"{op}: source must be a Tensor, got {type(source).__name__}")
    idx = _vector_index(index, op)
    nd = x._data.ndim
    d = _norm_dim(dim, nd, op)
    xs, ss = x._data.shape, source._data.shape
    if source._data.dtype != x._data.dtype:
        raise LaminaValueError(f"{op}: self ({x._data.dtype}) and source "
                               f"({source._data.dtype}) must have the same dtype")
    n_src = ss[d] if len(ss) == nd and nd else (1 if len(ss) == 0 else -1)
    same_slices = len(ss) == nd and all(a == b for k, (a, b) in enumerate(zip(xs, ss)) if k != d)
    if nd == 0:
        same_slices = source._data.size == 1
    if not same_slices:
        raise LaminaValueError(f"{op}: source/destination tensors must have the same slice "
                               f"shapes: self {tuple(xs)}, source {tuple(ss)} along dim {d}")
    if idx.size != n_src:
        raise LaminaValueError(f"{op}: number of indices ({idx.size}) should be equal to "
                               f"source.size(dim) ({n_src})")
    _check_bounds(idx, xs[d] if nd else 1, d, op)
    return d, idx


class IndexAdd(Function):
    @staticmethod
    def forward(ctx, a, dim, idx, src, alpha):
        ctx.dim, ctx.idx, ctx.alpha = dim, idx, alpha
        shape = a.shape
        n_out, n_in = int(np.prod(shape[:dim])), int(np.prod(shape[dim + 1:]))
        k = idx.size
        s = src if alpha == 1 else src * np.asarray(alpha, a.dtype)
        if a.dtype.kind == "f":
            rows = (np.arange(n_out)[:, None] * shape[dim] + idx).ravel() if n_out > 1 else idx
            acc = _accumulate_rows(rows, s.reshape(n_out * k, n_in), n_out * shape[dim])
            return a + acc.reshape(shape)
        out = a.copy()
        np.add.at(np.moveaxis(out, dim, 0), idx, np.moveaxis(s, dim, 0).astype(a.dtype))
        return out

    @staticmethod
    def backward(ctx, g):
        _, _, _, ns, _ = ctx.needs_input_grad
        gs = None
        if ns:
            gs = np.take(g, ctx.idx, axis=ctx.dim)
            if ctx.alpha != 1:
                gs = gs * np.asarray(ctx.alpha, g.dtype)
        return g, None, None, gs, None


def _as_1d(op_fn, x, *rest):
    """Run ``op_fn`` on a 0-d ``x`` seen as shape ``(1,)`` (PyTorch's index ops accept 0-d)."""
    out = op_fn(reshape(x, 1), *rest)
    return reshape(out, ())


def index_add(input, dim: int, index, source, *, alpha=1) -> Tensor:  # noqa: A002
    """A copy of ``input`` with ``alpha * source`` added along ``dim`` at ``index``:
    ``out[index[i]] += alpha * source[i]`` for ``dim == 0`` (repeats accumulate).

    >>> index_add(zeros(3), 0, tensor([0, 0]), tensor([1., 2.]))
    tensor([3., 0., 0.])
    """
    d, idx = _index_args("index_add", input, dim, index, source)
    if input._data.dtype.kind != "f" and isinstance(alpha, float):
        raise LaminaValueError("index_add: a float alpha needs a floating-point input, got "
                               f"{input._data.dtype}")
    if input._data.ndim == 0:
        return _as_1d(lambda x, s: IndexAdd.apply(x, 0, idx, s, alpha), input,
                      reshape(source, 1))
    return IndexAdd.apply(input, d, idx, source, alpha)


class IndexCopy(Function):
    @staticmethod
    def forward(ctx, a, dim, idx, src):
        ctx.dim, ctx.idx = dim, idx
        out = a.copy()
        np.moveaxis(out, dim, 0)[idx] = np.moveaxis(src, dim, 0)
        return out

    @staticmethod
    def backward(ctx, g):
        na, _, _, ns = ctx.needs_input_grad
        ga = gs = None
        if na:
            ga = g.copy()
            np.moveaxis(ga, ctx.dim, 0)[ctx.idx] = 0       # overwritten: no gradient
        if ns:
            gs = np.take(g, ctx.idx, axis=ctx.dim)
        return ga, None, None, gs


def index_copy(input, dim: int, index, source) -> Tensor:  # noqa: A002
    """A copy of ``input`` with the slices of ``source`` written along ``dim`` at ``index``.
    Where an index repeats, which slice wins is unspecified (as in PyTorch)."""
    d, idx = _index_args("index_copy", input, dim, index, source)
    if input._data.ndim == 0:
        return _as_1d(lambda x, s: IndexCopy.apply(x, 0, idx, s), input, reshape(source, 1))
    return IndexCopy.apply(input, d, idx, source)


class IndexFill(Function):
    @staticmethod
    def forward(ctx, a, dim, idx, value):
        ctx.dim, ctx.idx = dim, idx
        out = a.copy()
        np.moveaxis(out, dim, 0)[idx] = value
        return out

    @staticmethod
    def backward(ctx, g):
        na, _, _, nv = ctx.needs_input_grad
        ga = gv = None
        if na:
            ga = g.copy()
            np.moveaxis(ga, ctx.dim, 0)[ctx.idx] = 0
        if nv:
            gv = np.asarray(np.take(g, np.unique(ctx.idx), axis=ctx.dim).sum(), g.dtype)
        return ga, None, None, gv


def index_fill(input, dim: int, index, value) -> Tensor:  # noqa: A002
    """A copy of ``input`` with the slices at ``index`` along ``dim`` set to ``value`` (a number
    or a 0-d tensor, which then gets a gradient). Negative indices count from the end."""
    _tensor(input, "index_fill")
    idx = _vector_index(index, "index_fill")
    nd = input._data.ndim
    d = _norm_dim(dim, nd, "index_fill")
    n = input._data.shape[d] if nd else 1
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = int(idx.min() if idx.min() < -n else idx.max())
        raise IndexOutOfRangeError(f"index_fill: index {bad} is out of bounds for dimension "
                                   f"{d} with size {n}")
    idx = np.where(idx < 0, idx + n, idx)
    if isinstance(value, Tensor):
        if value._data.ndim != 0:
            raise LaminaValueError("index_fill: only supports a 0-dimensional value tensor, but "
                                   f"got tensor with {value._data.ndim} dimension(s)")
        if value._data.dtype != input._data.dtype:
            if input._data.dtype.kind == "f" and value._data.dtype.kind in "fiub":
                value = cast(value, input._data.dtype)
            else:
                value = value.item()
    elif not isinstance(value, (bool, int, float, np.number)):
        raise LaminaTypeError(f"index_fill: value must be a number or a 0-d Tensor, got "
                              f"{type(value).__name__}")
    elif input._data.dtype.kind != "f" and not np.isfinite(value):
        raise LaminaValueError(f"index_fill: cannot fill a {input._data.dtype} tensor with "
                               f"{value}")
    if nd == 0:
        if isinstance(value, Tensor):
            return _as_1d(lambda x, v: IndexFill.apply(x, 0, idx, v), input, value)
        return _as_1d(lambda x: IndexFill.apply(x, 0, idx, value), input)
    return IndexFill.apply(input, d, idx, value)


# --- masked_scatter ---------------------------------------------------------------------------

class MaskedScatter(Function):
    @staticmethod
    def forward(ctx, a, mask, src):
        shape = np.broadcast_shapes(a.shape, mask.shape)
        m = np.broadcast_to(mask, shape)
        out = np.array(np.broadcast_to(a, shape))
        k = int(m.sum())
        out[m] = src.reshape(-1)[:k]
        ctx.m, ctx.k, ctx.src_shape = m, k, src.shape
        return out

    @staticmethod
    def backward(ctx, g):
        na, _, ns = ctx.needs_input_grad
        ga = np.where(ctx.m, np.zeros((), g.dtype), g) if na else None
        gs = None
        if ns:
            gs = np.zeros(int(np.prod(ctx.src_shape)), g.dtype)
            gs[:ctx.k] = g[ctx.m]
            gs = gs.reshape(ctx.src_shape)
        return ga, None, gs


def _mask(mask, op):
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype.kind != "b":
        raise LaminaValueError(f"{op}: only supports boolean masks, but got mask with dtype "
                               f"{m.dtype}")
    return m


def masked_scatter(input, mask, source) -> Tensor:  # noqa: A002
    """A copy of ``input`` (broadcast with ``mask``) whose positions where ``mask`` is true
    take the first elements of ``source``, in order (``source`` needs at least as many
    elements as ``mask`` has true values).

    >>> masked_scatter(zeros(3), tensor([True, False, True]), tensor([1., 2., 3.]))
    tensor([1., 0., 2.])
    """
    _tensor(input, "masked_scatter")
    m = _mask(mask, "masked_scatter")
    if not isinstance(source, Tensor):
        raise LaminaTypeError(f"masked_scatter: source must be a Tensor, got "
                              f"{type(source).__name__}")
    if source._data.dtype != input._data.dtype:
        raise LaminaValueError(f"masked_scatter: expected self and source to have the same "
                               f"dtype, got {input._data.dtype} and {source._data.dtype}")
    try:
        shape = np.broadcast_shapes(input._data.shape, m.shape)
    except ValueError:
        raise LaminaValueError(f"masked_scatter: the shape of the mask {tuple(m.shape)} cannot "
                               f"be broadcast with the input's {tuple(input.shape)}") from None
    k = int(np.broadcast_to(m, shape).sum())
    if source._data.size < k:
        raise LaminaValueError(f"masked_scatter: number of elements of source "
                               f"({source._data.size}) < number of ones in mask ({k})")
    return MaskedScatter.apply(input, m, source)


# --- in-place forms ---------------------------------------------------------------------------

def scatter_(input, dim: int, index, src=None, value=None, reduce=None) -> Tensor:  # noqa: A002
    """In-place ``scatter``."""
    _tensor(input, "scatter_")
    if isinstance(src, Tensor):
        scatter(input, dim, index, src, reduce=reduce)        # checks before writing
        return _inplace(input, "scatter_", lambda x, s: scatter(x, dim, index, s), src)
    v = value if src is None else src
    scatter(input, dim, index, value=v, reduce=reduce)
    return _inplace(input, "scatter_", lambda x: scatter(x, dim, index, value=v))


def scatter_add_(input, dim: int, index, src) -> Tensor:  # noqa: A002
    """In-place ``scatter_add``."""
    _tensor(input, "scatter_add_")
    _scatter_args("scatter_add_", input, dim, index, src)
    return _inplace(input, "scatter_add_", lambda x, s: scatter_add(x, dim, index, s), src)


def scatter_reduce_(input, dim: int, index, src, reduce: str, *,  # noqa: A002
                    include_self: bool = True) -> Tensor:
    """In-place ``scatter_reduce``."""
    _tensor(input, "scatter_reduce_")
    return _inplace(input, "scatter_reduce_", lambda x, s: scatter_reduce(
        x, dim, index, s, reduce, include_self=include_self), src)


def index_add_(input, dim: int, index, source, *, alpha=1) -> Tensor:  # noqa: A002
    """In-place ``index_add``."""
    _tensor(input, "index_add_")
    return _inplace(input, "index_add_",
                    lambda x, s: index_add(x, dim, index, s, alpha=alpha), source)


def index_copy_(input, dim: int, index, source) -> Tensor:  # noqa: A002
    """In-place ``index_copy``."""
    _tensor(input, "index_copy_")
    return _inplace(input, "index_copy_", lambda x, s: index_copy(x, dim, index, s), source)


def index_fill_(input, dim: int, index, value) -> Tensor:  # noqa: A002
    """In-place ``index_fill``."""
    _tensor(input, "index_fill_")
    if isinstance(value, Tensor):
        return _inplace(input, "index_fill_", lambda x, v: index_fill(x, dim, index, v), value)
    return _inplace(input, "index_fill_", lambda x: index_fill(x, dim, index, value))


def masked_scatter_(input, mask, source) -> Tensor:  # noqa: A002
    """In-place ``masked_scatter``; ``mask`` must broadcast to ``input``'s shape."""
    _tensor(input, "masked_scatter_")
    m = _mask(mask, "masked_scatter_")
    try:
        ok = np.broadcast_shapes(input._data.shape, m.shape) == input._data.shape
    except ValueError:
        ok = False
    if not ok:
        raise LaminaValueError(f"masked_scatter_: the mask of shape {tuple(m.shape)} must "
                               f"broadcast to the input of shape {tuple(input.shape)}")
    return _inplace(input, "masked_scatter_", lambda x, s: masked_scatter(x, m, s), source)


# PyTorch's functions take NumPy's ``axis=`` for ``dim=``
for _name in ("scatter_reduce index_add index_copy index_fill scatter_ scatter_add_ "
              "scatter_reduce_ index_add_ index_copy_ index_fill_").split():
    globals()[_name] = numpy_names(globals()[_name])
del _name
