"""Gradient-based adversarial examples: FGSM and PGD (L-infinity and L2).

Both perturb the input in the direction that increases the loss of the true label
(untargeted) or decreases the loss of a chosen label (targeted):

* FGSM (Goodfellow, Shlens and Szegedy, 2015)::

      x_adv = clamp(x + eps * sign(grad_x L(f(x), y)))        (targeted: x - eps * sign(...))

* PGD (Madry et al., 2018): ``steps`` steps of size ``alpha``, each followed by the projection
  onto the ``eps``-ball around ``x`` and the clamp to the valid range::

      L-inf: x_{t+1} = clamp(x + clip(x_t + alpha * sign(g_t) - x, -eps, eps))
      L2:    x_{t+1} = clamp(x + P_eps(x_t + alpha * g_t / ||g_t||_2 - x)),
             P_eps(d) = d * min(1, eps / ||d||_2)          (norms per example)

  optionally from a random start inside the ball (uniform in the L-inf box; uniform in the
  L2 ball: a Gaussian direction with radius ``eps * u**(1/d)``).

The model runs in eval mode during the attack (each submodule's own mode is restored after),
gradients are taken with ``lamina.autograd.grad`` with respect to the input only, so the
parameters and their ``.grad`` are left exactly as they were. The loss is ``loss_fn(output,
y)``; by default the summed cross-entropy of logits (the sum, not the mean, so that one
example's gradient does not depend on the batch size; FGSM and PGD only use its direction).
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Callable

import numpy as np

from lamina.autograd import enable_grad, grad
from lamina.backend import Generator, rng
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn.module import Module
from lamina.ops.loss import cross_entropy
from lamina.tensor import Tensor, _make

__all__ = ["fgsm", "pgd", "FGSM", "PGD", "eval_mode"]


@contextlib.contextmanager
def eval_mode(model: Module):
    """Run the block with ``model`` in eval mode, then restore every submodule's own
    ``training`` flag (a model with some frozen, eval-mode parts keeps them)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, mode in modes:
            m.__dict__["training"] = mode


def _sum_cross_entropy(output: Tensor, target: Tensor) -> Tensor:
    return cross_entropy(output, target, reduction="sum")


def _as_array(x, op: str, what: str) -> np.ndarray:
    if isinstance(x, Tensor):
        return x._data
    if isinstance(x, np.ndarray):
        return x
    raise LaminaTypeError(f"{op}: {what} must be a lamina Tensor or a NumPy array, got "
                          f"{type(x).__name__}")


def _check(op: str, model, x, eps, clamp) -> tuple[np.ndarray, tuple | None]:
    if not isinstance(model, Module) and not callable(model):
        raise LaminaTypeError(f"{op}: model must be a lamina.nn.Module or a callable, got "
                              f"{type(model).__name__}")
    arr = _as_array(x, op, "x")
    if arr.dtype.kind != "f":
        raise LaminaTypeError(f"{op}: x must be floating point, got dtype {arr.dtype}")
    if not isinstance(eps, numbers.Real) or isinstance(eps, bool) or eps < 0:
        raise LaminaValueError(f"{op}: eps must be a non-negative number, got {eps!r}")
    if clamp is not None:
        if not (isinstance(clamp, (tuple, list)) and len(clamp) == 2):
            raise LaminaValueError(f"{op}: clamp must be None or a (min, max) pair, got {clamp!r}")
        lo, hi = clamp
        if lo is not None and hi is not None and lo > hi:
            raise LaminaValueError(f"{op}: clamp=({lo}, {hi}) has min > max")
    return arr, (None if clamp is None else tuple(clamp))


def _clamp(a: np.ndarray, clamp) -> np.ndarray:
    if clamp is None:
        return a
    lo, hi = clamp
    return np.clip(a, lo, hi)


