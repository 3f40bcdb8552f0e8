"""The Laplace (double exponential) distribution."""

from __future__ import annotations

import math

import numpy as np

import lamina
from lamina.distributions import constraints
from lamina.distributions.distribution import Distribution, broadcast_all

__all__ = ["Laplace"]


class Laplace(Distribution):
    """``p(x) = exp(-|x - loc| / scale) / (2 scale)``.

    >>> Laplace(0.0, 1.0).variance
    tensor(2.)
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args: bool | None = None):
        self.loc, self.scale = broadcast_all(loc, scale, names=["loc", "scale"], who="Laplace")
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
    def variance(self):
        return 2 * self.scale.square()

    @property
    def stddev(self):
        return math.sqrt(2) * self.scale

    def rsample(self, sample_shape=(), generator=None):
        shape = self._extended_shape(sample_shape)
        eps = float(np.finfo(self._dtype()).eps)
        u = self._rng(generator, "Laplace.rsample").uniform(eps - 1, 1, shape)
        # inverse CDF: loc - scale sign(u) log(1 - |u|), u ~ U(-1, 1)
        noise = lamina.tensor((-np.sign(u) * np.log1p(-np.abs(u))).astype(self._dtype()))
        return self.loc + self.scale * noise

    def log_prob(self, value):
        value = self._value(value, "log_prob")
        return -(2 * self.scale).log() - (value - self.loc).abs() / self.scale

    def cdf(self, value):
        value = self._value(value, "cdf")
        d = value - self.loc
        return 0.5 - 0.5 * d.sign() * ((-d.abs() / self.scale).exp() - 1)

    def icdf(self, value):
        value = self._value(value, "icdf")
        term = value - 0.5
        return self.loc - self.scale * term.sign() * (-2 * term.abs()).log1p()

    def entropy(self):
        return 1 + (2 * self.scale).log()
