"""Rosenblatt's perceptron (Rosenblatt, "The perceptron: a probabilistic model for information
storage and organization in the brain", 1958), trained with his learning rule, not gradient
descent."""

from __future__ import annotations

import numpy as np

from lamina import nn
from lamina.errors import LaminaValueError
from lamina.models._checks import as_matrix, check_float, check_int, make_rng
from lamina.tensor import Tensor

__all__ = ["Perceptron"]


class Perceptron(nn.Module):
    """A single threshold unit: ``y = H(w . x + b)`` with the Heaviside step
    ``H(z) = 1 if z > 0 else 0``.

    ``fit`` applies the perceptron learning rule one example at a time: on a mistake,
    ``w += lr * (y - y_hat) * x`` and ``b += lr * (y - y_hat)`` (nothing changes on a correct
    answer). On linearly separable data it stops making mistakes after at most
    ``(R / gamma)^2`` updates (Novikoff, 1962; ``R`` the largest norm of ``(x, 1)``, ``gamma``
    the margin of a unit-norm separating ``(w*, b*)``), whatever ``lr`` when started from zero;
    on data no line separates (XOR) it never does.

    ``weight`` and ``bias`` are Parameters (so ``state_dict`` works) that do not require grad:
    the rule is not gradient descent.

    Args:
        in_features: the input size.
        lr: the learning rate of the rule (``> 0``).

    >>> p = Perceptron(2)
    >>> mistakes = p.fit([[0, 0], [0, 1], [1, 0], [1, 1]], [0, 0, 0, 1])   # AND
    >>> mistakes[-1]
    0
    """

    def __init__(self, in_features: int, lr: float = 1.0):
        super().__init__()
        self.in_features = check_int("Perceptron", "in_features", in_features)
        self.lr = check_float("Perceptron", "lr", lr)
        self.weight = nn.Parameter(np.zeros(self.in_features), requires_grad=False)
        self.bias = nn.Parameter(np.zeros(()), requires_grad=False)

    def decision_function(self, x) -> np.ndarray:
        """``w . x + b`` for each row of ``x`` (N, in_features), as a NumPy array (N,)."""
        a = as_matrix("Perceptron.decision_function", "x", x, self.in_features)
        return a @ self.weight._data + self.bias._data

    def forward(self, input) -> Tensor:
        """The Heaviside outputs (0.0 or 1.0), shape (N,)."""
        return Tensor((self.decision_function(input) > 0).astype(np.float32))

    def predict(self, x) -> np.ndarray:
        """The predicted classes (0 or 1) as an int array (N,)."""
        return (self.decision_function(x) > 0).astype(np.int64)

    def fit(self, x, y, epochs: int = 100, shuffle: bool = True, seed=None,
            stop_when_converged: bool = True) -> list[int]:
        """Rosenblatt's rule over ``epochs`` passes through ``(x, y)``.

        Args:
            x: inputs (N, in_features).
            y: labels in {0, 1} (N,).
            epochs: the number of passes.
            shuffle: visit the examples in a new random order every epoch.
            seed: an int (or None: lamina's global generator) for the shuffling.
            stop_when_converged: stop after the first epoch without a mistake.

        Returns:
            the number of mistakes (= updates) in each epoch.
        """
        a = as_matrix("Perceptron.fit", "x", x, self.in_features)
        t = np.asarray(y._data if isinstance(y, Tensor) else y, dtype=np.float64).reshape(-1)
        if t.shape[0] != a.shape[0]:
            raise LaminaValueError(f"Perceptron.fit: y must have one label per row of x "
                                   f"({a.shape[0]}), got {t.shape[0]}")
        if not np.all((t == 0) | (t == 1)):
            raise LaminaValueError("Perceptron.fit: y must hold only the labels 0 and 1")
        epochs = check_int("Perceptron.fit", "epochs", epochs)
        rng = make_rng("Perceptron.fit", seed)
        w, b = self.weight._data, self.bias._data
        history = []
        for _ in range(epochs):
            order = rng.permutation(len(a)) if shuffle else np.arange(len(a))
            mistakes = 0
            for i in order:                      # the rule is sequential by definition
                err = t[i] - float(a[i] @ w + b > 0)
                if err != 0:
                    w += self.lr * err * a[i]
                    b += self.lr * err
                    mistakes += 1
            history.append(mistakes)
            if mistakes == 0 and stop_when_converged:
                break
        return history

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, lr={self.lr}"
