"""``fit(..., compile=True)``, ``predict(..., compile=True)`` and ``lamina train --compile``
give eager mode's values bit for bit."""

import contextlib
import csv
import io
import warnings
from pathlib import Path

import numpy as np
import pytest

import lamina
from lamina import nn
from lamina.data import DataLoader, TensorDataset
from lamina.train import fit

ROOT = Path(__file__).resolve().parents[2]


def _fit(compile, regularization=None):
    lamina.manual_seed(0)
    rng = np.random.default_rng(0)
    x = lamina.tensor(rng.standard_normal((50, 6)).astype(np.float32))
    y = lamina.tensor(rng.integers(0, 3, 50))
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))
    opt = lamina.optim.Adam(model.parameters(), lr=1e-2)
    loader = DataLoader(TensorDataset(x, y), batch_size=16)      # a last batch of 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hist = fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=3, val_loader=loader,
                   metrics=["accuracy"], verbose=0, regularization=regularization,
                   compile=compile)
    return hist, [p.detach().numpy().copy() for p in model.parameters()]


@pytest.mark.parametrize("reg", [None, lambda m: nn.utils.l2_penalty(m, 1e-3)],
                         ids=["plain", "l2"])
def test_fit_compiled_equals_eager(reg):
    (he, pe), (hc, pc) = _fit(False, reg), _fit(True, reg)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy") + (("penalty",) if reg else ()):
        assert hc[key] == he[key], key
    for a, b in zip(pc, pe):
        np.testing.assert_array_equal(a, b)


def test_fit_compiled_stops_on_a_nonfinite_loss():
    from lamina.train import TrainingDivergedError

    model = nn.Linear(2, 1)
    opt = lamina.optim.SGD(model.parameters(), lr=0.1)
    x = lamina.tensor(np.array([[1.0, np.nan]] * 4, np.float32))
    loader = DataLoader(TensorDataset(x, lamina.zeros(4, 1)), batch_size=2)
    with pytest.raises(TrainingDivergedError, match="after that \\(compiled\\) step"):
        fit(model, nn.MSELoss(), opt, loader, verbose=0, compile=True)


def _train(*args):
    from lamina import cli

    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err), \
            np.errstate(all="ignore"):
        rc = cli.main(["train", *map(str, args)])
    return rc, err.getvalue()


def test_cli_train_compile_equals_eager(tmp_path):
    pytest.importorskip("sklearn")
    config = ROOT / "examples" / "configs" / "iris_mlp.toml"
    common = ["--config", config, "--epochs", "3", "--out", tmp_path, "--no-progress"]
    rows = {}
    for name, extra in (("eager", []), ("compiled", ["--compile"])):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            rc, err = _train(*common, *extra, "--name", name)
        assert rc == 0, err
        with open(tmp_path / name / "history.csv") as f:
            rows[name] = [{k: v for k, v in r.items() if k != "time"} for r in csv.DictReader(f)]
    assert rows["compiled"] == rows["eager"] and len(rows["eager"]) == 3
