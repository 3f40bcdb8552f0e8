"""Autoencoders (plain MLP and convolutional, denoising, sparse): shapes, the corruption
layers' train/eval behaviour, the sparsity penalties against their formulas (and PyTorch),
that training lowers the loss, and the error messages."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lamina
from lamina.models import (
    Autoencoder,
    DenoisingAutoencoder,
    GaussianNoise,
    MaskingNoise,
    SparseAutoencoder,
)
from lamina.models.autoencoder import kl_sparsity


def _images(n=64, seed=0, shape=(1, 8, 8)):
    """Smooth blobs in [0, 1]: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:shape[1], 0:shape[2]]
    cy, cx = rng.uniform(1, shape[1] - 2, (2, n))
    img = np.exp(-((yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2)
                 / 4.0)
    return img[:, None].astype(np.float32)


@pytest.mark.parametrize("kind,shape", [("mlp", (1, 8, 8)), ("conv", (1, 8, 8)),
                                        ("conv", (2, 12, 16)), ("mlp", (10,))])
def test_shapes(kind, shape):
    lamina.manual_seed(0)
    ae = Autoencoder(shape, latent_dim=3, kind=kind)
    x = lamina.rand(5, *shape)
    assert ae.encode(x).shape == (5, 3)
    assert ae(x).shape == (5, *shape)
    assert np.all((ae(x).data > 0) & (ae(x).data < 1))
    if kind == "mlp" and len(shape) == 3:          # (B, D) is accepted and reshaped
        assert ae(x.reshape(5, -1)).shape == (5, *shape)


@pytest.mark.parametrize("cls", [Autoencoder, DenoisingAutoencoder, SparseAutoencoder])
@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_training_lowers_the_loss(cls, kind):
    lamina.manual_seed(0)
    x = _images(64)
    model = cls((1, 8, 8), latent_dim=8, kind=kind)
    before = model.reconstruction_error(x)
    losses = model.fit(x, epochs=6, lr=3e-3, batch_size=16, seed=0)
    assert len(losses) == 6 and losses[-1] < losses[0]
    assert model.reconstruction_error(x) < before
    assert not model.training


def test_bce_reconstruction_matches_the_formula():
    lamina.manual_seed(0)
    ae = Autoencoder(6, latent_dim=2, reconstruction="bce").double()
    x = np.random.default_rng(0).uniform(size=(4, 6))
    p = ae(lamina.tensor(x)).data
    want = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p)) / 4
    np.testing.assert_allclose(float(ae.loss(x).data), want, rtol=1e-10)
    mse = Autoencoder(6, latent_dim=2).double()
    p = mse(lamina.tensor(x)).data
    np.testing.assert_allclose(float(mse.loss(x).data), np.sum((p - x) ** 2) / 4, rtol=1e-10)


def test_gaussian_noise_only_in_training():
    lamina.manual_seed(0)
    x = lamina.zeros(2000, 10)
    noise = GaussianNoise(0.5)
    y = noise(x).data
    assert abs(y.std() - 0.5) < 0.02 and abs(y.mean()) < 0.02
    assert noise.eval()(x) is x


def test_masking_noise_only_in_training():
    lamina.manual_seed(0)
    x = lamina.ones(2000, 10)
    y = MaskingNoise(0.3)(x)._data
    assert set(np.unique(y)) <= {0.0, 1.0}                  # no rescaling, unlike dropout
    assert abs((y == 0).mean() - 0.3) < 0.02
    m = MaskingNoise(0.3).eval()
    assert m(x) is x


def test_masking_noise_passes_gradients_through_kept_inputs():
    lamina.manual_seed(1)
    x = lamina.ones(3, 5, requires_grad=True)
    y = MaskingNoise(0.5)(x)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad._data, y._data)


def test_denoising_autoencoder_corrupts_in_training_only():
    lamina.manual_seed(0)
    dae = DenoisingAutoencoder((1, 8, 8), latent_dim=4, noise="masking", noise_level=0.5)
    x = lamina.tensor(_images(4))
    dae.train()
    assert not np.allclose(dae.encode(x).data, dae.encode(x).data)
    dae.eval()
    np.testing.assert_array_equal(dae.encode(x).data, dae.encode(x).data)
    np.testing.assert_array_equal(dae.denoise(x).data, dae(x).data)
    assert isinstance(DenoisingAutoencoder(4, noise=GaussianNoise(0.1)).noise, GaussianNoise)


def test_denoising_beats_plain_on_corrupted_inputs():
    """Both trained on the same clean data; the DAE reconstructs masked inputs better."""
    x = _images(256, seed=1)
    rng = np.random.default_rng(2)
    x_masked = x * (rng.uniform(size=x.shape) >= 0.4)
    errors = {}
    for cls, kw in [(Autoencoder, {}), (DenoisingAutoencoder, dict(noise="masking",
                                                                   noise_level=0.4))]:
        lamina.manual_seed(0)
        model = cls((1, 8, 8), latent_dim=8, **kw)
        model.fit(x, epochs=25, lr=3e-3, batch_size=32, seed=0)
        errors[cls.__name__] = float(np.mean((model(lamina.tensor(x_masked)).data - x) ** 2))
    assert errors["DenoisingAutoencoder"] < errors["Autoencoder"]


