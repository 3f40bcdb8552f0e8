"""``DataLoader``: mini-batches from a dataset, optionally shuffled, optionally prefetched.

Follows ``torch.utils.data.DataLoader`` for map-style datasets: ``len(loader)`` batches per
epoch, a fresh permutation every epoch when ``shuffle=True``, ``drop_last``, ``collate_fn``,
``sampler`` and ``batch_sampler`` (see ``lamina.data.sampler``), ``IterableDataset`` streams,
and worker processes (``num_workers``, see ``lamina.data.worker``). A ``TensorDataset`` (or a
``Subset`` of one, as ``random_split`` makes) is batched by indexing its whole arrays once per
batch instead of collating samples one by one; ``prefetch=True`` loads ahead in one background
thread, a lighter alternative to worker processes.
"""

from __future__ import annotations

import collections.abc
import multiprocessing
import queue
import threading

import numpy as np

from lamina import ops as _ops
from lamina.backend import Generator, canonical_dtype, rng
from lamina.data.dataset import IterableDataset, _tensor_source
from lamina.data.sampler import (
    BatchSampler,
    RandomSampler,
    SequentialSampler,
    _epoch_indices,
    _is_builtin,
)
from lamina.data.worker import _MultiProcessingIter
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor, _make

__all__ = ["DataLoader", "default_collate", "default_convert"]


def _wrap(arr: np.ndarray) -> Tensor:
    d = canonical_dtype(arr.dtype)
    return _make(arr if d == arr.dtype else arr.astype(d))


def _stack(arrays, what: str) -> np.ndarray:
    shape = arrays[0].shape
    for i, a in enumerate(arrays):
        if a.shape != shape:
            raise LaminaValueError(f"default_collate: stack expects each {what} to be equal size, "
                                   f"but got {tuple(shape)} at entry 0 and {tuple(a.shape)} at "
                                   f"entry {i}")
    return np.stack(arrays)


