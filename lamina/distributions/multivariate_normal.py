"""The multivariate normal distribution ``N(loc, Sigma)`` over vectors of size n."""

from __future__ import annotations

import math

import numpy as np

import lamina
from lamina.distributions import constraints
from lamina.distributions._special import diagonal, solve_triangular
from lamina.distributions.distribution import Distribution, broadcast_all
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.linalg import cholesky, inv
from lamina.tensor import Tensor

__all__ = ["MultivariateNormal"]


def _batch_mahalanobis(lo: Tensor, x: Tensor) -> Tensor:
    """``x^T (L L^T)^-1 x = |L^-1 x|^2`` over the last dim, batch dims broadcast."""
    shape = np.broadcast_shapes(tuple(lo.shape[:-2]), tuple(x.shape[:-1]))
    n = lo.shape[-1]
    lo = lamina.broadcast_to(lo, shape + (n, n))
    x = lamina.broadcast_to(x, shape + (n,))
    return solve_triangular(lo, x.unsqueeze(-1)).squeeze(-1).square().sum(-1)


class MultivariateNormal(Distribution):
    """``p(x) = exp(-(x - mu)^T Sigma^-1 (x - mu) / 2) / sqrt((2 pi)^n det Sigma)``.

    Give exactly one of ``covariance_matrix`` (Sigma), ``precision_matrix`` (Sigma^-1) or
    ``scale_tril`` (the lower Cholesky factor L, Sigma = L L^T; the cheapest).

    >>> d = MultivariateNormal(lamina.zeros(2), covariance_matrix=lamina.eye(2))
    >>> d.event_shape
    (2,)
    """

    arg_constraints = {"loc": constraints.real_vector,
                       "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite,
                       "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None,
                 validate_args: bool | None = None):
        given = [n for n, v in (("covariance_matrix", covariance_matrix),
                                ("precision_matrix", precision_matrix),
                                ("scale_tril", scale_tril)) if v is not None]
        if len(given) != 1:
            raise LaminaValueError("MultivariateNormal: expected exactly one of covariance_matrix, "
                                   f"precision_matrix or scale_tril, got {given or 'none'}")
        matrix = {"covariance_matrix": covariance_matrix, "precision_matrix": precision_matrix,
                  "scale_tril": scale_tril}[given[0]]
        for v, n in ((loc, "loc"), (matrix, given[0])):
            if not isinstance(v, Tensor):
                raise LaminaTypeError(f"MultivariateNormal: {n} must be a Tensor, got "
                                      f"{type(v).__name__}")
        if loc.ndim < 1:
            raise LaminaValueError("MultivariateNormal: loc must be at least one-dimensional, got "
                                   f"shape {tuple(loc.shape)}")
        if matrix.ndim < 2 or matrix.shape[-1] != matrix.shape[-2] \
                or matrix.shape[-1] != loc.shape[-1]:
            raise LaminaValueError(f"MultivariateNormal: {given[0]} must be a (batch of) "
                                   f"{loc.shape[-1]} x {loc.shape[-1]} matrices to match loc of "
                                   f"shape {tuple(loc.shape)}, got shape {tuple(matrix.shape)}")
        loc, matrix = (broadcast_all(loc, names=["loc"], who="MultivariateNormal")[0],
                       broadcast_all(matrix, names=[given[0]], who="MultivariateNormal")[0])
        if loc.dtype != matrix.dtype:
            dt = lamina.backend.promote_types(loc.dtype, matrix.dtype)
            loc, matrix = loc.to(dt), matrix.to(dt)
        try:
            batch = np.broadcast_shapes(tuple(loc.shape[:-1]), tuple(matrix.shape[:-2]))
        except ValueError:
            raise LaminaValueError(f"MultivariateNormal: the batch shapes of loc "
                                   f"{tuple(loc.shape[:-1])} and {given[0]} "
                                   f"{tuple(matrix.shape[:-2])} do not broadcast") from None
        n = loc.shape[-1]
        self.loc = lamina.broadcast_to(loc, batch + (n,)) if loc.shape[:-1] != batch else loc
        self._given = given[0]
        setattr(self, given[0], matrix)
        super().__init__(batch, (n,), validate_args=validate_args)
        if given[0] == "scale_tril":
            self._unbroadcasted_scale_tril = matrix
        elif given[0] == "covariance_matrix":
            self._unbroadcasted_scale_tril = cholesky(matrix)
        else:
            self._unbroadcasted_scale_tril = cholesky(inv(matrix))

    def _expand_params(self):
        return {"loc": 1, self._given: 2}

    def expand(self, batch_shape, _instance=None):
        new = super().expand(batch_shape)
        return new

    def _dtype(self):
        return self.loc.dtype

    def _n(self):
        return self._event_shape[0]

    def __getattr__(self, name):
        d = self.__dict__
        if "_unbroadcasted_scale_tril" not in d:
            raise AttributeError(name)
        lo = d["_unbroadcasted_scale_tril"]
        shape = self._batch_shape + self._event_shape * 2
        if name == "scale_tril":
            return lamina.broadcast_to(lo, shape)
        if name == "covariance_matrix":
            return lamina.broadcast_to(lo @ lo.mT, shape)
        if name == "precision_matrix":
            return lamina.broadcast_to(inv(lo @ lo.mT), shape)
        raise AttributeError(f"'MultivariateNormal' object has no attribute {name!r}")

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        v = self._unbroadcasted_scale_tril.square().sum(-1)
        return lamina.broadcast_to(v, self._batch_shape + self._event_shape)

    def rsample(self, sample_shape=(), generator=None):
        shape = self._extended_shape(sample_shape)
        eps = self._rng(generator, "MultivariateNormal.rsample").standard_normal(shape)
        eps = lamina.tensor(eps.astype(self._dtype()))
        return self.loc + (self._unbroadcasted_scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def _half_log_det(self):
        return diagonal(self._unbroadcasted_scale_tril).log().sum(-1)

    def log_prob(self, value):
        value = self._value(value, "log_prob")
        m = _batch_mahalanobis(self._unbroadcasted_scale_tril, value - self.loc)
        return -0.5 * (self._n() * math.log(2 * math.pi) + m) - self._half_log_det()

    def entropy(self):
        h = 0.5 * self._n() * (1.0 + math.log(2 * math.pi)) + self._half_log_det()
        return h if tuple(h.shape) == self._batch_shape else \
            lamina.broadcast_to(h, self._batch_shape)
