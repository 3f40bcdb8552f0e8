"""The ``lamina`` command line: train, evaluate and use models without writing code.

::

    lamina train                                  # LeNet-5 on scikit-learn's digits
    lamina train --dataset iris --model mlp --hidden 32,16 --epochs 50
    lamina train --config run.toml --lr 0.01      # flags override the file
    lamina evaluate runs/20260101-120000-lenet5-digits
    lamina predict runs/20260101-120000-lenet5-digits digit.png
    lamina experiment list

A training run writes a directory (``--out runs/``, one timestamped sub-directory per run)
holding everything the other commands need: ``config.toml`` (the resolved configuration),
``preprocessing.json`` (input shape, class names, standardizer mean/std: JSON, never pickle),
``best.safetensors``/``last.safetensors`` checkpoints, ``history.csv``/``history.json``,
``learning_curve.png`` and, for classifiers, ``confusion_matrix.png`` and
``test_metrics.json``.

The digits images are 8x8; LeNet-5 wants 32x32 (the paper's input, ``padding=0``), so by
default they are upsampled 4x bilinearly (``data.image_size = 32``, chosen automatically for
``lenet5``). ``lamina predict`` reads an image file as grayscale, resizes it to the dataset's
own size (8x8 for digits), scales pixels to [0, 1] and then applies the same steps; digits
are light strokes on a dark background, so pass ``--invert`` for dark-on-light pictures.

Errors a person can fix (an unknown name, a bad config value, a missing or damaged file, an
input that is not numbers, NaN or infinite inputs, a training loss that became NaN or
infinite) print ``lamina: error: ...`` and exit with status 2, never a traceback.

After each epoch the run directory receives ``last.safetensors``, then ``best.safetensors``
(when the monitored loss improved), then ``history.csv``/``history.json``; every file is
replaced atomically and each checkpoint records its epoch, so after an interruption ``best``
is never newer than ``last`` and the history ends at ``last``'s epoch or one before.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from lamina import config as C

__all__ = ["main", "CLIError"]

PROG = "lamina"
_IMAGE_EXT = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class CLIError(Exception):
    """An error the user can act on: printed as ``lamina: error: ...``, exit status 2."""


# --- small helpers ------------------------------------------------------------------------

_QUIET = False      # set on ranks other than 0 of a data-parallel run: only rank 0 prints


def _say(*args, file=None) -> None:
    if not _QUIET:
        print(*args, file=file or sys.stdout, flush=True)


def _table(headers: list[str], rows: list[list]) -> str:
    """A plain text table with aligned columns (numbers right-aligned)."""
    def cell(v):
        if isinstance(v, float):
            return f"{v:.4f}" if math.isfinite(v) else str(v)
        return str(v)

    text = [[cell(v) for v in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in text]) for i, h in enumerate(headers)]
    numeric = [all(isinstance(r[i], (int, float)) for r in rows) if rows else False
               for i in range(len(headers))]

    def line(vals):
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(vals, widths, numeric)).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in text]
    return "\n".join(out)


def _write_csv(path, headers: list[str], rows: list[list]) -> None:
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise CLIError(f"cannot write {path}: the folder {path.parent} does not exist")
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(headers)
        w.writerows(rows)


def _json_dump(path, obj) -> None:
    from lamina.train.history import atomic_write_text

    atomic_write_text(path, json.dumps(obj, indent=1) + "\n")


# --- data -----------------------------------------------------------------------------------

def _dataset_names() -> list[str]:
    from lamina.data.datasets import available_datasets
    return [n for n in available_datasets() if n != "csv"]  # CSV files: csv:PATH


# other names a person may know a dataset by (older README and docs) -> the canonical name
_DATASET_ALIASES = {"mnist_subset": "mnist_5k"}


def _canonical_dataset(name: str) -> str:
    """``name`` with the command line's aliases resolved (``mnist-subset`` -> ``mnist_5k``);
    other names, and ``csv:PATH``, unchanged."""
    if name.startswith("csv:"):
        return name
    return _DATASET_ALIASES.get(name.strip().lower().replace("-", "_"), name)


def _load_raw(dcfg: dict, classes=None, categories=None):
    """``(X, y, info)`` of the configured dataset, all samples, before any preprocessing.

    X: float32 ``(n, *sample_shape)``; y: int64 labels or float32 ``(n, 1)``; info: the
    task, class names, feature names and, for CSV files, the columns and categories."""
    from lamina.data.datasets import CSVDataset, load_dataset

    name = _canonical_dataset(dcfg["dataset"])
    info: dict = {"dataset": name}
    try:
        if name.startswith("csv:"):
            path = name[4:]
            if not os.path.isfile(path):
                raise CLIError(f"data file not found: {path}")
            if not dcfg["target"]:
                raise CLIError("a csv: dataset needs --target COLUMN (config key "
                               "'data.target')")
            task = dcfg["task"]
            kw = {"classification": None if task == "auto" else task == "classification"}
            if classes is not None:
                kw["classes"] = classes
            if categories:
                kw["encoder"] = _encoder(categories)
            ds = CSVDataset(path, dcfg["target"], categorical=dcfg["categorical"] or None,
                            **kw, **dcfg["args"])
            info["csv"] = {"target": dcfg["target"],
                           "columns": [c for c in ds.columns if c != dcfg["target"]],
                           "categorical": {c: ds.encoder.categories_[i].tolist()
                                           for i, c in enumerate(dcfg["categorical"])}
                           if ds.encoder is not None else {}}
        else:
            _check_dataset_name(name)
            ds = load_dataset(name, **dcfg["args"])
    except CLIError:
        raise
    except FileNotFoundError as e:
        raise CLIError(str(e)) from None
    except ImportError as e:
        raise CLIError(str(e)) from None
    except TypeError as e:
        raise CLIError(f"cannot load dataset {name!r}: {e} (give dataset arguments with "
                       f"--dataset-arg KEY=VALUE, or [data.args] in a config file)") from None
    except ValueError as e:
        raise CLIError(f"cannot load dataset {name!r}: {e}") from None

    x, y = _arrays(ds, name)
    ds_classes = getattr(ds, "classes", None)
    task = dcfg["task"]
    if task == "auto":
        task = "classification" if ds_classes is not None else "regression"
    if task == "classification":
        if ds_classes is None:
            if y.dtype.kind == "f" and not np.array_equal(y, np.round(y)):
                raise CLIError(f"dataset {name!r} has non-integer targets: it cannot be used "
                               "for classification (use --task regression)")
            y = y.reshape(-1).astype(np.int64)
            ds_classes = [str(c) for c in range(int(y.max()) + 1)]
        y = y.reshape(-1).astype(np.int64)
        info["classes"] = [str(c) for c in ds_classes]
    else:
        y = y.reshape(len(y), -1).astype(np.float32)
        info["classes"] = None
    info["task"] = task
    feats = getattr(ds, "feature_names", None)
    info["feature_names"] = list(feats) if feats else None
    return x, y, info


def _check_dataset_name(name: str) -> None:
    from lamina.data.datasets import dataset_info

    if name.startswith("csv:"):
        return
    try:
        dataset_info(_canonical_dataset(name))   # ValueError for an unknown name
    except (ValueError, TypeError):
        raise CLIError(f"unknown dataset {name!r}; valid names: "
                       f"{', '.join(_dataset_names())}, or csv:PATH") from None
    if name.strip().lower() == "csv":
        raise CLIError("give a CSV file as --dataset csv:PATH (with --target COLUMN)")


def _arrays(ds, name: str) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(ds, "arrays"):
        x, y = ds.arrays()
    elif hasattr(ds, "tensors") and len(ds.tensors) == 2:
        x, y = (np.asarray(getattr(t, "data", t)) for t in ds.tensors)
    else:  # a dataset of (features, target) samples, such as ImageFolder
        xs, ys = [], []
        for i in range(len(ds)):
            a, b = ds[i]
            xs.append(np.asarray(getattr(a, "data", a)))
            ys.append(np.asarray(getattr(b, "data", b)))
        shapes = {a.shape for a in xs}
        if len(shapes) > 1:
            raise CLIError(f"dataset {name!r} has samples of different shapes "
                           f"{sorted(shapes)[:3]}; resize them to one size")
        x, y = np.stack(xs), np.stack(ys)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    elif x.ndim == 3:            # (n, H, W) grayscale images
        x = x[:, None]
    return x, np.asarray(y)


def _encoder(categories: dict):
    """A fitted OneHotEncoder whose categories are the stored ones, column by column."""
    from lamina.data.preprocessing import OneHotEncoder

    cols = list(categories.values())
    rows = max(len(c) for c in cols)
    table = np.array([[c[i % len(c)] for c in cols] for i in range(rows)], dtype=str)
    return OneHotEncoder(dtype=np.float32).fit(table)


def _split(y: np.ndarray, task: str, dcfg: dict, seed: int):
    """Indices ``(train, val, test)``: a seeded, stratified (for classes) split, after the
    optional random ``limit`` subset. Deterministic in the seed and the split settings."""
    from lamina.data.splits import train_val_test_split

    n = len(y)
    idx = np.arange(n)
    rng = np.random.default_rng(seed)
    if dcfg["limit"] and dcfg["limit"] < n:
        idx = np.sort(rng.permutation(n)[:dcfg["limit"]])
    strat = y[idx] if task == "classification" else None
    kw = {"val": dcfg["val_split"], "test": dcfg["test_split"], "seed": seed}
    try:
        try:
            parts = train_val_test_split(idx, stratify=strat, **kw)
        except ValueError:
            parts = train_val_test_split(idx, **kw)
    except ValueError as e:
        raise CLIError(f"cannot split {len(idx)} samples: {e}") from None
    return parts


class Preprocessor:
    """The steps between raw samples and model inputs, fitted on the training split and
    saved as JSON: standardization (per feature mean/std) and image resizing."""

    def __init__(self, state: dict):
        self.state = state

    @classmethod
    def fit(cls, x_train: np.ndarray, info: dict, cfg: dict) -> Preprocessor:
        dcfg = cfg["data"]
        raw_shape = list(x_train.shape[1:])
        image = len(raw_shape) == 3
        std = dcfg["standardize"]
        if std == "auto":
            std = not image
        state = {"task": info["task"], "classes": info["classes"],
                 "raw_shape": raw_shape, "image": image,
                 "feature_names": info.get("feature_names"), "csv": info.get("csv"),
                 "standardize": None, "image_size": None,
                 # mean raw pixel of the training images: predict warns about inverted ones
                 "pixel_mean": float(x_train.mean()) if image else None}
        if std:
            flat = x_train.reshape(len(x_train), -1).astype(np.float64)
            mean = flat.mean(axis=0)
            scale = flat.std(axis=0)
            scale[scale < 1e-12] = 1.0
            state["standardize"] = {"mean": mean.tolist(), "std": scale.tolist()}
        size = dcfg["image_size"]
        if size == 0 and image and _factory(cfg["model"]["name"])[0] == "lenet5":
            pad = cfg["model"]["args"].get("padding", 0)
            size = 32 if pad == 0 else 28 if pad == 2 else 0
        if size and not image:
            raise CLIError(f"config key 'data.image_size' = {size}: the dataset "
                           f"{dcfg['dataset']!r} is not images (samples of shape "
                           f"{tuple(raw_shape)})")
        if size and image and tuple(raw_shape[1:]) != (size, size):
            state["image_size"] = int(size)
        pre = cls(state)
        state["input_shape"] = list(pre.transform(x_train[:1]).shape[1:])
        return pre

    @classmethod
    def load(cls, run_dir: Path) -> Preprocessor:
        path = run_dir / "preprocessing.json"
        if not path.is_file():
            raise CLIError(f"{path} not found: is {run_dir} a lamina run directory?")
        try:
            with open(path, encoding="utf-8") as f:
                state = json.load(f)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise CLIError(f"{path} is damaged: not valid JSON ({e}); retrain the run to "
                           "write it again") from None
        except OSError as e:
            raise CLIError(f"cannot read {path}: {e.strerror}") from None
        problem = _check_preprocessing(state)
        if problem:
            raise CLIError(f"{path} is damaged: {problem}; retrain the run to write it "
                           "again") from None
        return cls(state)

    def save(self, run_dir: Path) -> None:
        _json_dump(run_dir / "preprocessing.json", self.state)

    def transform(self, x: np.ndarray) -> np.ndarray:
        s = self.state
        x = np.asarray(x, dtype=np.float32)
        raw = tuple(s["raw_shape"])
        if x.shape[1:] != raw:
            raise CLIError(f"inputs of shape {x.shape[1:]} do not match the training data's "
                           f"{raw}")
        if s["standardize"] is not None:
            mean = np.asarray(s["standardize"]["mean"], dtype=np.float64)
            std = np.asarray(s["standardize"]["std"], dtype=np.float64)
            flat = (x.reshape(len(x), -1) - mean) / std
            x = flat.astype(np.float32).reshape(x.shape)
        if s["image_size"]:
            from lamina.ops.pool import interpolate
            from lamina.tensor import Tensor
            size = s["image_size"]
            x = interpolate(Tensor(x), size=(size, size), mode="bilinear",
                            align_corners=False)._data.astype(np.float32)
        return np.ascontiguousarray(x)

    @property
    def classes(self):
        return self.state["classes"]

    @property
    def classification(self) -> bool:
        return self.state["task"] == "classification"


def _is_shape(v) -> bool:
    return (isinstance(v, list) and len(v) > 0
            and all(type(d) is int and d > 0 for d in v))


def _check_preprocessing(state) -> str | None:
    """What is wrong with a loaded preprocessing.json, or None."""
    if not isinstance(state, dict):
        return f"expected a JSON object, got a JSON {type(state).__name__}"
    need = ("task", "classes", "raw_shape", "input_shape", "image", "standardize",
            "image_size")
    missing = [k for k in need if k not in state]
    if missing:
        return f"missing keys {missing} (it needs {list(need)})"
    if state["task"] not in ("classification", "regression"):
        return f"'task' is {state['task']!r}, expected 'classification' or 'regression'"
    for key in ("raw_shape", "input_shape"):
        if not _is_shape(state[key]):
            return f"{key!r} is {state[key]!r}, expected a list of positive integers"
    classes = state["classes"]
    if state["task"] == "classification" and not (
            isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)):
        return f"'classes' is {classes!r}, expected a list of class names"
    std = state["standardize"]
    if std is not None:
        n = int(np.prod(state["raw_shape"]))
        if not (isinstance(std, dict) and all(
                isinstance(std.get(k), list) and len(std[k]) == n
                and all(isinstance(v, (int, float)) and math.isfinite(v) for v in std[k])
                for k in ("mean", "std"))):
            return f"'standardize' must hold 'mean' and 'std' lists of {n} finite numbers"
    size = state["image_size"]
    if size is not None and not (type(size) is int and size > 0):
        return f"'image_size' is {size!r}, expected null or a positive integer"
    if "target_shape" in state and not _is_shape(state["target_shape"]):
        return f"'target_shape' is {state['target_shape']!r}, expected a list of positive " \
               "integers"
    return None


# --- models, losses, optimizers -------------------------------------------------------------

def _models_module():
    try:
        from lamina import models
    except ImportError as e:
        raise CLIError(f"lamina.models is not available in this installation ({e})") from None
    return models


def _model_names() -> list[str]:
    return list(_models_module().available_models())


def _factory(name: str):
    """``(canonical name, factory)`` of a model name; CLIError listing the names if unknown."""
    models = _models_module()
    try:
        return models.get_factory(name)
    except ValueError:
        raise CLIError(f"unknown model {name!r}; valid names: "
                       f"{', '.join(_model_names())}") from None


def _params(factory) -> set[str]:
    import inspect

    try:
        return set(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        return set()


def single_output(name: str) -> bool:
    """Whether the model always has one output (``logistic``: one logit of class 1)."""
    _, factory = _factory(name)
    return not ({"out_features", "num_classes"} & _params(factory))


def build_model(mcfg: dict, input_shape: list[int], out_features: int):
    """The configured model for inputs of ``input_shape`` and ``out_features`` outputs.

    Each model gets the arguments its factory takes among ``in_features`` (flat models,
    whose inputs are flattened first), ``in_channels`` (image models), ``out_features`` /
    ``num_classes``, ``hidden``, ``dropout``, ``activation`` and LeNet-5's ``padding``
    (0 for 32x32 inputs, 2 otherwise); ``model.args`` adds or overrides any argument."""
    from lamina import nn

    key, factory = _factory(mcfg["name"])
    params = _params(factory)
    image = len(input_shape) == 3
    flat_model = "in_features" in params
    if "in_channels" in params and not image:
        raise CLIError(f"model {key!r} needs image data (C, H, W); the data has samples of "
                       f"shape {tuple(input_shape)}: use --model mlp")
    given = {"in_features": int(np.prod(input_shape)), "out_features": out_features,
             "num_classes": out_features, "hidden": list(mcfg["hidden"]),
             "dropout": mcfg["dropout"], "activation": mcfg["activation"]}
    if image:
        given["in_channels"] = input_shape[0]
        given["padding"] = 0 if tuple(input_shape[1:]) == (32, 32) else 2
    for key_, off in (("dropout", 0.0), ("activation", "relu")):
        if mcfg[key_] != off and key_ not in params:
            takes = [n for n in _model_names() if key_ in _params(_factory(n)[1])]
            raise CLIError(f"config key 'model.{key_}': model {key!r} has no {key_} option; "
                           f"models with one: {', '.join(takes)}")
    kwargs = {k: v for k, v in given.items() if k in params}
    kwargs.update(mcfg["args"])
    try:
        net = _models_module().get_model(key, **kwargs)
    except (TypeError, ValueError) as e:
        raise CLIError(f"cannot build model {key!r} for inputs of shape "
                       f"{tuple(input_shape)}: {e}") from None
    if flat_model and len(input_shape) > 1:
        net = nn.Sequential(nn.Flatten(), net)
    return net


def _loss(name: str, classification: bool, single: bool = False):
    from lamina import nn

    if name == "auto":
        name = ("bce" if single else "cross_entropy") if classification else "mse"
    if classification and single and name != "bce":
        raise CLIError(f"config key 'train.loss': the model has one output (a logit), so "
                       f"classification needs 'bce', not {name!r}; or use --model softmax")
    table = {"cross_entropy": nn.CrossEntropyLoss, "bce": nn.BCEWithLogitsLoss,
             "mse": nn.MSELoss, "l1": nn.L1Loss, "huber": nn.HuberLoss,
             "smooth_l1": nn.SmoothL1Loss}
    if classification and name not in ("cross_entropy", "bce"):
        raise CLIError(f"config key 'train.loss': {name!r} is a regression loss, the task is "
                       "classification; allowed: cross_entropy, bce (two classes)")
    if not classification and name in ("cross_entropy", "bce"):
        raise CLIError(f"config key 'train.loss': {name!r} is a classification loss, the task "
                       "is regression; allowed: mse, l1, huber, smooth_l1")
    return name, table[name]()


def _optimizer(tcfg: dict, params):
    from lamina import optim

    name, lr, wd = tcfg["optimizer"], tcfg["lr"], tcfg["weight_decay"]
    mom, betas = tcfg["momentum"], tuple(tcfg["betas"])
    if name in ("sgd", "momentum", "nesterov"):
        return optim.SGD(params, lr=lr, momentum=mom, weight_decay=wd,
                         nesterov=name == "nesterov")
    if name == "adagrad":
        return optim.Adagrad(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, momentum=mom, weight_decay=wd)
    if name == "adadelta":
        return optim.Adadelta(params, lr=lr, weight_decay=wd)
    if name == "adam":
        return optim.Adam(params, lr=lr, betas=betas, weight_decay=wd)
    return optim.AdamW(params, lr=lr, betas=betas, weight_decay=wd)


def _scheduler(tcfg: dict, opt):
    from lamina.optim import lr_scheduler as S

    kind = tcfg["schedule"]
    if kind == "none":
        return None
    if kind == "step":
        return S.StepLR(opt, step_size=tcfg["step_size"], gamma=tcfg["gamma"])
    if kind == "exponential":
        return S.ExponentialLR(opt, gamma=tcfg["gamma"])
    if kind == "cosine":
        return S.CosineAnnealingLR(opt, T_max=tcfg["t_max"] or tcfg["epochs"])
    if kind == "plateau":
        return S.ReduceLROnPlateau(opt, factor=tcfg["plateau_factor"],
                                   patience=tcfg["plateau_patience"])
    decay = tcfg["decay"]
    return S.LambdaLR(opt, lambda epoch: 1.0 / (1.0 + decay * epoch))


def _regularization(tcfg: dict):
    from lamina.nn.utils import l1_penalty, l2_penalty

    l1, l2 = tcfg["l1"], tcfg["l2"]
    if not (l1 or l2):
        return None

    def penalty(model):
        total = None
        if l1:
            total = l1_penalty(model, l1)
        if l2:
            p = l2_penalty(model, l2)
            total = p if total is None else total + p
        return total

    return penalty


def _targets_for(loss_name: str, y: np.ndarray) -> np.ndarray:
    if loss_name == "bce":
        return y.astype(np.float32).reshape(-1, 1)
    return y


def _outputs_to_predictions(out: np.ndarray, classification: bool, loss_name: str):
    """``(labels, probabilities)`` for classifiers, ``(values, None)`` for regression."""
    if not classification:
        return out, None
    if loss_name == "bce" or out.shape[1] == 1:
        p1 = 1.0 / (1.0 + np.exp(-out[:, 0].astype(np.float64)))
        probs = np.stack([1 - p1, p1], axis=1)
    else:
        z = out.astype(np.float64)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        probs = z / z.sum(axis=1, keepdims=True)
    return probs.argmax(axis=1), probs


# --- the run directory ----------------------------------------------------------------------

def _check_run_name(name: str) -> None:
    """A run name is one directory name inside ``--out``: no separators, no ``..``."""
    if not name:
        return
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    if (any(c in name for c in seps) or name in (".", "..") or os.path.isabs(name)
            or Path(name).drive or "\0" in name):
        raise CLIError(f"--name {name!r} (config key 'name') must be a plain directory name "
                       "inside --out, without '/', '..' or a drive; use --out DIR to choose "
                       "where runs go")


def _run_dir(cfg: dict) -> Path:
    out = Path(cfg["out"])
    name = cfg["name"]
    _check_run_name(name)
    if not name:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        ds = cfg["data"]["dataset"]
        ds = Path(ds[4:]).stem if ds.startswith("csv:") else ds
        name = f"{stamp}-{cfg['model']['name']}-{ds}"
    path, k = out / name, 1
    while path.exists():
        k += 1
        path = out / f"{name}-{k}"
    try:
        path.mkdir(parents=True)
    except OSError as e:
        raise CLIError(f"cannot create the run directory {path}: {e}") from None
    return path


def _read_run(run_dir: str) -> tuple[Path, dict, Preprocessor]:
    path = Path(run_dir)
    if not path.is_dir():
        raise CLIError(f"run directory not found: {path}")
    cfg_path = path / "config.toml"
    if not cfg_path.is_file():
        raise CLIError(f"{cfg_path} not found: is {path} a lamina run directory?")
    cfg = C.resolve(C.merge(C.defaults(), C.load_toml(cfg_path)))
    return path, cfg, Preprocessor.load(path)


def _restore_model(path: Path, cfg: dict, pre: Preprocessor):
    from lamina.train import load_checkpoint

    ckpt = path / "best.safetensors"
    if not ckpt.is_file():
        why = ("the run stopped before any epoch finished (diverged or interrupted?)"
               if not (path / "last.safetensors").is_file() else
               "no epoch had a finite monitored loss (the run diverged)")
        raise CLIError(f"checkpoint not found: {ckpt}: {why}; train again (with a smaller "
                       "--lr if the loss became NaN)")
    loss_name, _ = _loss(cfg["train"]["loss"], pre.classification,
                         single_output(cfg["model"]["name"]))
    out = _out_features(pre, loss_name)
    model = build_model(cfg["model"], pre.state["input_shape"], out)
    try:
        load_checkpoint(ckpt, model)
    except OSError as e:
        raise CLIError(f"cannot read {ckpt}: {e}") from None
    except (ValueError, KeyError, RuntimeError) as e:
        raise CLIError(f"cannot load {ckpt} into the configured model: {e}") from None
    model.eval()
    return model, loss_name


def _out_features(pre: Preprocessor, loss_name: str) -> int:
    if pre.classification:
        return 1 if loss_name == "bce" else len(pre.classes)
    return int(np.prod(pre.state.get("target_shape", [1])))


def _predict(model, x: np.ndarray, batch: int = 512) -> np.ndarray:
    from lamina.tensor import Tensor
    from lamina.train import predict

    return predict(model, Tensor(x), batch_size=batch)._data


def _metrics(out: np.ndarray, y: np.ndarray, pre: Preprocessor, loss_name: str) -> dict:
    """Test metrics: accuracy, per-class precision/recall/F1 and the confusion matrix for
    classifiers; MSE, RMSE, MAE and R^2 for regression."""
    from lamina.train import metrics as M

    if pre.classification:
        labels, _ = _outputs_to_predictions(out, True, loss_name)
        k = len(pre.classes)
        cm = M.confusion_matrix(labels, y, num_classes=k)
        p, r, f = M.precision_recall_f1(labels, y, average=None, num_classes=k)
        return {"n": int(len(y)), "accuracy": float((labels == y).mean()),
                "macro_precision": float(np.mean(p)), "macro_recall": float(np.mean(r)),
                "macro_f1": float(np.mean(f)),
                "classes": list(pre.classes),
                "per_class": {c: {"precision": float(p[i]), "recall": float(r[i]),
                                  "f1": float(f[i]), "support": int(cm[i].sum())}
                              for i, c in enumerate(pre.classes)},
                "confusion_matrix": cm.tolist()}
    out = out.reshape(y.shape)
    return {"n": int(len(y)), "mse": M.mean_squared_error(out, y),
            "rmse": M.root_mean_squared_error(out, y),
            "mae": M.mean_absolute_error(out, y), "r2": M.r2_score(out, y)}


def _metric_rows(m: dict) -> tuple[list[str], list[list]]:
    if "accuracy" in m:
        rows = [[c, v["precision"], v["recall"], v["f1"], v["support"]]
                for c, v in m["per_class"].items()]
        rows.append(["(macro)", m["macro_precision"], m["macro_recall"], m["macro_f1"],
                     m["n"]])
        return ["class", "precision", "recall", "f1", "support"], rows
    return ["metric", "value"], [[k, float(m[k])] for k in ("mse", "rmse", "mae", "r2")]


def _print_metrics(m: dict, title: str) -> None:
    _say(title)
    if "accuracy" in m:
        _say(f"accuracy {m['accuracy']:.4f}  macro F1 {m['macro_f1']:.4f}  ({m['n']} samples)")
    _say(_table(*_metric_rows(m)))


# --- plots ------------------------------------------------------------------------------------

def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _plot_history(history: dict, path: Path, plt, best_epoch: int | None = None) -> None:
    from matplotlib.ticker import MaxNLocator

    metric = next((k for k in history if k in ("accuracy", "r2", "mae", "rmse")), None)
    fig, axes = plt.subplots(1, 2 if metric else 1, figsize=(10 if metric else 5, 4),
                             squeeze=False)
    for ax in axes[0]:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if best_epoch:
            ax.axvline(best_epoch, color="grey", ls="--", lw=1, label="best (checkpoint)")
    ax = axes[0][0]
    for key in ("loss", "val_loss"):
        if key in history and any(v is not None for v in history[key]):
            ax.plot(history["epoch"], history[key], marker="o", ms=3,
                    label="training" if key == "loss" else "validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("loss")
    ax.legend()
    if metric:
        ax = axes[0][1]
        for key in (metric, f"val_{metric}"):
            if key in history:
                ax.plot(history["epoch"], history[key], marker="o", ms=3,
                        label="training" if key == metric else "validation")
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_confusion(cm: list, classes: list, path: Path, plt) -> None:
    cm = np.asarray(cm)
    k = len(classes)
    fig, ax = plt.subplots(figsize=(max(4, 0.5 * k + 2), max(4, 0.5 * k + 1.5)))
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax)
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xticklabels(classes, rotation=45 if max(len(c) for c in classes) > 3 else 0)
    ax.set_yticklabels(classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix (test set)")
    if k <= 20:
        top = cm.max() if cm.size else 0
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if cm[i, j] > top / 2 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --- commands -------------------------------------------------------------------------------

def _config_from_args(args) -> dict:
    cfg = C.defaults()
    layers = []
    if args.config:
        layers.append(C.load_toml(args.config))
    flags: dict = {}
    for dest, dotted in _FLAG_KEYS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        section, _, name = dotted.rpartition(".")
        target = flags if not section else flags.setdefault(section, {})
        try:
            target[name] = C.coerce(section, name, value)
        except C.ConfigError as e:
            raise CLIError(f"{e} (from the flag --{dest.replace('_', '-')})") from None
    for kind, pairs in (("data", args.dataset_arg), ("model", args.model_arg)):
        for pair in pairs or []:
            k, sep, v = pair.partition("=")
            if not sep or not k.strip():
                raise CLIError(f"--{kind}-arg expects KEY=VALUE, got {pair!r}")
            flags.setdefault(kind, {}).setdefault("args", {})[k.strip()] = _literal(v)
    for pair in args.set or []:
        k, sep, v = pair.partition("=")
        if not sep:
            raise CLIError(f"--set expects SECTION.KEY=VALUE, got {pair!r}")
        section, _, name = k.strip().rpartition(".")
        target = flags if not section else flags.setdefault(section, {})
        target[name] = C.coerce(section, name, v)
    merged = C.merge(cfg, *layers, flags)
    for s in ("data", "model"):  # args tables merge key by key
        merged[s]["args"] = {**cfg[s]["args"],
                             **{k: v for layer in layers for k, v in
                                layer.get(s, {}).get("args", {}).items()},
                             **flags.get(s, {}).get("args", {})}
    resolved = C.resolve(merged)
    file_train = layers[0].get("train", {}) if layers else {}
    for line in _optimizer_warnings(file_train, flags.get("train", {}), resolved["train"]):
        _say(f"{PROG}: warning: {line}", file=sys.stderr)
    return resolved


# the optimizer settings each optimizer reads (lr and weight_decay: all of them)
_USES = {"momentum": ("sgd", "momentum", "nesterov", "rmsprop"), "betas": ("adam", "adamw")}


def _optimizer_warnings(file_train: dict, flag_train: dict, tcfg: dict) -> list[str]:
    """Warnings for optimizer settings of the config file that the command line's optimizer
    may not suit (its learning rate was set for another optimizer) or ignores."""
    name = tcfg["optimizer"]
    out = []
    from_file = {k: v for k, v in file_train.items() if k not in flag_train}
    before = file_train.get("optimizer")
    if "optimizer" in flag_train and before is not None and before != name:
        kept = [f"train.{k} = {from_file[k]!r}" for k in ("lr", "momentum", "betas",
                                                          "weight_decay")
                if k in from_file and from_file[k] != "auto"
                and (k not in _USES or name in _USES[k])]
        if kept:
            out.append(f"--optimizer {name} replaces the config file's optimizer "
                       f"{before!r} but keeps its {', '.join(kept)}, chosen for {before}; "
                       f"give --lr (e.g. --lr auto: {C.DEFAULT_LR[name]:g} for {name}) to "
                       "choose for the new optimizer")
    for k, users in _USES.items():
        if name in users:
            continue
        if k in flag_train and flag_train[k] != "auto":
            given = f"--{k} {flag_train[k]!r}"
        elif k in file_train and file_train[k] not in ("auto", 0, 0.0):
            given = f"train.{k} = {file_train[k]!r} from the config file"
        else:
            continue
        out.append(f"the optimizer {name} ignores {given} (only {', '.join(users)} use "
                   f"{k})")
    return out


def _literal(text: str):
    t = text.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    for conv in (int, float):
        try:
            return conv(t)
        except ValueError:
            pass
    return t


def cmd_train(args) -> int:
    from lamina.cli_distributed import Job, launch

    nproc = getattr(args, "nproc", None)
    if nproc is not None:
        if nproc < 1:
            raise CLIError(f"--nproc must be a positive number of processes, got {nproc}")
        if nproc > 1:
            return launch(nproc, getattr(args, "argv", sys.argv[1:]))
    job = Job()                   # rank and size under mpirun (see lamina.cli_distributed)
    global _QUIET
    _QUIET = not job.main
    try:
        return _train(args, job)
    except (CLIError, C.ConfigError) as e:
        if not job.parallel:
            raise
        if job.main:
            print(f"{PROG}: error: {e}", file=sys.stderr, flush=True)
        job.fail("the training stopped with the error above; ending the job", 2)
        raise


def _train(args, job) -> int:
    import lamina
    from lamina.data import DataLoader, TensorDataset
    from lamina.tensor import Tensor
    from lamina.train import CSVLogger, EarlyStopping, JSONLogger, ModelCheckpoint, fit

    t0 = time.perf_counter()
    cfg = _config_from_args(args)
    from lamina.cli_generative import is_generative, train_generative
    if is_generative(cfg["model"]["name"]):          # vae, gan, rbm: their own training
        if job.parallel:
            raise CLIError(f"model {cfg['model']['name']!r} trains in one process only: drop "
                           "--nproc (data-parallel training covers the classifiers and "
                           "regressors)")
        return train_generative(args, cfg)
    dcfg, tcfg = cfg["data"], cfg["train"]
    seed = cfg["seed"]
    # check the names before loading any data
    _check_model_name(cfg["model"]["name"])
    _check_dataset_name(dcfg["dataset"])
    _check_run_name(cfg["name"])
    dcfg["dataset"] = _canonical_dataset(dcfg["dataset"])
    if dcfg["dataset"].startswith("csv:"):   # recorded absolute: evaluate works from anywhere
        dcfg["dataset"] = "csv:" + os.path.abspath(dcfg["dataset"][4:])
    x, y, info = _load_raw(dcfg)
    tr, va, te = _split(y, info["task"], dcfg, seed)
    pre = Preprocessor.fit(x[tr], info, cfg)
    pre.state["target_shape"] = list(y.shape[1:]) or [1]
    classification = pre.classification
    loss_name, loss_fn = _loss(tcfg["loss"], classification,
                               single_output(cfg["model"]["name"]))
    if loss_name == "bce" and len(pre.classes) != 2 and single_output(cfg["model"]["name"]):
        raise CLIError(f"model {cfg['model']['name']!r} has one output, for two classes; the "
                       f"data has {len(pre.classes)}: use --model softmax or mlp")
    if loss_name == "bce" and len(pre.classes) != 2:
        raise CLIError(f"config key 'train.loss': 'bce' needs two classes, the data has "
                       f"{len(pre.classes)}; use cross_entropy")
    lamina.manual_seed(seed)
    model = build_model(cfg["model"], pre.state["input_shape"], _out_features(pre, loss_name))
    trained = job.wrap(model)     # DistributedDataParallel with several ranks
    optimizer = _optimizer(tcfg, trained.parameters())
    scheduler = _scheduler(tcfg, optimizer)

    # record what "auto" became, so config.toml is the configuration actually used
    dcfg["task"] = info["task"]
    dcfg["standardize"] = pre.state["standardize"] is not None
    dcfg["image_size"] = pre.state["image_size"] or dcfg["image_size"]
    tcfg["loss"] = loss_name
    run = _run_dir(cfg) if job.main else None
    run = job.share(run)          # only rank 0 writes the run directory
    if job.main:
        header = (f"lamina {lamina.__version__} run {run.name}: the resolved configuration\n"
                  f"repeat it with: lamina train --config {run / 'config.toml'}")
        (run / "config.toml").write_text(C.dump_toml(cfg, header), encoding="utf-8")
        pre.save(run)

    def loader(idx, shuffle):
        xs = Tensor(pre.transform(x[idx]))
        ys = Tensor(_targets_for(loss_name, y[idx]))
        return DataLoader(TensorDataset(xs, ys), batch_size=tcfg["batch_size"],
                          shuffle=shuffle, seed=seed if shuffle else None)

    train_loader = loader(tr, True)
    val_loader = loader(va, False) if len(va) else None
    monitor = "val_loss" if val_loader is not None else "loss"
    callbacks = [ModelCheckpoint(run, monitor=monitor, save_optimizer=False),
                 CSVLogger(run / "history.csv"), JSONLogger(run / "history.json")]
    if not job.main:
        callbacks = []
    if job.parallel:              # each rank trains on its share of every epoch
        train_loader, set_epoch = job.train_loader(train_loader.dataset, tcfg["batch_size"],
                                                   seed)
        callbacks.insert(0, set_epoch)
    if tcfg["patience"]:          # every rank: the reduced logs agree, the ranks stop together
        callbacks.insert(0, EarlyStopping(patience=tcfg["patience"], verbose=True))
    metric_names = ["accuracy"] if classification else ["mae", "r2"]
    n_params = sum(p._data.size for p in model.parameters())
    _say(f"data: {dcfg['dataset']} ({info['task']}, {len(tr)} train / {len(va)} validation / "
         f"{len(te)} test samples, input {tuple(pre.state['input_shape'])}"
         + (f", {len(pre.classes)} classes" if classification else "") + ")")
    _say(f"model: {cfg['model']['name']} ({n_params:,} parameters), loss {loss_name}, "
         f"optimizer {tcfg['optimizer']} (lr {tcfg['lr']:g}), schedule {tcfg['schedule']}, "
         f"{tcfg['epochs']} epochs of batch {tcfg['batch_size']}")
    if job.parallel:
        _say(f"data-parallel: {job.size} processes (MPI), batch {tcfg['batch_size']} each, "
             f"global batch {job.size * tcfg['batch_size']}")
    _say(f"run directory: {run}")
    from lamina.train import TrainingDivergedError, load_checkpoint
    try:
        # NumPy's overflow warnings are noise here: a non-finite loss is reported below
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            history = fit(trained, loss_fn, optimizer, train_loader, tcfg["epochs"],
                          val_loader, metrics=metric_names, callbacks=callbacks,
                          scheduler=scheduler, regularization=_regularization(tcfg),
                          progress=False if args.no_progress else job.progress(),
                          verbose=1 if job.main else 0,
                          stop_on_nonfinite=tcfg["stop_on_nonfinite"],
                          compile=tcfg["compile"])
    except TrainingDivergedError as e:
        raise CLIError(f"{str(e).removeprefix('fit: ')}.\n{_kept_checkpoints(run)}"
                       .replace("fit(..., stop_on_nonfinite=False)", "--no-stop-on-nonfinite")
                       ) from None
    if not job.main:              # rank 0 evaluates and plots the result
        return 0
    if not (run / "best.safetensors").is_file():
        raise CLIError(f"no epoch had a finite {monitor} (the loss became NaN or inf), so "
                       f"there is no best checkpoint in {run}; train again with a smaller "
                       f"--lr (it was {tcfg['lr']:g})")
    load_checkpoint(run / "best.safetensors", model)
    plt = _pyplot()
    if plt is None:
        _say("matplotlib is not installed: skipped learning_curve.png and "
             "confusion_matrix.png (pip install 'lamina[plot]')")
    else:
        best = next((cb.best_epoch for cb in callbacks if isinstance(cb, ModelCheckpoint)),
                    None)
        _plot_history(history.to_dict(), run / "learning_curve.png", plt, best)
    if len(te):
        out = _predict(model, pre.transform(x[te]))
        m = _metrics(out, y[te], pre, loss_name)
        _json_dump(run / "test_metrics.json", m)
        if classification and plt is not None:
            _plot_confusion(m["confusion_matrix"], pre.classes, run / "confusion_matrix.png",
                            plt)
        _print_metrics(m, f"test metrics (best epoch, {len(te)} samples):")
    else:
        _say("no test split (data.test_split = 0): no test metrics")
    _say(f"run directory: {run}  ({time.perf_counter() - t0:.1f}s)")
    return 0


def _check_model_name(name: str) -> None:
    _factory(name)


def _kept_checkpoints(run: Path) -> str:
    """Which checkpoints of a stopped run remain, and their epochs."""
    from lamina.train import load_checkpoint

    kept = []
    for name in ("last", "best"):
        path = run / f"{name}.safetensors"
        if path.is_file():
            try:
                kept.append(f"{path.name} (epoch {load_checkpoint(path)['epoch']})")
            except (OSError, ValueError, KeyError):
                kept.append(path.name)
    if not kept:
        return f"No epoch finished, so {run} holds no checkpoint."
    return f"Kept the last finite checkpoints in {run}: {', '.join(kept)}."


def cmd_evaluate(args) -> int:
    path, cfg, pre = _read_run(args.run_dir)
    model, loss_name = _restore_model(path, cfg, pre)
    if args.data:
        dcfg = dict(cfg["data"])
        dcfg["dataset"] = args.data
        dcfg["task"] = pre.state["task"]
        dcfg["limit"] = 0
        csv_info = pre.state.get("csv") or {}
        x, y, info = _load_raw(dcfg, classes=pre.classes if args.data.startswith("csv:")
                               else None, categories=csv_info.get("categorical"))
        if pre.classification and info["classes"] != pre.classes and \
                not args.data.startswith("csv:"):
            raise CLIError(f"dataset {args.data!r} has classes {info['classes']}, the model "
                           f"was trained on {pre.classes}")
        what = f"{args.data} ({len(y)} samples)"
    else:
        x, y, info = _load_raw(cfg["data"], classes=pre.classes
                               if cfg["data"]["dataset"].startswith("csv:") else None,
                               categories=(pre.state.get("csv") or {}).get("categorical"))
        _, _, te = _split(y, info["task"], cfg["data"], cfg["seed"])
        if not len(te):
            raise CLIError(f"the run {path} has no test split (data.test_split = 0); "
                           "give --data DATASET_OR_CSV")
        x, y = x[te], y[te]
        what = f"the run's test split ({len(y)} samples)"
    m = _metrics(_predict(model, pre.transform(x)), y, pre, loss_name)
    if args.output:
        headers, rows = _metric_rows(m)
        if "accuracy" in m:
            rows = [["(accuracy)", "", "", m["accuracy"], m["n"]]] + rows
        _write_csv(args.output, headers, rows)
        _say(f"wrote {args.output}")
    else:
        _print_metrics(m, f"{path.name} on {what}:")
    return 0


def _read_inputs(path: Path, pre: Preprocessor, invert: bool):
    """``(x, row names, preprocessed)`` from a CSV, an image or an .npy file: raw samples
    (``preprocessed`` False) or, for an .npy batch already in the model's input shape,
    model inputs (True)."""
    raw = tuple(pre.state["raw_shape"])
    suffix = path.suffix.lower()
    if not path.exists():
        raise CLIError(f"input file not found: {path}")
    if not path.is_file():
        raise CLIError(f"input {path} is not a regular file; give a .csv, .npy or image file")
    if suffix == ".npy":
        arr, model_ready = _read_npy(path, pre)
        return arr, [str(i) for i in range(len(arr))], model_ready
    if suffix in _IMAGE_EXT:
        if not pre.state["image"]:
            raise CLIError(f"{path} is an image, but the model was trained on tabular data "
                           f"of {raw[0]} features: give a CSV or .npy file")
        img = _read_image(path, raw, invert)
        ref = pre.state.get("pixel_mean")
        if ref is not None and ref <= 1 and abs(float(img.mean()) - ref) > 0.4:
            hint = ("--invert may be wrong for it" if invert else "if it has the opposite "
                    "polarity (dark strokes on a light background, say), pass --invert")
            _say(f"note: {path.name} has mean brightness {img.mean():.2f}, the training "
                 f"images {ref:.2f}: {hint}", file=sys.stderr)
        return img[None], [path.name], False
    if suffix in (".csv", ".gz", ".txt"):
        return _read_csv_inputs(path, pre), None, False
    raise CLIError(f"{path}: unknown input type {suffix!r}; give a .csv, .npy or image file "
                   f"({', '.join(_IMAGE_EXT)})")


def _read_npy(path: Path, pre: Preprocessor) -> tuple[np.ndarray, bool]:
    """An .npy file as float32 samples: ``(array, already model inputs?)``."""
    raw = tuple(pre.state["raw_shape"])
    model = tuple(pre.state["input_shape"])
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise CLIError(f"cannot read {path} as a NumPy .npy file: {e}") from None
    if not isinstance(arr, np.ndarray):
        raise CLIError(f"{path} is an .npz archive, not an .npy array; save one array with "
                       "np.save")
    if arr.dtype.kind not in "biuf":
        what = {"c": "complex numbers", "U": "strings", "S": "bytes", "O": "Python objects",
                "V": "structured records", "M": "dates", "m": "time spans"}.get(
                    arr.dtype.kind, f"dtype {arr.dtype}")
        raise CLIError(f"{path} holds {what} (dtype {arr.dtype}); predict needs real "
                       "numbers (integers or floats)")
    if arr.size == 0:
        raise CLIError(f"{path} holds no samples (shape {arr.shape}); give at least one")
    arr = arr.astype(np.float32)
    size = int(np.prod(raw))
    if arr.shape[1:] == model and model != raw:       # a batch in the model's input shape
        if pre.state["standardize"] is not None:
            raise CLIError(f"{path} has samples of the model's input shape {model}, but "
                           f"this run standardizes its raw {raw} samples first; give raw "
                           f"samples of shape {raw}")
        return arr, True
    if arr.size == size:              # one sample: (C, H, W), (H, W) or flat
        return arr.reshape((1,) + raw), False
    if arr.ndim >= 2 and int(np.prod(arr.shape[1:])) == size:    # a batch
        return arr.reshape((len(arr),) + raw), False
    if arr.shape == model and model != raw:           # one sample in the model's shape
        return _read_npy_one(arr, path, pre, model)
    accepts = f"one sample or a batch (n, {size}) of raw samples of shape {raw}"
    if model != raw:
        accepts += f", or a batch (n, {', '.join(map(str, model))}) in the model's input shape"
    raise CLIError(f"{path}: an array of shape {arr.shape} does not hold samples of shape "
                   f"{raw} (give {accepts})")


def _read_npy_one(arr, path, pre, model):
    if pre.state["standardize"] is not None:
        raise CLIError(f"{path} is a sample of the model's input shape {model}, but this run "
                       f"standardizes raw samples of shape {tuple(pre.state['raw_shape'])}")
    return arr[None], True


def _check_finite(x: np.ndarray, path: Path, names) -> None:
    """Refuse NaN or infinite inputs, naming the first bad row."""
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        first = names[rows[0]] if names is not None else str(rows[0])
        raise CLIError(f"{path}: {len(rows)} input row(s) hold NaN or infinite values, the "
                       f"first is row {first} (counting data rows from 0); predictions of "
                       "such inputs are meaningless: fix or drop those rows")


def _read_image(path: Path, raw: tuple, invert: bool) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:
        raise CLIError("reading images needs Pillow: pip install pillow "
                       "(or 'lamina[data]')") from None
    channels, h, w = raw
    try:
        with warnings.catch_warnings():
            # between Pillow's limit and twice it, Image.open only warns: refuse those too
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            img = img.convert("L" if channels == 1 else "RGB")
            if (img.width, img.height) != (w, h):
                shrink = img.width > w or img.height > h
                img = img.resize((w, h), Image.Resampling.BOX if shrink
                                 else Image.Resampling.BILINEAR)
            arr = np.asarray(img, dtype=np.float32) / 255.0
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise CLIError(f"{path} is too large to decode safely ({e}); Pillow refuses images "
                       f"over {Image.MAX_IMAGE_PIXELS:,} pixels as a possible decompression "
                       f"bomb: shrink it to about {w}x{h} pixels first") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise CLIError(f"cannot read {path} as an image: {e}") from None
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    if channels == 3 and arr.shape[0] != 3:
        arr = np.repeat(arr[:1], 3, axis=0)
    if invert:
        arr = 1.0 - arr
    return arr.astype(np.float32)


def _read_csv_inputs(path: Path, pre: Preprocessor) -> np.ndarray:
    raw = tuple(pre.state["raw_shape"])
    n_feat = int(np.prod(raw))
    opener = open
    if path.suffix == ".gz":
        import gzip
        opener = gzip.open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
            rows = [r for r in csv.reader(f) if r]
    except UnicodeDecodeError as e:
        raise CLIError(f"{path} is not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset "
                       f"{e.start}); save the CSV as UTF-8") from None
    except (OSError, EOFError, csv.Error) as e:
        raise CLIError(f"cannot read {path} as CSV: {e}") from None
    if not rows:
        raise CLIError(f"{path} is empty")
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        n = len(rows[0])
        bad = next(i for i, r in enumerate(rows) if len(r) != n)
        raise CLIError(f"{path} is ragged: line {bad + 1} has {len(rows[bad])} fields, "
                       f"line 1 has {n}; every row needs the same columns")

    def numeric(row):
        try:
            [float(v) for v in row]
            return True
        except ValueError:
            return False

    header = None if numeric(rows[0]) else [h.strip() for h in rows[0]]
    body = rows[1:] if header is not None else rows
    if not body:
        raise CLIError(f"{path} has a header but no data rows")
    info = pre.state.get("csv")
    if info and header is not None:
        missing = [c for c in info["columns"] if c not in header]
        if missing:
            raise CLIError(f"{path}: missing feature columns {missing}; the model was trained "
                           f"on {info['columns']}")
        index = {c: i for i, c in enumerate(header)}
        blocks = []
        for c in info["columns"]:
            vals = [r[index[c]].strip() for r in body]
            if c in info["categorical"]:
                cats = info["categorical"][c]
                unknown = sorted(set(vals) - set(cats))
                if unknown:
                    raise CLIError(f"{path}: column {c!r} has values {unknown[:5]} not seen "
                                   f"in training ({cats})")
                lookup = {v: i for i, v in enumerate(cats)}
                onehot = np.zeros((len(vals), len(cats)), np.float32)
                onehot[np.arange(len(vals)), [lookup[v] for v in vals]] = 1
                blocks.append(onehot)
            else:
                blocks.append(_floats(vals, path, c)[:, None])
        return np.concatenate(blocks, axis=1).reshape((len(body),) + raw)
    names = pre.state.get("feature_names")
    if header is not None and names and all(c in header for c in names):
        index = {c: i for i, c in enumerate(header)}
        body = [[r[index[c]] for c in names] for r in body]
    width = len(body[0])
    if width != n_feat:
        raise CLIError(f"{path} has {width} columns, the model takes {n_feat} features"
                       + (f" ({', '.join(names)})" if names else ""))
    arr = np.array([_floats(r, path, None) for r in body], dtype=np.float32)
    return arr.reshape((len(body),) + raw)


def _floats(vals, path, col) -> np.ndarray:
    try:
        return np.array([float(v) for v in vals], dtype=np.float32)
    except ValueError:
        bad = next(v for v in vals if not _is_float(v))
        where = f" in column {col!r}" if col else ""
        raise CLIError(f"{path}: non-numeric value {bad!r}{where}") from None


def _is_float(v) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def cmd_predict(args) -> int:
    path, cfg, pre = _read_run(args.run_dir)
    model, loss_name = _restore_model(path, cfg, pre)
    x, names, model_ready = _read_inputs(Path(args.input), pre, args.invert)
    if names is None:
        names = [str(i) for i in range(len(x))]
    _check_finite(x, Path(args.input), names)
    out = _predict(model, x if model_ready else pre.transform(x))
    if pre.classification:
        labels, probs = _outputs_to_predictions(out, True, loss_name)
        headers = ["input", "class", "probability"]
        rows = [[n, pre.classes[int(k)], float(probs[i, k])]
                for i, (n, k) in enumerate(zip(names, labels))]
        if args.probabilities:
            headers += [f"p({c})" for c in pre.classes]
            rows = [r + [float(v) for v in probs[i]] for i, r in enumerate(rows)]
    else:
        flat = out.reshape(len(out), -1)
        headers = ["input"] + (["value"] if flat.shape[1] == 1
                               else [f"value_{j}" for j in range(flat.shape[1])])
        rows = [[n] + [float(v) for v in flat[i]] for i, n in enumerate(names)]
    if args.output:
        _write_csv(args.output, headers, rows)
        _say(f"wrote {len(rows)} predictions to {args.output}")
    else:
        _say(_table(headers, rows))
    return 0


def cmd_experiment(args) -> int:
    try:
        from lamina import experiments
    except ImportError as e:
        raise CLIError(f"lamina.experiments is not available in this installation ({e})") \
            from None
    if args.action == "list":
        items = experiments.available()
        width = max((len(n) for n, _ in items), default=0)
        for name, desc in items:
            _say(f"{name.ljust(width)}  {desc}")
        return 0
    if not args.name:
        raise CLIError("experiment run needs a NAME; see `lamina experiment list`")
    names = [n for n, _ in experiments.available()]
    if args.name.strip().lower().replace("_", "-") not in names:
        raise CLIError(f"unknown experiment {args.name!r}; valid names: {', '.join(names)}")
    try:
        result = experiments.run(args.name, seed=args.seed, out_dir=Path(args.out),
                                 quick=args.quick)
    except ImportError as e:
        raise CLIError(f"experiment {args.name!r} is not available ({e})") from None
    _say(result.markdown)
    if getattr(result, "plot", None):
        _say(f"plot: {result.plot}")
    else:
        _say("no plot written (matplotlib is not installed: pip install 'lamina[plot]')")
    return 0


# --- the parser -------------------------------------------------------------------------------

# flag dest -> config key
_FLAG_KEYS = {
    "seed": "seed", "out": "out", "name": "name",
    "dataset": "data.dataset", "target": "data.target", "categorical": "data.categorical",
    "task": "data.task", "val_split": "data.val_split", "test_split": "data.test_split",
    "standardize": "data.standardize", "image_size": "data.image_size", "limit": "data.limit",
    "model": "model.name", "hidden": "model.hidden", "dropout": "model.dropout",
    "activation": "model.activation",
    "epochs": "train.epochs", "batch_size": "train.batch_size", "loss": "train.loss",
    "optimizer": "train.optimizer", "lr": "train.lr", "momentum": "train.momentum",
    "weight_decay": "train.weight_decay", "betas": "train.betas",
    "schedule": "train.schedule", "step_size": "train.step_size", "gamma": "train.gamma",
    "decay": "train.decay", "t_max": "train.t_max",
    "plateau_patience": "train.plateau_patience", "plateau_factor": "train.plateau_factor",
    "l1": "train.l1", "l2": "train.l2", "patience": "train.patience",
    "stop_on_nonfinite": "train.stop_on_nonfinite",
    "compile": "train.compile",
}

_TRAIN_EPILOG = """\
examples:
  lamina train                                   LeNet-5 on the bundled digits (the default)
  lamina train --epochs 5 --limit 500            a quick smaller run
  lamina train --dataset iris --model mlp --hidden 32,16 --epochs 100 --lr 0.01
  lamina train --dataset csv:houses.csv --target price --categorical city --model mlp
  lamina train --dataset diabetes --model linear --optimizer sgd --schedule cosine
  lamina train --config run.toml --seed 3        flags override the file's values
  lamina train --set train.gamma=0.5 --schedule step --step-size 5
  lamina train --model vae --dataset mnist_5k --epochs 10 --model-arg latent_dim=2
  lamina train --model gan --dataset digits --epochs 40    samples.png in the run directory

