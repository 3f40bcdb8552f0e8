"""``IntegratedGradients`` (Sundararajan, Taly and Yan, 2017), Captum's semantics.

For input ``x``, baseline ``x'`` and the target output ``F``::

    IG(x) = (x - x') * integral_0^1 dF(x' + a (x - x')) / dx da
          ~ (x - x') * sum_k w_k * dF(x' + a_k (x - x')) / dx

with the nodes ``a_k`` and weights ``w_k`` of ``method``, for ``n`` steps:

=================  ==========================================  =========================
method             a_k                                         w_k
=================  ==========================================  =========================
``riemann_left``   ``linspace(0, 1 - 1/n, n)``                 ``1/n``
``riemann_right``  ``linspace(1/n, 1, n)``                     ``1/n``
``riemann_middle`` ``linspace(1/(2n), 1 - 1/(2n), n)``         ``1/n``
``riemann_trapezoid`` ``linspace(0, 1, n)``                    ``1/n``, halved at both ends
``gausslegendre``  ``(1 + t_k) / 2``, Gauss-Legendre nodes     ``v_k / 2`` (the default)
=================  ==========================================  =========================

(Captum's trapezoid weights sum to ``1 - 1/n``, not 1; lamina keeps them for parity.
Captum rounds the weights ``w_k`` to float32; lamina keeps them in float64, so float64
results differ from Captum's by up to about ``2**-24`` relative.) The
convergence delta is ``sum(IG(x)) - (F(x) - F(x'))`` per example: the integral's error.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.interpret._common import (
    broadcast_baseline,
    compute_gradients,
    expand_args,
    expand_target,
    format_args,
    format_inputs,
    format_output,
    per_input,
    run_forward,
)
from lamina.tensor import Tensor, _make

__all__ = ["IntegratedGradients", "approximation_parameters"]

_METHODS = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid",
            "gausslegendre")


def approximation_parameters(method: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(step_sizes, alphas)``: the quadrature weights and nodes on [0, 1]."""
    if method not in _METHODS:
        raise LaminaValueError(f"IntegratedGradients: unknown method {method!r}; expected one of "
                               f"{', '.join(_METHODS)}")
    if method == "gausslegendre":
        if n < 1:
            raise LaminaValueError(f"IntegratedGradients: n_steps must be at least 1, got {n}")
        t, v = np.polynomial.legendre.leggauss(n)
        return 0.5 * v, 0.5 * (1 + t)
    if n < 2:
        raise LaminaValueError(f"IntegratedGradients: n_steps must be at least 2 for {method}, "
                               f"got {n}")
    steps = np.full(n, 1.0 / n)
    if method == "riemann_trapezoid":
        steps[0] /= 2
        steps[-1] /= 2
        return steps, np.linspace(0, 1, n)
    lo, hi = {"riemann_left": (0, 1 - 1 / n), "riemann_right": (1 / n, 1),
              "riemann_middle": (1 / (2 * n), 1 - 1 / (2 * n))}[method]
    return steps, np.linspace(lo, hi, n)


class IntegratedGradients:
    """Integrated gradients of ``forward_func``'s target output along the straight path from
    ``baselines`` to ``inputs`` (see the module docstring for the quadrature).

    ``multiply_by_inputs=False`` returns the integrated gradient without the ``(x - x')``
    factor (Captum's "local" attribution).

    >>> ig = IntegratedGradients(model)
    >>> attr, delta = ig.attribute(x, baselines=0.0, target=3, n_steps=64,
    ...                            return_convergence_delta=True)
    """

    def __init__(self, forward_func: Callable, multiply_by_inputs: bool = True):
        self.forward_func = forward_func
        self.multiplies_by_inputs = multiply_by_inputs

    def attribute(self, inputs, baselines=None, target=None, additional_forward_args=None,
                  n_steps: int = 50, method: str = "gausslegendre",
                  internal_batch_size: int | None = None,
                  return_convergence_delta: bool = False):
        """Args:
            inputs: a tensor ``(N, ...)`` or a tuple of them.
            baselines: ``None`` (zeros), a number, a tensor broadcastable to the input (one
                example or the whole batch), or a tuple of these per input.
            target: which output to explain (see ``lamina.interpret``).
            n_steps, method: the quadrature (see the module docstring).
            internal_batch_size: evaluate at most this many scaled examples per forward
                pass (a memory bound; the result is the same).
            return_convergence_delta: also return ``sum(attr) - (F(x) - F(x'))`` per
                example.
        Returns:
            Attributions shaped like ``inputs``, and the delta ``(N,)`` when asked.
        """
        op = "IntegratedGradients.attribute"
        arrays, is_tuple = format_inputs(inputs, op)
        if not isinstance(n_steps, int) or isinstance(n_steps, bool):
            raise LaminaTypeError(f"{op}: n_steps must be an int, got {type(n_steps).__name__}")
        steps, alphas = approximation_parameters(method, n_steps)
        base = [broadcast_baseline(b, a, op) for b, a in
                zip(per_input(baselines, len(arrays), is_tuple, "baselines", op), arrays)]
        args = format_args(additional_forward_args)
        n = arrays[0].shape[0]
        if internal_batch_size is not None:
            if not isinstance(internal_batch_size, int) or internal_batch_size < 1:
                raise LaminaValueError(f"{op}: internal_batch_size must be a positive int, got "
                                       f"{internal_batch_size!r}")
            chunk = max(1, internal_batch_size // n)
        else:
            chunk = n_steps
        total = [np.zeros_like(a) for a in arrays]
        for k0 in range(0, n_steps, chunk):
            ks = range(k0, min(k0 + chunk, n_steps))
            scaled = [np.concatenate([b + alphas[k] * (a - b) for k in ks])
                      for a, b in zip(arrays, base)]
            grads = compute_gradients(
                self.forward_func, scaled, expand_target(target, n, len(ks), False),
                expand_args(args, n, len(ks), False), op)
            for i, g in enumerate(grads):
                w = np.asarray([steps[k] for k in ks], dtype=g.dtype)
                g = g.reshape((len(ks), n) + g.shape[1:])
                total[i] += np.tensordot(w, g, axes=1)
        attrs = [t * (a - b) if self.multiplies_by_inputs else t
                 for t, a, b in zip(total, arrays, base)]
        out = format_output(attrs, is_tuple)
        if not return_convergence_delta:
            return out
        return out, self.compute_convergence_delta(attrs, base, arrays, target, args)

    def compute_convergence_delta(self, attributions, start_point, end_point, target=None,
                                  additional_forward_args=None):
        """``sum(attributions) - (F(end_point) - F(start_point))`` per example."""
        op = "IntegratedGradients.compute_convergence_delta"
        attrs = attributions if isinstance(attributions, (list, tuple)) else [attributions]
        attrs = [a._data if isinstance(a, Tensor) else np.asarray(a) for a in attrs]
        start = start_point if isinstance(start_point, list) else format_inputs(
            start_point, op)[0]
        end = end_point if isinstance(end_point, list) else format_inputs(end_point, op)[0]
        args = format_args(additional_forward_args)
        f_start = run_forward(self.forward_func, start, target, args, op)
        f_end = run_forward(self.forward_func, end, target, args, op)
        attr_sum = sum(a.reshape(a.shape[0], -1).sum(axis=1) for a in attrs)
        return _make(attr_sum - (f_end - f_start))
