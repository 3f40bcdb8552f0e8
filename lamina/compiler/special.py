"""Specialised replay lines for the hottest ops: direct NumPy calls instead of the op's
``forward(ctx, ...)`` / ``backward(ctx, ...)``.

The generic replay line of an op calls its static forward and backward through a reused ctx
object: each call is a Python frame, attribute reads and writes on the ctx (``ctx.saved``), and
for some ops NumPy's Python-level wrappers (``ndarray.mean``/``sum``, ``np.errstate``). For the
ops below the recorder instead writes the op's NumPy calls into the replay itself: the very
same calls, with the same operands, in the same order, so the results are bit-identical to
the eager step (tests/compile checks this). What the backward needs from the forward is not
saved on a ctx but kept as the replay's local names (dropped after their last use, as before).

A forward is specialised only when its backward is too (the backward of a specialised node
finds nothing in ``ctx.saved`` at replay), and only in the common case (2-D ``linear``,
``mse_loss`` with ``reduction='mean'`` on float32/float64, non-0-d activations); every other
case keeps the generic line.

Differs from eager mode in one way, on purpose: a replay that contains a sigmoid runs its
element-wise work under ``np.errstate(over='ignore')`` (one context for the whole replay
instead of one per sigmoid: entering it costs about as much as the sigmoid), so an overflow
elsewhere in that replay does not warn. Values are unchanged.
"""

from __future__ import annotations

import numpy as np

from lamina.ops.elementwise import Add, Mul, Sigmoid, Sub, Tanh
from lamina.ops.linalg import MatMul
from lamina.ops.loss import MSE
from lamina.ops.nn import Linear

__all__ = ["NAMESPACE", "forward", "backward"]

# NumPy functions the specialised lines call, by the names they use in the replay
NAMESPACE = {"_tanh": np.tanh, "_negative": np.negative, "_exp": np.exp, "_add": np.add,
             "_reciprocal": np.reciprocal, "_add_reduce": np.add.reduce,
             "_asarray": np.asarray}


def forward(rec, cls, ctx, raw, names, out):
    """Emit the specialised forward of ``cls`` into ``rec`` and return its output's name, or
    None to keep the generic line. ``raw`` are the eager arguments, ``names`` their replay
    names, ``out`` the eager output."""
    emit = _FORWARD.get(cls)
    if emit is None or type(out) is not np.ndarray or ctx.needs_input_grad is None:
        return None
    return emit(rec, ctx, raw, names, out)


def backward(rec, node, gname):
    """Emit the specialised backward of a node whose forward was specialised: ``{input index:
    gradient name}`` for the inputs that need a gradient."""
    emit, state = rec.special[id(node)]       # kept: a retained graph may run it again
    out = emit(rec, node, gname, *state)
    passed = {i: n for i, n in out.items() if n == gname}
    for i in passed:        # the incoming gradient passed on (add, sub): a name of its own
        out[i] = _fresh(rec, "g")
        rec.emit(f"{out[i]} = {gname}", [gname], [out[i]])
    rec.fresh_grads.update(n for i, n in out.items() if i not in passed)   # new arrays
    return out


def _fresh(rec, prefix="v"):
    return rec.fresh(prefix)


def _emit(rec, code, uses, defs=()):
    """``rec.emit`` with only the replay's variables as uses (not constants' names)."""
    rec.emit(code, [n for n in uses if n[0] in "aevg"], defs)


# --- linear ----------------------------------------------------------------------------------

def _linear_fwd(rec, ctx, raw, names, out):
    x, w, b = raw
    if x.ndim != 2:
        return None
    nx, nw, nb = names
    v = _fresh(rec)
    # Linear.forward: out = x @ w.T; out += b
    _emit(rec, f"{v} = {nx} @ {nw}.T", [nx, nw], [v])
    if b is not None:
        _emit(rec, f"{v} += {nb}", [v, nb], [v])
    rec.special[id(ctx)] = (_linear_bwd, (nx, nw))
    return v


def _linear_bwd(rec, node, g, nx, nw):
    need_x, need_w, need_b = node.needs_input_grad
    out = {}
    # Linear.backward: gx = g @ w, gw = g.T @ x, gb = g.sum(axis=0) (``ndarray.sum`` is
    # ``np.add.reduce`` with the same arguments, less NumPy's Python wrapper)
    if need_x:
        out[0] = _fresh(rec, "g")
        _emit(rec, f"{out[0]} = {g} @ {nw}", [g, nw], [out[0]])
    if need_w:
        out[1] = _fresh(rec, "g")
        _emit(rec, f"{out[1]} = {g}.T @ {nx}", [g, nx], [out[1]])
    if need_b:
        out[2] = _fresh(rec, "g")
        _emit(rec, f"{out[2]} = _add_reduce({g}, 0)", [g], [out[2]])
    return out


# --- tanh, sigmoid ---------------------------------------------------------------------------

def _tanh_fwd(rec, ctx, raw, names, out):
    v = _fresh(rec)
    _emit(rec, f"{v} = _tanh({names[0]})", [names[0]], [v])
    rec.special[id(ctx)] = (_tanh_bwd, (v,))
    return v


def _tanh_bwd(rec, node, g, y):
    gi = _fresh(rec, "g")
    _emit(rec, f"{gi} = {g} * (1 - {y} * {y})", [g, y], [gi])     # Tanh.backward
    return {0: gi}


