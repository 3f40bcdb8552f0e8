"""NAdam: Adam with Nesterov momentum (Dozat, 2016)."""

from __future__ import annotations

import numpy as np

from lamina.optim._update import bump, check, check_adam_family, lerp_
from lamina.optim.optimizer import Optimizer
from lamina.tensor import _make

__all__ = ["NAdam"]


class NAdam(Optimizer):
    r"""NAdam, PyTorch's update exactly.

    With ``g`` the gradient and ``t`` the step count (from 1)::

        g <- -g                                   if maximize
        p <- p * (1 - lr * weight_decay)          if decoupled_weight_decay
        g <- g + weight_decay * p                 otherwise, if weight_decay
        mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        P_t = mu_1 * ... * mu_t                   (mu_product)
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g**2
        D = sqrt(v / (1 - beta2**t)) + eps
        p <- p - lr * (1 - mu_t) / (1 - P_t) * g / D
               - lr * mu_{t+1} / (1 - P_t * mu_{t+1}) * m / D

    The momentum schedule ``mu_t`` warms up from ``beta1 / 2`` towards ``beta1``.

    Args:
        params: tensors or parameter groups to optimize.
        lr: learning rate (default 2e-3).
        betas: decay rates ``(beta1, beta2)`` of the moment averages (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty, or the decoupled decay rate (default 0).
        momentum_decay: the ``psi`` of the momentum schedule (default 4e-3).
        decoupled_weight_decay: decay the weights directly, as AdamW does (NAdamW).
        maximize: maximize the objective instead of minimizing it.

    State per parameter: ``step`` (int), ``mu_product`` (float; PyTorch keeps a 0-d tensor of
    its default dtype), ``exp_avg``, ``exp_avg_sq``.

    >>> opt = lamina.optim.NAdam(model.parameters(), lr=2e-3)
    """

    _n_scratch = 3

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        self._validate_group(defaults)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        check_adam_family("NAdam", group)
        check(group["momentum_decay"] >= 0.0, "NAdam",
              f"invalid momentum_decay value: {group['momentum_decay']}")

    def _step_group(self, group):
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        wd = group["weight_decay"]
        psi = group["momentum_decay"]
        decoupled = group["decoupled_weight_decay"]
        state = self.state
        for p, d, g, s in self._grads(group, 0 if decoupled else wd):
            if decoupled and wd:
                np.multiply(d, 1 - lr * wd, out=d)
            st = state[p]
            if not st:
                st["step"] = 0
                st["mu_product"] = 1.0
                st["exp_avg"] = _make(np.zeros_like(d))
                st["exp_avg_sq"] = _make(np.zeros_like(d))
            step = st["step"] = st["step"] + 1
            mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * psi)))
            mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * psi)))
            mu_product = st["mu_product"] = float(st["mu_product"]) * mu
            m, v = st["exp_avg"]._data, st["exp_avg_sq"]._data
            t, denom = s[1], s[2]
            lerp_(m, g, 1 - beta1, t)
            np.multiply(v, beta2, out=v)
            np.multiply(g, g, out=t)
            np.multiply(t, 1 - beta2, out=t)
            np.add(v, t, out=v)
            # D = sqrt(v / (1 - beta2**t)) + eps
            np.divide(v, 1 - beta2 ** step, out=denom)
            np.sqrt(denom, out=denom)
            np.add(denom, eps, out=denom)
            # the gradient's share, then the momentum's share, each over D
            np.divide(g, denom, out=t)
            np.multiply(t, -lr * (1.0 - mu) / (1.0 - mu_product), out=t)
            np.add(d, t, out=d)
            np.divide(m, denom, out=t)
            np.multiply(t, (-lr * mu_next) / (1.0 - mu_product * mu_next), out=t)
            np.add(d, t, out=d)
            bump(p)
