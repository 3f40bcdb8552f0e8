"""The continuous uniform distribution on ``[low, high)``."""

from __future__ import annotations

import numpy as np

import lamina
from lamina.distributions import constraints
from lamina.distributions.distribution import Distribution, broadcast_all
from lamina.errors import LaminaValueError

__all__ = ["Uniform"]


class Uniform(Distribution):
    """``p(x) = 1 / (high - low)`` on ``[low, high)``; requires ``low < high``.

    >>> Uniform(0.0, 2.0).entropy()
    tensor(0.6931)
    """

    arg_constraints = {"low": constraints.dependent, "high": constraints.dependent}
    has_rsample = True

    def __init__(self, low, high, validate_args: bool | None = None):
        self.low, self.high = broadcast_all(low, high, names=["low", "high"], who="Uniform")
        super().__init__(self.low.shape, validate_args=validate_args)
        if self._validate_args and not np.all(self.low._data < self.high._data):
            bad = ~(self.low._data < self.high._data)
            raise LaminaValueError(f"Uniform: expected low < high, got low = "
                                   f"{self.low._data[bad].ravel()[:5]}, high = "
                                   f"{self.high._data[bad].ravel()[:5]}")

    def _expand_params(self):
        return {"low": 0, "high": 0}

    def _dtype(self):
        return self.low.dtype

    @property
    def support(self):
        return constraints.half_open_interval(self.low, self.high)

    @property
    def mean(self):
        return (self.high + self.low) / 2

    @property
    def mode(self):
        return self.high * float("nan")

    @property
    def stddev(self):
        return (self.high - self.low) / 12 ** 0.5

    @property
    def variance(self):
        return (self.high - self.low).square() / 12

    def rsample(self, sample_shape=(), generator=None):
        shape = self._extended_shape(sample_shape)
        u = self._rng(generator, "Uniform.rsample").random(shape).astype(self._dtype())
        return self.low + lamina.tensor(u) * (self.high - self.low)

    def log_prob(self, value):
        value = self._value(value, "log_prob")
        inside = ((self.low <= value) & (self.high > value)).to(self._dtype())
        return inside.log() - (self.high - self.low).log()

    def cdf(self, value):
        value = self._value(value, "cdf")
        return ((value - self.low) / (self.high - self.low)).clamp(0, 1)

    def icdf(self, value):
        value = self._value(value, "icdf")
        return value * (self.high - self.low) + self.low

    def entropy(self):
        return (self.high - self.low).log()
