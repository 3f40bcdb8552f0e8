"""Contractions and products over named dims: ``einsum``, ``tensordot``, ``kron``, ``cross``
and the pairwise distances ``cdist``.

``einsum`` is one ``Function``: the forward is ``numpy.einsum`` on an equation rewritten
without ellipses, and the gradient of each operand is itself an einsum of the incoming
gradient and the other operands (see ``Einsum.backward``). ``tensordot`` is written as an
einsum; ``kron`` as a broadcast product.
"""

from __future__ import annotations

import string

import numpy as np
from numpy.lib.stride_tricks import as_strided

from lamina.autograd.function import Function
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.ops.elementwise import mul
from lamina.ops.movement import expand, reshape
from lamina.ops.reduce import numpy_names
from lamina.tensor import Tensor, _norm_dim

__all__ = ["einsum", "tensordot", "kron", "cross", "cdist"]

_LETTERS = string.ascii_letters


def _tensor(x, op: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise LaminaTypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    return x


# --- einsum -----------------------------------------------------------------------------------

def _parse_term(term, start, op_index):
    """One operand's subscripts as a list of letters, with ``None`` standing for an ellipsis
    (at most one)."""
    labels, i = [], 0
    while i < len(term):
        c = term[i]
        if term.startswith("...", i):
            if None in labels:
                raise LaminaValueError(f"einsum(): found more than one ellipsis ('...') in the "
                                       f"subscripts of operand {op_index}")
            labels.append(None)
            i += 3
            continue
        if c not in _LETTERS:
            raise LaminaValueError(f"einsum(): invalid subscript given at index {start + i} in "
                                   f"the equation string, subscripts must be in [a-zA-Z]")
        labels.append(c)
        i += 1
    return labels


def _parse_equation(equation, shapes):
    """``equation`` rewritten for ``numpy.einsum`` without ellipses: the letters of each
    operand and of the output (lists), ellipsis dims given letters the equation does not use.
    The output defaults to PyTorch's: the ellipsis dims, then the letters used once, sorted."""
    eq = equation.replace(" ", "")
    if eq.count("->") > 1:
        raise LaminaValueError("einsum(): the equation has more than one '->'")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) < len(shapes):
        raise LaminaValueError("einsum(): more operands were provided than specified in the "
                               "equation")
    if len(terms) > len(shapes):
        raise LaminaValueError("einsum(): fewer operands were provided than specified in the "
                               "equation")
    parsed, start = [], 0
    for k, term in enumerate(terms):
        parsed.append(_parse_term(term, start, k))
        start += len(term) + 1
    out = _parse_term(rhs, len(lhs) + 2, "the output") if arrow else None
    used = {c for labels in parsed for c in labels if c} | {c for c in out or () if c}
    free = [c for c in _LETTERS if c not in used]
    ell_nd = 0
    for k, (labels, shape) in enumerate(zip(parsed, shapes)):
        n_named = sum(1 for c in labels if c)
        if None in labels:
            if n_named > len(shape):
                raise LaminaValueError(
                    f"einsum(): the number of subscripts in the equation ({n_named}) is more "
                    f"than the number of dimensions ({len(shape)}) for operand {k}")
            ell_nd = max(ell_nd, len(shape) - n_named)
        elif n_named != len(shape):
            raise LaminaValueError(
                f"einsum(): the number of subscripts in the equation ({n_named}) does not match "
                f"the number of dimensions ({len(shape)}) for operand {k} and no ellipsis was "
                "given")
    if ell_nd > len(free):
        raise LaminaValueError("einsum(): too many dims for the 52 subscript letters")
    ell = free[:ell_nd]
    ops = []
    for labels, shape in zip(parsed, shapes):
        n = len(shape) - sum(1 for c in labels if c)
        full = []
        for c in labels:
            full.extend(ell[ell_nd - n:] if c is None else [c])
        ops.append(full)
    counts = {}
    for full in ops:
        for c in full:
            counts[c] = counts.get(c, 0) + 1
    if out is None:
        out = ell + sorted(c for c in counts if counts[c] == 1 and c not in ell)
    else:
        seen, full = set(), []
        for c in out:
            if c is not None and c in seen:
                raise LaminaValueError(f"einsum(): output subscript {c} appears more than once "
                                       "in the output")
            if c is not None and c not in counts:
                raise LaminaValueError(f"einsum(): output subscript {c} does not appear in the "
                                       "equation for any input operand")
            seen.add(c)
            full.extend(ell if c is None else [c])
        out = full
    return ops, out


