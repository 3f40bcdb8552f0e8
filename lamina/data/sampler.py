"""Samplers: the order in which a ``DataLoader`` visits a dataset's indices.

PyTorch's ``torch.utils.data`` samplers: ``SequentialSampler``, ``RandomSampler``,
``SubsetRandomSampler``, ``WeightedRandomSampler`` and ``BatchSampler``, which groups another
sampler's indices into lists. A sampler is any iterable of indices with a ``__len__``; subclass
``Sampler`` and write ``__iter__`` for a custom order.

The built-in samplers draw a whole epoch at once with NumPy (``_indices()`` gives it as an int64
array, which the ``DataLoader`` slices directly); iterating one yields Python ints. Random ones
draw from a ``lamina.Generator`` (``generator=``), or from lamina's global generator (seeded by
``lamina.manual_seed``) when none is given; the same seed gives the same epochs. The random
streams are NumPy's, so the orders differ from PyTorch's for the same seed; their
distributions are the same.

>>> sampler = WeightedRandomSampler([0.1, 0.9], num_samples=10, generator=lamina.Generator(0))
>>> loader = DataLoader(dataset, batch_size=4, sampler=sampler)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sized

import numpy as np

from lamina.backend import Generator, rng
from lamina.errors import LaminaTypeError, LaminaValueError

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler", "DistributedSampler"]


def _check_generator(name: str, generator) -> None:
    if generator is not None and not isinstance(generator, Generator):
        raise LaminaTypeError(f"{name}: generator must be a lamina.Generator or None, got "
                              f"{type(generator).__name__}")


def _check_positive_int(name: str, arg: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise LaminaValueError(f"{name}: {arg} should be a positive integer value, but got "
                               f"{arg}={value!r}")


def _check_bool(name: str, arg: str, value, exc=ValueError) -> None:
    # the exception types are PyTorch's: TypeError for RandomSampler, ValueError elsewhere
    if not isinstance(value, (bool, np.bool_)):
        raise exc(f"{name}: {arg} should be a boolean value, but got {arg}={value!r}")


def _sized(name: str, data_source) -> Sized:
    if not hasattr(data_source, "__len__"):
        raise LaminaTypeError(f"{name}: data_source must have a length (a map-style dataset or a "
                              f"sequence), got {type(data_source).__name__}")
    return data_source


class Sampler:
    """Base class of samplers: an iterable over dataset indices (or over lists of them).

    Subclasses implement ``__iter__`` and, where the length is known, ``__len__``.

    >>> class EvenFirst(Sampler):
    ...     def __init__(self, n): self.n = n
    ...     def __iter__(self): return iter([*range(0, self.n, 2), *range(1, self.n, 2)])
    ...     def __len__(self): return self.n
    """

    def __init__(self, data_source: Sized | None = None) -> None:
        pass    # PyTorch deprecated the argument; accepted and ignored, as there

    def __iter__(self) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__} does not implement __iter__")


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1``, in order.

    >>> list(SequentialSampler(range(3)))
    [0, 1, 2]
    """

    def __init__(self, data_source: Sized) -> None:
        self.data_source = _sized("SequentialSampler", data_source)

    def _indices(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """Random indices into ``data_source``: a fresh permutation each epoch, or draws with
    replacement.

    Args:
        data_source: the dataset (anything with a length ``n``).
        replacement: draw ``num_samples`` indices uniformly and independently from
            ``0..n-1``; without it (the default) every index appears once per ``n`` draws.
        num_samples: how many indices an epoch has (default ``n``). Without replacement a
            larger number repeats whole permutations and ends with the start of another, as
            in PyTorch.
        generator: the ``lamina.Generator`` to draw from (default: lamina's global one).

    >>> list(RandomSampler(range(4), generator=lamina.Generator(0)))    # a permutation
    """

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None, generator: Generator | None = None) -> None:
        self.data_source = _sized("RandomSampler", data_source)
        _check_bool("RandomSampler", "replacement", replacement, TypeError)
        if num_samples is not None:
            _check_positive_int("RandomSampler", "num_samples", num_samples)
        _check_generator("RandomSampler", generator)
        self.replacement = bool(replacement)
        self._num_samples = None if num_samples is None else int(num_samples)
        self.generator = generator

    @property
    def num_samples(self) -> int:
        # read the dataset's length when asked: it may change after the sampler is made
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _indices(self) -> np.ndarray:
        n = len(self.data_source)
        k = self.num_samples
        g = rng(self.generator)
        if n == 0:
            if k and self._num_samples is not None:
                raise LaminaValueError("RandomSampler: cannot draw samples from an empty "
                                       "data_source")
            return np.zeros(0, np.int64)
        if self.replacement:
            return g.integers(0, n, size=k, dtype=np.int64)
        if k == n:
            return g.permutation(n).astype(np.int64, copy=False)
        parts = [g.permutation(n) for _ in range(k // n)]
        parts.append(g.permutation(n)[:k % n])
        return np.concatenate(parts).astype(np.int64, copy=False)

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a fresh random order each epoch (each exactly once).

    Args:
        indices: the dataset indices to draw from (a sequence of ints).
        generator: the ``lamina.Generator`` to draw from (default: lamina's global one).

    >>> sorted(SubsetRandomSampler([5, 1, 9]))
    [1, 5, 9]
    """

    def __init__(self, indices, generator: Generator | None = None) -> None:
        _check_generator("SubsetRandomSampler", generator)
        arr = np.asarray(indices)
        if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
            raise LaminaTypeError("SubsetRandomSampler: indices must be a 1-d sequence of "
                                  "integers, "
                                  f"got {type(indices).__name__} of shape {arr.shape} and dtype "
                                  f"{arr.dtype}")
        self.indices = indices
        self._array = arr.astype(np.int64)
        self.generator = generator

    def _indices(self) -> np.ndarray:
        return self._array[rng(self.generator).permutation(len(self._array))]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices().tolist())

    def __len__(self) -> int:
        return len(self._array)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices ``i`` drawn with probability ``weights[i] / sum(weights)``.

    Args:
        weights: a 1-d sequence of non-negative weights, one per dataset index (they need not
            sum to 1).
        num_samples: how many indices an epoch has.
        replacement: draw independently (the default); without it each index appears at most
            once, drawn one after another in proportion to the remaining weights, which needs
            ``num_samples`` <= the number of non-zero weights.
        generator: the ``lamina.Generator`` to draw from (default: lamina's global one).

    A common use: oversample a rare class with ``weights = 1 / class_count[label]``.

    >>> s = WeightedRandomSampler([0.1, 0.9, 0.4], 5, generator=lamina.Generator(0))
    """

    def __init__(self, weights, num_samples: int, replacement: bool = True,
                 generator: Generator | None = None) -> None:
        _check_positive_int("WeightedRandomSampler", "num_samples", num_samples)
        _check_bool("WeightedRandomSampler", "replacement", replacement)
        _check_generator("WeightedRandomSampler", generator)
        w = np.asarray(getattr(weights, "data", weights), dtype=np.float64)
        if w.ndim != 1:
            raise LaminaValueError("WeightedRandomSampler: weights should be a 1d sequence but "
                                   "given "
                                   f"weights have shape {tuple(w.shape)}")
        if w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
            raise LaminaValueError("WeightedRandomSampler: weights must be finite, "
                                   "non-negative and not all zero")
        if not replacement and num_samples > np.count_nonzero(w):
            raise LaminaValueError(f"WeightedRandomSampler: cannot draw num_samples="
                                   f"{num_samples} without replacement from "
                                   f"{np.count_nonzero(w)} non-zero weights")
        self.weights = w
        self.num_samples = int(num_samples)
        self.replacement = bool(replacement)
        self.generator = generator
        self._p = w / w.sum()

    def _indices(self) -> np.ndarray:
        g = rng(self.generator)
        return g.choice(len(self._p), size=self.num_samples, replace=self.replacement,
                        p=self._p).astype(np.int64, copy=False)

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Group another sampler's indices into lists of ``batch_size``.

    Args:
        sampler: a sampler, or any iterable of indices (``range(10)`` works).
        batch_size: indices per batch.
        drop_last: drop the last batch when it has fewer than ``batch_size`` indices.

    >>> list(BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=False))
    [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    """

    def __init__(self, sampler: Sampler | Iterable[int], batch_size: int,
                 drop_last: bool) -> None:
        _check_positive_int("BatchSampler", "batch_size", batch_size)
        _check_bool("BatchSampler", "drop_last", drop_last)
        if not isinstance(sampler, Iterable):
            raise LaminaTypeError("BatchSampler: sampler must be a Sampler or an iterable of "
                                  f"indices, got {type(sampler).__name__}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = bool(drop_last)

    def __iter__(self) -> Iterator[list[int]]:
        bs = self.batch_size
        epoch = _epoch_indices(self.sampler)
        if epoch is not None:              # a built-in sampler: draw the epoch at once
            flat = epoch.tolist()
            stop = len(flat) - len(flat) % bs if self.drop_last else len(flat)
            for s in range(0, stop, bs):
                yield flat[s:s + bs]
            return
        batch: list[int] = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == bs:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


class DistributedSampler(Sampler):
    """This rank's share of the dataset's indices in data-parallel training: each of the
    ``num_replicas`` ranks gets ``ceil(n / num_replicas)`` indices, and together they cover
    every index of the epoch once (PyTorch's ``DistributedSampler``).

    The epoch's order (a permutation seeded by ``seed + epoch`` when ``shuffle``, else
    ``0..n-1``) is padded by repeating its start until its length divides by
    ``num_replicas`` (or, with ``drop_last``, cut to the largest multiple), and rank ``r``
    takes every ``num_replicas``-th index from position ``r``: PyTorch's assignment. The
    permutation is NumPy's, so for the same seed the shuffled order differs from PyTorch's
    (``shuffle=False`` gives PyTorch's indices exactly). Call ``set_epoch(epoch)`` before
    each epoch so that every rank draws the same new permutation.

    Args:
        dataset: the dataset (anything with a length).
        num_replicas, rank: default ``lamina.distributed.get_world_size()`` / ``get_rank()``.
        shuffle: a new permutation each epoch (default True).
        seed: the base seed; must be the same on every rank.
        drop_last: drop the tail instead of padding, so no index is seen twice in an epoch.

    >>> sampler = DistributedSampler(train_set)            # inside mpirun -n N
    >>> loader = DataLoader(train_set, batch_size=64, sampler=sampler)
    >>> for epoch in range(epochs):
    ...     sampler.set_epoch(epoch)
    """

    def __init__(self, dataset: Sized, num_replicas: int | None = None,
                 rank: int | None = None, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False) -> None:
        from lamina import distributed as dist

        self.dataset = _sized("DistributedSampler", dataset)
        if num_replicas is None:
            num_replicas = dist.get_world_size()
        if rank is None:
            rank = dist.get_rank()
        _check_positive_int("DistributedSampler", "num_replicas", num_replicas)
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or \
                not 0 <= rank < num_replicas:
            raise LaminaValueError(f"DistributedSampler: Invalid rank {rank}, rank should be in "
                                   f"the interval [0, {num_replicas - 1}]")
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0

    @property
    def num_samples(self) -> int:
        n, k = len(self.dataset), self.num_replicas
        if self.drop_last and n % k:
            return -(-(n - k) // k)         # ceil((n - k) / k), as PyTorch
        return -(-n // k)

    @property
    def total_size(self) -> int:
        return self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose permutation the next iteration uses (the same on every rank)."""
        self.epoch = int(epoch)

    def _indices(self) -> np.ndarray:
        n = len(self.dataset)
        if self.shuffle:
            order = Generator().manual_seed(self.seed + self.epoch).np.permutation(n)
        else:
            order = np.arange(n)
        total = self.total_size
        if total > n:                       # pad with the start, repeated as needed
            order = np.resize(order, total) if n else order
        order = order[:total]
        return order[self.rank:total:self.num_replicas].astype(np.int64, copy=False)

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


_BUILTIN = (SequentialSampler, RandomSampler, SubsetRandomSampler, WeightedRandomSampler,
            DistributedSampler)


def _is_builtin(sampler) -> bool:
    return type(sampler) in _BUILTIN


def _epoch_indices(sampler) -> np.ndarray | None:
    """One epoch of a built-in sampler's indices as an int64 array (drawn now); ``None`` for
    any other sampler (a subclass may override ``__iter__``), which must be iterated."""
    if type(sampler) in _BUILTIN:
        return sampler._indices()
    return None
