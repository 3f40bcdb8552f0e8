"""Knowledge distillation with ``fit`` (Hinton, Vinyals and Dean, 2015): ``distill`` trains a
student on a teacher's softened outputs and the labels. The loss and the ``Distiller`` module
live in ``lamina.nn.distill``; this is the training loop's side."""

from __future__ import annotations

from lamina.nn.distill import Distiller
from lamina.nn.module import Module
from lamina.train.trainer import fit

__all__ = ["distill"]


def distill(student: Module, teacher: Module, optimizer, train_loader, epochs: int = 1,
            T: float = 4.0, alpha: float = 0.9, **fit_kwargs):
    """Train ``student`` to match ``teacher`` (and the labels) with ``lamina.train.fit``;
    returns fit's ``History``. ``optimizer`` holds the student's parameters; ``fit_kwargs``
    (``val_loader``, ``metrics``, ``callbacks``, ``verbose``...) go to ``fit``."""
    d = Distiller(student, teacher, T, alpha)
    return fit(d, d.loss, optimizer, train_loader, epochs, **fit_kwargs)
