"""Worker processes for ``DataLoader(num_workers=N)``, with PyTorch's semantics.

The main process owns the order: it draws each epoch's indices from the sampler and sends
them, one batch's worth per task, to the workers through one index queue per worker (round
robin, at most ``prefetch_factor`` tasks per worker ahead). Each worker builds the batch
(``dataset[i]`` and ``collate_fn``) and puts it on the shared result queue; the main process
hands batches out in task order, whatever order they arrive in, so the batches are those of
``num_workers=0``.

What travels between the processes: tasks are index lists; results are the collated batches
with every ``Tensor`` replaced by its NumPy array (``_Wire``), rebuilt as tensors in the main
process. The queues pickle these objects between lamina's own processes, which made them;
nothing read from a file is ever unpickled.

Each worker seeds Python's ``random``, NumPy's global ``np.random`` and lamina's global
generator with ``base_seed + worker_id``, then calls ``worker_init_fn(worker_id)``.
``base_seed`` is drawn as PyTorch draws it (``DataLoader._base_seed``): from the loader's
``generator`` when it has one, else from lamina's global generator, once per
``iter(loader)`` (persistent workers keep theirs across epochs). ``get_worker_info()``
tells code running in a worker which one it is (``None`` in the main process); an
``IterableDataset`` uses it to split its stream, since every worker iterates its own copy.

An exception in a worker comes out of the main process's loop as the same exception type,
its message naming the worker and holding the worker's traceback; the workers are then shut
down. They are also shut down at the end of an epoch (unless ``persistent_workers``), when
the iterator is dropped (leaving the loop early), and after ``timeout`` seconds without a
batch (a ``LaminaError``).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import queue
import random
import sys
import time
import traceback

import numpy as np

from lamina import backend
from lamina.data.dataset import _tensor_source
from lamina.errors import LaminaError
from lamina.tensor import Tensor, _make

__all__ = ["WorkerInfo", "get_worker_info"]

_POLL = 0.1            # seconds between checks of the done flag and of the workers' health
_MANAGER_CHECK = 1.0   # seconds a worker waits before checking that its parent lives


class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker: ``id`` (0..num_workers-1),
    ``num_workers``, ``seed`` (this worker's seed: base seed + id) and ``dataset`` (this
    worker's copy of the dataset)."""

    def __init__(self, id: int, num_workers: int, seed: int, dataset):
        self.id = id
        self.num_workers = num_workers
        self.seed = seed
        self.dataset = dataset

    def __repr__(self) -> str:
        return (f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed}, "
                f"dataset={type(self.dataset).__name__})")


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """This worker's ``WorkerInfo`` when called in a ``DataLoader`` worker process, else
    ``None`` (``torch.utils.data.get_worker_info``).

    >>> class Stream(IterableDataset):
    ...     def __iter__(self):
    ...         info = get_worker_info()
    ...         start = 0 if info is None else info.id
    ...         step = 1 if info is None else info.num_workers
    ...         return iter(range(start, 100, step))
    """
    return _worker_info


# --- what travels between the processes -----------------------------------------------------

class _Wire:
    """A tensor on its way from a worker: only its NumPy array."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array


def _to_wire(x):
    if isinstance(x, Tensor):
        return _Wire(x._data)
    if isinstance(x, dict):
        items = {k: _to_wire(v) for k, v in x.items()}
        return items if type(x) is dict else _rebuild(type(x), items)
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(_to_wire(v) for v in x))
    if isinstance(x, (list, tuple)):
        vals = [_to_wire(v) for v in x]
        return vals if type(x) is list else _rebuild(type(x), vals)
    return x


def _from_wire(x):
    if isinstance(x, _Wire):
        return _make(x.array)
    if isinstance(x, dict):
        items = {k: _from_wire(v) for k, v in x.items()}
        return items if type(x) is dict else _rebuild(type(x), items)
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(_from_wire(v) for v in x))
    if isinstance(x, (list, tuple)):
        vals = [_from_wire(v) for v in x]
        return vals if type(x) is list else _rebuild(type(x), vals)
    return x


def _rebuild(cls, contents):
    try:
        return cls(contents)
    except TypeError:
        return contents


class _ExceptionWrapper:
    """An exception raised in a worker, with the worker's traceback as text."""

    def __init__(self, exc_info, where: str):
        self.exc_type = exc_info[0]
        self.msg = (f"Caught {self.exc_type.__name__} {where}.\nOriginal "
                    + "".join(traceback.format_exception(*exc_info)))

    def reraise(self):
        msg = self.msg
        if self.exc_type is KeyError:   # KeyError shows its argument's repr: keep the lines
            msg = KeyErrorMessage(msg)
        try:
            exc = self.exc_type(msg)
        except Exception:  # noqa: BLE001 - a type that takes other arguments
            raise LaminaError(msg) from None
        raise exc


