"""Probability distributions with PyTorch's ``torch.distributions`` interface.

>>> from lamina.distributions import Normal, kl_divergence
>>> p, q = Normal(0.0, 1.0), Normal(1.0, 2.0)
>>> kl_divergence(p, q)
tensor(0.4431)

Each distribution's ``log_prob``, ``entropy``, ``cdf``/``icdf`` and (where ``has_rsample``)
``rsample`` are lamina ops, differentiable with respect to its parameters. Draws use
lamina's seeded generator (``lamina.manual_seed``), or the ``generator=`` given.
"""

from lamina.distributions import constraints
from lamina.distributions.bernoulli import Bernoulli
from lamina.distributions.categorical import Categorical, OneHotCategorical
from lamina.distributions.distribution import Distribution
from lamina.distributions.gamma import Beta, Exponential, Gamma
from lamina.distributions.independent import Independent
from lamina.distributions.kl import kl_divergence, register_kl
from lamina.distributions.laplace import Laplace
from lamina.distributions.multivariate_normal import MultivariateNormal
from lamina.distributions.normal import Normal
from lamina.distributions.uniform import Uniform

__all__ = ["Distribution", "Normal", "Bernoulli", "Categorical", "OneHotCategorical", "Uniform",
           "Beta", "Gamma", "Exponential", "Laplace", "MultivariateNormal", "Independent",
           "kl_divergence", "register_kl", "constraints"]
