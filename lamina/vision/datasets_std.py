"""torchvision's dataset classes over files you already have: ``MNIST``, ``FashionMNIST``,
``CIFAR10`` and ``ImageFolder``, with torchvision's constructors and items.

Each item is ``(image, target)``: a PIL image (or whatever ``transform`` makes of it) and an
int class index (or ``target_transform``'s result), exactly as in torchvision, so
``transform=transforms.Compose([transforms.ToTensor(), ...])`` ports unchanged.

lamina downloads nothing: ``download=True`` is accepted (a no-op when the files are there) and
otherwise raises, naming the paths where the files must go. The readers are lamina's:
``lamina.data.datasets.idx`` (IDX files) and ``lamina.data.datasets.image_folder``
(``find_classes``).

CIFAR-10 is read from its *binary* version (``cifar-10-batches-bin/*.bin``). The python
version (``cifar-10-batches-py``, what torchvision downloads) is a set of Python pickles,
and lamina never unpickles: loading a pickle can run arbitrary code. Given only that
layout, ``CIFAR10`` raises and says where to get the binary files.

>>> train = MNIST("data", train=True, transform=Compose([ToTensor(), Normalize((0.1307,),
...                                                                  (0.3081,))]))
>>> loader = DataLoader(train, batch_size=64, shuffle=True)
"""

from __future__ import annotations

import os

import numpy as np

from lamina.data.dataset import Dataset
from lamina.data.datasets import idx as _idx
from lamina.data.datasets._common import require
from lamina.data.datasets.image_folder import IMG_EXTENSIONS as _DATA_EXTENSIONS
from lamina.data.datasets.image_folder import find_classes
from lamina.errors import LaminaIndexError, LaminaTypeError, LaminaValueError

__all__ = ["MNIST", "FashionMNIST", "CIFAR10", "ImageFolder", "IMG_EXTENSIONS",
           "default_loader", "pil_loader"]

# torchvision's list (lamina.data's ImageFolder also reads .gif; torchvision does not)
IMG_EXTENSIONS = tuple(e for e in _DATA_EXTENSIONS if e != ".gif")


def _image_module(what: str):
    return require("PIL.Image", "pillow", what)


def _check_index(index, n: int, name: str) -> int:
    if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
        raise LaminaTypeError(f"{name}: index must be an int, got {type(index).__name__}")
    if not -n <= index < n:
        raise LaminaIndexError(f"{name}: index {index} is out of range for {n} samples")
    return int(index) % n


def _apply(item, transform, target_transform):
    img, target = item
    if transform is not None:
        img = transform(img)
    if target_transform is not None:
        target = target_transform(target)
    return img, target


class MNIST(_idx.MNIST):
    """MNIST from its IDX files, torchvision's ``MNIST(root, train, transform,
    target_transform, download)``: ``ds[i]`` is ``(PIL image of mode "L", int label)``.

    The files (plain or ``.gz``) go where torchvision keeps them, ``root/MNIST/raw/``::

        train-images-idx3-ubyte  train-labels-idx1-ubyte  (train=True, 60,000 images)
        t10k-images-idx3-ubyte   t10k-labels-idx1-ubyte   (train=False, 10,000 images)

    (``root`` itself is searched too). ``data`` holds the uint8 images ``(N, 28, 28)``,
    ``targets`` the int64 labels; ``classes`` and ``class_to_idx`` as torchvision's.
    """

    name = "MNIST"

    def __init__(self, root: str | os.PathLike, train: bool = True, transform=None,
                 target_transform=None, download: bool = False):
        self._pil = _image_module(f"lamina.vision.datasets.{self.name}")
        if not os.path.isdir(os.fspath(root)):
            raise FileNotFoundError(self._missing(os.fspath(root), download,
                                                  "the root folder does not exist"))
        super().__init__(root, train=train, download=download, scale=False)
        self.transform, self.target_transform = transform, target_transform

    def _missing(self, root: str, download: bool, what: str) -> str:
        raw = os.path.join(root, self.name, "raw")
        files = [os.path.join(raw, f) for pair in _idx._FILES.values() for f in pair]
        dl = "download=True was given, but " if download else ""
        return (f"{self.name}: {what}; {dl}lamina does not download datasets. Put the IDX "
                f"files (plain or .gz) at {', '.join(files)} (torchvision's layout; {root} "
                "itself is searched too)")

    def _find(self, base: str, download: bool) -> str:
        try:
            return super()._find(base, download)
        except FileNotFoundError:
            raise FileNotFoundError(self._missing(self.root, download,
                                                  f"{base}[.gz] not found")) from None

    def __getitem__(self, index):
        i = _check_index(index, len(self.data), self.name)
        h, w = self.data.shape[1:]
        img = self._pil.frombytes("L", (w, h), np.ascontiguousarray(self.data[i]).tobytes())
        return _apply((img, int(self.targets[i])), self.transform, self.target_transform)

    def __getitems__(self, indices):
        return [self[i] for i in indices]


