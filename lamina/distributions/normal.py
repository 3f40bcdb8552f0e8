"""The normal (Gaussian) distribution ``N(loc, scale^2)``."""

from __future__ import annotations

import math

import numpy as np

import lamina
from lamina.distributions import constraints
from lamina.distributions.distribution import Distribution, broadcast_all
from lamina.errors import LaminaValueError
from lamina.ops.special import erf, erfinv

__all__ = ["Normal"]


class Normal(Distribution):
    """``p(x) = exp(-(x - loc)^2 / (2 scale^2)) / (scale sqrt(2 pi))``.

    Args:
        loc: the mean (a number or tensor).
        scale: the standard deviation, > 0.
        validate_args: see ``Distribution``.

    >>> d = Normal(lamina.tensor([0.0, 1.0]), 2.0)
    >>> d.log_prob(lamina.tensor([0.5, 0.5])).shape
    (2,)
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args: bool | None = None):
        self.loc, self.scale = broadcast_all(loc, scale, names=["loc", "scale"], who="Normal")
        super().__init__(self.loc.shape, validate_args=validate_args)

    def _expand_params(self):
        return {"loc": 0, "scale": 0}

    def _dtype(self):
        return self.loc.dtype

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def stddev(self):
        return self.scale

    @property
    def variance(self):
        return self.scale.square()

    def rsample(self, sample_shape=(), generator=None):
        shape = self._extended_shape(sample_shape)
        eps = self._rng(generator, "Normal.rsample").standard_normal(shape)
        return self.loc + lamina.tensor(eps.astype(self._dtype())) * self.scale

    def log_prob(self, value):
        value = self._value(value, "log_prob")
        var = self.scale.square()
        return (-(value - self.loc).square() / (2 * var) - self.scale.log()
                - math.log(math.sqrt(2 * math.pi)))

    def cdf(self, value):
        value = self._value(value, "cdf")
        return 0.5 * (1 + erf((value - self.loc) / (self.scale * math.sqrt(2))))

    def icdf(self, value):
        value = self._value(value, "icdf")
        if self._validate_args and not np.all((value._data >= 0) & (value._data <= 1)):
            raise LaminaValueError("Normal.icdf: expected probabilities in [0, 1], got values "
                                   f"from {value._data.min()} to {value._data.max()}")
        return self.loc + self.scale * erfinv(2 * value - 1) * math.sqrt(2)

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + self.scale.log()
