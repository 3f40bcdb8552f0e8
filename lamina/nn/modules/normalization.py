"""``BatchNorm1d`` (and ``BatchNorm2d``/``BatchNorm3d``, the same op on more dims) and
``LayerNorm``: PyTorch's parameters, buffers, state_dict keys and train/eval behaviour."""

from __future__ import annotations

import numpy as np

from lamina import creation
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn import init
from lamina.nn.module import Module
from lamina.nn.parameter import Parameter
from lamina.ops.nn import batch_norm, group_norm, layer_norm
from lamina.tensor import Tensor, _make

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm"]


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


class LayerNorm(Module):
    """Normalize over the trailing ``normalized_shape`` dims of each sample, then apply an
    elementwise ``weight`` and ``bias`` (ones and zeros initially) of that shape."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        if not isinstance(normalized_shape, (tuple, list)):
            raise LaminaTypeError(f"LayerNorm: normalized_shape must be an int or a tuple of "
                                  f"ints, got {normalized_shape!r}")
        for v in normalized_shape:
            _positive_int("LayerNorm", "normalized_shape", v)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(creation.ones(*self.normalized_shape, dtype=dtype))
            if bias:
                self.bias = Parameter(creation.zeros(*self.normalized_shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        p = self._parameters
        return layer_norm(input, self.normalized_shape, p["weight"], p["bias"], self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, "
                f"bias={self._parameters['bias'] is not None}")


class GroupNorm(Module):
    """Split the C channels into ``num_groups`` groups and normalize each group of each
    sample over its channels and spatial positions; then a per-channel ``weight`` and
    ``bias`` (ones and zeros initially). Input (N, C, *)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        _positive_int("GroupNorm", "num_groups", num_groups)
        _positive_int("GroupNorm", "num_channels", num_channels)
        if num_channels % num_groups != 0:
            raise LaminaValueError("GroupNorm: num_channels must be divisible by num_groups")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        self._has_bias = affine and bias
        self.register_parameter(
            "weight", Parameter(creation.ones(num_channels, dtype=dtype)) if affine else None)
        self.register_parameter(
            "bias", Parameter(creation.zeros(num_channels, dtype=dtype)) if self._has_bias
            else None)

    def reset_parameters(self) -> None:
        if self.affine:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        p = self._parameters
        return group_norm(input, self.num_groups, p["weight"], p["bias"], self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
                f"affine={self.affine}, bias={self._has_bias}")
