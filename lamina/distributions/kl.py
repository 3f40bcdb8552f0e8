"""``kl_divergence(p, q)``: KL(p || q) through a registry of closed forms (``register_kl``).

The lookup picks the most specific registered pair for ``(type(p), type(q))`` along both
classes' method resolution orders, as PyTorch does.
"""

from __future__ import annotations

from collections.abc import Callable

from lamina.distributions.distribution import Distribution
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor

__all__ = ["kl_divergence", "register_kl"]

_KL_REGISTRY: dict[tuple[type, type], Callable] = {}
_KL_MEMO: dict[tuple[type, type], Callable | None] = {}


def register_kl(type_p: type, type_q: type):
    """Decorator registering ``fn(p, q) -> KL(p || q)`` for a pair of distribution classes.

    >>> @register_kl(Normal, Normal)
    ... def kl_normal_normal(p, q): ...
    """
    for t, n in ((type_p, "type_p"), (type_q, "type_q")):
        if not (isinstance(t, type) and issubclass(t, Distribution)):
            raise LaminaTypeError(f"register_kl: {n} must be a subclass of Distribution, got {t!r}")

    def decorator(fn):
        if not callable(fn):
            raise LaminaTypeError(f"register_kl: expected a function, got {type(fn).__name__}")
        _KL_REGISTRY[type_p, type_q] = fn
        _KL_MEMO.clear()
        return fn

    return decorator


def _dispatch(type_p: type, type_q: type):
    if (type_p, type_q) not in _KL_MEMO:
        matches = [(p, q) for p, q in _KL_REGISTRY if issubclass(type_p, p)
                   and issubclass(type_q, q)]
        best = None
        if matches:
            # most specific first: smallest MRO distance for p, then for q
            best = min(matches, key=lambda pq: (type_p.__mro__.index(pq[0]),
                                                type_q.__mro__.index(pq[1])))
        _KL_MEMO[type_p, type_q] = _KL_REGISTRY[best] if best else None
    return _KL_MEMO[type_p, type_q]


def kl_divergence(p: Distribution, q: Distribution) -> Tensor:
    """``KL(p || q) = E_p[log p(x) - log q(x)]``, one value per batch element.

    Raises:
        NotImplementedError: when no closed form is registered for the pair of types.
    """
    for d, n in ((p, "p"), (q, "q")):
        if not isinstance(d, Distribution):
            raise LaminaTypeError(f"kl_divergence: {n} must be a Distribution, got "
                                  f"{type(d).__name__}")
    fn = _dispatch(type(p), type(q))
    if fn is None:
        raise NotImplementedError(f"kl_divergence: no KL divergence registered for "
                                  f"p = {type(p).__name__}, q = {type(q).__name__} "
                                  "(add one with register_kl)")
    return fn(p, q)


# --- closed forms -------------------------------------------------------------------------
# imported here, after the registry, so that each distribution module stays free of kl.py

import math  # noqa: E402

import numpy as np  # noqa: E402

import lamina  # noqa: E402
from lamina.distributions._special import softplus  # noqa: E402
from lamina.distributions.bernoulli import Bernoulli  # noqa: E402
from lamina.distributions.categorical import Categorical, OneHotCategorical  # noqa: E402
from lamina.distributions.gamma import Beta, Exponential, Gamma  # noqa: E402
from lamina.distributions.independent import Independent, _sum_rightmost  # noqa: E402
from lamina.distributions.laplace import Laplace  # noqa: E402
from lamina.distributions.multivariate_normal import (  # noqa: E402
    MultivariateNormal,
    _batch_mahalanobis,
)
from lamina.distributions.normal import Normal  # noqa: E402
from lamina.distributions.uniform import Uniform  # noqa: E402
from lamina.ops.special import digamma, lgamma  # noqa: E402


