"""``RMSNorm``: root-mean-square layer normalization, PyTorch's ``nn.RMSNorm``."""

from __future__ import annotations

from lamina import creation
from lamina.errors import LaminaValueError
from lamina.nn import init
from lamina.nn.module import Module
from lamina.nn.parameter import Parameter
from lamina.ops.rms_norm import rms_norm
from lamina.tensor import Tensor

__all__ = ["RMSNorm"]


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
