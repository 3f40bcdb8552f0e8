"""Padding layers: ``ReflectionPad1d/2d/3d``, ``ReplicationPad1d/2d/3d``,
``CircularPad1d/2d/3d``, ``ConstantPad1d/2d/3d`` and ``ZeroPad1d/2d/3d``, each
``F.pad(input, padding, mode)`` with PyTorch's arguments (see ``lamina.ops.padding``).

``padding`` is an int (the same amount on every side) or a ``2 * n``-tuple
``(left, right, top, bottom, front, back)`` for the last ``n`` dims, last dim first.
"""

from __future__ import annotations

import numpy as np

from lamina.errors import LaminaTypeError
from lamina.nn.modules.module import Module
from lamina.ops.movement import pad
from lamina.tensor import Tensor

__all__ = [f"{kind}Pad{n}d" for kind in ("Reflection", "Replication", "Circular", "Constant",
                                         "Zero") for n in (1, 2, 3)]


def _amounts(padding, n: int, owner: str) -> tuple:
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        return (int(padding),) * (2 * n)
    if isinstance(padding, (tuple, list)) and len(padding) == 2 * n and all(
            isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in padding):
        return tuple(int(p) for p in padding)
    raise LaminaTypeError(f"{owner}: padding must be an int or a tuple of {2 * n} ints, got "
                          f"{padding!r}")


class _PadNd(Module):
    _mode = "reflect"
    _n = 1

    def __init__(self, padding):
        super().__init__()
        self.padding = _amounts(padding, self._n, type(self).__name__)

    def forward(self, input: Tensor) -> Tensor:
        return pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    _mode = "constant"

    def __init__(self, padding, value: float):
        super().__init__(padding)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        return pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ReflectionPad1d(_PadNd):
    """Pad the last dim by its reflection (the edge not repeated).

    >>> nn.ReflectionPad1d(2)(lamina.arange(4.0).reshape(1, 1, 4)).tolist()
    [[[2.0, 1.0, 0.0, 1.0, 2.0, 3.0, 2.0, 1.0]]]
    """

    _mode, _n = "reflect", 1


class ReflectionPad2d(_PadNd):
    """Pad the last two dims by reflection; see ``ReflectionPad1d``."""

    _mode, _n = "reflect", 2


class ReflectionPad3d(_PadNd):
    """Pad the last three dims by reflection; see ``ReflectionPad1d``."""

    _mode, _n = "reflect", 3


class ReplicationPad1d(_PadNd):
    """Pad the last dim by repeating its edge values."""

    _mode, _n = "replicate", 1


class ReplicationPad2d(_PadNd):
    """Pad the last two dims by repeating their edge values."""

    _mode, _n = "replicate", 2


class ReplicationPad3d(_PadNd):
    """Pad the last three dims by repeating their edge values."""

    _mode, _n = "replicate", 3


class CircularPad1d(_PadNd):
    """Pad the last dim by wrapping around (periodic boundary)."""

    _mode, _n = "circular", 1


class CircularPad2d(_PadNd):
    """Pad the last two dims by wrapping around."""

    _mode, _n = "circular", 2


class CircularPad3d(_PadNd):
    """Pad the last three dims by wrapping around."""

    _mode, _n = "circular", 3


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim with a constant ``value``."""

    _n = 1


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dims with a constant ``value``."""

    _n = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last three dims with a constant ``value``."""

    _n = 3


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad1d(_ZeroPadNd):
    """Pad the last dim with zeros."""

    _n = 1


class ZeroPad2d(_ZeroPadNd):
    """Pad the last two dims with zeros.

    >>> nn.ZeroPad2d((1, 1, 2, 0))(lamina.ones(1, 1, 2, 2)).shape
    (1, 1, 4, 4)
    """

    _n = 2


class ZeroPad3d(_ZeroPadNd):
    """Pad the last three dims with zeros."""

    _n = 3
