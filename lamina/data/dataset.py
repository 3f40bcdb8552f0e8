"""Datasets: PyTorch's ``torch.utils.data`` map-style contract.

A dataset is anything with ``__getitem__(i)`` and ``__len__()``. ``TensorDataset`` wraps tensors
that share their first dimension (the ``DataLoader`` batches it by fancy-indexing the whole
tensors at once); ``Subset`` and ``ConcatDataset`` select and chain; ``random_split`` splits a
dataset into random non-overlapping subsets. Stream datasets (``IterableDataset``) chain with
``ChainDataset`` (``a + b``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import numpy as np

from lamina.backend import Generator, rng
from lamina.errors import LaminaIndexError, LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset",
           "random_split", "ChainDataset"]


class Dataset:
    """Base class of map-style datasets: subclasses define ``__getitem__`` and ``__len__``.

    ``a + b`` concatenates two datasets into a ``ConcatDataset``.
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """Base class of stream datasets: subclasses define ``__iter__`` (PyTorch's
    ``IterableDataset``). ``a + b`` chains two streams into a ``ChainDataset``. A
    ``DataLoader`` batches the stream in order; with
    ``num_workers > 0`` every worker iterates its own copy, so ``__iter__`` should split the
    stream using ``lamina.utils.data.get_worker_info()`` (or each sample comes once per
    worker).
    """

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __getitem__(self, index):
        raise LaminaTypeError(f"{type(self).__name__} is an IterableDataset: iterate it, "
                              "it has no indexing")

    def __add__(self, other: Dataset) -> ChainDataset:
        """``a + b``: the stream of ``a`` then that of ``b`` (a ``ChainDataset``)."""
        return ChainDataset([self, other])


class TensorDataset(Dataset):
    """Samples are the ``index``-th rows of each tensor: ``ds[i] == (t0[i], t1[i], ...)``.

    Args:
        *tensors: lamina tensors (or NumPy arrays) with the same size in dimension 0.

    >>> ds = TensorDataset(lamina.randn(100, 3), lamina.arange(100))
    >>> x, y = ds[0]
    """

    def __init__(self, *tensors):
        if not tensors:
            raise LaminaValueError("TensorDataset: expected at least one tensor, got none")
        sizes = []
        for i, t in enumerate(tensors):
            if not isinstance(t, (Tensor, np.ndarray)):
                raise LaminaTypeError(f"TensorDataset: argument {i} must be a Tensor or a NumPy "
                                      f"array, got {type(t).__name__}")
            if t.ndim == 0:
                raise LaminaValueError(f"TensorDataset: argument {i} is a 0-d tensor; every tensor "
                                       "needs a first (sample) dimension")
            sizes.append(t.shape[0])
        if any(s != sizes[0] for s in sizes):
            raise LaminaValueError(
                "TensorDataset: size mismatch between tensors: every tensor must have the same "
                f"size in dimension 0, got {', '.join(map(str, sizes))}"
            )
        self.tensors = tuple(tensors)

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def _arrays(self):
        """The underlying arrays, or None when a tensor records gradients (use the ops)."""
        out = []
        for t in self.tensors:
            if isinstance(t, Tensor):
                if t.requires_grad:
                    return None
                out.append(t._data)
            else:
                out.append(t)
        return out


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx):
        if isinstance(idx, (list, np.ndarray)):
            return [self.dataset[self.indices[int(i)]] for i in idx]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list[int]) -> list:
        rows = [self.indices[int(i)] for i in indices]
        getitems = getattr(self.dataset, "__getitems__", None)
        return getitems(rows) if getitems else [self.dataset[i] for i in rows]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """The samples of several datasets one after another."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise LaminaValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise LaminaTypeError("ConcatDataset: does not support IterableDataset (it has "
                                      "no indexing); chain streams with ChainDataset")
        self.cumulative_sizes = []
        total = 0
        for d in self.datasets:
            total += len(d)
            self.cumulative_sizes.append(total)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        n = len(self)
        if idx < 0:
            if -idx > n:
                raise LaminaIndexError(f"ConcatDataset: index {idx} is out of range for length {n}")
            idx += n
        if idx >= n:
            raise LaminaIndexError(f"ConcatDataset: index {idx} is out of range for length {n}")
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[d - 1] if d else 0
        return self.datasets[d][idx - start]


class ChainDataset(IterableDataset):
    """The streams of several ``IterableDataset`` one after another (PyTorch's
    ``ChainDataset``; ``a + b`` builds one). The chaining happens as it is iterated, so
    ``datasets`` may be any iterable of datasets; ``len`` is the sum of their lengths, where
    each has one.

    >>> list(ChainDataset([Stream(range(3)), Stream(range(10, 12))]))
    [0, 1, 2, 10, 11]

    Unlike PyTorch, which ``assert``s, a member that is not an ``IterableDataset`` raises a
    ``LaminaTypeError`` (when the chain reaches it, as PyTorch's check does).
    """

    def __init__(self, datasets) -> None:
        self.datasets = datasets

    def _check(self, d):
        if not isinstance(d, IterableDataset):
            raise LaminaTypeError(f"ChainDataset: only supports IterableDataset, got "
                                  f"{type(d).__name__}")
        return d

    def __iter__(self):
        for d in self.datasets:
            yield from self._check(d)

    def __len__(self) -> int:
        return sum(len(self._check(d)) for d in self.datasets)


def random_split(dataset, lengths: Sequence[int | float],
                 generator: Generator | None = None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths.

    ``lengths`` are sample counts summing to ``len(dataset)``, or fractions summing to 1: then
    each subset gets ``floor(frac * n)`` samples and the remainder is dealt one by one,
    round-robin from the first subset (PyTorch's rule). The permutation comes from
    ``generator`` or lamina's global generator (``lamina.manual_seed``).

    >>> train, val = random_split(ds, [0.8, 0.2], generator=lamina.Generator(42))
    """
    n = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise LaminaValueError("random_split: lengths must not be empty")
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:  # fractions (PyTorch's test)
        if any(x < 0 or x > 1 for x in lengths):
            raise LaminaValueError(f"random_split: fractions must be in [0, 1], got {lengths}")
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    for x in lengths:
        if not isinstance(x, (int, np.integer)) or isinstance(x, bool) or x < 0:
            raise LaminaValueError(f"random_split: lengths must be non-negative ints or fractions, "
                                   f"got {lengths}")
    if sum(lengths) != n:
        raise LaminaValueError(f"random_split: sum of input lengths ({sum(lengths)}) does not "
                               f"equal "
                               f"the length of the input dataset ({n})")
    perm = rng(generator).permutation(n).tolist()
    out, start = [], 0
    for length in lengths:
        out.append(Subset(dataset, perm[start:start + int(length)]))
        start += int(length)
    return out


def _tensor_source(dataset):
    """(arrays, index map) when ``dataset`` is a TensorDataset or Subsets of one, else None.

    The index map (an int array or None for identity) turns loader indices into rows.
    """
    index_map = None
    while isinstance(dataset, Subset):
        idx = np.asarray(dataset.indices, dtype=np.int64)
        index_map = idx if index_map is None else idx[index_map]
        dataset = dataset.dataset
    if type(dataset) is not TensorDataset:  # a subclass may override __getitem__
        return None
    arrays = dataset._arrays()
    if arrays is None:
        return None
    return arrays, index_map

