"""Recording one eager run of a step as straight-line Python over arrays (the *replay*).

While a ``Recorder`` is active, a few entry points are swapped for recording versions (and
swapped back when it stops, so eager code pays nothing the rest of the time):

- ``Function.apply``: each op's ``forward(ctx, *arrays)`` becomes a line
  ``v7 = f3(c3, v5, e0, k2)`` (the op's static forward, its ctx object, the arrays and the
  constant arguments);
- ``autograd.engine.run_backward``: the backward walk, node by node, becomes lines calling each
  node's ``backward(ctx, grad)``, summing gradients and storing leaves' ``.grad``;
- ``Optimizer.step`` (or each group's ``_step_group``) / ``zero_grad`` and
  ``LRScheduler.step``: one line each, calling the
  method itself at replay (*opaque* calls: they read ``.grad`` and update the parameters and
  their state in place, exactly as in eager mode); SGD and Adam steps where the fused kernel
  applies become one kernel call per parameter instead (``fastopt``, the same bits);
- the in-place tensor ops' array writes (``t -= lr * g`` under ``no_grad``);
- ``Module.__call__``: which modules ran, and in which train/eval mode (a guard);
- ``Tensor.item``, ``float(t)``, ``bool(t)``, ``t.tolist()``, ``t.numpy()``: reading a value
  as Python data makes the capture fail (control flow may depend on it).

Arrays are known by identity: a value made by a recorded op gets a local name, an input of the
compiled function is an argument, and a tensor that existed before the call (a parameter, a
buffer, a constant) is read from its ``_data`` at the top of the replay. Any other array (made
by code that was not recorded) makes the capture fail, so the replay can never silently use a
stale value.
"""

from __future__ import annotations

import gc
import numbers
from threading import get_ident

import numpy as np
from numpy import ndarray

from lamina.autograd import engine
from lamina.autograd import function as function_mod
from lamina.autograd.engine import _Accumulate, _raise_count, _raise_modified, edge, unbroadcast
from lamina.autograd.function import Function, _broadcast_error, _finish_multi, _wrap
from lamina.autograd.grad_mode import GradMode
from lamina.autograd.hooks import _leaf_hooks, _post_accumulate_hooks, leaf_hooks
from lamina.compiler.fastopt import group_step
from lamina.compiler.special import NAMESPACE as _SPECIAL_NS
from lamina.compiler.special import backward as _special_backward
from lamina.compiler.special import forward as _special_forward
from lamina.nn.module import Module
from lamina.ops import elementwise
from lamina.optim.lr_scheduler import LRScheduler
from lamina.optim.optimizer import Optimizer
from lamina.tensor import Tensor, _make

__all__ = ["CaptureError", "Recorder", "active"]

_ACTIVE = [None]                   # the recorder in charge, if any (one at a time)
_PLAIN = (type(None), bool, int, float, complex, str, bytes, np.generic, np.dtype, type,
          slice, range, type(Ellipsis))


def active():
    """The recorder currently recording, or None."""
    return _ACTIVE[0]


class CaptureError(Exception):
    """Raised inside the recorder to give up on a capture (the eager run goes on)."""


