"""RMSprop: divide the gradient by a running root-mean-square of its recent magnitudes."""

from __future__ import annotations

import numpy as np

from lamina.optim.optimizer import Optimizer, _check
from lamina.tensor import _make

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop (Hinton's lecture 6e), PyTorch's update exactly.

    With ``g`` the gradient::

        g <- -g                              if maximize
        g <- g + weight_decay * p             if weight_decay
        v <- alpha * v + (1 - alpha) * g**2
        if centered:  m <- alpha * m + (1 - alpha) * g;  d = sqrt(v - m**2) + eps
        else:         d = sqrt(v) + eps
        if momentum > 0:  b <- momentum * b + g / d;  p <- p - lr * b
        else:             p <- p - lr * g / d

    All averages start at zero (note: no bias correction, unlike Adam).

    Args:
        params: tensors or parameter groups to optimize.
        lr: learning rate (default 1e-2).
        alpha: smoothing constant of the squared-gradient average (default 0.99).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty (default 0).
        momentum: momentum factor (default 0).
        centered: normalize by an estimate of the gradient's variance instead of its raw
            second moment.
        maximize: maximize the objective instead of minimizing it.

    State per parameter: ``step`` (int), ``square_avg``, and ``momentum_buffer`` (momentum > 0)
    and ``grad_avg`` (centered).

    >>> opt = lamina.optim.RMSprop([w], lr=0.01)
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, *,
                 maximize: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, maximize=maximize)
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        lr, eps, momentum = group["lr"], group["eps"], group["momentum"]
        wd, alpha = group["weight_decay"], group["alpha"]
        _check(lr >= 0.0, f"Invalid learning rate: {lr}")
        _check(eps >= 0.0, f"Invalid epsilon value: {eps}")
        _check(momentum >= 0.0, f"Invalid momentum value: {momentum}")
        _check(wd >= 0.0, f"Invalid weight_decay value: {wd}")
        _check(alpha >= 0.0, f"Invalid alpha value: {alpha}")

    def _step_group(self, group):
        lr = group["lr"]
        alpha = group["alpha"]
        w = 1.0 - alpha
        eps = group["eps"]
        wd = group["weight_decay"]
        momentum = group["momentum"]
        centered = group["centered"]
        state = self.state
        for p, d, g, s in self._grads(group, wd):
            st = state[p]
            if not st:
                st["step"] = 0
                st["square_avg"] = _make(np.zeros_like(d))
                if momentum > 0:
                    st["momentum_buffer"] = _make(np.zeros_like(d))
                if centered:
                    st["grad_avg"] = _make(np.zeros_like(d))
            st["step"] += 1
            v = st["square_avg"]._data
            t = s[1]
            np.multiply(v, alpha, out=v)
            np.multiply(g, g, out=t)
            np.multiply(t, w, out=t)
            np.add(v, t, out=v)
            if centered:
                ga = st["grad_avg"]._data
                # ga <- lerp(ga, g, 1 - alpha), in the form PyTorch's lerp uses for that weight
                np.subtract(g, ga, out=t)
                if w < 0.5:
                    np.multiply(t, w, out=t)
                    np.add(ga, t, out=ga)
                else:
                    np.multiply(t, alpha, out=t)
                    np.subtract(g, t, out=ga)
                np.multiply(ga, ga, out=t)
                np.subtract(v, t, out=t)
                np.sqrt(t, out=t)
            else:
                np.sqrt(v, out=t)
            np.add(t, eps, out=t)
            np.divide(g, t, out=t)
            if momentum > 0:
                b = st["momentum_buffer"]._data
                np.multiply(b, momentum, out=b)
                np.add(b, t, out=b)
                np.multiply(b, lr, out=t)
            else:
                np.multiply(t, lr, out=t)
            np.subtract(d, t, out=d)
            if p._vc is not None:
                p._vc[0] += 1