def default_collate(batch):
    """Stack a list of samples into a batch, keeping the samples' structure.

    Tensors and NumPy arrays are stacked along a new first dimension into a ``Tensor``;
    Python ints become an int64 tensor, floats a float64 tensor, bools a bool tensor (as in
    PyTorch); strings stay a list; dicts, named tuples and lists are collated field by field,
    and a tuple sample gives a list of batches (so a ``(x, y)`` sample gives ``[X, Y]``).

    >>> default_collate([(lamina.ones(2), 0), (lamina.zeros(2), 1)])
    [tensor([[1., 1.], [0., 0.]]), tensor([0, 1])]
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        arr = _stack([b._data for b in batch], "tensor")
        if any(b.requires_grad for b in batch):  # keep the graph, like torch.stack
            return _ops.stack(batch)
        return _make(arr)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind not in "biuf":
            raise LaminaTypeError(f"default_collate: batch must contain tensors, NumPy arrays, "
                                  f"numbers, dicts or lists; found an array of dtype {elem.dtype}")
        return _wrap(_stack(batch, "array"))
    if isinstance(elem, np.generic) and elem.dtype.kind in "biuf":
        return _wrap(np.array(batch))
    if isinstance(elem, bool):
        return _make(np.array(batch, dtype=np.bool_))
    if isinstance(elem, int):
        return _make(np.array(batch, dtype=np.int64))
    if isinstance(elem, float):
        return _make(np.array(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        out = {k: default_collate([d[k] for d in batch]) for k in elem}
        if type(elem) is dict:
            return out
        try:
            return type(elem)(out)
        except TypeError:
            return out
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(b) != size for b in batch):
            raise LaminaValueError("default_collate: each element in list of batch should be of "
                                   "equal size")
        fields = [default_collate(list(s)) for s in zip(*batch)]
        if isinstance(elem, (tuple, list)):
            return fields
        try:
            return type(elem)(fields)
        except TypeError:
            return fields
    raise LaminaTypeError(f"default_collate: batch must contain tensors, NumPy arrays, numbers, "
                          f"dicts or lists; found {type(elem).__name__}")


def default_convert(data):
    """Turn NumPy arrays into tensors inside a sample, leaving everything else as is."""
    if isinstance(data, np.ndarray) and data.dtype.kind in "biuf":
        return _wrap(data)
    if isinstance(data, collections.abc.Mapping):
        return {k: default_convert(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(v) for v in data))
    if isinstance(data, (list, tuple)):
        return type(data)(default_convert(v) for v in data)
    return data


class DataLoader:
    """Iterate over ``dataset`` in mini-batches.

    Args:
        dataset: a map-style dataset (``__getitem__`` and ``__len__``).
        batch_size: samples per batch (``None``: yield single samples, not batched).
        shuffle: draw a new random order every epoch (every ``iter(loader)``); the same as
            ``sampler=RandomSampler(dataset, generator=generator)``.
        drop_last: drop the last batch when it would be smaller than ``batch_size``.
        collate_fn: turns a list of samples into a batch (default: ``default_collate``).
        generator: the ``lamina.Generator`` to shuffle with and to draw the workers' base
            seed from, once per ``iter(loader)`` (default: lamina's global one, seeded by
            ``lamina.manual_seed``), as in PyTorch.
        seed: shorthand for ``generator=lamina.Generator(seed)``: the same seed gives the
            same sequence of epochs.
        prefetch: prepare batches in a background thread while the current one trains:
            ``True`` keeps up to 2 batches ready, an int that many. Exceptions raised while
            loading come out of the loop; leaving the loop early stops the thread. Random
            draws inside a dataset's ``__getitem__`` then run in that thread: give such a
            dataset its own generator to stay reproducible.
        sampler: the order of the indices (a ``Sampler`` or any iterable of indices);
            excludes ``shuffle``.
        batch_sampler: yields whole batches of indices (lists); excludes ``batch_size``,
            ``shuffle``, ``sampler`` and ``drop_last``.
        num_workers: how many worker processes build the batches (0: the main process
            does). The batches and their order are those of ``num_workers=0``; see
            ``lamina.data.worker`` for how they travel and how workers are seeded.
        timeout: seconds to wait for a batch from the workers before a ``LaminaError``
            (0: wait as long as it takes).
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker after
            seeding, before loading.
        prefetch_factor: batches each worker prepares ahead (default 2 with workers).
        persistent_workers: keep the workers alive between epochs (else they stop at the
            end of each epoch).
        multiprocessing_context: a start method name (``"fork"``, ``"spawn"``,
            ``"forkserver"``) or a ``multiprocessing`` context for the workers (default:
            the platform's). With ``"spawn"`` the dataset and ``collate_fn`` must be
            picklable, as in PyTorch.
        pin_memory: accepted and does nothing: lamina's arrays live in ordinary CPU memory.

    ``dataset`` may be an ``IterableDataset``: its stream is batched in order (``shuffle``,
    ``sampler`` and ``batch_sampler`` are refused, as in PyTorch); with workers each worker
    iterates its own copy (split it with ``get_worker_info``).

    ``loader.sampler`` and ``loader.batch_sampler`` are set as in PyTorch (a
    ``SequentialSampler`` or ``RandomSampler`` by default, wrapped in a ``BatchSampler`` when
    batching); ``len(loader)`` is the length of the batch sampler (or of the sampler when
    ``batch_size=None``). The built-in samplers draw each epoch's order when the iteration
    starts, on the caller's thread, so seeds give the same batches with and without
    prefetching.

    Differences from PyTorch, on purpose: ``sampler`` and ``batch_sampler`` are keyword-only
    (lamina's third and fourth positional parameters are ``drop_last`` and ``collate_fn``; a
    sampler passed there is rejected); an empty dataset with ``shuffle=True`` gives an empty
    epoch (PyTorch raises).

    >>> loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, seed=0)
    >>> for xb, yb in loader:
    ...     loss = loss_fn(model(xb), yb)
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 drop_last: bool = False, collate_fn=None, generator: Generator | None = None,
                 seed: int | None = None, prefetch: bool | int = False, *,
                 sampler=None, batch_sampler=None, num_workers: int = 0,
                 pin_memory: bool = False, timeout: float = 0, worker_init_fn=None,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 multiprocessing_context=None):
        if batch_size is not None and (not isinstance(batch_size, (int, np.integer))
                                       or isinstance(batch_size, bool) or batch_size <= 0):
            raise LaminaValueError(f"DataLoader: batch_size should be a positive integer value or "
                                   f"None, but got batch_size={batch_size!r}")
        if not isinstance(drop_last, (bool, int, np.bool_, np.integer)):
            raise LaminaTypeError(f"DataLoader: drop_last should be a bool, got "
                                  f"{type(drop_last).__name__} (pass sampler= and batch_sampler= "
                                  "by keyword: lamina's positional order differs from PyTorch's "
                                  "after shuffle)")
        if collate_fn is not None and not callable(collate_fn):
            raise LaminaTypeError(f"DataLoader: collate_fn should be callable, got "
                                  f"{type(collate_fn).__name__}")
        _check_workers(num_workers, timeout, prefetch_factor, persistent_workers,
                       multiprocessing_context, prefetch, worker_init_fn)
        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            for name, value in (("shuffle", shuffle), ("sampler", sampler),
                                ("batch_sampler", batch_sampler)):
                if value:
                    raise LaminaValueError(f"DataLoader with IterableDataset: expected "
                                           f"unspecified {name} option, but got "
                                           f"{name}={value!r}")
        if sampler is not None and shuffle:
            raise LaminaValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise LaminaValueError("DataLoader: batch_sampler option is mutually exclusive "
                                       "with "
                                       "batch_size, shuffle, sampler, and drop_last")
            batch_size = None
        elif batch_size is None and drop_last:
            raise LaminaValueError("DataLoader: batch_size=None option disables auto-batching and "
                                   "is mutually exclusive with drop_last")
        for name, s in (("sampler", sampler), ("batch_sampler", batch_sampler)):
            if s is not None and not isinstance(s, collections.abc.Iterable):
                raise LaminaTypeError(f"DataLoader: {name} should be a Sampler or an iterable of "
                                      f"indices, got {type(s).__name__}")
        if generator is not None and seed is not None:
            raise LaminaValueError("DataLoader: pass either generator or seed, not both")
        if generator is not None and not isinstance(generator, Generator):
            raise LaminaTypeError(f"DataLoader: generator must be a lamina.Generator, got "
                                  f"{type(generator).__name__}")
        if isinstance(prefetch, bool):
            depth = 2 if prefetch else 0
        elif isinstance(prefetch, (int, np.integer)) and prefetch >= 0:
            depth = int(prefetch)
        else:
            raise LaminaValueError(f"DataLoader: prefetch must be a bool or a non-negative int, "
                                   f"got "
                                   f"{prefetch!r}")
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.generator = Generator(seed) if seed is not None else generator
        if sampler is None and not iterable:
            sampler = (RandomSampler(dataset, generator=self.generator) if self.shuffle
                       else SequentialSampler(dataset))
        if batch_sampler is None and self.batch_size is not None and not iterable:
            batch_sampler = BatchSampler(sampler, self.batch_size, self.drop_last)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.prefetch = depth
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.multiprocessing_context = multiprocessing_context
        self._iterator = None     # the persistent workers' iterator

    def __len__(self) -> int:
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)         # a TypeError when the stream has no length
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)

    def __iter__(self):
        if self.num_workers > 0:
            reuse = self.persistent_workers and self._iterator is not None \
                and not self._iterator._shut             # (an error shuts them down)
            base_seed = None if reuse else self._base_seed()
            tasks = None if isinstance(self.dataset, IterableDataset) else self._index_tasks()
            if reuse:
                self._iterator._reset(tasks)
                return self._iterator
            it = _MultiProcessingIter(self, tasks, base_seed)
            if self.persistent_workers:
                self._iterator = it
            return it
        self._base_seed()      # drawn and unused, as PyTorch does: see _base_seed
        if isinstance(self.dataset, IterableDataset):
            batches = self._stream()
            return _Prefetcher(batches, self.prefetch) if self.prefetch else batches
        # Built-in samplers draw the order here, on the caller's thread (a generator's body
        # runs only at its first ``next``, in the prefetch thread when prefetching), so seeds
        # give the same batches with and without prefetching.
        bs = self.batch_sampler
        if bs is None:
            batches = self._samples(*_order(self.sampler))
        elif type(bs) is BatchSampler and _is_builtin(bs.sampler):
            batches = self._batches(*_order(bs.sampler), bs.batch_size, bs.drop_last)
        else:
            batches = self._batches_from_lists(bs)
        if self.prefetch:
            return _Prefetcher(batches, self.prefetch)
        return batches

    def _base_seed(self) -> int:
        """The workers' base seed of a new iterator, drawn as PyTorch draws it: from the
        loader's ``generator`` when it has one (``seed=`` too), else from lamina's global
        generator, once per ``iter(loader)`` (persistent workers keep theirs), before the
        epoch's order, and with or without workers. So a seeded loader gives the same
        worker seeds run after run, and the same order with any ``num_workers``."""
        return int(rng(self.generator).integers(0, 2**62))

    def _index_tasks(self):
        """The worker tasks of one epoch: index lists (single indices when not batching).
        The order is drawn now, as ``__iter__`` does without workers."""
        bs = self.batch_sampler
        if bs is None:
            n, order = _order(self.sampler)
            return iter(range(n) if order is None else
                        order.tolist() if isinstance(order, np.ndarray) else order)
        if type(bs) is BatchSampler and _is_builtin(bs.sampler):
            n, order = _order(bs.sampler)
            size = bs.batch_size
            stop = n - n % size if bs.drop_last else n
            return (list(range(s, min(s + size, n))) if order is None
                    else order[s:s + size].tolist() for s in range(0, stop, size))
        return (list(idx) for idx in bs)

    def _stream(self):
        """Batches of an ``IterableDataset``, in the order it yields samples."""
        it = iter(self.dataset)
        if self.batch_size is None:
            for sample in it:
                yield self.collate_fn(sample) if self.collate_fn else default_convert(sample)
            return
        collate = self.collate_fn or default_collate
        while True:
            batch = [s for _, s in zip(range(self.batch_size), it)]
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                return
            yield collate(batch)

    def _samples(self, n: int, order):
        """Single samples (``batch_size=None``), converted or passed to ``collate_fn``;
        ``order``: an int64 array, ``None`` for 0..n-1, or a custom sampler to iterate."""
        if order is None:
            order = range(n)
        elif isinstance(order, np.ndarray):
            order = order.tolist()
        for i in order:
            sample = self.dataset[i]
            yield self.collate_fn(sample) if self.collate_fn else default_convert(sample)

    def _batches(self, n: int, order, bs: int, drop_last: bool):
        """Batches of ``bs`` along ``order`` (``n`` indices: an int64 array, or ``None`` for
        0..n-1)."""
        stop = n - n % bs if drop_last else n
        source = _tensor_source(self.dataset) if self.collate_fn is None else None
        if source is not None:
            arrays, index_map = source
            if order is None and index_map is None:
                for s in range(0, stop, bs):
                    yield [_wrap(a[s:s + bs].copy()) for a in arrays]
                return
            if order is None:
                order = index_map
            elif index_map is not None:
                order = index_map[order]
            for s in range(0, stop, bs):
                idx = order[s:s + bs]
                yield [_wrap(a.take(idx, axis=0)) for a in arrays]
            return
        collate = self.collate_fn or default_collate
        getitems = getattr(self.dataset, "__getitems__", None)
        for s in range(0, stop, bs):
            idx = order[s:s + bs].tolist() if order is not None else list(range(s, min(s + bs,
                                                                                     n)))
            samples = getitems(idx) if getitems else [self.dataset[i] for i in idx]
            yield collate(samples)

    def _batches_from_lists(self, batch_sampler):
        """Batches from an iterable of index lists (a custom batch sampler)."""
        source = _tensor_source(self.dataset) if self.collate_fn is None else None
        collate = self.collate_fn or default_collate
        getitems = getattr(self.dataset, "__getitems__", None)
        for idx in batch_sampler:
            if source is not None:
                arrays, index_map = source
                rows = np.asarray(idx, dtype=np.int64)
                if index_map is not None:
                    rows = index_map[rows]
                yield [_wrap(a.take(rows, axis=0)) for a in arrays]
                continue
            idx = list(idx)
            samples = getitems(idx) if getitems else [self.dataset[i] for i in idx]
            yield collate(samples)

    def __repr__(self) -> str:
        return (f"DataLoader(dataset={type(self.dataset).__name__}, batch_size="
                f"{self.batch_size}, shuffle={self.shuffle}, drop_last={self.drop_last}, "
                f"sampler={type(self.sampler).__name__})")


