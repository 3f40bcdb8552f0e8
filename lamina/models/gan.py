"""Generative adversarial networks (Goodfellow et al., "Generative adversarial nets", NIPS
2014; DCGAN: Radford, Metz and Chintala, ICLR 2016).

A generator ``G(z)``, ``z ~ N(0, I)``, and a discriminator ``D(x)`` (a logit: the
probability that ``x`` is real is ``sigmoid(D(x))``) play the minimax game::

    min_G max_D  E_x[log sigmoid(D(x))] + E_z[log(1 - sigmoid(D(G(z))))]

``discriminator_loss`` is the negative of D's objective (binary cross-entropy with labels 1
for real and 0 for generated samples). For G, ``generator_loss`` is the non-saturating loss
``-E_z[log sigmoid(D(G(z)))]`` of Goodfellow et al., section 3: the same fixed point, but
strong gradients early on, when D rejects every sample and ``log(1 - D(G(z)))`` is flat.
All three are ``BCEWithLogits`` formulations (stable for large logits).

Builders: ``mlp_generator`` / ``mlp_discriminator`` and the small DCGAN pair
``dcgan_generator`` (linear, then stride-2 ``ConvTranspose2d`` with batch norm) /
``dcgan_discriminator`` (stride-2 convolutions with leaky ReLU); ``GAN`` holds one pair.
Train with ``lamina.train.gan.GANTrainer``.

>>> gan = GAN((1, 28, 28), latent_dim=64, kind="dcgan")
>>> gan.sample(16).shape
(16, 1, 28, 28)
"""

from __future__ import annotations

import math

import lamina
from lamina import nn
from lamina.autograd import no_grad
from lamina.errors import LaminaValueError
from lamina.models._checks import check_choice, check_float, check_int
from lamina.models.autoencoder import _conv_shape, _hidden, _in_shape
from lamina.nn import functional as F
from lamina.tensor import Tensor

__all__ = ["GAN", "mlp_generator", "mlp_discriminator", "dcgan_generator",
           "dcgan_discriminator", "discriminator_loss", "generator_loss"]


def _output(owner: str, output: str) -> nn.Module:
    check_choice(owner, "output", output, ("sigmoid", "tanh"))
    return nn.Sigmoid() if output == "sigmoid" else nn.Tanh()


def mlp_generator(latent_dim: int, out_shape, hidden=(128, 256),
                  output: str = "sigmoid") -> nn.Sequential:
    """``z -> [Linear, ReLU] * len(hidden) -> Linear -> sigmoid (or tanh) -> out_shape``.
    ``sigmoid`` gives pixels in [0, 1]; ``tanh`` in [-1, 1] (DCGAN's choice, with data
    rescaled to match)."""
    owner = "mlp_generator"
    latent_dim = check_int(owner, "latent_dim", latent_dim)
    out_shape = _in_shape(owner, out_shape)
    layers, width = [], latent_dim
    for h in _hidden(owner, hidden):
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers += [nn.Linear(width, math.prod(out_shape)), _output(owner, output)]
    if len(out_shape) > 1:
        layers.append(nn.Unflatten(1, out_shape))
    return nn.Sequential(*layers)


