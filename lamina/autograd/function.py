"""``Function``: one differentiable operation on raw arrays.

An op is a subclass with two static methods on ``xp`` arrays::

    class Mul(Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a * b

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved
            return g * b, g * a   # the engine sums each back to its input's shape

``Mul.apply(x, y)`` unwraps the tensors, runs ``forward`` and, when an input requires a
gradient and grad mode is on, records the node in the graph. Arguments that are not tensors
(Python scalars, axes, flags) pass through to ``forward`` untouched and get no gradient.
Inside ``forward``, ``ctx.needs_input_grad`` is a list of flags, one per argument, or ``None``
when no backward will run (grad mode off, or no input requires grad): forward may then skip
saving anything.

Rules for ``backward``: return one gradient (or ``None``) per positional argument of
``forward`` (a single value when there is one argument); skip work for inputs whose
``ctx.needs_input_grad[i]`` is false; never modify the incoming gradient in place; never
return an array that ``forward`` saved or received, only freshly computed ones. A forward that
returns a tuple makes one tensor per element; its backward receives one gradient per output,
``None`` for outputs that got no gradient. Non-floating outputs (indices) never require grad.

Higher-order gradients: backward works on arrays, so it is not itself recorded. With
``create_graph=True`` the engine runs the op's ``backward_graph(ctx, *grads)`` instead, the
same derivative written in lamina ops on tensors (``lamina/ops/derivatives.py`` attaches them;
see ``lamina/autograd/create_graph.py``). A Function without one raises an error naming it.
"""

from __future__ import annotations

from itertools import count

import numpy as np
from numpy import asarray, ndarray

from lamina.autograd.engine import edge
from lamina.autograd.grad_mode import GradMode
from lamina.errors import LaminaValueError
from lamina.tensor import Tensor, _make

_new = object.__new__
_seq = count()   # creation order of nodes: a valid topological order of the graph


class Function:
    """Base class of every differentiable op. See the module docstring for the contract."""

    # Engine bookkeeping lives in slots (fast to set on every op); an op's own extras
    # (ctx.axis, ctx.shape, ...) go to the instance dict as usual.
    __slots__ = ("inputs", "needs_input_grad", "n_out", "seq", "saved", "saved_versions",
                 "__dict__")
    # Set to True on ops whose forward may return a view sharing memory with input 0
    # (reshape, transpose, slicing): the output then shares the input's version counter,
    # so an in-place change through either is seen by both.
    is_view = False
    watch = None        # hooks and retain_grad() on its outputs (an autograd.hooks.Watch)

    def save_for_backward(self, *arrays) -> None:
        """Keep arrays (inputs, outputs or intermediates) that ``backward`` needs. The hottest
        built-in ops assign ``ctx.saved = (...)`` directly, which is the same thing."""
        self.saved = arrays

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args):
        """Run the op on tensors (and plain arguments); record it when gradients are needed.
        Arguments are positional only, as in PyTorch.

        The steps, for any number of arguments. ``_apply_small`` runs the same steps with the
        loops unrolled for one or two arguments, the calls of nearly every op: the hot path.
        """
        if len(args) <= 2 and not cls.is_view:
            return _apply_small(cls, args)
        ctx = _new(cls)
        ctx.saved = ctx.saved_versions = ()
        raw = [a._data if isinstance(a, Tensor) else a for a in args]      # 1. unwrap tensors
        needs = [isinstance(a, Tensor) and a.requires_grad for a in args]
        record = GradMode.enabled and True in needs                      # 2. will backward run?
        ctx.needs_input_grad = needs if record else None   # None: forward may skip saving
        try:
            out = cls.forward(ctx, *raw)                                  # 3. forward on arrays
        except ValueError as e:
            _broadcast_error(cls, e, raw)
        if type(out) is tuple:                                            # 4. wrap the outputs
            return _finish_multi(cls, ctx, args, out, record)
        t = _wrap(out)
        if cls.is_view and t._data.base is not None and isinstance(args[0], Tensor):
            _share_version(args[0], t)
        if record:                                                        # 5. link the graph
            _record(ctx, args, t)
            if ctx.saved or cls.is_view:
                _record_versions(ctx, args, (t,))
        return t

    def __repr__(self) -> str:
        return f"<{type(self).__name__}Backward>"

    def name(self) -> str:
        """The node's name, as its repr shows it (``'MulBackward'``; PyTorch's names carry an
        overload number, ``'MulBackward0'``, and follow its own op names)."""
        return f"{type(self).__name__}Backward"

    @property
    def next_functions(self) -> tuple:
        """One ``(node, output_index)`` pair per tensor input, as PyTorch's: the node that made
        the input, an ``AccumulateGrad`` for a leaf that requires grad, ``(None, 0)`` for an
        input that needs no gradient. Empty once backward has freed the graph."""
        if self.inputs is None:
            return ()
        pairs = []
        for t in self.inputs:
            if not isinstance(t, Tensor):
                continue                          # axes, flags and scalars are not edges
            c, i = edge(t, self.seq)
            if c is not None:
                pairs.append((c, i))
            elif t.requires_grad:
                pairs.append((AccumulateGrad(t), 0))
            else:
                pairs.append((None, 0))
        return tuple(pairs)


