"""Tensor hooks and retained gradients: what backward does with a gradient before using it.

``t.register_hook(fn)`` asks backward to call ``fn(grad)`` with the gradient of ``t`` once it is
complete (the sum of every contribution in this pass); a tensor ``fn`` returns replaces it
for everything downstream: the node that made ``t``, later hooks and ``t.grad``. As in
PyTorch, hooks run in registration order, and a ``retain_grad()`` tensor's ``.grad`` is taken
after all of them.

Where they live:

* a non-leaf's hooks hang on the node that made it (``node.watch``, a ``Watch``; ``None`` on
  almost every node, so the engine pays one attribute test per node);
* a leaf has no node, so its hooks sit in ``_leaf_hooks`` by ``id``, dropped when the leaf
  dies. The engine sums a hooked leaf's contributions over the pass and runs its hooks once
  at the end (PyTorch runs them when the last contribution arrives: the same values, but a
  leaf hook may run later relative to other hooks).

``leaf.register_post_accumulate_grad_hook(fn)`` is different: ``fn(leaf)`` runs as soon as the
leaf's ``.grad`` holds the whole gradient of the pass, while backward is still running for the
rest of the graph (``DistributedDataParallel`` starts reducing gradients there). The engine
counts the graph edges into each such leaf before the pass and runs the hooks after the last.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict

import numpy as np

from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor, _make


class RemovableHandle:
    """Returned by every ``register_*hook``; ``remove()`` unregisters the hook (also usable
    as a context manager)."""

    _next_id = 0

    def __init__(self, hooks: dict):
        self.hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class Watch:
    """Work for backward on a node's outputs before the node runs: ``hooks`` by output
    index (each an ordered dict of handle id -> fn) and the ``retained`` output tensors."""

    __slots__ = ("hooks", "retained")

    def __init__(self):
        self.hooks = {}
        self.retained = []


def watch(node) -> Watch:
    """The ``Watch`` of ``node``, made on first use."""
    if node.watch is None:
        node.watch = Watch()
    return node.watch


_leaf_hooks: dict = {}      # id(leaf) -> (weakref to it, OrderedDict of handle id -> fn)
_post_accumulate_hooks: dict = {}   # the same, for register_post_accumulate_grad_hook


def register_tensor_hook(t: Tensor, fn) -> RemovableHandle:
    """``t.register_hook(fn)``: see the module docstring."""
    if not callable(fn):
        raise LaminaTypeError(f"register_hook: expected a callable, got {type(fn).__name__}")
    if t._ctx is not None:
        hooks = watch(t._ctx).hooks.setdefault(t._out_idx, OrderedDict())
    else:
        key = id(t)
        entry = _leaf_hooks.get(key)
        if entry is None or entry[0]() is not t:
            entry = _leaf_hooks[key] = (
                weakref.ref(t, lambda _, k=key: _leaf_hooks.pop(k, None)), OrderedDict())
        hooks = entry[1]
    h = RemovableHandle(hooks)
    hooks[h.id] = fn
    return h


def register_post_accumulate_grad_hook(t: Tensor, fn) -> RemovableHandle:
    """``t.register_post_accumulate_grad_hook(fn)``: ``fn(t)`` runs once per ``backward()``,
    after the last contribution of that pass has been added to ``t.grad`` (leaves only).

    The engine knows a leaf is complete by counting, before the pass, the graph edges that
    lead to it from the roots; data-parallel training uses this to start reducing a
    parameter's gradient while backward is still running for the layers below it. Not run
    by ``autograd.grad`` (which does not accumulate), as in PyTorch.
    """
    if not callable(fn):
        raise LaminaTypeError(
            f"register_post_accumulate_grad_hook: expected a callable, got {type(fn).__name__}")
    if t._ctx is not None:
        raise LaminaValueError("register_post_accumulate_grad_hook: post accumulate grad hooks "
                               "cannot be registered on non-leaf tensors")
    key = id(t)
    entry = _post_accumulate_hooks.get(key)
    if entry is None or entry[0]() is not t:
        entry = _post_accumulate_hooks[key] = (
            weakref.ref(t, lambda _, k=key, d=_post_accumulate_hooks: d.pop(k, None)),
            OrderedDict())
    h = RemovableHandle(entry[1])
    entry[1][h.id] = fn
    return h


def post_accumulate_hooks(t: Tensor):
    """The post-accumulate-grad hooks of leaf ``t`` (None when it has none)."""
    entry = _post_accumulate_hooks.get(id(t))
    return entry[1] if entry is not None and entry[1] and entry[0]() is t else None


def leaf_hooks(t: Tensor):
    """The hooks of leaf ``t`` (None when it has none): one dict test when no leaf has any."""
    if not _leaf_hooks:
        return None
    entry = _leaf_hooks.get(id(t))
    return entry[1] if entry is not None and entry[1] else None


def call_hooks(hooks, g):
    """Pass array ``g`` through ``hooks`` in order; each may return a replacement tensor."""
    for fn in list(hooks.values()):
        r = fn(_make(g))
        if r is None:
            continue
        arr = r._data if isinstance(r, Tensor) else np.asarray(r)
        if arr.shape != g.shape:
            raise LaminaValueError(
                f"hook '{getattr(fn, '__name__', fn)}' has changed the size of value: "
                f"expected {tuple(g.shape)}, got {tuple(arr.shape)}"
            )
        g = arr if arr.dtype == g.dtype else arr.astype(g.dtype)
    return g


def run_output_hooks(node, gs: list) -> list:
    """``gs`` (one gradient per output of ``node``, None where none arrived) with each hooked
    output's gradient passed through its hooks."""
    for idx, hooks in node.watch.hooks.items():
        if hooks and gs[idx] is not None:
            gs[idx] = call_hooks(hooks, gs[idx])
    return gs
