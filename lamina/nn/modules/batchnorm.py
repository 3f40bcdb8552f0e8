"""``BatchNorm1d``, ``BatchNorm2d`` and ``BatchNorm3d`` (PyTorch's path:
``lamina.nn.modules.batchnorm``)."""

from __future__ import annotations

import numpy as np

from lamina import creation
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn import init
from lamina.nn.modules.module import Module
from lamina.nn.parameter import Parameter
from lamina.ops.nn import batch_norm
from lamina.tensor import Tensor, _make

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d"]


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
