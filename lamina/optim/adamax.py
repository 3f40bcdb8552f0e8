"""Adamax: Adam with the infinity norm in place of the second moment (Kingma and Ba, 2014)."""

from __future__ import annotations

import numpy as np

from lamina.optim._update import bump, check_adam_family, lerp_
from lamina.optim.optimizer import Optimizer
from lamina.tensor import _make

__all__ = ["Adamax"]


class Adamax(Optimizer):
    r"""Adamax, PyTorch's update exactly.

    With ``g`` the gradient and ``t`` the step count (from 1)::

        g <- -g                                   if maximize
        g <- g + weight_decay * p                 if weight_decay
        m <- beta1 * m + (1 - beta1) * g
        u <- max(beta2 * u, |g| + eps)
        p <- p - lr / (1 - beta1**t) * m / u

    Args:
        params: tensors or parameter groups to optimize.
        lr: learning rate (default 2e-3).
        betas: decay rates ``(beta1, beta2)`` of the first moment and of the infinity norm
            (default (0.9, 0.999)).
        eps: added to ``|g|`` (default 1e-8).
        weight_decay: L2 penalty (default 0).
        maximize: maximize the objective instead of minimizing it.

    State per parameter: ``step`` (int), ``exp_avg``, ``exp_inf``.

    >>> opt = lamina.optim.Adamax(model.parameters(), lr=2e-3)
    """

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, *,
                 maximize: bool = False) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        maximize=maximize)
        self._validate_group(defaults)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        check_adam_family("Adamax", group)

    def _step_group(self, group):
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        state = self.state
        for p, d, g, s in self._grads(group, group["weight_decay"]):
            st = state[p]
            if not st:
                st["step"] = 0
                st["exp_avg"] = _make(np.zeros_like(d))
                st["exp_inf"] = _make(np.zeros_like(d))
            step = st["step"] = st["step"] + 1
            m, u = st["exp_avg"]._data, st["exp_inf"]._data
            t = s[1]
            lerp_(m, g, 1 - beta1, t)
            np.multiply(u, beta2, out=u)
            np.abs(g, out=t)
            np.add(t, eps, out=t)
            np.maximum(u, t, out=u)
            np.divide(m, u, out=t)
            np.multiply(t, -lr / (1 - beta1 ** step), out=t)
            np.add(d, t, out=d)
            bump(p)
