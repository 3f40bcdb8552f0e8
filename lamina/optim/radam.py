"""RAdam: Adam with a rectified adaptive learning rate (Liu et al., 2019)."""

from __future__ import annotations

import numpy as np

from lamina.optim._update import bump, check_adam_family, lerp_
from lamina.optim.optimizer import Optimizer
from lamina.tensor import _make

__all__ = ["RAdam"]


class RAdam(Optimizer):
    r"""RAdam, PyTorch's update exactly.

    With ``g`` the gradient and ``t`` the step count (from 1)::

        g <- -g                                   if maximize
        p <- p * (1 - lr * weight_decay)          if decoupled_weight_decay
        g <- g + weight_decay * p                 otherwise, if weight_decay
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t)
        if rho_t > 5:   (the variance of the adaptive rate is tractable)
            r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
            p <- p - lr * m_hat * sqrt(1 - beta2**t) / (sqrt(v) + eps) * r_t
        else:           (early steps: SGD with momentum)
            p <- p - lr * m_hat

    Args:
        params: tensors or parameter groups to optimize.
        lr: learning rate (default 1e-3).
        betas: decay rates ``(beta1, beta2)`` of the moment averages (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty, or the decoupled decay rate (default 0).
        decoupled_weight_decay: decay the weights directly, as AdamW does.
        maximize: maximize the objective instead of minimizing it.

    State per parameter: ``step`` (int), ``exp_avg``, ``exp_avg_sq``.

    >>> opt = lamina.optim.RAdam(model.parameters(), lr=1e-3)
    """

    _n_scratch = 3

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        self._validate_group(defaults)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        check_adam_family("RAdam", group)

    def _step_group(self, group):
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        wd = group["weight_decay"]
        decoupled = group["decoupled_weight_decay"]
        rho_inf = 2 / (1 - beta2) - 1
        state = self.state
        for p, d, g, s in self._grads(group, 0 if decoupled else wd):
            if decoupled and wd:
                np.multiply(d, 1 - lr * wd, out=d)
            st = state[p]
            if not st:
                st["step"] = 0
                st["exp_avg"] = _make(np.zeros_like(d))
                st["exp_avg_sq"] = _make(np.zeros_like(d))
            step = st["step"] = st["step"] + 1
            m, v = st["exp_avg"]._data, st["exp_avg_sq"]._data
            t, a = s[1], s[2]
            lerp_(m, g, 1 - beta1, t)
            np.multiply(v, beta2, out=v)
            np.multiply(g, g, out=t)
            np.multiply(t, 1 - beta2, out=t)
            np.add(v, t, out=v)
            bc2 = 1 - beta2 ** step
            rho_t = rho_inf - 2 * step * (beta2 ** step) / bc2
            np.divide(m, 1 - beta1 ** step, out=t)
            np.multiply(t, lr, out=t)
            if rho_t > 5.0:
                rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                        / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                np.sqrt(v, out=a)
                np.add(a, eps, out=a)
                np.divide(bc2 ** 0.5, a, out=a)
                np.multiply(t, a, out=t)
                np.multiply(t, rect, out=t)
            np.subtract(d, t, out=d)
            bump(p)
