"""Reverse-mode differentiation: walk the recorded graph backwards, applying the chain rule.

The graph is made of ``Function`` nodes; a tensor made by an op points at its node (``_ctx``)
and each node points at its input tensors. ``backward`` visits the nodes reachable from the
roots newest first (iteratively, so a 10,000-op chain is fine), handing each node the summed
gradient of its outputs and passing what it returns on to its inputs. Leaves that require
grad accumulate into ``.grad``; intermediate gradients are dropped as soon as their node has
run.
"""

from __future__ import annotations

from heapq import heappop, heappush

import numpy as np
from numpy import ndarray

from lamina.autograd.grad_mode import GradMode, set_grad_enabled
from lamina.autograd.hooks import (  # noqa: F401  (for Tensor)
    _leaf_hooks,
    _post_accumulate_hooks,
    call_hooks,
    leaf_hooks,
    post_accumulate_hooks,
    register_post_accumulate_grad_hook,
    register_tensor_hook,
    run_output_hooks,
    watch,
)
from lamina.errors import LaminaValueError

_FREED = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time."
)


def edge(t, seq: int):
    """The (node, output index) that tensor ``t`` was the output of when node ``seq`` used it.

    Normally that is ``t``'s current ``grad_fn``. An in-place op that records itself gives
    ``t`` a new one and pushes the old one onto ``t._prev`` as ``(first_seq, node, index,
    older)``: nodes created before ``first_seq`` still see the old edge.
    """
    prev = t._prev
    c, i = t._ctx, t._out_idx
    while prev is not None and seq < prev[0]:
        c, i = prev[1], prev[2]
        prev = prev[3]
    return c, i


def unbroadcast(g, shape, node, inputs, t):
    """Sum a broadcast gradient back down to ``shape``, the shape of input ``t`` of ``node``
    (``inputs`` are its inputs: the error message names the input's position)."""
    got = g.shape
    lead = g.ndim - len(shape)
    if lead >= 0:
        if g.shape[lead:] == shape:             # only leading dims were added (the bias case)
            if lead == 1:
                g = g.sum(axis=0)
            elif lead:
                g = g.sum(axis=tuple(range(lead)))
        else:
            inner = tuple(lead + i for i, n in enumerate(shape)
                          if n == 1 and g.shape[lead + i] != 1)
            if inner:
                g = g.sum(axis=tuple(range(lead)) + inner, keepdims=True)
                if lead:
                    g = g.reshape(shape)
            elif lead:
                g = g.sum(axis=tuple(range(lead)))
    if g.shape != tuple(shape):
        index = next(k for k, x in enumerate(inputs) if x is t)
        raise LaminaValueError(
            f"{type(node).__name__}.backward returned a gradient of shape {got} for "
            f"input {index} of shape {tuple(shape)}"
        )
    return g


def run_backward(roots, root_grads, retain_graph=False, capture=None, allow_unused=False):
    """Backpropagate from ``roots`` (tensors) seeded with ``root_grads`` (arrays).

    Leaves that require grad accumulate into ``.grad``. With ``capture`` (a list of tensors)
    the gradients with respect to those tensors are returned instead, and no ``.grad``
    changes: this is ``autograd.grad``.

    The chain rule, newest node first. A node is created after every node it consumes, so
    creation order is a topological order and its reverse is the order micrograd's loop
    walks; a heap keyed by the node's sequence number yields it lazily, visiting only nodes a
    gradient reaches (PyTorch's engine orders its ready queue the same way). When a node is
    popped, every contribution to its gradient has arrived.
    """
    sink = _Accumulate(roots) if capture is None else _Capture(capture)
    _callbacks.append([])
    try:
        _run(sink, roots, root_grads, retain_graph)
        sink.leaves_done()                      # hooked leaves: their summed gradient, hooked
        done = _callbacks[-1]
        while done:                             # queue_callback: end-of-pass work, in order
            done.pop(0)()
    finally:
        _callbacks.pop()
    return sink.result(allow_unused)


_callbacks: list = []   # one list per backward pass in progress (a hook may run backward)


def queue_callback(fn) -> None:
    """Run ``fn()`` when the backward pass now running has finished (after every ``.grad``
    and hook): PyTorch's ``Variable._execution_engine.queue_callback``. Data-parallel
    training uses it to wait for its gradient reductions before ``backward()`` returns.
    Only valid inside a backward pass (from a hook)."""
    if not _callbacks:
        raise LaminaValueError("queue_callback: called outside a backward pass; call it from a "
                               "hook that runs during backward()")
    _callbacks[-1].append(fn)


