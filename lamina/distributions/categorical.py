"""The categorical distribution over ``{0, ..., K-1}`` and its one-hot form."""

from __future__ import annotations

import numpy as np

import lamina
from lamina.distributions import constraints
from lamina.distributions.bernoulli import probs_to_logits
from lamina.distributions.distribution import Distribution, broadcast_all
from lamina.errors import LaminaValueError

__all__ = ["Categorical", "OneHotCategorical"]


def _param(x, name, who):
    (t,) = broadcast_all(x, names=[name], who=who)
    if t.ndim < 1:
        raise LaminaValueError(f"{who}: {name} must have at least one dimension (the categories), "
                               f"got shape {tuple(t.shape)}")
    if t.shape[-1] == 0:
        raise LaminaValueError(f"{who}: {name} must have at least one category, got shape "
                               f"{tuple(t.shape)}")
    return t


class Categorical(Distribution):
    """``P(x = k) = probs[..., k]``: ``probs`` (normalized along the last dim) or
    ``logits`` (unnormalized log-probabilities); exactly one of them.

    Samples are int64 indices of shape ``sample_shape + batch_shape``.

    >>> d = Categorical(logits=lamina.zeros(4))
    >>> d.log_prob(lamina.tensor(2))
    tensor(-1.3863)
    """

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args: bool | None = None):
        who = type(self).__name__
        if (probs is None) == (logits is None):
            raise LaminaValueError(f"{who}: expected exactly one of probs or logits, got "
                                   f"{'both' if probs is not None else 'neither'}")
        if probs is not None:
            p = _param(probs, "probs", who)
            validate = (Distribution._validate_default if validate_args is None
                        else validate_args)
            if validate and not np.all(p._data >= 0):
                raise LaminaValueError(f"{who}: expected parameter probs to be non-negative, got "
                                       f"min {p._data.min()}")
            self.probs = p / p.sum(-1, keepdim=True)
            self._given = "probs"
        else:
            lg = _param(logits, "logits", who)
            self.logits = lg - lg.logsumexp(-1, keepdim=True)
            self._given = "logits"
        self._num_events = (self.probs if probs is not None else self.logits).shape[-1]
        super().__init__(self.__dict__[self._given].shape[:-1], validate_args=validate_args)
        if probs is not None:
            self.logits = probs_to_logits(self.probs)
        else:
            self.probs = self.logits.softmax(-1)

    def _expand_params(self):
        return {self._given: 1}

    def _dtype(self):
        return self.probs.dtype

    @property
    def support(self):
        return constraints.integer_interval(0, self._num_events - 1)

    @property
    def param_shape(self):
        return self.probs.shape

    @property
    def mean(self):
        return lamina.full(self.batch_shape, float("nan"), dtype=self._dtype())

    @property
    def mode(self):
        return self.probs.argmax(-1)

    @property
    def variance(self):
        return lamina.full(self.batch_shape, float("nan"), dtype=self._dtype())

    def sample(self, sample_shape=(), generator=None):
        shape = self._extended_shape(sample_shape)
        cdf = np.cumsum(self.probs._data, axis=-1)
        cdf = np.broadcast_to(cdf, shape + cdf.shape[-1:])
        u = self._rng(generator, f"{type(self).__name__}.sample").random(shape + (1,))
        idx = (cdf < u * cdf[..., -1:]).sum(-1)        # inverse-CDF draw
        return lamina.tensor(np.minimum(idx, self._num_events - 1).astype(np.int64))

    def _value(self, value, who, dtype=None):
        if isinstance(value, int) and not isinstance(value, bool):
            value = lamina.tensor(value)
        return super()._value(value, who, dtype)

    def log_prob(self, value):
        value = self._value(value, "log_prob")
        shape = np.broadcast_shapes(tuple(value.shape), self.batch_shape)
        idx = lamina.broadcast_to(value.long(), shape).unsqueeze(-1)
        logits = lamina.broadcast_to(self.logits, shape + (self._num_events,))
        return logits.gather(-1, idx).squeeze(-1)

    def entropy(self):
        min_real = float(np.finfo(self._dtype()).min)
        return -(self.logits.clamp(min=min_real) * self.probs).sum(-1)

    def enumerate_support(self, expand: bool = True):
        values = lamina.arange(self._num_events).reshape(
            (self._num_events,) + (1,) * len(self.batch_shape))
        return lamina.broadcast_to(values, (self._num_events,) + self.batch_shape) \
            if expand else values


class OneHotCategorical(Distribution):
    """``Categorical`` with one-hot samples: events of shape ``(K,)``.

    >>> OneHotCategorical(probs=lamina.tensor([0.2, 0.8])).sample().shape
    (2,)
    """

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.one_hot
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args: bool | None = None):
        self._categorical = Categorical(probs, logits, validate_args=validate_args)
        super().__init__(self._categorical.batch_shape, (self._categorical._num_events,),
                         validate_args=validate_args)

    def _expand_params(self):
        return {self._categorical._given: 1}

    def __getattr__(self, name):
        if name in ("probs", "logits"):
            return getattr(self.__dict__["_categorical"], name)
        raise AttributeError(name)

    def _dtype(self):
        return self._categorical._dtype()

    @property
    def param_shape(self):
        return self._categorical.param_shape

    @property
    def mean(self):
        return self._categorical.probs

    @property
    def mode(self):
        probs = self._categorical.probs
        k = self._categorical._num_events
        return lamina.nn.functional.one_hot(probs.argmax(-1), k).to(probs.dtype)

    @property
    def variance(self):
        p = self._categorical.probs
        return p * (1 - p)

    def sample(self, sample_shape=(), generator=None):
        idx = self._categorical.sample(sample_shape, generator=generator)
        eye = np.eye(self._categorical._num_events, dtype=self._dtype())
        return lamina.tensor(eye[idx._data])

    def log_prob(self, value):
        value = self._value(value, "log_prob")
        return self._categorical.log_prob(value.argmax(-1))

    def entropy(self):
        return self._categorical.entropy()

    def enumerate_support(self, expand: bool = True):
        k = self._categorical._num_events
        values = lamina.tensor(np.eye(k, dtype=self._dtype()).reshape(
            (k,) + (1,) * len(self.batch_shape) + (k,)))
        return lamina.broadcast_to(values, (k,) + self.batch_shape + (k,)) if expand else values
