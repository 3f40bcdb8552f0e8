"""``torch.distributed`` for lamina, on MPI: collectives on tensors across processes.

Start the processes with ``mpirun`` (Open MPI or MPICH), one per rank; each calls
``init_process_group("mpi")`` and then the same collectives in the same order::

    mpirun -n 2 python train.py            # as root: add --allow-run-as-root;
                                           # more ranks than cores: add --oversubscribe

    import lamina.distributed as dist
    dist.init_process_group(backend="mpi")
    t = lamina.tensor([float(dist.get_rank())])
    dist.all_reduce(t)                      # every rank: 0 + 1 + ... + (N - 1)

PyTorch's names and semantics: the collectives change the tensor in place (``all_reduce``,
``broadcast``; ``reduce`` on ``dst`` only; ``all_gather`` fills a list), take
``op=ReduceOp.SUM``, ``group=None`` (the default group) and ``async_op`` (a ``Work`` whose
``wait()`` completes it). Where lamina differs from PyTorch:

* the only backend is ``"mpi"``: rank and world size come from ``mpirun``, so
  ``init_method``, ``world_size`` and ``rank`` are checked against it rather than used;
* there is one group, the default one (no ``new_group``);
* ``ReduceOp.AVG`` works (PyTorch's MPI backend refuses it): a sum, then a division;
* a collective that waits longer than ``timeout`` aborts the whole job with a message, and
  an uncaught exception on any rank aborts it too (see ``lamina.distributed.world``).

See docs/distributed.md for data-parallel training (``nn.parallel.DistributedDataParallel``,
``data.DistributedSampler``, ``lamina train --nproc N``) and its cost model.
"""

from __future__ import annotations

import numpy as np

from lamina.distributed import world as _w
from lamina.distributed.world import is_initialized
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor

__all__ = ["init_process_group", "destroy_process_group", "is_initialized", "is_available",
           "is_mpi_available", "get_rank", "get_world_size", "get_backend", "ReduceOp",
           "Work", "all_reduce", "broadcast", "all_gather", "reduce", "barrier",
           "all_gather_object", "broadcast_object_list", "group"]


class group:
    """``dist.group.WORLD``: the default group (the only one in lamina)."""

    WORLD = None


def is_available() -> bool:
    """Whether lamina.distributed can run: mpi4py (and so an MPI library) is installed."""
    return _w.mpi_available()


def is_mpi_available() -> bool:
    """The same as ``is_available()``: MPI is lamina's only backend."""
    return _w.mpi_available()


def init_process_group(backend: str | None = "mpi", init_method: str | None = None,
                       timeout=None, world_size: int = -1, rank: int = -1, store=None,
                       group_name: str = "", pg_options=None, device_id=None) -> None:
    """Join the job: every process started by ``mpirun`` calls this once.

    Args:
        backend: ``"mpi"`` (``None`` means the same); others raise, naming ``mpirun``.
        timeout: a ``datetime.timedelta`` (or seconds): how long a collective may wait for
            the other ranks before the job is aborted with a message (default 30 minutes).
        world_size, rank: optional checks: when given they must equal what ``mpirun``
            assigned (MPI decides them; they cannot be chosen here).
        init_method, store, group_name, pg_options, device_id: accepted for PyTorch
            compatibility and unused (MPI needs no rendezvous).
    """
    _w.init("mpi" if backend is None else backend, timeout)
    w = _w.get_world()
    for name, given, actual in (("world_size", world_size, w.size), ("rank", rank, w.rank)):
        if given not in (-1, None) and given != actual:
            _w.destroy()
            raise LaminaValueError(
                f"init_process_group: {name}={given} but mpirun started this process as "
                f"{name} {actual}; with MPI the launcher decides it (mpirun -n N)")


def destroy_process_group(group=None) -> None:
    """Leave the default group (MPI itself is finalized when the process exits)."""
    _w.destroy()


def get_rank(group=None) -> int:
    """This process's rank, 0..world_size-1."""
    return _w.get_world().rank


