"""The variational autoencoder (Kingma and Welling, "Auto-encoding variational Bayes", ICLR
2014; Rezende, Mohamed and Wierstra, 2014).

A latent-variable model ``p(z) = N(0, I)``, ``p(x | z)`` a decoder network, fitted by
maximizing the evidence lower bound (ELBO) with an encoder network
``q(z | x) = N(mu(x), diag sigma(x)^2)``::

    log p(x) >= ELBO(x) = E_q[log p(x | z)] - KL(q(z | x) || p(z))

The expectation is estimated with ``z = mu + sigma * eps``, ``eps ~ N(0, I)`` (the
reparametrization trick: the sample is a differentiable function of ``mu`` and ``sigma``),
and the KL term is exact for two Gaussians (Kingma and Welling, appendix B)::

    KL(N(mu, sigma^2) || N(0, 1)) = 1/2 * (mu^2 + sigma^2 - 1 - log sigma^2),

summed over the latent dimensions. (``lamina.distributions`` will hold these formulas in
general; the VAE writes out the two it needs.)

>>> vae = VAE((1, 8, 8), latent_dim=2)
>>> vae.fit(x, epochs=30, lr=1e-3, seed=0)                 # x: (N, 1, 8, 8) in [0, 1]
>>> vae.sample(16).shape, vae.interpolate(x[0], x[1], steps=8).shape
((16, 1, 8, 8), (8, 1, 8, 8))
"""

from __future__ import annotations

import math

import numpy as np

import lamina
from lamina import nn
from lamina.autograd import no_grad
from lamina.errors import LaminaValueError
from lamina.models._checks import check_choice, check_float, check_int
from lamina.models.autoencoder import (
    _activation,
    _conv_shape,
    _hidden,
    _in_shape,
    as_input,
    conv_decoder,
    conv_encoder,
    fit_module,
    mlp_decoder,
    mlp_encoder,
)
from lamina.nn import functional as F
from lamina.tensor import Tensor

__all__ = ["VAE", "reparametrize", "gaussian_kl", "gaussian_log_prob", "bernoulli_log_prob"]

_LOG_2PI = math.log(2 * math.pi)


def reparametrize(mu: Tensor, logvar: Tensor, eps: Tensor | None = None) -> Tensor:
    """A sample of ``N(mu, exp(logvar))`` as ``z = mu + exp(logvar / 2) * eps``,
    ``eps ~ N(0, I)`` (drawn from lamina's random state unless given): differentiable in
    ``mu`` and ``logvar`` (Kingma and Welling, 2014, section 2.4)."""
    if eps is None:
        eps = lamina.randn_like(mu, dtype=mu.dtype)
    return mu + (logvar * 0.5).exp() * eps


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """``KL(N(mu, diag exp(logvar)) || N(0, I))`` per row, summed over the last dim::

        KL = 1/2 * sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j)

    (Kingma and Welling, 2014, appendix B; the negative of their ``-D_KL`` term)."""
    return ((mu * mu + logvar.exp() - 1.0 - logvar) * 0.5).sum(dim=-1)


def bernoulli_log_prob(logits: Tensor, x: Tensor) -> Tensor:
    """``log p(x | z)`` per sample for independent Bernoulli pixels with ``p = sigmoid(l)``:
    ``sum_i x_i log p_i + (1 - x_i) log(1 - p_i) = -sum_i BCEWithLogits(l_i, x_i)`` (for x in
    [0, 1], as grey-level images are used)."""
    b = x.shape[0]
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").reshape(b, -1).sum(
        dim=1)


def gaussian_log_prob(mean: Tensor, x: Tensor, std: float) -> Tensor:
    """``log N(x; mean, std^2 I)`` per sample:
    ``-sum_i [(x_i - mean_i)^2 / (2 std^2) + log std + log(2 pi) / 2]``."""
    b = x.shape[0]
    d = math.prod(x.shape[1:])
    sq = ((x - mean) ** 2).reshape(b, -1).sum(dim=1)
    return sq * (-0.5 / std ** 2) - d * (math.log(std) + 0.5 * _LOG_2PI)


