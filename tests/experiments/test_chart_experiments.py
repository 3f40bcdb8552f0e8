"""The chart-of-neural-networks experiments (issue #16), each in quick mode: it runs end to
end and its numbers show the lecture's result."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lamina import experiments

CHART = ["perceptron", "rbf", "hopfield", "rbm", "dbn", "markov-chain"]
NEEDS = {"rbm": ["sklearn"], "dbn": ["sklearn"]}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    cache = {}

    def get(name):
        if name not in cache:
            for module in NEEDS.get(name, []):
                pytest.importorskip(module)
            cache[name] = experiments.run(name, seed=0, out_dir=out, quick=True)
        return cache[name]

    return get


def test_registered_after_the_earlier_lectures_with_descriptions():
    names = [name for name, _ in experiments.available()]
    start = names.index(CHART[0])
    assert names[start:start + len(CHART)] == CHART
    for name in CHART:
        assert "lecture" in experiments.describe(name).lower()


@pytest.mark.parametrize("name", CHART)
def test_runs_end_to_end(results, name):
    res = results(name)
    assert res.name == name
    assert res.markdown.startswith("### ") and "|---" in res.markdown
    json.dumps(res.data)
    pytest.importorskip("matplotlib")
    assert res.plot is not None and res.plot.name == f"{name}.png"
    assert res.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_perceptron_converges_on_separable_data_never_on_xor(results):
    runs = results("perceptron").data["runs"]
    sep, xor = runs["separable (margin >= 0.1)"], runs["XOR (4 corners)"]
    assert sep["converged_epoch"] is not None
    assert sep["total_updates"] <= sep["novikoff_bound"]
    assert xor["converged_epoch"] is None and min(xor["mistakes"]) >= 1


def test_rbf_network_fits_both_tasks(results):
    r = results("rbf").data["results"]
    assert r["1-D: RBF network"]["test_mse"] < 0.01
    assert r["XOR: RBF network"]["test_accuracy"] > 0.95
    assert r["XOR: MLP"]["test_accuracy"] > 0.95


def test_hopfield_hebbian_collapses_past_capacity(results):
    d = results("hopfield").data
    loads, heb = np.array(d["loads"]), np.array(d["recall_rate"]["hebbian"])
    pinv = np.array(d["recall_rate"]["pseudo-inverse"])
    assert d["capacity"] == pytest.approx(13.8)
    assert np.all(heb[loads <= 10] >= 0.9)
    assert np.all(heb[loads >= 30] <= 0.3)
    assert np.all(pinv[loads <= 30] >= 0.9)
    assert d["pictures_recalled_exactly"] >= 3


def test_rbm_learns_and_matches_sklearn(results):
    d = results("rbm").data
    pl = d["pseudo_likelihood"]
    for label in ("CD-1", "CD-10", "PCD-1"):
        curve = d["reconstruction_error"][label]
        assert curve[-1] < curve[0]
        assert pl[label] > d["pseudo_likelihood_init"] + 10
    sk = pl["scikit-learn BernoulliRBM"]
    assert abs(pl["PCD-1"] - sk) < 0.1 * abs(sk)


def test_dbn_fine_tunes_both_initializations(results):
    r = results("dbn").data["results"]
    for label in ("RBM pre-trained", "random init"):
        assert r[label]["train_loss"][-1] < r[label]["train_loss"][0]
        assert r[label]["test_accuracy"][-1] > 0.6
    assert r["RBM pre-trained"]["pretrain_reconstruction_error"] is not None


def test_markov_chain_beats_unigram_and_stationary_matches_frequencies(results):
    d = results("markov-chain").data
    held = {a: v[1] for a, v in d["bits_per_char"].items()}
    assert min(held.values()) < d["unigram_bits"][1] < d["uniform_bits"]
    train = [d["bits_per_char"][str(a)][0] for a in d["alphas"]]
    assert np.all(np.diff(train) > 0)              # more smoothing, worse training fit
    np.testing.assert_allclose(d["stationary"], d["frequency"], atol=0.01)
    assert set(d["sample"]) <= set(d["states"])