def _label_sizes(ops, shapes):
    """The size of every letter; size 1 broadcasts against any other size (as in PyTorch)."""
    sizes = {}
    for k, (labels, shape) in enumerate(zip(ops, shapes)):
        own = {}
        for c, n in zip(labels, shape):
            if c in own and own[c] != n:
                raise LaminaValueError(f"einsum(): subscript {c} is repeated for operand {k} but "
                                       f"the sizes don't match, {own[c]} != {n}")
            own[c] = n
        for c, n in own.items():
            m = sizes.get(c, 1)
            if n != 1 and m != 1 and n != m:
                raise LaminaValueError(f"einsum(): subscript {c} has size {n} for operand {k} "
                                       f"which does not broadcast with previously seen size {m}")
            sizes[c] = n if m == 1 else m
    return sizes


def _optimize(arrays):
    """``numpy.einsum``'s ``optimize``: a contraction path pays for itself with three or more
    operands or large ones (it then uses BLAS); for small pairs it only adds overhead."""
    return len(arrays) > 2 or sum(a.size for a in arrays) > 4096


def _diag_embed(g, labels, sizes):
    """A zero array with one dim per entry of ``labels`` (repeated letters included) whose
    entries with equal coordinates along equal letters are ``g`` (one dim per distinct letter,
    in order of first appearance); the gradient of an operand with repeated subscripts."""
    out = np.zeros(tuple(sizes[c] for c in labels), g.dtype)
    uniq = list(dict.fromkeys(labels))
    strides = [sum(out.strides[i] for i, c in enumerate(labels) if c == u) for u in uniq]
    as_strided(out, tuple(sizes[u] for u in uniq), strides)[...] = g
    return out


class Einsum(Function):
    """Forward: ``numpy.einsum``. Backward, for operand ``k``: the einsum of the gradient (with
    the output's letters) and the other operands, onto ``k``'s distinct letters; letters found
    only in ``k`` were summed away, so the gradient is constant along them (broadcast back);
    repeated letters in ``k`` read a diagonal, so the gradient goes on that diagonal."""

    @staticmethod
    def forward(ctx, subs, *arrays):
        ops, out, sizes = subs
        full = [a if a.shape == tuple(sizes[c] for c in labels)
                else np.broadcast_to(a, tuple(sizes[c] for c in labels))
                for a, labels in zip(arrays, ops)]
        spec = ",".join("".join(labels) for labels in ops) + "->" + "".join(out)
        ctx.subs, ctx.full = subs, full
        return np.asarray(np.einsum(spec, *full, optimize=_optimize(full)))

    @staticmethod
    def backward(ctx, g):
        ops, out, sizes = ctx.subs
        grads = [None]
        for k, labels in enumerate(ops):
            if not ctx.needs_input_grad[k + 1]:
                grads.append(None)
                continue
            terms = [("".join(out), g)] + [("".join(ops[j]), ctx.full[j])
                                           for j in range(len(ops)) if j != k]
            avail = set("".join(t for t, _ in terms))
            uniq = list(dict.fromkeys(labels))
            keep = [c for c in uniq if c in avail]
            spec = ",".join(t for t, _ in terms) + "->" + "".join(keep)
            arrs = [a for _, a in terms]
            gk = np.asarray(np.einsum(spec, *arrs, optimize=_optimize(arrs)))
            if len(keep) < len(uniq):                   # letters only k had: broadcast back
                gk = gk.reshape(tuple(sizes[c] if c in avail else 1 for c in uniq))
                gk = np.broadcast_to(gk, tuple(sizes[c] for c in uniq))
            if len(uniq) < len(labels):
                gk = _diag_embed(gk, labels, sizes)
            elif not gk.flags.writeable or gk.base is not None:
                gk = np.array(gk)
            grads.append(gk)
        return tuple(grads)


