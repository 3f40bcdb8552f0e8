"""GANTrainer: each step moves only its own network (through its own optimizer), label
smoothing and n_critic do what they say, fit records losses and sample grids; sample_quality
and the image grid helpers."""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina import optim
from lamina.models import GAN
from lamina.train import GANTrainer, make_grid, sample_quality, save_grid


def _data(n=64):
    rng = np.random.default_rng(0)
    protos = (rng.uniform(size=(2, 1, 8, 8)) > 0.5).astype(np.float32)
    return protos[rng.integers(0, 2, n)]


def _snapshot(module):
    return {k: v._data.copy() for k, v in module.named_parameters()}


def _changed(before, module):
    return {k for k, v in module.named_parameters() if not np.array_equal(before[k], v._data)}


@pytest.mark.parametrize("kind", ["mlp", "dcgan"])
def test_each_step_updates_only_its_own_network(kind):
    lamina.manual_seed(0)
    gan = GAN((1, 8, 8), latent_dim=4, kind=kind)
    trainer = GANTrainer(gan)
    real = lamina.tensor(_data(8))
    g0, d0 = _snapshot(gan.generator), _snapshot(gan.discriminator)
    trainer.d_step(real)
    assert _changed(g0, gan.generator) == set()
    assert _changed(d0, gan.discriminator) == set(d0)
    assert all(p.grad is None for p in gan.generator.parameters())
    g0, d0 = _snapshot(gan.generator), _snapshot(gan.discriminator)
    trainer.g_step(8)
    assert _changed(d0, gan.discriminator) == set()
    assert _changed(g0, gan.generator) == set(g0)
    assert all(p.grad is None for p in gan.discriminator.parameters())  # cleared after G


def test_optimizers_must_hold_their_own_networks_parameters():
    gan = GAN((1, 8, 8), latent_dim=4)
    both = optim.SGD(list(gan.parameters()), lr=0.1)
    with pytest.raises(ValueError, match=r"GANTrainer: d_optimizer must optimize only the "
                                         r"discriminator's parameters"):
        GANTrainer(gan, d_optimizer=both)
    with pytest.raises(ValueError, match=r"GANTrainer: g_optimizer must optimize only the "
                                         r"generator's parameters"):
        GANTrainer(gan, g_optimizer=optim.SGD(gan.discriminator.parameters(), lr=0.1))
    sgd_g = optim.SGD(gan.generator.parameters(), lr=0.1)
    t = GANTrainer(gan, g_optimizer=sgd_g)
    assert t.g_optimizer is sgd_g and isinstance(t.d_optimizer, optim.Adam)


def test_label_smoothing_sets_the_real_target():
    """With D's output layer zeroed (logit 0 everywhere), the loss is exactly
    BCE(0, 1 - s) + BCE(0, 0) = log 2 + log 2, whatever s (the target's entropy cancels
    out at p = 1/2); the gradient of the real term scales with the target: (0.5 - (1 - s))."""
    lamina.manual_seed(0)
    gan = GAN(4, latent_dim=2, kind="mlp")
    last = list(gan.discriminator.parameters())[-2:]
    for p in last:
        p._data[...] = 0.0
    stats = GANTrainer(gan, label_smoothing=0.2, lr=1e-9).d_step(lamina.rand(6, 4))
    np.testing.assert_allclose(stats["d_loss"], 2 * np.log(2), rtol=1e-5)
    np.testing.assert_allclose([stats["d_real"], stats["d_fake"]], [0.5, 0.5], rtol=1e-5)


@pytest.mark.parametrize("n_critic,expected_g_steps", [(1, 4), (2, 2)])
def test_n_critic_generator_steps_per_discriminator_step(n_critic, expected_g_steps):
    lamina.manual_seed(0)
    gan = GAN((1, 8, 8), latent_dim=4)
    trainer = GANTrainer(gan, n_critic=n_critic)
    calls = []
    original = trainer.g_step
    trainer.g_step = lambda b: calls.append(b) or original(b)
    trainer.fit(_data(32), epochs=1, batch_size=8, seed=0)
    assert len(calls) == expected_g_steps


