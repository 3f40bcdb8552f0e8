"""Minimal stand-ins for Gymnasium's ``Discrete`` and ``Box`` spaces, so ``GridWorld`` needs no
Gymnasium; the agents read only ``.n`` and ``.shape``, which Gymnasium's spaces also have."""

from __future__ import annotations

import numpy as np

from lamina.errors import LaminaValueError

__all__ = ["Discrete", "Box"]


class Discrete:
    """The integers ``{0, ..., n - 1}``."""

    def __init__(self, n: int, seed: int | None = None):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise LaminaValueError(f"Discrete: n must be a positive int, got {n!r}")
        self.n = int(n)
        self.shape = ()
        self.dtype = np.dtype(np.int64)
        self._rng = np.random.default_rng(seed)

    def seed(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)

    def sample(self) -> int:
        return int(self._rng.integers(self.n))

    def contains(self, x) -> bool:
        return isinstance(x, (int, np.integer)) and not isinstance(x, bool) and 0 <= x < self.n

    def __repr__(self) -> str:
        return f"Discrete({self.n})"


class Box:
    """A box ``[low, high]`` of float arrays of one ``shape``."""

    def __init__(self, low: float, high: float, shape: tuple, dtype=np.float32):
        self.low = np.full(shape, low, dtype=dtype)
        self.high = np.full(shape, high, dtype=dtype)
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    def contains(self, x) -> bool:
        x = np.asarray(x)
        return x.shape == self.shape and bool(np.all((x >= self.low) & (x <= self.high)))

    def __repr__(self) -> str:
        return f"Box({self.low.min()}, {self.high.max()}, {self.shape}, {self.dtype})"
