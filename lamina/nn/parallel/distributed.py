"""``DistributedDataParallel``: one model replica per process, gradients averaged across them.

Each process (rank) runs the same model on its own share of every batch. After
``loss.backward()`` returns, every replica holds the same gradient, the mean over ranks of
the local ones, so the same optimizer step keeps the replicas identical. With a loss that
averages over the batch, N ranks of batch B then take exactly the steps one process would
take with batch N*B (up to the summation order of floats), the property tests/distributed
checks.

How the gradients are averaged (PyTorch's design, simplified):

* at construction rank 0's parameters and buffers are broadcast to every rank;
* the parameters are grouped into *buckets* of about ``bucket_cap_mb`` (the first one
  smaller, 1 MB, so communication starts early), in the reverse of registration order,
  roughly the order backward produces their gradients;
* each parameter carries a post-accumulate-grad hook. When every parameter of a bucket has
  its gradient for this pass, the bucket's gradients are copied into one flat buffer,
  divided by the world size and summed across ranks with a non-blocking all-reduce
  (``MPI_Iallreduce``) while backward goes on with the layers below;
* at the end of the backward pass (an engine callback) the engine waits for every bucket's
  reduction and each ``param.grad`` becomes its slice of the reduced buffer.

A parameter that got no gradient on this rank in a pass contributes zeros (PyTorch raises
unless ``find_unused_parameters=True``; lamina always handles it). Whether the reductions
overlap computation depends on the MPI library making progress in the background; Open MPI
progresses a non-blocking collective mainly inside MPI calls, so on a small machine most of
the all-reduce time still shows (docs/distributed.md measures it).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from lamina import distributed as dist
from lamina.autograd import engine
from lamina.autograd.grad_mode import GradMode
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn.module import Module
from lamina.tensor import _make

__all__ = ["DistributedDataParallel"]

_FIRST_BUCKET_BYTES = 1024 * 1024        # PyTorch's dist._DEFAULT_FIRST_BUCKET_BYTES


class _Bucket:
    """Parameters whose gradients are reduced together, in one flat array of their dtype."""

    def __init__(self, params: list):
        self.params = params
        self.offsets = np.cumsum([0] + [p._data.size for p in params]).tolist()
        self.dtype = params[0]._data.dtype
        self.ready = 0                   # parameters whose gradient has arrived this pass
        self.buffer = None               # the flat gradients being reduced
        self.work = None                 # the all-reduce in flight

    def launch(self, world_size: int) -> None:
        """Copy the gradients (zeros where none arrived) into a fresh flat buffer, divide it
        by the world size and start the all-reduce."""
        buf = np.empty(self.offsets[-1], self.dtype)
        for p, a, b in zip(self.params, self.offsets, self.offsets[1:]):
            if p.grad is None:
                buf[a:b] = 0
            else:
                buf[a:b] = p.grad._data.reshape(-1)
        buf /= world_size
        self.buffer = buf
        self.work = dist.all_reduce(_make(buf), async_op=True)

    def finish(self) -> None:
        """Wait for the all-reduce; each parameter's ``.grad`` becomes its slice (a view of
        the bucket's buffer, which no later pass writes: each pass gets a fresh one)."""
        self.work.wait()
        for p, a, b in zip(self.params, self.offsets, self.offsets[1:]):
            g = self.buffer[a:b].reshape(p._data.shape)
            if p.grad is None:
                p.grad = _make(g)
            else:
                p.grad._data = g
        self.buffer = self.work = None
        self.ready = 0