class Recorder:
    """Records one call of a step. ``start()`` swaps the recording entry points in, ``stop()``
    swaps them back; ``build()`` then writes the replay function (see ``codegen``)."""

    def __init__(self, inputs):
        self.ns = {"asarray": np.asarray, "copyto": np.copyto, "_make": _make,
                   "_store": _store, "_conform": _conform, "MISS": MISS, **_SPECIAL_NS}
        self.lines = []            # (code, names it uses, names it defines)
        self.names = {}            # id(array) -> the local name holding it at replay
        self.keep = []             # every array seen: keeps ids unique while recording
        self.consts = {}           # id(object) -> namespace name
        self.externals = []        # (name, tensor, array) read from tensor._data at the top
        self.ext_ids = {}          # id(tensor) -> name
        self.modules = {}          # id(module) -> (module, training) for the guard
        self.ctxs = []             # (ctx, args) of every recorded forward
        self.recorded = set()      # ids of those ctxs: nodes the backward may reach
        self.stored = {}           # id(leaf) -> leaf whose .grad a recorded backward set
        self.special = {}          # id(ctx) -> (backward emitter, state): see ``special``
        self.fresh_grads = set()   # names of gradients a specialised backward made anew
        self.ignore_overflow = False   # run the replay under np.errstate(over='ignore')
        self.failure = None        # why the capture failed (the first reason)
        self.depth = 0             # > 0 inside a forward or an opaque call: not recorded
        self.thread = get_ident()  # the thread that records (others run eagerly, unseen)
        self.n = 0
        self.arg_names = []
        for i, t in enumerate(inputs):
            name = f"a{i}"
            self.arg_names.append(name)
            self.names.setdefault(id(t._data), name)
            self.keep.append(t._data)
        self.input_ids = {id(t) for t in inputs}
        # tensors alive before the call: parameters, buffers, constants (read at replay)
        # (``type``, not ``isinstance``: the latter asks some objects for ``__class__``)
        self.pre = {id(o): o for o in gc.get_objects() if issubclass(type(o), Tensor)}
        self.pre_arrays = None     # id(array) -> pre-existing tensor, built when needed
        self._saved = []

    # --- names -----------------------------------------------------------------------------
    def fresh(self, prefix: str = "v") -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def const(self, value) -> str:
        """A namespace name for a constant argument (numbers, axes, flags, dtypes, ...)."""
        if isinstance(value, (list, tuple)) and any(isinstance(v, (Tensor, ndarray))
                                                     for v in value):
            raise CaptureError("an op was given a list of tensors or arrays")
        name = self.consts.get(id(value))
        if name is None:
            name = self.consts[id(value)] = self.fresh("k")
            self.ns[name] = value
            self.keep.append(value)
        return name

    def bind(self, arr, name: str) -> None:
        self.names[id(arr)] = name
        self.keep.append(arr)

    def ref(self, t) -> str:
        """The name holding tensor ``t``'s array at replay."""
        arr = t._data
        name = self.names.get(id(arr))
        if name is not None:
            return name
        if id(t) in self.pre and id(t) not in self.input_ids:
            name = self.fresh("e")
            self.ns[name.upper()] = t
            self.externals.append((name, t, arr))
            self.ext_ids[id(t)] = name
            self.bind(arr, name)
            return name
        raise CaptureError(f"a tensor of shape {tuple(arr.shape)} was made by code that "
                           "lamina.compile does not record (not an op, nor an input, parameter "
                           "or constant that existed before the call)")

    def ref_array(self, arr) -> str:
        name = self.names.get(id(arr))
        if name is None and self.pre_arrays is None:
            self.pre_arrays = {id(t._data): t for t in self.pre.values()}
        if name is None and id(arr) in self.pre_arrays:
            return self.ref(self.pre_arrays[id(arr)])       # a tensor's array, passed raw
        if name is None:
            raise CaptureError(f"an array of shape {tuple(np.shape(arr))} was made by code "
                               "that lamina.compile does not record")
        return name

    def arg(self, a) -> str:
        if isinstance(a, Tensor):
            return self.ref(a)
        if isinstance(a, ndarray):
            return self.ref_array(a)
        return self.const(a)

    def emit(self, code: str, uses=(), defs=()) -> None:
        self.lines.append((code, set(uses), set(defs)))

    def off(self) -> bool:
        """Whether a call is not to be recorded: inside a recorded forward or an opaque call,
        or made by another thread (a data-loading thread's ops are not part of the step)."""
        return self.depth > 0 or get_ident() != self.thread

    def fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason

    def guarded(self, fn):
        """Run ``fn()``; a ``CaptureError`` marks the capture failed (eager goes on)."""
        try:
            fn()
        except CaptureError as e:
            self.fail(str(e))

    # --- switching the recording entry points in and out -----------------------------------
    def start(self) -> None:
        if _ACTIVE[0] is not None:
            raise CaptureError("another lamina.compile capture is in progress")
        _ACTIVE[0] = self
        rec = self
        orig_apply = Function.__dict__["apply"]
        self._swap(Function, "apply", classmethod(
            lambda cls, *args: _record_apply(rec, orig_apply, cls, args)))
        self._swap(engine, "run_backward",
                   lambda *a, **k: _record_backward(rec, *a, **k))
        self._swap(elementwise, "_fast_inplace", _wrap_fast_inplace(rec,
                                                                    elementwise._fast_inplace))
        self._swap(elementwise, "_write", _wrap_write(rec, elementwise._write))
        call = Module.__call__

        def module_call(m, *args, **kwargs):
            if not rec.off():
                rec.modules.setdefault(id(m), (m, m.training))
            return call(m, *args, **kwargs)
        self._swap(Module, "__call__", module_call)
        # ``_step_group`` too: a scheduler wraps ``optimizer.step`` on the instance, around
        # the class's original function, which then reaches only ``_step_group``
        for base, names in ((Optimizer, ("step", "zero_grad", "_step_group")),
                            (LRScheduler, ("step",))):
            for cls in _with_subclasses(base):
                for name in names:
                    if name in cls.__dict__:
                        self._swap(cls, name, _opaque(rec, cls.__dict__[name], name))
        for name in ("item", "tolist", "numpy", "__float__", "__int__", "__bool__", "__index__",
                     "__array__"):
            self._swap(Tensor, name, _value_read(rec, Tensor.__dict__[name], name))

    def _swap(self, owner, name, value) -> None:
        self._saved.append((owner, name, owner.__dict__[name] if isinstance(owner, type)
                            else getattr(owner, name)))
        setattr(owner, name, value)

    def stop(self) -> None:
        for owner, name, value in reversed(self._saved):
            setattr(owner, name, value)
        self._saved = []
        _ACTIVE[0] = None
        self.pre = self.pre_arrays = None

    # --- after the run ---------------------------------------------------------------------
    def finish(self, out):
        """Check the run's end state, give every recorded ctx what its backward needs at
        replay, and return the output's template (see ``codegen.build``)."""
        for _, t, arr in self.externals:
            if t._data is not arr:
                raise CaptureError("a tensor's storage was replaced during the call (outside "
                                   "the ops lamina.compile records)")
        template = self._template(out)
        for ctx, args in self.ctxs:
            # at replay a backward may read the plain arguments (strides, axes) from inputs;
            # tensors are dropped so no array of this run stays alive through the ctx
            ctx.inputs = tuple(None if isinstance(a, Tensor) else a for a in args)
            ctx.saved = ctx.saved_versions = ()
        for leaf in self.stored.values():
            if leaf.grad is None:
                self.emit(f"{self.const(leaf)}.grad = None")
        return template

    def _template(self, out):
        """The output as a template: ('t', name) for a tensor, ('c', value) for a constant,
        and tuples/lists/dicts of those."""
        if isinstance(out, Tensor):
            if out.requires_grad and out._ctx is not None and out._ctx.inputs is not None:
                raise CaptureError("the function returns a tensor whose graph is still alive "
                                   "(backward would run outside the compiled function); "
                                   "compile the whole step, forward and backward")
            return ("t", self.ref(out))
        if isinstance(out, (tuple, list)):
            return (type(out), [self._template(o) for o in out])
        if isinstance(out, dict):
            return (dict, {k: self._template(v) for k, v in out.items()})
        if isinstance(out, _PLAIN) or isinstance(out, numbers.Number):
            return ("c", out)
        raise CaptureError(f"the function returns a {type(out).__name__}, which lamina.compile "
                           "cannot replay")