def _sublist_equation(args):
    """``(op0, sub0, op1, sub1, ..., [out])`` (PyTorch's sublist form) as an equation string
    and the operands: subscript ``k`` is letter ``k`` of ``A-Za-z``, ``Ellipsis`` is ``...``."""
    def letters(sub):
        out = []
        for v in sub:
            if v is Ellipsis:
                out.append("...")
            elif isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v < 52:
                out.append(string.ascii_uppercase[v] if v < 26 else string.ascii_lowercase[v - 26])
            else:
                raise LaminaValueError(f"einsum(): subscript in subscript list is not within the "
                                       f"valid range [0, 52), got {v!r}")
        return "".join(out)

    ops, terms = list(args[0::2]), [letters(s) for s in args[1::2]]
    if len(args) % 2:                       # an output sublist closes the list
        if isinstance(ops[-1], Tensor):
            raise LaminaValueError("einsum(): the sublist form needs a subscript list after "
                                   "every operand")
        return ",".join(terms) + "->" + letters(ops.pop()), tuple(ops)
    return ",".join(terms), tuple(ops)


def einsum(equation: str, *operands) -> Tensor:
    """Sum of products over named dims, in Einstein notation: ``einsum('ij,jk->ik', a, b)`` is
    ``a @ b``. Supports ``...`` (broadcast batch dims), repeated subscripts in an operand
    (``'ii->i'`` is the diagonal, ``'ii'`` the trace), the implicit output (the letters used
    once, in alphabetical order, after the ellipsis dims) and size-1 dims broadcasting, as in
    PyTorch. Operands may be given as one list, or in the sublist form
    ``einsum(a, [0, 1], b, [1, 2], [0, 2])`` (subscripts 0-51, ``...`` as ``Ellipsis``). All
    operands must have the same dtype (bool only for one operand, as in PyTorch).

    >>> einsum("bij,bjk->bik", ones(2, 3, 4), ones(2, 4, 5)).shape
    (2, 3, 5)
    """
    if not isinstance(equation, str):
        equation, operands = _sublist_equation((equation, *operands))
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise LaminaValueError("einsum(): must provide at least one operand")
    for t in operands:
        _tensor(t, "einsum")
    dt = operands[0]._data.dtype
    for t in operands:
        if t._data.dtype != dt:
            raise LaminaValueError(f"einsum(): expected all operands to have the same dtype, "
                                   f"got {dt} and {t._data.dtype}")
    if dt.kind == "b" and len(operands) > 1:
        raise LaminaTypeError("einsum(): products of bool tensors are not implemented (as in "
                              "PyTorch)")
    shapes = [t._data.shape for t in operands]
    ops, out = _parse_equation(equation, shapes)
    sizes = _label_sizes(ops, shapes)
    if dt.kind == "b" and set(ops[0]) - set(out):
        # PyTorch sums bool as int64 (numpy.einsum would take a logical or)
        from lamina.ops.elementwise import cast

        operands = (cast(operands[0], np.int64),)
    return Einsum.apply((ops, out, sizes), *operands)


# --- tensordot and kron -----------------------------------------------------------------------

def _dims_list(v, op):
    if isinstance(v, Tensor):
        v = v.tolist()
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return [int(v)]
    if isinstance(v, (list, tuple)) and all(isinstance(e, (int, np.integer)) and
                                            not isinstance(e, bool) for e in v):
        return [int(e) for e in v]
    raise LaminaTypeError(f"{op}: dims must be an int or a pair of lists of ints, got {v!r}")


