"""Synthetic datasets from the lectures: XOR, a noisy polynomial, two Gaussian blobs, spirals.

Each function draws from ``numpy.random.default_rng(seed)`` (``seed=None``: lamina's global
generator, seeded by ``lamina.manual_seed``), so the same seed gives the same data, and
returns a ``TensorDataset`` of float32 features and its targets (int64 class labels, or
float32 ``(n, 1)`` regression targets). The dataset also carries ``classes`` and
``num_classes`` (``None`` for regression). ``as_arrays=True`` returns the NumPy arrays
``(X, y)`` instead.

Source: generated; licence: none needed (public domain).
"""

from __future__ import annotations

import math

import numpy as np

from lamina.backend import rng as _global_rng
from lamina.data.dataset import TensorDataset
from lamina.data.datasets._common import check_float, check_int
from lamina.errors import LaminaValueError
from lamina.tensor import _make

__all__ = ["xor", "noisy_polynomial", "two_blobs", "spirals"]


def _rng(seed, op: str) -> np.random.Generator:
    if seed is None:
        return _global_rng(None)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LaminaValueError(f"{op}: seed must be a non-negative int or None, got {seed!r}")
    return np.random.default_rng(int(seed))


def _finish(x: np.ndarray, y: np.ndarray, as_arrays: bool, classes, **attrs):
    x = x.astype(np.float32)
    y = y.astype(np.int64) if classes is not None else y.astype(np.float32)
    if as_arrays:
        return x, y
    ds = TensorDataset(_make(x), _make(y))
    ds.classes = classes
    ds.num_classes = len(classes) if classes is not None else None
    for k, v in attrs.items():
        setattr(ds, k, v)
    return ds


def xor(n: int = 200, noise: float = 0.1, *, seed: int | None = 0, as_arrays: bool = False):
    """The XOR problem: points around the four corners of the unit square, labelled
    ``x1 XOR x2``, which no linear classifier separates.

    Sample ``i`` sits at corner ``i % 4`` of ``(0, 0), (0, 1), (1, 0), (1, 1)`` (labels
    0, 1, 1, 0) plus Gaussian noise of standard deviation ``noise``; so ``xor(4, 0)`` is
    exactly the truth table.

    Returns: ``X`` float32 ``(n, 2)``, ``y`` int64 ``(n,)`` in {0, 1} (as a TensorDataset,
    or arrays with ``as_arrays=True``). For a sigmoid output with ``binary_cross_entropy``
    use ``y.float().unsqueeze(1)``.

    >>> ds = xor(200, noise=0.1, seed=0)
    """
    n = check_int(n, "n", "xor")
    noise = check_float(noise, "noise", "xor")
    g = _rng(seed, "xor")
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    c = np.arange(n) % 4
    x = corners[c] + noise * g.standard_normal((n, 2))
    y = np.array([0, 1, 1, 0], dtype=np.int64)[c]
    return _finish(x, y, as_arrays, [0, 1])


