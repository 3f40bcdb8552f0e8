"""Splitting data for evaluation: train/validation/test splits and k-fold cross-validation.

Random choices come from ``seed`` (a fresh ``lamina.Generator(seed)``), an explicit
``generator``, or lamina's global generator (``lamina.manual_seed``), so a seed always gives
the same split. Indices are int64 NumPy arrays.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator

import numpy as np

from lamina.backend import Generator, rng
from lamina.data.dataset import Subset
from lamina.errors import LaminaValueError
from lamina.tensor import Tensor, _make

__all__ = ["train_val_test_split", "kfold_indices", "stratified_kfold_indices"]


def _rng(seed, generator, op) -> np.random.Generator:
    if seed is not None and generator is not None:
        raise LaminaValueError(f"{op}: pass either seed or generator, not both")
    if seed is not None:
        return Generator(seed).np
    return rng(generator)


def _labels(labels, op) -> np.ndarray:
    arr = labels._data if isinstance(labels, Tensor) else np.asarray(labels)
    if arr.ndim != 1:
        raise LaminaValueError(f"{op}: labels must be 1-D (one label per sample), got shape "
                               f"{arr.shape}")
    return arr


def _num(x, n: int, name: str, op: str) -> int:
    """A split size given as a fraction of n (rounded up, as scikit-learn does) or a count."""
    if isinstance(x, bool):
        raise LaminaValueError(f"{op}: {name} must be a fraction in [0, 1) or a count, got {x!r}")
    if isinstance(x, (int, np.integer)):
        if not 0 <= x <= n:
            raise LaminaValueError(f"{op}: {name}={x} must be between 0 and the number of samples "
                                   f"({n})")
        return int(x)
    if isinstance(x, (float, np.floating)) and 0 <= x < 1:
        return int(math.ceil(float(x) * n))
    raise LaminaValueError(f"{op}: {name} must be a fraction in [0, 1) or a count, got {x!r}")


def _allocate(counts: np.ndarray, k: int) -> np.ndarray:
    """Split ``k`` draws among classes in proportion to ``counts`` (largest remainder)."""
    total = counts.sum()
    if total == 0 or k == 0:
        return np.zeros_like(counts)
    exact = counts * (k / total)
    out = np.floor(exact).astype(np.int64)
    rest = k - int(out.sum())
    if rest:
        frac_order = np.argsort(-(exact - out), kind="stable")
        out[frac_order[:rest]] += 1
    return out


def _is_dataset(x) -> bool:
    return (not isinstance(x, (Tensor, np.ndarray, list, tuple))
            and hasattr(x, "__getitem__") and hasattr(x, "__len__"))


def _take(a, idx: np.ndarray):
    if isinstance(a, Tensor):
        return a[idx] if a.requires_grad else _make(a._data.take(idx, axis=0))
    if isinstance(a, np.ndarray):
        return a.take(idx, axis=0)
    return [a[i] for i in idx.tolist()]


def train_val_test_split(*arrays, val: float | int = 0.1, test: float | int = 0.1,
                         shuffle: bool = True, seed: int | None = None, stratify=None,
                         generator: Generator | None = None):
    """Split arrays (or one dataset) into train, validation and test parts.

    Args:
        *arrays: tensors, NumPy arrays or lists with the same length (split along dimension
            0), or a single dataset.
        val, test: the size of each held-out part, as a fraction of the samples (rounded up)
            or a count; the rest is the training part, which must not be empty.
        shuffle: shuffle before splitting; with ``shuffle=False`` the training part is the
            first samples, then validation, then test.
        seed, generator: the random source (default: lamina's global generator).
        stratify: class labels (one per sample): each part then keeps the class proportions
            (largest-remainder rounding).

    Returns:
        For arrays ``a, b``: ``(a_train, a_val, a_test, b_train, b_val, b_test)``, each of
        the input's kind; for a dataset: three ``Subset``s ``(train, val, test)``.

    >>> x_tr, x_va, x_te, y_tr, y_va, y_te = train_val_test_split(x, y, val=0.15, test=0.15,
    ...                                                           seed=0, stratify=y)
    """
    op = "train_val_test_split"
    if not arrays:
        raise LaminaValueError(f"{op}: at least one array or a dataset is required")
    if len(arrays) == 1 and _is_dataset(arrays[0]):
        n = len(arrays[0])
    else:
        lengths = [len(a) for a in arrays]
        if any(m != lengths[0] for m in lengths):
            raise LaminaValueError(f"{op}: found input variables with inconsistent numbers of "
                                   f"samples: {lengths}")
        n = lengths[0]
    n_val, n_test = _num(val, n, "val", op), _num(test, n, "test", op)
    n_train = n - n_val - n_test
    if n_train <= 0:
        raise LaminaValueError(f"{op}: with n_samples={n}, val={val} and test={test} the training "
                               f"part would have {n_train} samples; reduce val or test")
    g = _rng(seed, generator, op) if shuffle else None

    if stratify is None:
        order = g.permutation(n) if shuffle else np.arange(n)
        parts = [order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]]
    else:
        y = _labels(stratify, op)
        if len(y) != n:
            raise LaminaValueError(f"{op}: stratify has {len(y)} labels for {n} samples")
        _, y = np.unique(y, return_inverse=True)
        y = y.reshape(-1)
        counts = np.bincount(y)
        n_te_c = _allocate(counts, n_test)
        n_va_c = _allocate(counts - n_te_c, n_val)
        perm = g.permutation(n) if shuffle else np.arange(n)
        grouped = perm[np.argsort(y[perm], kind="stable")]  # by class, random within
        bounds = np.concatenate([[0], np.cumsum(counts)])
        tr, va, te = [], [], []
        for c in range(len(counts)):  # a loop over classes, not samples
            grp = grouped[bounds[c]:bounds[c + 1]]
            k_tr = counts[c] - n_va_c[c] - n_te_c[c]
            tr.append(grp[:k_tr])
            va.append(grp[k_tr:k_tr + n_va_c[c]])
            te.append(grp[k_tr + n_va_c[c]:])
        parts = []
        for p in (tr, va, te):
            p = np.concatenate(p)
            parts.append(g.permutation(p) if shuffle else np.sort(p))

    parts = [np.asarray(p, dtype=np.int64) for p in parts]
    if len(arrays) == 1 and _is_dataset(arrays[0]):
        return tuple(Subset(arrays[0], p.tolist()) for p in parts)
    return tuple(_take(a, p) for a in arrays for p in parts)


def _check_k(n: int, k: int, op: str) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise LaminaValueError(f"{op}: k must be an int of at least 2, got {k!r}")
    if k > n:
        raise LaminaValueError(f"{op}: cannot have k={k} folds greater than the number of samples "
                               f"n={n}")


def _folds(fold_of: np.ndarray, k: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for f in range(k):
        mask = fold_of == f
        yield np.flatnonzero(~mask), np.flatnonzero(mask)


def kfold_indices(n, k: int, shuffle: bool = False, seed: int | None = None,
                  generator: Generator | None = None):
    """Yield ``(train_idx, val_idx)`` for k-fold cross-validation over ``n`` samples.

    ``n`` is the number of samples, or anything with a length (an array, a dataset).

    Every sample is in exactly one validation fold; fold sizes differ by at most one (the
    first ``n % k`` folds have one more), as in scikit-learn's ``KFold``. Without shuffling
    the folds are consecutive blocks; indices in each array are sorted.

    >>> for train_idx, val_idx in kfold_indices(len(x), 5, shuffle=True, seed=0):
    ...     fit(x[train_idx]); evaluate(x[val_idx])
    """
    op = "kfold_indices"
    if hasattr(n, "__len__") and not isinstance(n, (int, np.integer)):
        n = len(n)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise LaminaValueError(f"{op}: n must be a non-negative int, got {n!r}")
    _check_k(n, k, op)
    sizes = np.full(k, n // k, dtype=np.int64)
    sizes[:n % k] += 1
    fold_of_pos = np.repeat(np.arange(k), sizes)
    fold_of = np.empty(n, dtype=np.int64)
    order = _rng(seed, generator, op).permutation(n) if shuffle else np.arange(n)
    fold_of[order] = fold_of_pos
    return _folds(fold_of, k)


def stratified_kfold_indices(labels, k: int, shuffle: bool = False, seed: int | None = None,
                             generator: Generator | None = None):
    """Yield ``(train_idx, val_idx)`` for k folds that keep the class proportions.

    Each class's samples are dealt across the folds so every fold holds within one sample of
    ``count / k`` of each class, and the folds' total sizes differ by at most one (the
    allocation of scikit-learn's ``StratifiedKFold``; with ``shuffle=False`` the same folds).
    Warns when a class has fewer than ``k`` members.
    """
    op = "stratified_kfold_indices"
    y = _labels(labels, op)
    n = len(y)
    _check_k(n, k, op)
    # classes numbered in order of first appearance
    _, first, inv = np.unique(y, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    y_enc = rank[inv]
    counts = np.bincount(y_enc)
    if k > counts.max():
        raise LaminaValueError(f"{op}: k={k} cannot be greater than the number of members in each "
                               f"class (largest class has {counts.max()})")
    if k > counts.min():
        warnings.warn(f"{op}: the least populated class has only {counts.min()} members, "
                      f"which is less than k={k}", UserWarning, stacklevel=2)
    # Deal the samples, sorted by class, round-robin over the folds: alloc[f, c] is how many
    # of class c fold f gets; within a class, fold f's share is a run of consecutive members.
    y_sorted = np.sort(y_enc)
    alloc = np.stack([np.bincount(y_sorted[f::k], minlength=len(counts)) for f in range(k)])
    g = _rng(seed, generator, op) if shuffle else None
    fold_of = np.empty(n, dtype=np.int64)
    for c in range(len(counts)):  # a loop over classes
        folds_c = np.repeat(np.arange(k), alloc[:, c])
        if shuffle:
            g.shuffle(folds_c)
        fold_of[y_enc == c] = folds_c
    return _folds(fold_of, k)
