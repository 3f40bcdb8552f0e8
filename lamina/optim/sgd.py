"""Stochastic gradient descent, with optional momentum, Nesterov momentum and weight decay."""

from __future__ import annotations

import numpy as np

from lamina.kernels.optim import sgd_update as _compiled_update
from lamina.optim.optimizer import Optimizer, _check
from lamina.tensor import _make

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Gradient descent: full-batch, minibatch ("stochastic") and with momentum.

    Which of these you get depends only on what the gradient was computed from: the loss over
    the whole data set gives plain (batch) gradient descent, the loss over a minibatch gives
    minibatch SGD, one example gives online SGD. The update, with ``g`` the gradient, is
    PyTorch's::

        g <- -g                       if maximize
        g <- g + weight_decay * p     if weight_decay != 0   (L2 penalty)
        if momentum != 0:
            b <- g                                   on the first step
            b <- momentum * b + (1 - dampening) * g  afterwards
            g <- g + momentum * b     if nesterov, else g <- b
        p <- p - lr * g

    Momentum in the lectures' two forms:

    - ``v = beta * v + g; p -= lr * v`` (with ``v`` starting at 0) is exactly
      ``SGD(params, lr, momentum=beta)``.
    - ``m = beta * m + (1 - beta) * g; p -= lr * m`` (the exponential moving average, ``m``
      starting at 0) is ``SGD(params, lr, momentum=beta, dampening=beta)`` from the second
      step on, but **not on the first**: PyTorch (and lamina) set the buffer to ``g`` on the
      first step with no dampening, where the lecture form gives ``(1 - beta) * g``. Fed the
      same gradients, the two buffers differ by ``beta**t * g_1`` at step ``t``, a difference
      that decays geometrically (so the first steps are larger than the lecture form's); the
      lecture form with ``m`` started at ``g_1`` instead of 0 is matched exactly.
    - ``v = beta * v + lr * g; p -= v`` (Sutskever et al.) equals ``momentum=beta`` while
      ``lr`` stays constant; when a scheduler changes ``lr``, this class rescales the whole
      velocity at once, that form only the new gradients.

    Args:
        params: tensors or parameter groups to optimize.
        lr: learning rate (default 1e-3).
        momentum: momentum factor (default 0).
        dampening: dampening of the gradient's contribution to momentum (default 0).
        weight_decay: L2 penalty coefficient (default 0).
        nesterov: use Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
        maximize: maximize the objective instead of minimizing it.

    State: ``momentum_buffer`` per parameter when ``momentum != 0``.

    >>> opt = lamina.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> opt.zero_grad(); loss_fn(w).backward(); opt.step()
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
        _check(lr >= 0.0, f"Invalid learning rate: {lr}")
        _check(momentum >= 0.0, f"Invalid momentum value: {momentum}")
        _check(wd >= 0.0, f"Invalid weight_decay value: {wd}")
        _check(not group["nesterov"] or (momentum > 0 and group["dampening"] == 0),
               "Nesterov momentum requires a momentum and zero dampening")

    def _step_group(self, group):
        lr = group["lr"]
        momentum = group["momentum"]
        damp = 1.0 - group["dampening"]
        wd = group["weight_decay"]
        nesterov = group["nesterov"]
        state = self.state
        mode = (2 if nesterov else 1) if momentum else 0
        for p, d, g, s in self._grads(group, wd):
            b, first = s[1], False
            if momentum:
                st = state[p]
                buf = st.get("momentum_buffer")
                first = buf is None
                b = g.copy() if first else buf._data
                if first:
                    st["momentum_buffer"] = _make(b)
            # the compiled pass (lamina.kernels.optim) where it applies, else the reference
            if not _compiled_update(d, g, b, mode, first, momentum, damp, lr):
                _numpy_update(d, g, b, s[1], mode, first, momentum, damp, lr)
            if p._vc is not None:
                p._vc[0] += 1


def _numpy_update(d, g, b, tmp, mode, first, momentum, damp, lr) -> None:
    """The reference update, in place, with NumPy ufuncs; ``b`` is the momentum buffer
    (``mode`` 0 plain SGD, 1 momentum, 2 Nesterov; ``first`` starts ``b`` at ``g``), ``tmp``
    a scratch array shaped like ``d``."""
    if mode:
        if not first:
            np.multiply(b, momentum, out=b)
            if damp == 1.0:
                np.add(b, g, out=b)
            else:
                np.multiply(g, damp, out=tmp)
                np.add(b, tmp, out=b)
        if mode == 2:
            np.multiply(b, momentum, out=tmp)
            g = np.add(g, tmp, out=tmp)
        else:
            g = b
    np.multiply(g, lr, out=tmp)
    np.subtract(d, tmp, out=d)