MISS = object()    # what a replay returns when a guard fails


def _with_subclasses(cls):
    out, todo = [], [cls]
    while todo:
        c = todo.pop()
        out.append(c)
        todo.extend(c.__subclasses__())
    return out


# --- forward ---------------------------------------------------------------------------------

def _record_apply(rec, orig_apply, cls, args):
    """``Function.apply`` while recording: the general path of ``apply``, keeping the ctx, and
    one replay line for the forward."""
    if rec.off() or rec.failure is not None:
        return orig_apply.__func__(cls, *args)
    names = None
    try:
        names = [rec.arg(a) for a in args]
    except CaptureError as e:
        rec.fail(str(e))
    ctx = object.__new__(cls)
    ctx.saved = ctx.saved_versions = ()
    raw = [a._data if isinstance(a, Tensor) else a for a in args]
    needs = [isinstance(a, Tensor) and a.requires_grad for a in args]
    record = GradMode.enabled and True in needs
    ctx.needs_input_grad = needs if record else None
    rec.depth += 1
    try:
        out = cls.forward(ctx, *raw)
    except ValueError as e:
        _broadcast_error(cls, e, raw)
    finally:
        rec.depth -= 1
    if type(out) is tuple:
        outs = _finish_multi(cls, ctx, args, out, record)
        arrays = [t._data for t in outs]
        result = outs
    else:
        t = _wrap(out)
        if cls.is_view and t._data.base is not None and isinstance(args[0], Tensor):
            function_mod._share_version(args[0], t)
        if record:
            function_mod._record(ctx, args, t)
            if ctx.saved or cls.is_view:
                function_mod._record_versions(ctx, args, (t,))
        arrays = [t._data]
        result = t
    if names is not None and rec.failure is None and type(out) is not tuple:
        n = _special_forward(rec, cls, ctx, raw, names, out)
        if n is not None:
            rec.bind(arrays[0], n)
            rec.ctxs.append((ctx, args))
            rec.recorded.add(id(ctx))
            return result
    if names is not None and rec.failure is None:
        f = rec.const(cls.forward)
        c = rec.const(ctx)
        call = f"{f}({c}{''.join(', ' + n for n in names)})"
        uses = list(_vars(names))
        if type(out) is tuple:
            outs_n = [rec.fresh() for _ in arrays]
            rec.emit(f"{', '.join(outs_n)}{',' if len(outs_n) == 1 else ''} = {call}", uses,
                     outs_n)
            for o_raw, n in zip(out, outs_n):
                if type(o_raw) is not ndarray:
                    rec.emit(f"{n} = asarray({n})", [n], [n])
        else:
            n = rec.fresh()
            outs_n = [n]
            rec.emit(f"{n} = {call}" if type(out) is ndarray else f"{n} = asarray({call})",
                     uses, [n])
        for arr, n in zip(arrays, outs_n):
            rec.bind(arr, n)
        rec.ctxs.append((ctx, args))
        rec.recorded.add(id(ctx))
    return result