def tensordot(a, b, dims=2) -> Tensor:
    """Contract the last ``dims`` dims of ``a`` with the first ``dims`` of ``b`` (an int), or
    the dims listed in ``dims = (dims_a, dims_b)``; the result has ``a``'s remaining dims then
    ``b``'s. ``a`` and ``b`` must have the same dtype.

    >>> tensordot(ones(2, 3, 4), ones(3, 4, 5)).shape
    (2, 5)
    """
    _tensor(a, "tensordot")
    _tensor(b, "tensordot")
    na, nb = a._data.ndim, b._data.ndim
    if isinstance(dims, Tensor) and dims._data.ndim == 0:
        dims = int(dims)
    if isinstance(dims, (int, np.integer)) and not isinstance(dims, bool):
        k = int(dims)
        if k < 0:
            raise LaminaValueError(f"tensordot: expects dims >= 0, but got dims={k}")
        if k > min(na, nb):
            raise LaminaValueError(f"tensordot: expects dims < ndim_a or ndim_b, but got "
                                   f"dims={k}")
        da, db = list(range(na - k, na)), list(range(k))
    else:
        if not isinstance(dims, (list, tuple, Tensor)) or len(dims) != 2:
            raise LaminaTypeError(f"tensordot: dims must be an int or a pair of lists of ints, "
                                  f"got {dims!r}")
        da, db = _dims_list(dims[0], "tensordot"), _dims_list(dims[1], "tensordot")
        if len(da) != len(db):
            raise LaminaValueError("tensordot: both dimension lists should have same length")
        da = [_norm_dim(d, na, "tensordot") for d in da]
        db = [_norm_dim(d, nb, "tensordot") for d in db]
    if a._data.dtype != b._data.dtype:
        raise LaminaValueError(f"tensordot: both inputs should have same dtype, got "
                               f"{a._data.dtype} and {b._data.dtype}")
    if len(set(da)) != len(da) or len(set(db)) != len(db):
        raise LaminaValueError(f"tensordot: a dim is contracted twice in {da} or {db}")
    for i, j in zip(da, db):
        if a._data.shape[i] != b._data.shape[j]:
            raise LaminaValueError(
                f"tensordot: contracted dimensions need to match, but first has size "
                f"{a._data.shape[i]} in dim {i} and second has size {b._data.shape[j]} in dim "
                f"{j}")
    la = list(_LETTERS[:na])
    lb = list(_LETTERS[na:na + nb])
    for i, j in zip(da, db):
        lb[j] = la[i]
    out = [c for i, c in enumerate(la) if i not in da] + \
          [c for j, c in enumerate(lb) if j not in db]
    eq = "".join(la) + "," + "".join(lb) + "->" + "".join(out)
    if a._data.dtype.kind == "b":
        raise LaminaTypeError("tensordot: not implemented for bool tensors")
    return einsum(eq, a, b)


def kron(input, other) -> Tensor:  # noqa: A002
    """The Kronecker product: block ``(i, j, ...)`` of the result is ``input[i, j, ...] *
    other``. The shorter shape is padded with leading ones; dtypes promote as in ``mul``.

    >>> kron(eye(2), ones(2, 2)).shape
    (4, 4)
    """
    _tensor(input, "kron")
    _tensor(other, "kron")
    nd = max(input._data.ndim, other._data.ndim)
    sa = (1,) * (nd - input._data.ndim) + input._data.shape
    sb = (1,) * (nd - other._data.ndim) + other._data.shape
    # interleave: a's dims at even positions, b's at odd ones; the product broadcasts
    a = reshape(input, tuple(v for n in sa for v in (n, 1)))
    b = reshape(other, tuple(v for n in sb for v in (1, n)))
    return reshape(mul(a, b), tuple(m * n for m, n in zip(sa, sb)))


# --- cross ------------------------------------------------------------------------------------

class Cross(Function):
    @staticmethod
    def forward(ctx, a, b, dim):
        ctx.a, ctx.b, ctx.dim = a, b, dim
        if a.dtype == np.float32:
            # products of float32 values are exact in float64: one rounding per component,
            # and no inf - inf where only a float32 product would overflow
            return np.cross(a.astype(np.float64), b.astype(np.float64), axis=dim).astype(
                np.float32)
        return np.cross(a, b, axis=dim)

    @staticmethod
    def backward(ctx, g):
        na, nb, _ = ctx.needs_input_grad
        d = ctx.dim
        ga = np.cross(ctx.b, g, axis=d) if na else None
        gb = np.cross(g, ctx.a, axis=d) if nb else None
        return ga, gb, None