def _sigmoid_fwd(rec, ctx, raw, names, out):
    if raw[0].ndim == 0:
        return None
    a, v = names[0], _fresh(rec)
    # Sigmoid.forward, in place on one buffer; its errstate(over='ignore') is the replay's
    _emit(rec, f"{v} = _negative({a})", [a], [v])
    _emit(rec, f"_exp({v}, out={v})", [v], [v])
    _emit(rec, f"_add({v}, 1.0, out={v})", [v], [v])
    _emit(rec, f"_reciprocal({v}, out={v})", [v], [v])
    rec.ignore_overflow = True
    rec.special[id(ctx)] = (_sigmoid_bwd, (v,))
    return v


def _sigmoid_bwd(rec, node, g, y):
    gi = _fresh(rec, "g")
    _emit(rec, f"{gi} = {g} * {y} * (1 - {y})", [g, y], [gi])     # Sigmoid.backward
    return {0: gi}


# --- mse_loss --------------------------------------------------------------------------------

def _mse_fwd(rec, ctx, raw, names, out):
    x, t, reduction = raw[:3]
    if len(raw) != 3 or reduction != "mean" or x.dtype not in (np.float32, np.float64) \
            or t.dtype != x.dtype:
        return None
    n = ctx.n                       # the number of loss elements (x and t broadcast)
    if n == 0:
        return None
    d, sq, s, v = (_fresh(rec) for _ in range(4))
    nx, nt = names[:2]
    # MSE._loss: d = x - t, loss = d * d; _reduce: asarray(loss.mean(), dtype), where
    # ndarray.mean of a float32/64 array is add.reduce, then ``F(s / intp(n))``
    _emit(rec, f"{d} = {nx} - {nt}", [nx, nt], [d])
    _emit(rec, f"{sq} = {d} * {d}", [d], [sq])
    _emit(rec, f"{s} = _add_reduce({sq}, None, None, None, False)", [sq], [s])
    _emit(rec, f"{v} = _asarray({rec.const(x.dtype.type)}({s} / {rec.const(np.intp(n))}), "
             f"dtype={rec.const(x.dtype)})", [s], [v])
    rec.special[id(ctx)] = (_mse_bwd, (d, n))
    return v


def _mse_bwd(rec, node, g, d, n):
    need_x, need_t = node.needs_input_grad[:2]
    c, d2 = _fresh(rec, "g"), _fresh(rec, "g")
    # _Pointwise.backward: c = g / n; MSE._grads: d2 = 2.0 * d; dx = d2 * c, dt = -d2 * c
    _emit(rec, f"{c} = {g} / {rec.const(n)}", [g], [c])
    _emit(rec, f"{d2} = 2.0 * {d}", [d], [d2])
    out = {}
    if need_x:
        out[0] = _fresh(rec, "g")
        _emit(rec, f"{out[0]} = {d2} * {c}", [d2, c], [out[0]])
    if need_t:
        out[1] = _fresh(rec, "g")
        _emit(rec, f"{out[1]} = -{d2} * {c}", [d2, c], [out[1]])
    return out


# --- add, sub, mul (any broadcasting: the engine sums gradients to each input's shape) ----

def _binary_fwd(symbol, bwd):
    def fwd(rec, ctx, raw, names, out):
        a, b = names
        v = _fresh(rec)
        _emit(rec, f"{v} = {a} {symbol} {b}", [a, b], [v])       # Add/Sub/Mul.forward
        rec.special[id(ctx)] = (bwd, (a, b))
        return v
    return fwd


def _add_bwd(rec, node, g, a, b):
    na, nb = node.needs_input_grad                             # Add.backward: g, g
    return {i: g for i, n in enumerate((na, nb)) if n}


def _sub_bwd(rec, node, g, a, b):
    na, nb = node.needs_input_grad                             # Sub.backward: g, -g
    out = {0: g} if na else {}
    if nb:
        out[1] = _fresh(rec, "g")
        _emit(rec, f"{out[1]} = -{g}", [g], [out[1]])
    return out


def _mul_bwd(rec, node, g, a, b):
    na, nb = node.needs_input_grad                             # Mul.backward: g * b, g * a
    out = {}
    if na:
        out[0] = _fresh(rec, "g")
        _emit(rec, f"{out[0]} = {g} * {b}", [g, b], [out[0]])
    if nb:
        out[1] = _fresh(rec, "g")
        _emit(rec, f"{out[1]} = {g} * {a}", [g, a], [out[1]])
    return out


# --- matmul of two matrices ------------------------------------------------------------------

def _matmul_fwd(rec, ctx, raw, names, out):
    if raw[0].ndim != 2 or raw[1].ndim != 2:
        return None
    a, b = names
    v = _fresh(rec)
    _emit(rec, f"{v} = {a} @ {b}", [a, b], [v])                  # MatMul.forward
    rec.special[id(ctx)] = (_matmul_bwd, (a, b))
    return v


def _matmul_bwd(rec, node, g, a, b):
    na, nb = node.needs_input_grad
    out = {}
    # MatMul.backward (2-D): ga = g @ b.swapaxes(-1, -2), gb = a.swapaxes(-1, -2) @ g
    if na:
        out[0] = _fresh(rec, "g")
        _emit(rec, f"{out[0]} = {g} @ {b}.swapaxes(-1, -2)", [g, b], [out[0]])
    if nb:
        out[1] = _fresh(rec, "g")
        _emit(rec, f"{out[1]} = {a}.swapaxes(-1, -2) @ {g}", [g, a], [out[1]])
    return out


_FORWARD = {Add: _binary_fwd("+", _add_bwd), Sub: _binary_fwd("-", _sub_bwd),
            Mul: _binary_fwd("*", _mul_bwd), MatMul: _matmul_fwd, Linear: _linear_fwd,
            Tanh: _tanh_fwd, Sigmoid: _sigmoid_fwd, MSE: _mse_fwd}
