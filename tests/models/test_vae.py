"""The VAE against PyTorch in float64: the analytic KL against ``torch.distributions``'
``kl_divergence(Normal, Normal)``, the ELBO against Normal/Bernoulli ``log_prob`` on the same
weights and the same reparametrization noise, and the gradients of the loss; then sampling,
interpolation, training and the error messages."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import lamina
from lamina.models import VAE
from lamina.models.vae import gaussian_kl, reparametrize

torch = pytest.importorskip("torch")
td = torch.distributions
TIGHT = dict(rtol=1e-9, atol=1e-11)


def torch_vae(d, hidden, latent):
    enc = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(d, hidden), torch.nn.ReLU(),
                              torch.nn.Linear(hidden, 2 * latent))
    dec = torch.nn.Sequential(torch.nn.Linear(latent, hidden), torch.nn.ReLU(),
                              torch.nn.Linear(hidden, d), torch.nn.Unflatten(1, (1, 3, 4)))
    return torch.nn.ModuleDict({"encoder": enc, "decoder": dec}).double()


def _pair(decoder="bernoulli", seed=0):
    torch.manual_seed(seed)
    t = torch_vae(12, 7, 3)
    m = VAE((1, 3, 4), latent_dim=3, hidden=(7,), decoder=decoder, decoder_std=0.3).double()
    sd = OrderedDict((k, v.detach().numpy().copy()) for k, v in t.state_dict().items())
    res = m.load_state_dict(sd)
    assert not res.missing_keys and not res.unexpected_keys
    return m, t


def torch_elbo(t, x, eps, decoder, std=0.3):
    h = t["encoder"](x)
    mu, logvar = h[:, :3], h[:, 3:]
    q = td.Normal(mu, (0.5 * logvar).exp())
    z = mu + (0.5 * logvar).exp() * eps                    # q.rsample with this eps
    out = t["decoder"](z)
    lik = td.Bernoulli(logits=out) if decoder == "bernoulli" else td.Normal(out, std)
    log_px = lik.log_prob(x).flatten(1).sum(1)
    kl = td.kl_divergence(q, td.Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(1)
    return log_px - kl


def test_kl_against_torch_distributions():
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    got = gaussian_kl(lamina.tensor(mu), lamina.tensor(logvar)).data
    tmu, tlv = torch.tensor(mu), torch.tensor(logvar)
    want = td.kl_divergence(td.Normal(tmu, (0.5 * tlv).exp()),
                            td.Normal(torch.zeros(5, 4, dtype=torch.float64), 1.0)).sum(1)
    np.testing.assert_allclose(got, want.numpy(), **TIGHT)
    assert np.all(gaussian_kl(lamina.zeros(2, 3), lamina.zeros(2, 3)).data == 0)


def test_reparametrization_is_differentiable_and_has_the_right_moments():
    mu = lamina.tensor(np.full((20000, 1), 2.0), requires_grad=True)
    logvar = lamina.tensor(np.full((20000, 1), np.log(0.25)), requires_grad=True)
    lamina.manual_seed(0)
    z = reparametrize(mu, logvar)
    assert abs(z._data.mean() - 2.0) < 0.02 and abs(z._data.std() - 0.5) < 0.01
    z.sum().backward()
    np.testing.assert_allclose(mu.grad._data, 1.0)
    eps = (z._data - 2.0) / 0.5                             # dz/dlogvar = eps * sigma / 2
    np.testing.assert_allclose(logvar.grad._data, eps * 0.25, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian"])
def test_elbo_and_gradients_against_torch(decoder):
    m, t = _pair(decoder)
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(6, 1, 3, 4))
    if decoder == "bernoulli":
        x = (x > 0.5).astype(np.float64)
    eps = rng.normal(size=(6, 3))
    got = m.elbo(lamina.tensor(x), eps=lamina.tensor(eps))
    tx, teps = torch.tensor(x), torch.tensor(eps)
    want = torch_elbo(t, tx, teps, decoder)
    np.testing.assert_allclose(got._data, want.detach().numpy(), **TIGHT)
    # the loss and every parameter's gradient
    loss = m.loss(lamina.tensor(x), eps=lamina.tensor(eps))
    tloss = -want.mean()
    np.testing.assert_allclose(float(loss._data), tloss.item(), **TIGHT)
    loss.backward()
    tloss.backward()
    tparams = dict(t.named_parameters())
    for name, p in m.named_parameters():
        np.testing.assert_allclose(p.grad._data, tparams[name].grad.numpy(), **TIGHT,
                                   err_msg=name)


def test_bernoulli_elbo_on_grey_levels_matches_bce():
    """For x in [0, 1] (grey pixels) the log-likelihood is -BCEWithLogits summed."""
    m, t = _pair("bernoulli")
    x = np.random.default_rng(2).uniform(size=(3, 1, 3, 4))
    eps = np.zeros((3, 3))
    got = m.elbo(lamina.tensor(x), eps=lamina.tensor(eps)).data
    h = t["encoder"](torch.tensor(x))
    mu, logvar = h[:, :3], h[:, 3:]
    out = t["decoder"](mu)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        out, torch.tensor(x), reduction="none").flatten(1).sum(1)
    kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1)
    np.testing.assert_allclose(got, (-bce - kl).detach().numpy(), **TIGHT)


def test_beta_weights_the_kl_term():
    m, _ = _pair()
    x = lamina.tensor(np.random.default_rng(3).uniform(size=(4, 12)))
    eps = lamina.zeros(4, 3, dtype=np.float64)
    mu, logvar = m.encode(x)
    kl = gaussian_kl(mu, logvar).data.mean()
    base = float(m.loss(x, eps=eps).data)
    m.beta = 3.0
    np.testing.assert_allclose(float(m.loss(x, eps=eps).data), base + 2 * kl, rtol=1e-10)


def test_sample_interpolate_and_training():
    lamina.manual_seed(0)
    rng = np.random.default_rng(0)
    protos = (rng.uniform(size=(2, 1, 8, 8)) > 0.5).astype(np.float32)
    x = np.clip(protos[rng.integers(0, 2, 200)] + rng.normal(0, 0.05, (200, 1, 8, 8)), 0, 1)
    x = x.astype(np.float32)
    for kind in ("mlp", "conv"):
        vae = VAE((1, 8, 8), latent_dim=2, kind=kind)
        losses = vae.fit(x, epochs=5, lr=3e-3, batch_size=20, seed=0)
        assert losses[-1] < losses[0]
        s = vae.sample(7)
        assert s.shape == (7, 1, 8, 8) and np.all((s._data >= 0) & (s._data <= 1))
        path = vae.interpolate(x[0], x[1], steps=5)
        assert path.shape == (5, 1, 8, 8)
        np.testing.assert_allclose(path._data[0], vae(lamina.tensor(x[:1])).data[0], atol=1e-6)
        np.testing.assert_allclose(path._data[-1], vae(lamina.tensor(x[1:2])).data[0],
                                   atol=1e-6)
    g = lamina.Generator().manual_seed(5) if hasattr(lamina, "Generator") else None
    if g is not None:
        a = vae.sample(3, generator=g).data
        b = vae.sample(3, generator=lamina.Generator().manual_seed(5)).data
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("call,match", [
    (lambda: VAE((1, 8, 8), latent_dim=0), r"VAE: latent_dim must be an int >= 1"),
    (lambda: VAE((1, 8, 8), decoder="poisson"), r"VAE: decoder must be one of"),
    (lambda: VAE((1, 8, 8), decoder_std=0), r"VAE: decoder_std must be"),
    (lambda: VAE((1, 8, 8), beta=-1), r"VAE: beta must be"),
    (lambda: VAE((1, 8, 8), kind="gru"), r"VAE: kind must be one of"),
    (lambda: VAE((1, 10, 10), kind="conv"), r"divisible by 4"),
    (lambda: VAE((1, 8, 8)).sample(0), r"VAE.sample: n must be an int >= 1"),
    (lambda: VAE((1, 8, 8)).interpolate(np.zeros((1, 8, 8)), np.zeros((1, 8, 8)), 1),
     r"VAE.interpolate: steps must be an int >= 2"),
    (lambda: VAE((1, 8, 8)).interpolate(np.zeros((2, 1, 8, 8)), np.zeros((1, 8, 8))),
     r"VAE.interpolate: x0 must be one input of shape \(1, 8, 8\)"),
    (lambda: VAE((1, 8, 8)).elbo(np.zeros((2, 5))), r"VAE.elbo: x must have shape"),
    (lambda: VAE((1, 8, 8)).elbo(np.zeros((2, 64)), eps=lamina.zeros(2, 3)),
     r"VAE.elbo: eps must have shape \(2, 2\)"),
    (lambda: VAE((1, 8, 8)).decode(lamina.zeros(2, 3)), r"VAE.decode: z must be a Tensor"),
    (lambda: VAE((1, 8, 8)).fit(np.zeros((4, 64)), batch_size=0),
     r"VAE.fit: batch_size must be an int >= 1"),
])
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_conv_vae_elbo_and_gradients_against_torch():
    """The convolutional variant (stride-2 Conv2d encoder, ConvTranspose2d decoder)."""
    tn = torch.nn
    torch.manual_seed(3)
    enc = tn.Sequential(tn.Conv2d(1, 3, 3, stride=2, padding=1), tn.ReLU(),
                        tn.Conv2d(3, 4, 3, stride=2, padding=1), tn.ReLU(), tn.Flatten(),
                        tn.Linear(4 * 2 * 2, 2 * 3))
    dec = tn.Sequential(tn.Linear(3, 4 * 2 * 2), tn.ReLU(), tn.Unflatten(1, (4, 2, 2)),
                        tn.ConvTranspose2d(4, 3, 4, stride=2, padding=1), tn.ReLU(),
                        tn.ConvTranspose2d(3, 1, 4, stride=2, padding=1))
    t = tn.ModuleDict({"encoder": enc, "decoder": dec}).double()
    m = VAE((1, 8, 8), latent_dim=3, kind="conv", hidden=(3, 4)).double()
    res = m.load_state_dict(OrderedDict((k, v.detach().numpy().copy())
                                        for k, v in t.state_dict().items()))
    assert not res.missing_keys and not res.unexpected_keys
    rng = np.random.default_rng(4)
    x = (rng.uniform(size=(5, 1, 8, 8)) > 0.5).astype(np.float64)
    eps = rng.normal(size=(5, 3))
    tx, teps = torch.tensor(x), torch.tensor(eps)
    want = torch_elbo(t, tx, teps, "bernoulli")
    loss = m.loss(lamina.tensor(x), eps=lamina.tensor(eps))
    np.testing.assert_allclose(m.elbo(lamina.tensor(x), eps=lamina.tensor(eps)).data,
                               want.detach().numpy(), **TIGHT)
    loss.backward()
    (-want.mean()).backward()
    tparams = dict(t.named_parameters())
    for name, p in m.named_parameters():
        np.testing.assert_allclose(p.grad._data, tparams[name].grad.numpy(), rtol=1e-8,
                                   atol=1e-10, err_msg=name)
