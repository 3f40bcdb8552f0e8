"""``lamina.compile``: record a step once, then replay it as plain array code.

``lamina.compile(fn)`` returns a ``CompiledFunction``. Its first call with given input shapes
and dtypes runs ``fn`` eagerly while a ``Recorder`` writes down every op's forward, the
backward walk and the optimizer's calls; later calls with the same signature run the
*replay*: one generated Python function that calls the same forward and backward functions
on the same kinds of arrays in the same order, with no ``Tensor``, graph node or autograd
bookkeeping made on the way. For the hottest ops (2-D ``linear``, ``tanh``, ``sigmoid``,
``mse_loss``) the replay holds the op's NumPy calls themselves instead of a call of its
forward/backward (``lamina.compiler.special``). Parameters and optimizer state are updated
in place, so eager code around the compiled step sees every change. See docs/compile.md for
what is captured, what breaks a capture, and how it fails.

Values: a replay runs the very same NumPy/BLAS/kernel calls as the eager step, on the same
inputs in the same order, so its results are bit-identical to eager mode (tests/compile
checks this over many steps); the specialised lines are the ops' own NumPy calls in the same
order, so they keep this. Nothing is fused: no reordering, so no tolerance is needed.
SGD and Adam steps replay as one call of their fused kernel per parameter
(``lamina.compiler.fastopt``), the same call the optimizer itself makes.
"""

from __future__ import annotations

import functools

from lamina.autograd.grad_mode import GradMode
from lamina.compiler.codegen import build
from lamina.compiler.recorder import MISS, CaptureError, Recorder, active
from lamina.errors import LaminaError, LaminaValueError
from lamina.tensor import Tensor

__all__ = ["compile", "CompiledFunction", "CompiledModule", "CaptureError"]

_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
CACHE_SIZE = 8          # replays kept per input signature (guards: modes, parameters)
ATTEMPTS = 2            # failed captures of a signature before it stays eager


class _Entry:
    """The replays recorded for one input signature, and the failed attempts."""

    __slots__ = ("replays", "sources", "failures", "eager")

    def __init__(self):
        self.replays, self.sources, self.failures, self.eager = [], [], 0, False


class CompiledFunction:
    """A function (or module) that records its first call per input signature and replays it
    afterwards. ``source(i)`` gives the generated code of a recorded replay, ``stats`` counts
    replays, recordings and eager fallbacks."""

    def __init__(self, fn, fullgraph: bool = False):
        self.fn = fn
        self.fullgraph = fullgraph
        self.cache: dict = {}
        self.stats = {"replays": 0, "recordings": 0, "eager": 0}
        self._warned: set = set()
        functools.update_wrapper(self, fn, updated=())

    def __call__(self, *args, **kwargs):
        if active() is not None:          # called inside another capture: record it inline
            return self.fn(*args, **kwargs)
        key, tensors = _signature(args, kwargs)
        entry = self.cache.get(key)
        if entry is not None:
            if entry.eager:
                self.stats["eager"] += 1
                return self.fn(*args, **kwargs)
            arrays = [t._data for t in tensors]
            for replay in entry.replays:
                out = replay(*arrays)
                if out is not MISS:
                    self.stats["replays"] += 1
                    return out
        else:
            entry = self.cache[key] = _Entry()
        return self._record(entry, tensors, args, kwargs)

    def _record(self, entry, tensors, args, kwargs):
        """Run ``fn`` eagerly while recording; keep the replay if the capture succeeded."""
        if len(entry.replays) >= CACHE_SIZE:
            self._give_up(entry, f"more than {CACHE_SIZE} recordings for one input signature "
                                 "(a guard keeps failing: modules switching mode, parameters "
                                 "changing shape)")
            return self.fn(*args, **kwargs)
        self.stats["recordings"] += 1
        rec = Recorder(tensors)
        rec.start()
        try:
            out = self.fn(*args, **kwargs)
        finally:
            rec.stop()
        if rec.failure is None:
            try:
                template = rec.finish(out)
                replay, src = build(rec, template, _title(self.fn))
            except CaptureError as e:
                rec.fail(str(e))
        if rec.failure is not None:
            entry.failures += 1
            if entry.failures >= ATTEMPTS:
                self._give_up(entry, rec.failure)
            elif self.fullgraph:
                self._give_up(entry, rec.failure)
            return out
        entry.replays.append(replay)
        entry.sources.append(src)
        return out

    def _give_up(self, entry, reason: str) -> None:
        entry.eager = True
        msg = f"lamina.compile: could not capture {_title(self.fn)}: {reason}"
        if self.fullgraph:
            raise LaminaError(msg + " (fullgraph=True)")
        if reason not in self._warned:
            self._warned.add(reason)
            import warnings

            warnings.warn(msg + "; running it eagerly", RuntimeWarning, stacklevel=4)

    def source(self, index: int = -1) -> str:
        """The generated source of a recorded replay (the latest one by default)."""
        srcs = [s for e in self.cache.values() for s in e.sources]
        if not srcs:
            raise LaminaValueError("CompiledFunction.source: nothing recorded yet")
        return srcs[index]

    def reset(self) -> None:
        """Forget every recording (the next call records again)."""
        self.cache.clear()