def _order(sampler) -> tuple[int, object]:
    """``(n, order)`` for one epoch of ``sampler``: ``order`` is ``None`` for 0..n-1 (a
    ``SequentialSampler``), this epoch's draw as an int64 array for another built-in sampler,
    or the sampler itself for any other (iterated as the batches are made)."""
    if type(sampler) is SequentialSampler:
        return len(sampler), None
    epoch = _epoch_indices(sampler)
    if epoch is None:
        return -1, sampler
    return len(epoch), epoch


def _check_workers(num_workers, timeout, prefetch_factor, persistent_workers, context,
                   prefetch, worker_init_fn) -> None:
    """PyTorch's checks of the worker options."""
    if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) \
            or num_workers < 0:
        raise LaminaValueError("DataLoader: num_workers option should be non-negative; use "
                               f"num_workers=0 to disable multiprocessing (got {num_workers!r})")
    if timeout < 0:
        raise LaminaValueError("DataLoader: timeout option should be non-negative")
    if num_workers == 0 and prefetch_factor is not None:
        raise LaminaValueError("DataLoader: prefetch_factor option could only be specified in "
                               "multiprocessing. let num_workers > 0 to enable multiprocessing, "
                               "otherwise set prefetch_factor to None.")
    if prefetch_factor is not None and prefetch_factor < 0:
        raise LaminaValueError("DataLoader: prefetch_factor option should be non-negative")
    if persistent_workers and num_workers == 0:
        raise LaminaValueError("DataLoader: persistent_workers option needs num_workers > 0")
    if context is not None:
        if num_workers == 0:
            raise LaminaValueError("DataLoader: multiprocessing_context can only be used with "
                                   "multi-process loading (num_workers > 0), but got "
                                   "num_workers=0")
        if isinstance(context, str):
            methods = multiprocessing.get_all_start_methods()
            if context not in methods:
                raise LaminaValueError(f"DataLoader: multiprocessing_context option should "
                                       f"specify a valid start method in {methods!r}, but got "
                                       f"multiprocessing_context={context!r}")
        elif not isinstance(context, multiprocessing.context.BaseContext):
            raise LaminaTypeError(f"DataLoader: multiprocessing_context option should be a "
                                  f"valid context object or a string specifying the start "
                                  f"method, but got multiprocessing_context={context!r}")
    if num_workers > 0 and prefetch:
        raise LaminaValueError("DataLoader: prefetch (a background thread) and num_workers "
                               "(worker processes) both load ahead; pass one of them")
    if worker_init_fn is not None and not callable(worker_init_fn):
        raise LaminaTypeError(f"DataLoader: worker_init_fn should be callable, got "
                              f"{type(worker_init_fn).__name__}")


