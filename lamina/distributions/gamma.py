"""The gamma and exponential distributions, and the beta distribution."""

from __future__ import annotations

import numpy as np

import lamina
from lamina.distributions import constraints
from lamina.distributions._special import StandardGamma
from lamina.distributions.distribution import Distribution, broadcast_all
from lamina.ops.special import digamma, lgamma, xlogy

__all__ = ["Gamma", "Exponential", "Beta"]


def _standard_gamma(concentration, shape, generator, who):
    """Gamma(concentration, 1) draws of ``shape``, differentiable in ``concentration``."""
    a = lamina.broadcast_to(concentration, shape)
    draws = Distribution._rng(generator, who).standard_gamma(a._data)
    draws = np.maximum(draws, np.finfo(a.dtype).tiny)       # as PyTorch: never exactly 0
    return StandardGamma.apply(a, draws)


class Exponential(Distribution):
    """``p(x) = rate exp(-rate x)`` for ``x >= 0``.

    >>> Exponential(2.0).mean
    tensor(0.5000)
    """

    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, rate, validate_args: bool | None = None):
        (self.rate,) = broadcast_all(rate, names=["rate"], who="Exponential")
        super().__init__(self.rate.shape, validate_args=validate_args)

    def _expand_params(self):
        return {"rate": 0}

    def _dtype(self):
        return self.rate.dtype

    @property
    def mean(self):
        return self.rate.reciprocal()

    @property
    def mode(self):
        return lamina.zeros_like(self.rate)

    @property
    def stddev(self):
        return self.rate.reciprocal()

    @property
    def variance(self):
        return self.rate.square().reciprocal()

    def rsample(self, sample_shape=(), generator=None):
        shape = self._extended_shape(sample_shape)
        e = self._rng(generator, "Exponential.rsample").standard_exponential(shape)
        return lamina.tensor(e.astype(self._dtype())) / self.rate

    def log_prob(self, value):
        value = self._value(value, "log_prob")
        return self.rate.log() - self.rate * value

    def cdf(self, value):
        value = self._value(value, "cdf")
        return 1 - (-self.rate * value).exp()

    def icdf(self, value):
        value = self._value(value, "icdf")
        return -(-value).log1p() / self.rate

    def entropy(self):
        return 1.0 - self.rate.log()


class Gamma(Distribution):
    """``p(x) = rate^a x^(a-1) exp(-rate x) / Gamma(a)``, ``a = concentration``.

    ``rsample`` is differentiable in both parameters: the draw's gradient in ``concentration``
    is the implicit reparametrization ``dx/da = -(dP(a, x)/da) / p(x)`` (``P`` the CDF), as in
    PyTorch.

    >>> Gamma(2.0, 1.0).mean
    tensor(2.)
    """

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, concentration, rate, validate_args: bool | None = None):
        self.concentration, self.rate = broadcast_all(
            concentration, rate, names=["concentration", "rate"], who="Gamma")
        super().__init__(self.rate.shape, validate_args=validate_args)

    def _expand_params(self):
        return {"concentration": 0, "rate": 0}

    def _dtype(self):
        return self.rate.dtype

    @property
    def mean(self):
        return self.concentration / self.rate

    @property
    def mode(self):
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self):
        return self.concentration / self.rate.square()

    def rsample(self, sample_shape=(), generator=None):
        shape = self._extended_shape(sample_shape)
        return _standard_gamma(self.concentration, shape, generator, "Gamma.rsample") / \
            self.rate

    def log_prob(self, value):
        value = self._value(value, "log_prob")
        a, b = self.concentration, self.rate
        return xlogy(a, b) + xlogy(a - 1, value) - b * value - lgamma(a)

    def entropy(self):
        a, b = self.concentration, self.rate
        return a - b.log() + lgamma(a) + (1.0 - a) * digamma(a)


class Beta(Distribution):
    """``p(x) = x^(a-1) (1-x)^(b-1) / B(a, b)`` on [0, 1], ``a = concentration1``,
    ``b = concentration0``. ``rsample`` draws ``X / (X + Y)`` from ``X ~ Gamma(a, 1)``,
    ``Y ~ Gamma(b, 1)``, differentiable in both parameters through ``Gamma``'s.

    >>> Beta(2.0, 2.0).mean
    tensor(0.5000)
    """

    arg_constraints = {"concentration1": constraints.positive,
                       "concentration0": constraints.positive}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1, concentration0, validate_args: bool | None = None):
        self.concentration1, self.concentration0 = broadcast_all(
            concentration1, concentration0, names=["concentration1", "concentration0"],
            who="Beta")
        super().__init__(self.concentration1.shape, validate_args=validate_args)

    def _expand_params(self):
        return {"concentration1": 0, "concentration0": 0}

    def _dtype(self):
        return self.concentration1.dtype

    @property
    def mean(self):
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self):
        # (a - 1) / (a + b - 2) for a, b >= 1 (0 or 1 at an unbounded end), as PyTorch's
        # Dirichlet mode: 1 when both are below 1 (the density is U-shaped), nan at a = b = 1
        a, b = self.concentration1, self.concentration0
        am1, bm1 = (a - 1).clamp(min=0), (b - 1).clamp(min=0)
        with np.errstate(invalid="ignore"):           # 0 / 0 where a, b <= 1
            mode = am1 / (am1 + bm1)
        return lamina.where((a < 1) & (b < 1), lamina.ones_like(mode), mode)

    @property
    def variance(self):
        a, b = self.concentration1, self.concentration0
        total = a + b
        return a * b / (total.square() * (total + 1))

    def _lbeta(self):
        a, b = self.concentration1, self.concentration0
        return lgamma(a) + lgamma(b) - lgamma(a + b)

    def rsample(self, sample_shape=(), generator=None):
        shape = self._extended_shape(sample_shape)
        x = _standard_gamma(self.concentration1, shape, generator, "Beta.rsample")
        y = _standard_gamma(self.concentration0, shape, generator, "Beta.rsample")
        eps = float(np.finfo(self._dtype()).eps)
        return (x / (x + y)).clamp(eps, 1 - eps)

    def log_prob(self, value):
        value = self._value(value, "log_prob")
        a, b = self.concentration1, self.concentration0
        return xlogy(a - 1, value) + xlogy(b - 1, 1 - value) - self._lbeta()

    def entropy(self):
        a, b = self.concentration1, self.concentration0
        return (self._lbeta() - (a - 1) * digamma(a) - (b - 1) * digamma(b)
                + (a + b - 2) * digamma(a + b))
