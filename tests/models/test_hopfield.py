"""HopfieldNetwork: storage rules, energy descent, recall and the 0.138 N Hebbian capacity
(Amit, Gutfreund and Sompolinsky, 1985)."""

import numpy as np
import pytest

from lamina.models import HopfieldNetwork
from lamina.models.hopfield import HEBBIAN_CAPACITY, corrupt

N = 100


def patterns(p, seed=0):
    return np.random.default_rng(seed).choice([-1.0, 1.0], size=(p, N))


@pytest.mark.parametrize("rule", ["hebbian", "pseudo-inverse"])
def test_weights_symmetric_and_patterns_fixed_points_at_low_load(rule):
    x = patterns(5)
    net = HopfieldNetwork(N).store(x, rule)
    w = net.weight.numpy()
    assert np.allclose(w, w.T)
    if rule == "hebbian":
        assert np.all(np.diag(w) == 0)
    else:                                   # a projection: W X^T = X^T
        assert np.allclose(w @ x.T, x.T, atol=1e-10)
    assert np.array_equal(net(x), x)


@pytest.mark.parametrize("rule", ["hebbian", "pseudo-inverse"])
def test_energy_never_increases_under_async_updates(rule):
    x = patterns(20, seed=1)
    net = HopfieldNetwork(N).store(x, rule)
    start = np.random.default_rng(2).choice([-1.0, 1.0], size=(8, N))
    _, energies = net.recall(start, mode="async", seed=0, return_energies=True)
    assert np.all(np.diff(energies, axis=0) <= 1e-9)
    assert np.all(energies[-1] < energies[0])


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_recalls_corrupted_patterns_at_low_load(mode):
    x = patterns(5, seed=3)
    net = HopfieldNetwork(N).store(x)
    rng = np.random.default_rng(0)
    out = net.recall(corrupt(x, 0.1, rng), mode=mode, seed=0)
    assert np.array_equal(out, x)


def test_hebbian_recall_collapses_past_capacity_pseudo_inverse_does_not():
    assert HEBBIAN_CAPACITY == 0.138
    low, high = int(0.05 * N), int(0.4 * N)           # well below and well above 0.138 N
    kw = dict(noise=0.05, min_overlap=0.95, seed=0)
    assert HopfieldNetwork(N).store(patterns(low)).recall_rate(patterns(low), **kw) == 1.0
    assert HopfieldNetwork(N).store(patterns(high)).recall_rate(patterns(high), **kw) <= 0.2
    mid = 25
    net = HopfieldNetwork(N).store(patterns(mid), "pseudo-inverse")
    assert net.recall_rate(patterns(mid), **kw) >= 0.9


def test_errors_name_the_method():
    net = HopfieldNetwork(4)
    with pytest.raises(ValueError, match="HopfieldNetwork: n_neurons"):
        HopfieldNetwork(0)
    with pytest.raises(ValueError, match="HopfieldNetwork.store: patterns must hold only -1"):
        net.store([[0, 1, 1, 1]])
    with pytest.raises(ValueError, match="HopfieldNetwork.store: patterns must have 4 col"):
        net.store([[1, 1, 1]])
    with pytest.raises(ValueError, match="HopfieldNetwork.store: rule must be one of"):
        net.store([[1, 1, 1, 1]], rule="oja")
    with pytest.raises(ValueError, match="HopfieldNetwork.recall: mode"):
        net.recall([[1, 1, 1, 1]], mode="fast")
    with pytest.raises(ValueError, match="HopfieldNetwork.recall_rate: noise"):
        net.recall_rate([[1, 1, 1, 1]], noise=2.0)
