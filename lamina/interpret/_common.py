"""What every attribution method shares: input and target formatting, the forward pass with
the target's outputs selected, and gradients with respect to the inputs.

The conventions are Captum's: ``inputs`` is a tensor or a tuple of tensors (the attributions
come back in the same form), the model is called as ``model(*inputs,
*additional_forward_args)``, and ``target`` picks one output per example:

* ``None``: the output already has one value per example (shape ``(N,)`` or ``(N, 1)``);
* an int (or a one-element tensor): that column for every example;
* a tuple of ints: that index into each example's output (outputs with more dims);
* a list, array or tensor of ``N`` ints (or ``N`` tuples): one per example.

Gradients are taken with ``lamina.autograd.grad`` of the sum of the selected outputs, so no
``.grad`` is touched, and the model's train/eval mode is left as it is (call
``model.eval()`` first, as with Captum).
"""

from __future__ import annotations

import numbers

import numpy as np

from lamina.autograd import enable_grad, grad
from lamina.errors import LaminaIndexError, LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor, _make


def format_inputs(inputs, op: str) -> tuple[list[np.ndarray], bool]:
    """``(list of float arrays, was_tuple)``."""
    is_tuple = isinstance(inputs, tuple)
    items = inputs if is_tuple else (inputs,)
    if not items:
        raise LaminaValueError(f"{op}: inputs is an empty tuple; expected a tensor or a tuple of "
                               "tensors")
    arrays = []
    for i, t in enumerate(items):
        if isinstance(t, Tensor):
            a = t._data
        elif isinstance(t, np.ndarray):
            a = t
        else:
            raise LaminaTypeError(f"{op}: inputs must be a lamina Tensor (or a tuple of them), got "
                                  f"{type(t).__name__}" + (f" at position {i}" if is_tuple else ""))
        if a.dtype.kind != "f":
            raise LaminaTypeError(f"{op}: inputs must be floating point, got dtype {a.dtype}")
        if a.ndim == 0:
            raise LaminaValueError(f"{op}: inputs need a batch dimension, got a 0-d tensor")
        arrays.append(a)
    n = arrays[0].shape[0]
    if any(a.shape[0] != n for a in arrays):
        raise LaminaValueError(f"{op}: all inputs must have the same batch size, got "
                               f"{[a.shape[0] for a in arrays]}")
    return arrays, is_tuple


def format_output(arrays, is_tuple: bool):
    out = tuple(_make(np.ascontiguousarray(a)) for a in arrays)
    return out if is_tuple else out[0]


def format_args(additional_forward_args) -> tuple:
    if additional_forward_args is None:
        return ()
    if isinstance(additional_forward_args, tuple):
        return additional_forward_args
    return (additional_forward_args,)


def per_input(value, n_inputs: int, is_tuple: bool, what: str, op: str) -> tuple:
    """A setting for each input: with tuple inputs a tuple setting has one entry per input;
    otherwise the one value applies (to the single input, or to every input)."""
    if is_tuple and isinstance(value, tuple):
        if len(value) != n_inputs:
            raise LaminaValueError(f"{op}: {what} has {len(value)} entries for {n_inputs} inputs; "
                                   "with tuple inputs give one entry per input")
        return value
    return (value,) * n_inputs


def _rows(a) -> np.ndarray:
    return a._data if isinstance(a, Tensor) else np.asarray(a)


def _is_per_example(v, n: int) -> bool:
    return isinstance(v, (Tensor, np.ndarray)) and v.ndim > 0 and v.shape[0] == n


def expand_args(args: tuple, n: int, reps: int, interleave: bool) -> tuple:
    """Repeat the per-example tensors among ``args`` for a batch made of ``reps`` copies of
    each example: whole batch after whole batch (``interleave=False``, as integrated
    gradients' steps) or each example's copies together (``interleave=True``, noise
    samples). Other arguments pass through."""
    out = []
    for a in args:
        if _is_per_example(a, n):
            arr = _rows(a)
            arr = np.repeat(arr, reps, axis=0) if interleave else np.concatenate([arr] * reps)
            out.append(_make(arr) if isinstance(a, Tensor) else arr)
        else:
            out.append(a)
    return tuple(out)


