"""The generative-model experiments (issue #16: autoencoders, GANs), in quick mode: each runs
end to end, returns its table and plot, and its numbers point the lecture's way."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lamina import experiments

NAMES = ["autoencoders", "gan"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = experiments.run(name, seed=0, out_dir=out, quick=True)
        return cache[name]

    return get


def test_registered_with_descriptions():
    names = [name for name, _ in experiments.available()]
    start = names.index(NAMES[0])
    assert names[start:start + 2] == NAMES
    for name in NAMES:
        assert "lecture" in experiments.describe(name).lower()


@pytest.mark.parametrize("name", NAMES)
def test_runs_end_to_end(results, name):
    res = results(name)
    assert res.name == name
    assert res.markdown.startswith("### ") and "|---" in res.markdown
    json.dumps(res.data)
    pytest.importorskip("matplotlib")
    assert res.plot is not None and res.plot.name == f"{name}.png"
    assert res.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_autoencoders_numbers(results):
    r = results("autoencoders").data["results"]
    for label in ("autoencoder", "denoising (masking 30%)", "sparse (KL, rho = 0.05)",
                  "VAE (Bernoulli decoder)"):
        assert r[label]["loss"][-1] < r[label]["loss"][0]
        assert 0 < r[label]["test_mse"] < 0.2
        assert r[label]["masked_test_mse"] > 0
    assert np.isfinite(r["VAE (Bernoulli decoder)"]["test_elbo"])
    # the sparse autoencoder's codes are the sparsest of the deterministic ones
    assert r["sparse (KL, rho = 0.05)"]["code_sparsity"] > r["autoencoder"]["code_sparsity"]
    assert r["VAE, 2-D latent"]["code_size"] == 2


def test_gan_numbers(results):
    d = results("gan").data
    assert d["classifier_test_accuracy"] > 0.5
    assert d["real_test_quality"]["classes_covered"] >= 8
    for label in ("MLP GAN", "DCGAN"):
        r = d["results"][label]
        assert len(r["d_loss"]) == len(r["g_loss"]) == d["hyperparameters"]["epochs"]
        assert np.all(np.isfinite(r["d_loss"])) and np.all(np.isfinite(r["g_loss"]))
        q = r["quality"][-1]
        assert 0.1 <= q["mean_confidence"] <= 1 and 1 <= q["classes_covered"] <= 10
        assert sum(q["class_counts"]) == d["hyperparameters"]["quality_samples"]
