"""Autoencoders: the plain one (MLP or convolutional), the denoising one (Vincent et al.,
"Extracting and composing robust features with denoising autoencoders", ICML 2008) and the
sparse one (Ng, "Sparse autoencoder", CS294A lecture notes, 2011).

An autoencoder is ``decode(encode(x))`` trained to reproduce ``x`` through a code ``z``
(narrower than ``x``, or held sparse). ``loss(x)`` is the objective each variant minimizes
(reconstruction plus its own term) and ``fit(x, ...)`` minimizes it with Adam on mini-batches.
Inputs are images or vectors with values in [0, 1]: ``(B, *in_shape)``, or ``(B, D)`` for the
MLP variant (it flattens images itself and gives reconstructions the input's shape).

>>> ae = Autoencoder((1, 8, 8), latent_dim=16)                     # MLP 64-128-16-128-64
>>> losses = ae.fit(x, epochs=20, lr=1e-3, seed=0)                 # x: (N, 1, 8, 8) in [0, 1]
>>> ae.encode(lamina.tensor(x[:5])).shape
(5, 16)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

import lamina
from lamina import nn, optim
from lamina.autograd import no_grad
from lamina.errors import LaminaValueError
from lamina.models._checks import check_choice, check_float, check_int, make_rng
from lamina.nn import functional as F
from lamina.tensor import Tensor

__all__ = ["GaussianNoise", "MaskingNoise", "Autoencoder", "DenoisingAutoencoder",
           "SparseAutoencoder", "kl_sparsity"]

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
                "leaky_relu": nn.LeakyReLU, "elu": nn.ELU}


# --- input corruption, as layers active only in training ---------------------------------

class GaussianNoise(nn.Module):
    """``x + std * eps``, ``eps ~ N(0, I)``, in training mode; the identity in eval mode (as
    ``nn.Dropout``). Draws from lamina's random state (``lamina.manual_seed``).

    >>> noise = GaussianNoise(0.3)
    >>> noise.eval()(x) is x
    True
    """

    def __init__(self, std: float = 0.1):
        super().__init__()
        self.std = check_float("GaussianNoise", "std", std, 0.0, strict=False)

    def forward(self, input: Tensor) -> Tensor:
        if not self.training or self.std == 0.0:
            return input
        return input + lamina.randn_like(input, dtype=input.dtype) * self.std

    def extra_repr(self) -> str:
        return f"std={self.std}"


class MaskingNoise(nn.Module):
    """Masking corruption (Vincent et al., 2008): in training mode each input element is set
    to 0 with probability ``p`` (no rescaling, unlike dropout: the network must fill the
    holes in); the identity in eval mode."""

    def __init__(self, p: float = 0.25):
        super().__init__()
        p = check_float("MaskingNoise", "p", p, 0.0, strict=False)
        if p >= 1.0:
            raise LaminaValueError(f"MaskingNoise: p must be in [0, 1), got {p!r}")
        self.p = p

    def forward(self, input: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return input
        keep = (lamina.rand_like(input, dtype=input.dtype)._data >= self.p)
        return input * Tensor(keep.astype(input.dtype))

    def extra_repr(self) -> str:
        return f"p={self.p}"


# --- builders ----------------------------------------------------------------------------

def _in_shape(owner: str, in_shape) -> tuple[int, ...]:
    if isinstance(in_shape, (int, np.integer)) and not isinstance(in_shape, bool):
        in_shape = (in_shape,)
    if (not isinstance(in_shape, Sequence) or not 1 <= len(in_shape) <= 3
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1
                       for s in in_shape)):
        raise LaminaValueError(f"{owner}: in_shape must be a positive int or a tuple of 1 to 3 "
                               f"positive ints (features, or channels, height, width), got "
                               f"{in_shape!r}")
    return tuple(int(s) for s in in_shape)


def _hidden(owner: str, hidden) -> tuple[int, ...]:
    if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
        hidden = (hidden,)
    if (not isinstance(hidden, Sequence)
            or not all(isinstance(h, (int, np.integer)) and not isinstance(h, bool) and h >= 1
                       for h in hidden)):
        raise LaminaValueError(f"{owner}: hidden must be a sequence of positive ints, got "
                               f"{hidden!r}")
    return tuple(int(h) for h in hidden)


def _activation(owner: str, name: str) -> type:
    check_choice(owner, "activation", name, tuple(_ACTIVATIONS))
    return _ACTIVATIONS[name]


def mlp_encoder(in_features: int, hidden: Sequence[int], out_features: int,
                activation: str = "relu") -> nn.Sequential:
    """``Flatten, [Linear, act] * len(hidden), Linear(-> out_features)``."""
    act = _activation("mlp_encoder", activation)
    layers, width = [nn.Flatten()], in_features
    for h in hidden:
        layers += [nn.Linear(width, h), act()]
        width = h
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


def mlp_decoder(in_features: int, hidden: Sequence[int], out_shape: tuple[int, ...],
                activation: str = "relu") -> nn.Sequential:
    """``[Linear, act] * len(hidden), Linear(-> prod(out_shape)), Unflatten``; returns
    pre-activations (logits for [0, 1] data)."""
    act = _activation("mlp_decoder", activation)
    layers, width = [], in_features
    for h in hidden:
        layers += [nn.Linear(width, h), act()]
        width = h
    layers.append(nn.Linear(width, math.prod(out_shape)))
    if len(out_shape) > 1:
        layers.append(nn.Unflatten(1, out_shape))
    return nn.Sequential(*layers)


def _conv_shape(owner: str, in_shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(in_shape) != 3 or in_shape[1] % 4 or in_shape[2] % 4:
        raise LaminaValueError(f"{owner}: the convolutional variant needs in_shape (channels, "
                               f"height, width) with height and width divisible by 4, got "
                               f"{in_shape}")
    return in_shape


def conv_encoder(in_shape: tuple[int, int, int], channels: tuple[int, int],
                 out_features: int, activation: str = "relu") -> nn.Sequential:
    """Two stride-2 3x3 convolutions (H x W -> H/4 x W/4), then a linear layer."""
    act = _activation("conv_encoder", activation)
    c, h, w = _conv_shape("conv_encoder", in_shape)
    c1, c2 = channels
    return nn.Sequential(nn.Conv2d(c, c1, 3, stride=2, padding=1), act(),
                         nn.Conv2d(c1, c2, 3, stride=2, padding=1), act(),
                         nn.Flatten(), nn.Linear(c2 * (h // 4) * (w // 4), out_features))


def conv_decoder(in_features: int, channels: tuple[int, int],
                 out_shape: tuple[int, int, int], activation: str = "relu") -> nn.Sequential:
    """The mirror of ``conv_encoder``: a linear layer, then two stride-2 4x4 transposed
    convolutions (H/4 -> H); returns pre-activations."""
    act = _activation("conv_decoder", activation)
    c, h, w = _conv_shape("conv_decoder", out_shape)
    c1, c2 = channels
    return nn.Sequential(nn.Linear(in_features, c2 * (h // 4) * (w // 4)), act(),
                         nn.Unflatten(1, (c2, h // 4, w // 4)),
                         nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), act(),
                         nn.ConvTranspose2d(c1, c, 4, stride=2, padding=1))


def as_input(owner: str, x, in_shape: tuple[int, ...], dtype=None) -> Tensor:
    """``x`` (Tensor or array) as a Tensor of shape ``(B, *in_shape)``; ``(B, D)`` with ``D =
    prod(in_shape)`` is reshaped. Anything else raises naming ``owner``."""
    if not isinstance(x, Tensor):
        try:
            x = Tensor(np.asarray(x, dtype=np.float32 if dtype is None else dtype))
        except (TypeError, ValueError):
            raise LaminaValueError(f"{owner}: x must be a Tensor or numeric array, got "
                                   f"{type(x).__name__}") from None
    shape = tuple(x.shape)
    if x.ndim >= 1 and shape[1:] == in_shape and shape[0] >= 1:
        return x
    if x.ndim == 2 and shape[0] >= 1 and shape[1] == math.prod(in_shape):
        return x.reshape(shape[0], *in_shape)
    raise LaminaValueError(f"{owner}: x must have shape (batch, {', '.join(map(str, in_shape))})"
                           f"{f' or (batch, {math.prod(in_shape)})' if len(in_shape) > 1 else ''}, "
                           f"got {shape}")


def fit_module(module: nn.Module, owner: str, x, epochs: int, lr: float, batch_size: int,
               seed, weight_decay: float = 0.0, on_epoch=None) -> list[float]:
    """Adam on ``module.loss(batch)`` over shuffled mini-batches of ``x``; the mean loss of
    each epoch. Shared by the autoencoders and the VAE."""
    x = as_input(owner, x, module.in_shape, dtype=np.float32)._data
    epochs = check_int(owner, "epochs", epochs)
    lr = check_float(owner, "lr", lr)
    batch_size = check_int(owner, "batch_size", batch_size)
    weight_decay = check_float(owner, "weight_decay", weight_decay, 0.0, strict=False)
    rng = make_rng(owner, seed)
    dtype = next(module.parameters()).dtype
    opt = optim.Adam(module.parameters(), lr=lr, weight_decay=weight_decay)
    module.train()
    losses = []
    for epoch in range(epochs):
        total = 0.0
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            batch = Tensor(np.ascontiguousarray(x[order[start:start + batch_size]], dtype))
            opt.zero_grad()
            loss = module.loss(batch)
            loss.backward()
            opt.step()
            total += float(loss._data) * len(batch)
        losses.append(total / len(x))
        if on_epoch is not None:
            on_epoch(epoch + 1, module)
    module.eval()
    return losses


# --- the models --------------------------------------------------------------------------

class Autoencoder(nn.Module):
    """``x_hat = sigmoid(decoder(encoder(x)))``, trained on the squared reconstruction error
    ``loss(x) = mean over the batch of sum_i (x_hat_i - x_i)^2`` (``reconstruction="mse"``)
    or the binary cross-entropy ``-sum_i x_i log x_hat_i + (1 - x_i) log(1 - x_hat_i)``
    (``"bce"``, computed from the logits).

    Args:
        in_shape: the input's shape without the batch dim: ``D`` or ``(C, H, W)``.
        latent_dim: the code size.
        hidden: the MLP's hidden widths (encoder; the decoder mirrors them; default
            ``(128,)``).
        kind: ``"mlp"`` or ``"conv"`` (two stride-2 convolutions each way; H, W divisible
            by 4; ``hidden`` then gives the two channel counts, default ``(16, 32)``).
        activation: hidden activation (relu, tanh, sigmoid, leaky_relu, elu).
        code_activation: applied to the code (``None``: linear code; ``"sigmoid"``: codes in
            (0, 1), as the sparse autoencoder's KL penalty needs).
        reconstruction: ``"mse"`` or ``"bce"``.
    """

    def __init__(self, in_shape, latent_dim: int = 16, hidden=None, kind: str = "mlp",
                 activation: str = "relu", code_activation: str | None = None,
                 reconstruction: str = "mse"):
        super().__init__()
        owner = type(self).__name__
        self.in_shape = _in_shape(owner, in_shape)
        self.latent_dim = check_int(owner, "latent_dim", latent_dim)
        self.kind = check_choice(owner, "kind", kind, ("mlp", "conv"))
        self.reconstruction = check_choice(owner, "reconstruction", reconstruction,
                                           ("mse", "bce"))
        _activation(owner, activation)
        if code_activation is not None:
            _activation(owner, code_activation)
        self.code_activation = code_activation
        self.encoder, self.decoder = self._build(owner, hidden, self.latent_dim, activation)
        self.code_act = (_ACTIVATIONS[code_activation]() if code_activation is not None
                         else nn.Identity())

    def _build(self, owner, hidden, code_features, activation):
        if self.kind == "conv":
            channels = _hidden(owner, (16, 32) if hidden is None else hidden)
            if len(channels) != 2:
                raise LaminaValueError(f"{owner}: kind='conv' takes hidden=(c1, c2), two channel "
                                       f"counts, got {hidden!r}")
            _conv_shape(owner, self.in_shape)
            return (conv_encoder(self.in_shape, channels, code_features, activation),
                    conv_decoder(self.latent_dim, channels, self.in_shape, activation))
        hidden = _hidden(owner, (128,) if hidden is None else hidden)
        d = math.prod(self.in_shape)
        return (mlp_encoder(d, hidden, code_features, activation),
                mlp_decoder(self.latent_dim, hidden[::-1], self.in_shape, activation))

    def _x(self, owner: str, x) -> Tensor:
        return as_input(f"{type(self).__name__}.{owner}", x, self.in_shape,
                        next(self.parameters()).dtype)

    def encode(self, x) -> Tensor:
        """The code ``z = code_act(encoder(x))``, shape (B, latent_dim)."""
        return self.code_act(self.encoder(self._x("encode", x)))

    def decode_logits(self, z: Tensor) -> Tensor:
        if not isinstance(z, Tensor) or z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise LaminaValueError(f"{type(self).__name__}.decode: z must be a Tensor of shape "
                                   f"(batch, {self.latent_dim}), got "
                                   f"{getattr(z, 'shape', type(z).__name__)}")
        return self.decoder(z)

    def decode(self, z: Tensor) -> Tensor:
        """The reconstruction ``sigmoid(decoder(z))``, shape (B, *in_shape)."""
        return F.sigmoid(self.decode_logits(z))

    def forward(self, input) -> Tensor:
        """``decode(encode(x))``."""
        return self.decode(self.encode(input))

    def reconstruction_loss(self, logits: Tensor, x: Tensor) -> Tensor:
        """Summed over each sample's elements, averaged over the batch."""
        b = x.shape[0]
        if self.reconstruction == "bce":
            return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / b
        return F.mse_loss(F.sigmoid(logits), x, reduction="sum") / b

    def loss(self, x) -> Tensor:
        """The training objective on the batch ``x`` (a scalar Tensor)."""
        x = self._x("loss", x)
        return self.reconstruction_loss(self.decode_logits(self.encode(x)), x)

    def reconstruction_error(self, x) -> float:
        """The mean squared error per element between ``x`` and its reconstruction (eval
        mode, no gradients)."""
        x = self._x("reconstruction_error", x)
        was = self.training
        self.eval()
        try:
            with no_grad():
                return float(((self(x) - x) ** 2).mean()._data)
        finally:
            self.train(was)

    def fit(self, x, epochs: int = 10, lr: float = 1e-3, batch_size: int = 64, seed=None,
            weight_decay: float = 0.0, on_epoch=None) -> list[float]:
        """Minimize ``loss`` on the rows of ``x`` (N, *in_shape) with Adam; returns the mean
        loss of each epoch. ``on_epoch(epoch, model)`` is called after each. Leaves the
        model in eval mode."""
        return fit_module(self, f"{type(self).__name__}.fit", x, epochs, lr, batch_size,
                          seed, weight_decay, on_epoch)

    def extra_repr(self) -> str:
        return f"in_shape={self.in_shape}, latent_dim={self.latent_dim}, kind={self.kind!r}"


class DenoisingAutoencoder(Autoencoder):
    """An autoencoder that reconstructs the clean ``x`` from a corrupted ``x~``:
    ``loss(x) = L(decode(encode(corrupt(x))), x)`` (Vincent et al., 2008). The corruption is
    the module ``self.noise`` (``GaussianNoise`` or ``MaskingNoise``), active only in
    training mode, so ``model.eval()(x_noisy)`` denoises.

    Args:
        noise: ``"gaussian"`` (additive, ``noise_level`` the std), ``"masking"`` (each
            input zeroed with probability ``noise_level``), or a Module.
        noise_level: the std or the masking probability.
        the rest: as ``Autoencoder``.
    """

    def __init__(self, in_shape, latent_dim: int = 16, hidden=None, kind: str = "mlp",
                 activation: str = "relu", code_activation: str | None = None,
                 reconstruction: str = "mse", noise="gaussian", noise_level: float = 0.3):
        super().__init__(in_shape, latent_dim, hidden, kind, activation, code_activation,
                         reconstruction)
        if isinstance(noise, nn.Module):
            self.noise = noise
        else:
            check_choice("DenoisingAutoencoder", "noise", noise, ("gaussian", "masking"))
            self.noise = (GaussianNoise(noise_level) if noise == "gaussian"
                          else MaskingNoise(noise_level))

    def encode(self, x) -> Tensor:
        """The code of ``corrupt(x)`` in training mode, of ``x`` in eval mode."""
        return self.code_act(self.encoder(self.noise(self._x("encode", x))))

    def denoise(self, x_noisy) -> Tensor:
        """The reconstruction of ``x_noisy`` in eval mode (no corruption, no gradients)."""
        was = self.training
        self.eval()
        try:
            with no_grad():
                return self(x_noisy)
        finally:
            self.train(was)


def kl_sparsity(rho: float, rho_hat: Tensor) -> Tensor:
    """Ng's sparsity penalty ``sum_j KL(rho || rho_hat_j)`` between Bernoulli variables::

        KL(rho || rho_hat) = rho log(rho / rho_hat) + (1 - rho) log((1 - rho) / (1 - rho_hat))

    ``rho_hat`` (latent_dim,) is each code unit's mean activation over the batch, in (0, 1)."""
    return (rho * (math.log(rho) - rho_hat.log())
            + (1 - rho) * (math.log(1 - rho) - (1 - rho_hat).log())).sum()


class SparseAutoencoder(Autoencoder):
    """An autoencoder whose codes are held sparse by a penalty on their activity:

    * ``penalty="kl"`` (Ng, "Sparse autoencoder", CS294A lecture notes, 2011): sigmoid code
      units, ``beta * sum_j KL(rho || rho_hat_j)`` with ``rho_hat_j`` unit j's mean
      activation over the batch and ``rho`` the target (e.g. 0.05): each unit fires rarely;
    * ``penalty="l1"``: ``beta * mean over the batch of sum_j |z_j|`` (ReLU code units by
      default), driving most code values to exactly 0.

    The code may be wider than the input (overcomplete): the penalty, not the width, keeps
    it from copying. ``sparsity(x)`` reports the fraction of code values under 0.05.
    """

    def __init__(self, in_shape, latent_dim: int = 64, hidden=None, kind: str = "mlp",
                 activation: str = "relu", code_activation: str | None = None,
                 reconstruction: str = "mse", penalty: str = "kl", beta: float = 0.1,
                 rho: float = 0.05):
        owner = "SparseAutoencoder"
        check_choice(owner, "penalty", penalty, ("kl", "l1"))
        if code_activation is None:
            code_activation = "sigmoid" if penalty == "kl" else "relu"
        if penalty == "kl" and code_activation != "sigmoid":
            raise LaminaValueError(f"{owner}: penalty='kl' needs code_activation='sigmoid' (codes "
                                   f"in (0, 1)), got {code_activation!r}")
        super().__init__(in_shape, latent_dim, hidden, kind, activation, code_activation,
                         reconstruction)
        self.penalty = penalty
        self.beta = check_float(owner, "beta", beta, 0.0, strict=False)
        self.rho = check_float(owner, "rho", rho, 0.0)
        if self.rho >= 1.0:
            raise LaminaValueError(f"{owner}: rho must be in (0, 1), got {rho!r}")

    def sparsity_penalty(self, z: Tensor) -> Tensor:
        """``beta * sum_j KL(rho || mean_b z_bj)`` or ``beta * mean_b sum_j |z_bj|``."""
        if self.penalty == "kl":
            eps = 1e-7                                  # keeps log finite for saturated units
            rho_hat = z.mean(dim=0).clamp(eps, 1 - eps)
            return kl_sparsity(self.rho, rho_hat) * self.beta
        return z.abs().sum() * (self.beta / z.shape[0])

    def loss(self, x) -> Tensor:
        """Reconstruction error plus the sparsity penalty."""
        x = self._x("loss", x)
        z = self.encode(x)
        return self.reconstruction_loss(self.decode_logits(z), x) + self.sparsity_penalty(z)

    def sparsity(self, x, threshold: float = 0.05) -> float:
        """The fraction of code values of ``x`` with ``|z| < threshold``."""
        with no_grad():
            return float((np.abs(self.encode(x)._data) < threshold).mean())