def cross(input, other, dim=None) -> Tensor:  # noqa: A002
    """The cross product of 3-vectors along ``dim`` (the two inputs broadcast; they must have
    the same number of dims). ``dim=None`` takes the first dim of size 3, as ``torch.cross``
    does (PyTorch warns that this default will change to -1, ``torch.linalg.cross``'s; lamina
    does not warn).

    >>> cross(tensor([1., 0., 0.]), tensor([0., 1., 0.]))
    tensor([0., 0., 1.])
    """
    _tensor(input, "cross")
    _tensor(other, "cross")
    a, b = input, other
    if a._data.ndim != b._data.ndim:
        raise LaminaValueError(f"cross: inputs must have the same number of dimensions, got "
                               f"shapes {tuple(a.shape)} and {tuple(b.shape)}")
    if a._data.dtype != b._data.dtype:
        raise LaminaValueError(f"cross: inputs must have the same dtype, got {a._data.dtype} "
                               f"and {b._data.dtype}")
    if a._data.dtype.kind == "b":
        raise LaminaTypeError("cross: not implemented for bool tensors (as in PyTorch)")
    try:
        shape = np.broadcast_shapes(a._data.shape, b._data.shape)
    except ValueError:
        raise LaminaValueError(f"cross: the shapes {tuple(a.shape)} and {tuple(b.shape)} cannot "
                               "be broadcast together") from None
    nd = len(shape)
    if dim is None:
        d = next((k for k, n in enumerate(shape) if n == 3), None)
        if d is None:
            raise LaminaValueError(f"cross: no dimension of size 3 in input of shape "
                                   f"{tuple(shape)}")
    else:
        d = _norm_dim(dim, nd, "cross")
    if a._data.shape[d] != 3 or b._data.shape[d] != 3:
        raise LaminaValueError(f"cross: inputs dimension {d} must have length 3, got "
                               f"{a._data.shape[d]} and {b._data.shape[d]}")
    if a._data.shape != shape:
        a = expand(a, shape)
    if b._data.shape != shape:
        b = expand(b, shape)
    return Cross.apply(a, b, d)


# --- cdist ------------------------------------------------------------------------------------

_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
          "donot_use_mm_for_euclid_dist")


_CDIST_BLOCK = 1 << 22      # elements of the (..., rows, R, M) difference array at a time