def get_world_size(group=None) -> int:
    """The number of processes in the job."""
    return _w.get_world().size


def get_backend(group=None) -> str:
    _w.get_world()
    return "mpi"


class ReduceOp:
    """How ``all_reduce`` and ``reduce`` combine the ranks' tensors, element by element."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<ReduceOp.{self.name}>"


for _name in ("SUM", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR", "AVG"):
    setattr(ReduceOp, _name, ReduceOp(_name))
del _name

_MPI_OPS = {"SUM": "SUM", "PRODUCT": "PROD", "MIN": "MIN", "MAX": "MAX", "BAND": "BAND",
            "BOR": "BOR", "BXOR": "BXOR", "AVG": "SUM"}


def _mpi_op(op, where: str):
    if not isinstance(op, ReduceOp):
        raise LaminaTypeError(f"{where}: op must be a dist.ReduceOp (ReduceOp.SUM, ...), got "
                              f"{op!r}")
    return getattr(_w.import_mpi(), _MPI_OPS[op.name])


class Work:
    """The handle of a collective started with ``async_op=True``: ``wait()`` blocks until it
    has finished (and the tensor holds the result); ``is_completed()`` asks without blocking.
    """

    def __init__(self, request, finish=None, name: str = "collective"):
        self._request = request
        self._finish = finish
        self._name = name
        self._done = False

    def is_completed(self) -> bool:
        if not self._done and self._request.Test():
            self._complete()
        return self._done

    def wait(self, timeout=None) -> bool:
        if not self._done:
            _w.get_world().wait(f"{self._name} (async)", self._request.Wait)
            self._complete()
        return True

    def _complete(self) -> None:
        self._done = True
        if self._finish is not None:
            self._finish()
            self._finish = None


class _Buffer:
    """The contiguous array a collective works on for ``tensor``, and how the result goes
    back into the tensor (a copy only when the tensor's array is not contiguous)."""

    def __init__(self, tensor, where: str):
        if not isinstance(tensor, Tensor):
            raise LaminaTypeError(f"{where}: expected a lamina Tensor, got "
                                  f"{type(tensor).__name__}")
        self.tensor = tensor
        arr = tensor._data
        self.array = arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)

    def done(self, scale: float | None = None) -> None:
        arr = self.tensor._data
        if scale is not None:
            self.array /= scale
        if self.array is not arr:
            arr[...] = self.array
        if self.tensor._vc is not None:       # an in-place change, as autograd sees one
            self.tensor._vc[0] += 1


def _run(name: str, blocking, nonblocking, args, async_op: bool, finish=None):
    w = _w.get_world()
    if async_op:
        return Work(nonblocking(*args), finish, name)
    w.wait(name, blocking, *args)
    if finish is not None:
        finish()
    return None


def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group=None,
               async_op: bool = False):
    """Combine ``tensor`` across all ranks with ``op``; every rank gets the result in place.

    >>> dist.all_reduce(t, op=dist.ReduceOp.MAX)
    """
    w = _w.get_world()
    b = _Buffer(tensor, "all_reduce")
    mop = _mpi_op(op, "all_reduce")
    inplace = _w.import_mpi().IN_PLACE
    avg = w.size if op is ReduceOp.AVG else None
    return _run("all_reduce", w.comm.Allreduce, w.comm.Iallreduce, (inplace, b.array, mop),
                async_op, lambda: b.done(avg))


def reduce(tensor: Tensor, dst: int, op: ReduceOp = ReduceOp.SUM, group=None,
           async_op: bool = False):
    """Combine ``tensor`` across all ranks with ``op`` into ``tensor`` on rank ``dst`` only;
    the other ranks' tensors are left as they were."""
    w = _w.get_world()
    _check_rank(dst, "reduce", "dst")
    b = _Buffer(tensor, "reduce")
    mop = _mpi_op(op, "reduce")
    if w.rank == dst:
        args = (_w.import_mpi().IN_PLACE, b.array, mop, dst)
        finish = lambda: b.done(w.size if op is ReduceOp.AVG else None)
    else:
        args = (b.array, None, mop, dst)
        finish = None
    return _run("reduce", w.comm.Reduce, w.comm.Ireduce, args, async_op, finish)


