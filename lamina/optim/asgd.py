"""ASGD: averaged stochastic gradient descent (Polyak and Juditsky, 1992)."""

from __future__ import annotations

import numpy as np

from lamina.optim._update import bump, check
from lamina.optim.optimizer import Optimizer
from lamina.tensor import _make

__all__ = ["ASGD"]


class ASGD(Optimizer):
    r"""Averaged SGD, PyTorch's update exactly.

    With ``g`` the gradient and ``t`` the step count (from 1); ``eta`` starts at ``lr`` and
    ``mu`` at 1::

        g <- -g                                   if maximize
        g <- g + weight_decay * p                 if weight_decay
        p <- p * (1 - lambd * eta) - eta * g
        ax <- ax + mu * (p - ax)                  (ax <- p while mu == 1)
        eta <- lr / (1 + lambd * lr * t) ** alpha
        mu <- 1 / max(1, t - t0)

    ``ax`` is the running average of the iterates from step ``t0`` on: it is the estimate
    ASGD returns (swap it in for evaluation); the parameters themselves follow plain SGD with
    the decaying rate ``eta``.

    Args:
        params: tensors or parameter groups to optimize.
        lr: learning rate (default 1e-2).
        lambd: decay term (default 1e-4).
        alpha: power of the ``eta`` schedule (default 0.75).
        t0: the step at which averaging starts (default 1e6).
        weight_decay: L2 penalty (default 0).
        maximize: maximize the objective instead of minimizing it.

    State per parameter: ``step`` (int), ``eta``, ``mu`` (floats; PyTorch keeps 0-d tensors of
    its default dtype), ``ax``.

    >>> opt = lamina.optim.ASGD(model.parameters(), lr=0.01, t0=100)
    """

    def __init__(self, params, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                        maximize=maximize)
        self._validate_group(defaults)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        check(group["lr"] >= 0.0, "ASGD", f"invalid learning rate: {group['lr']}")
        check(group["weight_decay"] >= 0.0, "ASGD",
              f"invalid weight_decay value: {group['weight_decay']}")

    def _step_group(self, group):
        lr = group["lr"]
        lambd = group["lambd"]
        alpha = group["alpha"]
        t0 = group["t0"]
        state = self.state
        for p, d, g, s in self._grads(group, group["weight_decay"]):
            st = state[p]
            if not st:
                st["step"] = 0
                st["eta"] = float(lr)
                st["mu"] = 1.0
                st["ax"] = _make(np.zeros_like(d))
            step = st["step"] = st["step"] + 1
            eta, mu = float(st["eta"]), float(st["mu"])
            ax = st["ax"]._data
            t = s[1]
            np.multiply(d, 1 - lambd * eta, out=d)
            np.multiply(g, -eta, out=t)
            np.add(d, t, out=d)
            if mu != 1:
                np.subtract(d, ax, out=t)
                np.multiply(t, mu, out=t)
                np.add(ax, t, out=ax)
            else:
                np.copyto(ax, d)
            st["eta"] = lr / ((1 + lambd * lr * step) ** alpha)
            st["mu"] = 1 / max(1, step - t0)
            bump(p)
