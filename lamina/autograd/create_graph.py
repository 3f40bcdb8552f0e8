"""Backward that is itself recorded: ``backward(create_graph=True)`` and
``autograd.grad(..., create_graph=True)``, for gradients of gradients.

The walk is the one ``engine.run_backward`` does (newest node first, a heap keyed by creation
order), with two differences:

* gradients are ``Tensor``s, not arrays, and grad mode is on, so every operation on them is
  recorded and the result can be differentiated again;
* each node runs its ``backward_graph(ctx, *grads)``, the op's backward written in lamina ops
  (``lamina/ops/derivatives.py`` attaches them, as PyTorch's derivatives.yaml lists its
  formulas). An op without one raises ``LaminaError`` naming it.

It lives apart from ``run_backward`` so that the first-order walk, which runs every training
step, pays nothing for it.
"""

from __future__ import annotations

from heapq import heappop, heappush

import numpy as np

from lamina.autograd.engine import (
    _FREED,
    _add,
    _Capture,
    _raise_count,
    _raise_modified,
    edge,
)
from lamina.autograd.grad_mode import set_grad_enabled
from lamina.autograd.hooks import leaf_hooks
from lamina.errors import LaminaError, LaminaValueError
from lamina.tensor import Tensor, _make


def run_backward_graph(roots, root_grads, retain_graph=True, capture=None,
                       allow_unused=False, stop=frozenset()):
    """``engine.run_backward`` with recorded gradients: ``root_grads`` are tensors (they may
    themselves require grad), leaves' ``.grad`` (or the captured gradients) are tensors with
    a graph. Runs with grad mode on. Nodes in ``stop`` are not walked through (their outputs'
    gradients are still captured): ``lamina.ops.derivatives`` differentiates an op's
    re-composition without walking the graph that made its inputs."""
    sink = _GraphAccumulate() if capture is None else _GraphCapture(capture)
    with set_grad_enabled(True):
        _walk(roots, root_grads, sink, retain_graph, stop)
        sink.leaves_done()
    return sink.result(allow_unused)


def _walk(roots, root_grads, sink, retain_graph, stop):
    grads = {}          # node -> gradient tensor of its output (a list for multi-output)
    heap = []
    for t, g in zip(roots, root_grads):
        if t._ctx is None:
            sink.leaf(t, g)
        else:
            _send(grads, heap, t._ctx, t._out_idx, g)
    while heap:
        node = heappop(heap)[1]
        g = grads.pop(node)
        if node.inputs is None:
            raise LaminaValueError(_FREED)
        if node.watch is not None or node in sink.watched:
            g = sink.outputs_done(node, g)
        if node in stop:
            continue
        for vc, v, _ in node.saved_versions:
            if vc[0] != v:
                _raise_modified(node)
        backward_graph = getattr(node, "backward_graph", None)
        if backward_graph is None:
            raise LaminaError(f"{type(node).__name__}: double backward (create_graph=True) "
                              "is not implemented for this op")
        in_grads = backward_graph(node, *g) if node.n_out > 1 else backward_graph(node, g)
        if type(in_grads) is not tuple:
            in_grads = (in_grads,)
        if len(in_grads) != len(node.inputs):
            _raise_count(node, in_grads)
        for t, gi, need in zip(node.inputs, in_grads, node.needs_input_grad):
            if gi is None or not need:
                continue
            gi = conform(gi, t)
            c, j = edge(t, node.seq)
            if c is None:
                sink.leaf(t, gi)
            else:
                _send(grads, heap, c, j, gi)
        if not retain_graph:
            node.inputs = None
            node.saved = node.saved_versions = ()
            if node.watch is not None:
                node.watch = None


def _send(grads, heap, node, idx, g):
    """Add ``g`` to the gradient of output ``idx`` of ``node``; queue the node on its first."""
    if node.n_out == 1:
        prev = grads.get(node)
        if prev is None:
            heappush(heap, (-node.seq, node))
        grads[node] = g if prev is None else prev + g
        return
    lst = grads.get(node)
    if lst is None:
        lst = grads[node] = [None] * node.n_out
        heappush(heap, (-node.seq, node))
    lst[idx] = g if lst[idx] is None else lst[idx] + g


