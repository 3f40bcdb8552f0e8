"""A seeded synthetic detection and segmentation set: coloured shapes on a noisy background.

``Shapes(n, image_size=32, ...)`` draws ``n`` RGB images, each with 1 to ``max_objects``
non-overlapping rectangles, ellipses and triangles of random size, colour and position, and
keeps for every image the boxes, class labels, instance masks and a semantic mask. The same
seed gives the same images on any machine (NumPy's PCG64 generator, pixel-centre
rasterization in float64).

>>> ds = Shapes(100, image_size=32, seed=0)
>>> image, target = ds[0]
>>> image.shape, sorted(target)
((3, 32, 32), ['boxes', 'labels', 'masks', 'semantic'])
"""

from __future__ import annotations

import numpy as np

from lamina.data.dataset import Dataset
from lamina.errors import LaminaIndexError, LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor

__all__ = ["Shapes", "SHAPE_CLASSES"]

SHAPE_CLASSES = ("rectangle", "ellipse", "triangle")


def _int(v, op: str, name: str, low: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
        raise LaminaValueError(f"{op}: {name} must be an int >= {low}, got {v!r}")
    return int(v)


def _rasterize(kind: int, x1: int, y1: int, w: int, h: int, yy: np.ndarray, xx: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
    """The boolean mask of one shape inside the box ``[x1, x1 + w) x [y1, y1 + h)``, tested at
    the pixel centres ``(yy, xx)``."""
    inside = (xx >= x1) & (xx < x1 + w) & (yy >= y1) & (yy < y1 + h)
    if kind == 0:                                        # rectangle: the whole box
        return inside
    if kind == 1:                                        # ellipse inscribed in the box
        cx, cy, rx, ry = x1 + w / 2, y1 + h / 2, w / 2, h / 2
        return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
    # triangle: base along the bottom edge, apex somewhere on the top edge
    apex = x1 + rng.uniform(0.2, 0.8) * w
    a, b, c = (x1, y1 + h), (x1 + w, y1 + h), (apex, y1)

    def side(p, q):
        return (q[0] - p[0]) * (yy - p[1]) - (q[1] - p[1]) * (xx - p[0])

    s1, s2, s3 = side(a, b), side(b, c), side(c, a)
    return inside & (((s1 >= 0) & (s2 >= 0) & (s3 >= 0)) | ((s1 <= 0) & (s2 <= 0) & (s3 <= 0)))


class Shapes(Dataset):
    """Synthetic shapes for detection and segmentation (a ``Dataset``).

    ``ds[i]`` is ``(image, target)``: a float32 ``(3, H, W)`` tensor in ``[0, 1]`` and a dict
    with ``boxes`` (float32 ``(K, 4)``, ``(x1, y1, x2, y2)`` pixel-edge coordinates, tight
    around the mask), ``labels`` (int64 ``(K,)``, indices into ``classes``), ``masks`` (bool
    ``(K, H, W)``, one per instance) and ``semantic`` (int64 ``(H, W)``: 0 background, ``1 +
    label`` on each shape), all as lamina tensors.

    Args:
        n: number of images.
        image_size: side of the square images (>= 16).
        max_objects: at most this many shapes per image (at least 1 each).
        min_size, max_size: side range of each shape's box (default ``image_size // 5`` and
            ``image_size // 2``).
        noise: standard deviation of the Gaussian pixel noise.
        seed: the generator's seed.

    ``images`` (``(n, 3, H, W)`` float32) and ``semantic`` (``(n, H, W)`` int64) hold the whole
    set as arrays; ``targets[i]`` is image ``i``'s dict of arrays.
    """

    classes = SHAPE_CLASSES
    num_classes = len(SHAPE_CLASSES)

    def __init__(self, n: int, image_size: int = 32, max_objects: int = 3,
                 min_size: int | None = None, max_size: int | None = None,
                 noise: float = 0.05, seed: int = 0):
        op = "Shapes"
        n = _int(n, op, "n", 0)
        size = _int(image_size, op, "image_size", 16)
        max_objects = _int(max_objects, op, "max_objects", 1)
        lo = _int(size // 5 if min_size is None else min_size, op, "min_size", 3)
        hi = _int(size // 2 if max_size is None else max_size, op, "max_size", lo)
        if hi > size:
            raise LaminaValueError(f"{op}: max_size must be <= image_size ({size}), got {hi}")
        if not isinstance(noise, (int, float)) or isinstance(noise, bool) or noise < 0:
            raise LaminaValueError(f"{op}: noise must be a number >= 0, got {noise!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise LaminaTypeError(f"{op}: seed must be an int, got {type(seed).__name__}")
        rng = np.random.default_rng(int(seed))
        yy, xx = np.mgrid[0:size, 0:size] + 0.5
        self.image_size = size
        self.images = np.empty((n, 3, size, size), np.float32)
        self.semantic = np.zeros((n, size, size), np.int64)
        self.targets: list[dict] = []
        for i in range(n):
            background = rng.uniform(0.0, 0.35, 3)
            img = np.broadcast_to(background[:, None, None], (3, size, size)).copy()
            occupied = np.zeros((size, size), bool)
            boxes, labels, masks = [], [], []
            for _ in range(int(rng.integers(1, max_objects + 1))):
                for _attempt in range(20):               # find a free spot, or give up
                    w, h = (int(v) for v in rng.integers(lo, hi + 1, 2))
                    x1 = int(rng.integers(0, size - w + 1))
                    y1 = int(rng.integers(0, size - h + 1))
                    if not occupied[max(y1 - 1, 0):y1 + h + 1, max(x1 - 1, 0):x1 + w + 1].any():
                        break
                else:
                    continue
                kind = int(rng.integers(0, 3))
                mask = _rasterize(kind, x1, y1, w, h, yy, xx, rng)
                colour = rng.uniform(0.45, 1.0, 3)
                img[:, mask] = colour[:, None]
                occupied[y1:y1 + h, x1:x1 + w] = True
                ys, xs = np.nonzero(mask)
                boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
                labels.append(kind)
                masks.append(mask)
                self.semantic[i][mask] = kind + 1
            img += rng.normal(0.0, noise, img.shape)
            self.images[i] = np.clip(img, 0.0, 1.0)
            self.targets.append({
                "boxes": np.asarray(boxes, np.float32).reshape(-1, 4),
                "labels": np.asarray(labels, np.int64),
                "masks": np.asarray(masks, bool).reshape(-1, size, size),
                "semantic": self.semantic[i],
            })

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index):
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise LaminaTypeError(f"Shapes: index must be an int, got {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise LaminaIndexError(f"Shapes: index {index} is out of range for {len(self)} images")
        t = self.targets[int(index)]
        return Tensor(self.images[index]), {k: Tensor(v) for k, v in t.items()}

    def __repr__(self) -> str:
        return (f"Shapes(n={len(self)}, image_size={self.image_size}, "
                f"classes={list(self.classes)})")

# torchvision's dataset classes over local files (issue #15)
from lamina.vision.datasets_std import CIFAR10, MNIST, FashionMNIST, ImageFolder  # noqa: E402

__all__ += ["MNIST", "FashionMNIST", "CIFAR10", "ImageFolder"]
