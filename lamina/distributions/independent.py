"""``Independent``: reinterpret some of a distribution's batch dims as event dims."""

from __future__ import annotations

from lamina.distributions import constraints
from lamina.distributions.distribution import Distribution
from lamina.errors import LaminaTypeError, LaminaValueError

__all__ = ["Independent"]


def _sum_rightmost(x, n: int):
    return x.reshape(tuple(x.shape[:x.ndim - n]) + (-1,)).sum(-1) if n > 0 else x


class Independent(Distribution):
    """The rightmost ``reinterpreted_batch_ndims`` batch dims of ``base_distribution`` become
    event dims: ``log_prob`` and ``entropy`` sum over them.

    >>> d = Independent(Normal(lamina.zeros(3), lamina.ones(3)), 1)
    >>> d.batch_shape, d.event_shape
    ((), (3,))
    """

    arg_constraints: dict = {}

    def __init__(self, base_distribution: Distribution, reinterpreted_batch_ndims: int,
                 validate_args: bool | None = None):
        if not isinstance(base_distribution, Distribution):
            raise LaminaTypeError("Independent: base_distribution must be a Distribution, got "
                                  f"{type(base_distribution).__name__}")
        n = reinterpreted_batch_ndims
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise LaminaValueError("Independent: reinterpreted_batch_ndims must be a non-negative "
                                   f"int, got {n!r}")
        bs = base_distribution.batch_shape
        if n > len(bs):
            raise LaminaValueError(f"Independent: expected reinterpreted_batch_ndims <= "
                                   f"len(base_distribution.batch_shape) = {len(bs)}, got {n}")
        self.base_dist = base_distribution
        self.reinterpreted_batch_ndims = n
        cut = len(bs) - n
        super().__init__(bs[:cut], bs[cut:] + base_distribution.event_shape,
                         validate_args=validate_args)

    @property
    def has_rsample(self):
        return self.base_dist.has_rsample

    @property
    def has_enumerate_support(self):
        return False

    @property
    def support(self):
        return constraints.independent(self.base_dist.support, self.reinterpreted_batch_ndims) \
            if self.base_dist.support is not None else None

    def _dtype(self):
        return self.base_dist._dtype()

    def expand(self, batch_shape, _instance=None):
        from lamina.distributions.distribution import _shape
        batch_shape = _shape(batch_shape, "Independent.expand: batch_shape")
        n = self.reinterpreted_batch_ndims
        ev = self.event_shape[:n]
        return Independent(self.base_dist.expand(batch_shape + ev), n, validate_args=False)

    @property
    def mean(self):
        return self.base_dist.mean

    @property
    def mode(self):
        return self.base_dist.mode

    @property
    def variance(self):
        return self.base_dist.variance

    def sample(self, sample_shape=(), generator=None):
        return self.base_dist.sample(sample_shape, generator=generator)

    def rsample(self, sample_shape=(), generator=None):
        return self.base_dist.rsample(sample_shape, generator=generator)

    def log_prob(self, value):
        return _sum_rightmost(self.base_dist.log_prob(value), self.reinterpreted_batch_ndims)

    def entropy(self):
        return _sum_rightmost(self.base_dist.entropy(), self.reinterpreted_batch_ndims)

    def __repr__(self):
        return f"Independent({self.base_dist!r}, {self.reinterpreted_batch_ndims})"