def conform(g, t) -> Tensor:
    """Gradient ``g`` (a tensor, or an array taken as a constant) as a tensor of input ``t``'s
    shape and dtype: broadcast dims are summed away with recorded ops."""
    if not isinstance(g, Tensor):
        g = _make(np.asarray(g))
    return sum_to(g, t._data.shape).to(t._data.dtype)


def sum_to(g: Tensor, shape) -> Tensor:
    """``g`` summed down to ``shape`` (undoing broadcasting), recorded."""
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    lead = g.ndim - len(shape)
    if lead < 0:
        raise LaminaValueError(f"sum_to: cannot sum a gradient of shape {tuple(g.shape)} to "
                               f"shape {shape}")
    if lead:
        g = g.sum(dim=tuple(range(lead)))
    inner = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if inner:
        g = g.sum(dim=inner, keepdim=True)
    if tuple(g.shape) != shape:
        raise LaminaValueError(f"sum_to: cannot sum a gradient of shape {tuple(g.shape)} to "
                               f"shape {shape}")
    return g


def _call_hooks(hooks, g: Tensor) -> Tensor:
    """Tensor hooks on a recorded gradient: each gets the tensor and may return another."""
    for fn in list(hooks.values()):
        r = fn(g)
        if r is None:
            continue
        if not isinstance(r, Tensor):
            r = _make(np.asarray(r, dtype=g._data.dtype))
        if tuple(r.shape) != tuple(g.shape):
            raise LaminaValueError(
                f"hook '{getattr(fn, '__name__', fn)}' has changed the size of value: "
                f"expected {tuple(g.shape)}, got {tuple(r.shape)}"
            )
        g = r
    return g


def _hooked_outputs(node, g):
    """``g`` after the tensor hooks on ``node``'s outputs; a list for multi-output nodes."""
    gs = list(g) if node.n_out > 1 else [g]
    if node.watch is not None:
        for idx, hooks in node.watch.hooks.items():
            if hooks and gs[idx] is not None:
                gs[idx] = _call_hooks(hooks, gs[idx])
    return gs if node.n_out > 1 else gs[0]


class _GraphAccumulate:
    """``backward(create_graph=True)``: each leaf's ``.grad`` becomes a tensor with a graph
    (``.grad + new`` when one is there, out of place, as in PyTorch)."""

    watched = frozenset()

    def __init__(self):
        self.hooked = {}        # id(leaf) -> [leaf, summed gradient]
        self.handed = set()     # ids of gradient tensors already given to a leaf

    def leaf(self, t, g):
        if leaf_hooks(t) is not None:
            entry = self.hooked.get(id(t))
            if entry is None:
                self.hooked[id(t)] = [t, g]
            else:
                entry[1] = entry[1] + g
            return
        self.store(t, g)

    def leaves_done(self):
        for t, g in self.hooked.values():
            self.store(t, _call_hooks(leaf_hooks(t) or {}, g))

    def store(self, t, g):
        if id(g) in self.handed or g._ctx is None and not g.requires_grad:
            g = g.clone()       # never one gradient tensor in two .grad slots
        self.handed.add(id(g))
        t.grad = g if t.grad is None else t.grad + g

    def outputs_done(self, node, g):
        g = _hooked_outputs(node, g)
        gs = list(g) if node.n_out > 1 else [g]
        for t in node.watch.retained:
            gt = gs[t._out_idx]
            if gt is not None:
                t.grad = gt if t.grad is None else t.grad + gt
        return g

    def result(self, allow_unused):
        return None


class _GraphCapture(_Capture):
    """``autograd.grad(create_graph=True)``: the recorded gradient of each requested tensor
    (``_Capture``'s bookkeeping; the gradients are tensors and the hooks run on tensors)."""

    def leaves_done(self):
        for t in self.tensors:
            g = self.captured[id(t)]
            if t._ctx is None and g is not None and leaf_hooks(t) is not None:
                self.captured[id(t)] = _call_hooks(leaf_hooks(t), g)

    def outputs_done(self, node, g):
        g = _hooked_outputs(node, g)
        gs = list(g) if node.n_out > 1 else [g]
        for t in self.watched.get(node, ()):
            if gs[t._out_idx] is not None:
                self.captured[id(t)] = _add(self.captured[id(t)], gs[t._out_idx])
        return g
