"""The Bernoulli distribution over {0, 1}, parametrized by ``probs`` or ``logits``."""

from __future__ import annotations

import lamina
from lamina.distributions import constraints
from lamina.distributions._special import softplus
from lamina.distributions.distribution import Distribution, broadcast_all
from lamina.errors import LaminaValueError

__all__ = ["Bernoulli", "probs_to_logits", "clamp_probs"]


def clamp_probs(probs):
    """Probabilities kept in ``[eps, 1 - eps]`` (eps of the dtype), as PyTorch does."""
    import numpy as np
    eps = float(np.finfo(probs.dtype).eps)
    return probs.clamp(eps, 1 - eps)


def probs_to_logits(probs, is_binary: bool = False):
    p = clamp_probs(probs)
    return p.log() - (-p).log1p() if is_binary else p.log()


class Bernoulli(Distribution):
    """``P(x = 1) = probs = sigmoid(logits)``; exactly one of ``probs`` and ``logits``.

    >>> Bernoulli(logits=lamina.tensor([0.0])).probs
    tensor([0.5000])
    """

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args: bool | None = None):
        if (probs is None) == (logits is None):
            raise LaminaValueError("Bernoulli: expected exactly one of probs or logits, got "
                                   f"{'both' if probs is not None else 'neither'}")
        if probs is not None:
            (self.probs,) = broadcast_all(probs, names=["probs"], who="Bernoulli")
            self._param = self.probs
        else:
            (self.logits,) = broadcast_all(logits, names=["logits"], who="Bernoulli")
            self._param = self.logits
        super().__init__(self._param.shape, validate_args=validate_args)
        if probs is not None:
            self.logits = probs_to_logits(self.probs, is_binary=True)
        else:
            self.probs = self.logits.sigmoid()

    def _expand_params(self):
        return {"probs" if self._param is self.probs else "logits": 0}

    def _dtype(self):
        return self._param.dtype

    @property
    def param_shape(self):
        return self._param.shape

    @property
    def mean(self):
        return self.probs

    @property
    def mode(self):
        p = self.probs
        mode = (p >= 0.5).to(p.dtype)
        return lamina.where(p == 0.5, mode * float("nan"), mode)

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=(), generator=None):
        shape = self._extended_shape(sample_shape)
        u = self._rng(generator, "Bernoulli.sample").random(shape)
        return lamina.tensor((u < self.probs._data).astype(self._dtype()))

    def log_prob(self, value):
        value = self._value(value, "log_prob")
        # -binary_cross_entropy_with_logits(logits, value) = value * logits - softplus(logits)
        return value * self.logits - softplus(self.logits)

    def entropy(self):
        return softplus(self.logits) - self.probs * self.logits

    def enumerate_support(self, expand: bool = True):
        values = lamina.arange(2).to(self._dtype()).reshape((2,) + (1,) * len(self.batch_shape))
        return lamina.broadcast_to(values, (2,) + self.batch_shape) if expand else values