class FashionMNIST(MNIST):
    """Fashion-MNIST from IDX files in ``root/FashionMNIST/raw/`` (MNIST's file names and
    format), torchvision's constructor and items (see ``MNIST``)."""

    name = "FashionMNIST"
    classes = _idx.FashionMNIST.classes


_CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                  "ship", "truck"]
_CIFAR_RECORD = 1 + 3 * 32 * 32


class CIFAR10(Dataset):
    """CIFAR-10 from its binary version, torchvision's ``CIFAR10(root, train, transform,
    target_transform, download)``: ``ds[i]`` is ``(PIL RGB image 32x32, int label)``.

    Files: ``root/cifar-10-batches-bin/data_batch_1.bin`` .. ``data_batch_5.bin`` (train,
    50,000 images) and ``test_batch.bin`` (10,000), from ``cifar-10-binary.tar.gz`` at
    https://www.cs.toronto.edu/~kriz/cifar.html. Each record is 3073 bytes: the label
    (0..9), then the 1024 red, 1024 green and 1024 blue values of the 32x32 image, rows
    in order. The python version (``cifar-10-batches-py``, pickles) is refused: lamina
    never unpickles.

    ``data`` is uint8 ``(N, 32, 32, 3)`` (HWC, as torchvision's), ``targets`` a list of int.
    """

    base_folder = "cifar-10-batches-bin"
    train_list = [f"data_batch_{k}.bin" for k in range(1, 6)]
    test_list = ["test_batch.bin"]
    classes = _CIFAR_CLASSES
    name = "CIFAR10"

    def __init__(self, root: str | os.PathLike, train: bool = True, transform=None,
                 target_transform=None, download: bool = False):
        self._pil = _image_module(f"lamina.vision.datasets.{self.name}")
        self.root = os.fspath(root)
        self.train = bool(train)
        self.transform, self.target_transform = transform, target_transform
        folder = os.path.join(self.root, self.base_folder)
        names = self.train_list if self.train else self.test_list
        paths = [os.path.join(folder, n) for n in names]
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise FileNotFoundError(self._missing(missing, download))
        images, labels = [], []
        for p in paths:
            raw = np.fromfile(p, dtype=np.uint8)
            if raw.size == 0 or raw.size % _CIFAR_RECORD:
                raise LaminaValueError(f"{self.name}: {p} has {raw.size} bytes, not a whole number "
                                       f"of {_CIFAR_RECORD}-byte records (1 label byte + 3072 "
                                       "pixel bytes); is it the binary version?")
            rec = raw.reshape(-1, _CIFAR_RECORD)
            if rec[:, 0].max() >= len(self.classes):
                raise LaminaValueError(f"{self.name}: {p} has a label {int(rec[:, 0].max())}, "
                                       f"outside [0, {len(self.classes)})")
            labels.append(rec[:, 0].astype(np.int64))
            images.append(rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        self.data = np.ascontiguousarray(np.concatenate(images))
        self.targets = [int(t) for t in np.concatenate(labels)]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def _missing(self, missing: list[str], download: bool) -> str:
        folder = os.path.join(self.root, self.base_folder)
        dl = "download=True was given, but " if download else ""
        msg = (f"{self.name}: missing {', '.join(missing)}; {dl}lamina does not download "
               f"datasets. Extract the binary version (cifar-10-binary.tar.gz from "
               f"https://www.cs.toronto.edu/~kriz/cifar.html) so that {folder} holds "
               f"{', '.join(self.train_list + self.test_list)}")
        py = os.path.join(self.root, "cifar-10-batches-py")
        if os.path.isdir(py):
            msg += (f". Found {py}, the python version: its batches are Python pickles, "
                    "which lamina never loads (unpickling can run arbitrary code)")
        return msg

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index):
        i = _check_index(index, len(self.data), self.name)
        img = self._pil.frombytes("RGB", (32, 32), self.data[i].tobytes())
        return _apply((img, self.targets[i]), self.transform, self.target_transform)

    def __repr__(self) -> str:
        return (f"Dataset {self.name}\n    Number of datapoints: {len(self)}\n"
                f"    Root location: {self.root}\n    Split: "
                f"{'Train' if self.train else 'Test'}")