class VAE(nn.Module):
    """A variational autoencoder with a Gaussian encoder ``q(z | x) = N(mu, diag sigma^2)``
    and a Bernoulli (``decoder="bernoulli"``, pixel probabilities ``sigmoid(decoder(z))``)
    or Gaussian (``decoder="gaussian"``, mean ``decoder(z)``, fixed std ``decoder_std``)
    likelihood ``p(x | z)``.

    ``elbo(x)`` is the per-sample ELBO (log-likelihood term from one reparametrized sample,
    analytic KL), ``loss(x) = -mean ELBO`` (``beta`` weights the KL term, Higgins et al.
    2017; 1 is the true ELBO). ``sample(n)`` decodes ``z ~ N(0, I)``; ``interpolate(x0, x1,
    steps)`` decodes the straight line between the two inputs' posterior means.

    Args:
        in_shape: ``D`` or ``(C, H, W)``.
        latent_dim: the size of ``z``.
        hidden: MLP hidden widths (default ``(256,)``) or, for ``kind="conv"``, the two
            channel counts (default ``(16, 32)``).
        kind: ``"mlp"`` or ``"conv"``.
        decoder: ``"bernoulli"`` or ``"gaussian"``.
        decoder_std: the Gaussian decoder's fixed standard deviation.
        beta: the KL term's weight in ``loss``.
    """

    def __init__(self, in_shape, latent_dim: int = 2, hidden=None, kind: str = "mlp",
                 activation: str = "relu", decoder: str = "bernoulli",
                 decoder_std: float = 0.1, beta: float = 1.0):
        super().__init__()
        owner = "VAE"
        self.in_shape = _in_shape(owner, in_shape)
        self.latent_dim = check_int(owner, "latent_dim", latent_dim)
        self.kind = check_choice(owner, "kind", kind, ("mlp", "conv"))
        self.likelihood = check_choice(owner, "decoder", decoder, ("bernoulli", "gaussian"))
        self.decoder_std = check_float(owner, "decoder_std", decoder_std)
        self.beta = check_float(owner, "beta", beta, 0.0, strict=False)
        _activation(owner, activation)
        if kind == "conv":
            channels = _hidden(owner, (16, 32) if hidden is None else hidden)
            if len(channels) != 2:
                raise LaminaValueError(f"VAE: kind='conv' takes hidden=(c1, c2), two channel "
                                       f"counts,"
                                       f" got {hidden!r}")
            _conv_shape(owner, self.in_shape)
            self.encoder = conv_encoder(self.in_shape, channels, 2 * self.latent_dim,
                                        activation)
            self.decoder = conv_decoder(self.latent_dim, channels, self.in_shape, activation)
        else:
            hidden = _hidden(owner, (256,) if hidden is None else hidden)
            self.encoder = mlp_encoder(math.prod(self.in_shape), hidden, 2 * self.latent_dim,
                                       activation)
            self.decoder = mlp_decoder(self.latent_dim, hidden[::-1], self.in_shape,
                                       activation)

    def _x(self, owner: str, x) -> Tensor:
        return as_input(f"VAE.{owner}", x, self.in_shape, next(self.parameters()).dtype)

    def encode(self, x) -> tuple[Tensor, Tensor]:
        """The posterior's ``(mu, logvar)``, each (B, latent_dim)."""
        h = self.encoder(self._x("encode", x))
        return h[:, :self.latent_dim], h[:, self.latent_dim:]

    def decode(self, z: Tensor) -> Tensor:
        """The decoder's mean ``E[x | z]``: pixel probabilities (Bernoulli) or the Gaussian
        mean, shape (B, *in_shape)."""
        out = self._decoder_out(z)
        return F.sigmoid(out) if self.likelihood == "bernoulli" else out

    def _decoder_out(self, z) -> Tensor:
        if not isinstance(z, Tensor) or z.ndim != 2 or z.shape[1] != self.latent_dim:
            got = getattr(z, "shape", type(z).__name__)
            raise LaminaValueError(f"VAE.decode: z must be a Tensor of shape (batch, "
                                   f"{self.latent_dim}), got {got}")
        return self.decoder(z)

    def forward(self, input) -> Tensor:
        """The reconstruction ``decode(mu(x))`` (the posterior mean, no sampling)."""
        mu, _ = self.encode(input)
        return self.decode(mu)

    def log_likelihood(self, out: Tensor, x: Tensor) -> Tensor:
        """``log p(x | z)`` per sample from the decoder's raw output ``out`` (logits or
        mean)."""
        if self.likelihood == "bernoulli":
            return bernoulli_log_prob(out, x)
        return gaussian_log_prob(out, x, self.decoder_std)

    def elbo(self, x, eps: Tensor | None = None) -> Tensor:
        """The per-sample ELBO ``log p(x | z) - KL(q(z | x) || N(0, I))``, ``z =
        reparametrize(mu, logvar, eps)``; shape (B,). Pass ``eps`` (B, latent_dim) to fix the
        noise."""
        x = self._x("elbo", x)
        mu, logvar = self.encode(x)
        if eps is not None and tuple(eps.shape) != tuple(mu.shape):
            raise LaminaValueError(f"VAE.elbo: eps must have shape {tuple(mu.shape)}, got "
                                   f"{tuple(eps.shape)}")
        z = reparametrize(mu, logvar, eps)
        return self.log_likelihood(self._decoder_out(z), x) - gaussian_kl(mu, logvar)

    def loss(self, x, eps: Tensor | None = None) -> Tensor:
        """``-mean ELBO`` (with the KL term weighted by ``beta``)."""
        x = self._x("loss", x)
        mu, logvar = self.encode(x)
        z = reparametrize(mu, logvar, eps)
        rec = self.log_likelihood(self._decoder_out(z), x)
        return -(rec - gaussian_kl(mu, logvar) * self.beta).mean()

    def fit(self, x, epochs: int = 10, lr: float = 1e-3, batch_size: int = 64, seed=None,
            weight_decay: float = 0.0, on_epoch=None) -> list[float]:
        """Minimize ``loss`` (the negative ELBO) with Adam; the mean loss of each epoch.
        The reparametrization noise comes from lamina's random state
        (``lamina.manual_seed``); ``seed`` shuffles. Leaves the model in eval mode."""
        return fit_module(self, "VAE.fit", x, epochs, lr, batch_size, seed, weight_decay,
                          on_epoch)

    def _no_grad_eval(self, fn):
        was = self.training
        self.eval()
        try:
            with no_grad():
                return fn()
        finally:
            self.train(was)

    def sample(self, n: int, generator=None) -> Tensor:
        """``n`` decoder means ``E[x | z]`` for ``z ~ N(0, I)``; shape (n, *in_shape)."""
        n = check_int("VAE.sample", "n", n)
        dtype = next(self.parameters()).dtype
        z = lamina.randn(n, self.latent_dim, generator=generator, dtype=dtype)
        return self._no_grad_eval(lambda: self.decode(z))

    def interpolate(self, x0, x1, steps: int = 8) -> Tensor:
        """Decodes ``(1 - t) mu(x0) + t mu(x1)`` for ``steps`` values of ``t`` from 0 to 1;
        ``x0``, ``x1`` are single inputs (``in_shape``) or batches of one. Shape
        (steps, *in_shape)."""
        steps = check_int("VAE.interpolate", "steps", steps, low=2)

        def one(x, name):
            if isinstance(x, Tensor):
                x = x._data
            try:
                a = np.asarray(x, dtype=next(self.parameters()).dtype)
            except (TypeError, ValueError):
                raise LaminaValueError(f"VAE.interpolate: {name} must be numeric array-like, got "
                                       f"{type(x).__name__}") from None
            if a.shape in (self.in_shape, (math.prod(self.in_shape),)):
                a = a.reshape(1, *self.in_shape)
            if a.shape[0] != 1:
                raise LaminaValueError(f"VAE.interpolate: {name} must be one input of shape "
                                       f"{self.in_shape}, got {a.shape}")
            return self._x("interpolate", a)

        def run():
            m0, m1 = self.encode(one(x0, "x0"))[0], self.encode(one(x1, "x1"))[0]
            t = np.linspace(0.0, 1.0, steps, dtype=m0.dtype)[:, None]
            z = Tensor(((1 - t) * m0._data + t * m1._data).astype(m0.dtype))
            return self.decode(z)

        return self._no_grad_eval(run)

    def extra_repr(self) -> str:
        return (f"in_shape={self.in_shape}, latent_dim={self.latent_dim}, kind={self.kind!r}, "
                f"decoder={self.likelihood!r}")