def test_fit_records_history_and_grids_and_calls_back():
    lamina.manual_seed(0)
    gan = GAN((1, 8, 8), latent_dim=4)
    seen = []
    history = GANTrainer(gan, lr=1e-3, label_smoothing=0.1).fit(
        _data(64), epochs=3, batch_size=16, seed=0, n_samples=9,
        on_epoch=lambda e, t, h: seen.append((e, len(h.d_loss))))
    assert seen == [(1, 1), (2, 2), (3, 3)]
    for curve in history.as_dict().values():
        assert len(curve) == 3 and np.all(np.isfinite(curve))
    assert [e for e, _ in history.samples] == [0, 1, 2, 3]
    assert all(s.shape == (9, 1, 8, 8) for _, s in history.samples)
    assert not np.array_equal(history.samples[0][1], history.samples[-1][1])
    assert not gan.training
    stop = GANTrainer(gan).fit(_data(16), epochs=5, batch_size=8, seed=0,
                               on_epoch=lambda e, t, h: True)
    assert len(stop.d_loss) == 1


def test_sample_quality_counts_classes_and_confidence():
    class Fixed:                                   # a "classifier" returning fixed logits
        def __call__(self, x):
            n = x.shape[0]
            logits = np.full((n, 10), -5.0)
            logits[np.arange(n), np.arange(n) % 3] = 5.0
            return lamina.tensor(logits)

    q = sample_quality(Fixed(), np.zeros((30, 1, 8, 8)))
    assert q["classes_covered"] == 3 and q["class_counts"][:3] == [10, 10, 10]
    p_top = np.exp(5) / (np.exp(5) + 9 * np.exp(-5))
    np.testing.assert_allclose(q["mean_confidence"], p_top)
    with pytest.raises(ValueError, match=r"sample_quality: the classifier must return "
                                         r"\(batch, 4\) logits"):
        sample_quality(Fixed(), np.zeros((3, 2)), num_classes=4)
    with pytest.raises(ValueError, match=r"sample_quality: classifier must be a callable"):
        sample_quality(None, np.zeros((3, 2)))


def test_make_grid_and_save_grid(tmp_path):
    g = make_grid(np.zeros((5, 1, 8, 8)), nrow=3, padding=1)
    assert g.shape == (2 * 9 + 1, 3 * 9 + 1)
    assert g[1:9, 1:9].max() == 0 and g[0].min() == 1
    assert make_grid(np.zeros((4, 3, 2, 2))).shape == (7, 7, 3)
    pytest.importorskip("matplotlib")
    path = save_grid(np.random.default_rng(0).uniform(size=(4, 8, 8)), tmp_path / "g.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match=r"make_grid: images must have shape"):
        make_grid(np.zeros((8, 8)))


@pytest.mark.parametrize("call,match", [
    (lambda: GANTrainer("gan"), r"GANTrainer: gan must be a lamina.models.GAN"),
    (lambda: GANTrainer(GAN(4), n_critic=0), r"GANTrainer: n_critic must be an int >= 1"),
    (lambda: GANTrainer(GAN(4), label_smoothing=0.5),
     r"GANTrainer: label_smoothing must be in \[0, 0.5\)"),
    (lambda: GANTrainer(GAN(4), g_optimizer="adam"),
     r"GANTrainer: g_optimizer must be a lamina.optim.Optimizer"),
    (lambda: GANTrainer(GAN(4)).fit(np.zeros((4, 5))), r"GANTrainer.fit: x must have shape"),
    (lambda: GANTrainer(GAN(4)).fit(np.zeros((4, 4)), epochs=0),
     r"GANTrainer.fit: epochs must be an int >= 1"),
])
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