class KeyErrorMessage(str):
    """A str whose repr is itself, so a re-raised KeyError's traceback prints readably."""

    def __repr__(self):
        return self


class _IterableEnd:
    """A worker's ``IterableDataset`` copy is exhausted."""

    def __init__(self, worker_id: int):
        self.worker_id = worker_id


class _Resume:
    """Start the dataset's iteration again (a new epoch with ``persistent_workers``)."""


# --- the worker process ---------------------------------------------------------------------

class _Fetcher:
    """Builds one batch (or sample) from a task's indices, as the main process would."""

    def __init__(self, dataset, iterable: bool, auto_collation: bool, collate_fn,
                 drop_last: bool):
        from lamina.data.dataloader import default_collate, default_convert
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate = collate_fn or (default_collate if auto_collation else default_convert)
        self.drop_last = drop_last
        self.iterator = iter(dataset) if iterable else None
        self.source = None if (iterable or collate_fn is not None) else _tensor_source(dataset)

    def fetch(self, index):
        if self.iterator is not None:
            return self._next_of_stream(index)
        if not self.auto_collation:
            return self.collate(self.dataset[index])
        if self.source is not None:           # a TensorDataset: index its arrays at once
            from lamina.data.dataloader import _wrap
            arrays, index_map = self.source
            rows = np.asarray(index, dtype=np.int64)
            if index_map is not None:
                rows = index_map[rows]
            return [_wrap(a.take(rows, axis=0)) for a in arrays]
        getitems = getattr(self.dataset, "__getitems__", None)
        samples = getitems(index) if getitems else [self.dataset[i] for i in index]
        return self.collate(samples)

    def _next_of_stream(self, batch_size):
        if not self.auto_collation:
            return self.collate(next(self.iterator))
        batch = list(itertools.islice(self.iterator, batch_size))
        if not batch or (self.drop_last and len(batch) < batch_size):
            raise StopIteration
        return self.collate(batch)


def _worker_loop(dataset, iterable, auto_collation, collate_fn, drop_last, index_queue,
                 result_queue, done_event, base_seed, init_fn, worker_id, num_workers,
                 parent_pid):
    global _worker_info
    seed = base_seed + worker_id
    random.seed(seed)
    np.random.seed(seed % 2**32)
    backend.manual_seed(seed)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
    where = f"in DataLoader worker process {worker_id}"
    failure = None
    fetcher = None
    try:
        if init_fn is not None:
            init_fn(worker_id)
        fetcher = _Fetcher(dataset, iterable, auto_collation, collate_fn, drop_last)
    except Exception:  # noqa: BLE001 - reported with the first task
        failure = _ExceptionWrapper(sys.exc_info(), where)
    ended = False
    last_check = time.monotonic()
    try:
        while True:
            try:
                task = index_queue.get(timeout=_POLL)
            except queue.Empty:
                if time.monotonic() - last_check > _MANAGER_CHECK:
                    last_check = time.monotonic()
                    if os.getppid() != parent_pid:     # the main process died: stop
                        break
                continue
            if task is None:                           # shut down
                break
            if isinstance(task, _Resume):
                ended = False
                if failure is None:
                    try:
                        fetcher = _Fetcher(dataset, iterable, auto_collation, collate_fn,
                                           drop_last)
                    except Exception:  # noqa: BLE001
                        failure = _ExceptionWrapper(sys.exc_info(), where)
                result_queue.put((task, None))
                continue
            if done_event.is_set() or ended:
                continue                               # drain until told to stop
            idx, index = task
            if failure is not None:
                data, failure = failure, None
            else:
                try:
                    data = _to_wire(fetcher.fetch(index))
                except StopIteration:
                    data, ended = _IterableEnd(worker_id), True
                except Exception:  # noqa: BLE001 - re-raised in the main process
                    data = _ExceptionWrapper(sys.exc_info(), where)
            result_queue.put((idx, data))
            del data
    except KeyboardInterrupt:
        pass
    if done_event.is_set():
        result_queue.cancel_join_thread()   # the main process no longer reads: don't block
        result_queue.close()


# --- the main process's iterator ------------------------------------------------------------

def _context(spec):
    """The multiprocessing context named or given by ``multiprocessing_context``."""
    if spec is None:
        return multiprocessing.get_context()
    if isinstance(spec, str):
        return multiprocessing.get_context(spec)
    return spec


