"""``BatchNorm1d``, ``BatchNorm2d`` and ``BatchNorm3d`` (PyTorch's path:
``lamina.nn.modules.batchnorm``)."""

from __future__ import annotations

import numpy as np

from lamina import creation
from lamina import distributed as dist
from lamina.autograd.function import Function
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn import init
from lamina.nn.modules.module import Module
from lamina.nn.parameter import Parameter
from lamina.ops.nn import _update_running, batch_norm
from lamina.tensor import Tensor, _make

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm"]


def _positive_int(owner: str, name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise LaminaTypeError(f"{owner}: {name} must be an int, got {type(v).__name__} {v!r}")
    if v <= 0:
        raise LaminaValueError(f"{owner}: {name} must be positive, got {v}")
    return v

class _BatchNorm(Module):
    """Shared by BatchNorm1d/2d/3d; subclasses set ``_dims`` (the accepted input ranks)."""

    _dims: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None,
                 dtype=None, *, bias: bool = True):
        super().__init__()
        _positive_int(type(self).__name__, "num_features", num_features)
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
            raise LaminaValueError(f"{type(self).__name__}: eps must be a non-negative number, "
                                   f"got {eps!r}")
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self._has_bias = affine and bias
        if affine:
            self.weight = Parameter(creation.empty(num_features, dtype=dtype))
            if bias:
                self.bias = Parameter(creation.empty(num_features, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", creation.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", creation.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", _make(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean._data[...] = 0
            self.running_var._data[...] = 1
            self.num_batches_tracked._data[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim not in self._dims:
            want = " or ".join(f"{d}D" for d in self._dims)
            raise LaminaValueError(f"expected {want} input (got {input.ndim}D input)")

    def forward(self, input: Tensor) -> Tensor:
        return batch_norm(*self._args(input))

    def _args(self, input: Tensor) -> tuple:
        """``F.batch_norm``'s arguments for this module and ``input``; counts the batch."""
        self._check_input_dim(input)
        b = self._buffers
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            nbt = b["num_batches_tracked"]
            if nbt is not None:
                nbt._data += 1
                if self.momentum is None:  # cumulative moving average
                    momentum = 1.0 / float(nbt._data)
        # batch statistics in training, or whenever there are no running statistics
        use_batch = self.training or (b["running_mean"] is None and b["running_var"] is None)
        track = not self.training or self.track_running_stats
        p = self._parameters
        return (input, b["running_mean"] if track else None,
                b["running_var"] if track else None, p["weight"], p["bias"], use_batch,
                momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self._has_bias}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) input over N (and L), per channel C.

    ``y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias``. Training uses the batch mean
    and biased variance and updates ``running_mean``/``running_var`` (unbiased variance)
    with ``momentum`` (``None``: cumulative average over ``num_batches_tracked``); eval uses
    the running statistics. One fused op (``lamina.ops.nn.batch_norm``).
    """

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) input, per channel (see ``BatchNorm1d``)."""

    _dims = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch normalization of (N, C, D, H, W) input, per channel (see ``BatchNorm1d``)."""

    _dims = (5,)


# --- SyncBatchNorm ----------------------------------------------------------------------
# ``SyncBatchNorm``: batch normalization whose statistics are those of the global batch, the
# union of every rank's local batch.
#
# Plain ``BatchNorm`` under ``DistributedDataParallel`` normalizes each rank's batch by its
# own mean and variance (PyTorch's default too). ``SyncBatchNorm`` makes N ranks of batch B
# compute what one process computes on the N*B batch:
#
# * forward: each rank's per-channel count, mean and sum of squared deviations are gathered
#   (one ``all_gather``) and combined by Chan's parallel formula (stable: no ``E[x^2] -
#   E[x]^2`` cancellation) into the global mean and biased variance; the running statistics
#   are updated with the global values (unbiased variance), identically on every rank;
# * backward: ``gx = w * invstd * (g - sum(g) / n - xhat * sum(g * xhat) / n)`` needs the two
#   per-channel sums over the global batch: one ``all_reduce`` of both. ``weight`` and
#   ``bias`` get the local sums, which DDP then averages, as for any parameter.
#
# Outside training, or without an initialized process group of more than one rank, it is
# ``BatchNorm`` (PyTorch falls back the same way).

class _SyncBatchNormFn(Function):
    """Batch normalization in training mode over the batches of all ranks (see the module
    docstring); the collectives run inside forward and backward."""

    @staticmethod
    def forward(ctx, x, w, b, rm, rv, momentum, eps):
        axes = (0, *range(2, x.ndim))
        per_channel = (1, -1) + (1,) * (x.ndim - 2)
        c = x.shape[1]
        n_local = x.size // c if c else 0
        mean_local = x.sum(axis=axes) / max(n_local, 1)
        m2_local = np.square(x - mean_local.reshape(per_channel)).sum(axis=axes)
        # float64 for the exchange: a count of samples is exact there at any size
        stats = np.stack([np.full(c, n_local, np.float64), mean_local, m2_local])
        world = dist.get_world_size()
        gathered = [_make(np.empty_like(stats)) for _ in range(world)]
        dist.all_gather(gathered, _make(stats))
        g = np.stack([t._data for t in gathered])            # (ranks, 3, C)
        counts, means, m2s = g[:, 0], g[:, 1], g[:, 2]
        n = counts.sum(axis=0)
        if c == 0 or n[0] <= 1:
            raise LaminaValueError(f"SyncBatchNorm: Expected more than 1 value per channel when "
                                   f"training, got {int(n[0]) if c else 0} over all ranks "
                                   f"(this rank's input size {tuple(x.shape)})")
        mean = ((counts * means).sum(axis=0) / n).astype(x.dtype)
        var = ((m2s.sum(axis=0) + (counts * np.square(means - mean)).sum(axis=0)) / n
               ).astype(x.dtype)
        _update_running(rm, rv, mean, var, momentum, int(n[0]))
        invstd = (1.0 / np.sqrt(var + eps)).reshape(per_channel)
        xhat = (x - mean.reshape(per_channel)) * invstd
        out = xhat if w is None else xhat * w.reshape(per_channel)
        if b is not None:
            out = out + b.reshape(per_channel)
        ctx.save_for_backward(x, xhat, invstd, w)
        ctx.axes, ctx.n = axes, n.reshape(per_channel).astype(x.dtype)
        return out if out is not xhat else xhat.copy()

    @staticmethod
    def backward(ctx, g):
        xhat, invstd, w = ctx.saved[1:4]
        axes = ctx.axes
        nx, nw, nb = ctx.needs_input_grad[:3]
        sum_g = g.sum(axis=axes)
        sum_gx = (g * xhat).sum(axis=axes)
        gx = None
        if nx:        # the same on every rank (the same graph): the all-reduce matches up
            sums = _make(np.stack([sum_g, sum_gx]))
            dist.all_reduce(sums)
            shape = invstd.shape
            total_g, total_gx = sums._data[0].reshape(shape), sums._data[1].reshape(shape)
            scale = invstd if w is None else invstd * w.reshape(shape)
            gx = (g - total_g / ctx.n - xhat * (total_gx / ctx.n)) * scale
        return (gx, sum_gx if nw else None, sum_g if nb else None, None, None, None, None)


class SyncBatchNorm(_BatchNorm):
    """``BatchNorm`` over the global batch of all ranks (PyTorch's ``nn.SyncBatchNorm``);
    takes ``BatchNorm``'s arguments and any input of 2 or more dims.

    Usually made from an existing model: ``nn.SyncBatchNorm.convert_sync_batchnorm(model)``.

    >>> model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    >>> ddp = nn.parallel.DistributedDataParallel(model)
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, process_group=None,
                 device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype)
        self.process_group = process_group

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim < 2:
            raise LaminaValueError(f"SyncBatchNorm: expected at least 2D input (got "
                                   f"{input.ndim}D input)")

    def forward(self, input: Tensor) -> Tensor:
        args = self._args(input)
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return batch_norm(*args)
        x, rm, rv, w, b, _, momentum, eps = args
        return _SyncBatchNormFn.apply(x, w, b, rm, rv, momentum, eps)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """``module`` with every ``BatchNorm1d/2d/3d`` inside it replaced by a
        ``SyncBatchNorm`` that shares its parameters and buffers (the module itself is
        returned when it is not a BatchNorm). Fused ``BatchNormReLU`` modules (from
        ``nn.utils.fuse``) are refused: convert before fusing."""
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            if type(module) not in (BatchNorm1d, BatchNorm2d, BatchNorm3d):
                raise LaminaValueError(
                    f"SyncBatchNorm.convert_sync_batchnorm: cannot convert "
                    f"{type(module).__name__} (a fused or custom BatchNorm); convert the model "
                    "before nn.utils.fuse")
            out = cls(module.num_features, module.eps, module.momentum, module.affine,
                      module.track_running_stats, process_group)
            for name in ("weight", "bias"):
                out._parameters[name] = module._parameters[name]
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                out._buffers[name] = module._buffers[name]
            out._has_bias = module._has_bias
            out.train(module.training)
            return out
        for name, child in list(module._modules.items()):
            if child is not None:
                new = cls.convert_sync_batchnorm(child, process_group)
                if new is not child:
                    module._modules[name] = new
        return module