def _target(y, n: int, op: str) -> Tensor:
    t = y if isinstance(y, Tensor) else _make(np.asarray(y))
    if t._data.shape[:1] != (n,):
        raise LaminaValueError(f"{op}: y must have one label per example ({n}), got shape "
                               f"{tuple(t._data.shape)}")
    return t


def input_gradient(model, x: np.ndarray, y: Tensor, loss_fn: Callable | None = None
                   ) -> np.ndarray:
    """``d loss_fn(model(x), y) / dx`` as an array, without touching any ``.grad``."""
    loss_fn = loss_fn or _sum_cross_entropy
    xt = _make(np.array(x, copy=True), requires_grad=True)
    with enable_grad():
        loss = loss_fn(model(xt), y)
        if not isinstance(loss, Tensor) or loss._data.size != 1:
            raise LaminaValueError("attack: loss_fn(output, y) must return a scalar tensor, got "
                                   f"{type(loss).__name__} of shape {getattr(loss, 'shape', None)}")
        (g,) = grad(loss, [xt], allow_unused=True)
    return np.zeros_like(x) if g is None else g._data


def fgsm(model, x, y, eps: float, *, targeted: bool = False, clamp=None,
         loss_fn: Callable | None = None) -> Tensor:
    """Fast gradient sign method: ``clamp(x + eps * sign(grad_x loss(model(x), y)))``.

    Args:
        model: a module (or callable) returning logits (or whatever ``loss_fn`` expects).
        x: the inputs (a floating tensor or array), ``y``: their labels (for ``targeted``,
            the labels to push the model towards).
        eps: the L-infinity size of the perturbation.
        targeted: step against the gradient of the target's loss instead of along the true
            label's.
        clamp: ``(min, max)`` of valid inputs (e.g. ``(0, 1)`` for images), or ``None``.
        loss_fn: ``loss_fn(output, y) -> scalar``; summed cross-entropy by default.

    Returns:
        The adversarial inputs, a new tensor of ``x``'s shape and dtype (no gradient).

    >>> x_adv = attacks.fgsm(model, x, y, eps=0.1, clamp=(0, 1))
    """
    arr, clamp = _check("fgsm", model, x, eps, clamp)
    y = _target(y, arr.shape[0], "fgsm")
    with eval_mode(model) if isinstance(model, Module) else contextlib.nullcontext():
        g = input_gradient(model, arr, y, loss_fn)
    step = -eps if targeted else eps
    return _make(_clamp(arr + arr.dtype.type(step) * np.sign(g), clamp).astype(arr.dtype))


def _per_example_norm(a: np.ndarray) -> np.ndarray:
    n = np.sqrt((a.reshape(a.shape[0], -1) ** 2).sum(axis=1))
    return n.reshape((-1,) + (1,) * (a.ndim - 1))


def _random_start(arr, eps, norm, generator) -> np.ndarray:
    r = rng(generator)
    if norm == "inf":
        return r.uniform(-eps, eps, size=arr.shape)
    d = arr[0].size
    direction = r.standard_normal(arr.shape)
    direction /= np.maximum(_per_example_norm(direction), 1e-12)
    radius = eps * r.uniform(0.0, 1.0, size=(arr.shape[0],)) ** (1.0 / d)
    return direction * radius.reshape((-1,) + (1,) * (arr.ndim - 1))


def _project(delta: np.ndarray, eps: float, norm) -> np.ndarray:
    if norm == "inf":
        return np.clip(delta, -eps, eps)
    n = _per_example_norm(delta)
    return delta * np.minimum(1.0, eps / np.maximum(n, 1e-12))


