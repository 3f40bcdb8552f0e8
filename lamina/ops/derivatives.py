"""Backward written in lamina ops, for gradients of gradients (``create_graph=True``).

Every op's ordinary ``backward`` works on NumPy arrays, which is fast but not recorded. With
``create_graph=True`` the engine (``lamina/autograd/create_graph.py``) instead calls the op's
``backward_graph(ctx, *grads)``: the same derivative written with lamina ops on tensors, so it
is itself part of a graph and can be differentiated again. This module attaches one to each
covered op class, in one place, as PyTorch keeps its formulas in ``derivatives.yaml``. A
kernel class that replaces a reference op at runtime (``lamina/kernels``) subclasses it and
inherits its ``backward_graph``, which reads only ``ctx.inputs`` (the arguments of ``apply``),
never what a particular ``forward`` saved.

Four ways to write one, simplest first:

* a formula, ``g * f'(x)`` (``_unary``) or a short expression of the inputs;
* ``_slope``: the op is piecewise linear (relu, abs, clamp, max, ...), so its derivative is a
  locally constant array, read off the op's own array backward; the gradient is ``g`` times
  it (the second derivative is zero almost everywhere, as in PyTorch);
* ``_linear``: the op is linear in an input (reshape, sum, indexing, pooling, ...) or linear
  with a locally constant selection (max pooling). Its backward ``g -> J^T g`` is the array
  backward, wrapped as the op ``LinearBackward`` whose own derivative is ``u -> J u``: the op
  itself applied to ``u``. Bilinear ops (matmul, linear, conv) use ``BilinearGrad`` the same
  way for each factor;
* ``_composed``: the op is written again as a composition of covered ops (the losses, the
  normalisations, softplus, ...) and differentiated through that, recorded.

An op with none raises ``LaminaError`` from the engine, naming it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from lamina.autograd.create_graph import run_backward_graph, sum_to
from lamina.autograd.function import Function
from lamina.autograd.grad_mode import no_grad
from lamina.errors import LaminaError
from lamina.ops import (
    attention,
    contraction,
    conv,
    conv3d,
    cumulative,
    fold,
    indexing,
    linalg,
    linalg_decomp,
    loss,
    movement,
    nn,
    padding,
    pool,
    pool3d,
    resample,
    rnn,
    scattering,
    shaping,
)
from lamina.ops import elementwise as E
from lamina.ops import reduce as R
from lamina.ops import rms_norm as rms
from lamina.ops import special as S
from lamina.tensor import Tensor, _make

_new = object.__new__


def _tensor_slots(ctx):
    """Positions of the tensor arguments of ``apply`` that need a gradient."""
    return [i for i, (a, n) in enumerate(zip(ctx.inputs, ctx.needs_input_grad))
            if n and isinstance(a, Tensor)]


def _per_slot(ctx, grads: dict):
    """One entry per argument of ``apply``: ``grads[i]`` or None."""
    return tuple(grads.get(i) for i in range(len(ctx.inputs)))


def _const(arr) -> Tensor:
    return _make(np.asarray(arr))


# --- 1. formulas -----------------------------------------------------------------------------

def _unary(cls, dfdx):
    """``backward_graph`` of an elementwise op of one tensor (argument 0; the rest are plain
    parameters): ``g * dfdx(x, *params)``."""
    def backward_graph(ctx, g):
        x, *params = ctx.inputs
        return (g * dfdx(x, *params), *([None] * len(params)))
    cls.backward_graph = staticmethod(backward_graph)


# --- 2. piecewise-linear ops -----------------------------------------------------------------

def _slope(cls):
    """``backward_graph`` of an elementwise op whose derivative is locally constant: its array
    backward at ``g = 1`` is that derivative (one array per input), and the gradient is ``g``
    times it, recorded in ``g``."""
    def backward_graph(ctx, g):
        ones = np.ones(g.shape, g._data.dtype)
        slopes = ctx.backward(ctx, ones)
        if type(slopes) is not tuple:
            slopes = (slopes,)
        return _per_slot(ctx, {i: g * _const(slopes[i]) for i in _tensor_slots(ctx)
                               if slopes[i] is not None})
    cls.backward_graph = staticmethod(backward_graph)


# --- 3. linear ops ---------------------------------------------------------------------------

class LinearBackward(Function):
    """``g -> J^T g`` for input ``which`` of a recorded node whose Jacobian ``J`` does not
    depend (locally) on its inputs' values. Forward runs the node's array backward; the
    derivative in ``g`` is ``jvp(u) = J u``, a function on tensors given by the op."""

    @staticmethod
    def forward(ctx, g, node, which, jvp):
        grads = node.backward(node, g, *([None] * (node.n_out - 1)))
        if type(grads) is not tuple:
            grads = (grads,)
        x = node.inputs[which]._data
        with no_grad():
            out = sum_to(_const(grads[which]), x.shape)._data
        if np.may_share_memory(out, g):
            out = out.copy()
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, gg):
        with no_grad():
            return ctx.inputs[3](_make(gg))._data, None, None, None

    @staticmethod
    def backward_graph(ctx, gg):
        return ctx.inputs[3](gg), None, None, None


def _linear(cls, jvp=None, slots=None):
    """``backward_graph`` of an op linear in its tensor inputs (or in the ones listed in
    ``slots``). ``jvp(op, i, u)`` is ``J_i u`` (``op``: the node's class and
    arguments, an ``_Op``); by default the op applied to ``u`` in slot
    ``i`` with zeros in the other tensor slots."""
    cls.backward_graph = staticmethod(_linear_graph(jvp, slots))


def _linear_graph(jvp=None, slots=None):
    """The function ``_linear`` attaches (also used alone by an op linear in some modes
    only)."""
    jvp = jvp or _apply_in_slot

    def backward_graph(ctx, *gs):
        node = ctx
        op = _Op(type(ctx), tuple(ctx.inputs))  # kept: backward may free the node's inputs
        out = {}
        for i in _tensor_slots(ctx):
            if slots is not None and i not in slots:
                raise LaminaError(f"{type(ctx).__name__}: double backward (create_graph=True) "
                                  f"is not implemented for input {i} of this op")
            out[i] = LinearBackward.apply(gs[0], node, i, lambda u, i=i: jvp(op, i, u))
        return _per_slot(ctx, out)
    return backward_graph


class _Op(NamedTuple):
    """A recorded op's class and the arguments its ``apply`` got."""
    cls: type
    inputs: tuple