def pil_loader(path: str):
    """Open an image file with Pillow, as RGB (torchvision's ``pil_loader``)."""
    image = _image_module("lamina.vision.datasets.ImageFolder")
    try:
        with open(path, "rb") as f:
            img = image.open(f)
            return img.convert("RGB")
    except OSError as e:     # includes PIL.UnidentifiedImageError
        raise LaminaValueError(f"ImageFolder: cannot read {path} as an image ({e})") from None


default_loader = pil_loader


class ImageFolder(Dataset):
    """Images in ``root/<class>/...``, torchvision's ``ImageFolder(root, transform,
    target_transform, loader, is_valid_file, allow_empty)``: ``ds[i]`` is ``(loader(path),
    class index)`` with the default loader giving an RGB PIL image.

    Classes are the sub-folders of ``root`` sorted by name; each class folder is walked
    (``sorted(os.walk(...))``, links followed) and a file is kept when ``is_valid_file(path)``
    is true, or by default when its name ends with one of ``IMG_EXTENSIONS``
    (case-insensitive). Attributes ``classes``, ``class_to_idx``, ``samples`` (list of
    ``(path, class index)``), ``imgs`` (the same), ``targets``, ``loader``.
    """

    def __init__(self, root: str | os.PathLike, transform=None, target_transform=None,
                 loader=None, is_valid_file=None, allow_empty: bool = False):
        op = "ImageFolder"
        for name, fn in (("transform", transform), ("target_transform", target_transform),
                         ("loader", loader), ("is_valid_file", is_valid_file)):
            if fn is not None and not callable(fn):
                raise LaminaTypeError(f"{op}: {name} must be callable or None, got "
                                      f"{type(fn).__name__}")
        self.root = os.fspath(root)
        self.transform, self.target_transform = transform, target_transform
        self.loader = loader if loader is not None else default_loader
        self.extensions = IMG_EXTENSIONS if is_valid_file is None else None
        self.classes, self.class_to_idx = find_classes(self.root)
        if is_valid_file is None:
            def is_valid_file(path: str) -> bool:
                return path.lower().endswith(IMG_EXTENSIONS)
        samples, found = [], set()
        for cls in self.classes:
            folder = os.path.join(self.root, cls)
            for dirpath, _, fnames in sorted(os.walk(folder, followlinks=True)):
                for fname in sorted(fnames):
                    path = os.path.join(dirpath, fname)
                    if is_valid_file(path):
                        samples.append((path, self.class_to_idx[cls]))
                        found.add(cls)
        empty = [c for c in self.classes if c not in found]
        if empty and not allow_empty:
            what = (f"supported extensions are: {', '.join(IMG_EXTENSIONS)}"
                    if self.extensions else "is_valid_file accepted none of their files")
            raise FileNotFoundError(f"{op}: found no valid file for the classes "
                                    f"{', '.join(empty)} in {self.root}; {what}")
        self.samples = samples
        self.imgs = samples
        self.targets = [t for _, t in samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index):
        path, target = self.samples[_check_index(index, len(self.samples), "ImageFolder")]
        return _apply((self.loader(path), target), self.transform, self.target_transform)

    def __repr__(self) -> str:
        return (f"Dataset ImageFolder\n    Number of datapoints: {len(self)}\n"
                f"    Root location: {self.root}\n    Classes: {len(self.classes)}")
