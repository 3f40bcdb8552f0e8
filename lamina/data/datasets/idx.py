"""MNIST-format (IDX) files the user already has: ``MNIST`` and ``FashionMNIST``.

Nothing is downloaded: put the four standard files (gzipped or not) in ``root``::

    train-images-idx3-ubyte[.gz]   train-labels-idx1-ubyte[.gz]
    t10k-images-idx3-ubyte[.gz]    t10k-labels-idx1-ubyte[.gz]

(torchvision's layout, ``root/MNIST/raw/`` or ``root/FashionMNIST/raw/``, is found too).

The IDX format (LeCun and Cortes): a 4-byte magic number ``0x0000TTDD`` (``TT`` the element
type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64; ``DD`` the
number of dimensions), then each dimension as a big-endian uint32, then the elements in C
order, big-endian. MNIST's images have magic 2051 (``0x00000803``: uint8, 3-D) and its labels
2049 (``0x00000801``: uint8, 1-D).
"""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np

from lamina.data.datasets._common import ArrayDataset
from lamina.errors import LaminaValueError

__all__ = ["read_idx", "MNIST", "FashionMNIST"]

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == _GZIP_MAGIC:  # by content, so a gzipped file without .gz also works
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise LaminaValueError(f"read_idx: {path} looks gzip-compressed but cannot be "
                                   f"decompressed ({e}); the file may be truncated") from None
    return raw


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) into a NumPy array of its shape and type
    (native byte order).

    Raises ValueError, naming the file, when the magic number is not an IDX one or the data
    does not fill exactly the shape its header declares.

    >>> images = read_idx("train-images-idx3-ubyte.gz")   # uint8, (60000, 28, 28)
    """
    return _parse_idx(os.fspath(path))[1]


def _parse_idx(path: str) -> tuple[int, np.ndarray]:
    """(magic number, array) of an IDX file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"read_idx: no such file: {path}")
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise LaminaValueError(f"read_idx: {path} has {len(raw)} bytes, too short for an IDX "
                               "header (a 4-byte magic number first)")
    magic = struct.unpack(">I", raw[:4])[0]
    type_code, ndim = raw[2], raw[3]
    if raw[:2] != b"\x00\x00" or type_code not in _IDX_TYPES or ndim == 0:
        raise LaminaValueError(f"read_idx: {path} is not an IDX file: magic number "
                               f"{magic} (0x{magic:08X}); expected 0x0000TTDD with TT a type code "
                               "(08, 09, 0B, 0C, 0D, 0E) and DD >= 1 dimensions, e.g. 2051 "
                               "(0x00000803) for MNIST images, 2049 (0x00000801) for labels")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise LaminaValueError(f"read_idx: {path} is truncated: its header declares {ndim} "
                               f"dimensions ({header} header bytes) but the file has {len(raw)} "
                               "bytes")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_TYPES[type_code])
    count = int(np.prod(shape, dtype=np.int64))
    expected, found = count * dtype.itemsize, len(raw) - header
    if found != expected:
        kind = "truncated" if found < expected else "longer than its header declares"
        raise LaminaValueError(f"read_idx: {path} is {kind}: shape {shape} of {dtype.name} needs "
                               f"{expected} data bytes, found {found}")
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(shape)
    return magic, arr.astype(dtype.newbyteorder("="), copy=True)  # writable, native order


_FILES = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