def broadcast(tensor: Tensor, src: int, group=None, async_op: bool = False):
    """Copy rank ``src``'s ``tensor`` into ``tensor`` on every other rank (same shape and
    dtype on every rank)."""
    w = _w.get_world()
    _check_rank(src, "broadcast", "src")
    b = _Buffer(tensor, "broadcast")
    return _run("broadcast", w.comm.Bcast, w.comm.Ibcast, (b.array, src), async_op,
                b.done if w.rank != src else None)


def all_gather(tensor_list: list, tensor: Tensor, group=None, async_op: bool = False):
    """Fill ``tensor_list[i]`` with rank ``i``'s ``tensor``, on every rank. ``tensor_list``
    holds ``world_size`` tensors of ``tensor``'s shape and dtype (the same on every rank:
    unlike some PyTorch backends, sizes may not differ between ranks)."""
    w = _w.get_world()
    b = _Buffer(tensor, "all_gather")
    if not isinstance(tensor_list, list) or len(tensor_list) != w.size:
        got = len(tensor_list) if isinstance(tensor_list, list) else type(tensor_list).__name__
        raise LaminaValueError(f"all_gather: tensor_list must be a list of world_size="
                               f"{w.size} tensors, got {got}")
    for i, t in enumerate(tensor_list):
        if not isinstance(t, Tensor) or t.shape != tensor.shape or t.dtype != tensor.dtype:
            what = (f"shape {tuple(t.shape)} and dtype {t.dtype}" if isinstance(t, Tensor)
                    else type(t).__name__)
            raise LaminaValueError(f"all_gather: tensor_list[{i}] must have the input's shape "
                                   f"{tuple(tensor.shape)} and dtype {tensor.dtype}, got {what}")
    recv = np.empty((w.size, *b.array.shape), b.array.dtype)

    def finish():
        for i, t in enumerate(tensor_list):
            t._data[...] = recv[i]
            if t._vc is not None:
                t._vc[0] += 1

    return _run("all_gather", w.comm.Allgather, w.comm.Iallgather, (b.array, recv), async_op,
                finish)


def barrier(group=None, async_op: bool = False, device_ids=None):
    """Wait until every rank has reached this call."""
    w = _w.get_world()
    return _run("barrier", w.comm.Barrier, w.comm.Ibarrier, (), async_op)


def all_gather_object(object_list: list, obj, group=None) -> None:
    """Fill ``object_list`` (``world_size`` slots) with every rank's ``obj`` (pickled:
    only for objects from trusted ranks of the same job)."""
    w = _w.get_world()
    if not isinstance(object_list, list) or len(object_list) != w.size:
        raise LaminaValueError(f"all_gather_object: object_list must be a list of world_size="
                               f"{w.size} slots, got {object_list!r}")
    object_list[:] = w.wait("all_gather_object", w.comm.allgather, obj)


def broadcast_object_list(object_list: list, src: int = 0, group=None, device=None) -> None:
    """Replace ``object_list``'s items on every rank with rank ``src``'s (pickled)."""
    w = _w.get_world()
    _check_rank(src, "broadcast_object_list", "src")
    if not isinstance(object_list, list):
        raise LaminaTypeError(f"broadcast_object_list: expected a list, got "
                              f"{type(object_list).__name__}")
    got = w.wait("broadcast_object_list", w.comm.bcast, object_list, src)
    if len(got) != len(object_list):
        raise LaminaValueError(f"broadcast_object_list: rank {src} sent {len(got)} objects, this "
                               f"rank's list has {len(object_list)}")
    object_list[:] = got


def _check_rank(r, where: str, arg: str) -> None:
    size = _w.get_world().size
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or not 0 <= r < size:
        raise LaminaValueError(f"{where}: {arg} must be a rank in 0..{size - 1}, got {r!r}")
