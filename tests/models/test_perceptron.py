"""Perceptron: Novikoff's convergence bound on a constructed margin set, never on XOR."""

import numpy as np
import pytest

from lamina.models import Perceptron


def margin_set(n=200, gamma=0.2, seed=0):
    """Points whose distance to a known unit-norm separator (w*, b*) in the augmented space
    (x, 1) is at least gamma; labels by its side."""
    rng = np.random.default_rng(seed)
    u = np.array([1.0, -2.0, 0.5])
    u /= np.linalg.norm(u)
    x = rng.uniform(-2, 2, size=(20 * n, 2))
    s = np.c_[x, np.ones(len(x))] @ u
    keep = np.abs(s) >= gamma
    x, s = x[keep][:n], s[keep][:n]
    return x, (s > 0).astype(int), u


@pytest.mark.parametrize("lr", [1.0, 0.1])
def test_converges_within_novikoff_bound(lr):
    x, y, u = margin_set()
    xa = np.c_[x, np.ones(len(x))]
    gamma = np.min(np.abs(xa @ u))
    radius = np.max(np.linalg.norm(xa, axis=1))
    p = Perceptron(2, lr=lr)
    mistakes = p.fit(x, y, epochs=1000, seed=0)
    assert mistakes[-1] == 0
    assert sum(mistakes) <= (radius / gamma) ** 2
    assert np.array_equal(p.predict(x), y)


def test_never_converges_on_xor():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    y = np.array([0, 1, 1, 0])
    mistakes = Perceptron(2).fit(x, y, epochs=500, seed=0)
    assert len(mistakes) == 500 and min(mistakes) > 0


def test_forward_state_dict_and_errors():
    p = Perceptron(2)
    p.fit([[0, 0], [0, 1], [1, 0], [1, 1]], [0, 0, 0, 1], seed=0)
    out = p(np.array([[1.0, 1.0], [0.0, 0.0]]))
    assert out.numpy().tolist() == [1.0, 0.0]
    q = Perceptron(2)
    q.load_state_dict(p.state_dict())
    assert np.array_equal(q.weight.numpy(), p.weight.numpy())
    with pytest.raises(ValueError, match="Perceptron: in_features"):
        Perceptron(0)
    with pytest.raises(ValueError, match="Perceptron: lr"):
        Perceptron(2, lr=-1)
    with pytest.raises(ValueError, match="Perceptron.fit: y must hold only"):
        p.fit([[0, 0]], [2])
    with pytest.raises(ValueError, match="Perceptron.fit: x must have 2 columns"):
        p.fit([[0, 0, 0]], [1])
