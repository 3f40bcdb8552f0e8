"""``Flatten`` and ``Unflatten``: reshape between a feature vector and a feature map."""

from __future__ import annotations

from lamina.errors import LaminaIndexError, LaminaTypeError
from lamina.nn.modules.module import Module
from lamina.tensor import Tensor

__all__ = ["Flatten", "Unflatten"]


class Flatten(Module):
    """Merge dims ``start_dim..end_dim`` into one (by default all but the batch dim).

    >>> nn.Flatten()(lamina.zeros(32, 1, 28, 28)).shape
    (32, 784)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size`` (the inverse of ``Flatten``).

    >>> nn.Unflatten(1, (1, 28, 28))(lamina.zeros(32, 784)).shape
    (32, 1, 28, 28)
    """

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        if not isinstance(dim, int):
            raise LaminaTypeError(f"Unflatten: invalid type {type(dim).__name__} for dim (int "
                                  "expected)")
        sizes = tuple(unflattened_size)
        if not all(isinstance(s, int) for s in sizes):
            raise LaminaTypeError(f"Unflatten: unflattened_size must be a tuple of ints, got "
                                  f"{unflattened_size!r}")
        self.dim = dim
        self.unflattened_size = sizes

    def forward(self, input: Tensor) -> Tensor:
        shape = input.shape
        nd = len(shape)
        if not -nd <= self.dim < nd:
            raise LaminaIndexError(f"Unflatten: dim {self.dim} is out of range for a {nd}-d input")
        d = self.dim % nd
        return input.reshape(*shape[:d], *self.unflattened_size, *shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
