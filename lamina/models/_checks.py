"""Argument checks and seeding shared by the classic models (perceptron, Hopfield, Boltzmann
machines, Markov chain): every public entry point names itself and what it expected."""

from __future__ import annotations

import numpy as np

from lamina.backend import default_generator
from lamina.errors import LaminaValueError
from lamina.tensor import Tensor


def check_int(owner: str, name: str, value, low: int = 1) -> int:
    """``value`` as an int ``>= low``, else ValueError naming ``owner`` and ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise LaminaValueError(f"{owner}: {name} must be an int >= {low}, got {value!r}")
    return int(value)


def check_float(owner: str, name: str, value, low: float = 0.0, strict: bool = True) -> float:
    """``value`` as a finite float ``> low`` (``>= low`` when not ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise LaminaValueError(f"{owner}: {name} must be a number, got {value!r}")
    v = float(value)
    if not np.isfinite(v) or (v <= low if strict else v < low):
        raise LaminaValueError(f"{owner}: {name} must be a finite number {'>' if strict else '>='} "
                               f"{low}, got {value!r}")
    return v


def check_choice(owner: str, name: str, value, choices) -> str:
    if value not in choices:
        raise LaminaValueError(f"{owner}: {name} must be one of {', '.join(map(repr, choices))}, "
                               f"got {value!r}")
    return value


def as_matrix(owner: str, name: str, x, n_cols: int | None = None,
              dtype=np.float64) -> np.ndarray:
    """``x`` (array, list or Tensor) as a finite 2-D array of ``dtype`` with ``n_cols``
    columns; a 1-D input is one row."""
    if isinstance(x, Tensor):
        x = x._data
    try:
        a = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError):
        raise LaminaValueError(f"{owner}: {name} must be numeric array-like, got "
                               f"{type(x).__name__}") from None
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[0] == 0:
        raise LaminaValueError(f"{owner}: {name} must be a non-empty 2-D array (samples, "
                               f"features), "
                               f"got shape {a.shape}")
    if n_cols is not None and a.shape[1] != n_cols:
        raise LaminaValueError(f"{owner}: {name} must have {n_cols} columns, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise LaminaValueError(f"{owner}: {name} contains inf or nan")
    return a


def as_binary(owner: str, name: str, x, n_cols: int | None = None) -> np.ndarray:
    """A 2-D array of 0/1 values (float64)."""
    a = as_matrix(owner, name, x, n_cols)
    if not np.all((a == 0) | (a == 1)):
        raise LaminaValueError(f"{owner}: {name} must hold only 0 and 1")
    return a


def as_unit(owner: str, name: str, x, n_cols: int | None = None) -> np.ndarray:
    """A 2-D array of values in [0, 1] (binary data, or probabilities used as data)."""
    a = as_matrix(owner, name, x, n_cols)
    if np.any(a < 0) or np.any(a > 1):
        raise LaminaValueError(f"{owner}: {name} must lie in [0, 1] (binary data or probabilities)")
    return a


def as_spins(owner: str, name: str, x, n_cols: int | None = None) -> np.ndarray:
    """A 2-D array of -1/+1 values (float64)."""
    a = as_matrix(owner, name, x, n_cols)
    if not np.all((a == -1) | (a == 1)):
        raise LaminaValueError(f"{owner}: {name} must hold only -1 and +1")
    return a


def make_rng(owner: str, seed) -> np.random.Generator:
    """A NumPy generator: from ``seed`` (an int, or a Generator used as is), or, for ``None``,
    drawn from lamina's global generator (so ``lamina.manual_seed`` makes it reproducible)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng(default_generator.np.integers(2**63 - 1))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LaminaValueError(f"{owner}: seed must be a non-negative int, a numpy Generator or "
                               f"None, got {seed!r}")
    return np.random.default_rng(int(seed))


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow warnings for large ``|z|``."""
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def softplus(z: np.ndarray) -> np.ndarray:
    """``log(1 + exp(z))``, stably."""
    return np.logaddexp(0.0, z)
