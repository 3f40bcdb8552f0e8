"""Boltzmann machines: the fully connected one (Ackley, Hinton and Sejnowski, "A learning
algorithm for Boltzmann machines", 1985) and the restricted one (Smolensky, 1986; trained with
contrastive divergence, Hinton 2002, or persistent CD, Tieleman 2008).

Sampling is NumPy; the learning rules are gradient steps, taken with lamina's autograd and
``lamina.optim.SGD`` on a surrogate whose gradient is the rule: for the RBM,
``mean F(v_data) - mean F(v_model)`` with the model samples held fixed (its gradient is
``<v h>_model - <v h>_data``, the negative CD estimate of the log-likelihood gradient);
for the Boltzmann machine, the same with the energy of clamped and free samples.
Parameters are float64, like scikit-learn's ``BernoulliRBM``.
"""

from __future__ import annotations

import itertools

import numpy as np

from lamina import nn, optim
from lamina.errors import LaminaValueError
from lamina.models._checks import (
    as_binary,
    as_matrix,
    as_unit,
    check_choice,
    check_float,
    check_int,
    make_rng,
    sigmoid,
    softplus,
)
from lamina.ops.nn import softplus as softplus_t
from lamina.tensor import Tensor

__all__ = ["RBM", "BoltzmannMachine"]


def _t(a: np.ndarray) -> Tensor:
    return Tensor(np.ascontiguousarray(a, dtype=np.float64))


