"""Adversarial examples: ``fgsm`` and ``pgd`` (L-infinity and L2, targeted or not, random
start) as functions and as small attack objects (``FGSM``, ``PGD``), and adversarial
training through ``AdversarialLoader``, a wrapper around any training loader.

>>> from lamina import attacks
>>> x_adv = attacks.fgsm(model, x, y, eps=0.1, clamp=(0, 1))
>>> (model(x_adv).argmax(1) != y).float().mean()      # the error rate under attack
"""

from lamina.attacks.gradient import FGSM, PGD, eval_mode, fgsm, input_gradient, pgd
from lamina.attacks.training import AdversarialLoader

__all__ = ["fgsm", "pgd", "FGSM", "PGD", "AdversarialLoader", "eval_mode", "input_gradient"]