def expand_target(target, n: int, reps: int, interleave: bool):
    """``target`` for a batch of ``reps`` copies of each example (see ``expand_args``)."""
    if target is None or isinstance(target, (numbers.Integral, tuple)):
        return target
    t = _rows(target) if isinstance(target, (Tensor, np.ndarray)) else np.asarray(target)
    if t.size == 1 and t.ndim <= 1:
        return target
    return np.repeat(t, reps, axis=0) if interleave else np.concatenate([t] * reps)


def target_mask(out_shape: tuple, target, op: str) -> np.ndarray:
    """A 0/1 array of the output's shape with a single 1 per example, at the target."""
    n = out_shape[0]
    rows = np.arange(n)
    if target is None:
        if int(np.prod(out_shape[1:])) != 1:
            raise LaminaValueError(f"{op}: target=None needs one output per example, but the model "
                                   f"returned shape {tuple(out_shape)}; pass target=<class index>")
        return np.ones(out_shape)
    if isinstance(target, Tensor):
        target = target._data
    if isinstance(target, np.ndarray) and target.size == 1 and target.ndim <= 1:
        target = target.reshape(()).item()
    if isinstance(target, numbers.Integral) and not isinstance(target, bool):
        idx = (np.full(n, int(target)),)
    elif isinstance(target, tuple):
        idx = tuple(np.full(n, int(t)) for t in target)
    else:
        t = np.asarray(target)
        if t.dtype.kind not in "iu" or t.shape[:1] != (n,) or t.ndim > 2:
            raise LaminaValueError(f"{op}: target must be an int, a tuple of ints, or one int (or "
                                   f"tuple) per example ({n}), got {target!r}")
        idx = (t,) if t.ndim == 1 else tuple(t.T)
    if len(out_shape) != 1 + len(idx):
        raise LaminaValueError(f"{op}: target {target!r} indexes {len(idx)} output dim(s) per "
                               f"example, but the model's output has shape {tuple(out_shape)}")
    for d, ix in enumerate(idx):
        if ix.size and (ix.min() < -out_shape[d + 1] or ix.max() >= out_shape[d + 1]):
            raise LaminaIndexError(f"{op}: target {target!r} is out of range for outputs of shape "
                                   f"{tuple(out_shape)}")
    mask = np.zeros(out_shape)
    mask[(rows, *idx)] = 1.0
    return mask


def run_forward(model, arrays, target, args, op: str) -> np.ndarray:
    """The selected output per example, ``(N,)``, without recording a graph."""
    from lamina.autograd import no_grad
    with no_grad():
        out = model(*[_make(a) for a in arrays], *args)
    out = _output(out, op)
    mask = target_mask(out.shape, target, op)
    return (out._data * mask).reshape(out.shape[0], -1).sum(axis=1)


def _output(out, op: str) -> Tensor:
    if not isinstance(out, Tensor):
        raise LaminaTypeError(f"{op}: the model must return a Tensor, got {type(out).__name__}")
    if out.ndim == 0:
        raise LaminaValueError(f"{op}: the model returned a 0-d tensor; expected one output (row) "
                               "per example")
    return out


def compute_gradients(model, arrays, target, args, op: str) -> list[np.ndarray]:
    """``d sum_i output_i[target_i] / d input`` for each input array."""
    leaves = [_make(np.array(a, copy=True), requires_grad=True) for a in arrays]
    with enable_grad():
        out = _output(model(*leaves, *args), op)
        mask = target_mask(out.shape, target, op)
        selected = (out * _make(mask.astype(out._data.dtype))).sum()
        grads = grad(selected, leaves, allow_unused=True)
    return [np.zeros_like(a) if g is None else g._data for a, g in zip(arrays, grads)]


def broadcast_baseline(baseline, x: np.ndarray, op: str) -> np.ndarray:
    """``None`` (zeros), a number, or an array broadcastable to ``x`` (e.g. one example)."""
    if baseline is None:
        return np.zeros_like(x)
    b = _rows(baseline) if not isinstance(baseline, numbers.Real) else np.asarray(baseline)
    try:
        return np.broadcast_to(b, x.shape).astype(x.dtype)
    except ValueError:
        raise LaminaValueError(f"{op}: baseline of shape {tuple(b.shape)} does not broadcast to "
                               f"the "
                               f"input's shape {tuple(x.shape)}") from None
