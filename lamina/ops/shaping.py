"""Shape ops beyond the basic movement ones: triangles and diagonals (``tril``, ``triu``,
``diag``, ``diagonal``, ``diag_embed``, ``trace``), rearranging (``roll``, ``rot90``, ``tile``,
``repeat_interleave``, ``unbind``, ``swapdims``), grids (``meshgrid``) and sliding windows
(``Tensor.unfold``).

``diagonal``, ``unbind`` and ``unfold`` return views that share memory and the version counter
with their input, as in PyTorch. The views are built with NumPy strides (``as_strided``), so
unlike ``numpy.diagonal`` they can be written to.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from lamina.autograd.function import Function
from lamina.errors import LaminaIndexError, LaminaTypeError, LaminaValueError
from lamina.ops.elementwise import _inplace
from lamina.ops.indexing import getitem, index_select
from lamina.ops.movement import expand, repeat, reshape, transpose
from lamina.ops.reduce import numpy_names
from lamina.ops.reduce import sum as _sum
from lamina.tensor import Tensor, _make, _norm_dim

__all__ = ["tril", "triu", "tril_", "triu_", "diag", "diagonal", "diag_embed", "trace", "roll",
           "rot90", "meshgrid", "repeat_interleave", "tile", "unbind", "swapdims"]
# ``unfold`` (sliding windows) is ``Tensor.unfold`` only, as in PyTorch (no ``torch.unfold``):
# exported, it would shadow ``F.unfold`` (im2col), a different op.


def _tensor(x, op: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise LaminaTypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    return x


def _int(v, name: str, op: str) -> int:
    if isinstance(v, Tensor) and v._data.ndim == 0 and v._data.dtype.kind in "iu":
        v = int(v)
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
        raise LaminaTypeError(f"{op}: {name} must be an int, got {type(v).__name__}")
    return int(v)


# --- triangles --------------------------------------------------------------------------------

class Tri(Function):
    """``tril``/``triu``: keep one triangle of the last two dims, zeros elsewhere."""

    @staticmethod
    def forward(ctx, a, k, upper):
        n, m = a.shape[-2:]
        keep = ~np.tri(n, m, k - 1, dtype=bool) if upper else np.tri(n, m, k, dtype=bool)
        ctx.keep = keep
        return np.where(keep, a, np.zeros((), a.dtype))

    @staticmethod
    def backward(ctx, g):
        return np.where(ctx.keep, g, np.zeros((), g.dtype)), None, None


def _tri(x, diagonal, upper, op):
    _tensor(x, op)
    k = _int(diagonal, "diagonal", op)
    if x._data.ndim < 2:
        raise LaminaValueError(f"{op}: input tensor must have at least 2 dimensions, got shape "
                               f"{tuple(x.shape)}")
    return Tri.apply(x, k, upper)


def tril(input, diagonal: int = 0) -> Tensor:  # noqa: A002
    """The lower triangle of the last two dims (``j - i <= diagonal``), zeros above it.

    >>> tril(ones(2, 3))
    tensor([[1., 0., 0.],
            [1., 1., 0.]])
    """
    return _tri(input, diagonal, False, "tril")


def triu(input, diagonal: int = 0) -> Tensor:  # noqa: A002
    """The upper triangle of the last two dims (``j - i >= diagonal``), zeros below it."""
    return _tri(input, diagonal, True, "triu")


def tril_(input, diagonal: int = 0) -> Tensor:  # noqa: A002
    """In-place ``tril``."""
    _tri(_tensor(input, "tril_"), diagonal, False, "tril_")   # checks before writing
    return _inplace(input, "tril_", lambda x: tril(x, diagonal))


def triu_(input, diagonal: int = 0) -> Tensor:  # noqa: A002
    """In-place ``triu``."""
    _tri(_tensor(input, "triu_"), diagonal, True, "triu_")
    return _inplace(input, "triu_", lambda x: triu(x, diagonal))


# --- diagonals --------------------------------------------------------------------------------

def _diag_view(a, offset, d1, d2):
    """A writable view of the diagonal of ``a`` in dims ``(d1, d2)`` (``d1`` the row), with the
    diagonal as the last dim and the other dims in order: ``numpy.diagonal``'s layout, but
    sharing memory for writing too."""
    n1, n2 = a.shape[d1], a.shape[d2]
    if offset >= 0:
        s1, s2, length = 0, offset, min(n1, n2 - offset)
    else:
        s1, s2, length = -offset, 0, min(n1 + offset, n2)
    length = max(length, 0)
    idx = [slice(None)] * a.ndim
    idx[d1], idx[d2] = slice(min(s1, n1), None), slice(min(s2, n2), None)
    sub = a[tuple(idx)]
    rest = [k for k in range(a.ndim) if k not in (d1, d2)]
    shape = tuple(a.shape[k] for k in rest) + (length,)
    strides = tuple(sub.strides[k] for k in rest) + (sub.strides[d1] + sub.strides[d2],)
    return as_strided(sub, shape, strides)


class Diagonal(Function):
    is_view = True

    @staticmethod
    def forward(ctx, a, offset, d1, d2):
        ctx.shape, ctx.args = a.shape, (offset, d1, d2)
        return _diag_view(a, offset, d1, d2)

    @staticmethod
    def backward(ctx, g):
        out = np.zeros(ctx.shape, g.dtype)
        _diag_view(out, *ctx.args)[...] = g
        return out, None, None, None


class DiagEmbed(Function):
    @staticmethod
    def forward(ctx, a, offset, d1, d2):
        n = a.shape[-1] + abs(offset)
        rest = iter(a.shape[:-1])
        shape = tuple(n if k in (d1, d2) else next(rest) for k in range(a.ndim + 1))
        ctx.args = (offset, d1, d2)
        out = np.zeros(shape, a.dtype)
        _diag_view(out, offset, d1, d2)[...] = a
        return out

    @staticmethod
    def backward(ctx, g):
        return _diag_view(g, *ctx.args).copy(), None, None, None


def _two_dims(dim1, dim2, nd, op):
    d1, d2 = _norm_dim(dim1, nd, op), _norm_dim(dim2, nd, op)
    if d1 == d2:
        raise LaminaValueError(f"{op}: diagonal dimensions cannot be identical {dim1}, {dim2}")
    return d1, d2


def diagonal(input, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:  # noqa: A002
    """The diagonal of the 2-D slices in dims ``(dim1, dim2)`` (``offset > 0`` above the main
    diagonal), as a new last dim: a view, as in PyTorch (and unlike ``numpy.diagonal``, a
    writable one).

    >>> diagonal(arange(9.).reshape(3, 3), 1)
    tensor([1., 5.])
    """
    _tensor(input, "diagonal")
    offset = _int(offset, "offset", "diagonal")
    nd = input._data.ndim
    if nd < 2:
        raise LaminaValueError(f"diagonal: expected a tensor with at least 2 dims, got shape "
                               f"{tuple(input.shape)}")
    d1, d2 = _two_dims(dim1, dim2, nd, "diagonal")
    return Diagonal.apply(input, offset, d1, d2)


def diag_embed(input, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:  # noqa: A002
    """Tensors whose diagonals in dims ``(dim1, dim2)`` of the result are the last dim of
    ``input`` (zeros elsewhere); the result has one more dim than ``input``."""
    _tensor(input, "diag_embed")
    offset = _int(offset, "offset", "diag_embed")
    nd = input._data.ndim
    if nd == 0:
        raise LaminaIndexError("diag_embed: expected a tensor with at least 1 dim, got a 0-d "
                               "tensor")
    d1, d2 = _two_dims(dim1, dim2, nd + 1, "diag_embed")
    return DiagEmbed.apply(input, offset, d1, d2)


def diag(input, diagonal: int = 0) -> Tensor:  # noqa: A002
    """A 1-D input becomes the ``diagonal``-th diagonal of a square matrix; a 2-D input gives
    its ``diagonal``-th diagonal as a new 1-D tensor (a copy, as in PyTorch).

    >>> diag(tensor([1., 2.])).shape
    (2, 2)
    """
    from lamina.ops.elementwise import clone

    _tensor(input, "diag")
    k = _int(diagonal, "diagonal", "diag")
    nd = input._data.ndim
    if nd == 1:
        return DiagEmbed.apply(input, k, 0, 1)
    if nd == 2:
        return clone(Diagonal.apply(input, k, 0, 1))
    raise LaminaValueError(f"diag: supports 1D or 2D tensors, got a {nd}D tensor of shape "
                           f"{tuple(input.shape)}")


def trace(input) -> Tensor:  # noqa: A002
    """The sum of the main diagonal of a matrix (int64 for integer input, as in PyTorch)."""
    _tensor(input, "trace")
    if input._data.ndim != 2:
        raise LaminaValueError(f"trace: expected a matrix, got a tensor of shape "
                               f"{tuple(input.shape)}")
    if input._data.dtype.kind == "b":
        raise LaminaTypeError("trace: not implemented for bool tensors (as in PyTorch)")
    return _sum(Diagonal.apply(input, 0, 0, 1))


# --- rolling and rotating ---------------------------------------------------------------------

class Roll(Function):
    @staticmethod
    def forward(ctx, a, shifts, dims):
        ctx.shifts, ctx.dims = shifts, dims
        return np.roll(a, shifts, dims)

    @staticmethod
    def backward(ctx, g):
        s = ctx.shifts
        back = -s if isinstance(s, int) else tuple(-v for v in s)
        return np.roll(g, back, ctx.dims), None, None


def _int_seq(v, name, op):
    if isinstance(v, (list, tuple)):
        return tuple(_int(e, name, op) for e in v)
    return (_int(v, name, op),)


def roll(input, shifts, dims=None) -> Tensor:  # noqa: A002
    """Shift elements cyclically by ``shifts`` along ``dims`` (ints or matching sequences);
    with ``dims=None`` the tensor is rolled as if flattened, then given its shape back.

    >>> roll(arange(4), 1)
    tensor([3, 0, 1, 2])
    """
    _tensor(input, "roll")
    sh = _int_seq(shifts, "shifts", "roll")
    nd = input._data.ndim
    if dims is None:
        if len(sh) != 1:
            raise LaminaValueError(f"roll: shifts and dimensions must align. shifts: {len(sh)}, "
                                   "dims: 0")
        return Roll.apply(input, sh[0], None)
    ds = _int_seq(dims, "dims", "roll")
    if len(sh) != len(ds):
        raise LaminaValueError(f"roll: shifts and dimensions must align. shifts: {len(sh)}, "
                               f"dims: {len(ds)}")
    ds = tuple(_norm_dim(d, nd, "roll") for d in ds)
    if nd == 0:
        return Roll.apply(input, 0, None)
    return Roll.apply(input, sh, ds)


class Rot90(Function):
    @staticmethod
    def forward(ctx, a, k, dims):
        ctx.k, ctx.dims = k, dims
        return np.rot90(a, k, dims).copy()

    @staticmethod
    def backward(ctx, g):
        return np.rot90(g, -ctx.k, ctx.dims), None, None


def rot90(input, k: int = 1, dims=(0, 1)) -> Tensor:  # noqa: A002
    """Rotate by 90 degrees ``k`` times in the plane of ``dims``, from the first dim toward the
    second (a copy)."""
    _tensor(input, "rot90")
    k = _int(k, "k", "rot90")
    ds = _int_seq(dims, "dims", "rot90")
    if len(ds) != 2:
        raise LaminaValueError(f"rot90: expected total rotation dims == 2, but got dims = "
                               f"{len(ds)}")
    nd = input._data.ndim
    if nd < 2:
        raise LaminaValueError(f"rot90: expected total dims >= 2, but got total dims = {nd}")
    d0, d1 = (_norm_dim(d, nd, "rot90") for d in ds)
    if d0 == d1:
        raise LaminaValueError(f"rot90: expected rotation dims to be different, but got dim0 = "
                               f"{ds[0]} and dim1 = {ds[1]}")
    return Rot90.apply(input, k % 4, (d0, d1))


# --- repeating --------------------------------------------------------------------------------

def tile(input, dims) -> Tensor:  # noqa: A002
    """Repeat ``input`` ``dims[i]`` times along dim ``i``. Unlike ``repeat``, ``dims`` may be
    shorter than the number of dims: it is padded with leading ones.

    >>> tile(tensor([1, 2]), (2,))
    tensor([1, 2, 1, 2])
    """
    _tensor(input, "tile")
    reps = _int_seq(dims, "dims", "tile")
    if any(r < 0 for r in reps):
        raise LaminaValueError(f"tile: repeats must be non-negative, got {list(reps)}")
    nd = input._data.ndim
    reps = (1,) * (nd - len(reps)) + reps
    return repeat(input, *reps) if reps else input


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None) -> Tensor:  # noqa: A002
    """Repeat each element ``repeats`` times (an int, or a tensor of one count per element)
    along ``dim``; with ``dim=None`` the input is flattened first. ``repeat_interleave(counts)``
    alone gives ``[0]*counts[0] + [1]*counts[1] + ...`` as in PyTorch.

    >>> repeat_interleave(tensor([1, 2]), 2)
    tensor([1, 1, 2, 2])
    """
    _tensor(input, "repeat_interleave")
    if repeats is None:
        r = input._data
        if r.ndim != 1 or r.dtype.kind not in "iu":
            raise LaminaValueError("repeat_interleave: the repeats tensor must be 1-D and of an "
                                   f"integer dtype, got shape {tuple(r.shape)} dtype {r.dtype}")
        if r.size and r.min() < 0:
            raise LaminaValueError("repeat_interleave: repeats can not be negative")
        out = np.repeat(np.arange(r.size, dtype=np.int64), r)
        _check_output_size(out.size, output_size)
        return _make(out)
    x = input
    if dim is None:
        x, d = reshape(x, -1), 0
    else:
        if x._data.ndim == 0:
            raise LaminaIndexError(f"repeat_interleave: Dimension out of range (expected to be "
                                   f"in range of [-1, 0], but got {dim}) for a 0-d input")
        d = _norm_dim(dim, x._data.ndim, "repeat_interleave")
    n = x._data.shape[d]
    if isinstance(repeats, Tensor):
        r = repeats._data
        if r.dtype.kind not in "iu" or r.ndim > 1:
            raise LaminaValueError("repeat_interleave: repeats must be an int or a 0-d or 1-D "
                                   f"integer tensor, got shape {tuple(r.shape)} dtype {r.dtype}")
        r = r.reshape(-1).astype(np.int64)
        if r.size == 1:
            r = np.full(n, r[0], np.int64)
        elif r.size != n:
            raise LaminaValueError(
                f"repeat_interleave: repeats must have the same size as input along dim, but "
                f"got repeats.size(0) = {r.size} and input.size({d}) = {n}")
    else:
        r = np.full(n, _int(repeats, "repeats", "repeat_interleave"), np.int64)
    if r.size and r.min() < 0:
        raise LaminaValueError("repeat_interleave: repeats can not be negative")
    idx = np.repeat(np.arange(n, dtype=np.int64), r)
    _check_output_size(idx.size, output_size)
    return index_select(x, d, idx)


def _check_output_size(n, output_size):
    if output_size is not None and int(output_size) != n:
        raise LaminaValueError(f"repeat_interleave: output_size {output_size} does not match "
                               f"the total number of repeats {n}")


# --- unbind, swapdims, meshgrid ---------------------------------------------------------------

class Unbind(Function):
    is_view = True

    @staticmethod
    def forward(ctx, a, dim):
        ctx.shape, ctx.dim = a.shape, dim
        moved = np.moveaxis(a, dim, 0)
        return tuple(moved[i] for i in range(a.shape[dim]))

    @staticmethod
    def backward(ctx, *grads):
        g0 = next(g for g in grads if g is not None)
        parts = [np.zeros(g0.shape, g0.dtype) if g is None else g for g in grads]
        return np.stack(parts, axis=ctx.dim), None


def unbind(input, dim: int = 0) -> tuple:  # noqa: A002
    """The slices of ``input`` along ``dim``, as a tuple of views without that dim.

    >>> [t.shape for t in unbind(zeros(2, 3), 1)]
    [(2,), (2,), (2,)]
    """
    _tensor(input, "unbind")
    nd = input._data.ndim
    if nd == 0:
        raise LaminaIndexError("unbind: Dimension specified as 0 but tensor has no dimensions")
    d = _norm_dim(dim, nd, "unbind")
    if input._data.shape[d] == 0:
        return ()
    outs = Unbind.apply(input, d)
    if input._vc is None:                   # every slice shares its input's version counter
        input._vc = [0]
    for o in outs:
        o._vc = input._vc
    return outs


def swapdims(input, dim0: int, dim1: int) -> Tensor:  # noqa: A002
    """Swap two dims (PyTorch's alias of ``transpose``, as is ``swapaxes``)."""
    _tensor(input, "swapdims")
    return transpose(input, dim0, dim1)


def meshgrid(*tensors, indexing: str | None = None) -> tuple:
    """Coordinate grids from 0-d or 1-D tensors: output ``i`` holds ``tensors[i]`` spread along
    dim ``i`` of a grid of shape ``(len(t0), len(t1), ...)``. ``indexing='xy'`` swaps the first
    two dims (NumPy's default); the default is ``'ij'`` (PyTorch's, which also warns when it is
    not given; lamina does not warn). The results are views.

    >>> [g.shape for g in meshgrid(arange(2), arange(3), indexing="ij")]
    [(2, 3), (2, 3)]
    """
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise LaminaValueError(f"meshgrid: indexing must be one of 'xy' or 'ij', got "
                               f"{indexing!r}")
    if not tensors:
        raise LaminaValueError("meshgrid: expects a non-empty TensorList")
    for i, t in enumerate(tensors):
        _tensor(t, "meshgrid")
        if t._data.ndim > 1:
            raise LaminaValueError(f"meshgrid: expected 0D or 1D tensor in the tensor list but "
                                   f"got shape {tuple(t.shape)} at position {i}")
        if t._data.dtype != tensors[0]._data.dtype:
            raise LaminaValueError("meshgrid: expects all tensors to have the same dtype, got "
                                   f"{tensors[0]._data.dtype} and {t._data.dtype}")
    shape = [t._data.size for t in tensors]
    pos = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) >= 2:
        shape[0], shape[1] = shape[1], shape[0]
        pos[0], pos[1] = 1, 0
    out = []
    for t, p in zip(tensors, pos):
        s = [1] * len(shape)
        s[p] = shape[p]
        out.append(expand(reshape(t, tuple(s)), tuple(shape)))
    return tuple(out)


