"""AdamW: Adam with decoupled weight decay (Loshchilov and Hutter, 2017)."""

from __future__ import annotations

from lamina.optim.adam import Adam

__all__ = ["AdamW"]


class AdamW(Adam):
    r"""Adam with weight decay applied to the weights directly instead of through the gradient.

    Each step first shrinks the parameters, ``p <- p * (1 - lr * weight_decay)``, and then
    takes the Adam step on the raw gradient (see ``Adam`` for the full update), so the decay
    never passes through the moment estimates. Same as ``Adam(...,
    decoupled_weight_decay=True)``; note the default ``weight_decay`` is 1e-2 here.

    Args:
        params: tensors or parameter groups to optimize.
        lr: learning rate (default 1e-3).
        betas: decay rates of the moment averages (default ``(0.9, 0.999)``).
        eps: added to the denominator (default 1e-8).
        weight_decay: decoupled decay rate (default 1e-2).
        amsgrad: use AMSGrad.
        maximize: maximize the objective instead of minimizing it.

    >>> opt = lamina.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
