"""Movement ops: change the shape or order of elements without arithmetic.

reshape/view, flatten, squeeze/unsqueeze, expand/broadcast_to, transpose/permute/movedim,
split/chunk and narrow return NumPy views where NumPy can (they share memory and the version
counter with their input). cat/stack, pad, flip and repeat return new arrays, as in PyTorch.
"""

from __future__ import annotations

import numpy as np

from lamina.autograd.function import Function
from lamina.backend import promote_types
from lamina.errors import LaminaIndexError, LaminaTypeError, LaminaValueError
from lamina.ops.elementwise import cast
from lamina.ops.indexing import getitem
from lamina.ops.padding import pad_mode
from lamina.tensor import Tensor, _norm_dim

__all__ = ["reshape", "view", "flatten", "squeeze", "unsqueeze", "expand", "expand_as",
           "broadcast_to", "transpose", "swapaxes", "permute", "view_as", "reshape_as",
           "movedim", "moveaxis", "cat", "concat", "concatenate", "stack", "split", "chunk",
           "narrow", "pad", "flip", "repeat", "unflatten"]


class Reshape(Function):
    is_view = True

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        if a.flags.c_contiguous:
            return a.reshape(shape)
        return _reshape_noncontiguous(a, shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


def _reshape_noncontiguous(a, shape):
    """``a.reshape(shape)`` for a non-contiguous ``a``: a view where one exists, otherwise a
    fresh copy with no ``base`` (so the engine does not take it for a view of ``a``)."""
    try:
        return np.reshape(a, shape, copy=False)
    except ValueError:
        out = np.empty(shape, a.dtype)
        out.reshape(a.shape)[...] = a
        return out
    except TypeError:  # NumPy < 2.1 has no copy=
        return a.reshape(shape)


def _tensor(x, op: str) -> None:
    if not isinstance(x, Tensor):
        raise LaminaTypeError(f"{op}: expected a Tensor, got {type(x).__name__}")


def _shape_arg(shape, op):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    out = []
    for s in shape:
        if isinstance(s, Tensor):
            s = int(s)
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise LaminaTypeError(f"{op}: shape must be a sequence of ints, got {shape!r}")
        out.append(int(s))
    return tuple(out)


def reshape(x, *shape) -> Tensor:
    """The same elements in a new shape; one dim may be -1 (inferred)."""
    _tensor(x, "reshape")
    shape = _shape_arg(shape, "reshape")
    n = x._data.size
    if shape.count(-1) > 1:
        raise LaminaValueError("reshape: only one dimension can be inferred")
    known = 1
    for s in shape:
        if s < -1:
            raise LaminaValueError(f"reshape: invalid shape dimension {s}")
        if s != -1:
            known *= s
    if (-1 not in shape and known != n) or (-1 in shape and (known == 0 or n % known)):
        raise LaminaValueError(
            f"reshape: shape {list(shape)} is invalid for input of size {n} "
            f"(input shape {tuple(x.shape)})"
        )
    if -1 in shape:
        shape = tuple(n // known if s == -1 else s for s in shape)
    if shape == x._data.shape:
        return x
    return Reshape.apply(x, shape)


def view(x, *shape) -> Tensor:
    """Like ``reshape``. Unlike PyTorch, lamina copies when no view is possible instead of
    raising; ``view(dtype)`` reinterpretation is not supported."""
    return reshape(x, *shape)


def view_as(x, other) -> Tensor:
    _tensor(x, "view_as")
    return reshape(x, other.shape)


reshape_as = view_as


def flatten(x, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim`` into one."""
    _tensor(x, "flatten")
    nd = x._data.ndim
    s = _norm_dim(start_dim, max(nd, 1), "flatten")  # a 0-d tensor takes dims -1 and 0
    e = _norm_dim(end_dim, max(nd, 1), "flatten")
    if nd == 0:
        return reshape(x, 1)
    if s > e:
        raise LaminaValueError("flatten: invalid args: start_dim cannot come after end_dim")
    shp = x._data.shape
    n = 1
    for d in shp[s:e + 1]:
        n *= d
    return reshape(x, shp[:s] + (n,) + shp[e + 1:])


def squeeze(x, dim=None) -> Tensor:
    """Remove size-1 dims (all of them, or only ``dim``, an int or tuple)."""
    _tensor(x, "squeeze")
    shp = x._data.shape
    if dim is None:
        new = tuple(s for s in shp if s != 1)
    else:
        dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        ds = {_norm_dim(d, x._data.ndim, "squeeze") for d in dims}
        new = tuple(s for i, s in enumerate(shp) if not (i in ds and s == 1))
    return reshape(x, new)


def unsqueeze(x, dim: int) -> Tensor:
    """Insert a size-1 dim at ``dim`` (negative counts from the end of the result)."""
    _tensor(x, "unsqueeze")
    nd = x._data.ndim + 1
    d = _norm_dim(dim, nd, "unsqueeze")
    shp = x._data.shape
    return reshape(x, shp[:d] + (1,) + shp[d:])


class Expand(Function):
    is_view = True

    @staticmethod
    def forward(ctx, a, shape):
        return np.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, g):
        return g, None  # the engine sums the broadcast dims back


def expand(x, *shape) -> Tensor:
    """Broadcast to ``shape`` without copying; -1 keeps a dim's size."""
    _tensor(x, "expand")
    shape = _shape_arg(shape, "expand")
    nd = x._data.ndim
    if len(shape) < nd:
        raise LaminaValueError(
            f"expand: the number of sizes provided ({len(shape)}) must be greater or equal to "
            f"the number of dimensions in the tensor ({nd})"
        )
    lead = len(shape) - nd
    full = []
    for i, s in enumerate(shape):
        if s == -1:
            if i < lead:
                raise LaminaValueError("expand: -1 is not allowed in a leading, non-existing "
                                       "dimension")
            s = x._data.shape[i - lead]
        elif i >= lead and x._data.shape[i - lead] not in (1, s):
            raise LaminaValueError(
                f"expand: the expanded size of the tensor ({s}) must match the existing size "
                f"({x._data.shape[i - lead]}) at non-singleton dimension {i}. Target sizes: "
                f"{list(shape)}. Tensor sizes: {list(x._data.shape)}"
            )
        full.append(s)
    full = tuple(full)
    if full == x._data.shape:
        return x
    return Expand.apply(x, full)


def expand_as(x, other) -> Tensor:
    _tensor(x, "expand_as")
    return expand(x, other.shape)


def broadcast_to(x, shape) -> Tensor:
    """Broadcast ``x`` to ``shape`` (a view); -1 keeps a dim's size, like ``expand``."""
    _tensor(x, "broadcast_to")
    return expand(x, shape)


class Permute(Function):
    is_view = True

    @staticmethod
    def forward(ctx, a, dims):
        ctx.dims = dims
        return np.transpose(a, dims)

    @staticmethod
    def backward(ctx, g):
        return np.transpose(g, np.argsort(ctx.dims)), None


def permute(x, *dims) -> Tensor:
    """Reorder the dims: ``out.shape[i] == x.shape[dims[i]]``."""
    _tensor(x, "permute")
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    nd = x._data.ndim
    if len(dims) != nd:
        raise LaminaValueError(
            f"permute: number of dims don't match in permute: got {len(dims)} dims for a "
            f"{nd}-D tensor of shape {tuple(x.shape)}"
        )
    dims = tuple(_norm_dim(d, nd, "permute") for d in dims)
    if len(set(dims)) != nd:
        raise LaminaValueError(f"permute: repeated dim in {dims}")
    if dims == tuple(range(nd)):
        return x
    return Permute.apply(x, dims)


def transpose(x, dim0: int, dim1: int) -> Tensor:
    """Swap two dims."""
    _tensor(x, "transpose")
    nd = x._data.ndim
    if nd == 0:
        return x
    d0, d1 = _norm_dim(dim0, nd, "transpose"), _norm_dim(dim1, nd, "transpose")
    dims = list(range(nd))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return permute(x, tuple(dims))


swapaxes = transpose


def movedim(x, source, destination) -> Tensor:
    """Move dims ``source`` to positions ``destination`` (ints or sequences); the other dims
    keep their order."""
    _tensor(x, "movedim")
    nd = x._data.ndim
    src = (source,) if isinstance(source, (int, np.integer)) else tuple(source)
    dst = (destination,) if isinstance(destination, (int, np.integer)) else tuple(destination)
    if len(src) != len(dst):
        raise LaminaValueError(
            f"movedim: Invalid source or destination dims: source ({list(src)} dims) should "
            f"contain the same number of dims as destination ({list(dst)} dims)"
        )
    src = tuple(_norm_dim(d, nd, "movedim") for d in src)
    dst = tuple(_norm_dim(d, nd, "movedim") for d in dst)
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise LaminaValueError(f"movedim: repeated dim in source {src} or destination {dst}")
    perm = [-1] * nd
    for s, d in zip(src, dst):
        perm[d] = s
    rest = iter(i for i in range(nd) if i not in src)
    perm = [p if p >= 0 else next(rest) for p in perm]
    return permute(x, tuple(perm))


moveaxis = movedim


# --- joining and splitting ---------------------------------------------------------------------

def _tensor_list(tensors, op: str) -> list:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise LaminaTypeError(
            f"{op}(): argument 'tensors' must be a tuple or list of Tensors, "
            f"not {type(tensors).__name__}"
        )
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise LaminaTypeError(
                f"{op}(): expected a sequence of Tensors, but element {i} is "
                f"{type(t).__name__}"
            )
    return list(tensors)


def _to_common_dtype(ts: list) -> list:
    """Cast every tensor to the promoted dtype of all of them (PyTorch's rule for cat)."""
    d = ts[0]._data.dtype
    for t in ts[1:]:
        d = promote_types(d, t._data.dtype)
    return [t if t._data.dtype == d else cast(t, d) for t in ts]


def _is_legacy_empty(a) -> bool:
    return a.ndim == 1 and a.shape[0] == 0


class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *arrays):
        keep = [a for a in arrays if not _is_legacy_empty(a)] or list(arrays)
        bounds, start = [], 0
        for a in arrays:
            if len(keep) < len(arrays) and _is_legacy_empty(a):
                bounds.append(None)
            else:
                bounds.append((start, start + a.shape[dim]))
                start += a.shape[dim]
        ctx.dim, ctx.bounds = dim, bounds
        return np.concatenate(keep, axis=dim)

    @staticmethod
    def backward(ctx, g):
        pre = (slice(None),) * ctx.dim
        needs = ctx.needs_input_grad
        grads = [None]
        for i, b in enumerate(ctx.bounds):
            if not needs[i + 1]:
                grads.append(None)
            elif b is None:
                grads.append(np.zeros(0, g.dtype))
            else:
                grads.append(g[pre + (slice(*b),)])
        return tuple(grads)


def cat(tensors, dim: int = 0) -> Tensor:
    """Join tensors along an existing dim ``dim``; their other sizes must match.

    Dtypes promote like PyTorch (int64 with float32 gives float32). 1-D empty tensors of shape
    ``(0,)`` are skipped whatever the others' shapes, as in PyTorch.

    >>> cat([zeros(2, 3), ones(1, 3)]).shape
    (3, 3)
    """
    ts = _tensor_list(tensors, "cat")
    if not ts:
        raise LaminaValueError("cat(): expected a non-empty list of Tensors")
    ref = None
    for i, t in enumerate(ts):
        if t._data.ndim == 0:
            raise LaminaValueError(
                f"cat(): zero-dimensional tensor (at position {i}) cannot be concatenated"
            )
        if ref is None and not _is_legacy_empty(t._data):
            ref = t
    nd = 1 if ref is None else ref._data.ndim
    d = _norm_dim(dim, nd, "cat")
    if ref is not None:
        rs = ref._data.shape
        for i, t in enumerate(ts):
            s = t._data.shape
            if _is_legacy_empty(t._data):
                continue
            if len(s) != nd:
                raise LaminaValueError(
                    f"cat(): tensors must have same number of dimensions: got {nd} and "
                    f"{len(s)} (tensor number {i} in the list)"
                )
            for k in range(nd):
                if k != d and s[k] != rs[k]:
                    raise LaminaValueError(
                        f"cat(): sizes of tensors must match except in dimension {d}. "
                        f"Expected size {rs[k]} but got size {s[k]} for tensor number {i} "
                        "in the list"
                    )
    return Cat.apply(d, *_to_common_dtype(ts))


concat = cat
concatenate = cat


class Stack(Function):
    @staticmethod
    def forward(ctx, dim, *arrays):
        ctx.dim = dim
        return np.stack(arrays, axis=dim)

    @staticmethod
    def backward(ctx, g):
        pre = (slice(None),) * ctx.dim
        needs = ctx.needs_input_grad
        return (None,) + tuple(g[pre + (i,)] if needs[i + 1] else None
                               for i in range(len(needs) - 1))


def stack(tensors, dim: int = 0) -> Tensor:
    """Join equally shaped tensors along a new dim ``dim``.

    >>> stack([zeros(2, 3), ones(2, 3)], dim=1).shape
    (2, 2, 3)
    """
    ts = _tensor_list(tensors, "stack")
    if not ts:
        raise LaminaValueError("stack(): expects a non-empty TensorList")
    shape = ts[0]._data.shape
    for i, t in enumerate(ts):
        if t._data.shape != shape:
            raise LaminaValueError(
                f"stack(): expects each tensor to be equal size, but got {list(shape)} at "
                f"entry 0 and {list(t._data.shape)} at entry {i}"
            )
    d = _norm_dim(dim, len(shape) + 1, "stack")
    return Stack.apply(d, *_to_common_dtype(ts))


class Split(Function):
    """Several slices of one dim at once: one node with one output per piece."""

    is_view = True

    @staticmethod
    def forward(ctx, a, dim, bounds):
        ctx.shape, ctx.dim, ctx.bounds = a.shape, dim, bounds
        pre = (slice(None),) * dim
        return tuple(a[pre + (slice(s, e),)] for s, e in bounds)

    @staticmethod
    def backward(ctx, *grads):
        dim = ctx.dim
        if all(g is not None for g in grads):
            return np.concatenate(grads, axis=dim), None, None
        g0 = next(g for g in grads if g is not None)
        out = np.zeros(ctx.shape, g0.dtype)
        pre = (slice(None),) * dim
        for g, (s, e) in zip(grads, ctx.bounds):
            if g is not None:
                out[pre + (slice(s, e),)] = g
        return out, None, None


def _split(x, bounds, dim):
    outs = Split.apply(x, dim, tuple(bounds))
    # every piece is a view of x: all of them share x's version counter
    if x._vc is None:
        x._vc = [0]
    for o in outs:
        o._vc = x._vc
    return outs


def split(x, split_size_or_sections, dim: int = 0) -> tuple:
    """Split ``x`` along ``dim`` into pieces of ``split_size_or_sections`` (an int: equal
    pieces, the last one smaller if needed) or of the given sizes (a list). Returns a tuple
    of views.

    >>> [t.shape for t in split(zeros(5, 2), 2)]
    [(2, 2), (2, 2), (1, 2)]
    """
    _tensor(x, "split")
    d = _norm_dim(dim, x._data.ndim, "split")
    n = x._data.shape[d]
    s = split_size_or_sections
    if isinstance(s, Tensor):
        s = s.tolist()
    if isinstance(s, (int, np.integer)) and not isinstance(s, bool):
        s = int(s)
        if s < 0:
            raise LaminaValueError(
                f"split(): expects split_size be non-negative, but got split_size={s}"
            )
        if s == 0 and n != 0:
            raise LaminaValueError(
                "split(): split_size can only be 0 if dimension size is 0, but got dimension "
                f"size of {n}"
            )
        bounds = [(i, min(i + s, n)) for i in range(0, n, s)] if n else [(0, 0)]
        return _split(x, bounds, d)
    if not isinstance(s, (list, tuple)) or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in s):
        raise LaminaTypeError(
            f"split(): split_size_or_sections must be an int or a list of ints, got {s!r}"
        )
    if any(v < 0 for v in s):
        raise LaminaValueError(
            f"split(): split_with_sizes expects split_sizes have only non-negative entries, "
            f"but got split_sizes={list(s)}"
        )
    if sum(s) != n:
        raise LaminaValueError(
            f"split(): split_with_sizes expects split_sizes to sum exactly to {n} (input "
            f"tensor's size at dimension {d}), but got split_sizes={list(s)}"
        )
    bounds, start = [], 0
    for v in s:
        bounds.append((start, start + int(v)))
        start += int(v)
    return _split(x, bounds, d)


def chunk(x, chunks: int, dim: int = 0) -> tuple:
    """Split into ``chunks`` pieces of ``ceil(size / chunks)`` along ``dim`` (fewer pieces when
    the size does not allow ``chunks`` non-empty ones, as in PyTorch)."""
    _tensor(x, "chunk")
    if not isinstance(chunks, (int, np.integer)) or isinstance(chunks, bool):
        raise LaminaTypeError(f"chunk(): chunks must be an int, got {type(chunks).__name__}")
    if chunks <= 0:
        raise LaminaValueError(f"chunk(): expects `chunks` to be greater than 0, got: {chunks}")
    d = _norm_dim(dim, x._data.ndim, "chunk")
    n = x._data.shape[d]
    if n == 0:
        return _split(x, [(0, 0)] * int(chunks), d)
    return split(x, -(-n // int(chunks)), d)


def narrow(x, dim: int, start, length: int) -> Tensor:
    """The view ``x[..., start:start + length, ...]`` along ``dim`` (``start`` may be
    negative)."""
    _tensor(x, "narrow")
    d = _norm_dim(dim, x._data.ndim, "narrow")
    n = x._data.shape[d]
    start, length = int(start), int(length)
    if not -n <= start <= n:
        raise LaminaIndexError(
            f"narrow(): start out of range (expected to be in range of [{-n}, {n}], but got "
            f"{start})"
        )
    if start < 0:
        start += n
    if length < 0:
        raise LaminaValueError(f"narrow(): length must be non-negative, got {length}")
    if start + length > n:
        raise LaminaValueError(
            f"narrow(): start ({start}) + length ({length}) exceeds dimension size ({n})"
        )
    return getitem(x, (slice(None),) * d + (slice(start, start + length),))


# --- padding, flipping, repeating -------------------------------------------------------------

class Pad(Function):
    @staticmethod
    def forward(ctx, a, pairs, value):
        src, dst, out_shape = [], [], []
        crop = False
        for n, (lo, hi) in zip(a.shape, pairs):
            s0, d0 = max(-lo, 0), max(lo, 0)
            length = max(n - s0 - max(-hi, 0), 0)
            src.append(slice(s0, s0 + length))
            dst.append(slice(d0, d0 + length))
            out_shape.append(n + lo + hi)
            crop = crop or lo < 0 or hi < 0
        src, dst = tuple(src), tuple(dst)
        ctx.shape, ctx.src, ctx.dst, ctx.crop = a.shape, src, dst, crop
        out = np.full(out_shape, value, dtype=a.dtype)
        out[dst] = a[src]
        return out

    @staticmethod
    def backward(ctx, g):
        inner = g[ctx.dst]
        if not ctx.crop:
            return inner, None, None
        out = np.zeros(ctx.shape, g.dtype)
        out[ctx.src] = inner
        return out, None, None


def pad(input, pad, mode: str = "constant", value=None) -> Tensor:  # noqa: A002
    """Pad with ``value`` (default 0): ``pad = (left, right, top, bottom, ...)`` pads the last
    dim first, then the one before it, like ``torch.nn.functional.pad``. Negative amounts
    crop. ``mode`` ``'reflect'``, ``'replicate'`` and ``'circular'`` pad the last one, two or
    three dims of a batched or unbatched input (see ``lamina.ops.padding``).

    >>> pad(ones(2, 3), (1, 1)).shape
    (2, 5)
    """
    _tensor(input, "pad")
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise LaminaValueError(f"pad: unrecognised padding mode {mode!r}, expected 'constant', "
                               "'reflect', 'replicate' or 'circular'")
    if mode != "constant" and value is not None and value != 0:
        raise LaminaValueError(f"pad: padding mode {mode!r} doesn't take in value argument")
    x = input
    p = tuple(pad)
    for v in p:
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise LaminaTypeError(f"pad: padding must be a sequence of ints, got {p!r}")
    nd = x._data.ndim
    if len(p) % 2:
        raise LaminaValueError(f"pad: padding length must be divisible by 2, got {len(p)}")
    if len(p) // 2 > nd:
        raise LaminaValueError(
            "pad: padding length should be less than or equal to two times the input "
            f"dimension but got padding length {len(p)} and input of dimension {nd}"
        )
    pairs = [(0, 0)] * nd
    for k in range(len(p) // 2):
        pairs[nd - 1 - k] = (int(p[2 * k]), int(p[2 * k + 1]))
    if mode != "constant":
        return pad_mode(x, pairs[nd - len(p) // 2:], mode)
    for i, (n, (lo, hi)) in enumerate(zip(x._data.shape, pairs)):
        if n + lo + hi < 0:
            raise LaminaValueError(
                f"pad: the input size {n} at dimension {i}, plus negative padding {lo} and "
                f"{hi}, resulted in a negative output size {n + lo + hi}"
            )
    if value is None:
        value = 0
    if isinstance(value, Tensor):
        value = value.item()
    return Pad.apply(x, tuple(pairs), value)


class Flip(Function):
    @staticmethod
    def forward(ctx, a, dims):
        ctx.dims = dims
        return np.flip(a, dims).copy()  # a copy, as in PyTorch: the result is not a view

    @staticmethod
    def backward(ctx, g):
        return np.flip(g, ctx.dims), None


def flip(x, *dims) -> Tensor:
    """Reverse the order of elements along ``dims`` (returns a copy, like PyTorch)."""
    _tensor(x, "flip")
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    nd = x._data.ndim
    ds = tuple(_norm_dim(d, max(nd, 1), "flip") for d in dims)
    if nd == 0:  # a 0-d tensor takes dims -1 and 0; flipping it changes nothing
        ds = ()
    seen = set()
    for d in ds:
        if d in seen:
            raise LaminaValueError(f"flip(): dim {d} appears multiple times in the list of dims")
        seen.add(d)
    return Flip.apply(x, ds)


class Repeat(Function):
    @staticmethod
    def forward(ctx, a, sizes):
        lead = len(sizes) - a.ndim
        padded = (1,) * lead + a.shape
        ctx.shape, ctx.padded, ctx.sizes = a.shape, padded, sizes
        return np.tile(a.reshape(padded), sizes)

    @staticmethod
    def backward(ctx, g):
        # out dim k has size r*s laid out as r blocks of s: sum the r axis of each pair
        inter = []
        for r, s in zip(ctx.sizes, ctx.padded):
            inter += [r, s]
        gs = g.reshape(inter).sum(axis=tuple(range(0, len(inter), 2)))
        return gs.reshape(ctx.shape), None


def repeat(x, *sizes) -> Tensor:
    """Tile ``x``: ``sizes[i]`` copies along dim ``i`` (PyTorch's ``Tensor.repeat``; extra
    leading sizes add new dims). Unlike ``numpy.repeat``, whole blocks are repeated."""
    _tensor(x, "repeat")
    sizes = _shape_arg(sizes, "repeat")
    nd = x._data.ndim
    if len(sizes) < nd:
        raise LaminaValueError(
            "repeat(): number of dimensions of repeat dims can not be smaller than number of "
            f"dimensions of tensor (got {len(sizes)} repeats for a {nd}-D tensor)"
        )
    if any(s < 0 for s in sizes):
        raise LaminaValueError(f"repeat(): repeats must be non-negative, got {list(sizes)}")
    return Repeat.apply(x, sizes)


def unflatten(x, dim: int, sizes) -> Tensor:
    """Split dim ``dim`` into ``sizes`` (one entry may be -1)."""
    _tensor(x, "unflatten")
    nd = x._data.ndim
    d = _norm_dim(dim, nd, "unflatten")
    sizes = _shape_arg((sizes,), "unflatten")
    if not sizes:
        raise LaminaValueError("unflatten: sizes must be non-empty")
    if sizes.count(-1) > 1:
        raise LaminaValueError("unflatten: only one dimension can be inferred")
    n = x._data.shape[d]
    known = 1
    for s in sizes:
        if s != -1:
            known *= s
    bad = (known == 0 or n % known) if -1 in sizes else known != n
    if bad or any(s < -1 for s in sizes):
        raise LaminaValueError(
            f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim "
            f"{dim} ({n}) in the input tensor"
        )
    if -1 in sizes:
        sizes = tuple(n // known if s == -1 else s for s in sizes)
    shp = x._data.shape
    return reshape(x, shp[:d] + sizes + shp[d + 1:])


# PyTorch's functions take NumPy's ``axis=`` for ``dim=`` (``torch.cat(ts, axis=1)``)
from lamina.ops.reduce import numpy_names  # noqa: E402

for _name in ("squeeze unsqueeze cat stack chunk narrow").split():
    globals()[_name] = numpy_names(globals()[_name])
concat = concatenate = cat
del _name