_ITEM, _END, _ERR = 0, 1, 2


def _produce(batches, q: queue.Queue, stop: threading.Event) -> None:
    """The prefetch thread: put batches on ``q`` until done, stopped, or an error."""

    def put(msg) -> bool:
        while not stop.is_set():
            try:
                q.put(msg, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    try:
        for b in batches:
            if not put((_ITEM, b)):
                return
        put((_END, None))
    except BaseException as e:  # noqa: BLE001 - handed to the consuming thread
        put((_ERR, e))
    finally:
        batches.close()


class _Prefetcher:
    """Iterator over batches made by a background thread, at most ``depth`` ahead.

    The thread holds no reference to this object, so dropping the iterator (leaving a
    ``for`` loop early) runs ``__del__``, which stops and joins the thread.
    """

    def __init__(self, batches, depth: int):
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=_produce, args=(batches, self._q, self._stop),
                                        name="lamina-prefetch", daemon=True)
        self._thread.start()

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        kind, val = self._q.get()
        if kind == _ITEM:
            return val
        self.close()
        if kind == _ERR:
            raise val
        raise StopIteration

    def close(self) -> None:
        """Stop the background thread and wait for it (at most one batch's work)."""
        self._done = True
        self._stop.set()
        t = self._thread
        if t.is_alive() and t is not threading.current_thread():
            t.join()
        while True:  # drop batches made ahead
            try:
                self._q.get_nowait()
            except queue.Empty:
                break

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finalizer
            pass