@register_kl(Normal, Normal)
def _kl_normal_normal(p, q):
    var_ratio = (p.scale / q.scale).square()
    t1 = ((p.loc - q.loc) / q.scale).square()
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p, q):
    # p log(p/q) + (1-p) log((1-p)/(1-q)) in logits: stable at p in {0, 1}
    t1 = p.probs * (softplus(-q.logits) - softplus(-p.logits))
    t2 = (1 - p.probs) * (softplus(q.logits) - softplus(p.logits))
    return t1 + t2


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p, q):
    t = p.probs * (p.logits - q.logits)
    t = lamina.where(q.probs == 0, t * 0 + math.inf, t)
    t = lamina.where(p.probs == 0, t * 0, t)
    return t.sum(-1)


@register_kl(OneHotCategorical, OneHotCategorical)
def _kl_onehot_onehot(p, q):
    return _kl_categorical_categorical(p._categorical, q._categorical)


@register_kl(Uniform, Uniform)
def _kl_uniform_uniform(p, q):
    result = ((q.high - q.low) / (p.high - p.low)).log()
    outside = (q.low > p.low) | (q.high < p.high)
    return lamina.where(outside, result * 0 + math.inf, result)


@register_kl(Exponential, Exponential)
def _kl_exponential_exponential(p, q):
    rate_ratio = q.rate / p.rate
    return rate_ratio - 1 - rate_ratio.log()


@register_kl(Gamma, Gamma)
def _kl_gamma_gamma(p, q):
    a1, b1, a2, b2 = p.concentration, p.rate, q.concentration, q.rate
    t1 = a2 * (b1 / b2).log()
    t2 = lgamma(a2) - lgamma(a1)
    t3 = (a1 - a2) * digamma(a1)
    t4 = (b2 - b1) * (a1 / b1)
    return t1 + t2 + t3 + t4


@register_kl(Beta, Beta)
def _kl_beta_beta(p, q):
    a1, b1, a2, b2 = p.concentration1, p.concentration0, q.concentration1, q.concentration0
    s1 = a1 + b1
    t1 = lgamma(a2) + lgamma(b2) + lgamma(s1)
    t2 = lgamma(a1) + lgamma(b1) + lgamma(a2 + b2)
    t3 = (a1 - a2) * digamma(a1)
    t4 = (b1 - b2) * digamma(b1)
    t5 = (a2 + b2 - s1) * digamma(s1)
    return t1 - t2 + t3 + t4 + t5


@register_kl(Laplace, Laplace)
def _kl_laplace_laplace(p, q):
    scale_ratio = p.scale / q.scale
    loc_abs_diff = (p.loc - q.loc).abs()
    t1 = -scale_ratio.log()
    t2 = loc_abs_diff / q.scale
    t3 = scale_ratio * (-loc_abs_diff / p.scale).exp()
    return t1 + t2 + t3 - 1


@register_kl(MultivariateNormal, MultivariateNormal)
def _kl_mvn_mvn(p, q):
    if p.event_shape != q.event_shape:
        raise LaminaValueError("kl_divergence: MultivariateNormals of different event shapes "
                               f"{p.event_shape} and {q.event_shape}")
    from lamina.distributions._special import solve_triangular
    n = p.event_shape[0]
    lp, lq = p._unbroadcasted_scale_tril, q._unbroadcasted_scale_tril
    batch = np.broadcast_shapes(tuple(lp.shape[:-2]), tuple(lq.shape[:-2]))
    lpb = lamina.broadcast_to(lp, batch + (n, n))
    lqb = lamina.broadcast_to(lq, batch + (n, n))
    trace = solve_triangular(lqb, lpb).square().sum((-2, -1))   # tr(Sq^-1 Sp)
    maha = _batch_mahalanobis(lq, q.loc - p.loc)
    return q._half_log_det() - p._half_log_det() + 0.5 * (trace + maha - n)


@register_kl(Independent, Independent)
def _kl_independent_independent(p, q):
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError("kl_divergence: Independents with different "
                                  "reinterpreted_batch_ndims")
    return _sum_rightmost(kl_divergence(p.base_dist, q.base_dist),
                          p.reinterpreted_batch_ndims)