class RBM(nn.Module):
    """A restricted Boltzmann machine: visible units ``v``, hidden units ``h`` in {0, 1}, and
    connections only between the two layers.

    Energy (Bernoulli-Bernoulli, ``visible="bernoulli"``, ``v`` in {0, 1})::

        E(v, h) = -v . v_bias - h . h_bias - h^T W v
        F(v)    = -log sum_h exp(-E(v, h)) = -v . v_bias - sum_j softplus(h_bias_j + W_j . v)

    and for real inputs (Gaussian-Bernoulli, ``visible="gaussian"``, unit variance: standardize
    the data first) ``E = ||v - v_bias||^2 / 2 - h . h_bias - h^T W v``, so
    ``v | h ~ N(v_bias + W^T h, I)``. Bernoulli units accept probabilities in [0, 1] as data
    (as scikit-learn does, and as a DBN feeds its upper layers).
    ``p(h_j = 1 | v) = sigmoid(h_bias_j + W_j . v)`` in both.

    ``weight`` (n_hidden, n_visible), ``h_bias`` and ``v_bias`` are scikit-learn's
    ``components_``, ``intercept_hidden_`` and ``intercept_visible_``; initialization is also
    scikit-learn's (``N(0, 0.01)`` weights, zero biases).

    Args:
        n_visible, n_hidden: the layer sizes.
        visible: ``"bernoulli"`` or ``"gaussian"``.
        seed: the weight initialization's seed (None: lamina's global generator).

    >>> rbm = RBM(64, 32)
    >>> errors = rbm.fit(x_binary, epochs=10, lr=0.05, batch_size=10, method="pcd")
    >>> rbm.pseudo_likelihood(x_binary).mean()
    """

    def __init__(self, n_visible: int, n_hidden: int, visible: str = "bernoulli", seed=None):
        super().__init__()
        self.n_visible = check_int("RBM", "n_visible", n_visible)
        self.n_hidden = check_int("RBM", "n_hidden", n_hidden)
        self.visible = check_choice("RBM", "visible", visible, ("bernoulli", "gaussian"))
        rng = make_rng("RBM", seed)
        self.weight = nn.Parameter(rng.normal(0, 0.01, (self.n_hidden, self.n_visible)))
        self.h_bias = nn.Parameter(np.zeros(self.n_hidden))
        self.v_bias = nn.Parameter(np.zeros(self.n_visible))
        self._chain: np.ndarray | None = None           # PCD's persistent hidden samples

    @classmethod
    def from_sklearn(cls, estimator) -> RBM:
        """An RBM holding a fitted ``sklearn.neural_network.BernoulliRBM``'s weights."""
        if not hasattr(estimator, "components_"):
            raise LaminaValueError("RBM.from_sklearn: estimator must be a fitted BernoulliRBM "
                                   "(it has no components_)")
        n_hidden, n_visible = estimator.components_.shape
        rbm = cls(n_visible, n_hidden, seed=0)
        rbm.weight._data[...] = estimator.components_
        rbm.h_bias._data[...] = estimator.intercept_hidden_
        rbm.v_bias._data[...] = estimator.intercept_visible_
        return rbm

    # --- conditionals and sampling (NumPy) ----------------------------------------------
    def _v(self, owner: str, v, name: str = "v") -> np.ndarray:
        if self.visible == "bernoulli":
            return as_unit(owner, name, v, self.n_visible)
        return as_matrix(owner, name, v, self.n_visible)

    def _h_prob(self, v: np.ndarray) -> np.ndarray:
        return sigmoid(v @ self.weight._data.T + self.h_bias._data)

    def _v_mean(self, h: np.ndarray) -> np.ndarray:
        z = h @ self.weight._data + self.v_bias._data
        return sigmoid(z) if self.visible == "bernoulli" else z

    def _v_sample(self, h: np.ndarray, rng) -> np.ndarray:
        m = self._v_mean(h)
        if self.visible == "bernoulli":
            return (rng.random(m.shape) < m).astype(np.float64)
        return m + rng.standard_normal(m.shape)

    def hidden_probs(self, v) -> np.ndarray:
        """``p(h = 1 | v)`` for each row of ``v`` (B, n_visible); shape (B, n_hidden). This
        is the feature map a DBN stacks."""
        return self._h_prob(self._v("RBM.hidden_probs", v))

    def visible_mean(self, h) -> np.ndarray:
        """``E[v | h]`` for hidden states ``h`` (B, n_hidden)."""
        return self._v_mean(as_matrix("RBM.visible_mean", "h", h, self.n_hidden))

    def forward(self, input) -> Tensor:
        """``p(h = 1 | v)`` as a Tensor (B, n_hidden)."""
        return Tensor(self.hidden_probs(input))

    def reconstruct(self, v) -> np.ndarray:
        """The mean-field reconstruction ``E[v | h = p(h | v)]``."""
        return self._v_mean(self._h_prob(self._v("RBM.reconstruct", v)))

    def reconstruction_error(self, v) -> float:
        """The mean squared difference between ``v`` and its reconstruction."""
        v = self._v("RBM.reconstruction_error", v)
        return float(np.mean((v - self._v_mean(self._h_prob(v))) ** 2))

    def gibbs(self, v, steps: int = 1, seed=None) -> np.ndarray:
        """``steps`` rounds of block Gibbs sampling ``h ~ p(h|v)``, ``v ~ p(v|h)`` from
        ``v`` (B, n_visible); returns the last visible samples."""
        v = self._v("RBM.gibbs", v)
        steps = check_int("RBM.gibbs", "steps", steps)
        rng = make_rng("RBM.gibbs", seed)
        for _ in range(steps):
            h = (rng.random((len(v), self.n_hidden)) < self._h_prob(v)).astype(np.float64)
            v = self._v_sample(h, rng)
        return v

    def sample(self, n: int, steps: int = 1000, seed=None) -> np.ndarray:
        """``n`` visible samples after ``steps`` Gibbs rounds from random starts."""
        n = check_int("RBM.sample", "n", n)
        rng = make_rng("RBM.sample", seed)
        if self.visible == "bernoulli":
            v0 = (rng.random((n, self.n_visible)) < 0.5).astype(np.float64)
        else:
            v0 = rng.standard_normal((n, self.n_visible))
        return self.gibbs(v0, steps, seed=rng)

    # --- free energy and likelihood -------------------------------------------------------
    def free_energy(self, v) -> np.ndarray:
        """``F(v)`` for each row of ``v``: ``-log sum_h exp(-E(v, h))``; shape (B,)."""
        v = self._v("RBM.free_energy", v)
        hidden = softplus(v @ self.weight._data.T + self.h_bias._data).sum(axis=1)
        if self.visible == "bernoulli":
            return -v @ self.v_bias._data - hidden
        return 0.5 * np.sum((v - self.v_bias._data) ** 2, axis=1) - hidden

    def _free_energy_t(self, v: Tensor) -> Tensor:
        """``F(v)`` in lamina ops (differentiable in the parameters)."""
        hidden = softplus_t(v @ self.weight.T + self.h_bias).sum(dim=1)
        if self.visible == "bernoulli":
            return -(v @ self.v_bias) - hidden
        return 0.5 * ((v - self.v_bias) ** 2).sum(dim=1) - hidden

    def pseudo_likelihood(self, v, exact: bool = True, seed=None) -> np.ndarray:
        """The log pseudo-likelihood ``sum_i log p(v_i | v_-i)`` of each binary row of ``v``.

        ``p(v_i | v_-i) = sigmoid(F(v with bit i flipped) - F(v))``. ``exact=True`` sums over
        all bits; ``exact=False`` is scikit-learn's ``score_samples`` estimate, ``n_visible``
        times the term of one bit drawn at random per row (from ``seed``), so two models
        scored with the same seed see the same bits.
        """
        if self.visible != "bernoulli":
            raise LaminaValueError("RBM.pseudo_likelihood: defined for Bernoulli visible units, "
                                   "this RBM is gaussian")
        v = as_binary("RBM.pseudo_likelihood", "v", v, self.n_visible)
        fe = self.free_energy(v)
        b, d = v.shape
        if exact:
            flipped = np.repeat(v, d, axis=0)                    # row r*d + i flips bit i
            idx = np.arange(b * d)
            flipped[idx, idx % d] = 1 - flipped[idx, idx % d]
            fe_flip = self.free_energy(flipped).reshape(b, d)
            return -np.logaddexp(0, -(fe_flip - fe[:, None])).sum(axis=1)
        rng = make_rng("RBM.pseudo_likelihood", seed)
        bits = rng.integers(0, d, b)
        flipped = v.copy()
        flipped[np.arange(b), bits] = 1 - flipped[np.arange(b), bits]
        return -d * np.logaddexp(0, -(self.free_energy(flipped) - fe))

    # --- learning ---------------------------------------------------------------------------
    def fit(self, x, epochs: int = 10, lr: float = 0.1, batch_size: int = 10,
            method: str = "cd", k: int = 1, seed=None, weight_decay: float = 0.0,
            momentum: float = 0.0, on_epoch=None) -> list[float]:
        """Train on the rows of ``x`` with contrastive divergence.

        Each mini-batch takes one SGD step on ``mean F(v_data) - mean F(v_neg)`` (samples held
        fixed), i.e. ``W += lr * (<h v>_data - <h v>_neg)`` with ``h`` the hidden
        probabilities, scikit-learn's update. ``v_neg``:

        * ``method="cd"`` (CD-k): ``k`` Gibbs rounds started at the data's hidden samples;
        * ``method="pcd"`` (persistent CD): ``k`` Gibbs rounds continuing persistent chains
          (one per batch row, kept between batches and ``fit`` calls, as scikit-learn's
          ``h_samples_``; they start at zero hidden units).

        Args:
            x: training data (N, n_visible), binary for Bernoulli visible units.
            epochs, lr, batch_size, k: as named; ``momentum``, ``weight_decay`` go to SGD.
            seed: for the shuffling and the sampling.
            on_epoch: called as ``on_epoch(epoch, rbm)`` after each epoch.

        Returns:
            the reconstruction error (``reconstruction_error``) after each epoch.
        """
        owner = "RBM.fit"
        x = self._v(owner, x, "x")
        epochs = check_int(owner, "epochs", epochs)
        lr = check_float(owner, "lr", lr)
        batch_size = check_int(owner, "batch_size", batch_size)
        check_choice(owner, "method", method, ("cd", "pcd"))
        k = check_int(owner, "k", k)
        rng = make_rng(owner, seed)
        opt = optim.SGD([self.weight, self.h_bias, self.v_bias], lr=lr, momentum=momentum,
                        weight_decay=check_float(owner, "weight_decay", weight_decay, 0.0,
                                                 strict=False))
        if method == "pcd" and (self._chain is None or self._chain.shape[0] != batch_size):
            self._chain = np.zeros((batch_size, self.n_hidden))
        errors = []
        for epoch in range(epochs):
            order = rng.permutation(len(x))
            for start in range(0, len(x), batch_size):
                v_pos = x[order[start:start + batch_size]]
                if method == "pcd":
                    h = self._chain[:len(v_pos)]
                else:
                    h = (rng.random((len(v_pos), self.n_hidden))
                         < self._h_prob(v_pos)).astype(np.float64)
                for _ in range(k):
                    v_neg = self._v_sample(h, rng)
                    h = (rng.random(h.shape) < self._h_prob(v_neg)).astype(np.float64)
                if method == "pcd":
                    self._chain[:len(v_pos)] = h
                opt.zero_grad()
                # d/dW of this = <h v>_neg - <h v>_data (h = p(h|v)): the CD update
                loss = (self._free_energy_t(_t(v_pos)).mean()
                        - self._free_energy_t(_t(v_neg)).mean())
                loss.backward()
                opt.step()
            errors.append(self.reconstruction_error(x))
            if on_epoch is not None:
                on_epoch(epoch + 1, self)
        return errors

    def extra_repr(self) -> str:
        return f"n_visible={self.n_visible}, n_hidden={self.n_hidden}, visible={self.visible!r}"