# --- backward --------------------------------------------------------------------------------

def _record_backward(rec, roots, root_grads, retain_graph=False, capture=None,
                     allow_unused=False):
    """``engine.run_backward`` while recording: the same walk (see there), each step also
    written as a replay line. ``autograd.grad`` (``capture``) and hooks are not recorded."""
    if rec.off() or rec.failure is not None or capture is not None:
        if capture is not None and not rec.off():
            rec.fail("autograd.grad inside a compiled function is not recorded")
        return _ORIG_RUN_BACKWARD(roots, root_grads, retain_graph, capture, allow_unused)
    if _post_accumulate_hooks:
        # DistributedDataParallel's reductions run from these hooks: not recorded
        rec.fail("post-accumulate-grad hooks (DistributedDataParallel) are not recorded")
        return _ORIG_RUN_BACKWARD(roots, root_grads, retain_graph, capture, allow_unused)
    from heapq import heappop, heappush

    sink = _Accumulate(roots)
    grads, gnames, heap = {}, {}, []
    handed = rec.fresh("h")
    rec.emit(f"{handed} = set()", [], [handed])

    def send(node, idx, g, gname):
        if node.n_out == 1:
            prev = grads.get(node)
            if prev is None:
                grads[node], gnames[node] = g, gname
                heappush(heap, (-node.seq, node))
            else:
                grads[node] = prev + g
                n = rec.fresh("g")
                rec.emit(f"{n} = {gnames[node]} + {gname}", [gnames[node], gname], [n])
                gnames[node] = n
            return
        lst = grads.get(node)
        if lst is None:
            lst = grads[node] = [None] * node.n_out
            gnames[node] = ["None"] * node.n_out
            heappush(heap, (-node.seq, node))
        names = gnames[node]
        if lst[idx] is None:
            lst[idx], names[idx] = g, gname
        else:
            lst[idx] = lst[idx] + g
            n = rec.fresh("g")
            rec.emit(f"{n} = {names[idx]} + {gname}", [names[idx], gname], [n])
            names[idx] = n

    def leaf(t, g, gname):
        if _leaf_hooks and leaf_hooks(t) is not None:
            rec.fail("a leaf has a gradient hook")
            sink.leaf(t, g)
            return
        if id(t) in rec.input_ids:
            rec.fail("backward gives a gradient to an input of the compiled function (not "
                     "recorded: the replay would store it into the first call's tensor)")
        sink.store(t, g)
        n = rec.fresh("g")
        k = rec.const(t)
        if gname in rec.fresh_grads:
            # a new array that nothing else holds (a specialised backward's result): the
            # common case of ``_store`` inline (no copy needed, nothing to record in ``handed``)
            rec.emit(f"if {k}.grad is None: {k}.grad = _make({gname}); {n} = {gname}\n"
                     f"else: {n} = _store({k}, {gname}, {handed})", [gname, handed], [n])
        else:
            rec.emit(f"{n} = _store({k}, {gname}, {handed})", [gname, handed], [n])
        rec.bind(t.grad._data, n)
        rec.stored[id(t)] = t

    def check(node, g):
        if id(node) not in rec.recorded:
            rec.fail("backward reached an op recorded before the compiled call")
        if node.watch is not None:
            rec.fail("a tensor hook or retain_grad() in the graph")
            g = sink.outputs_done(node, g)
        return g

    for t, g in zip(roots, root_grads):
        seed = rec.fresh("g")
        rec.emit(f"{seed} = {rec.const(g.copy())}.copy()", [], [seed])
        rec.bind(g, seed)
        if t._ctx is None:
            leaf(t, g, seed)
        else:
            send(t._ctx, t._out_idx, g, seed)
    while heap:
        node = heappop(heap)[1]
        g = grads.pop(node)
        gn = gnames.pop(node)
        if node.inputs is None:
            raise engine.LaminaValueError(engine._FREED)
        g = check(node, g)
        for vc, v, _ in node.saved_versions:
            if vc[0] != v:
                _raise_modified(node)
        in_grads = node.backward(node, *g) if node.n_out > 1 else node.backward(node, g)
        if id(node) in rec.special:                  # direct NumPy lines (``special``)
            fixed = _special_backward(rec, node, gn)
        else:
            fixed = None
            b, c = rec.const(type(node).backward), rec.const(node)
            r = rec.fresh("r")
            gargs = ", ".join(gn) if node.n_out > 1 else gn
            guses = [x for x in (gn if node.n_out > 1 else [gn]) if x != "None"]
            rec.emit(f"{r} = {b}({c}, {gargs})", guses, [r])
        single = type(in_grads) is not tuple
        if single:
            in_grads = (in_grads,)
        if len(in_grads) != len(node.inputs):
            _raise_count(node, in_grads)
        for i, (t, gi, need) in enumerate(zip(node.inputs, in_grads,
                                               node.needs_input_grad)):
            if gi is None or not need:
                continue
            if fixed is not None:
                gname = fixed[i]
            else:
                gname = rec.fresh("g")
                rec.emit(f"{gname} = {r}" if single else f"{gname} = {r}[{i}]", [r], [gname])
            d = t._data
            if type(gi) is not ndarray or gi.shape != d.shape or gi.dtype is not d.dtype:
                gi = engine._conform(gi, t, node)
                rec.fresh_grads.discard(gname)          # may now be a view
                rec.emit(f"{gname} = _conform({gname}, {rec.const(d.shape)}, "
                         f"{rec.const(d.dtype)})", [gname], [gname])
            rec.bind(gi, gname)
            cn, j = (t._ctx, t._out_idx) if t._prev is None else edge(t, node.seq)
            if cn is None:
                leaf(t, gi, gname)
            else:
                send(cn, j, gi, gname)
        if not retain_graph:
            node.inputs = None
            node.saved = node.saved_versions = ()
            if fixed is None:
                rec.emit(f"{c}.saved = ()")         # frees what the node saved, as eager does
    sink.leaves_done()      # hooked leaves (the capture has failed: eager semantics only)
    return None


