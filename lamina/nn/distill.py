"""Knowledge distillation (Hinton, Vinyals and Dean, "Distilling the knowledge in a neural
network", 2015): a small *student* learns from a large *teacher*'s softened outputs.

With temperature ``T`` the soft targets are ``p = softmax(teacher_logits / T)`` and the
student's soft predictions ``q = softmax(student_logits / T)``; the loss is

    alpha * T**2 * KL(p || q)  +  (1 - alpha) * cross_entropy(student_logits, labels)

with the KL averaged over the batch (``reduction='batchmean'``). The ``T**2`` keeps the soft
term's gradient the same size as ``T`` changes (its gradient scales as ``1 / T**2``).

* ``kl_div``: ``F.kl_div`` with PyTorch's warning for ``reduction='mean'`` (the arithmetic
  is ``lamina.ops.loss.kl_div``);
* ``distillation_loss`` / ``DistillationLoss(T, alpha)``: the formula above;
* ``Distiller(student, teacher, T, alpha)``: a module for ``lamina.train.fit`` (its forward
  is the student's; ``Distiller.loss`` is the matching ``loss_fn(output, target)``);
* ``lamina.train.distill(student, teacher, optimizer, train_loader, epochs, ...)``: the two in
  one call, with ``fit``.

>>> opt = optim.Adam(student.parameters())
>>> history = lamina.train.distill(student, teacher, opt, loader, epochs=5)
"""

from __future__ import annotations

import warnings

from lamina.autograd import no_grad
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn.module import Module
from lamina.ops.loss import _legacy_reduction, cross_entropy
from lamina.ops.loss import kl_div as _kl_div
from lamina.ops.reduce import log_softmax, softmax
from lamina.tensor import Tensor

__all__ = ["kl_div", "distillation_loss", "DistillationLoss", "Distiller"]

_MEAN_WARNING = ("reduction: 'mean' divides the total loss by both the batch size and the "
                 "support size.'batchmean' divides only by the batch size, and aligns with the "
                 "KL div math definition.'mean' will be changed to behave the same as "
                 "'batchmean' in the next major release.")


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """``torch.nn.functional.kl_div``: pointwise ``target * (log target - input)`` (input as
    log-probabilities; ``log_target=True`` takes ``target`` as log-probabilities too),
    reduced by ``'mean'`` (over all elements; warns, as PyTorch does, that this is not the
    KL divergence), ``'batchmean'`` (sum / batch size: the KL divergence), ``'sum'`` or
    ``'none'``.

    >>> F.kl_div(F.log_softmax(s, 1), F.softmax(t, 1), reduction="batchmean")
    """
    if size_average is None and reduce is None and reduction == "mean":
        warnings.warn(_MEAN_WARNING, UserWarning, stacklevel=2)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _kl_div(input, target, reduction=reduction, log_target=log_target)


def _check_t_alpha(T, alpha, op: str) -> tuple[float, float]:
    if isinstance(T, bool) or not isinstance(T, (int, float)) or not T > 0:
        raise LaminaValueError(f"{op}: T must be a positive number, got {T!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise LaminaValueError(f"{op}: alpha must be a number in [0, 1], got {alpha!r}")
    return float(T), float(alpha)


def distillation_loss(student_logits: Tensor, teacher_logits: Tensor, target: Tensor,
                      T: float = 4.0, alpha: float = 0.9) -> Tensor:
    """``alpha * T**2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, target)``,
    the KL with ``'batchmean'``; no gradient flows into ``teacher_logits``.

    Args:
        student_logits: (N, C) logits of the student.
        teacher_logits: (N, C) logits of the teacher (detached here).
        target: (N,) int64 class labels.
        T: the temperature (> 0); ``T = 1`` is the plain softmax.
        alpha: weight of the soft (teacher) term in [0, 1]; ``alpha = 0`` is plain
            cross-entropy.
    """
    op = "distillation_loss"
    T, alpha = _check_t_alpha(T, alpha, op)
    for name, v in (("student_logits", student_logits), ("teacher_logits", teacher_logits)):
        if not isinstance(v, Tensor) or v.ndim != 2:
            raise LaminaValueError(f"{op}: {name} must be a 2-D (N, C) Tensor, got "
                                   f"{getattr(v, 'shape', type(v).__name__)}")
    if tuple(student_logits.shape) != tuple(teacher_logits.shape):
        raise LaminaValueError(f"{op}: student_logits {tuple(student_logits.shape)} and "
                               f"teacher_logits {tuple(teacher_logits.shape)} differ in shape")
    loss = None
    if alpha > 0:
        soft = softmax(teacher_logits.detach() / T, 1)
        kl = _kl_div(log_softmax(student_logits / T, 1), soft, reduction="batchmean")
        loss = kl * (alpha * T * T)
    if alpha < 1:
        hard = cross_entropy(student_logits, target) * (1.0 - alpha)
        loss = hard if loss is None else loss + hard
    return loss


class DistillationLoss(Module):
    """``distillation_loss`` as a module: ``DistillationLoss(T=4.0, alpha=0.9)(s, t, y)``."""

    def __init__(self, T: float = 4.0, alpha: float = 0.9):
        super().__init__()
        self.T, self.alpha = _check_t_alpha(T, alpha, "DistillationLoss")

    def forward(self, student_logits: Tensor, teacher_logits: Tensor,
                target: Tensor) -> Tensor:
        return distillation_loss(student_logits, teacher_logits, target, self.T, self.alpha)

    def extra_repr(self) -> str:
        return f"T={self.T}, alpha={self.alpha}"


class Distiller(Module):
    """The student with a frozen teacher alongside, for ``lamina.train.fit``.

    ``forward(*inputs)`` returns the student's logits (so accuracy metrics and ``predict``
    work unchanged) and, in the same call, runs the teacher in eval mode without gradients
    and keeps its logits; ``loss(output, target)`` then applies ``DistillationLoss`` to the
    pair. Only the student is a submodule: ``parameters()`` and ``state_dict()`` are the
    student's, and the teacher is never trained.

    >>> d = Distiller(student, teacher, T=4.0, alpha=0.9)
    >>> fit(d, d.loss, optim.Adam(student.parameters()), loader, epochs=5)
    """

    def __init__(self, student: Module, teacher: Module, T: float = 4.0, alpha: float = 0.9):
        super().__init__()
        for name, m in (("student", student), ("teacher", teacher)):
            if not isinstance(m, Module):
                raise LaminaTypeError(f"Distiller: {name} must be an nn.Module, got "
                                      f"{type(m).__name__}")
        self.student = student
        object.__setattr__(self, "teacher", teacher)       # not registered: not trained
        self.criterion = DistillationLoss(T, alpha)
        self._teacher_logits = None

    def forward(self, *inputs):
        was_training = self.teacher.training
        self.teacher.eval()
        with no_grad():
            self._teacher_logits = self.teacher(*inputs).detach()
        self.teacher.train(was_training)
        return self.student(*inputs)

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        """``DistillationLoss`` of ``output`` against the teacher's logits for the same
        inputs (from the latest ``forward``) and the labels ``target``."""
        t = self._teacher_logits
        if t is None or tuple(t.shape) != tuple(output.shape):
            raise LaminaValueError("Distiller.loss: call the Distiller's forward on the batch "
                                   "first (its output is the student's logits)")
        return self.criterion(output, t, target)