def test_kl_sparsity_against_torch_bernoulli_kl():
    torch = pytest.importorskip("torch")
    rho_hat = np.array([0.01, 0.05, 0.3, 0.9])
    got = float(kl_sparsity(0.05, lamina.tensor(rho_hat)).data)
    want = torch.distributions.kl_divergence(
        torch.distributions.Bernoulli(probs=torch.full((4,), 0.05, dtype=torch.float64)),
        torch.distributions.Bernoulli(probs=torch.tensor(rho_hat))).sum().item()
    np.testing.assert_allclose(got, want, rtol=1e-10)
    assert abs(float(kl_sparsity(0.05, lamina.tensor(np.full(3, 0.05))).data)) < 1e-12


def test_sparse_penalties_match_their_formulas():
    lamina.manual_seed(0)
    x = np.random.default_rng(0).uniform(size=(5, 6))
    kl = SparseAutoencoder(6, latent_dim=4, beta=0.7, rho=0.1).double()
    z = kl.encode(x).data
    rho_hat = z.mean(0)
    want = 0.7 * np.sum(0.1 * np.log(0.1 / rho_hat) + 0.9 * np.log(0.9 / (1 - rho_hat)))
    np.testing.assert_allclose(float(kl.sparsity_penalty(kl.encode(x)).data), want, rtol=1e-9)
    rec = float(Autoencoder.loss(kl, x).data)
    np.testing.assert_allclose(float(kl.loss(x).data), rec + want, rtol=1e-9)
    l1 = SparseAutoencoder(6, latent_dim=4, penalty="l1", beta=0.3).double()
    z = l1.encode(x).data
    assert np.all(z >= 0)                                  # ReLU codes by default
    np.testing.assert_allclose(float(l1.sparsity_penalty(l1.encode(x)).data),
                               0.3 * np.abs(z).sum() / 5, rtol=1e-10)


@pytest.mark.parametrize("penalty", ["kl", "l1"])
def test_sparsity_penalty_makes_codes_sparser(penalty):
    x = _images(128, seed=3)
    sparsity = {}
    for beta in (0.0, 3.0 if penalty == "kl" else 0.3):
        lamina.manual_seed(0)
        sae = SparseAutoencoder((1, 8, 8), latent_dim=32, penalty=penalty, beta=beta,
                                rho=0.05)
        sae.fit(x, epochs=15, lr=3e-3, batch_size=32, seed=0)
        sparsity[beta] = sae.sparsity(x)
    low, high = sparsity.values()
    assert high > low


@pytest.mark.parametrize("call,match", [
    (lambda: Autoencoder((1, 2, 8, 8)), r"Autoencoder: in_shape must be"),
    (lambda: Autoencoder(0), r"Autoencoder: in_shape must be"),
    (lambda: Autoencoder((1, 8, 8), latent_dim=0), r"Autoencoder: latent_dim must be an int"),
    (lambda: Autoencoder((1, 8, 8), kind="rnn"), r"Autoencoder: kind must be one of"),
    (lambda: Autoencoder((1, 6, 6), kind="conv"), r"divisible by 4"),
    (lambda: Autoencoder((1, 8, 8), kind="conv", hidden=(8,)), r"two channel counts"),
    (lambda: Autoencoder(8, hidden=[0]), r"Autoencoder: hidden must be"),
    (lambda: Autoencoder(8, activation="cube"), r"activation must be one of"),
    (lambda: Autoencoder(8, reconstruction="l1"), r"reconstruction must be one of"),
    (lambda: DenoisingAutoencoder(8, noise="salt"), r"DenoisingAutoencoder: noise must be"),
    (lambda: GaussianNoise(-1), r"GaussianNoise: std must be"),
    (lambda: MaskingNoise(1.0), r"MaskingNoise: p must be in \[0, 1\)"),
    (lambda: SparseAutoencoder(8, penalty="l2"), r"SparseAutoencoder: penalty must be"),
    (lambda: SparseAutoencoder(8, rho=1.5), r"SparseAutoencoder: rho must be in \(0, 1\)"),
    (lambda: SparseAutoencoder(8, code_activation="relu"), r"needs code_activation='sig"),
    (lambda: SparseAutoencoder(8, beta=-1), r"SparseAutoencoder: beta must be"),
])
def test_constructor_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_call_errors_name_the_method():
    ae = Autoencoder((1, 8, 8), latent_dim=3)
    with pytest.raises(ValueError, match=r"Autoencoder.encode: x must have shape "
                                         r"\(batch, 1, 8, 8\) or \(batch, 64\), got \(2, 63\)"):
        ae.encode(lamina.rand(2, 63))
    with pytest.raises(ValueError, match=r"Autoencoder.decode: z must be a Tensor of shape "
                                         r"\(batch, 3\)"):
        ae.decode(lamina.rand(2, 4))
    with pytest.raises(ValueError, match=r"Autoencoder.fit: epochs must be an int >= 1"):
        ae.fit(_images(4), epochs=0)
    with pytest.raises(ValueError, match=r"Autoencoder.fit: x must be a Tensor or numeric"):
        ae.fit(object())
    with pytest.raises(ValueError, match=r"Autoencoder.fit: lr must be"):
        ae.fit(_images(4), lr=-1.0)
    assert math.isfinite(ae.reconstruction_error(_images(4)))
