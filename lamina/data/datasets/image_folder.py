"""``ImageFolder``: images sorted into one sub-folder per class, read with Pillow.

Pillow is an optional dependency (``pip install lamina[data]``).
"""

from __future__ import annotations

import os

import numpy as np

from lamina.data.dataset import Dataset
from lamina.data.datasets._common import require
from lamina.errors import LaminaIndexError, LaminaTypeError, LaminaValueError
from lamina.tensor import _make

__all__ = ["ImageFolder", "find_classes", "load_image", "IMG_EXTENSIONS"]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp",
                  ".gif")

_MODES = (None, "RGB", "L", "RGBA")
_GRAY = ("1", "L", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def find_classes(root: str | os.PathLike) -> tuple[list[str], dict[str, int]]:
    """The class folders of ``root``, sorted, and ``{class name: index}`` (torchvision's
    rule: every sub-folder is a class, hidden ones too)."""
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"ImageFolder: root folder {root} does not exist")
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
    if not classes:
        raise FileNotFoundError(f"ImageFolder: couldn't find any class folder in {root}; "
                                "expected one sub-folder per class, e.g. root/cat/x.png, "
                                "root/dog/y.png")
    return classes, {c: i for i, c in enumerate(classes)}


def load_image(path: str, mode: str | None = "RGB") -> np.ndarray:
    """Read one image file into a float32 array of shape ``(C, H, W)`` with values in
    ``[0, 1]`` (see ``ImageFolder`` for ``mode``)."""
    if mode not in _MODES:
        raise LaminaValueError(f"load_image: mode must be one of {_MODES}, got {mode!r}")
    pil = require("PIL.Image", "pillow", "ImageFolder")
    try:
        with pil.open(path) as img:
            if mode is None:
                if img.mode in _GRAY:
                    target = img.mode if img.mode != "1" else "L"
                elif img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                    target = "RGBA"
                else:
                    target = "RGB"
            else:
                target = mode
            if img.mode != target:
                img = img.convert(target)
            arr = np.asarray(img)
    except OSError as e:  # includes PIL.UnidentifiedImageError
        raise LaminaValueError(f"load_image: cannot read {path} as an image ({e})") from None
    if arr.dtype == np.uint8:
        scale = 255.0
    elif arr.dtype.kind in "iu":  # 16-bit grayscale ("I;16" or "I")
        scale = 65535.0
    else:  # "F": floats are taken as they are
        scale = 1.0
    if arr.ndim == 2:
        arr = arr[None]
    else:
        arr = arr.transpose(2, 0, 1)
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if scale != 1.0:
        out /= np.float32(scale)
    return out


class ImageFolder(Dataset):
    """Images arranged as ``root/<class>/<image>`` (torchvision's ``ImageFolder`` layout)::

        root/cat/001.png
        root/cat/nested/002.jpg
        root/dog/003.png

    Classes are the sub-folders of ``root``, sorted by name (label ``i`` is
    ``classes[i]``); each class folder is searched recursively for files with one of
    ``extensions`` (case-insensitive). Files are read lazily, one per ``ds[i]``.

    Each sample is ``(image, label)``: the image a float32 tensor of shape ``(C, H, W)``
    (channels first) with values in ``[0, 1]`` (8-bit pixels divided by 255, 16-bit ones by
    65535), the label an int64 0-d tensor. ``transform`` gets the image tensor and
    ``target_transform`` the label tensor.

    Grayscale and colour (``mode``):
        * ``"RGB"`` (default, as torchvision): every image becomes 3 channels; grayscale
          files are replicated into R, G and B, palette files expanded, alpha dropped.
        * ``"L"``: every image becomes 1 channel of luminance
          (``L = 0.299 R + 0.587 G + 0.114 B``, Pillow's ITU-R 601-2 conversion).
        * ``"RGBA"``: 4 channels; opaque images get alpha 1.
        * ``None``: each file as it is: 1 channel for grayscale files (16-bit ones keep
          their precision), 4 for files with transparency, 3 otherwise. Mixing kinds then
          gives samples of different shapes, which the ``DataLoader`` cannot stack.

    Images of different sizes cannot be stacked into a batch either: resize them with a
    ``transform`` or beforehand.

    Attributes: ``classes``, ``class_to_idx``, ``num_classes``, ``samples`` (list of
    ``(path, label)``), ``imgs`` (the same list), ``targets`` (the labels).

    Errors: FileNotFoundError when ``root`` does not exist, has no class folders, or a
    class has no image file (unless ``allow_empty=True``); ImportError naming the extra
    without Pillow; ValueError naming the file when a file cannot be decoded.

    Source, size and licence: those of your images.
    """

    name = "ImageFolder"

    def __init__(self, root: str | os.PathLike, transform=None, target_transform=None,
                 mode: str | None = "RGB", extensions=IMG_EXTENSIONS,
                 allow_empty: bool = False):
        require("PIL.Image", "pillow", "ImageFolder")
        if mode not in _MODES:
            raise LaminaValueError(f"ImageFolder: mode must be one of {_MODES}, got {mode!r}")
        self.root = os.fspath(root)
        self.mode = mode
        self.transform = transform
        self.target_transform = target_transform
        self.extensions = tuple(e.lower() for e in extensions)
        self.classes, self.class_to_idx = find_classes(self.root)
        samples, empty = [], []
        for cls in self.classes:
            found = []
            folder = os.path.join(self.root, cls)
            for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
                dirnames.sort()
                for fname in sorted(filenames):
                    if fname.lower().endswith(self.extensions):
                        found.append((os.path.join(dirpath, fname), self.class_to_idx[cls]))
            if not found:
                empty.append(cls)
            samples += found
        if empty and not allow_empty:
            raise FileNotFoundError(f"ImageFolder: found no valid file for the classes "
                                    f"{', '.join(empty)} in {self.root}; supported "
                                    f"extensions are: {', '.join(self.extensions)}")
        self.samples = samples
        self.imgs = samples
        self.targets = [t for _, t in samples]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index):
        n = len(self.samples)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise LaminaTypeError(f"ImageFolder: index must be an int, got {type(index).__name__}")
        if not -n <= index < n:
            raise LaminaIndexError(f"ImageFolder: index {index} is out of range for {n} samples")
        path, target = self.samples[int(index)]
        x = _make(load_image(path, self.mode))
        y = _make(np.array(target, dtype=np.int64))
        if self.transform is not None:
            x = self.transform(x)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y

    def __repr__(self) -> str:
        return (f"Dataset ImageFolder\n    Number of datapoints: {len(self)}\n"
                f"    Root location: {self.root}\n    Classes: {self.num_classes}\n"
                f"    Mode: {self.mode}")
