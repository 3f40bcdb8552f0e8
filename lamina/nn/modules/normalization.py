"""``LayerNorm``, ``GroupNorm`` and ``RMSNorm``: PyTorch's parameters, buffers, state_dict keys and
behaviour. ``BatchNorm1d``/``2d``/``3d`` live in ``lamina.nn.modules.batchnorm`` (PyTorch's
path) and are re-exported here for older imports."""

from __future__ import annotations

from lamina import creation
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn import init

# BatchNorm lives in lamina.nn.modules.batchnorm (PyTorch's path); re-exported for old imports
from lamina.nn.modules.batchnorm import (  # noqa: E402, F401
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    _BatchNorm,
    _positive_int,
)
from lamina.nn.modules.module import Module
from lamina.nn.parameter import Parameter
from lamina.ops.nn import group_norm, layer_norm
from lamina.ops.rms_norm import rms_norm
from lamina.tensor import Tensor

__all__ = ["LayerNorm", "GroupNorm", "RMSNorm"]


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


class RMSNorm(Module):
    """``y = x / sqrt(mean(x^2) + eps) * weight`` over the trailing ``normalized_shape`` dims
    (Zhang and Sennrich, 2019): LayerNorm without the mean and the bias.

    Args:
        normalized_shape: an int or the shape of the trailing dims to normalize over.
        eps: added to the mean square; None (the default) means the input dtype's
            ``finfo.eps``, as in PyTorch.
        elementwise_affine: learn ``weight`` (ones initially) of ``normalized_shape``.

    >>> nn.RMSNorm(8)(lamina.randn(2, 5, 8)).shape
    (2, 5, 8)
    """

    def __init__(self, normalized_shape, eps: float | None = None,
                 elementwise_affine: bool = True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        if any(not isinstance(d, int) or d <= 0 for d in self.normalized_shape):
            raise LaminaValueError(f"RMSNorm: normalized_shape must be positive ints, got "
                                   f"{normalized_shape!r}")
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(creation.ones(*self.normalized_shape, dtype=dtype))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self) -> None:
        if self.elementwise_affine:
            init.ones_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        return rms_norm(x, self.normalized_shape, self._parameters["weight"], self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