def _row_blocks(x1, x2):
    """Slices of ``x1``'s rows such that each block's difference array holds about
    ``_CDIST_BLOCK`` elements: memory stays bounded for many points."""
    per_row = max(int(np.prod(x1.shape[:-2])) * x2.shape[-2] * x2.shape[-1], 1)
    step = max(_CDIST_BLOCK // per_row, 1)
    n = x1.shape[-2]
    return [slice(i, min(i + step, n)) for i in range(0, n, step)] or [slice(0, 0)]


def _pnorm(diff, p):
    ad = np.abs(diff)
    if p == 0:
        return np.minimum(np.ceil(ad), 1).sum(-1)        # NaN stays NaN, as in PyTorch
    if p == 1:
        return ad.sum(-1)
    if p == 2:
        return np.sqrt((diff * diff).sum(-1))
    if p == np.inf:
        return np.fmax.reduce(ad, axis=-1, initial=0)    # skips NaN, as PyTorch's max does
    return (ad ** p).sum(-1) ** (1.0 / p)


def _pnorm_grad(diff, p, gd, dd):
    """The derivative of the p-norm ``dd`` of ``diff`` times ``gd``, 0 where ``dd`` is 0."""
    zero = np.zeros((), diff.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        if p == 0:
            return np.zeros_like(diff)
        if p == 1:
            return np.sign(diff) * gd
        if p == 2:
            return np.where(dd == 0, zero, diff * gd / dd)
        if p == np.inf:
            return np.where(np.abs(diff) == dd, np.sign(diff) * gd, zero)
        ad = np.abs(diff)
        gdiff = np.sign(diff) * ad ** (p - 1) * gd / dd ** (p - 1)
        return np.where((dd == 0) | ((ad == 0) & (p < 1)), zero, gdiff)


class Cdist(Function):
    """``dist[..., i, j] = ||x1[..., i, :] - x2[..., j, :]||_p`` from the differences (no
    matrix-product shortcut), a block of ``x1``'s rows at a time. Backward: the derivative of
    the p-norm with respect to each difference, 0 where the distance is 0 (PyTorch's
    subgradient), summed over the other set's points."""

    @staticmethod
    def forward(ctx, x1, x2, p):
        out = np.empty(x1.shape[:-1] + (x2.shape[-2],), x1.dtype)
        for rows in _row_blocks(x1, x2):
            out[..., rows, :] = _pnorm(x1[..., rows, None, :] - x2[..., None, :, :], p)
        ctx.x1, ctx.x2, ctx.p, ctx.out = x1, x2, p, out
        return out

    @staticmethod
    def backward(ctx, g):
        x1, x2, p, dist = ctx.x1, ctx.x2, ctx.p, ctx.out
        n1, n2, _ = ctx.needs_input_grad
        g1 = np.empty(x1.shape, g.dtype) if n1 else None
        g2 = np.zeros(x2.shape, g.dtype) if n2 else None
        for rows in _row_blocks(x1, x2):
            diff = x1[..., rows, None, :] - x2[..., None, :, :]
            gdiff = _pnorm_grad(diff, p, g[..., rows, :, None], dist[..., rows, :, None])
            if n1:
                g1[..., rows, :] = gdiff.sum(-2)
            if n2:
                g2 -= gdiff.sum(-3)
        return g1, g2, None


def cdist(x1, x2, p: float = 2.0, compute_mode: str = "use_mm_for_euclid_dist_if_necessary"
          ) -> Tensor:
    """Pairwise p-norm distances between the rows of ``x1`` (``(..., P, M)``) and of ``x2``
    (``(..., R, M)``): a ``(..., P, R)`` tensor; batch dims broadcast. ``p`` may be any value
    >= 0 (0 counts differing coordinates; ``inf`` is the max norm).

    Unlike PyTorch, lamina always computes from the differences (PyTorch's
    ``'donot_use_mm_for_euclid_dist'``): PyTorch's default for ``p=2`` switches to a
    matrix-product formula when ``P`` or ``R`` exceeds 25, which is faster but less accurate
    (distances of nearly equal points can differ by ~1e-4 relative in float32, and come out
    non-zero where lamina gives 0). ``compute_mode`` is checked and otherwise ignored.
    """
    _tensor(x1, "cdist")
    _tensor(x2, "cdist")
    if compute_mode not in _MODES:
        raise LaminaValueError(f"cdist: {compute_mode!r} is not a valid value for compute_mode")
    for name, t in (("X1", x1), ("X2", x2)):
        if t._data.ndim < 2:
            raise LaminaValueError(f"cdist: only supports at least 2D tensors, {name} got: "
                                   f"{t._data.ndim}D")
        if t._data.dtype.kind != "f":
            raise LaminaValueError(f"cdist: only supports floating-point dtypes, {name} got: "
                                   f"{t._data.dtype}")
    if x1._data.dtype != x2._data.dtype:
        raise LaminaValueError(f"cdist: X1 and X2 must have the same dtype, got "
                               f"{x1._data.dtype} and {x2._data.dtype}")
    if x1._data.shape[-1] != x2._data.shape[-1]:
        raise LaminaValueError(f"cdist: X1 and X2 must have the same number of columns. X1: "
                               f"{x1._data.shape[-1]} X2: {x2._data.shape[-1]}")
    p = float(p)
    if not p >= 0:
        raise LaminaValueError(f"cdist: only supports non-negative p values, got {p}")
    try:
        batch = np.broadcast_shapes(x1._data.shape[:-2], x2._data.shape[:-2])
    except ValueError:
        raise LaminaValueError(f"cdist: the batch dims of {tuple(x1.shape)} and "
                               f"{tuple(x2.shape)} cannot be broadcast together") from None
    a = x1 if x1._data.shape[:-2] == batch else expand(x1, batch + x1._data.shape[-2:])
    b = x2 if x2._data.shape[:-2] == batch else expand(x2, batch + x2._data.shape[-2:])
    return Cdist.apply(a, b, p)


# PyTorch's functions take NumPy's ``axis=`` for ``dim=``
for _name in ("cross").split():
    globals()[_name] = numpy_names(globals()[_name])
del _name
