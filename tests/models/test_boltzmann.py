"""RBM and BoltzmannMachine: free energy against enumeration and against scikit-learn's
formula, Gibbs sampling against the exact distribution, CD-k / PCD learning, and a
pseudo-likelihood comparable to scikit-learn's BernoulliRBM on the same data and
hyperparameters."""

import itertools

import numpy as np
import pytest

from lamina.models import RBM, BoltzmannMachine


def digits_binary():
    datasets = pytest.importorskip("sklearn.datasets")
    return (datasets.load_digits().data / 16 > 0.5).astype(np.float64)


def small_rbm(visible="bernoulli", seed=0):
    rbm = RBM(5, 3, visible=visible, seed=seed)
    rng = np.random.default_rng(seed)
    rbm.weight._data[...] = rng.normal(0, 1, (3, 5))
    rbm.h_bias._data[...] = rng.normal(0, 1, 3)
    rbm.v_bias._data[...] = rng.normal(0, 1, 5)
    return rbm


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_free_energy_is_minus_log_sum_over_hidden_states(visible):
    rbm = small_rbm(visible)
    rng = np.random.default_rng(1)
    v = (rng.random((4, 5)) < 0.5).astype(float) if visible == "bernoulli" else \
        rng.normal(0, 1, (4, 5))
    w, c, b = rbm.weight._data, rbm.h_bias._data, rbm.v_bias._data
    hs = np.array(list(itertools.product([0.0, 1.0], repeat=3)))
    vis = v @ b if visible == "bernoulli" else -0.5 * np.sum((v - b) ** 2, axis=1)
    neg_e = vis[:, None] + (hs @ c)[None, :] + v @ w.T @ hs.T          # -E(v, h)
    want = -np.logaddexp.reduce(neg_e, axis=1)
    np.testing.assert_allclose(rbm.free_energy(v), want, rtol=1e-12, atol=1e-12)


def test_gibbs_samples_follow_the_exact_distribution():
    rbm = small_rbm()
    vs = np.array(list(itertools.product([0.0, 1.0], repeat=5)))
    p = np.exp(-rbm.free_energy(vs))
    p /= p.sum()
    samples = rbm.sample(4000, steps=30, seed=0)
    codes = (samples @ (2 ** np.arange(5)[::-1])).astype(int)
    freq = np.bincount(codes, minlength=32) / len(codes)
    assert 0.5 * np.abs(freq - p).sum() < 0.06            # total variation distance


def test_pseudo_likelihood_exact_is_the_sum_of_every_bits_term():
    rbm = small_rbm()
    v = (np.random.default_rng(2).random((6, 5)) < 0.5).astype(float)
    fe = rbm.free_energy(v)
    total = np.zeros(6)
    for i in range(5):
        f = v.copy()
        f[:, i] = 1 - f[:, i]
        total += -np.log1p(np.exp(-(rbm.free_energy(f) - fe)))
    np.testing.assert_allclose(rbm.pseudo_likelihood(v), total, rtol=1e-12)
    # the stochastic estimate is unbiased: its mean over seeds approaches the exact one
    est = np.mean([rbm.pseudo_likelihood(v, exact=False, seed=s) for s in range(400)], axis=0)
    np.testing.assert_allclose(est, total, rtol=0.15)


def test_free_energy_equals_sklearns_on_sklearns_weights():
    neural = pytest.importorskip("sklearn.neural_network")
    x = digits_binary()[:300]
    sk = neural.BernoulliRBM(n_components=16, learning_rate=0.05, batch_size=10, n_iter=2,
                             random_state=0).fit(x)
    ours = RBM.from_sklearn(sk)
    np.testing.assert_allclose(ours.free_energy(x), sk._free_energy(x), rtol=1e-10)
    np.testing.assert_allclose(ours.hidden_probs(x), sk.transform(x), rtol=1e-10)


def test_pseudo_likelihood_comparable_to_sklearn_bernoulli_rbm():
    """Same binarized digits, n_components, learning_rate, batch_size and n_iter; both scored
    with the exact pseudo-likelihood (all 64 bits) on the fitted weights."""
    neural = pytest.importorskip("sklearn.neural_network")
    x = digits_binary()
    hp = dict(n_components=32, learning_rate=0.05, batch_size=10, n_iter=5)
    sk = neural.BernoulliRBM(random_state=0, **hp).fit(x)
    ours = RBM(64, hp["n_components"], seed=0)
    ours.fit(x, epochs=hp["n_iter"], lr=hp["learning_rate"], batch_size=hp["batch_size"],
             method="pcd", k=1, seed=0)                 # BernoulliRBM is PCD-1
    pl_sk = RBM.from_sklearn(sk).pseudo_likelihood(x).mean()
    pl_ours = ours.pseudo_likelihood(x).mean()
    pl_init = RBM(64, hp["n_components"], seed=0).pseudo_likelihood(x).mean()
    assert pl_ours > pl_init + 15 and pl_sk > pl_init + 15          # both learned (-44 -> -20)
    assert abs(pl_ours - pl_sk) < 0.1 * abs(pl_sk)                   # and comparably well