config file (TOML; every key optional, see any run's config.toml for all of them):
  seed = 0
  [data]
  dataset = "digits"      # or "csv:PATH" with target = "COLUMN"
  val_split = 0.15
  [model]
  name = "mlp"
  hidden = [128, 64]
  [train]
  optimizer = "adam"      # sgd momentum nesterov adagrad rmsprop adadelta adam adamw
  schedule = "cosine"     # none step exponential cosine plateau time-decay
  epochs = 20

The run directory (--out/<timestamp>-<model>-<dataset>) receives config.toml,
preprocessing.json, best.safetensors, last.safetensors, history.csv, history.json,
learning_curve.png and, for classifiers, confusion_matrix.png and test_metrics.json.
Digits (8x8) are upsampled to 32x32 for LeNet-5 (data.image_size, automatic).
"""

_EVAL_EPILOG = """\
examples:
  lamina evaluate runs/20260101-120000-lenet5-digits
  lamina evaluate runs/RUN --output metrics.csv
  lamina evaluate runs/RUN --data csv:new_houses.csv     another labelled data set

Without --data the run's test split is rebuilt from its config.toml (same seed, same
split fractions), so the numbers match test_metrics.json.
"""

_PREDICT_EPILOG = """\
examples:
  lamina predict runs/RUN digit.png              one image: grayscale, resized like training
  lamina predict runs/RUN digit.png --invert     dark strokes on a light background
  lamina predict runs/RUN samples.npy            one sample or a batch (n, *input shape)
  lamina predict runs/RUN flowers.csv --output predictions.csv