def _apply_in_slot(node, i, u):
    """The op of ``node`` applied again with ``u`` in argument ``i`` (other tensor arguments
    as zero constants, so the result is ``J_i u`` for a linear op)."""
    args = list(node.inputs)
    for k, a in enumerate(args):
        if isinstance(a, Tensor) and k != i and a._data.dtype.kind == "f":
            args[k] = np.zeros_like(a._data)   # another differentiable input: zero
    args[i] = u
    out = node.cls.apply(*args)
    return out[0] if type(out) is tuple else out


def _select_jvp(node, i, u):
    """``J u`` for an op that picks one input element per output element (max pooling, max
    along a dim): the op's own selection, repeated on ``u`` by ``_selected``."""
    return _selected(node, u)


# --- 4. bilinear ops -------------------------------------------------------------------------

class BilinearGrad(Function):
    """The gradient of a bilinear op ``f(..., a_i, ..., a_j, ...)`` (matmul, linear, conv)
    with respect to argument ``i``, as a function of the output gradient ``g`` and the other
    factor ``other`` (argument ``j``). Forward runs the op's own forward and array backward.
    It is linear in ``g`` (derivative: ``f`` with ``u`` in slot ``i``) and in ``other``
    (derivative: the gradient of ``f`` for slot ``j``, with ``u`` in slot ``i``), so its
    derivatives are ``f`` and ``BilinearGrad`` again, to any order."""

    @staticmethod
    def forward(ctx, g, other, op, args, i, j):
        a = [x._data if isinstance(x, Tensor) else x for x in args]
        a[j] = other
        c = _new(op)
        c.saved = c.saved_versions = ()
        c.needs_input_grad = tuple(k == i for k in range(len(a)))
        c.inputs = args
        c.n_out = 1
        op.forward(c, *a)
        grads = op.backward(c, g)
        shape = a[i].shape
        with no_grad():
            out = sum_to(_const(grads[i]), shape)._data
        return out.astype(a[i].dtype, copy=False)

    @staticmethod
    def backward(ctx, gg):
        with no_grad():
            res = BilinearGrad.backward_graph(ctx, _make(gg))
        return tuple(r._data if isinstance(r, Tensor) else r for r in res)

    @staticmethod
    def backward_graph(ctx, u):
        g, other, op, args, i, j = ctx.inputs
        n_g, n_o = ctx.needs_input_grad[:2]
        a = list(args)
        a[i], a[j] = u, other
        dg = op.apply(*a) if n_g else None
        do = BilinearGrad.apply(g, u, op, args, j, i) if n_o else None
        return dg, do, None, None, None, None


def _bilinear(cls, pair=(0, 1), bias=None, bias_grad=None):
    """``backward_graph`` of an op bilinear in arguments ``pair`` plus an optional additive
    ``bias`` argument whose gradient is ``bias_grad(g)``."""
    i0, i1 = pair

    def backward_graph(ctx, g):
        args = list(ctx.inputs)
        if bias is not None:
            args[bias] = None
        args = tuple(args)
        out = {}
        need = set(_tensor_slots(ctx))
        if i0 in need:
            out[i0] = BilinearGrad.apply(g, ctx.inputs[i1], type(ctx), args, i0, i1)
        if i1 in need:
            out[i1] = BilinearGrad.apply(g, ctx.inputs[i0], type(ctx), args, i1, i0)
        if bias is not None and bias in need:
            out[bias] = bias_grad(g)
        return _per_slot(ctx, out)
    cls.backward_graph = staticmethod(backward_graph)


class MultilinearGrad(Function):
    """``BilinearGrad`` for an op linear in each of several arguments ``slots`` separately
    (einsum of any number of operands): the gradient for slot ``i`` as a function of the output
    gradient ``g`` and the other factors ``factors`` (one per slot, None at ``i``). It is
    linear in ``g`` (derivative: the op with ``u`` in slot ``i``) and in each other factor
    ``j`` (derivative: the gradient for slot ``j`` with ``u`` in slot ``i``), so its
    derivatives are the op and ``MultilinearGrad`` again, to any order."""

    @staticmethod
    def forward(ctx, g, op, args, i, slots, *factors):
        a = [x._data if isinstance(x, Tensor) else x for x in args]
        for k, f in zip(slots, factors):
            if k != i:
                a[k] = f
        c = _new(op)
        c.saved = c.saved_versions = ()
        c.needs_input_grad = tuple(k == i for k in range(len(a)))
        c.inputs = args
        c.n_out = 1
        op.forward(c, *a)
        grads = op.backward(c, g)
        with no_grad():
            out = sum_to(_const(grads[i]), a[i].shape)._data
        return out.astype(a[i].dtype, copy=False)

    @staticmethod
    def backward(ctx, gg):
        with no_grad():
            res = MultilinearGrad.backward_graph(ctx, _make(gg))
        return tuple(r._data if isinstance(r, Tensor) else r for r in res)

    @staticmethod
    def backward_graph(ctx, u):
        g, op, args, i, slots, *factors = ctx.inputs
        need = ctx.needs_input_grad
        out = [None] * len(ctx.inputs)
        if need[0]:
            a = list(args)
            for k, f in zip(slots, factors):
                a[k] = f
            a[i] = u
            out[0] = op.apply(*a)
        for n, j in enumerate(slots):
            if j != i and need[5 + n]:
                fs = list(factors)
                fs[slots.index(i)], fs[n] = u, None
                out[5 + n] = MultilinearGrad.apply(g, op, args, j, slots, *fs)
        return tuple(out)


def _multilinear(cls, slots):
    """``backward_graph`` of an op linear in each argument of ``slots`` separately."""
    def backward_graph(ctx, g):
        sl = slots(ctx)
        args = tuple(ctx.inputs)
        return _per_slot(ctx, {i: MultilinearGrad.apply(
            g, type(ctx), args, i, sl, *[None if k == i else args[k] for k in sl])
            for i in _tensor_slots(ctx)})
    cls.backward_graph = staticmethod(backward_graph)