def _store(t, g, handed):
    """``_Accumulate.store`` at replay: ``g`` into ``t.grad`` (copied when it is a view or
    already given to another leaf); returns the array ``t.grad`` now holds."""
    if g.base is not None or id(g) in handed:
        g = g.copy()
    handed.add(id(g))
    gt = t.grad
    if gt is None:
        t.grad = _make(g)
        return g
    gt._data = gt._data + g
    return gt._data


def _conform(g, shape, dtype):
    """``engine._conform`` at replay: ``g`` summed to ``shape`` and cast to ``dtype``."""
    if type(g) is not ndarray:
        g = np.asarray(g)
    if g.shape != shape:
        g = unbroadcast(g, shape, None, (None,), None)
    if g.dtype != dtype:
        g = g.astype(dtype)
    return g


_ORIG_RUN_BACKWARD = engine.run_backward


# --- opaque calls, in-place writes, value reads ----------------------------------------------

def _opaque(rec, fn, what):
    """A method called as it is at replay (optimizer steps, schedulers)."""

    def wrapper(self, *args, **kwargs):
        if rec.off():
            return fn(self, *args, **kwargs)
        if any(callable(a) for a in (*args, *kwargs.values())):
            rec.fail(f"{type(self).__name__}.{what} was given a closure")
        rec.depth += 1
        try:
            r = fn(self, *args, **kwargs)
        finally:
            rec.depth -= 1
        if rec.failure is None:
            fast = _fast_optimizer_step(self, what, args, kwargs)
            if fast is not None:
                for f in fast:
                    rec.emit(f"{rec.const(f)}()")
            else:
                rec.guarded(lambda: rec.emit(
                    f"{rec.const(fn)}({rec.const(self)}"
                    + "".join(f", {rec.const(a)}" for a in args)
                    + "".join(f", {k}={rec.const(v)}" for k, v in kwargs.items()) + ")"))
        return r

    wrapper.__wrapped__ = fn
    return wrapper