class CompiledModule:
    """``lamina.compile(module)``: calls go through the compiled function, everything else
    (``parameters()``, ``eval()``, ``state_dict()``, attributes) reaches the module itself,
    ``_orig_mod`` as in PyTorch's ``OptimizedModule``. Differs from PyTorch: not itself a
    ``nn.Module`` subclass."""

    def __init__(self, module, fullgraph: bool = False):
        object.__setattr__(self, "_orig_mod", module)
        object.__setattr__(self, "_compiled", CompiledFunction(module, fullgraph))

    def __call__(self, *args, **kwargs):
        return self._compiled(*args, **kwargs)

    def __getattr__(self, name):
        if name in ("_orig_mod", "_compiled"):      # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self._orig_mod, name)

    def __setattr__(self, name, value):
        setattr(self._orig_mod, name, value)

    def __repr__(self) -> str:
        return f"CompiledModule({self._orig_mod!r})"


def compile(model=None, *, fullgraph: bool = False, dynamic=None, backend="inductor",  # noqa: A001
            mode: str | None = None, options: dict | None = None, disable: bool = False):
    """Compile a training or inference step (``torch.compile``'s signature).

    ``fn`` is a function of tensors (and plain values) that may run a forward pass,
    ``backward()`` and an optimizer's ``zero_grad()``/``step()``, and returns tensors. The first
    call per input signature (shapes, dtypes, ``requires_grad``, plain arguments, grad mode)
    runs eagerly while recording; later calls replay the recording (see the module docstring
    and docs/compile.md). When a call cannot be captured (a tensor's value read as a Python
    number, code outside lamina's ops making arrays, hooks, ...) the function runs eagerly with
    a ``RuntimeWarning``; with ``fullgraph=True`` a ``LaminaError`` is raised instead, after that
    eager call has run. ``dynamic``, ``backend``, ``mode`` and ``options`` are accepted for
    compatibility and change nothing; ``disable=True`` returns ``model`` unchanged.

    >>> @lamina.compile
    ... def step(x, y):
    ...     opt.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); opt.step()
    ...     return loss.detach()
    """
    if mode not in _MODES:
        raise LaminaValueError(f"Unrecognized mode={mode}, should be one of: "
                               f"{', '.join(m for m in _MODES if m)}")
    if mode is not None and options is not None:
        raise LaminaValueError("Either mode or options can be specified, but both can't be "
                               "specified at the same time.")
    if model is None:
        return lambda fn: compile(fn, fullgraph=fullgraph, dynamic=dynamic, backend=backend,
                                  mode=mode, options=options, disable=disable)
    if not callable(model):
        raise LaminaValueError(f"compile: expected a function or a module, got "
                               f"{type(model).__name__}")
    if disable:
        return model
    from lamina.nn.module import Module

    if isinstance(model, Module):
        return CompiledModule(model, fullgraph)
    return CompiledFunction(model, fullgraph)


def _title(fn) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


def _signature(args, kwargs):
    """(cache key, the tensor arguments in order). Tensors count by shape, dtype and
    ``requires_grad``; plain values by value (or identity when unhashable); one level of
    lists/tuples of tensors is looked into."""
    tensors = []
    key = [GradMode.enabled]

    def one(a):
        if isinstance(a, Tensor):
            tensors.append(a)
            d = a._data
            return (d.shape, d.dtype.str, a.requires_grad)
        if type(a) in (tuple, list) and any(isinstance(x, Tensor) for x in a):
            return (type(a), tuple(one(x) for x in a))
        try:
            hash(a)
        except TypeError:
            return ("id", id(a))
        return (type(a), a)

    for a in args:
        key.append(one(a))
    for k in sorted(kwargs):
        key.append((k, one(kwargs[k])))
    return tuple(key), tensors