# --- 5. composed ops -------------------------------------------------------------------------

def _composed(cls, compose):
    """``backward_graph`` of an op written again as ``compose(*args)``, a composition of
    covered ops on the same arguments: the gradient through that composition, recorded. The
    inputs are first passed through ``clone`` so the inner walk stops there."""
    def backward_graph(ctx, *gs):
        slots = _tensor_slots(ctx)
        args = list(ctx.inputs)
        aliases = []
        for i in slots:
            args[i] = E.clone(args[i])
            aliases.append(args[i])
        out = compose(*args)
        outs = list(out) if type(out) is tuple else [out]
        pairs = [(o, g) for o, g in zip(outs, gs) if g is not None and o.requires_grad]
        grads = run_backward_graph([o for o, _ in pairs], [g for _, g in pairs],
                                   capture=aliases, allow_unused=True,
                                   stop={a._ctx for a in aliases})
        return _per_slot(ctx, {i: (gi if gi is not None else E.mul(aliases[k], 0.0))
                               for k, (i, gi) in enumerate(zip(slots, grads))})
    cls.backward_graph = staticmethod(backward_graph)


# =============================================================================================
# The table
# =============================================================================================

def _binary_arith():
    E.Add.backward_graph = staticmethod(lambda ctx, g: _per_slot(
        ctx, {i: g for i in _tensor_slots(ctx)}))
    E.Sub.backward_graph = staticmethod(lambda ctx, g: _per_slot(
        ctx, {i: (g if i == 0 else -g) for i in _tensor_slots(ctx)}))

    def mul(ctx, g):
        a, b = ctx.inputs
        return _per_slot(ctx, {i: g * (b if i == 0 else a) for i in _tensor_slots(ctx)})
    E.Mul.backward_graph = staticmethod(mul)

    def div(ctx, g):
        a, b = ctx.inputs
        return _per_slot(ctx, {i: (g / b if i == 0 else -g * a / (b * b))
                               for i in _tensor_slots(ctx)})
    E.Div.backward_graph = staticmethod(div)

    def pow_(ctx, g):
        a, b = ctx.inputs
        out = {}
        for i in _tensor_slots(ctx):
            if i == 0:
                bd = b._data if isinstance(b, Tensor) else np.asarray(b)
                if not isinstance(b, Tensor) and b == 0:
                    out[0] = g * 0.0
                else:
                    # d/da a^b = b a^(b-1), 0 where b == 0 (PyTorch's convention)
                    d = b * E.pow(a, b - 1)
                    out[0] = g * E.where(_const(bd == 0), 0.0, d) if (bd == 0).any() else g * d
            else:
                # d/db a^b = a^b log a, 0 where a == 0 and b >= 0 (as PyTorch)
                ad = a._data if isinstance(a, Tensor) else np.asarray(a)
                safe = E.where(_const(ad == 0), 1.0, a) if isinstance(a, Tensor) else \
                    _const(np.where(ad == 0, 1.0, ad))
                out[1] = g * E.pow(a, b) * E.log(safe)
        return _per_slot(ctx, out)
    E.Pow.backward_graph = staticmethod(pow_)