def _fast_optimizer_step(opt, what, args, kwargs):
    """The functions of ``lamina.compiler.fastopt`` replaying this optimizer call, one per
    group, or None to replay the call as it is."""
    if not isinstance(opt, Optimizer) or kwargs:
        return None
    if what == "_step_group" and len(args) == 1:
        groups = args
    elif what == "step" and not args:
        groups = opt.param_groups
    else:
        return None
    fast = [group_step(opt, g) for g in groups]
    return None if any(f is None for f in fast) else fast


def _wrap_fast_inplace(rec, orig):
    def fast_inplace(t, ufunc, other, op_name):
        if rec.off() or rec.failure is not None:
            return orig(t, ufunc, other, op_name)
        names = None
        try:
            names = (rec.ref(t), rec.arg(other))
        except CaptureError as e:
            rec.fail(str(e))
        r = orig(t, ufunc, other, op_name)
        if r is not None and names is not None:
            u = rec.const(ufunc)
            rec.emit(f"{u}({names[0]}, {names[1]}, out={names[0]})", list(_vars(names)))
        return r
    return fast_inplace


def _wrap_write(rec, orig):
    def write(t, value, op_name):
        if rec.off() or rec.failure is not None:
            return orig(t, value, op_name)
        names = None
        try:
            names = (rec.ref(t), rec.ref_array(value))
        except CaptureError as e:
            rec.fail(str(e))
        orig(t, value, op_name)
        if names is not None:
            rec.emit(f"copyto({names[0]}, {names[1]}, casting='unsafe')", list(_vars(names)))
    return write


def _vars(names):
    return (n for n in names if n[0] in "aevg")


def _value_read(rec, fn, name):
    def wrapper(self, *args, **kwargs):
        if not rec.off():
            rec.fail(f"Tensor.{name}() read a tensor's value as Python data while recording "
                     "(control flow may depend on it)")
        return fn(self, *args, **kwargs)
    wrapper.__wrapped__ = fn
    return wrapper