class MNIST(ArrayDataset):
    """The MNIST handwritten digits from IDX files in ``root`` (see the module docstring):
    60,000 training (``train=True``) or 10,000 test images of 28x28 pixels, 10 classes.

    Features: float32 of shape ``(1, H, W)`` (``(H*W,)`` with ``flatten=True``), pixels
    divided by 255 into ``[0, 1]`` like torchvision's ``ToTensor`` (``scale=False`` keeps
    0..255). Labels: int64 in ``[0, 10)``. ``data`` holds the uint8 images ``(N, H, W)`` and
    ``targets`` the int64 labels, as in torchvision; the image size is read from the file.

    Files are validated: the magic numbers (2051 images, 2049 labels), that the data fills
    the declared shape, that images and labels agree in number, and that labels are in range.

    Args:
        root: the folder holding the files.
        train: the training files (``train-*``) or the test files (``t10k-*``).
        transform, target_transform: applied to each sample's features / target tensor.
        download: accepted for PyTorch scripts; lamina downloads nothing, so ``True`` only
            changes the error message when the files are missing.

    Source: Y. LeCun, C. Cortes and C. J. C. Burges, the MNIST database (NIST Special
    Databases 1 and 3). Licence: CC BY-SA 3.0.
    """

    name = "MNIST"
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
               "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root: str | os.PathLike, train: bool = True, transform=None,
                 target_transform=None, download: bool = False, flatten: bool = False,
                 scale: bool = True):
        self.root = os.fspath(root)
        self.train = bool(train)
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"{self.name}: root folder {self.root} does not exist")
        images_name, labels_name = _FILES[self.train]
        images_path = self._find(images_name, download)
        labels_path = self._find(labels_name, download)
        images = self._read(images_path, 2051, 3)
        labels = self._read(labels_path, 2049, 1)
        if images.shape[0] != labels.shape[0]:
            raise LaminaValueError(f"{self.name}: {images_path} holds {images.shape[0]} images but "
                                   f"{labels_path} holds {labels.shape[0]} labels")
        n_cls = len(type(self).classes)
        if labels.size and (labels.min() < 0 or labels.max() >= n_cls):
            raise LaminaValueError(f"{self.name}: {labels_path} has labels outside [0, {n_cls}): "
                             f"min {labels.min()}, max {labels.max()}")
        h, w = images.shape[1:]
        super().__init__(images, labels.astype(np.int64), classes=type(self).classes,
                         sample_shape=(h * w,) if flatten else (1, h, w),
                         divide_by=255.0 if scale else None, transform=transform,
                         target_transform=target_transform)

    def _folders(self) -> list[str]:
        return [self.root, os.path.join(self.root, self.name, "raw"),
                os.path.join(self.root, self.name)]

    def _find(self, base: str, download: bool) -> str:
        for folder in self._folders():
            for fname in (base, base + ".gz"):
                p = os.path.join(folder, fname)
                if os.path.isfile(p):
                    return p
        hint = (" (download=True was given, but lamina downloads nothing)" if download
                else "")
        raise FileNotFoundError(
            f"{self.name}: could not find {base} or {base}.gz in "
            f"{', '.join(self._folders())}{hint}; put the dataset's IDX files there: "
            f"{', '.join(n for pair in _FILES.values() for n in pair)} (each may be gzipped)")

    def _read(self, path: str, magic: int, ndim: int) -> np.ndarray:
        try:
            got, arr = _parse_idx(path)
        except ValueError as e:
            raise LaminaValueError(f"{self.name}: {e}") from None
        if got != magic:
            what = "images" if ndim == 3 else "labels"
            raise LaminaValueError(f"{self.name}: {path} has magic number {got} (0x{got:08X}), "
                                   f"expected {magic} (0x{magic:08X}) for {self.name} {what} "
                                   f"(uint8, {ndim}-D)")
        return arr

    def __repr__(self) -> str:
        return super().__repr__() + f"\n    Split: {'Train' if self.train else 'Test'}" \
            f"\n    Root location: {self.root}"


class FashionMNIST(MNIST):
    """Fashion-MNIST from IDX files in ``root``: Zalando's article images in MNIST's format
    and file names (60,000 training, 10,000 test images of 28x28, 10 classes:
    T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot).

    Everything else as ``MNIST`` (dtypes, shapes, validation, ``root/FashionMNIST/raw``).

    Source: H. Xiao, K. Rasul and R. Vollgraf (2017), Zalando Research. Licence: MIT.
    """

    name = "FashionMNIST"
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