def mlp_discriminator(in_shape, hidden=(256, 128), negative_slope: float = 0.2):
    """``x -> Flatten -> [Linear, LeakyReLU(0.2)] * len(hidden) -> Linear(-> 1)``: one logit
    per sample."""
    owner = "mlp_discriminator"
    in_shape = _in_shape(owner, in_shape)
    slope = check_float(owner, "negative_slope", negative_slope, 0.0, strict=False)
    layers, width = [nn.Flatten()], math.prod(in_shape)
    for h in _hidden(owner, hidden):
        layers += [nn.Linear(width, h), nn.LeakyReLU(slope)]
        width = h
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def dcgan_generator(latent_dim: int, out_shape, channels=(64, 32),
                    output: str = "sigmoid") -> nn.Sequential:
    """A small DCGAN generator for ``(C, H, W)`` images, H and W divisible by 4::

        z -> Linear(-> c1 * H/4 * W/4) -> BatchNorm1d -> ReLU -> (c1, H/4, W/4)
          -> ConvTranspose2d(c1, c2, 4, stride 2, padding 1) -> BatchNorm2d -> ReLU
          -> ConvTranspose2d(c2, C, 4, stride 2, padding 1) -> sigmoid (or tanh)
    """
    owner = "dcgan_generator"
    latent_dim = check_int(owner, "latent_dim", latent_dim)
    c, h, w = _conv_shape(owner, _in_shape(owner, out_shape))
    c1, c2 = _two(owner, channels)
    n = c1 * (h // 4) * (w // 4)
    return nn.Sequential(nn.Linear(latent_dim, n), nn.BatchNorm1d(n), nn.ReLU(),
                         nn.Unflatten(1, (c1, h // 4, w // 4)),
                         nn.ConvTranspose2d(c1, c2, 4, stride=2, padding=1),
                         nn.BatchNorm2d(c2), nn.ReLU(),
                         nn.ConvTranspose2d(c2, c, 4, stride=2, padding=1),
                         _output(owner, output))


def dcgan_discriminator(in_shape, channels=(32, 64),
                        negative_slope: float = 0.2) -> nn.Sequential:
    """The matching discriminator: two stride-2 4x4 convolutions with leaky ReLU (no batch
    norm on the input layer, as in DCGAN), then a linear layer to one logit."""
    owner = "dcgan_discriminator"
    c, h, w = _conv_shape(owner, _in_shape(owner, in_shape))
    c1, c2 = _two(owner, channels)
    slope = check_float(owner, "negative_slope", negative_slope, 0.0, strict=False)
    return nn.Sequential(nn.Conv2d(c, c1, 4, stride=2, padding=1), nn.LeakyReLU(slope),
                         nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.BatchNorm2d(c2),
                         nn.LeakyReLU(slope), nn.Flatten(),
                         nn.Linear(c2 * (h // 4) * (w // 4), 1))


def _two(owner: str, channels) -> tuple[int, int]:
    channels = _hidden(owner, channels)
    if len(channels) != 2:
        raise LaminaValueError(f"{owner}: channels must be two positive ints, got {channels!r}")
    return channels


def _logits(owner: str, name: str, t) -> Tensor:
    if not isinstance(t, Tensor) or t.ndim == 0:
        raise LaminaValueError(f"{owner}: {name} must be a Tensor of discriminator logits (batch, "
                               f"1) "
                               f"or (batch,), got {getattr(t, 'shape', type(t).__name__)}")
    return t


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor,
                       real_label: float = 1.0) -> Tensor:
    """``BCE(D(x), real_label) + BCE(D(G(z)), 0)``, each averaged over its batch::

        -mean log sigmoid(D(x))  -  mean log(1 - sigmoid(D(G(z))))     (real_label = 1)

    ``real_label < 1`` is one-sided label smoothing (Salimans et al., "Improved techniques
    for training GANs", 2016): real targets of e.g. 0.9 keep D from growing over-confident.
    """
    owner = "discriminator_loss"
    real_logits = _logits(owner, "real_logits", real_logits)
    fake_logits = _logits(owner, "fake_logits", fake_logits)
    real_label = check_float(owner, "real_label", real_label, 0.0)
    if real_label > 1.0:
        raise LaminaValueError(f"{owner}: real_label must be in (0, 1], got {real_label!r}")
    real = F.binary_cross_entropy_with_logits(
        real_logits, lamina.full(real_logits.shape, real_label, dtype=real_logits.dtype))
    fake = F.binary_cross_entropy_with_logits(
        fake_logits, lamina.zeros(*fake_logits.shape, dtype=fake_logits.dtype))
    return real + fake


def generator_loss(fake_logits: Tensor, non_saturating: bool = True) -> Tensor:
    """The generator's loss on ``D(G(z))``.

    * ``non_saturating=True``: ``BCE(D(G(z)), 1) = -mean log sigmoid(D(G(z)))``;
    * ``False``: the minimax loss ``mean log(1 - sigmoid(D(G(z)))) = -BCE(D(G(z)), 0)``,
      whose gradient vanishes when D confidently rejects the samples.
    """
    fake_logits = _logits("generator_loss", "fake_logits", fake_logits)
    if non_saturating:
        return F.binary_cross_entropy_with_logits(
            fake_logits, lamina.ones(*fake_logits.shape, dtype=fake_logits.dtype))
    return -F.binary_cross_entropy_with_logits(
        fake_logits, lamina.zeros(*fake_logits.shape, dtype=fake_logits.dtype))


class GAN(nn.Module):
    """A generator and a discriminator for images (or vectors) of shape ``in_shape``.

    Args:
        in_shape: the data's shape without the batch dim (``D`` or ``(C, H, W)``).
        latent_dim: the size of ``z``.
        kind: ``"mlp"`` (``mlp_generator`` / ``mlp_discriminator``) or ``"dcgan"``
            (``dcgan_generator`` / ``dcgan_discriminator``; H and W divisible by 4).
        output: the generator's last activation, ``"sigmoid"`` (data in [0, 1]) or
            ``"tanh"`` (data in [-1, 1]).
        generator, discriminator: modules of your own instead of the built ones.

    ``forward(z)`` is ``generator(z)``; ``sample(n)`` draws ``z ~ N(0, I)`` and returns
    ``G(z)`` in eval mode without gradients.
    """

    def __init__(self, in_shape, latent_dim: int = 32, kind: str = "mlp",
                 output: str = "sigmoid", generator: nn.Module | None = None,
                 discriminator: nn.Module | None = None):
        super().__init__()
        owner = "GAN"
        self.in_shape = _in_shape(owner, in_shape)
        self.latent_dim = check_int(owner, "latent_dim", latent_dim)
        self.kind = check_choice(owner, "kind", kind, ("mlp", "dcgan"))
        _output(owner, output)
        for name, m in (("generator", generator), ("discriminator", discriminator)):
            if m is not None and not isinstance(m, nn.Module):
                raise LaminaValueError(f"GAN: {name} must be an nn.Module, got {type(m).__name__}")
        if kind == "dcgan":
            _conv_shape(owner, self.in_shape)
            self.generator = generator or dcgan_generator(self.latent_dim, self.in_shape,
                                                          output=output)
            self.discriminator = discriminator or dcgan_discriminator(self.in_shape)
        else:
            self.generator = generator or mlp_generator(self.latent_dim, self.in_shape,
                                                        output=output)
            self.discriminator = discriminator or mlp_discriminator(self.in_shape)

    def forward(self, z: Tensor) -> Tensor:
        """``G(z)``, shape (B, *in_shape)."""
        if not isinstance(z, Tensor) or z.ndim != 2 or z.shape[1] != self.latent_dim:
            got = getattr(z, "shape", type(z).__name__)
            raise LaminaValueError(f"GAN.forward: z must be a Tensor of shape (batch, "
                                   f"{self.latent_dim}), got {got}")
        return self.generator(z)

    def noise(self, n: int, generator=None) -> Tensor:
        """``n`` draws of ``z ~ N(0, I)``, in the generator's dtype."""
        n = check_int("GAN.noise", "n", n)
        dtype = next(self.generator.parameters()).dtype
        return lamina.randn(n, self.latent_dim, generator=generator, dtype=dtype)

    def sample(self, n: int, generator=None) -> Tensor:
        """``n`` generated samples (eval mode, no gradients), shape (n, *in_shape)."""
        z = self.noise(check_int("GAN.sample", "n", n), generator)
        was = self.generator.training
        self.generator.eval()
        try:
            with no_grad():
                return self(z)
        finally:
            self.generator.train(was)

    def extra_repr(self) -> str:
        return f"in_shape={self.in_shape}, latent_dim={self.latent_dim}, kind={self.kind!r}"
