"""A discrete Markov chain fitted from sequences (Markov, 1913, counted the vowel-consonant
transitions in Pushkin's *Eugene Onegin*; here, the characters of a text)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from lamina import nn
from lamina.errors import LaminaValueError
from lamina.models._checks import check_choice, check_float, check_int, make_rng
from lamina.tensor import Tensor

__all__ = ["MarkovChain", "SAMPLE_TEXT"]

# A paragraph written for lamina (no copyright restrictions: released with lamina's code), so
# the character-level example runs offline.
SAMPLE_TEXT = (
    "a markov chain is a machine that forgets. it remembers only where it stands, and from "
    "there it steps to the next state with a probability that depends on nothing else. to "
    "learn such a chain from a text, count how often each letter follows each other letter, "
    "add a little to every count so that no step is impossible, and divide each row by its "
    "sum. the rows are the transition probabilities. run the chain long enough and the time "
    "it spends in each state settles to the stationary distribution, the left eigenvector of "
    "the transition matrix for the eigenvalue one. a chain of letters writes words that look "
    "almost like the words of the text, with the right letters next to each other but no "
    "sense at all, because a sentence needs a memory longer than one step. that is the point "
    "of the lecture: the models that follow keep a state that carries more of the past, and "
    "they learn what to keep."
)


class MarkovChain(nn.Module):
    """A first-order chain over a finite set of states:
    ``P[i, j] = p(x_{t+1} = j | x_t = i) = (count(i -> j) + alpha) / (count(i) + alpha K)``
    (additive, Laplace/Lidstone smoothing with ``alpha``), and the initial distribution from
    the first state of each sequence, smoothed alike.

    States are any hashable tokens (characters, words, ints), numbered in sorted order
    (``states``); ``transition`` and ``initial`` are buffers (``state_dict`` saves them).

    >>> chain = MarkovChain(alpha=0.1).fit([SAMPLE_TEXT])        # a string: its characters
    >>> "".join(chain.sample(40, seed=0))
    """

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = check_float("MarkovChain", "alpha", alpha, 0.0, strict=False)
        self.states: list = []
        self._index: dict = {}
        self.register_buffer("transition", None)
        self.register_buffer("initial", None)

    def _check_fitted(self, owner: str) -> None:
        if self.transition is None:
            raise LaminaValueError(f"{owner}: the chain is not fitted; call fit(sequences) first")

    def _sequences(self, owner: str, sequences) -> list[Sequence]:
        if isinstance(sequences, str) or not isinstance(sequences, (list, tuple)):
            raise LaminaValueError(f"{owner}: sequences must be a list of sequences (a list of "
                                   f"strings for characters), got {type(sequences).__name__}")
        if not sequences or any(len(s) == 0 for s in sequences):
            raise LaminaValueError(f"{owner}: sequences must be a non-empty list of non-empty "
                                   f"sequences")
        for s in sequences:
            for x in s:
                if not isinstance(x, Hashable):
                    raise LaminaValueError(f"{owner}: states must be hashable, got "
                                           f"{type(x).__name__}")
        return list(sequences)

    def fit(self, sequences, states=None) -> MarkovChain:
        """Count transitions in ``sequences`` (a list of strings or token lists) and set the
        smoothed transition matrix; ``states`` fixes the state set (default: those seen)."""
        seqs = self._sequences("MarkovChain.fit", sequences)
        seen = sorted({x for s in seqs for x in s}, key=repr) if states is None else \
            list(states)
        self.states = seen
        self._index = {s: i for i, s in enumerate(seen)}
        k = len(seen)
        counts = np.zeros((k, k))
        first = np.zeros(k)
        for s in seqs:
            idx = self._encode("MarkovChain.fit", s)
            np.add.at(counts, (idx[:-1], idx[1:]), 1.0)
            first[idx[0]] += 1
        rows = counts + self.alpha
        sums = rows.sum(axis=1, keepdims=True)
        # a state never left (and alpha = 0): stay put, so every row is a distribution
        empty = sums[:, 0] == 0
        rows[empty, np.flatnonzero(empty)] = 1.0
        self.transition = nn.Buffer(rows / rows.sum(axis=1, keepdims=True))
        init = first + self.alpha
        self.initial = nn.Buffer(init / init.sum())
        return self

    def _encode(self, owner: str, seq) -> np.ndarray:
        try:
            return np.array([self._index[x] for x in seq], dtype=np.int64)
        except KeyError as e:
            raise LaminaValueError(f"{owner}: unknown state {e.args[0]!r} (the chain knows "
                                   f"{len(self.states)} states)") from None

    def log_likelihood(self, sequence) -> float:
        """``log p(x_0) + sum_t log P[x_t, x_{t+1}]`` (natural log)."""
        self._check_fitted("MarkovChain.log_likelihood")
        if len(sequence) == 0:
            raise LaminaValueError("MarkovChain.log_likelihood: sequence must be non-empty")
        idx = self._encode("MarkovChain.log_likelihood", sequence)
        p = self.transition._data[idx[:-1], idx[1:]]
        with np.errstate(divide="ignore"):
            return float(np.log(self.initial._data[idx[0]]) + np.log(p).sum())

    def sample(self, length: int, start=None, seed=None) -> list:
        """A sequence of ``length`` states: from ``start`` (a state) or drawn from the initial
        distribution, then following the transitions."""
        self._check_fitted("MarkovChain.sample")
        length = check_int("MarkovChain.sample", "length", length)
        rng = make_rng("MarkovChain.sample", seed)
        p, k = self.transition._data, len(self.states)
        i = (self._encode("MarkovChain.sample", [start])[0] if start is not None
             else rng.choice(k, p=self.initial._data))
        cum = np.cumsum(p, axis=1)
        out = [i]
        for u in rng.random(length - 1):
            i = min(int(np.searchsorted(cum[i], u, side="right")), k - 1)
            out.append(i)
        return [self.states[j] for j in out]

    def stationary_distribution(self, method: str = "eigen", tol: float = 1e-12,
                                max_iter: int = 100_000) -> np.ndarray:
        """``pi`` with ``pi P = pi``, ``sum(pi) = 1``: the left eigenvector of ``P`` for
        eigenvalue 1 (``"eigen"``; unique for an irreducible chain, as any ``alpha > 0``
        makes it) or the limit of ``pi_{t+1} = pi_t P`` from the uniform distribution
        (``"power"``; converges for an irreducible aperiodic chain)."""
        self._check_fitted("MarkovChain.stationary_distribution")
        check_choice("MarkovChain.stationary_distribution", "method", method,
                     ("eigen", "power"))
        p = self.transition._data
        if method == "eigen":
            vals, vecs = np.linalg.eig(p.T)
            v = np.real(vecs[:, np.argmin(np.abs(vals - 1))])
            return v / v.sum()
        pi = np.full(len(p), 1.0 / len(p))
        for _ in range(check_int("MarkovChain.stationary_distribution", "max_iter",
                                 max_iter)):
            new = pi @ p
            if np.abs(new - pi).sum() < tol:
                return new
            pi = new
        return pi

    def forward(self, input) -> Tensor:
        """The next-state distributions for the states ``input`` (a sequence): a Tensor
        (T, K), row t = ``P[input[t]]``."""
        self._check_fitted("MarkovChain.forward")
        return Tensor(self.transition._data[self._encode("MarkovChain.forward", input)])

    def extra_repr(self) -> str:
        return f"states={len(self.states)}, alpha={self.alpha}"
