"""Adversarial training: ``GANTrainer`` alternates discriminator and generator steps, each
with its own optimizer, and records both losses and sample grids per epoch; ``sample_quality``
measures generated digits with a classifier trained separately on the real data.

>>> from lamina.models import GAN
>>> from lamina.train.gan import GANTrainer, sample_quality
>>> gan = GAN((1, 8, 8), latent_dim=16)
>>> trainer = GANTrainer(gan, label_smoothing=0.1, n_critic=1)
>>> history = trainer.fit(x, epochs=30, batch_size=64, seed=0)   # x: (N, 1, 8, 8) in [0, 1]
>>> history.d_loss[-1], history.g_loss[-1], history.samples[-1][1].shape
(1.2, 0.9, (16, 1, 8, 8))
>>> sample_quality(classifier, gan.sample(1000))["classes_covered"]
10
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import lamina
from lamina import optim
from lamina.autograd import no_grad
from lamina.errors import LaminaValueError
from lamina.models._checks import check_float, check_int, make_rng
from lamina.models.autoencoder import as_input
from lamina.models.gan import GAN, discriminator_loss, generator_loss
from lamina.tensor import Tensor

__all__ = ["GANTrainer", "GANHistory", "sample_quality"]


@dataclass
class GANHistory:
    """Per-epoch means: ``d_loss``, ``g_loss``, ``d_real`` (mean ``sigmoid(D(x))`` on real
    batches) and ``d_fake`` (on generated ones); ``samples`` holds ``(epoch, array)`` pairs,
    the generator's output on one fixed batch of noise (epoch 0: before training)."""

    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    d_real: list[float] = field(default_factory=list)
    d_fake: list[float] = field(default_factory=list)
    samples: list[tuple[int, np.ndarray]] = field(default_factory=list)

    def as_dict(self) -> dict:
        """The losses and probabilities (JSON-serializable; the sample arrays left out)."""
        return {"d_loss": self.d_loss, "g_loss": self.g_loss, "d_real": self.d_real,
                "d_fake": self.d_fake}


def _check_params(owner: str, name: str, opt, module, other) -> None:
    mine = {id(p) for p in module.parameters()}
    theirs = {id(p) for p in other.parameters()}
    got = [p for g in opt.param_groups for p in g["params"]]
    if any(id(p) in theirs for p in got) or not all(id(p) in mine for p in got):
        raise LaminaValueError(f"{owner}: {name} must optimize only the "
                               f"{'generator' if name == 'g_optimizer' else 'discriminator'}'s "
                               f"parameters")


