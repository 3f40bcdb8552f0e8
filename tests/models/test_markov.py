"""MarkovChain: counts and smoothing, the stationary distribution of a hand-computed 2-state
chain, log-likelihood, sampling frequencies, and a character chain on a text."""

import math

import numpy as np
import pytest

from lamina.models import MarkovChain
from lamina.models.markov import SAMPLE_TEXT

SEQ = [0, 0, 0, 1, 1, 0]        # 0->0 twice, 0->1 once, 1->1 once, 1->0 once


@pytest.mark.parametrize("alpha,p01,p10", [(0.0, 1 / 3, 1 / 2), (1.0, 2 / 5, 2 / 4)])
def test_two_state_chain_by_hand(alpha, p01, p10):
    chain = MarkovChain(alpha=alpha).fit([SEQ])
    np.testing.assert_allclose(chain.transition.data, [[1 - p01, p01], [p10, 1 - p10]])
    # pi P = pi for P = [[1-a, a], [b, 1-b]]: pi = (b, a) / (a + b)
    want = np.array([p10, p01]) / (p01 + p10)
    for method in ("eigen", "power"):
        np.testing.assert_allclose(chain.stationary_distribution(method), want, atol=1e-10)


def test_log_likelihood_by_hand():
    chain = MarkovChain(alpha=0.0).fit([SEQ])
    # initial: state 0 with probability 1; 0->1 (1/3), 1->1 (1/2), 1->0 (1/2)
    assert math.isclose(chain.log_likelihood([0, 1, 1, 0]), math.log(1 / 3 * 1 / 2 * 1 / 2))
    assert chain.log_likelihood([1, 0]) == -math.inf          # never started in 1
    np.testing.assert_allclose(chain([0, 1]), chain.transition.data)


def test_sample_follows_the_transition_matrix():
    p = np.array([[0.1, 0.6, 0.3], [0.5, 0.0, 0.5], [0.2, 0.2, 0.6]])
    rng = np.random.default_rng(0)
    seq = [0]
    for _ in range(20000):
        seq.append(int(rng.choice(3, p=p[seq[-1]])))
    chain = MarkovChain(alpha=0.0).fit([seq])
    np.testing.assert_allclose(chain.transition.data, p, atol=0.02)
    sample = chain.sample(20000, start=0, seed=1)
    refit = MarkovChain(alpha=0.0).fit([sample], states=[0, 1, 2])
    np.testing.assert_allclose(refit.transition.data, p, atol=0.02)
    freq = np.bincount(sample, minlength=3) / len(sample)
    np.testing.assert_allclose(freq, chain.stationary_distribution(), atol=0.02)


def test_character_chain_on_a_text():
    chain = MarkovChain(alpha=0.1).fit([SAMPLE_TEXT])
    k = len(chain.states)
    assert set(chain.states) == set(SAMPLE_TEXT)
    per_char = chain.log_likelihood(SAMPLE_TEXT) / len(SAMPLE_TEXT)
    assert per_char > math.log(1 / k) + 1.0                     # far better than uniform
    text = "".join(chain.sample(200, start="t", seed=0))
    assert len(text) == 200 and set(text) <= set(SAMPLE_TEXT)
    assert chain.log_likelihood(text) / 200 > chain.log_likelihood(
        "".join(np.random.default_rng(0).choice(chain.states, 200))) / 200
    sd = chain.state_dict()
    assert set(sd) == {"transition", "initial"}


def test_errors_name_the_method():
    with pytest.raises(ValueError, match="MarkovChain: alpha"):
        MarkovChain(alpha=-1)
    with pytest.raises(RuntimeError, match="MarkovChain.sample: the chain is not fitted"):
        MarkovChain().sample(3)
    with pytest.raises(ValueError, match="MarkovChain.fit: sequences must be a list"):
        MarkovChain().fit("abc")
    chain = MarkovChain().fit(["abc"])
    with pytest.raises(ValueError, match="MarkovChain.log_likelihood: unknown state 'z'"):
        chain.log_likelihood("az")
    with pytest.raises(ValueError, match="MarkovChain.stationary_distribution: method"):
        chain.stationary_distribution("svd")
    with pytest.raises(ValueError, match="MarkovChain.sample: length"):
        chain.sample(0)