class DistributedDataParallel(Module):
    """Data-parallel training across the processes of ``lamina.distributed``.

    Args:
        module: the model; every rank builds it the same way. Rank 0's parameters and
            buffers are copied to all ranks here.
        broadcast_buffers: copy rank 0's buffers (BatchNorm running statistics) to every
            rank at the start of each training forward, as PyTorch does (default True). Use
            ``nn.SyncBatchNorm`` for batch statistics over the global batch.
        bucket_cap_mb: the size of a gradient bucket in MiB (default 25; the first bucket is
            1 MiB).
        process_group: ``None`` (the default group; lamina has no other).
        device_ids, output_device, dim, find_unused_parameters, check_reduction,
        gradient_as_bucket_view, static_graph: accepted for PyTorch compatibility; lamina's
            behaviour is that of CPU modules, and unused parameters are always handled.

    ``module`` is the wrapped model; ``state_dict()`` keys carry the ``module.`` prefix, as
    in PyTorch (``ddp.module.state_dict()`` has the plain keys). Averaging is done with
    ``ReduceOp.SUM`` of gradients pre-divided by the world size.

    >>> dist.init_process_group("mpi")
    >>> model = nn.parallel.DistributedDataParallel(make_model())
    >>> loss_fn(model(x_local), y_local).backward()    # grads are now averaged
    >>> opt.step()
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool = True, process_group=None,
                 bucket_cap_mb: float | None = None, find_unused_parameters: bool = False,
                 check_reduction: bool = False, gradient_as_bucket_view: bool = False,
                 static_graph: bool = False, **kwargs):
        super().__init__()
        if not isinstance(module, Module):
            raise LaminaTypeError(f"DistributedDataParallel: module must be an nn.Module, got "
                                  f"{type(module).__name__}")
        if not dist.is_initialized():
            raise LaminaValueError("DistributedDataParallel: Default process group has not been "
                                   "initialized, please make sure to call init_process_group.")
        cap = 25.0 if bucket_cap_mb is None else float(bucket_cap_mb)
        if not cap > 0:
            raise LaminaValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got "
                                   f"{bucket_cap_mb!r}")
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.require_backward_grad_sync = True
        self.world_size = dist.get_world_size()
        object.__setattr__(self, "_sync_pass", False)
        object.__setattr__(self, "_queued", False)
        object.__setattr__(self, "_next", 0)     # the next bucket to reduce, in bucket order
        self._sync_module_states()
        params = [p for p in module.parameters() if p.requires_grad]
        object.__setattr__(self, "_buckets", _make_buckets(params, cap * 1024 * 1024))
        object.__setattr__(self, "_handles", [])
        for bucket in self._buckets:
            for p in bucket.params:
                self._handles.append(p.register_post_accumulate_grad_hook(
                    lambda p, b=bucket: self._grad_ready(b)))

    # --- forward ----------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        object.__setattr__(self, "_sync_pass", GradMode.enabled and
                           self.require_backward_grad_sync)
        if self.broadcast_buffers and self.training and self.world_size > 1:
            for b in self.module.buffers():
                dist.broadcast(b, 0)
        for bucket in self._buckets:     # a pass that failed midway leaves nothing behind
            if bucket.work is not None:
                bucket.work.wait()
            bucket.buffer = bucket.work = None
            bucket.ready = 0
        object.__setattr__(self, "_queued", False)
        object.__setattr__(self, "_next", 0)
        return self.module(*args, **kwargs)

    @contextmanager
    def no_sync(self):
        """Inside this block, forward passes (and their backward) skip the all-reduce: the
        gradients accumulate locally; the first synchronized backward after it averages the
        accumulated sums.

        >>> with ddp.no_sync():
        ...     for x, y in micro_batches[:-1]:
        ...         loss_fn(ddp(x), y).backward()
        >>> loss_fn(ddp(micro_batches[-1][0]), micro_batches[-1][1]).backward()  # averages
        """
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    # --- backward -----------------------------------------------------------------------------
    def _grad_ready(self, bucket: _Bucket) -> None:
        """A parameter of ``bucket`` has its whole gradient for this pass."""
        if not self._sync_pass:
            return
        if not self._queued:
            engine.queue_callback(self._finish_pass)
            object.__setattr__(self, "_queued", True)
        bucket.ready += 1
        # reduce complete buckets strictly in bucket order: MPI needs every rank to start
        # the same collectives in the same order, whatever order the gradients come in
        buckets, i = self._buckets, self._next
        while i < len(buckets) and buckets[i].ready == len(buckets[i].params):
            buckets[i].launch(self.world_size)
            i += 1
        object.__setattr__(self, "_next", i)

    def _finish_pass(self) -> None:
        """End of backward: reduce the buckets not started yet (a parameter got no gradient
        on this rank), in bucket order, then wait for all of them."""
        object.__setattr__(self, "_queued", False)
        object.__setattr__(self, "_sync_pass", False)
        for bucket in self._buckets[self._next:]:
            bucket.launch(self.world_size)
        object.__setattr__(self, "_next", len(self._buckets))
        for bucket in self._buckets:
            bucket.finish()

    # --- setup ---------------------------------------------------------------------------------
    def _sync_module_states(self) -> None:
        """Rank 0's parameters and buffers, on every rank."""
        for t in [*self.module.parameters(), *self.module.buffers()]:
            dist.broadcast(t, 0)



def _make_buckets(params: list, cap_bytes: float) -> list[_Bucket]:
    """Consecutive runs of ``params`` (reversed: backward meets the last layers first), one
    dtype per bucket, the first up to 1 MiB and the others up to ``cap_bytes``."""
    buckets, current, size = [], [], 0
    limit = min(_FIRST_BUCKET_BYTES, cap_bytes)
    for p in reversed(params):
        nbytes = p._data.nbytes
        if current and (size + nbytes > limit or p._data.dtype != current[0]._data.dtype):
            buckets.append(_Bucket(current))
            current, size, limit = [], 0, cap_bytes
        current.append(p)
        size += nbytes
    if current:
        buckets.append(_Bucket(current))
    return buckets
