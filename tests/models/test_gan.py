"""GAN builders and losses: shapes, the losses against PyTorch's BCEWithLogits formulation
(float64, values and gradients), and the error messages."""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina.models import GAN
from lamina.models.gan import (
    dcgan_discriminator,
    dcgan_generator,
    discriminator_loss,
    generator_loss,
    mlp_discriminator,
    mlp_generator,
)

torch = pytest.importorskip("torch")
TIGHT = dict(rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind,shape", [("mlp", (1, 8, 8)), ("dcgan", (1, 8, 8)),
                                        ("dcgan", (1, 28, 28)), ("mlp", (5,))])
def test_shapes(kind, shape):
    lamina.manual_seed(0)
    gan = GAN(shape, latent_dim=6, kind=kind)
    s = gan.sample(4)
    assert s.shape == (4, *shape) and np.all((s._data >= 0) & (s._data <= 1))
    assert gan.discriminator(s).shape == (4, 1)
    assert gan(gan.noise(3)).shape == (3, *shape)


def test_tanh_output_and_builders():
    g = mlp_generator(4, (1, 8, 8), hidden=(16,), output="tanh")
    assert g(lamina.randn(2, 4)).shape == (2, 1, 8, 8)
    assert mlp_discriminator(10, hidden=(8, 4))(lamina.randn(3, 10)).shape == (3, 1)
    assert dcgan_generator(4, (3, 12, 16), channels=(8, 4))(lamina.randn(2, 4)).shape == \
        (2, 3, 12, 16)
    assert dcgan_discriminator((3, 12, 16), channels=(4, 8))(lamina.randn(2, 3, 12, 16)) \
        .shape == (2, 1)
    assert any(type(m).__name__ == "ConvTranspose2d" for m in dcgan_generator(4, (1, 8, 8))
               .modules())


def _logits(seed=0, n=7):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 3, (n, 1)), rng.normal(0, 3, (n, 1))


@pytest.mark.parametrize("real_label", [1.0, 0.9])
def test_discriminator_loss_against_torch(real_label):
    real, fake = _logits()
    lr, lf = lamina.tensor(real, requires_grad=True), lamina.tensor(fake, requires_grad=True)
    tr, tf = torch.tensor(real, requires_grad=True), torch.tensor(fake, requires_grad=True)
    got = discriminator_loss(lr, lf, real_label)
    bce = torch.nn.BCEWithLogitsLoss()
    want = bce(tr, torch.full_like(tr, real_label)) + bce(tf, torch.zeros_like(tf))
    np.testing.assert_allclose(float(got._data), want.item(), **TIGHT)
    got.backward()
    want.backward()
    np.testing.assert_allclose(lr.grad._data, tr.grad.numpy(), **TIGHT)
    np.testing.assert_allclose(lf.grad._data, tf.grad.numpy(), **TIGHT)
    # and the textbook form, -mean log D(x) - mean log(1 - D(G(z))) at real_label = 1
    if real_label == 1.0:
        d_real, d_fake = 1 / (1 + np.exp(-real)), 1 / (1 + np.exp(-fake))
        np.testing.assert_allclose(float(got._data), -np.log(d_real).mean()
                                   - np.log(1 - d_fake).mean(), rtol=1e-9)


@pytest.mark.parametrize("non_saturating", [True, False])
def test_generator_loss_against_torch(non_saturating):
    _, fake = _logits(1)
    lf = lamina.tensor(fake, requires_grad=True)
    tf = torch.tensor(fake, requires_grad=True)
    got = generator_loss(lf, non_saturating)
    bce = torch.nn.BCEWithLogitsLoss()
    want = bce(tf, torch.ones_like(tf)) if non_saturating else -bce(tf, torch.zeros_like(tf))
    np.testing.assert_allclose(float(got._data), want.item(), **TIGHT)
    got.backward()
    want.backward()
    np.testing.assert_allclose(lf.grad._data, tf.grad.numpy(), **TIGHT)


def test_non_saturating_gradient_is_strong_where_minimax_vanishes():
    """When D confidently rejects the samples (logit -10), log(1 - D) is flat."""
    logits = np.full((4, 1), -10.0)
    grads = {}
    for ns in (True, False):
        t = lamina.tensor(logits, requires_grad=True)
        generator_loss(t, ns).backward()
        grads[ns] = abs(t.grad._data).mean()
    assert grads[True] > 1e3 * grads[False]


@pytest.mark.parametrize("call,match", [
    (lambda: GAN((1, 8, 8), kind="wgan"), r"GAN: kind must be one of"),
    (lambda: GAN((1, 8, 8), latent_dim=0), r"GAN: latent_dim must be an int >= 1"),
    (lambda: GAN((1, 10, 10), kind="dcgan"), r"divisible by 4"),
    (lambda: GAN((1, 8, 8), output="relu"), r"GAN: output must be one of"),
    (lambda: GAN((1, 8, 8), generator="G"), r"GAN: generator must be an nn.Module"),
    (lambda: GAN((1, 8, 8)).sample(0), r"GAN.sample: n must be an int >= 1"),
    (lambda: GAN((1, 8, 8), latent_dim=4)(lamina.zeros(2, 3)),
     r"GAN.forward: z must be a Tensor of shape \(batch, 4\)"),
    (lambda: dcgan_generator(4, (1, 8, 8), channels=(8,)), r"channels must be two"),
    (lambda: discriminator_loss(lamina.zeros(2, 1), lamina.zeros(2, 1), 1.5),
     r"discriminator_loss: real_label must be in \(0, 1\]"),
    (lambda: discriminator_loss(np.zeros(2), lamina.zeros(2, 1)),
     r"discriminator_loss: real_logits must be a Tensor"),
    (lambda: generator_loss(3.0), r"generator_loss: fake_logits must be a Tensor"),
])
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