# --- sliding windows --------------------------------------------------------------------------

class Unfold(Function):
    """Windows of ``size`` every ``step`` along ``dim``, as a new last dim: a strided view."""

    is_view = True

    @staticmethod
    def forward(ctx, a, dim, size, step):
        nw = (a.shape[dim] - size) // step + 1
        ctx.shape, ctx.dim, ctx.size, ctx.step, ctx.nw = a.shape, dim, size, step, nw
        shape = a.shape[:dim] + (nw,) + a.shape[dim + 1:] + (size,)
        st = a.strides
        strides = st[:dim] + (st[dim] * step,) + st[dim + 1:] + (st[dim],)
        return as_strided(a, shape, strides)

    @staticmethod
    def backward(ctx, g):
        out = np.zeros(ctx.shape, g.dtype)
        dim, step, nw = ctx.dim, ctx.step, ctx.nw
        if nw == 0:
            return out, None, None, None
        pre = (slice(None),) * dim
        for j in range(ctx.size):               # window position j of every window at once
            out[pre + (slice(j, j + step * (nw - 1) + 1, step),)] += g[..., j]
        return out, None, None, None


def unfold(input, dimension: int, size: int, step: int) -> Tensor:  # noqa: A002
    """``Tensor.unfold``: every window of ``size`` elements along ``dimension``, ``step`` apart,
    as a new last dim of that size (a view; overlapping windows share memory). Not
    ``nn.functional.unfold`` (im2col).

    >>> arange(5.).unfold(0, 2, 2)
    tensor([[0., 1.],
            [2., 3.]])
    """
    _tensor(input, "unfold")
    size = _int(size, "size", "unfold")
    step = _int(step, "step", "unfold")
    nd = input._data.ndim
    d = _norm_dim(dimension, nd, "unfold")
    n = input._data.shape[d] if nd else 1
    if size > n:
        raise LaminaValueError(f"unfold: maximum size for tensor at dimension {d} is {n} but "
                               f"size is {size}")
    if size < 0:
        raise LaminaValueError(f"unfold: size is {size} but must be >= 0")
    if step <= 0:
        raise LaminaValueError(f"unfold: step is {step} but must be > 0")
    if nd == 0:
        return getitem(reshape(input, 1), slice(0, size))
    return Unfold.apply(input, d, size, step)


# PyTorch's functions take NumPy's ``axis=`` for ``dim=``
for _name in ("unbind repeat_interleave").split():
    globals()[_name] = numpy_names(globals()[_name])
del _name
