"""Reverse-mode differentiation: walk the recorded graph backwards, applying the chain rule.

The graph is made of ``Function`` nodes; a tensor made by an op points at its node (``_ctx``)
and each node points at its input tensors. ``backward`` visits the nodes reachable from the
roots newest first (iteratively, so a 10,000-op chain is fine), handing each node the summed
gradient of its outputs and passing what it returns on to its inputs. Leaves that require
grad accumulate into ``.grad``; intermediate gradients are dropped as soon as their node has
run.
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush

import numpy as np
from numpy import ndarray

from lamina.autograd.grad_mode import GradMode, set_grad_enabled

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
        raise RuntimeError(
            f"{type(node).__name__}.backward returned a gradient of shape {got} for "
            f"input {index} of shape {tuple(shape)}"
        )
    return g


def run_backward(roots, root_grads, retain_graph=False, capture=None, allow_unused=False):
    """Backpropagate from ``roots`` (tensors) seeded with ``root_grads`` (arrays).

    With ``capture`` (a list of tensors) the gradients with respect to those tensors are
    returned instead of accumulated into any ``.grad``: this is ``autograd.grad``.
    """
    grads = {}          # node -> gradient of its output (a list of them for multi-output)
    captured = cap_nodes = None
    if capture is not None:
        captured = {id(t): None for t in capture}
        cap_nodes = {}
        for t in capture:
            if t._ctx is not None:
                cap_nodes.setdefault(t._ctx, []).append(t)

    starts = []
    for t, g in zip(roots, root_grads):
        if t._ctx is None:
            # the root is itself a leaf: its gradient is the seed
            if capture is None:
                _accumulate_leaf(t, g.copy())
            elif id(t) in captured:
                captured[id(t)] = _add(captured[id(t)], g)
            continue
        _add_grad(grads, t._ctx, t._out_idx, g)
        starts.append(t._ctx)

    # Visit nodes newest first: a node is created after every node it consumes, so by the
    # time it is popped, all gradient contributions to it have arrived (PyTorch's engine
    # orders its ready queue the same way, by sequence number). A node is pushed when its
    # first gradient arrives, so "has an entry in grads" doubles as "already queued".
    heap = [(-n.seq, n) for n in set(starts)]
    heapify(heap)
    handed = set()      # ids of arrays already given to a leaf in this pass
    while heap:
        node = heappop(heap)[1]
        inputs = node.inputs
        if inputs is None:
            raise RuntimeError(_FREED)
        g = grads.pop(node)
        if node.retained is not None and capture is None:
            gs = g if node.n_out > 1 else (g,)
            for t in node.retained:
                if gs[t._out_idx] is not None:
                    t.grad = _make_grad(t.grad, gs[t._out_idx])
        if cap_nodes is not None and node in cap_nodes:
            gs = g if node.n_out > 1 else (g,)
            for t in cap_nodes[node]:
                if gs[t._out_idx] is not None:
                    captured[id(t)] = _add(captured[id(t)], gs[t._out_idx])
        for vc, v, arr in node.saved_versions:
            if vc[0] != v:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified "
                    f"by an inplace operation: [{arr.dtype} tensor of shape "
                    f"{tuple(arr.shape)}] is at version {vc[0]}; expected version {v} "
                    f"instead (needed by {type(node).__name__}.backward)"
                )
        in_grads = node.backward(node, *g) if node.n_out > 1 else node.backward(node, g)
        if type(in_grads) is not tuple:
            in_grads = (in_grads,)
        if len(in_grads) != len(inputs):
            raise RuntimeError(
                f"{type(node).__name__}.backward returned {len(in_grads)} gradients, "
                f"expected {len(inputs)} (one per forward argument)"
            )
        for t, gi, need in zip(inputs, in_grads, node.needs_input_grad):
            if gi is None or not need:
                continue
            d = t.data
            if type(gi) is not ndarray:
                gi = np.asarray(gi)     # NumPy returns scalars for 0-d results
            if gi.shape != d.shape:
                gi = unbroadcast(gi, d.shape, node, inputs, t)
            if gi.dtype is not d.dtype and gi.dtype != d.dtype:
                gi = gi.astype(d.dtype)
            if t._prev is None:
                c = t._ctx
                j = t._out_idx
            else:
                c, j = edge(t, node.seq)
            if c is not None:
                if c.n_out == 1:
                    prev = grads.get(c)
                    if prev is None:
                        grads[c] = gi
                        heappush(heap, (-c.seq, c))
                    else:
                        grads[c] = prev + gi
                else:
                    if c not in grads:
                        heappush(heap, (-c.seq, c))
                    _add_grad(grads, c, j, gi)
            elif capture is None:
                if gi.base is not None or id(gi) in handed:
                    gi = gi.copy()
                handed.add(id(gi))
                if t.grad is None:
                    t.grad = gt = _new(Tensor)          # _make(gi), inlined
                    gt.data = gi
                    gt.grad = gt._ctx = gt._vc = gt._prev = None
                    gt.requires_grad = gt._retain = False
                    gt._out_idx = 0
                else:
                    t.grad.data = t.grad.data + gi     # out of place: gi may be shared
            elif id(t) in captured:
                captured[id(t)] = _add(captured[id(t)], gi)
        if not retain_graph:
            node.inputs = None
            node.saved = node.saved_versions = ()
            if node.retained is not None:
                node.retained = None        # it points back at this node's outputs
    if capture is not None:
        out = []
        for t in capture:
            g = captured[id(t)]
            if g is None and not allow_unused:
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have been used in the "
                    "graph. Set allow_unused=True if this is the desired behavior."
                )
            out.append(g)
        return out
    return None


def _add(a, b):
    return b if a is None else a + b


def _add_grad(grads, node, idx, g):
    if node.n_out == 1:
        prev = grads.get(node)
        grads[node] = g if prev is None else prev + g
    else:
        lst = grads.get(node)
        if lst is None:
            lst = grads[node] = [None] * node.n_out
        lst[idx] = g if lst[idx] is None else lst[idx] + g


def _make_grad(prev, g):
    if prev is None:
        return _make(g.copy())
    prev.data = prev.data + g
    return prev


def _accumulate_leaf(t, g):
    if t.grad is None:
        t.grad = _make(g)
    else:
        # out of place: the old array may be shared with a caller
        t.grad.data = t.grad.data + g


def backward(tensor, gradient=None, retain_graph=False):
    """``tensor.backward()``: accumulate d(tensor)/d(leaf) into every leaf's ``.grad``."""
    if not tensor.requires_grad:
        raise RuntimeError(
            "element 0 of tensors does not require grad and does not have a grad_fn"
        )
    if gradient is None:
        if tensor.data.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for scalar outputs; got a tensor of "
                f"shape {tuple(tensor.shape)}: pass gradient= to backward()"
            )
        d = tensor.data
        g = np.array(1, d.dtype) if d.ndim == 0 else np.ones(d.shape, d.dtype)
    else:
        g = _as_grad_array(gradient, tensor, "backward")
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
    if create_graph:
        raise NotImplementedError(
            "autograd.grad: create_graph=True (higher-order gradients) is not supported yet"
        )
    single_out = isinstance(outputs, Tensor)
    outputs = [outputs] if single_out else list(outputs)
    single_in = isinstance(inputs, Tensor)
    inputs = [inputs] if single_in else list(inputs)
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("autograd.grad: one of the inputs does not require grad")
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = [grad_outputs]
    seeds = []
    for o, go in zip(outputs, grad_outputs):
        if not o.requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn"
            )
        if go is None:
            if o.data.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs; got shape "
                    f"{tuple(o.shape)}: pass grad_outputs="
                )
            seeds.append(np.ones_like(o.data))
        else:
            seeds.append(_as_grad_array(go, o, "autograd.grad"))
    with set_grad_enabled(False):
        res = run_backward(outputs, seeds, retain_graph=bool(retain_graph), capture=inputs,
                           allow_unused=allow_unused)
    return tuple(None if g is None else _make(g) for g in res)


def _as_grad_array(gradient, like, where):
    arr = gradient.data if isinstance(gradient, Tensor) else np.asarray(gradient)
    if arr.shape != like.data.shape:
        raise RuntimeError(
            f"{where}: gradient has shape {tuple(arr.shape)} but the output has shape "
            f"{tuple(like.shape)}"
        )
    return np.array(arr, dtype=like.data.dtype, copy=True)


from lamina.tensor import Tensor, _make  # noqa: E402

_new = object.__new__