class GANTrainer:
    """Trains a ``GAN``: per mini-batch of real data, one discriminator step on
    ``discriminator_loss(D(x), D(G(z).detach()), real_label=1 - label_smoothing)``; after
    every ``n_critic`` discriminator steps, one generator step on the non-saturating
    ``generator_loss(D(G(z)))`` (D's parameters receive gradients there but only G's
    optimizer steps; D's gradients are cleared before its next step).

    Args:
        gan: the ``GAN`` (its ``generator`` and ``discriminator`` modules).
        g_optimizer, d_optimizer: each over its own network's parameters only (checked);
            default Adam(lr, betas=(0.5, 0.999)), DCGAN's settings.
        lr: the default optimizers' learning rate.
        n_critic: discriminator steps per generator step (>= 1).
        label_smoothing: one-sided: real targets ``1 - label_smoothing`` (in [0, 0.5)).
        non_saturating: the generator's loss (``False``: the minimax ``log(1 - D(G(z)))``).
    """

    def __init__(self, gan: GAN, g_optimizer=None, d_optimizer=None, lr: float = 2e-4,
                 n_critic: int = 1, label_smoothing: float = 0.0,
                 non_saturating: bool = True):
        owner = "GANTrainer"
        if not isinstance(gan, GAN):
            raise LaminaValueError(f"{owner}: gan must be a lamina.models.GAN, got "
                                   f"{type(gan).__name__}")
        self.gan = gan
        lr = check_float(owner, "lr", lr)
        self.n_critic = check_int(owner, "n_critic", n_critic)
        self.label_smoothing = check_float(owner, "label_smoothing", label_smoothing, 0.0,
                                           strict=False)
        if self.label_smoothing >= 0.5:
            raise LaminaValueError(f"{owner}: label_smoothing must be in [0, 0.5), got "
                             f"{label_smoothing!r}")
        self.non_saturating = bool(non_saturating)
        g, d = gan.generator, gan.discriminator
        self.g_optimizer = g_optimizer or optim.Adam(g.parameters(), lr=lr, betas=(0.5, 0.999))
        self.d_optimizer = d_optimizer or optim.Adam(d.parameters(), lr=lr, betas=(0.5, 0.999))
        for name, opt in (("g_optimizer", self.g_optimizer), ("d_optimizer", self.d_optimizer)):
            if not isinstance(opt, optim.Optimizer):
                raise LaminaValueError(f"{owner}: {name} must be a lamina.optim.Optimizer, got "
                                       f"{type(opt).__name__}")
        _check_params(owner, "g_optimizer", self.g_optimizer, g, d)
        _check_params(owner, "d_optimizer", self.d_optimizer, d, g)
        self._d_steps = 0

    def d_step(self, real: Tensor) -> dict:
        """One discriminator update on the real batch ``real`` and as many generated
        samples (made without a graph: G is untouched). Returns the loss and the mean
        ``sigmoid(D)`` on real and generated samples."""
        gan = self.gan
        gan.generator.train()
        gan.discriminator.train()
        with no_grad():
            fake = gan(gan.noise(real.shape[0]))
        self.d_optimizer.zero_grad()
        real_logits = gan.discriminator(real)
        fake_logits = gan.discriminator(fake)
        loss = discriminator_loss(real_logits, fake_logits, 1.0 - self.label_smoothing)
        loss.backward()
        self.d_optimizer.step()
        self._d_steps += 1
        return {"d_loss": float(loss._data),
                "d_real": float(_sigmoid(real_logits._data).mean()),
                "d_fake": float(_sigmoid(fake_logits._data).mean())}

    def g_step(self, batch_size: int) -> float:
        """One generator update on ``batch_size`` fresh samples; returns its loss."""
        gan = self.gan
        batch_size = check_int("GANTrainer.g_step", "batch_size", batch_size)
        gan.generator.train()
        gan.discriminator.train()
        self.g_optimizer.zero_grad()
        loss = generator_loss(gan.discriminator(gan(gan.noise(batch_size))),
                              self.non_saturating)
        loss.backward()
        self.g_optimizer.step()
        self.d_optimizer.zero_grad()                  # D's gradients from this pass: dropped
        return float(loss._data)

    def fit(self, x, epochs: int = 10, batch_size: int = 64, seed=None, n_samples: int = 16,
            sample_every: int = 1, on_epoch: Callable | None = None) -> GANHistory:
        """Train on the rows of ``x`` (N, *in_shape) for ``epochs`` epochs.

        Every ``sample_every`` epochs (and before training) the generator's output on one
        fixed noise batch of ``n_samples`` goes into ``history.samples``, so the grids show
        the same ``z`` improving. ``on_epoch(epoch, trainer, history)`` runs after each
        epoch (a callback: save a grid; returning True stops training).
        """
        owner = "GANTrainer.fit"
        gan = self.gan
        dtype = next(gan.discriminator.parameters()).dtype
        x = as_input(owner, x, gan.in_shape, dtype)._data
        epochs = check_int(owner, "epochs", epochs)
        batch_size = check_int(owner, "batch_size", batch_size)
        n_samples = check_int(owner, "n_samples", n_samples)
        sample_every = check_int(owner, "sample_every", sample_every)
        rng = make_rng(owner, seed)
        fixed = Tensor(rng.standard_normal((n_samples, gan.latent_dim)).astype(dtype))
        history = GANHistory()
        history.samples.append((0, self._generate(fixed)))
        for epoch in range(1, epochs + 1):
            d_stats = {"d_loss": [], "d_real": [], "d_fake": []}
            g_losses = []
            order = rng.permutation(len(x))
            for start in range(0, len(x), batch_size):
                real = Tensor(np.ascontiguousarray(x[order[start:start + batch_size]]))
                for key, value in self.d_step(real).items():
                    d_stats[key].append(value)
                if self._d_steps % self.n_critic == 0:
                    g_losses.append(self.g_step(batch_size))
            history.d_loss.append(float(np.mean(d_stats["d_loss"])))
            history.d_real.append(float(np.mean(d_stats["d_real"])))
            history.d_fake.append(float(np.mean(d_stats["d_fake"])))
            history.g_loss.append(float(np.mean(g_losses)) if g_losses else float("nan"))
            if epoch % sample_every == 0 or epoch == epochs:
                history.samples.append((epoch, self._generate(fixed)))
            if on_epoch is not None and on_epoch(epoch, self, history) is True:
                break
        gan.eval()
        return history

    def _generate(self, z: Tensor) -> np.ndarray:
        g = self.gan.generator
        was = g.training
        g.eval()
        try:
            with no_grad():
                return np.array(self.gan(z)._data)
        finally:
            g.train(was)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))               # = 1 / (1 + exp(-z)), no overflow


def sample_quality(classifier, samples, num_classes: int = 10, min_fraction: float = 0.02,
                   batch_size: int = 500) -> dict:
    """Scores generated samples with a classifier trained separately on the real data (an
    honest, if partial, measure: it sees whether samples look like *some* class, not their
    diversity within a class).

    Returns a dict: ``mean_confidence`` (the mean of the classifier's top softmax
    probability), ``classes_covered`` (how many classes are predicted for at least
    ``min_fraction`` of the samples: mode coverage; mode collapse shows as few), and
    ``class_counts`` (how many samples each class got).
    """
    owner = "sample_quality"
    if not callable(classifier):
        raise LaminaValueError(f"{owner}: classifier must be a callable model returning logits, "
                               f"got "
                               f"{type(classifier).__name__}")
    num_classes = check_int(owner, "num_classes", num_classes, low=2)
    min_fraction = check_float(owner, "min_fraction", min_fraction, 0.0, strict=False)
    if isinstance(samples, Tensor):
        samples = samples._data
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim < 2 or len(samples) == 0:
        raise LaminaValueError(f"{owner}: samples must be a non-empty batch (n, ...), got shape "
                               f"{samples.shape}")
    was = getattr(classifier, "training", False)
    if hasattr(classifier, "eval"):
        classifier.eval()
    probs = []
    try:
        with no_grad():
            for start in range(0, len(samples), batch_size):
                logits = np.asarray(classifier(lamina.tensor(samples[start:start + batch_size]))
                                    ._data, dtype=np.float64)
                if logits.ndim != 2 or logits.shape[1] != num_classes:
                    raise LaminaValueError(f"{owner}: the classifier must return (batch, "
                                           f"{num_classes}) logits, got {logits.shape}")
                e = np.exp(logits - logits.max(axis=1, keepdims=True))
                probs.append(e / e.sum(axis=1, keepdims=True))
    finally:
        if hasattr(classifier, "train"):
            classifier.train(was)
    p = np.concatenate(probs)
    counts = np.bincount(p.argmax(axis=1), minlength=num_classes)
    return {"mean_confidence": float(p.max(axis=1).mean()),
            "classes_covered": int((counts >= max(1, min_fraction * len(p))).sum()),
            "class_counts": counts.tolist()}
