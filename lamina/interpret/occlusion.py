"""``Occlusion``: slide a window of baseline values over the input and record how much the
target output drops (Zeiler and Fergus, 2014), with Captum's semantics.

For each window position ``w`` the input becomes ``x`` with the window's entries set to the
baseline, and every entry inside the window receives ``F(x) - F(x_w)``; each entry's
attribution is the mean over the windows that covered it. Windows start at multiples of the
stride along every non-batch dim, ``ceil((size - window) / stride) + 1`` positions per dim,
the last one cut off at the edge when the stride does not divide evenly (so every entry is
covered).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable

import numpy as np

from lamina.errors import LaminaValueError
from lamina.interpret._common import (
    broadcast_baseline,
    expand_args,
    expand_target,
    format_args,
    format_inputs,
    format_output,
    per_input,
    run_forward,
)

__all__ = ["Occlusion"]


def _shape_tuple(v, ndim: int, what: str, op: str) -> tuple:
    if isinstance(v, numbers.Integral):
        return (int(v),) * ndim
    if not (isinstance(v, tuple) and len(v) == ndim
            and all(isinstance(k, numbers.Integral) and k > 0 for k in v)):
        raise LaminaValueError(f"{op}: {what} must be a tuple of {ndim} positive ints (the input's "
                               f"non-batch dims), got {v!r}")
    return tuple(int(k) for k in v)


class Occlusion:
    """Occlusion attributions of ``forward_func``'s target output.

    >>> Occlusion(model).attribute(x, sliding_window_shapes=(1, 3, 3), strides=(1, 2, 2),
    ...                            baselines=0.0, target=3)
    """

    def __init__(self, forward_func: Callable):
        self.forward_func = forward_func

    def attribute(self, inputs, sliding_window_shapes, strides=None, baselines=None,
                  target=None, additional_forward_args=None, perturbations_per_eval: int = 1,
                  show_progress: bool = False):
        """Args:
            inputs: a tensor ``(N, ...)`` or a tuple of them (each occluded in turn, the
                others left intact).
            sliding_window_shapes: the window over an input's non-batch dims (a tuple of
                such tuples for tuple inputs).
            strides: ``None`` (1), an int, or a tuple per dim (per input for tuple inputs).
            baselines: the value put in the window: ``None`` (0), a number or a tensor
                broadcastable to the input (per input for tuple inputs).
            target, additional_forward_args: see ``lamina.interpret``.
            perturbations_per_eval: how many windows to evaluate per forward pass.
        Returns:
            Attributions shaped like ``inputs``.
        """
        op = "Occlusion.attribute"
        arrays, is_tuple = format_inputs(inputs, op)
        k = len(arrays)
        windows = per_input(sliding_window_shapes, k, is_tuple, "sliding_window_shapes", op)
        strides = per_input(1 if strides is None else strides, k, is_tuple, "strides", op)
        base = per_input(baselines, k, is_tuple, "baselines", op)
        if not isinstance(perturbations_per_eval, int) or perturbations_per_eval < 1:
            raise LaminaValueError(f"{op}: perturbations_per_eval must be a positive int, got "
                                   f"{perturbations_per_eval!r}")
        args = format_args(additional_forward_args)
        n = arrays[0].shape[0]
        f0 = run_forward(self.forward_func, arrays, target, args, op)
        out = []
        for i, x in enumerate(arrays):
            shape = x.shape[1:]
            win = _shape_tuple(windows[i], len(shape), "sliding_window_shapes", op)
            st = _shape_tuple(strides[i], len(shape), "strides", op)
            if any(w > s for w, s in zip(win, shape)):
                raise LaminaValueError(f"{op}: sliding window {win} exceeds the input's dims "
                                       f"{tuple(shape)}")
            if any(s > w and d != w for s, w, d in zip(st, win, shape)):
                raise LaminaValueError(f"{op}: stride {st} cannot be larger than the sliding "
                                       f"window {win}")
            b = broadcast_baseline(base[i], x, op)
            counts = [math.ceil((d - w) / s) + 1 for d, w, s in zip(shape, win, st)]
            starts = list(itertools.product(*[range(c) for c in counts]))
            total = np.zeros_like(x)
            weight = np.zeros(shape, dtype=x.dtype)
            for j in range(0, len(starts), perturbations_per_eval):
                group = starts[j:j + perturbations_per_eval]
                masks = []
                for pos in group:
                    m = np.zeros(shape, dtype=bool)
                    m[tuple(slice(p * s, p * s + w) for p, s, w in zip(pos, st, win))] = True
                    masks.append(m)
                ablated = np.concatenate([np.where(m, b, x) for m in masks])
                batch = [np.concatenate([a] * len(group)) if q != i else ablated
                         for q, a in enumerate(arrays)]
                f = run_forward(self.forward_func, batch,
                                expand_target(target, n, len(group), False),
                                expand_args(args, n, len(group), False), op)
                diff = (np.tile(f0, len(group)) - f).reshape(len(group), n)
                for m, d in zip(masks, diff):
                    total += d.reshape((n,) + (1,) * len(shape)) * m
                    weight += m
            out.append(total / weight)
        return format_output(out, is_tuple)
