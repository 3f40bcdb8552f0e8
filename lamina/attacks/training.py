"""Adversarial training as a loader wrapper, usable with ``lamina.train.fit`` unchanged.

``AdversarialLoader(loader, attack)`` yields, for every ``(x, y)`` batch of ``loader``, a
batch with adversarial examples made by ``attack(x, y)`` against the model *as it is at that
step*. With ``mix="concat"`` (the default) the batch is ``(cat[x, x_adv], cat[y, y])``, so a
mean loss is Goodfellow et al.'s (2015) objective ``0.5 * J(x, y) + 0.5 * J(x_adv, y)``;
``mix="replace"`` trains on ``x_adv`` alone (Madry et al., 2018, with a PGD attack).

>>> from lamina.attacks import FGSM, AdversarialLoader
>>> adv = AdversarialLoader(train_loader, FGSM(model, eps=0.1, clamp=(0, 1)))
>>> fit(model, nn.CrossEntropyLoss(), opt, adv, epochs=5, val_loader=val_loader)

The attack switches the model to eval mode while it runs and restores train mode before
``fit`` runs the batch, and it never touches the parameters' ``.grad`` (``fit`` zeroes them
anyway).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor, _make

__all__ = ["AdversarialLoader"]


def _array(v) -> np.ndarray:
    return v._data if isinstance(v, Tensor) else np.asarray(v)


class AdversarialLoader:
    """Wrap ``loader`` (an iterable of ``(x, y)`` batches) to add or substitute adversarial
    examples ``attack(x, y)``.

    Args:
        loader: the clean batches (a ``DataLoader``); iterated afresh on every pass.
        attack: ``attack(x, y) -> x_adv``, e.g. ``FGSM(model, eps)`` or ``PGD(...)``.
        mix: ``"concat"`` (clean and adversarial examples in one batch, twice its size) or
            ``"replace"`` (adversarial examples only).
    """

    def __init__(self, loader: Iterable, attack: Callable, mix: str = "concat"):
        if not callable(attack):
            raise LaminaTypeError(f"AdversarialLoader: attack must be callable (x, y) -> x_adv, "
                                  f"got {type(attack).__name__}")
        if mix not in ("concat", "replace"):
            raise LaminaValueError(f"AdversarialLoader: mix must be 'concat' or 'replace', got "
                                   f"{mix!r}")
        self.loader, self.attack, self.mix = loader, attack, mix

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                got = type(batch).__name__
                if isinstance(batch, (tuple, list)):
                    got += f" of length {len(batch)}"
                raise LaminaValueError(f"AdversarialLoader: expected (x, y) batches, got {got}")
            x, y = batch
            x_adv = self.attack(x, y)
            if self.mix == "replace":
                yield x_adv, y
            else:
                yield (_make(np.concatenate([_array(x), _array(x_adv)])),
                       _make(np.concatenate([_array(y), _array(y)])))