def pgd(model, x, y, eps: float, alpha: float, steps: int, *, norm="inf",
        random_start: bool = False, targeted: bool = False, clamp=None,
        loss_fn: Callable | None = None, generator: Generator | None = None) -> Tensor:
    """Projected gradient descent (Madry et al., 2018): ``steps`` steps of size ``alpha``
    along ``sign(grad)`` (``norm="inf"``) or ``grad / ||grad||_2`` per example (``norm=2``),
    each projected back onto the ``eps``-ball around ``x`` and clamped to ``clamp``.

    Args:
        eps: radius of the ball; ``alpha``: step size; ``steps``: number of steps.
        norm: ``"inf"`` (also ``np.inf``/``float("inf")``) or ``2``.
        random_start: start from a uniform random point of the ball (seeded by lamina's
            global generator, or ``generator``) instead of ``x``.
        targeted, clamp, loss_fn: as in ``fgsm``.

    Returns:
        The adversarial inputs (a new tensor of ``x``'s shape and dtype).

    >>> x_adv = attacks.pgd(model, x, y, eps=0.3, alpha=0.01, steps=40, clamp=(0, 1))
    """
    arr, clamp = _check("pgd", model, x, eps, clamp)
    if norm in ("inf", "Linf", np.inf):
        norm = "inf"
    elif norm in (2, "2", "L2", 2.0):
        norm = 2
    else:
        raise LaminaValueError(f"pgd: norm must be 'inf' or 2, got {norm!r}")
    if not isinstance(steps, numbers.Integral) or isinstance(steps, bool) or steps < 0:
        raise LaminaValueError(f"pgd: steps must be a non-negative int, got {steps!r}")
    if not isinstance(alpha, numbers.Real) or alpha < 0:
        raise LaminaValueError(f"pgd: alpha (the step size) must be a non-negative number, got "
                               f"{alpha!r}")
    y = _target(y, arr.shape[0], "pgd")
    x0 = arr.astype(np.float64) if arr.dtype != np.float64 else arr
    adv = x0.copy()
    if random_start:
        adv = _clamp(x0 + _random_start(x0, eps, norm, generator), clamp)
    sgn = -1.0 if targeted else 1.0
    with eval_mode(model) if isinstance(model, Module) else contextlib.nullcontext():
        for _ in range(int(steps)):
            g = input_gradient(model, adv.astype(arr.dtype), y, loss_fn).astype(np.float64)
            if norm == "inf":
                step = np.sign(g)
            else:
                step = g / np.maximum(_per_example_norm(g), 1e-12)
            adv = adv + sgn * alpha * step
            adv = _clamp(x0 + _project(adv - x0, eps, norm), clamp)
    return _make(adv.astype(arr.dtype))


class FGSM:
    """``FGSM(model, eps, ...)(x, y)``: ``fgsm`` with its settings bound (an attack object
    to pass around, e.g. to ``AdversarialLoader``)."""

    def __init__(self, model, eps: float, *, targeted: bool = False, clamp=None,
                 loss_fn: Callable | None = None):
        self.model, self.eps = model, eps
        self.kwargs = dict(targeted=targeted, clamp=clamp, loss_fn=loss_fn)

    def __call__(self, x, y) -> Tensor:
        return fgsm(self.model, x, y, self.eps, **self.kwargs)

    def __repr__(self) -> str:
        return f"FGSM(eps={self.eps}, targeted={self.kwargs['targeted']})"


class PGD:
    """``PGD(model, eps, alpha, steps, ...)(x, y)``: ``pgd`` with its settings bound."""

    def __init__(self, model, eps: float, alpha: float, steps: int, *, norm="inf",
                 random_start: bool = False, targeted: bool = False, clamp=None,
                 loss_fn: Callable | None = None, generator: Generator | None = None):
        self.model, self.eps, self.alpha, self.steps = model, eps, alpha, steps
        self.kwargs = dict(norm=norm, random_start=random_start, targeted=targeted,
                           clamp=clamp, loss_fn=loss_fn, generator=generator)

    def __call__(self, x, y) -> Tensor:
        return pgd(self.model, x, y, self.eps, self.alpha, self.steps, **self.kwargs)

    def __repr__(self) -> str:
        return (f"PGD(eps={self.eps}, alpha={self.alpha}, steps={self.steps}, "
                f"norm={self.kwargs['norm']!r})")
