"""The Hopfield network (Hopfield, "Neural networks and physical systems with emergent
collective computational abilities", 1982): an associative memory of +-1 patterns."""

from __future__ import annotations

import numpy as np

from lamina import nn
from lamina.errors import LaminaValueError
from lamina.models._checks import (
    as_spins,
    check_choice,
    check_float,
    check_int,
    make_rng,
)
from lamina.tensor import Tensor

__all__ = ["HopfieldNetwork", "HEBBIAN_CAPACITY"]

# Amit, Gutfreund and Sompolinsky, "Storing infinite numbers of patterns in a spin-glass model
# of neural networks", Phys. Rev. Lett. 55 (1985): with the Hebbian rule, recall collapses
# when the number of patterns exceeds about 0.138 N.
HEBBIAN_CAPACITY = 0.138


class HopfieldNetwork(nn.Module):
    """``N`` binary neurons ``s_i in {-1, +1}`` with symmetric weights ``W`` and energy
    ``E(s) = -1/2 s^T W s``.

    Storage rules (``store``):

    * ``"hebbian"``: ``W = (1/N) sum_mu xi^mu xi^mu^T`` with a zero diagonal. Recall breaks
      down above about ``0.138 N`` random patterns (``HEBBIAN_CAPACITY``; Amit, Gutfreund and
      Sompolinsky, 1985).
    * ``"pseudo-inverse"`` (projection rule, Personnaz, Guyon and Dreyfus, 1985):
      ``W = X^+ X`` for the patterns as rows of ``X``, the orthogonal projection onto their
      span, so every stored pattern is a fixed point up to ``N`` linearly independent patterns.
      Its diagonal is kept (non-negative, which keeps the energy non-increasing).

    Recall (``recall``) updates ``s_i <- sign(sum_j W_ij s_j)`` (a zero field keeps ``s_i``):
    ``"async"`` one neuron at a time in a random order (the energy never increases, so it
    reaches a fixed point), or ``"sync"`` all at once (may end in a 2-cycle).

    ``weight`` is a Parameter that does not require grad (``state_dict`` saves it).

    >>> net = HopfieldNetwork(100)
    >>> net.store(patterns)                       # (P, 100) of +-1
    >>> out = net.recall(noisy, mode="async")
    """

    def __init__(self, n_neurons: int):
        super().__init__()
        self.n_neurons = check_int("HopfieldNetwork", "n_neurons", n_neurons)
        self.weight = nn.Parameter(np.zeros((self.n_neurons, self.n_neurons)),
                                   requires_grad=False)

    def store(self, patterns, rule: str = "hebbian") -> HopfieldNetwork:
        """Set the weights so that ``patterns`` (P, N) of +-1 are memories (replacing any
        previous ones); returns ``self``."""
        x = as_spins("HopfieldNetwork.store", "patterns", patterns, self.n_neurons)
        check_choice("HopfieldNetwork.store", "rule", rule, ("hebbian", "pseudo-inverse"))
        n = self.n_neurons
        if rule == "hebbian":
            w = x.T @ x / n
            np.fill_diagonal(w, 0.0)
        else:
            w = np.linalg.pinv(x) @ x                  # projection onto the patterns' span
            w = (w + w.T) / 2                          # exactly symmetric
        self.weight._data[...] = w
        return self

    def energy(self, states) -> np.ndarray:
        """``E(s) = -1/2 s^T W s`` for each row of ``states`` (B, N); shape (B,)."""
        s = as_spins("HopfieldNetwork.energy", "states", states, self.n_neurons)
        return -0.5 * np.einsum("bi,ij,bj->b", s, self.weight._data, s)

    def forward(self, input) -> Tensor:
        """One synchronous update of ``input`` (B, N), as a Tensor (see ``recall`` for the
        dynamics, which return arrays)."""
        s = as_spins("HopfieldNetwork.forward", "input", input, self.n_neurons)
        return Tensor(self._sync_step(s))

    def _sync_step(self, s: np.ndarray) -> np.ndarray:
        h = s @ self.weight._data
        return np.where(h > 0, 1.0, np.where(h < 0, -1.0, s))

    def recall(self, states, mode: str = "async", max_sweeps: int = 100, seed=None,
               return_energies: bool = False):
        """Run the dynamics from ``states`` (B, N) until nothing changes (or ``max_sweeps``).

        Args:
            states: the starting states, +-1.
            mode: ``"async"`` (neurons in a random order, each seeing the latest values) or
                ``"sync"`` (all neurons from the previous state).
            max_sweeps: the most sweeps (one sweep updates every neuron once).
            seed: for the asynchronous update order (int, Generator or None).
            return_energies: also return the energies after every single-neuron update
                (async; shape (updates + 1, B)) or every sweep (sync).

        Returns:
            the final states (B, N) (and the energy trace).
        """
        s = as_spins("HopfieldNetwork.recall", "states", states, self.n_neurons).copy()
        check_choice("HopfieldNetwork.recall", "mode", mode, ("async", "sync"))
        max_sweeps = check_int("HopfieldNetwork.recall", "max_sweeps", max_sweeps)
        rng = make_rng("HopfieldNetwork.recall", seed)
        w = self.weight._data
        trace = [self.energy(s)] if return_energies else None
        for _ in range(max_sweeps):
            if mode == "sync":
                new = self._sync_step(s)
                changed = not np.array_equal(new, s)
                s = new
                if return_energies:
                    trace.append(self.energy(s))
            else:
                changed = False
                for i in rng.permutation(self.n_neurons):
                    h = s @ w[:, i]
                    new = np.where(h > 0, 1.0, np.where(h < 0, -1.0, s[:, i]))
                    if np.any(new != s[:, i]):
                        changed = True
                        s[:, i] = new
                    if return_energies:
                        trace.append(self.energy(s))
            if not changed:
                break
        return (s, np.stack(trace)) if return_energies else s

    def recall_rate(self, patterns, noise: float = 0.0, mode: str = "async",
                    min_overlap: float = 1.0, seed=None) -> float:
        """The fraction of ``patterns`` (P, N) recalled from copies with a fraction ``noise``
        of their bits flipped: a recall counts when the final state's overlap
        ``m = (1/N) s . xi`` is at least ``min_overlap`` (1.0: exact)."""
        x = as_spins("HopfieldNetwork.recall_rate", "patterns", patterns, self.n_neurons)
        noise = check_float("HopfieldNetwork.recall_rate", "noise", noise, 0.0, strict=False)
        if noise > 1:
            raise LaminaValueError(f"HopfieldNetwork.recall_rate: noise must be in [0, 1], "
                                   f"got {noise}")
        rng = make_rng("HopfieldNetwork.recall_rate", seed)
        start = corrupt(x, noise, rng)
        out = self.recall(start, mode=mode, seed=rng)
        overlap = np.mean(out * x, axis=1)
        return float(np.mean(overlap >= min_overlap - 1e-12))

    def extra_repr(self) -> str:
        return f"n_neurons={self.n_neurons}"


def corrupt(patterns: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """A copy of the +-1 ``patterns`` with exactly ``round(noise * N)`` bits of each row
    flipped (chosen at random)."""
    x = np.array(patterns, dtype=np.float64)
    n_flip = int(round(noise * x.shape[1]))
    for row in x:
        row[rng.choice(x.shape[1], n_flip, replace=False)] *= -1
    return x
