"""``Dropout`` and ``Dropout2d`` (channel dropout)."""

from __future__ import annotations

from lamina.errors import LaminaValueError
from lamina.nn import functional as F
from lamina.nn.modules.module import Module
from lamina.tensor import Tensor

__all__ = ["Dropout", "Dropout2d"]


class Dropout(Module):
    """During training, zero each element with probability ``p`` and scale the rest by
    ``1 / (1 - p)`` (inverted dropout); the identity in eval mode. Draws from lamina's random
    state. ``inplace`` is accepted and ignored (lamina computes out of place).

    >>> drop = nn.Dropout(0.2)
    >>> drop.eval()(x) is x
    True
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise LaminaValueError(f"{type(self).__name__}: dropout probability has to be between "
                                   f"0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Module):
    """Channel dropout (``dropout2d``) in training mode, identity in eval mode."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise LaminaValueError(f"Dropout2d: dropout probability has to be between 0 and 1, "
                                   f"but got {p!r}")
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout2d(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