class _MultiProcessingIter:
    """Batches made by ``loader.num_workers`` worker processes, in the sampler's order.

    ``tasks``: an iterator of index lists (or single indices when not batching) for a
    map-style dataset, ``None`` for an ``IterableDataset``; ``base_seed``: the workers' seeds
    are ``base_seed + worker_id``.
    """

    def __init__(self, loader, tasks, base_seed: int):
        self._batch_size = loader.batch_size   # (no reference to the loader: no cycle)
        self._iterable = tasks is None
        self._n = loader.num_workers
        self._prefetch = loader.prefetch_factor if loader.prefetch_factor is not None else 2
        self._timeout = loader.timeout
        self._persistent = loader.persistent_workers
        self._auto_collation = loader.batch_size is not None or loader.batch_sampler is not None
        self._shut = True
        ctx = _context(loader.multiprocessing_context)
        self._result_queue = ctx.Queue()
        self._done = ctx.Event()
        self._index_queues = []
        self._workers = []
        self._shut = False
        for i in range(self._n):
            q = ctx.Queue()
            q.cancel_join_thread()
            w = ctx.Process(target=_worker_loop, name=f"lamina-dataloader-worker-{i}",
                            args=(loader.dataset, self._iterable, self._auto_collation,
                                  loader.collate_fn, loader.drop_last, q, self._result_queue,
                                  self._done, base_seed, loader.worker_init_fn, i, self._n,
                                  os.getpid()),
                            daemon=True)
            w.start()
            self._index_queues.append(q)
            self._workers.append(w)
        self._epoch(tasks)

    # -- one epoch --
    def _epoch(self, tasks):
        self._tasks = tasks
        self._send_idx = 0
        self._rcvd_idx = 0
        self._task_info: dict = {}   # task -> (worker,) or (worker, data) once it arrived
        self._active = [True] * self._n
        self._cycle = itertools.cycle(range(self._n))
        for _ in range(self._prefetch * self._n):
            if not self._put_task():
                break

    def _reset(self, tasks):
        """A new epoch on the same (persistent) workers."""
        if self._shut:
            raise LaminaError("DataLoader: the persistent workers were shut down")
        # wait for what the last epoch left in flight (it may have been left early)
        pending = sum(1 for info in self._task_info.values()
                      if len(info) == 1 and self._active[info[0]])
        while pending:
            _, data = self._get()
            pending -= 1
        if self._iterable:
            for q in self._index_queues:
                q.put(_Resume())
            resumed = 0
            while resumed < self._n:
                task, _ = self._get()
                resumed += isinstance(task, _Resume)
        self._epoch(tasks)

    def _put_task(self) -> bool:
        if self._iterable:
            index = self._batch_size
        else:
            try:
                index = next(self._tasks)
            except StopIteration:
                return False
        for _ in range(self._n):
            w = next(self._cycle)
            if self._active[w]:
                break
        else:
            return False
        self._index_queues[w].put((self._send_idx, index))
        self._task_info[self._send_idx] = (w,)
        self._send_idx += 1
        return True

    def __iter__(self):
        return self

    def __next__(self):
        while True:
            # skip the tasks of workers whose stream has ended (they never answer them)
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info is not None and (len(info) == 2 or self._active[info[0]]):
                    break
                self._task_info.pop(self._rcvd_idx, None)
                self._rcvd_idx += 1
            else:
                if not self._persistent:
                    self._shutdown()
                raise StopIteration
            info = self._task_info[self._rcvd_idx]
            if len(info) == 2:
                del self._task_info[self._rcvd_idx]
                self._rcvd_idx += 1
                return self._deliver(info[1])
            idx, data = self._get()
            if isinstance(data, _IterableEnd):
                self._active[data.worker_id] = False
                continue
            if idx != self._rcvd_idx:           # early: keep it until its turn
                self._task_info[idx] = self._task_info[idx] + (data,)
                continue
            del self._task_info[idx]
            self._rcvd_idx += 1
            return self._deliver(data)

    def _deliver(self, data):
        if isinstance(data, _ExceptionWrapper):
            self._shutdown()
            data.reraise()
        self._put_task()
        return _from_wire(data)

    def _get(self):
        """The next result from any worker, watching the timeout and the workers' health."""
        start = time.monotonic()
        while True:
            try:
                return self._result_queue.get(timeout=_POLL)
            except queue.Empty:
                pass
            dead = [w for w in self._workers if not w.is_alive()]
            if dead:
                self._shutdown()
                pids = ", ".join(f"{w.pid} (exit code {w.exitcode})" for w in dead)
                raise LaminaError(f"DataLoader worker(s) {pids} exited unexpectedly")
            if self._timeout and time.monotonic() - start > self._timeout:
                self._shutdown()
                raise LaminaError(f"DataLoader timed out after {self._timeout} seconds "
                                  "waiting for a batch from its workers")

    def _shutdown(self) -> None:
        """Stop and join the workers (terminating any that do not stop within seconds)."""
        if self._shut:
            return
        self._shut = True
        self._done.set()
        for q in self._index_queues:
            try:
                q.put(None)
            except (OSError, ValueError):
                pass
        for w in self._workers:
            w.join(timeout=5)
            if w.is_alive():
                w.terminate()
                w.join()
        for q in self._index_queues:
            q.close()
        self._result_queue.cancel_join_thread()
        self._result_queue.close()

    def __del__(self):
        try:
            self._shutdown()
        except Exception:  # noqa: BLE001 - never raise from a finalizer
            pass
