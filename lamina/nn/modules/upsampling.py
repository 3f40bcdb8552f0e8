"""``Upsample``, ``UpsamplingNearest2d`` and ``UpsamplingBilinear2d``: layers over
``lamina.ops.resample.interpolate`` (PyTorch's ``torch.nn.modules.upsampling``)."""

from __future__ import annotations

from lamina.nn.modules.module import Module
from lamina.ops.resample import interpolate
from lamina.tensor import Tensor

__all__ = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]


class Upsample(Module):
    """Resize by ``size`` or ``scale_factor`` with ``mode`` ``'nearest'``,
    ``'nearest-exact'``, ``'area'``, ``'linear'``, ``'bilinear'``, ``'bicubic'`` or
    ``'trilinear'`` (``align_corners`` for the interpolating ones); see
    ``lamina.ops.resample.interpolate``.

    >>> nn.Upsample(scale_factor=2, mode="bilinear")(lamina.randn(1, 3, 4, 4)).shape
    (1, 3, 8, 8)
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest",
                 align_corners=None, recompute_scale_factor=None):
        super().__init__()
        self.size = size
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, (int, float)) \
            else scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        return interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                           self.recompute_scale_factor)

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor}"
        else:
            info = f"size={self.size}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """``Upsample(mode='nearest')`` for 4-d inputs."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample(mode='bilinear', align_corners=True)``, as PyTorch defines it."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
