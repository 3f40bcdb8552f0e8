"""Adam: adaptive moment estimation (Kingma and Ba, 2014), with optional AMSGrad."""

from __future__ import annotations

import numpy as np

from lamina.errors import LaminaValueError
from lamina.kernels.optim import adam_update as _compiled_update
from lamina.optim.optimizer import Optimizer, _check
from lamina.tensor import _make

__all__ = ["Adam"]


class Adam(Optimizer):
    r"""Adam, PyTorch's update exactly.

    With ``g`` the gradient and ``t`` the step count (from 1)::

        g <- -g                          if maximize
        p <- p * (1 - lr * weight_decay)  if decoupled_weight_decay   (AdamW)
        g <- g + weight_decay * p         otherwise, if weight_decay   (L2 penalty)
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g**2
        vmax <- max(vmax, v);  v_hat = vmax           if amsgrad, else v_hat = v
        p <- p - lr / (1 - beta1**t) * m / (sqrt(v_hat) / sqrt(1 - beta2**t) + eps)

    ``m``, ``v`` (and ``vmax``) start at zero; the bias corrections ``1 - beta**t`` undo
    that start.

    Args:
        params: tensors or parameter groups to optimize.
        lr: learning rate (default 1e-3).
        betas: decay rates ``(beta1, beta2)`` of the two moment averages (default
            ``(0.9, 0.999)``).
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: L2 penalty (default 0), or the decoupled decay rate with
            ``decoupled_weight_decay=True``.
        amsgrad: use the maximum of past second moments (AMSGrad).
        maximize: maximize the objective instead of minimizing it.
        decoupled_weight_decay: decay the weights directly, as AdamW does.

    State per parameter: ``step`` (int), ``exp_avg``, ``exp_avg_sq`` and, with amsgrad,
    ``max_exp_avg_sq``.

    >>> opt = lamina.optim.Adam(model.parameters(), lr=1e-3)
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 maximize: bool = False, decoupled_weight_decay: bool = False) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        lr, eps, betas, wd = group["lr"], group["eps"], group["betas"], group["weight_decay"]
        _check(lr >= 0.0, f"Invalid learning rate: {lr}")
        _check(eps >= 0.0, f"Invalid epsilon value: {eps}")
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise LaminaValueError(f"Invalid betas: expected a pair (beta1, beta2), got {betas!r}")
        _check(0.0 <= betas[0] < 1.0, f"Invalid beta parameter at index 0: {betas[0]}")
        _check(0.0 <= betas[1] < 1.0, f"Invalid beta parameter at index 1: {betas[1]}")
        _check(wd >= 0.0, f"Invalid weight_decay value: {wd}")

    def _step_group(self, group):
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        wd = group["weight_decay"]
        amsgrad = group["amsgrad"]
        decoupled = group["decoupled_weight_decay"]
        w1 = 1.0 - beta1
        w2 = 1.0 - beta2
        shrink = 1.0 - lr * wd
        state = self.state
        # decoupled (AdamW) decay shrinks the weights instead of adding to the gradient
        for p, d, g, s in self._grads(group, 0 if decoupled else wd):
            if decoupled and wd:
                np.multiply(d, shrink, out=d)
            st = state[p]
            if not st:
                st["step"] = 0
                st["exp_avg"] = _make(np.zeros_like(d))
                st["exp_avg_sq"] = _make(np.zeros_like(d))
                if amsgrad:
                    st["max_exp_avg_sq"] = _make(np.zeros_like(d))
            step = st["step"] = st["step"] + 1
            m = st["exp_avg"]._data
            v = st["exp_avg_sq"]._data
            c2 = (1.0 - beta2 ** step) ** 0.5
            c1 = lr / (1.0 - beta1 ** step)
            vmax = st["max_exp_avg_sq"]._data if amsgrad else None
            # the compiled pass (lamina.kernels.optim) where it applies, else the reference
            if amsgrad or not _compiled_update(d, g, m, v, w1, beta1, beta2, w2, c2, eps, c1):
                _numpy_update(d, g, m, v, vmax, s[1], w1, beta1, beta2, w2, c2, eps, c1)
            if p._vc is not None:
                p._vc[0] += 1


def _numpy_update(d, g, m, v, vmax, tmp, w1, beta1, beta2, w2, c2, eps, c1) -> None:
    """The reference update of ``d``, ``m``, ``v`` (and ``vmax`` with amsgrad), in place, with
    NumPy ufuncs; ``c2 = sqrt(1 - beta2**t)``, ``c1 = lr / (1 - beta1**t)``, ``tmp`` a scratch
    array shaped like ``d``."""
    t = tmp
    # m <- lerp(m, g, 1 - beta1), in the form PyTorch's lerp uses for that weight
    np.subtract(g, m, out=t)
    if w1 < 0.5:
        np.multiply(t, w1, out=t)
        np.add(m, t, out=m)
    else:
        np.multiply(t, beta1, out=t)
        np.subtract(g, t, out=m)
    np.multiply(v, beta2, out=v)                     # v <- beta2 v + (1 - beta2) g^2
    np.multiply(g, g, out=t)
    np.multiply(t, w2, out=t)
    np.add(v, t, out=v)
    if vmax is not None:
        np.maximum(vmax, v, out=vmax)
        np.sqrt(vmax, out=t)
    else:
        np.sqrt(v, out=t)
    np.divide(t, c2, out=t)                          # p <- p - c1 m / (sqrt(v) / c2 + eps)
    np.add(t, eps, out=t)
    np.divide(m, t, out=t)
    np.multiply(t, c1, out=t)
    np.subtract(d, t, out=d)