class AccumulateGrad:
    """The graph's view of a leaf that requires grad, as ``next_functions`` reports it: its
    gradient goes into ``variable.grad``. (lamina's engine writes leaves directly; this object
    exists only to be inspected.)"""

    __slots__ = ("variable",)
    next_functions = ()

    def __init__(self, variable: Tensor) -> None:
        self.variable = variable

    def name(self) -> str:
        return "AccumulateGrad"

    def __eq__(self, other) -> bool:
        return isinstance(other, AccumulateGrad) and other.variable is self.variable

    def __hash__(self) -> int:
        return id(self.variable)

    def __repr__(self) -> str:
        return "<AccumulateGrad>"


def _broadcast_error(cls, e, raw):
    """Re-raise NumPy's broadcasting ValueError naming the op and the shapes."""
    if "broadcast" not in str(e):
        raise e
    shapes = " and ".join(str(tuple(r.shape)) for r in raw if isinstance(r, ndarray))
    raise LaminaValueError(f"{cls.__name__.lower()}: shapes {shapes} cannot be broadcast "
                           "together") from None


def _apply_small(cls, args):
    """``Function.apply`` for one or two arguments and no view: the same five steps with the
    loops unrolled and the helpers inlined (``_wrap``, ``_record``, ``_record_versions``).
    Every small op runs this, so it calls nothing it can avoid."""
    ctx = _new(cls)
    ctx.saved = ctx.saved_versions = ()
    a = args[0]
    ta = type(a) is Tensor or isinstance(a, Tensor)
    ra = a._data if ta else a
    ga = ta and a.requires_grad
    two = len(args) == 2
    if two:
        b = args[1]
        tb = type(b) is Tensor or isinstance(b, Tensor)
        rb = b._data if tb else b
        gb = tb and b.requires_grad
        need = (ga or gb) and GradMode.enabled
        ctx.needs_input_grad = (ga, gb) if need else None
    else:
        need = ga and GradMode.enabled
        ctx.needs_input_grad = (ga,) if need else None
    try:
        out = cls.forward(ctx, ra, rb) if two else cls.forward(ctx, ra)
    except ValueError as e:
        _broadcast_error(cls, e, (ra, rb) if two else (ra,))
    if type(out) is tuple:
        return _finish_multi(cls, ctx, args, out, need)
    if type(out) is not ndarray:
        out = asarray(out)
    t = _new(Tensor)
    t._data = out
    t.grad = t._vc = t._prev = None
    t._out_idx = 0
    t._retain = False
    if not need:
        t.requires_grad = False
        t._ctx = None
        return t
    ctx.inputs = args
    ctx.n_out = 1
    ctx.seq = next(_seq)
    t.requires_grad = True
    t._ctx = ctx
    saved = ctx.saved
    if saved:
        rec = []            # a version record per saved input or output
        for s in saved:
            if s is None:
                continue
            if s is out:
                if t._vc is None:
                    t._vc = [0]
                rec.append((t._vc, 0, s))
            if ta and s is ra:
                vc = a._vc
                if vc is None:
                    vc = a._vc = [0]
                rec.append((vc, vc[0], s))
            if two and tb and s is rb:
                vc = b._vc
                if vc is None:
                    vc = b._vc = [0]
                rec.append((vc, vc[0], s))
        ctx.saved_versions = tuple(rec)
    return t


def _record(ctx, args, t) -> None:
    """Make ``t`` the output of node ``ctx`` and ``ctx`` a node of the graph. The edges to the
    inputs' nodes are read at backward time from the inputs (and their rebind history, should
    an in-place op give one a new grad_fn later: see ``lamina.autograd.engine.edge``)."""
    ctx.inputs = args
    ctx.n_out = 1
    ctx.seq = next(_seq)
    t.requires_grad = True
    t._ctx = ctx


def _finish_multi(cls, ctx, args, out, need):
    """Wrap a forward's tuple of outputs, one tensor each; record the node when needed."""
    outs = tuple(_wrap(o) for o in out)
    if need:
        ctx.inputs = args
        ctx.n_out = len(outs)
        ctx.seq = next(_seq)
        for i, t in enumerate(outs):
            if t._data.dtype.kind == "f":
                t.requires_grad = True
                t._ctx = ctx
                t._out_idx = i
        if ctx.saved:
            _record_versions(ctx, args, outs)
    return outs


def _record_versions(ctx, args, outs) -> None:
    """Remember the version of every tensor whose data ``forward`` saved.

    Entries hold the tensor's version counter and its array, never the tensor itself: an
    output tensor points at this node, so holding it here would make a reference cycle that
    only the cyclic garbage collector could free (measured: a third of a small training
    step went to collecting such cycles).
    """
    rec = []
    saved = ctx.saved
    if ctx.is_view and isinstance(args[0], Tensor):
        # a view's backward is stale once its base has been changed in place
        saved = (*saved, args[0]._data)
    for t in (*args, *outs):
        if isinstance(t, Tensor):
            d = t._data
            for s in saved:
                if s is d:
                    if t._vc is None:
                        t._vc = [0]
                    rec.append((t._vc, t._vc[0], d))
                    break
    ctx.saved_versions = tuple(rec)


def next_seq() -> int:
    """A sequence number later than every node recorded so far."""
    return next(_seq)


def _share_version(src: Tensor, view: Tensor) -> None:
    if src._vc is None:
        src._vc = [0]
    view._vc = src._vc


def _wrap(arr) -> Tensor:
    if type(arr) is not np.ndarray:
        arr = np.asarray(arr)
    return _make(arr)
