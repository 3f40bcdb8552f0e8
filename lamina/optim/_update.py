"""Small in-place update pieces the newer optimizers share (NumPy ufuncs with ``out=``)."""

from __future__ import annotations

import numpy as np

from lamina.errors import LaminaValueError
from lamina.tensor import Tensor


def lerp_(m: np.ndarray, g: np.ndarray, w: float, tmp: np.ndarray) -> None:
    """``m <- m + w (g - m)``, the moving average, in place, in the form PyTorch's ``lerp_``
    uses for that weight (``g - (g - m)(1 - w)`` when ``w >= 0.5``); ``tmp`` is scratch."""
    np.subtract(g, m, out=tmp)
    if w < 0.5:
        np.multiply(tmp, w, out=tmp)
        np.add(m, tmp, out=m)
    else:
        np.multiply(tmp, 1.0 - w, out=tmp)
        np.subtract(g, tmp, out=m)


def bump(p: Tensor) -> None:
    """Count an in-place change of ``p`` (autograd's version check sees it)."""
    if p._vc is not None:
        p._vc[0] += 1


def check_betas(name: str, betas) -> None:
    """``betas`` must be a pair in ``[0, 1)``; the error names the optimizer."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise LaminaValueError(f"{name}: invalid betas: expected a pair (beta1, beta2), got "
                               f"{betas!r}")
    for i, b in enumerate(betas):
        if not 0.0 <= b < 1.0:
            raise LaminaValueError(f"{name}: invalid beta parameter at index {i}: {b}")


def check(ok: bool, name: str, message: str) -> None:
    """Raise ``ValueError("<name>: <message>")`` unless ``ok``."""
    if not ok:
        raise LaminaValueError(f"{name}: {message}")


def check_adam_family(name: str, group) -> None:
    """The hyper-parameters every Adam-family optimizer shares (``lr``, ``eps``, ``betas``,
    ``weight_decay``), with PyTorch's messages; the error names the optimizer."""
    check(group["lr"] >= 0.0, name, f"invalid learning rate: {group['lr']}")
    check(group["eps"] >= 0.0, name, f"invalid epsilon value: {group['eps']}")
    check_betas(name, group["betas"])
    check(group["weight_decay"] >= 0.0, name,
          f"invalid weight_decay value: {group['weight_decay']}")