def _run(sink, roots, root_grads, retain_graph):
    grads = {}          # node -> gradient of its output (a list of them for multi-output)
    heap = []           # (-seq, node): a node is pushed when its first gradient arrives
    for t, g in zip(roots, root_grads):
        if t._ctx is None:
            sink.leaf(t, g)                     # the root is itself a leaf: g is its gradient
        else:
            _send(grads, heap, t._ctx, t._out_idx, g)

    while heap:
        node = heappop(heap)[1]
        g = grads.pop(node)
        if node.inputs is None:
            raise LaminaValueError(_FREED)
        if node.watch is not None or node in sink.watched:
            g = sink.outputs_done(node, g)      # tensor hooks, retain_grad(), autograd.grad
        for vc, v, _ in node.saved_versions:    # nothing it saved was changed in place since
            if vc[0] != v:
                _raise_modified(node)
        in_grads = node.backward(node, *g) if node.n_out > 1 else node.backward(node, g)
        if type(in_grads) is not tuple:
            in_grads = (in_grads,)
        if len(in_grads) != len(node.inputs):
            _raise_count(node, in_grads)
        for t, gi, need in zip(node.inputs, in_grads, node.needs_input_grad):
            if gi is None or not need:
                if need and sink.pending:       # a None gradient still settles the edge
                    c, _ = (t._ctx, t._out_idx) if t._prev is None else edge(t, node.seq)
                    if c is None:
                        sink.settle(t)
                continue
            d = t._data
            if type(gi) is not ndarray or gi.shape != d.shape or gi.dtype is not d.dtype:
                gi = _conform(gi, t, node)      # to t's shape (summing broadcast dims), dtype
            c, j = (t._ctx, t._out_idx) if t._prev is None else edge(t, node.seq)
            if c is None:
                sink.leaf(t, gi)                # a leaf: into .grad, or captured
            elif c.n_out == 1:
                prev = grads.get(c)
                if prev is None:                # c's first gradient: queue c
                    grads[c] = gi
                    heappush(heap, (-c.seq, c))
                else:
                    grads[c] = prev + gi        # accumulate
            else:
                _send(grads, heap, c, j, gi)
        if not retain_graph:                    # free what backward needed: no second pass
            node.inputs = None
            node.saved = node.saved_versions = ()
            if node.watch is not None:
                node.watch = None               # it points back at this node's outputs


def _send(grads, heap, node, idx, g):
    """Add ``g`` to the gradient of output ``idx`` of ``node``; queue the node on its first."""
    if node.n_out == 1:
        prev = grads.get(node)
        if prev is None:
            grads[node] = g
            heappush(heap, (-node.seq, node))
        else:
            grads[node] = prev + g
        return
    lst = grads.get(node)
    if lst is None:
        lst = grads[node] = [None] * node.n_out
        heappush(heap, (-node.seq, node))
    lst[idx] = g if lst[idx] is None else lst[idx] + g


def _raise_count(node, in_grads):
    raise LaminaValueError(
        f"{type(node).__name__}.backward returned {len(in_grads)} gradients, "
        f"expected {len(node.inputs)} (one per forward argument)"
    )


def _conform(g, t, node):
    """``g`` as an array of input ``t``'s shape (summing broadcast dims) and dtype."""
    d = t._data
    if type(g) is not ndarray:
        g = np.asarray(g)     # NumPy returns scalars for 0-d results
    if g.shape != d.shape:
        g = unbroadcast(g, d.shape, node, node.inputs, t)
    if g.dtype is not d.dtype and g.dtype != d.dtype:
        g = g.astype(d.dtype)
    return g


def _raise_modified(node):
    """An array ``node`` saved for backward was modified in place after it ran."""
    for vc, v, arr in node.saved_versions:
        if vc[0] != v:
            raise LaminaValueError(
                "one of the variables needed for gradient computation has been modified "
                f"by an inplace operation: [{arr.dtype} tensor of shape "
                f"{tuple(arr.shape)}] is at version {vc[0]}; expected version {v} "
                f"instead (needed by {type(node).__name__}.backward)"
            )


def _output_grads(node, g):
    return g if node.n_out > 1 else (g,)


def _hooked_outputs(node, g):
    """``g`` after the tensor hooks registered on ``node``'s outputs (see autograd.hooks)."""
    if node.watch is None or not node.watch.hooks:
        return g
    gs = run_output_hooks(node, list(_output_grads(node, g)))
    return gs if node.n_out > 1 else gs[0]