_LN2, _LN10 = math.log(2.0), math.log(10.0)
_SQRT_PI = math.sqrt(math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _sigmoid_d(x):
    s = E.sigmoid(x)
    return s * (1.0 - s)


def _unary_table():
    u = _unary
    u(E.Exp, lambda x: E.exp(x))
    u(E.Log, lambda x: 1.0 / x)
    u(E.Log1p, lambda x: 1.0 / (x + 1.0))
    u(E.Log2, lambda x: 1.0 / (x * _LN2))
    u(E.Sqrt, lambda x: 0.5 / E.sqrt(x))
    u(E.Rsqrt, lambda x: -0.5 * E.rsqrt(x) / x)
    u(E.Sin, lambda x: E.cos(x))
    u(E.Cos, lambda x: -E.sin(x))
    u(E.Tanh, lambda x: 1.0 - E.tanh(x) ** 2)
    u(E.Sigmoid, _sigmoid_d)
    u(S.tan.Function, lambda x: 1.0 + S.tan(x) ** 2)
    u(S.asin.Function, lambda x: E.rsqrt(1.0 - x * x))
    u(S.acos.Function, lambda x: -E.rsqrt(1.0 - x * x))
    u(S.atan.Function, lambda x: 1.0 / (1.0 + x * x))
    u(S.sinh.Function, lambda x: S.cosh(x))
    u(S.cosh.Function, lambda x: S.sinh(x))
    u(S.asinh.Function, lambda x: E.rsqrt(x * x + 1.0))
    u(S.acosh.Function, lambda x: E.rsqrt((x - 1.0) * (x + 1.0)))
    u(S.atanh.Function, lambda x: 1.0 / (1.0 - x * x))
    u(S.exp2.Function, lambda x: S.exp2(x) * _LN2)
    u(S.expm1.Function, lambda x: E.exp(x))
    u(S.log10.Function, lambda x: 1.0 / (x * _LN10))
    u(S.erf.Function, lambda x: (2.0 / _SQRT_PI) * E.exp(-x * x))
    u(S.erfc.Function, lambda x: (-2.0 / _SQRT_PI) * E.exp(-x * x))
    u(S.erfinv.Function, lambda x: (0.5 * _SQRT_PI) * E.exp(S.erfinv(x) ** 2))
    u(S.lgamma.Function, lambda x: S.digamma(x))
    u(S.sinc.Function, _sinc_d)
    # activations (lamina/ops/nn.py)
    u(nn.Elu, lambda x, alpha: E.where(_const(x._data <= 0),
                                       alpha * E.exp(E.clamp(x, max=0.0)), 1.0))
    u(nn.Gelu, _gelu_d)
    u(nn.Silu, lambda x: E.sigmoid(x) * (1.0 + x * (1.0 - E.sigmoid(x))))
    u(nn.Softplus, lambda x, beta, th: E.where(_const(x._data * beta > th), 1.0,
                                               E.sigmoid(x * beta)))
    u(nn.Hardswish, lambda x: E.where(_const((x._data >= -3.0) & (x._data <= 3.0)),
                                      x / 3.0 + 0.5, _const((x._data > 3.0) * 1.0)))
    u(nn.Logsigmoid, lambda x: E.sigmoid(-x))
    u(nn.Softsign, lambda x: 1.0 / (1.0 + E.abs(x)) ** 2)
    u(nn.Celu, lambda x, alpha, beta, scale: E.where(
        _const(x._data <= 0), (scale * alpha / beta) * E.exp(E.clamp(x, max=0.0) / beta), scale))
    u(nn.Mish, _mish_d)
    u(nn.Tanhshrink, lambda x: E.tanh(x) ** 2)


def _gelu_d(x, approximate):
    if approximate == "tanh":
        k = math.sqrt(2.0 / math.pi)
        t = E.tanh(k * (x + 0.044715 * x * x * x))
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * (k * (1.0 + 3 * 0.044715 * x * x))
    cdf = 0.5 * (1.0 + S.erf(x * (1.0 / math.sqrt(2.0))))
    return cdf + x * E.exp(-0.5 * x * x) * _INV_SQRT_2PI


def _sinc_d(x):
    # (cos(pi x) - sinc(x)) / x, 0 at x = 0
    zero = _const(x._data == 0)
    safe = E.where(zero, 1.0, x)
    return E.where(zero, 0.0, (E.cos(math.pi * safe) - S.sinc(safe)) / safe)


def _mish_d(x):
    t = E.tanh(nn.softplus(x))
    return t + x * (1.0 - t * t) * E.sigmoid(x)


def _piecewise_table():
    for cls in (E.Relu, E.LeakyRelu, E.Clamp, E.Maximum, E.Minimum, E.Where, E.Abs, E.Sign,
                E.Remainder, E.Neg, E.Clone, E.Cast, nn.Hardtanh, nn.Hardsigmoid,
                nn.Threshold, nn.Heaviside, nn.Dropout, S.NanToNum, S.Fmod, S.Copysign,
                S._frac.Function):
        _slope(cls)


# --- reductions ------------------------------------------------------------------------------

def _keep(g, axes, keepdim):
    """A reduced gradient with its reduced axes back as size 1, to broadcast against x."""
    if keepdim or not axes:
        return g
    shape = list(g.shape)
    for a in sorted(axes):
        shape.insert(a, 1)
    return g.reshape(tuple(shape))


def _reductions():
    _linear(R.Sum)
    _linear(R.Mean)
    _linear(R.Cumsum)

    # max/min over everything or several dims: g times the (locally constant) share of each
    # extreme element, read off the array backward
    def extreme(ctx, g):
        x, *rest = ctx.inputs
        ones = np.ones(g.shape, g._data.dtype)
        share = ctx.backward(ctx, ones)[0]
        if type(ctx) is R.ExtremeDims:
            g = _keep(g, ctx.inputs[1], ctx.inputs[2])
        return (g * _const(share), *([None] * len(rest)))
    R.ExtremeAll.backward_graph = staticmethod(extreme)
    R.ExtremeDims.backward_graph = staticmethod(extreme)
    _linear(R.ExtremeDim, jvp=_select_jvp)

    def var_std(x, axes, correction, keepdim, take_sqrt):
        n = int(np.prod([x.shape[a] for a in axes])) if axes else 1
        mu = R.mean(x, dim=axes, keepdim=True)
        d = x - mu
        v = R.sum(d * d, dim=axes, keepdim=keepdim) / max(0.0, n - correction)
        return E.sqrt(v) if take_sqrt else v
    _composed(R.VarStd, var_std)

    def prod(x, axes, keepdim):
        if (x._data == 0).any():
            raise LaminaError("Prod: double backward (create_graph=True) is not implemented "
                              "for an input holding zeros")
        return E.exp(R.sum(E.log(E.abs(x)), dim=axes, keepdim=keepdim)) * \
            _const(np.prod(np.sign(x._data), axis=axes, keepdims=keepdim))
    _composed(R.Prod, prod)

    def logsumexp(ctx, g):
        x, axes, keepdim = ctx.inputs
        y = R.LogSumExp.apply(x, axes, keepdim)
        return _keep(g, axes, keepdim) * E.exp(x - _keep(y, axes, keepdim)), None, None
    R.LogSumExp.backward_graph = staticmethod(logsumexp)

    def vector_norm(x, p, axes, keepdim):
        if p == 2:
            return E.sqrt(R.sum(x * x, dim=axes, keepdim=keepdim))
        if p == 1:
            return R.sum(E.abs(x), dim=axes, keepdim=keepdim)
        if p in (np.inf, -np.inf):
            return (R.amax if p > 0 else R.amin)(E.abs(x), dim=axes, keepdim=keepdim)
        if p == 0:
            return R.sum(x * 0.0, dim=axes, keepdim=keepdim) + _const(
                (x._data != 0).sum(axis=axes, keepdims=keepdim).astype(x._data.dtype))
        return R.sum(E.abs(x) ** p, dim=axes, keepdim=keepdim) ** (1.0 / p)
    _composed(R.VectorNorm, vector_norm)

    def softmax(ctx, g):
        x, axis = ctx.inputs
        y = R.Softmax.apply(x, axis)
        if x.ndim == 0:
            return g * 0.0, None
        return y * (g - R.sum(g * y, dim=axis, keepdim=True)), None
    R.Softmax.backward_graph = staticmethod(softmax)

    def log_softmax(ctx, g):
        x, axis = ctx.inputs
        if x.ndim == 0:
            return g * 0.0, None
        return g - R.Softmax.apply(x, axis) * R.sum(g, dim=axis, keepdim=True), None
    R.LogSoftmax.backward_graph = staticmethod(log_softmax)


# --- max selections: ``J u`` is ``u`` at the selected positions ------------------------------

def _selected(node, u):
    """``u`` picked where the forward of ``node`` picked its input (max along a dim, max
    pooling), recomputing the reference op's indices from the input's values."""
    x = node.inputs[0]._data
    args = [a._data if isinstance(a, Tensor) else a for a in node.inputs]
    kind = node.cls
    if issubclass(kind, R.ExtremeDim):
        _, axis, keepdim, is_max = args
        if x.ndim == 0:
            return u
        idx = (x.argmax if is_max else x.argmin)(axis=axis, keepdims=True)
        picked = indexing.gather(u, axis, _const(idx))
        return picked if keepdim else picked.squeeze(axis)
    if issubclass(kind, cumulative.CumExtreme):
        _, axis, is_max = args
        if x.ndim == 0:
            return u
        idx = cumulative.CumExtreme.forward(_bare(cumulative.CumExtreme), *args)[1]
        return indexing.gather(u, axis, _const(idx))
    if issubclass(kind, pool.MaxPool2dFn):
        c = _new(pool.MaxPool2dFn)
        c.saved = ()
        c.needs_input_grad = None
        idx = pool.MaxPool2dFn.forward(c, *args[:-1], True)[1]
    else:                                               # AdaptiveMaxPool2dFn
        idx = pool.AdaptiveMaxPool2dFn.forward(_bare(pool.AdaptiveMaxPool2dFn), *args)[1]
    lead = u.shape[:-2]
    flat = movement.reshape(u, (*lead, -1))
    out = indexing.gather(flat, -1, _const(idx.reshape(*lead, -1)))
    return movement.reshape(out, idx.shape)


def _bare(cls):
    c = _new(cls)
    c.saved = ()
    c.needs_input_grad = None
    return c


# --- movement and indexing -------------------------------------------------------------------

def _movement():
    _linear(indexing.Scatter)
    for cls in (movement.Reshape, movement.Expand, movement.Permute, movement.Flip,
                movement.Repeat, indexing.GetItem, indexing.BasicItem, indexing.Gather,
                indexing.IndexSelect, indexing.ScatterAdd, movement.Cat, movement.Stack):
        _linear(cls)

    def pad_jvp(node, i, u):         # a constant fill value is not part of the derivative
        x, pairs, value = node.inputs
        return movement.Pad.apply(u, pairs, 0.0)
    _linear(movement.Pad, jvp=pad_jvp)

    def masked_fill(ctx, g):
        x, mask, value = ctx.inputs
        m = mask._data if isinstance(mask, Tensor) else mask
        return indexing.masked_fill(g, _const(m), 0.0), None, None
    indexing.MaskedFill.backward_graph = staticmethod(masked_fill)

    def split(ctx, *gs):
        x, dim, bounds = ctx.inputs
        parts = []
        for g, (s, e) in zip(gs, bounds):
            if g is None:
                shape = list(x.shape)
                shape[dim] = e - s
                g = _const(np.zeros(shape, x._data.dtype))
            parts.append(g)
        return movement.cat(parts, dim), None, None
    movement.Split.backward_graph = staticmethod(split)


# --- matmul, linear, conv --------------------------------------------------------------------

def _bilinear_table():
    _bilinear(linalg.MatMul)
    _bilinear(nn.Linear, bias=2, bias_grad=lambda g: g if g.ndim == 1 else
              R.sum(g, dim=tuple(range(g.ndim - 1))))        # (dim=() would sum everything)

    def conv_bias(g):
        return R.sum(g, dim=(0, *range(2, g.ndim)))
    _bilinear(conv.Conv2dFn, bias=2, bias_grad=conv_bias)
    _bilinear(conv.ConvTranspose2dFn, bias=2, bias_grad=conv_bias)

    def prelu(ctx, g):
        x, w = ctx.inputs
        pos = _const(x._data > 0)
        if x.ndim >= 2 and w.numel() > 1:
            ws = movement.reshape(w, (1, -1) + (1,) * (x.ndim - 2))
        else:
            ws = movement.reshape(w, (-1,))[0]
        out = {}
        need = _tensor_slots(ctx)
        if 0 in need:
            out[0] = E.where(pos, g, g * ws)
        if 1 in need:
            gn = E.where(pos, 0.0, g * x)
            if w.numel() > 1:
                out[1] = movement.reshape(R.sum(gn, dim=(0, *range(2, x.ndim))), w.shape)
            else:
                out[1] = movement.reshape(R.sum(gn), w.shape)
        return _per_slot(ctx, out)
    nn.Prelu.backward_graph = staticmethod(prelu)


# --- pooling ---------------------------------------------------------------------------------

def _pooling():
    for cls in (pool.AvgPool2dFn, pool.Separable2dFn, pool.GlobalAvgPoolFn):
        _linear(cls)
    _linear(pool.MaxPool2dFn, jvp=_select_jvp)
    _linear(pool.AdaptiveMaxPool2dFn, jvp=_select_jvp)


# --- losses, normalisation -------------------------------------------------------------------

def _reduce(loss_t, reduction):
    """A loss's reduction, recorded."""
    if reduction == "mean":
        return R.mean(loss_t)
    if reduction == "sum":
        return R.sum(loss_t)
    return loss_t


def _losses():
    _composed(loss.MSE, lambda x, t, red: _reduce((x - t) ** 2, red))
    _composed(loss.L1, lambda x, t, red: _reduce(E.abs(x - t), red))

    def huber(x, t, red, delta):
        d = E.abs(x - t)
        small = _const(d._data < delta)
        return _reduce(E.where(small, 0.5 * d * d, delta * (d - 0.5 * delta)), red)
    _composed(loss.Huber, huber)

    def smooth_l1(x, t, red, beta):
        d = E.abs(x - t)
        if beta == 0.0:
            return _reduce(d, red)
        small = _const(d._data < beta)
        return _reduce(E.where(small, (0.5 / beta) * d * d, d - 0.5 * beta), red)
    _composed(loss.SmoothL1, smooth_l1)

    def bce(x, t, w, red):
        lx = E.clamp(E.log(x), min=-100.0)
        l1x = E.clamp(E.log1p(-x), min=-100.0)
        out = -(t * lx + (1.0 - t) * l1x)
        return _reduce(out if w is None else out * w, red)
    _composed(loss.BCE, bce)

    def bce_logits(x, t, w, pw, red):
        sp = nn.softplus(-x)
        out = (1.0 - t) * x + (sp if pw is None else (1.0 + (_const(pw) - 1.0) * t) * sp)
        return _reduce(out if w is None else out * _const(w), red)
    _composed(loss.BCEWithLogits, bce_logits)

    def kl_div(x, t, red, log_target):
        if log_target:
            out = E.exp(t) * (t - x)
        else:
            lt = E.log(E.where(_const(t._data == 0), 1.0, t))
            out = t * lt - t * x
        if red == "batchmean":
            return R.sum(out) / (x.shape[0] if x.ndim else 1)
        return _reduce(out, red)
    _composed(loss.KLDiv, kl_div)

    _linear(loss.NLL, slots=(0,))

    def cross_entropy(x, t, w, ignore_index, eps, red, probs, maybe_ignored):
        class_dim = 1 if x.ndim >= 2 else 0
        logp = R.log_softmax(x, class_dim)
        c = x.shape[class_dim]
        wb = None
        if w is not None:
            wb = _const(w.reshape((-1,) + (1,) * (x.ndim - 2)) if x.ndim >= 2 else w)
        if probs:
            a = t if isinstance(t, Tensor) else _const(t)
            if eps:
                a = a * (1.0 - eps) + eps / c
            if wb is not None:
                a = a * wb
            rows = -R.sum(a * logp, dim=class_dim)
            return _reduce(rows, red)
        tt = t._data if isinstance(t, Tensor) else np.asarray(t)
        out = loss.NLL.apply(logp, tt, w, int(ignore_index), red)
        if not eps:
            return out
        valid = _const((tt != ignore_index).astype(x._data.dtype))
        sm = -R.sum(logp if wb is None else logp * wb, dim=class_dim) * valid
        if red == "sum":
            sm = R.sum(sm)
        elif red == "mean":
            wt = (w[np.where(tt != ignore_index, tt, 0)] if w is not None
                  else np.ones(tt.shape, x._data.dtype)) * (tt != ignore_index)
            sm = R.sum(sm) / wt.sum()
        return out * (1.0 - eps) + sm * (eps / c)
    _composed(loss.CrossEntropy, cross_entropy)


def _norms():
    def layer_norm(x, w, b, k, eps):
        axes = tuple(range(x.ndim - k, x.ndim))
        mu = R.mean(x, dim=axes, keepdim=True)
        d = x - mu
        var = R.mean(d * d, dim=axes, keepdim=True)
        y = d * E.rsqrt(var + eps)
        if w is not None:
            y = y * w
        return y + b if b is not None else y
    _composed(nn.LayerNorm, layer_norm)

    def batch_norm(x, w, b, rm, rv, training, momentum, eps, relu=False):
        axes = (0, *range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if training or rm is None:
            mu = R.mean(x, dim=axes, keepdim=True)
            d = x - mu
            var = R.mean(d * d, dim=axes, keepdim=True)
        else:
            d = x - _const(np.asarray(rm).reshape(shape))
            var = _const(np.asarray(rv).reshape(shape))
        y = d * E.rsqrt(var + eps)
        if w is not None:
            y = y * movement.reshape(w, shape)
        if b is not None:
            y = y + movement.reshape(b, shape)
        return E.relu(y) if relu else y
    _composed(nn.BatchNorm, _no_running_update(batch_norm))
    _composed(nn.BatchNormReLU, _no_running_update(
        lambda *a: batch_norm(*a, relu=True)))


def _no_running_update(fn):
    """The running statistics were updated by the forward; the recomputation must read, never
    write, them: they are passed as arrays."""
    def composed(x, w, b, rm, rv, training, momentum, eps):
        rm = rm._data if isinstance(rm, Tensor) else rm
        rv = rv._data if isinstance(rv, Tensor) else rv
        return fn(x, w, b, rm, rv, training, momentum, eps)
    return composed


def _special_binary():
    S.Atan2.backward_graph = staticmethod(_atan2_graph)

    def logaddexp(a, b, base2):
        # m + log(e^(a-m) + e^(b-m)) for any constant m: the larger input keeps it finite
        m = _const(np.maximum(a._data, b._data))
        if base2:
            return m + E.log2(S.exp2(a - m) + S.exp2(b - m))
        return m + E.log(E.exp(a - m) + E.exp(b - m))
    _composed(S.LogAddExp, logaddexp)
    _composed(S.Hypot, lambda a, b: E.sqrt(a * a + b * b))
    _composed(S.Lerp, lambda a, b, w: a + w * (b - a))

    def xlogy(a, b):
        zero = _const(a._data == 0) if isinstance(a, Tensor) else _const(np.asarray(a) == 0)
        return E.where(zero, 0.0, a * E.log(b))
    _composed(S.Xlogy, xlogy)


def _atan2_graph(ctx, g):
    a, b = ctx.inputs
    r = a * a + b * b
    return _per_slot(ctx, {i: (g * b / r if i == 0 else -g * a / r) for i in _tensor_slots(ctx)})


def _cumulative():
    _linear(cumulative.CumExtreme, jvp=_select_jvp)

    def cumprod(x, axis):
        if x.ndim == 0:
            return x * 1.0
        if (x._data == 0).any():
            raise LaminaError("Cumprod: double backward (create_graph=True) is not implemented "
                              "for an input holding zeros")
        sign = _const(np.cumprod(np.sign(x._data), axis=axis))
        return E.exp(R.cumsum(E.log(E.abs(x)), axis)) * sign
    _composed(cumulative.Cumprod, cumprod)

    def logcumsumexp(x, axis):
        if x.ndim == 0:
            return x * 1.0
        m = np.max(x._data, axis=axis, keepdims=True, initial=-np.inf)
        m = _const(np.where(np.isfinite(m), m, 0))
        return E.log(R.cumsum(E.exp(x - m), axis)) + m
    _composed(cumulative.LogCumSumExp, logcumsumexp)


def _linalg():
    def mT(a):
        return movement.transpose(a, -1, -2)

    def inv(ctx, g):
        xt = mT(linalg_decomp.Inv.apply(ctx.inputs[0]))
        return -(xt @ g @ xt)
    linalg_decomp.Inv.backward_graph = staticmethod(inv)

    def solve(ctx, g):
        a, b = ctx.inputs
        gb = linalg_decomp.Solve.apply(mT(a), g)            # A^T gB = g
        ga = -(gb @ mT(linalg_decomp.Solve.apply(a, b))) if ctx.needs_input_grad[0] else None
        return ga, (gb if ctx.needs_input_grad[1] else None)
    linalg_decomp.Solve.backward_graph = staticmethod(solve)

    def det(ctx, g):
        a = ctx.inputs[0]
        d = linalg_decomp.Det.apply(a)
        # d det(A) = det(A) A^-T; an exactly singular A would need the adjugate's derivative
        return _keep(g * d, (a.ndim - 2, a.ndim - 1), False) * mT(linalg_decomp.Inv.apply(a))
    linalg_decomp.Det.backward_graph = staticmethod(det)

    def slogdet(ctx, gsign, glog):
        a = ctx.inputs[0]
        if glog is None:
            return (None,)
        return _keep(glog, (a.ndim - 2, a.ndim - 1), False) * mT(linalg_decomp.Inv.apply(a))
    linalg_decomp.SlogDet.backward_graph = staticmethod(slogdet)

    def vector_norm(x, p, dim, keepdim):
        a = E.abs(x)
        if p == 2:
            return E.sqrt(R.sum(x * x, dim=dim, keepdim=keepdim))
        if p == 1:
            return R.sum(a, dim=dim, keepdim=keepdim)
        return R.sum(a ** p, dim=dim, keepdim=keepdim) ** (1.0 / p)
    _composed(linalg_decomp.VectorNorm, vector_norm)

    def rms_norm(x, w, k, eps):
        axes = tuple(range(x.ndim - k, x.ndim))
        y = x * E.rsqrt(R.mean(x * x, dim=axes, keepdim=True) + eps)
        return y * w if w is not None else y
    _composed(rms.RMSNorm, rms_norm)


def _attention():
    def repeat_heads(x, groups):
        if groups == 1:
            return x
        *lead, h, n, e = x.shape
        return movement.reshape(movement.expand(x.unsqueeze(-3), *lead, h, groups, n, e),
                                (*lead, h * groups, n, e))

    def sdpa(q, k, v, bias, keep, scale, dropout_p, groups, safe, return_weights):
        if dropout_p > 0.0:
            raise LaminaError("ScaledDotProductAttention: double backward (create_graph=True) "
                              "is not implemented with dropout_p > 0")
        a = (q @ movement.transpose(repeat_heads(k, groups), -1, -2)) * scale
        if bias is not None:
            a = a + bias
        empty = None
        if keep is not None:
            keep = np.broadcast_to(keep, a.shape)
            empty = ~keep.any(axis=-1, keepdims=True)   # an all-masked row
            if safe and empty.any():
                keep = keep | empty                     # softmax of zeros there, then zeroed
            a = E.where(_const(keep), a, -np.inf)
        p = R.softmax(a, -1)
        if safe and empty is not None and empty.any():
            p = p * _const(~empty)
        out = p @ repeat_heads(v, groups)
        return (out, p) if return_weights else out
    _composed(attention.ScaledDotProductAttention, sdpa)


def _recurrent():
    def direction(xt, h, c, w_ih, w_hh, b_ih, b_hh, reverse):
        hid = w_hh.shape[1]
        ys = [None] * xt.shape[0]
        for t in (reversed(range(xt.shape[0])) if reverse else range(xt.shape[0])):
            z = xt[t] @ movement.transpose(w_ih, 0, 1) + h @ movement.transpose(w_hh, 0, 1)
            if b_ih is not None:
                z = z + b_ih + b_hh
            i, f, o = (E.sigmoid(z[:, k * hid:(k + 1) * hid]) for k in (0, 1, 3))
            g = E.tanh(z[:, 2 * hid:3 * hid])          # PyTorch's gate order: i, f, g, o
            c = f * c + i * g
            h = o * E.tanh(c)
            ys[t] = h
        return movement.stack(ys, 0), h, c

    def lstm(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_ih_r, w_hh_r, b_ih_r, b_hh_r, batch_first):
        xt = movement.transpose(x, 0, 1) if batch_first else x         # (T, B, I)
        weights = [(w_ih, w_hh, b_ih, b_hh)]
        if w_ih_r is not None:
            weights.append((w_ih_r, w_hh_r, b_ih_r, b_hh_r))
        zeros = _const(np.zeros((xt.shape[1], w_hh.shape[1]), x._data.dtype))
        ys, hs, cs = [], [], []
        for d, ws in enumerate(weights):
            y, h, c = direction(xt, zeros if h0 is None else h0[d],
                                zeros if c0 is None else c0[d], *ws, reverse=d == 1)
            ys.append(y)
            hs.append(h)
            cs.append(c)
        y = movement.cat(ys, 2)
        return (movement.transpose(y, 0, 1) if batch_first else y,
                movement.stack(hs, 0), movement.stack(cs, 0))
    _composed(rnn.LSTM, lstm)

    def rnn_direction(xt, h, w_ih, w_hh, b_ih, b_hh, mode, reverse):
        hid = w_hh.shape[1]
        ys = [None] * xt.shape[0]
        for t in (reversed(range(xt.shape[0])) if reverse else range(xt.shape[0])):
            a = xt[t] @ movement.transpose(w_ih, 0, 1)
            b = h @ movement.transpose(w_hh, 0, 1)
            if b_ih is not None:
                a, b = a + b_ih, b + b_hh
            if mode == "GRU":                       # PyTorch's gate order: r, z, n
                r = E.sigmoid(a[:, :hid] + b[:, :hid])
                z = E.sigmoid(a[:, hid:2 * hid] + b[:, hid:2 * hid])
                n = E.tanh(a[:, 2 * hid:] + r * b[:, 2 * hid:])
                h = (1.0 - z) * n + z * h
            else:
                h = (E.relu if mode == "RNN_RELU" else E.tanh)(a + b)
            ys[t] = h
        return movement.stack(ys, 0), h

    def rnn_layer(x, h0, w_ih, w_hh, b_ih, b_hh, w_ih_r, w_hh_r, b_ih_r, b_hh_r, mode,
                  batch_first):
        xt = movement.transpose(x, 0, 1) if batch_first else x
        weights = [(w_ih, w_hh, b_ih, b_hh)]
        if w_ih_r is not None:
            weights.append((w_ih_r, w_hh_r, b_ih_r, b_hh_r))
        zeros = _const(np.zeros((xt.shape[1], w_hh.shape[1]), x._data.dtype))
        ys, hs = [], []
        for d, ws in enumerate(weights):
            y, h = rnn_direction(xt, zeros if h0 is None else h0[d], *ws, mode, reverse=d == 1)
            ys.append(y)
            hs.append(h)
        y = movement.cat(ys, 2)
        return (movement.transpose(y, 0, 1) if batch_first else y), movement.stack(hs, 0)
    _composed(rnn.RNNLayerFn, rnn_layer)


# --- today's shaping, scattering and contraction ops ----------------------------------------

def _shaping():
    for cls in (shaping.Tri, shaping.Diagonal, shaping.DiagEmbed, shaping.Roll, shaping.Rot90,
                shaping.Unfold):
        _linear(cls)

    def unbind(ctx, *gs):
        x, dim = ctx.inputs
        shape = x.shape[:dim] + x.shape[dim + 1:]
        parts = [_const(np.zeros(shape, x._data.dtype)) if g is None else g for g in gs]
        return movement.stack(parts, dim), None
    shaping.Unbind.backward_graph = staticmethod(unbind)


def _scattering():
    for cls in (scattering.Take, scattering.IndexAdd, scattering.IndexCopy,
                scattering.MaskedScatter):
        _linear(cls)

    def index_fill_jvp(node, i, u):     # a constant fill value is not part of the derivative
        x, dim, idx, value = node.inputs
        if i == 0 and not isinstance(value, Tensor):
            return scattering.IndexFill.apply(u, dim, idx, 0.0)
        return _apply_in_slot(node, i, u)
    _linear(scattering.IndexFill, jvp=index_fill_jvp)

    linear = _linear_graph()

    def scatter_reduce(ctx, g):
        a, dim, idx, src, reduce, include_self = ctx.inputs
        if reduce in ("sum", "mean"):
            return linear(ctx, g)
        if reduce == "prod":
            raise LaminaError("ScatterReduce: double backward (create_graph=True) is not "
                              "implemented for reduce='prod'")
        # amax / amin: each output is a locally constant mix of the tied extreme elements;
        # the shares are the array backward at g = 1
        ones = np.ones(g.shape, g._data.dtype)
        grads = ctx.backward(ctx, ones)
        share_a, share_src = _const(grads[0]), _const(grads[3])
        flat, n = ctx.flat, a._data.size
        rows = tuple(slice(0, k) for k in ctx.idx_shape)

        def jvp(i, u):
            if i == 0:
                return u * share_a
            v = movement.reshape((u * share_src)[rows], (-1,))
            zero = _const(np.zeros(n, u._data.dtype))
            return movement.reshape(scattering.IndexAdd.apply(zero, 0, flat, v, 1), a.shape)
        return _per_slot(ctx, {i: LinearBackward.apply(g, ctx, i, lambda u, i=i: jvp(i, u))
                               for i in _tensor_slots(ctx)})
    scattering.ScatterReduce.backward_graph = staticmethod(scatter_reduce)


def _contraction():
    _multilinear(contraction.Einsum, lambda ctx: tuple(range(1, len(ctx.inputs))))
    _bilinear(contraction.Cross)

    def cdist(x1, x2, p):
        # the distance, written from the differences; 0 gradient where a distance is 0
        diff = movement.unsqueeze(x1, -2) - movement.unsqueeze(x2, -3)
        if p == 0:
            return R.sum(diff * 0.0, dim=-1) + _const(
                (diff._data != 0).sum(-1).astype(x1._data.dtype))
        a = E.abs(diff)
        if p == 1:
            return R.sum(a, dim=-1)
        if p == np.inf:
            return R.amax(a, dim=-1)
        s = R.sum(a ** p, dim=-1)
        zero = _const(s._data == 0)
        return E.where(zero, 0.0, E.where(zero, 1.0, s) ** (1.0 / p))
    _composed(contraction.Cdist, cdist)


def _new_nn_ops():
    for cls in (padding.PadModeFn, fold.UnfoldFn, fold.FoldFn, pool3d.AvgPoolNdFn,
                pool3d.AdaptiveAvgPoolNdFn, resample.ResampleFn):
        _linear(cls)
    _linear(pool3d.MaxPoolNdFn, jvp=_select_nd)
    _linear(pool3d.AdaptiveMaxPoolNdFn, jvp=_select_nd)

    def conv_bias(g):
        return R.sum(g, dim=(0, *range(2, g.ndim)))
    _bilinear(conv3d.ConvNdFn, bias=2, bias_grad=conv_bias)
    _bilinear(conv3d.ConvTransposeNdFn, bias=2, bias_grad=conv_bias)


def _select_nd(node, i, u):
    """``J u`` for the n-d max pools: ``u`` at the positions the forward picked (its flat
    indices over the pooled dims)."""
    args = [a._data if isinstance(a, Tensor) else a for a in node.inputs]
    if issubclass(node.cls, pool3d.MaxPoolNdFn):
        nd = len(args[1])
        idx = pool3d.MaxPoolNdFn.forward(_bare(pool3d.MaxPoolNdFn), *args[:-1], True)[1]
    else:
        nd = len(args[1])
        idx = pool3d.AdaptiveMaxPoolNdFn.forward(_bare(pool3d.AdaptiveMaxPoolNdFn), *args)[1]
    lead = u.shape[:-nd]
    flat = movement.reshape(u, (*lead, -1))
    out = indexing.gather(flat, -1, _const(idx.reshape(*lead, -1)))
    return movement.reshape(out, idx.shape)


_binary_arith()
_unary_table()
_piecewise_table()
_reductions()
_movement()
_bilinear_table()
_pooling()
_losses()
_norms()
_special_binary()
_cumulative()
_linalg()
_attention()
_recurrent()
_shaping()
_scattering()
_contraction()
_new_nn_ops()