def noisy_polynomial(n: int = 100, degree: int | None = None, coefficients=None,
                     noise: float = 0.1, x_range: tuple[float, float] = (-1.0, 1.0), *,
                     seed: int | None = 0, as_arrays: bool = False):
    """Regression data ``y = c0 + c1 x + ... + cd x**d + noise``: the curve-fitting example
    (under- and over-fitting with polynomial features).

    ``x`` is drawn uniformly from ``x_range``; the noise is Gaussian with standard deviation
    ``noise``. Give either ``coefficients`` (increasing powers: ``[c0, c1, ..., cd]``) or
    ``degree`` (then the coefficients are drawn from a standard normal with the same seed;
    default degree 3). The coefficients used are in ``ds.coefficients`` (float64).

    Returns: ``X`` float32 ``(n, 1)``, ``y`` float32 ``(n, 1)``.

    >>> ds = noisy_polynomial(50, coefficients=[1.0, -2.0, 0.5], noise=0.2)
    """
    op = "noisy_polynomial"
    n = check_int(n, "n", op)
    noise = check_float(noise, "noise", op)
    try:
        lo, hi = (float(v) for v in x_range)
    except (TypeError, ValueError):
        raise LaminaValueError(f"{op}: x_range must be a pair (low, high) of numbers, got "
                               f"{x_range!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise LaminaValueError(f"{op}: x_range must satisfy low < high (finite), got {x_range!r}")
    g = _rng(seed, op)
    if coefficients is not None:
        coef = np.asarray(coefficients, dtype=np.float64)
        if coef.ndim != 1 or coef.size == 0 or not np.all(np.isfinite(coef)):
            raise LaminaValueError(f"{op}: coefficients must be a non-empty 1-D sequence of finite "
                                   f"numbers, got {coefficients!r}")
        if degree is not None and check_int(degree, "degree", op, 0) != coef.size - 1:
            raise LaminaValueError(f"{op}: degree={degree} does not match the {coef.size} "
                                   f"coefficients given (degree {coef.size - 1}); pass one of them")
    else:
        degree = 3 if degree is None else check_int(degree, "degree", op, 0)
        coef = g.standard_normal(degree + 1)
    x = g.uniform(lo, hi, n)
    y = np.polynomial.polynomial.polyval(x, coef) + noise * g.standard_normal(n)
    return _finish(x[:, None], y[:, None], as_arrays, None, coefficients=coef)


def two_blobs(n: int = 200, distance: float = 3.0, std: float = 1.0, *, dim: int = 2,
              seed: int | None = 0, as_arrays: bool = False):
    """Two isotropic Gaussian blobs, a linearly separable (when far apart) binary problem.

    Class 0 is centred at ``(-distance/2, 0, ...)``, class 1 at ``(+distance/2, 0, ...)``
    (so the centres are ``distance`` apart), each with standard deviation ``std`` per
    coordinate; sample ``i`` has label ``i % 2`` (balanced classes).

    Returns: ``X`` float32 ``(n, dim)``, ``y`` int64 ``(n,)`` in {0, 1}.
    """
    op = "two_blobs"
    n = check_int(n, "n", op)
    distance = check_float(distance, "distance", op)
    std = check_float(std, "std", op)
    dim = check_int(dim, "dim", op)
    g = _rng(seed, op)
    y = np.arange(n) % 2
    x = std * g.standard_normal((n, dim))
    x[:, 0] += (y - 0.5) * distance
    return _finish(x, y, as_arrays, [0, 1])


def spirals(n: int = 200, turns: float = 1.0, noise: float = 0.1, *, num_classes: int = 2,
            seed: int | None = 0, as_arrays: bool = False):
    """Interleaved spirals, one arm per class: a problem that needs a non-linear boundary.

    Sample ``i`` belongs to class ``k = i % num_classes`` and sits at radius
    ``t = (i // num_classes + 0.5) / ceil(n / num_classes)`` in ``(0, 1)`` and angle
    ``2 pi turns t + 2 pi k / num_classes``, plus Gaussian noise of standard deviation
    ``noise`` on both coordinates.

    Returns: ``X`` float32 ``(n, 2)``, ``y`` int64 ``(n,)`` in ``[0, num_classes)``.
    """
    op = "spirals"
    n = check_int(n, "n", op)
    turns = check_float(turns, "turns", op)
    noise = check_float(noise, "noise", op)
    num_classes = check_int(num_classes, "num_classes", op)
    g = _rng(seed, op)
    i = np.arange(n)
    k = i % num_classes
    t = (i // num_classes + 0.5) / math.ceil(n / num_classes)
    theta = 2 * np.pi * turns * t + 2 * np.pi * k / num_classes
    x = np.stack([t * np.cos(theta), t * np.sin(theta)], axis=1)
    x += noise * g.standard_normal((n, 2))
    return _finish(x, k, as_arrays, list(range(num_classes)))
