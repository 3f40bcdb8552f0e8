"""Image grids of samples (generated digits, reconstructions) as one array or a PNG."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from lamina.errors import LaminaValueError
from lamina.tensor import Tensor

__all__ = ["make_grid", "save_grid"]


def make_grid(images, nrow: int | None = None, padding: int = 1,
              pad_value: float = 1.0) -> np.ndarray:
    """Tile ``images`` (N, H, W), (N, 1, H, W) or (N, 3, H, W) into one image with ``nrow``
    images per row (default: a near-square grid), ``padding`` pixels of ``pad_value``
    between them. Returns (rows, cols) for grey images, (rows, cols, 3) for colour.

    >>> make_grid(np.zeros((16, 1, 8, 8))).shape
    (37, 37)
    """
    owner = "make_grid"
    if isinstance(images, Tensor):
        images = images._data
    a = np.asarray(images, dtype=np.float64)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    elif a.ndim == 4 and a.shape[1] == 3:
        a = a.transpose(0, 2, 3, 1)
    if a.ndim not in (3, 4) or len(a) == 0:
        raise LaminaValueError(f"{owner}: images must have shape (N, H, W), (N, 1, H, W) or "
                               f"(N, 3, H, W) with N >= 1, got {np.shape(images)}")
    n = len(a)
    if nrow is None:
        nrow = math.ceil(math.sqrt(n))
    if isinstance(nrow, bool) or not isinstance(nrow, (int, np.integer)) or nrow < 1:
        raise LaminaValueError(f"{owner}: nrow must be an int >= 1, got {nrow!r}")
    if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) or padding < 0:
        raise LaminaValueError(f"{owner}: padding must be an int >= 0, got {padding!r}")
    rows = math.ceil(n / nrow)
    h, w = a.shape[1:3]
    out = np.full((rows * (h + padding) + padding, nrow * (w + padding) + padding)
                  + a.shape[3:], pad_value)
    for i in range(n):
        r, c = divmod(i, nrow)
        y, x = padding + r * (h + padding), padding + c * (w + padding)
        out[y:y + h, x:x + w] = a[i]
    return out


def save_grid(images, path, nrow: int | None = None, padding: int = 1) -> Path:
    """Save ``make_grid(images)`` as a PNG at ``path`` (values clipped to [0, 1]; needs
    matplotlib). Returns the path."""
    grid = np.clip(make_grid(images, nrow, padding), 0.0, 1.0)
    try:
        from matplotlib.image import imsave
    except ImportError:
        raise LaminaValueError("save_grid: writing a PNG needs matplotlib "
                               "(pip install matplotlib)") from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    imsave(path, grid, cmap="gray" if grid.ndim == 2 else None, vmin=0.0, vmax=1.0)
    return path
