"""torchvision-style MNIST, FashionMNIST, CIFAR10 and ImageFolder over tiny datasets written
here in torchvision's on-disk layouts (IDX per LeCun and Cortes, CIFAR-10's binary records
per Krizhevsky's page, class folders per torchvision's ``DatasetFolder``)."""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np
import pytest
from PIL import Image

import lamina
from lamina.data import DataLoader
from lamina.vision import datasets
from lamina.vision import transforms as T


def write_idx(path, arr: np.ndarray, gz: bool = False):
    header = struct.pack(">I", 0x0800 | arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    raw = header + arr.astype(">u1").tobytes()
    with open(path, "wb") as f:
        f.write(gzip.compress(raw) if gz else raw)


def make_mnist(root, name="MNIST", n=10, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    raw = os.path.join(root, name, "raw")
    os.makedirs(raw, exist_ok=True)
    out = {}
    for split, prefix in ((True, "train"), (False, "t10k")):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        sfx = ".gz" if gz else ""
        write_idx(os.path.join(raw, f"{prefix}-images-idx3-ubyte{sfx}"), images, gz)
        write_idx(os.path.join(raw, f"{prefix}-labels-idx1-ubyte{sfx}"), labels, gz)
        out[split] = images, labels
    return out


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_items_are_pil_and_int(tmp_path, gz):
    ref = make_mnist(tmp_path, gz=gz)
    for train in (True, False):
        ds = datasets.MNIST(str(tmp_path), train=train)
        images, labels = ref[train]
        assert len(ds) == 10
        img, target = ds[3]
        assert isinstance(img, Image.Image) and img.mode == "L" and img.size == (28, 28)
        np.testing.assert_array_equal(np.asarray(img), images[3])
        assert type(target) is int and target == labels[3]
        assert ds[-1][1] == labels[-1]
    assert ds.classes[0] == "0 - zero" and ds.class_to_idx["9 - nine"] == 9


def test_mnist_pipeline_feeds_a_dataloader(tmp_path):
    ref = make_mnist(tmp_path, n=10)
    tf = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
    ds = datasets.MNIST(tmp_path, train=True, transform=tf, download=True)  # files there
    loader = DataLoader(ds, batch_size=4, shuffle=False)
    x, y = next(iter(loader))
    assert x.shape == (4, 1, 28, 28) and x.dtype == lamina.float32
    expected = (ref[True][0][:4, None].astype(np.float32) / 255 - np.float32(0.1307)) \
        / np.float32(0.3081)
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(y.numpy(), ref[True][1][:4])
    assert sum(len(b[1]) for b in loader) == 10
    ds = datasets.MNIST(tmp_path, target_transform=lambda t: t + 100)
    assert ds[0][1] == ref[True][1][0] + 100


def test_fashion_mnist_layout_and_classes(tmp_path):
    ref = make_mnist(tmp_path, name="FashionMNIST", n=5)
    ds = datasets.FashionMNIST(tmp_path, train=False)
    np.testing.assert_array_equal(np.asarray(ds[4][0]), ref[False][0][4])
    assert ds.classes[9] == "Ankle boot"
    with pytest.raises(FileNotFoundError, match="MNIST/raw"):
        datasets.MNIST(tmp_path)                       # its files are not FashionMNIST's


def test_missing_files_name_the_exact_paths(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        datasets.MNIST(tmp_path, download=True)
    msg = str(e.value)
    assert "download=True was given, but lamina does not download" in msg
    assert os.path.join(str(tmp_path), "MNIST", "raw", "train-images-idx3-ubyte") in msg
    assert os.path.join(str(tmp_path), "MNIST", "raw", "t10k-labels-idx1-ubyte") in msg
    with pytest.raises(FileNotFoundError, match="root folder does not exist"):
        datasets.FashionMNIST(tmp_path / "nope")


def make_cifar_bin(root, n_per_batch=3, seed=0):
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, "cifar-10-batches-bin")
    os.makedirs(folder, exist_ok=True)
    out = {}
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        labels = rng.integers(0, 10, n_per_batch, dtype=np.uint8)
        chw = rng.integers(0, 256, (n_per_batch, 3, 32, 32), dtype=np.uint8)
        rec = np.concatenate([labels[:, None], chw.reshape(n_per_batch, -1)], axis=1)
        rec.astype(np.uint8).tofile(os.path.join(folder, name + ".bin"))
        out[name] = chw, labels
    return out


def test_cifar10_binary_records(tmp_path):
    ref = make_cifar_bin(tmp_path)
    train = datasets.CIFAR10(tmp_path, train=True)
    test = datasets.CIFAR10(str(tmp_path), train=False, transform=T.ToTensor())
    assert len(train) == 15 and len(test) == 3
    assert train.data.shape == (15, 32, 32, 3) and train.data.dtype == np.uint8
    img, target = train[4]                     # batch 2, record 1
    chw, labels = ref["data_batch_2"]
    assert isinstance(img, Image.Image) and img.mode == "RGB" and img.size == (32, 32)
    np.testing.assert_array_equal(np.asarray(img), chw[1].transpose(1, 2, 0))
    assert target == labels[1] and type(target) is int
    x, t = test[2]
    np.testing.assert_array_equal(x.numpy(), ref["test_batch"][0][2] / np.float32(255))
    assert train.class_to_idx["truck"] == 9


def test_cifar10_refuses_pickles_and_bad_files(tmp_path):
    os.makedirs(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"\x80\x04.")
    with pytest.raises(FileNotFoundError) as e:
        datasets.CIFAR10(tmp_path, download=True)
    msg = str(e.value)
    assert "never loads" in msg and "cifar-10-batches-bin" in msg and "lamina does not " \
        "download" in msg
    make_cifar_bin(tmp_path)
    with open(tmp_path / "cifar-10-batches-bin" / "test_batch.bin", "ab") as f:
        f.write(b"\x00")
    with pytest.raises(ValueError, match="test_batch.bin has 9220 bytes, not a whole number"):
        datasets.CIFAR10(tmp_path, train=False)


def make_folder(root):
    tree = {"dog/b.png": 1, "dog/a.jpg": 2, "cat/z/y.png": 3, "cat/x.PNG": 4,
            "cat/notes.txt": None, "bird/c.bmp": 5}
    for rel, v in tree.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if v is None:
            with open(p, "w") as f:
                f.write("not an image")
        else:
            Image.fromarray(np.full((4, 5), v * 10, np.uint8)).save(p)


def test_image_folder_classes_samples_targets(tmp_path):
    make_folder(tmp_path)
    ds = datasets.ImageFolder(tmp_path)
    assert ds.classes == ["bird", "cat", "dog"]
    assert ds.class_to_idx == {"bird": 0, "cat": 1, "dog": 2}
    rel = [(os.path.relpath(p, tmp_path), t) for p, t in ds.samples]
    # torchvision's order: sorted(os.walk(class folder)), then sorted file names
    assert rel == [("bird/c.bmp", 0), ("cat/x.PNG", 1), (os.path.join("cat", "z", "y.png"), 1),
                   ("dog/a.jpg", 2), ("dog/b.png", 2)]
    assert ds.targets == [0, 1, 1, 2, 2] and ds.imgs is ds.samples
    img, target = ds[0]
    assert isinstance(img, Image.Image) and img.mode == "RGB" and target == 0
    np.testing.assert_array_equal(np.asarray(img)[..., 0], np.full((4, 5), 50))
    ds = datasets.ImageFolder(tmp_path, transform=T.Compose([T.Grayscale(), T.ToTensor()]),
                              loader=lambda p: Image.open(p).convert("L"),
                              is_valid_file=lambda p: p.endswith(".png"), allow_empty=True)
    assert [os.path.basename(p) for p, _ in ds.samples] == ["y.png", "b.png"]
    assert ds[1][0].shape == (1, 4, 5)


def test_image_folder_errors(tmp_path):
    make_folder(tmp_path)
    os.makedirs(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="found no valid file for the classes empty"):
        datasets.ImageFolder(tmp_path)
    assert len(datasets.ImageFolder(tmp_path, allow_empty=True)) == 5
    with pytest.raises(TypeError, match="ImageFolder: loader must be callable or None"):
        datasets.ImageFolder(tmp_path, loader="pil")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        datasets.ImageFolder(tmp_path / "missing")
    ds = datasets.ImageFolder(tmp_path, is_valid_file=lambda p: p.endswith(".txt"),
                              allow_empty=True)
    with pytest.raises(ValueError, match="ImageFolder: cannot read .*notes.txt as an image"):
        ds[0]
    with pytest.raises(IndexError, match="ImageFolder: index 1 is out of range for 1"):
        ds[1]