A CSV holds feature columns (a header naming the training columns, or exactly as many
columns as the model has features; a target column is ignored). Classifiers print the
class and its probability (--probabilities adds one column per class); regressors print
the predicted value.
"""

_EXPERIMENT_EPILOG = """\
examples:
  lamina experiment list
  lamina experiment run xor --seed 1 --out figures
  lamina experiment run optimizers --quick
"""

_MAIN_EPILOG = """\
examples:
  lamina train                                   train LeNet-5 on the bundled digits
  lamina train --dataset iris --model mlp        another data set and model
  lamina evaluate runs/RUN                       test metrics of a finished run
  lamina predict runs/RUN digit.png              use a trained model
  lamina experiment list                         the lectures' experiments

`lamina COMMAND --help` describes each command.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own: usage, then "lamina ...: error:", exit 2
        self.print_usage(sys.stderr)
        self.exit(2, f"{PROG}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from lamina import __version__

    fmt = argparse.RawDescriptionHelpFormatter
    p = _Parser(prog=PROG, description="lamina: train, evaluate and use NumPy neural "
                "networks from the command line.", epilog=_MAIN_EPILOG, formatter_class=fmt)
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    t = sub.add_parser("train", help="train a model and write a run directory",
                       description="Train a model. With no arguments: LeNet-5 on "
                       "scikit-learn's digits.\nSettings come from the defaults, then "
                       "--config FILE, then the flags (which win).",
                       epilog=_TRAIN_EPILOG, formatter_class=fmt)
    t.add_argument("--config", metavar="FILE.toml", help="a TOML config file")
    t.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                   help="set any config key (repeatable)")
    t.add_argument("--seed", help="random seed (default 0)")
    t.add_argument("--out", metavar="DIR", help="parent folder of run directories "
                   "(default runs)")
    t.add_argument("--name", help="run directory name (default: timestamp-model-dataset)")
    t.add_argument("--no-progress", action="store_true",
                   help="no progress bar (it only shows on a terminal anyway)")
    t.add_argument("--nproc", type=int, metavar="N",
                   help="data-parallel training on N processes: runs mpirun -n N for you "
                   "(needs Open MPI and mpi4py; see docs/distributed.md)")
    g = t.add_argument_group("data")
    g.add_argument("--dataset", metavar="NAME|csv:PATH",
                   help="dataset (default digits): " + ", ".join(_safe_dataset_names())
                   + ", or csv:PATH")
    g.add_argument("--target", metavar="COLUMN", help="target column of a CSV dataset")
    g.add_argument("--categorical", metavar="COL,COL", help="CSV columns to one-hot encode")
    g.add_argument("--task", help="classification, regression or auto (default)")
    g.add_argument("--dataset-arg", action="append", metavar="KEY=VALUE",
                   help="extra dataset argument, e.g. root=~/data/mnist (repeatable)")
    g.add_argument("--val-split", metavar="FRAC", help="validation fraction (default 0.15)")
    g.add_argument("--test-split", metavar="FRAC", help="test fraction (default 0.15)")
    g.add_argument("--standardize", action="store_const", const="true",
                   help="standardize inputs with the training split's mean/std "
                   "(default: tabular yes, images no)")
    g.add_argument("--no-standardize", dest="standardize", action="store_const",
                   const="false", help="do not standardize")
    g.add_argument("--image-size", metavar="N", help="resize images to NxN (default: 32 for "
                   "lenet5, else unchanged)")
    g.add_argument("--limit", metavar="N", help="use a random subset of N samples")
    g = t.add_argument_group("model")
    g.add_argument("--model", metavar="NAME", help="model (default lenet5): "
                   + ", ".join(_safe_model_names()) + "; generative, on image datasets, "
                   "writing samples.png: vae, gan, rbm")
    g.add_argument("--hidden", metavar="N,N,...", help="hidden sizes of mlp (default 128,64)")
    g.add_argument("--dropout", metavar="P", help="dropout probability (default 0)")
    g.add_argument("--activation", help="hidden activation of mlp: "
                   + ", ".join(C.ACTIVATIONS))
    g.add_argument("--model-arg", action="append", metavar="KEY=VALUE",
                   help="extra model argument, e.g. pool=avg (repeatable)")
    g = t.add_argument_group("training")
    g.add_argument("--epochs", metavar="N", help="epochs (default 20)")
    g.add_argument("--batch-size", metavar="N", help="batch size (default 64)")
    g.add_argument("--loss", help="loss: " + ", ".join(C.LOSSES) + " (default auto: "
                   "cross_entropy for classes, mse for values)")
    g.add_argument("--optimizer", help="optimizer (default adam): " + ", ".join(C.OPTIMIZERS))
    g.add_argument("--lr", metavar="RATE", help="learning rate (default: the optimizer's "
                   "usual one: 1e-3 for adam, 1e-2 for sgd)")
    g.add_argument("--momentum", metavar="M", help="momentum (default 0.9 for momentum and "
                   "nesterov)")
    g.add_argument("--weight-decay", metavar="W", help="optimizer weight decay (default 0)")
    g.add_argument("--betas", metavar="B1,B2", help="Adam betas (default 0.9,0.999)")
    g.add_argument("--schedule", help="learning-rate schedule: " + ", ".join(C.SCHEDULES))
    g.add_argument("--step-size", metavar="N", help="step schedule: epochs per decay")
    g.add_argument("--gamma", metavar="G", help="step (0.1) / exponential (0.95) factor")
    g.add_argument("--decay", metavar="D", help="time-decay: lr0 / (1 + D * epoch)")
    g.add_argument("--t-max", metavar="N", help="cosine: half-period in epochs")
    g.add_argument("--plateau-patience", metavar="N", help="plateau: epochs before a cut")
    g.add_argument("--plateau-factor", metavar="F", help="plateau: factor of a cut")
    g.add_argument("--l1", metavar="W", help="L1 penalty weight")
    g.add_argument("--l2", metavar="W", help="L2 penalty weight")
    g.add_argument("--patience", metavar="N", help="early stopping patience (0: off)")
    g.add_argument("--no-stop-on-nonfinite", dest="stop_on_nonfinite", action="store_const",
                   const="false", help="keep training when the loss becomes NaN or inf "
                   "(by default training stops there with exit status 2, keeping the last "
                   "finite checkpoints)")
    g.add_argument("--compile", action="store_const", const="true",
                   help="compile the training step (lamina.compile: recorded on the first "
                   "batch of each shape, replayed after; the same values, less overhead)")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="metrics of a trained run on its test split or "
                       "other data", description="Rebuild a run's model from config.toml, "
                       "load best.safetensors and evaluate it.", epilog=_EVAL_EPILOG,
                       formatter_class=fmt)
    e.add_argument("run_dir", metavar="RUN_DIR", help="a run directory of lamina train")
    e.add_argument("--data", metavar="DATASET_OR_CSV", help="evaluate on this data set "
                   "(a name or csv:PATH) instead of the run's test split")
    e.add_argument("--output", metavar="FILE.csv", help="write the metrics as CSV")
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser("predict", help="predictions of a trained run for new inputs",
                       description="Predict with a run's best model: INPUT is a CSV of "
                       "features, an image (PNG/JPG) or an .npy array.",
                       epilog=_PREDICT_EPILOG, formatter_class=fmt)
    r.add_argument("run_dir", metavar="RUN_DIR", help="a run directory of lamina train")
    r.add_argument("input", metavar="INPUT", help="a .csv, .npy or image file")
    r.add_argument("--output", metavar="FILE.csv", help="write the predictions as CSV")
    r.add_argument("--invert", action="store_true", help="invert image pixels (dark strokes "
                   "on a light background)")
    r.add_argument("--probabilities", action="store_true",
                   help="also print every class's probability")
    r.set_defaults(func=cmd_predict)

    x = sub.add_parser("experiment", help="list or run the lectures' experiments",
                       description="Reproduce an experiment of the lectures (lamina."
                       "experiments): a markdown table and a plot.",
                       epilog=_EXPERIMENT_EPILOG, formatter_class=fmt)
    x.add_argument("action", choices=("list", "run"), help="list the experiments or run one")
    x.add_argument("name", nargs="?", metavar="NAME", help="the experiment to run")
    x.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    x.add_argument("--out", default="runs/experiments", metavar="DIR",
                   help="where the plot goes (default runs/experiments)")
    x.add_argument("--quick", action="store_true", help="a reduced, fast version")
    x.set_defaults(func=cmd_experiment)

    from lamina.tune import add_parser as add_tune_parser  # lamina tune (Optuna search)
    add_tune_parser(sub)
    return p


def _safe_dataset_names() -> list[str]:
    try:
        return _dataset_names()
    except ImportError:
        return []


def _safe_model_names() -> list[str]:
    try:
        return _model_names()
    except CLIError:
        return []


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for errors a user can fix)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)    # for --nproc's mpirun
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (CLIError, C.ConfigError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

