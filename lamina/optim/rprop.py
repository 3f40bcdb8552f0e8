"""Rprop: resilient backpropagation, steps sized by the gradient's sign history (Riedmiller
and Braun, 1993)."""

from __future__ import annotations

import numpy as np

from lamina.optim._update import bump, check
from lamina.optim.optimizer import Optimizer
from lamina.tensor import _make

__all__ = ["Rprop"]


class Rprop(Optimizer):
    r"""Rprop, PyTorch's update exactly.

    Every entry has its own step size, started at ``lr``. With ``g`` the gradient and
    ``g_prev`` the previous (possibly zeroed) gradient::

        g <- -g                                   if maximize
        f = etaplus  where g * g_prev > 0          (same sign: grow the step)
            etaminus where g * g_prev < 0          (sign flip: overshot, shrink it)
            1        elsewhere
        step_size <- clip(step_size * f, step_size_min, step_size_max)
        g <- 0 where f == etaminus                 (and skip this entry's move)
        p <- p - sign(g) * step_size
        g_prev <- g

    Only the gradient's sign is used, so Rprop suits full-batch training, not minibatches.

    Args:
        params: tensors or parameter groups to optimize.
        lr: the initial step size (default 1e-2).
        etas: ``(etaminus, etaplus)``, the shrink and growth factors, with
            ``0 < etaminus < 1 < etaplus`` (default (0.5, 1.2)).
        step_sizes: ``(step_size_min, step_size_max)`` (default (1e-6, 50)).
        maximize: maximize the objective instead of minimizing it.

    State per parameter: ``step`` (int), ``prev``, ``step_size``.

    >>> opt = lamina.optim.Rprop(model.parameters(), lr=0.01)
    """

    def __init__(self, params, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *,
                 maximize: bool = False) -> None:
        defaults = dict(lr=lr, etas=etas, step_sizes=step_sizes, maximize=maximize)
        self._validate_group(defaults)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        lr, etas, sizes = group["lr"], group["etas"], group["step_sizes"]
        check(lr >= 0.0, "Rprop", f"invalid learning rate: {lr}")
        check(isinstance(etas, (tuple, list)) and len(etas) == 2, "Rprop",
              f"invalid etas: expected a pair (etaminus, etaplus), got {etas!r}")
        check(0.0 < etas[0] < 1.0 < etas[1], "Rprop", f"invalid eta values: {etas[0]}, {etas[1]}")
        check(isinstance(sizes, (tuple, list)) and len(sizes) == 2, "Rprop",
              f"invalid step_sizes: expected a pair (min, max), got {sizes!r}")
        check(0.0 <= sizes[0] <= sizes[1], "Rprop",
              f"invalid step sizes: {sizes[0]}, {sizes[1]} (need 0 <= min <= max)")

    def _step_group(self, group):
        etaminus, etaplus = group["etas"]
        lo, hi = group["step_sizes"]
        lr = group["lr"]
        state = self.state
        for p, d, g, s in self._grads(group, 0):
            st = state[p]
            if not st:
                st["step"] = 0
                st["prev"] = _make(np.zeros_like(d))
                st["step_size"] = _make(np.full_like(d, lr))
            st["step"] += 1
            prev, size = st["prev"]._data, st["step_size"]._data
            f = s[1]
            np.multiply(g, prev, out=f)
            grow = np.greater(f, 0)
            flip = np.less(f, 0)
            f.fill(1)
            f[grow] = etaplus
            f[flip] = etaminus
            np.multiply(size, f, out=size)
            np.clip(size, lo, hi, out=size)
            # prev <- g, zeroed where the sign flipped; the move is -sign(prev) * step_size
            np.copyto(prev, g)
            prev[flip] = 0
            np.sign(prev, out=f)
            np.multiply(f, size, out=f)
            np.subtract(d, f, out=d)
            bump(p)
