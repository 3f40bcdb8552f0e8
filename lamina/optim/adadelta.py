"""Adadelta: step sizes from running averages of squared gradients and squared updates."""

from __future__ import annotations

import numpy as np

from lamina.optim.optimizer import Optimizer, _check
from lamina.tensor import _make

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    r"""Adadelta (Zeiler, 2012), PyTorch's update exactly.

    With ``g`` the gradient::

        g <- -g                              if maximize
        g <- g + weight_decay * p             if weight_decay
        v <- rho * v + (1 - rho) * g**2
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u <- rho * u + (1 - rho) * delta**2
        p <- p - lr * delta

    ``v`` and ``u`` start at zero. The paper has no learning rate (``lr=1.0``, the default).

    Args:
        params: tensors or parameter groups to optimize.
        lr: scale applied to ``delta`` (default 1.0).
        rho: decay rate of the running averages (default 0.9).
        eps: added inside the square roots (default 1e-6).
        weight_decay: L2 penalty (default 0).
        maximize: maximize the objective instead of minimizing it.

    State per parameter: ``step`` (int), ``square_avg`` (v) and ``acc_delta`` (u).

    >>> opt = lamina.optim.Adadelta([w])
    """

    _n_scratch = 3

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        lr, rho, eps, wd = group["lr"], group["rho"], group["eps"], group["weight_decay"]
        _check(lr >= 0.0, f"Invalid learning rate: {lr}")
        _check(0.0 <= rho <= 1.0, f"Invalid rho value: {rho}")
        _check(eps >= 0.0, f"Invalid epsilon value: {eps}")
        _check(wd >= 0.0, f"Invalid weight_decay value: {wd}")

    def _step_group(self, group):
        lr = group["lr"]
        rho = group["rho"]
        w = 1.0 - rho
        eps = group["eps"]
        wd = group["weight_decay"]
        state = self.state
        for p, d, g, s in self._grads(group, wd):
            st = state[p]
            if not st:
                st["step"] = 0
                st["square_avg"] = _make(np.zeros_like(d))
                st["acc_delta"] = _make(np.zeros_like(d))
            st["step"] += 1
            v = st["square_avg"]._data
            u = st["acc_delta"]._data
            t, delta = s[1], s[2]
            np.multiply(v, rho, out=v)
            np.multiply(g, g, out=t)
            np.multiply(t, w, out=t)
            np.add(v, t, out=v)
            np.add(v, eps, out=t)
            np.sqrt(t, out=t)                      # std = sqrt(v + eps)
            np.add(u, eps, out=delta)
            np.sqrt(delta, out=delta)
            np.divide(delta, t, out=delta)
            np.multiply(delta, g, out=delta)       # delta = sqrt(u + eps) / std * g
            np.multiply(u, rho, out=u)
            np.multiply(delta, delta, out=t)
            np.multiply(t, w, out=t)
            np.add(u, t, out=u)
            np.multiply(delta, lr, out=t)
            np.subtract(d, t, out=d)
            if p._vc is not None:
                p._vc[0] += 1
