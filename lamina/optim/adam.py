"""Adam: adaptive moment estimation (Kingma and Ba, 2014), with optional AMSGrad."""

from __future__ import annotations

import numpy as np

from lamina._jit import kernels
from lamina.errors import LaminaValueError
from lamina.optim.optimizer import Optimizer, _check
from lamina.tensor import _make

__all__ = ["Adam"]


@kernels
def _adam_kernel(numba):
    """One pass over a parameter doing the NumPy path's eleven ufuncs in the same order and
    precision (constants in the array dtype, no fast-math): the same bits. IEEE division
    (``error_model="numpy"``, no zero check) lets LLVM vectorize the loop, sqrt and division
    included: 48 us instead of about 190 for a 64K-element float32 parameter."""

    @numba.njit(cache=True, nogil=True, error_model="numpy")
    def step(d, g, m, v, small, w1, beta1, beta2, w2, c2, eps, c1):
        n = d.size
        d1, g1, m1, v1 = d.reshape(n), g.reshape(n), m.reshape(n), v.reshape(n)
        for k in range(n):
            gk = g1[k]
            t = gk - m1[k]
            if small:
                mk = m1[k] + t * w1
            else:
                mk = gk - t * beta1
            m1[k] = mk
            vk = v1[k] * beta2 + gk * gk * w2
            v1[k] = vk
            d1[k] = d1[k] - mk / (np.sqrt(vk) / c2 + eps) * c1

    return step


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
        kern = None if amsgrad else _adam_kernel(np.float32)
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
            m = st["exp_avg"].data
            v = st["exp_avg_sq"].data
            c2 = (1.0 - beta2 ** step) ** 0.5
            c1 = lr / (1.0 - beta1 ** step)
            dt = d.dtype
            if (kern is not None and (dt == np.float32 or dt == np.float64)
                    and g.dtype == dt and m.dtype == dt and v.dtype == dt
                    and d.flags.c_contiguous and g.flags.c_contiguous
                    and m.flags.c_contiguous and v.flags.c_contiguous):
                c = dt.type
                kern(d, g, m, v, w1 < 0.5, c(w1), c(beta1), c(beta2), c(w2), c(c2), c(eps),
                     c(c1))
                if p._vc is not None:
                    p._vc[0] += 1
                continue
            t = s[1]
            # m <- lerp(m, g, 1 - beta1), in the form PyTorch's lerp uses for that weight
            np.subtract(g, m, out=t)
            if w1 < 0.5:
                np.multiply(t, w1, out=t)
                np.add(m, t, out=m)
            else:
                np.multiply(t, beta1, out=t)
                np.subtract(g, t, out=m)
            np.multiply(v, beta2, out=v)
            np.multiply(g, g, out=t)
            np.multiply(t, w2, out=t)
            np.add(v, t, out=v)
            if amsgrad:
                vmax = st["max_exp_avg_sq"].data
                np.maximum(vmax, v, out=vmax)
                np.sqrt(vmax, out=t)
            else:
                np.sqrt(v, out=t)
            np.divide(t, c2, out=t)
            np.add(t, eps, out=t)
            np.divide(m, t, out=t)
            np.multiply(t, c1, out=t)
            np.subtract(d, t, out=d)
            if p._vc is not None:
                p._vc[0] += 1
