"""Movement ops: change the shape or order of elements without arithmetic.

reshape/view, flatten, squeeze/unsqueeze, expand/broadcast_to, transpose/permute return NumPy
views where NumPy can (they share memory and the version counter with their input).
"""

from __future__ import annotations

import numpy as np

from lamina.autograd.function import Function
from lamina.tensor import Tensor, _norm_dim

__all__ = ["reshape", "view", "flatten", "squeeze", "unsqueeze", "expand", "expand_as",
           "broadcast_to", "transpose", "swapaxes", "permute", "view_as", "reshape_as"]


class Reshape(Function):
    is_view = True

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


def _shape_arg(shape, op):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    out = []
    for s in shape:
        if isinstance(s, Tensor):
            s = int(s)
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"{op}: shape must be a sequence of ints, got {shape!r}")
        out.append(int(s))
    return tuple(out)


def reshape(x, *shape) -> Tensor:
    """The same elements in a new shape; one dim may be -1 (inferred)."""
    shape = _shape_arg(shape, "reshape")
    n = x.data.size
    if shape.count(-1) > 1:
        raise RuntimeError("reshape: only one dimension can be inferred")
    known = 1
    for s in shape:
        if s < -1:
            raise RuntimeError(f"reshape: invalid shape dimension {s}")
        if s != -1:
            known *= s
    if (-1 not in shape and known != n) or (-1 in shape and (known == 0 or n % known)):
        raise RuntimeError(
            f"reshape: shape {list(shape)} is invalid for input of size {n} "
            f"(input shape {tuple(x.shape)})"
        )
    if shape == x.data.shape:
        return x
    return Reshape.apply(x, shape)


def view(x, *shape) -> Tensor:
    """Like ``reshape``. Unlike PyTorch, lamina copies when no view is possible instead of
    raising; ``view(dtype)`` reinterpretation is not supported."""
    return reshape(x, *shape)


def view_as(x, other) -> Tensor:
    return reshape(x, other.shape)


reshape_as = view_as


def flatten(x, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim`` into one."""
    nd = x.data.ndim
    if nd == 0:
        return reshape(x, 1)
    s = _norm_dim(start_dim, nd, "flatten")
    e = _norm_dim(end_dim, nd, "flatten")
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shp = x.data.shape
    n = 1
    for d in shp[s:e + 1]:
        n *= d
    return reshape(x, shp[:s] + (n,) + shp[e + 1:])


def squeeze(x, dim=None) -> Tensor:
    """Remove size-1 dims (all of them, or only ``dim``, an int or tuple)."""
    shp = x.data.shape
    if dim is None:
        new = tuple(s for s in shp if s != 1)
    else:
        dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        ds = {_norm_dim(d, x.data.ndim, "squeeze") for d in dims}
        new = tuple(s for i, s in enumerate(shp) if not (i in ds and s == 1))
    return reshape(x, new)


def unsqueeze(x, dim: int) -> Tensor:
    """Insert a size-1 dim at ``dim`` (negative counts from the end of the result)."""
    nd = x.data.ndim + 1
    d = _norm_dim(dim, nd, "unsqueeze")
    shp = x.data.shape
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
    shape = _shape_arg(shape, "expand")
    nd = x.data.ndim
    if len(shape) < nd:
        raise RuntimeError(
            f"expand: the number of sizes provided ({len(shape)}) must be greater or equal to "
            f"the number of dimensions in the tensor ({nd})"
        )
    lead = len(shape) - nd
    full = []
    for i, s in enumerate(shape):
        if s == -1:
            if i < lead:
                raise RuntimeError("expand: -1 is not allowed in a leading, non-existing "
                                   "dimension")
            s = x.data.shape[i - lead]
        elif i >= lead and x.data.shape[i - lead] not in (1, s):
            raise RuntimeError(
                f"expand: the expanded size of the tensor ({s}) must match the existing size "
                f"({x.data.shape[i - lead]}) at non-singleton dimension {i}. Target sizes: "
                f"{list(shape)}. Tensor sizes: {list(x.data.shape)}"
            )
        full.append(s)
    full = tuple(full)
    if full == x.data.shape:
        return x
    return Expand.apply(x, full)


def expand_as(x, other) -> Tensor:
    return expand(x, other.shape)


def broadcast_to(x, shape) -> Tensor:
    try:
        np.broadcast_shapes(x.data.shape, tuple(shape))
    except ValueError:
        raise RuntimeError(
            f"broadcast_to: the shape {tuple(x.shape)} cannot be broadcast to {tuple(shape)}"
        ) from None
    return expand(x, tuple(shape))


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
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    nd = x.data.ndim
    if len(dims) != nd:
        raise RuntimeError(
            f"permute: number of dims don't match in permute: got {len(dims)} dims for a "
            f"{nd}-D tensor of shape {tuple(x.shape)}"
        )
    dims = tuple(_norm_dim(d, nd, "permute") for d in dims)
    if len(set(dims)) != nd:
        raise RuntimeError(f"permute: repeated dim in {dims}")
    if dims == tuple(range(nd)):
        return x
    return Permute.apply(x, dims)


def transpose(x, dim0: int, dim1: int) -> Tensor:
    """Swap two dims."""
    nd = x.data.ndim
    if nd == 0:
        return x
    d0, d1 = _norm_dim(dim0, nd, "transpose"), _norm_dim(dim1, nd, "transpose")
    dims = list(range(nd))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return permute(x, tuple(dims))


swapaxes = transpose
