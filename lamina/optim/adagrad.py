"""Adagrad: per-coordinate learning rates from the sum of squared gradients (Duchi et al.)."""

from __future__ import annotations

import numpy as np

from lamina.optim.optimizer import Optimizer, _check
from lamina.tensor import _make

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad, PyTorch's update exactly.

    With ``g`` the gradient and ``t`` the step count (from 1)::

        g <- -g                          if maximize
        g <- g + weight_decay * p         if weight_decay
        clr = lr / (1 + (t - 1) * lr_decay)
        G <- G + g**2
        p <- p - clr * g / (sqrt(G) + eps)

    ``G`` starts at ``initial_accumulator_value``. As in PyTorch the state is created when
    the optimizer is (so ``state_dict()`` lists it before the first step). Where a parameter
    group sets its own ``initial_accumulator_value``, lamina uses it; PyTorch uses the
    constructor's value for every group.

    Args:
        params: tensors or parameter groups to optimize.
        lr: learning rate (default 1e-2).
        lr_decay: learning-rate decay (default 0).
        weight_decay: L2 penalty (default 0).
        initial_accumulator_value: start value of the sum of squares (default 0).
        eps: added to the denominator (default 1e-10).
        maximize: maximize the objective instead of minimizing it.

    State per parameter: ``step`` (int) and ``sum``.

    >>> opt = lamina.optim.Adagrad([w], lr=0.1)
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, *,
                 maximize: bool = False) -> None:
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value,
                        maximize=maximize)
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        lr, lr_decay, wd = group["lr"], group["lr_decay"], group["weight_decay"]
        init, eps = group["initial_accumulator_value"], group["eps"]
        _check(lr >= 0.0, f"Invalid learning rate: {lr}")
        _check(lr_decay >= 0.0, f"Invalid lr_decay value: {lr_decay}")
        _check(wd >= 0.0, f"Invalid weight_decay value: {wd}")
        _check(init >= 0.0, f"Invalid initial_accumulator_value value: {init}")
        _check(eps >= 0.0, f"Invalid epsilon value: {eps}")

    def _init_group_state(self, group):
        for p in group["params"]:
            st = self.state[p]
            if not st:
                self._init_state(st, p, group)

    @staticmethod
    def _init_state(st, p, group):
        st["step"] = 0
        st["sum"] = _make(np.full_like(p._data, group["initial_accumulator_value"]))

    def _step_group(self, group):
        lr = group["lr"]
        lr_decay = group["lr_decay"]
        eps = group["eps"]
        wd = group["weight_decay"]
        state = self.state
        for p, d, g, s in self._grads(group, wd):
            st = state[p]
            if not st:
                self._init_state(st, p, group)
            step = st["step"] = st["step"] + 1
            acc = st["sum"]._data
            t = s[1]
            np.multiply(g, g, out=t)
            np.add(acc, t, out=acc)
            np.sqrt(acc, out=t)
            np.add(t, eps, out=t)
            np.divide(g, t, out=t)
            np.multiply(t, lr / (1 + (step - 1) * lr_decay), out=t)
            np.subtract(d, t, out=d)
            if p._vc is not None:
                p._vc[0] += 1