class _Accumulate:
    """Where ``backward()`` puts gradients: each leaf's ``.grad``, and the ``.grad`` of
    non-leaf tensors that called ``retain_grad()``."""

    watched = frozenset()       # retained tensors and hooks are found through node.watch

    def __init__(self, roots):
        self.handed = set()     # ids of arrays already given to a leaf in this pass
        self.hooked = {}        # id(leaf) -> [leaf, summed gradient] for leaves with hooks
        # leaves with post-accumulate-grad hooks: id -> graph edges into them still to come
        self.pending = _count_edges(roots) if _post_accumulate_hooks else None
        self.stored = {}        # id -> leaf, of pending leaves that received a gradient

    def leaf(self, t, g):
        if _leaf_hooks and leaf_hooks(t) is not None:   # summed now, hooked at the end
            entry = self.hooked.get(id(t))
            if entry is None:
                self.hooked[id(t)] = [t, g]
            else:
                entry[1] = entry[1] + g
            return
        self.store(t, g)
        if self.pending:
            self.settle(t)

    def settle(self, t):
        """One edge into leaf ``t`` is done; after its last, ``t``'s post-accumulate hooks."""
        k = id(t)
        n = self.pending.get(k)
        if n is None or k in self.hooked:   # a leaf with tensor hooks finishes at the end
            return
        if n > 1:
            self.pending[k] = n - 1
            return
        del self.pending[k]
        if self.stored.pop(k, None) is not None:
            _post_hooks(t)

    def leaves_done(self):
        for t, g in self.hooked.values():
            self.store(t, call_hooks(leaf_hooks(t) or {}, g))
        # leaves whose last edge never ran (a node upstream got no gradient): now complete
        for t in self.stored.values():
            _post_hooks(t)
        self.stored = {}

    def store(self, t, g):
        if self.pending is not None and id(t) in self.pending:
            self.stored[id(t)] = t
        # a .grad never shares memory with a view, or with another leaf's .grad
        if g.base is not None or id(g) in self.handed:
            g = g.copy()
        self.handed.add(id(g))
        if t.grad is None:
            t.grad = gt = _new(Tensor)          # _make(g), inlined: once per leaf per step
            gt._data = g
            gt.grad = gt._ctx = gt._vc = gt._prev = None
            gt.requires_grad = gt._retain = False
            gt._out_idx = 0
        else:
            t.grad._data = t.grad._data + g       # out of place: the old array may be shared

    def outputs_done(self, node, g):
        g = _hooked_outputs(node, g)
        gs = _output_grads(node, g)
        for t in node.watch.retained:           # after the hooks, as in PyTorch
            if gs[t._out_idx] is not None:
                gt = gs[t._out_idx]
                if t.grad is None:
                    t.grad = _make(gt.copy())
                else:
                    t.grad._data = t.grad._data + gt
        return g

    def result(self, allow_unused):
        return None


def _count_edges(roots) -> dict:
    """For each leaf with post-accumulate-grad hooks that backward from ``roots`` can reach:
    how many graph edges lead into it (each delivers one contribution, or a None)."""
    counts = {}
    seen = set()
    stack = []
    for t in roots:
        if t._ctx is None:
            if id(t) in _post_accumulate_hooks:
                counts[id(t)] = counts.get(id(t), 0) + 1
        elif t._ctx not in seen:
            seen.add(t._ctx)
            stack.append(t._ctx)
    while stack:
        node = stack.pop()
        if node.inputs is None:                 # freed: backward raises when it gets here
            continue
        for t, need in zip(node.inputs, node.needs_input_grad):
            if not need:
                continue
            c, _ = (t._ctx, t._out_idx) if t._prev is None else edge(t, node.seq)
            if c is None:
                if id(t) in _post_accumulate_hooks:
                    counts[id(t)] = counts.get(id(t), 0) + 1
            elif c not in seen:
                seen.add(c)
                stack.append(c)
    return counts


def _post_hooks(t) -> None:
    hooks = post_accumulate_hooks(t)
    if hooks:
        for fn in list(hooks.values()):
            fn(t)