class BoltzmannMachine(nn.Module):
    """A fully connected Boltzmann machine: binary units ``s`` (the first ``n_visible``
    visible, the rest hidden) with symmetric weights ``W`` (zero diagonal) and biases::

        E(s) = -1/2 s^T W s - b . s,    p(s_i = 1 | s_-i) = sigmoid(sum_j W_ij s_j + b_i)

    Learning (``fit``) is the Boltzmann machine rule
    ``dW = lr * (<s s^T>_clamped - <s s^T>_free)``: the clamped statistics from Gibbs sampling
    the hidden units with the visible ones fixed to the data, the free statistics from
    persistent Gibbs chains over all units. ``log_prob`` and ``distribution`` are exact (by
    enumerating all ``2^n`` states), for nets of at most 20 units.

    Args:
        n_visible: visible units (>= 1); n_hidden: hidden units (>= 0).
        seed: the weight initialization's seed.

    >>> bm = BoltzmannMachine(4, 2, seed=0)
    >>> bm.fit([[1, 1, 0, 0], [0, 0, 1, 1]], epochs=200)
    """

    MAX_EXACT_UNITS = 20

    def __init__(self, n_visible: int, n_hidden: int = 0, seed=None):
        super().__init__()
        self.n_visible = check_int("BoltzmannMachine", "n_visible", n_visible)
        self.n_hidden = check_int("BoltzmannMachine", "n_hidden", n_hidden, 0)
        n = self.n_visible + self.n_hidden
        rng = make_rng("BoltzmannMachine", seed)
        w = rng.normal(0, 0.01, (n, n))
        w = np.triu(w, 1)
        self.weight = nn.Parameter(w + w.T)
        self.bias = nn.Parameter(np.zeros(n))
        self._chains: np.ndarray | None = None

    @property
    def n_units(self) -> int:
        return self.n_visible + self.n_hidden

    def energy(self, states) -> np.ndarray:
        """``E(s)`` for each row of ``states`` (B, n_units) of 0/1."""
        s = as_binary("BoltzmannMachine.energy", "states", states, self.n_units)
        return -0.5 * np.einsum("bi,ij,bj->b", s, self.weight._data, s) - s @ self.bias._data

    def _energy_t(self, s: Tensor) -> Tensor:
        return -0.5 * ((s @ self.weight) * s).sum(dim=1) - s @ self.bias

    def _sweep(self, s: np.ndarray, units, rng) -> None:
        """One sequential Gibbs sweep over ``units`` of the states ``s`` (in place)."""
        w, b = self.weight._data, self.bias._data
        for i in units:
            p = sigmoid(s @ w[:, i] + b[i])
            s[:, i] = rng.random(len(s)) < p

    def gibbs(self, states, sweeps: int = 1, clamp_visible: bool = False,
              seed=None) -> np.ndarray:
        """``sweeps`` sequential Gibbs sweeps (units in a random order each sweep) from
        ``states`` (B, n_units); with ``clamp_visible`` only the hidden units change."""
        s = as_binary("BoltzmannMachine.gibbs", "states", states, self.n_units).copy()
        sweeps = check_int("BoltzmannMachine.gibbs", "sweeps", sweeps)
        rng = make_rng("BoltzmannMachine.gibbs", seed)
        first = self.n_visible if clamp_visible else 0
        for _ in range(sweeps):
            self._sweep(s, first + rng.permutation(self.n_units - first), rng)
        return s

    def sample(self, n: int, sweeps: int = 100, seed=None) -> np.ndarray:
        """``n`` visible samples after ``sweeps`` Gibbs sweeps from random states."""
        n = check_int("BoltzmannMachine.sample", "n", n)
        rng = make_rng("BoltzmannMachine.sample", seed)
        s0 = (rng.random((n, self.n_units)) < 0.5).astype(np.float64)
        return self.gibbs(s0, sweeps, seed=rng)[:, :self.n_visible]

    def distribution(self) -> tuple[np.ndarray, np.ndarray]:
        """Every visible configuration (2^n_visible, n_visible) and its exact probability,
        marginalizing the hidden units."""
        n = self.n_units
        if n > self.MAX_EXACT_UNITS:
            raise LaminaValueError(f"BoltzmannMachine.distribution: exact enumeration needs at "
                                   f"most "
                                   f"{self.MAX_EXACT_UNITS} units, this machine has {n}")
        states = np.array(list(itertools.product([0.0, 1.0], repeat=n)))
        logits = -self.energy(states)
        log_z = np.logaddexp.reduce(logits)
        vis = states[:, :self.n_visible]
        codes = vis @ (2 ** np.arange(self.n_visible)[::-1])
        probs = np.zeros(2 ** self.n_visible)
        np.add.at(probs, codes.astype(int), np.exp(logits - log_z))
        configs = np.array(list(itertools.product([0.0, 1.0], repeat=self.n_visible)))
        return configs, probs

    def log_prob(self, v) -> np.ndarray:
        """The exact ``log p(v)`` of each visible row (small machines only)."""
        v = as_binary("BoltzmannMachine.log_prob", "v", v, self.n_visible)
        _, probs = self.distribution()
        codes = (v @ (2 ** np.arange(self.n_visible)[::-1])).astype(int)
        return np.log(probs[codes])

    def fit(self, x, epochs: int = 100, lr: float = 0.05, sweeps: int = 5,
            n_chains: int = 100, seed=None) -> list[float]:
        """Full-batch Boltzmann learning on the binary rows of ``x`` (N, n_visible).

        Each epoch: clamp the data, ``sweeps`` Gibbs sweeps of the hidden units; run the
        persistent free chains ``sweeps`` sweeps; one SGD step on
        ``mean E(clamped) - mean E(free)``, whose gradient in ``W`` is
        ``<s s^T>_free - <s s^T>_clamped`` (the symmetric part; the diagonal is held at 0).

        Returns:
            the mean exact log-likelihood of ``x`` after each epoch when the machine has at
            most 20 units, else an empty list.
        """
        owner = "BoltzmannMachine.fit"
        v = as_binary(owner, "x", x, self.n_visible)
        epochs = check_int(owner, "epochs", epochs)
        lr = check_float(owner, "lr", lr)
        sweeps = check_int(owner, "sweeps", sweeps)
        n_chains = check_int(owner, "n_chains", n_chains)
        rng = make_rng(owner, seed)
        if self._chains is None or len(self._chains) != n_chains:
            self._chains = (rng.random((n_chains, self.n_units)) < 0.5).astype(np.float64)
        opt = optim.SGD([self.weight, self.bias], lr=lr)
        mask = 1.0 - np.eye(self.n_units)
        history = []
        for _ in range(epochs):
            clamped = np.concatenate([v, (rng.random((len(v), self.n_hidden)) < 0.5)], axis=1)
            clamped = clamped.astype(np.float64)
            first = self.n_visible
            for _ in range(sweeps):
                if self.n_hidden:
                    self._sweep(clamped, first + rng.permutation(self.n_hidden), rng)
                self._sweep(self._chains, rng.permutation(self.n_units), rng)
            opt.zero_grad()
            loss = self._energy_t(_t(clamped)).mean() - self._energy_t(_t(self._chains)).mean()
            loss.backward()
            self.weight.grad._data[...] *= mask                     # no self-connections
            opt.step()
            if self.n_units <= self.MAX_EXACT_UNITS:
                history.append(float(self.log_prob(v).mean()))
        return history

    def extra_repr(self) -> str:
        return f"n_visible={self.n_visible}, n_hidden={self.n_hidden}"
