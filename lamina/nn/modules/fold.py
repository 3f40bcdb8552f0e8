"""``Unfold`` and ``Fold``: sliding blocks as layers (``F.unfold`` / ``F.fold``, see
``lamina.ops.fold``), with PyTorch's arguments."""

from __future__ import annotations

from lamina.nn.modules.module import Module
from lamina.ops.fold import fold, unfold
from lamina.tensor import Tensor

__all__ = ["Unfold", "Fold"]


class Unfold(Module):
    """Extract sliding blocks: ``(N, C, H, W)`` -> ``(N, C*kh*kw, L)``.

    >>> nn.Unfold(kernel_size=(2, 3))(lamina.randn(2, 5, 3, 4)).shape
    (2, 30, 4)
    """

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input: Tensor) -> Tensor:
        return unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class Fold(Module):
    """Sum sliding blocks back into an image: ``(N, C*kh*kw, L)`` -> ``(N, C,
    *output_size)``, overlapping blocks adding up.

    >>> nn.Fold(output_size=(4, 5), kernel_size=(2, 2))(lamina.randn(1, 12, 12)).shape
    (1, 3, 4, 5)
    """

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size = output_size
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input: Tensor) -> Tensor:
        return fold(input, self.output_size, self.kernel_size, self.dilation, self.padding,
                    self.stride)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")