@pytest.mark.parametrize("method,k", [("cd", 1), ("cd", 3), ("pcd", 1)])
def test_contrastive_divergence_lowers_reconstruction_error(method, k):
    x = digits_binary()[:400]
    rbm = RBM(64, 24, seed=0)
    before = rbm.reconstruction_error(x)
    errors = rbm.fit(x, epochs=3, lr=0.05, batch_size=20, method=method, k=k, seed=0)
    assert errors[-1] < 0.8 * before


def test_cd_step_is_sklearns_update():
    """One batch: the autograd step on F(v_data) - F(v_neg) is W += lr (h_d v_d - h_n v_n)/B.
    With k=1 PCD from zero hidden chains, v_neg ~ p(v | h=0) is reproducible from the seed."""
    x = digits_binary()[:10]
    rbm = RBM(64, 8, seed=0)
    w0, c0, b0 = rbm.weight._data.copy(), rbm.h_bias._data.copy(), rbm.v_bias._data
    b0 = b0.copy()
    rng = np.random.default_rng(5)
    rbm.fit(x, epochs=1, lr=0.1, batch_size=10, method="pcd", seed=rng)
    rng = np.random.default_rng(5)
    order = rng.permutation(10)
    v_pos = x[order]
    v_neg = (rng.random((10, 64)) < 1 / (1 + np.exp(-b0))).astype(float)
    sig = lambda z: 1 / (1 + np.exp(-z))                                  # noqa: E731
    h_pos, h_neg = sig(v_pos @ w0.T + c0), sig(v_neg @ w0.T + c0)
    np.testing.assert_allclose(rbm.weight._data,
                               w0 + 0.1 * (h_pos.T @ v_pos - h_neg.T @ v_neg) / 10, atol=1e-12)
    np.testing.assert_allclose(rbm.v_bias._data, b0 + 0.1 * (v_pos - v_neg).mean(0),
                               atol=1e-12)


def test_gaussian_bernoulli_rbm_learns_real_data():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 2, (3, 6))
    x = centres[rng.integers(0, 3, 600)] + 0.3 * rng.normal(size=(600, 6))
    x = (x - x.mean(0)) / x.std(0)
    rbm = RBM(6, 8, visible="gaussian", seed=0)
    before = rbm.reconstruction_error(x)
    errors = rbm.fit(x, epochs=10, lr=0.05, batch_size=20, method="cd", seed=0)
    assert errors[-1] < 0.5 * before
    with pytest.raises(ValueError, match="RBM.pseudo_likelihood: defined for Bernoulli"):
        rbm.pseudo_likelihood(x)


def test_boltzmann_machine_gibbs_matches_exact_distribution():
    bm = BoltzmannMachine(3, 1, seed=0)
    rng = np.random.default_rng(0)
    w = np.triu(rng.normal(0, 1, (4, 4)), 1)
    bm.weight._data[...] = w + w.T
    bm.bias._data[...] = rng.normal(0, 1, 4)
    configs, p = bm.distribution()
    assert np.isclose(p.sum(), 1.0)
    samples = bm.sample(3000, sweeps=20, seed=0)
    codes = (samples @ (2 ** np.arange(3)[::-1])).astype(int)
    freq = np.bincount(codes, minlength=8) / len(codes)
    assert 0.5 * np.abs(freq - p).sum() < 0.05


def test_boltzmann_machine_learns_two_patterns():
    x = np.array([[1, 1, 0, 0], [0, 0, 1, 1]] * 5, float)
    bm = BoltzmannMachine(4, 2, seed=0)
    history = bm.fit(x, epochs=150, lr=0.1, sweeps=3, n_chains=100, seed=0)
    assert history[-1] > history[0] + 1.0
    _, p = bm.distribution()
    assert p[0b1100] + p[0b0011] > 0.5                          # uniform would give 0.125
    w = bm.weight._data
    assert np.allclose(w, w.T) and np.all(np.diag(w) == 0)


def test_errors_name_the_method():
    with pytest.raises(ValueError, match="RBM: n_hidden"):
        RBM(4, 0)
    with pytest.raises(ValueError, match="RBM: visible must be one of"):
        RBM(4, 2, visible="poisson")
    rbm = RBM(4, 2, seed=0)
    with pytest.raises(ValueError, match=r"RBM.fit: x must lie in \[0, 1\]"):
        rbm.fit([[1.5, 0, 0, 1]])
    with pytest.raises(ValueError, match="RBM.pseudo_likelihood: v must hold only 0 and 1"):
        rbm.pseudo_likelihood([[0.5, 0, 0, 1]])
    with pytest.raises(ValueError, match="RBM.fit: method must be one of"):
        rbm.fit([[0, 0, 0, 1]], method="pt")
    with pytest.raises(ValueError, match="RBM.free_energy: v must have 4 columns"):
        rbm.free_energy([[0, 1]])
    with pytest.raises(ValueError, match="RBM.from_sklearn: estimator must be a fitted"):
        RBM.from_sklearn(object())
    with pytest.raises(ValueError, match="BoltzmannMachine.distribution: exact enumeration"):
        BoltzmannMachine(15, 10, seed=0).distribution()
    with pytest.raises(ValueError, match="BoltzmannMachine.fit: x must have 3 columns"):
        BoltzmannMachine(3, seed=0).fit([[1, 0]])
