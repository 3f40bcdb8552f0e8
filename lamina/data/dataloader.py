"""``DataLoader``: mini-batches from a dataset, optionally shuffled, optionally prefetched.

Follows ``torch.utils.data.DataLoader`` for map-style datasets: ``len(loader)`` batches per
epoch, a fresh permutation every epoch when ``shuffle=True``, ``drop_last``, ``collate_fn``.
Differences, on purpose: there are no worker processes (``prefetch=True`` runs one background
thread instead), and a ``TensorDataset`` (or a ``Subset`` of one, as ``random_split`` makes) is
batched by indexing its whole arrays once per batch instead of collating samples one by one.
"""

from __future__ import annotations

import collections.abc
import queue
import threading

import numpy as np

from lamina import ops as _ops
from lamina.backend import Generator, canonical_dtype, rng
from lamina.data.dataset import _tensor_source
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
        arr = _stack([b.data for b in batch], "tensor")
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
        shuffle: draw a new random order every epoch (every ``iter(loader)``).
        drop_last: drop the last batch when it would be smaller than ``batch_size``.
        collate_fn: turns a list of samples into a batch (default: ``default_collate``).
        generator: the ``lamina.Generator`` to shuffle with (default: lamina's global one,
            seeded by ``lamina.manual_seed``).
        seed: shorthand for ``generator=lamina.Generator(seed)``: the same seed gives the
            same sequence of epochs.
        prefetch: prepare batches in a background thread while the current one trains:
            ``True`` keeps up to 2 batches ready, an int that many. Exceptions raised while
            loading come out of the loop; leaving the loop early stops the thread. Random
            draws inside a dataset's ``__getitem__`` then run in that thread: give such a
            dataset its own generator to stay reproducible.
        num_workers, pin_memory: accepted so PyTorch scripts run unchanged; ignored.

    >>> loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, seed=0)
    >>> for xb, yb in loader:
    ...     loss = loss_fn(model(xb), yb)
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool = False,
                 drop_last: bool = False, collate_fn=None, generator: Generator | None = None,
                 seed: int | None = None, prefetch: bool | int = False, *,
                 num_workers: int = 0, pin_memory: bool = False):
        if batch_size is not None and (not isinstance(batch_size, (int, np.integer))
                                       or isinstance(batch_size, bool) or batch_size <= 0):
            raise LaminaValueError(f"DataLoader: batch_size should be a positive integer value or "
                                   f"None, but got batch_size={batch_size!r}")
        if batch_size is None and drop_last:
            raise LaminaValueError("DataLoader: batch_size=None option disables auto-batching and "
                                   "is mutually exclusive with drop_last")
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
        self.prefetch = depth
        self.num_workers = num_workers
        self.pin_memory = pin_memory

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.batch_size is None:
            return n
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        # The order is drawn here, on the caller's thread, so seeds give the same batches
        # with and without prefetching.
        order = rng(self.generator).permutation(n) if self.shuffle else None
        batches = self._batches(n, order)
        if self.prefetch:
            return _Prefetcher(batches, self.prefetch)
        return batches

    def _batches(self, n: int, order):
        bs = self.batch_size
        if bs is None:
            for i in range(n):
                sample = self.dataset[int(order[i]) if order is not None else i]
                yield self.collate_fn(sample) if self.collate_fn else default_convert(sample)
            return
        stop = n - n % bs if self.drop_last else n
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

    def __repr__(self) -> str:
        return (f"DataLoader(dataset={type(self.dataset).__name__}, batch_size="
                f"{self.batch_size}, shuffle={self.shuffle}, drop_last={self.drop_last})")


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
