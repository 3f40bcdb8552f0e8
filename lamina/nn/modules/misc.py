"""The functional ``dropout2d``.

``Upsample`` and its two subclasses live in ``lamina.nn.modules.upsampling``, ``Embedding``
in ``lamina.nn.modules.sparse`` and ``Dropout2d`` in ``lamina.nn.modules.dropout`` (PyTorch's
paths); ``Upsample``, ``UpsamplingNearest2d``, ``UpsamplingBilinear2d``, ``embedding`` and
``EmbeddingFn`` are re-exported here for older imports and saved files."""

from __future__ import annotations

from lamina import backend
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn.modules.sparse import EmbeddingFn, embedding  # noqa: F401  (old path)
from lamina.nn.modules.upsampling import (  # noqa: F401  (old path)
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
)
from lamina.tensor import Tensor, _make

__all__ = ["dropout2d"]


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