class _Capture:
    """Where ``autograd.grad`` puts gradients: a sum per requested tensor, leaf or not."""

    pending = None              # autograd.grad runs no post-accumulate-grad hooks

    def __init__(self, tensors):
        self.tensors = tensors
        self.captured = {id(t): None for t in tensors}
        self.watched = {}       # node -> the requested tensors that are its outputs
        for t in tensors:
            if t._ctx is not None:
                self.watched.setdefault(t._ctx, []).append(t)

    def leaf(self, t, g):
        if id(t) in self.captured:
            self.captured[id(t)] = _add(self.captured[id(t)], g)

    def leaves_done(self):
        for t in self.tensors:                  # a captured leaf's hooks see its gradient
            g = self.captured[id(t)]
            if t._ctx is None and g is not None and leaf_hooks(t) is not None:
                self.captured[id(t)] = call_hooks(leaf_hooks(t), g)

    def outputs_done(self, node, g):
        g = _hooked_outputs(node, g)
        gs = _output_grads(node, g)
        for t in self.watched.get(node, ()):
            if gs[t._out_idx] is not None:
                self.captured[id(t)] = _add(self.captured[id(t)], gs[t._out_idx])
        return g

    def result(self, allow_unused):
        out = [self.captured[id(t)] for t in self.tensors]
        if not allow_unused and any(g is None for g in out):
            raise LaminaValueError(
                "One of the differentiated Tensors appears to not have been used in the "
                "graph. Set allow_unused=True if this is the desired behavior."
            )
        return out


def _add(a, b):
    return b if a is None else a + b


def backward(tensor, gradient=None, retain_graph=None, create_graph=False):
    """``tensor.backward()``: accumulate d(tensor)/d(leaf) into every leaf's ``.grad``.
    ``create_graph=True`` records the backward itself (see ``autograd.create_graph``);
    ``retain_graph`` defaults to ``create_graph``, as in PyTorch."""
    if not tensor.requires_grad:
        raise LaminaValueError(
            "element 0 of tensors does not require grad and does not have a grad_fn"
        )
    if gradient is None:
        if tensor._data.size != 1:
            raise LaminaValueError(
                f"grad can be implicitly created only for scalar outputs; got a tensor of "
                f"shape {tuple(tensor.shape)}: pass gradient= to backward()"
            )
        d = tensor._data
        g = np.array(1, d.dtype) if d.ndim == 0 else np.ones(d.shape, d.dtype)
    else:
        g = _as_grad_array(gradient, tensor, "backward")
    if retain_graph is None:
        retain_graph = create_graph
    if create_graph:
        _graph_backward([tensor], [g], [gradient], retain_graph)
        return
    prev = GradMode.enabled
    GradMode.enabled = False
    try:
        run_backward([tensor], [g], retain_graph=retain_graph)
    finally:
        GradMode.enabled = prev


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned without touching ``.grad``.

    >>> (gx,) = grad((x * x).sum(), [x])   # gx == 2 * x
    """
    single_out = isinstance(outputs, Tensor)
    outputs = [outputs] if single_out else list(outputs)
    single_in = isinstance(inputs, Tensor)
    inputs = [inputs] if single_in else list(inputs)
    for t in inputs:
        if not t.requires_grad:
            raise LaminaValueError("autograd.grad: one of the inputs does not require grad")
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = [grad_outputs]
    seeds = []
    for o, go in zip(outputs, grad_outputs):
        if not o.requires_grad:
            raise LaminaValueError(
                "element 0 of tensors does not require grad and does not have a grad_fn"
            )
        if go is None:
            if o._data.size != 1:
                raise LaminaValueError(
                    f"grad can be implicitly created only for scalar outputs; got shape "
                    f"{tuple(o.shape)}: pass grad_outputs="
                )
            seeds.append(np.ones_like(o._data))
        else:
            seeds.append(_as_grad_array(go, o, "autograd.grad"))
    if retain_graph is None:
        retain_graph = create_graph
    if create_graph:
        return tuple(_graph_backward(outputs, seeds, grad_outputs, retain_graph, inputs,
                                     allow_unused))
    with set_grad_enabled(False):
        res = run_backward(outputs, seeds, retain_graph=bool(retain_graph), capture=inputs,
                           allow_unused=allow_unused)
    return tuple(None if g is None else _make(g) for g in res)


def _graph_backward(roots, seeds, given, retain_graph, capture=None, allow_unused=False):
    """The create_graph=True walk (``autograd.create_graph``). A gradient passed in as a
    tensor is used as it is (it may itself require grad); otherwise its array seed."""
    from lamina.autograd.create_graph import run_backward_graph

    grads = [go if isinstance(go, Tensor) and go._data.shape == s.shape
             and go._data.dtype == s.dtype else _make(s) for s, go in zip(seeds, given)]
    return run_backward_graph(roots, grads, retain_graph, capture, allow_unused)


def _as_grad_array(gradient, like, where):
    arr = gradient._data if isinstance(gradient, Tensor) else np.asarray(gradient)
    if arr.shape != like._data.shape:
        raise LaminaValueError(
            f"{where}: gradient has shape {tuple(arr.shape)} but the output has shape "
            f"{tuple(like.shape)}"
        )
    return np.array(arr, dtype=like._data.dtype, copy=True)


from lamina.tensor import Tensor, _make  # noqa: E402

_new = object.__new__
