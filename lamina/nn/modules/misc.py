"""``Upsample`` and the functional ``dropout2d`` (``interpolate`` lives in ``lamina.ops.resample``).

``Embedding`` lives in ``lamina.nn.modules.sparse`` and ``Dropout2d`` in
``lamina.nn.modules.dropout`` (PyTorch's paths); ``embedding`` and ``EmbeddingFn`` are
re-exported here for older imports."""

from __future__ import annotations

from lamina import backend
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn.module import Module
from lamina.nn.modules.sparse import EmbeddingFn, embedding  # noqa: F401  (old path)
from lamina.ops.resample import interpolate
from lamina.tensor import Tensor, _make

__all__ = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "dropout2d"]


# --- channel dropout -------------------------------------------------------------------------

def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of an ``(N, C, H, W)`` (or ``(C, H, W)``) input with probability
    ``p``, scaling the kept ones by ``1 / (1 - p)``.

    >>> dropout2d(lamina.ones(2, 4, 3, 3), 0.5).shape
    (2, 4, 3, 3)
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise LaminaValueError(f"dropout2d: dropout probability has to be between 0 and 1, but got "
                               f"{p!r}")
    if not isinstance(input, Tensor):
        raise LaminaTypeError(f"dropout2d: expected a Tensor, got {type(input).__name__}")
    if input.ndim not in (3, 4):
        raise LaminaValueError(f"dropout2d: expected a 3-D or 4-D input, got shape "
                               f"{tuple(input.shape)}")
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0.0
    shape = input.shape[:-2] + (1, 1)
    keep = backend.rng().random(shape) >= p
    return input * _make((keep / (1.0 - p)).astype(input.dtype))


# --- upsampling ------------------------------------------------------------------------------

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
