"""fit notices divergence: a non-finite loss stops training with the epoch and batch named,
the checkpoints keep the last finite weights, and the run files agree after an interruption."""

import csv
import math

import numpy as np
import pytest

import lamina
from lamina import nn, optim
from lamina.data import DataLoader, TensorDataset
from lamina.train import (
    CSVLogger,
    ModelCheckpoint,
    TrainingDivergedError,
    callbacks,
    fit,
    load_checkpoint,
)

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow, on purpose


def _data(n=32, batch_size=8, nan_row=None):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 1)).astype(np.float32)
    y = (3 * x - 1).astype(np.float32)
    if nan_row is not None:
        x[nan_row, 0] = np.nan
    ds = TensorDataset(lamina.tensor(x), lamina.tensor(y))
    return DataLoader(ds, batch_size=batch_size), DataLoader(ds, batch_size=n)


def _finite(model) -> bool:
    return all(np.isfinite(p._data).all() for p in model.parameters())


def test_a_diverging_fit_stops_naming_epoch_and_batch():
    lamina.manual_seed(0)
    model = nn.Linear(1, 1)
    train, _ = _data()
    with pytest.raises(TrainingDivergedError) as info:
        fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=10.0), train, epochs=100,
            verbose=0)
    err = info.value
    msg = str(err)
    assert f"epoch {err.epoch}, batch {err.batch}" in msg
    assert "smaller learning rate" in msg and "lr is 10" in msg
    assert "stop_on_nonfinite=False" in msg
    assert 1 <= err.epoch < 100 and 0 <= err.batch < 4 and not math.isfinite(err.loss)
    assert _finite(model)                    # stopped before the step that would break it


def test_opting_out_trains_on():
    lamina.manual_seed(0)
    model = nn.Linear(1, 1)
    train, _ = _data()
    hist = fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=10.0), train, epochs=12,
               verbose=0, stop_on_nonfinite=False)
    assert len(hist) == 12 and not math.isfinite(hist["loss"][-1])


def test_a_non_finite_input_is_reported_with_its_batch():
    model = nn.Linear(1, 1)
    train, _ = _data(nan_row=19)                      # batch 2 of 8-sample batches
    with pytest.raises(TrainingDivergedError) as info:
        fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.01), train, epochs=2,
            verbose=0)
    msg = str(info.value)
    assert "epoch 1, batch 2" in msg and "input" in msg and "sample 3 of the batch" in msg
    assert "training data" in msg and info.value.bad_input is not None
    assert _finite(model)


def test_weights_that_become_non_finite_stop_at_the_epoch_end():
    class Poison(optim.SGD):
        def step(self):
            super().step()
            self.param_groups[0]["params"][0].data[...] = np.inf

    model = nn.Linear(1, 1)
    train, _ = _data(n=8)                              # one batch: the loss stays finite
    with pytest.raises(TrainingDivergedError, match="end of epoch 1.*parameters"):
        fit(model, nn.MSELoss(), Poison(model.parameters(), lr=0.01), train, verbose=0)


def test_divergence_keeps_the_last_good_checkpoints(tmp_path):
    lamina.manual_seed(0)
    model = nn.Linear(1, 1)
    train, val = _data()
    ckpt = ModelCheckpoint(tmp_path, monitor="loss")
    with pytest.raises(TrainingDivergedError) as info:
        fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=10.0), train, epochs=100,
            callbacks=[ckpt, CSVLogger(tmp_path / "history.csv")], verbose=0)
    diverged = info.value.epoch
    last = load_checkpoint(tmp_path / "last.safetensors")
    best = load_checkpoint(tmp_path / "best.safetensors")
    assert last["epoch"] == diverged - 1 and best["epoch"] <= last["epoch"]
    for c in (last, best):
        assert all(np.isfinite(v.numpy()).all() for v in c["model"].values())
    with open(tmp_path / "history.csv") as f:
        assert int(list(csv.DictReader(f))[-1]["epoch"]) == diverged - 1


def test_without_stopping_checkpoints_never_hold_nan_weights(tmp_path, capsys):
    lamina.manual_seed(0)
    model = nn.Linear(1, 1)
    train, _ = _data()
    fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=10.0), train, epochs=15,
        callbacks=[ModelCheckpoint(tmp_path, monitor="loss")], verbose=2,
        stop_on_nonfinite=False)
    assert not _finite(model)
    for name in ("last", "best"):
        c = load_checkpoint(tmp_path / f"{name}.safetensors")
        assert all(np.isfinite(v.numpy()).all() for v in c["model"].values()), name
    assert "keeps the previous last.safetensors" in capsys.readouterr().out


@pytest.mark.parametrize("crash_at", range(1, 9))
def test_an_interrupted_run_leaves_files_that_agree(tmp_path, monkeypatch, crash_at):
    """Interrupt the n-th file write of a run (checkpoints, then history.csv): best is never
    newer than last, and history.csv is last's epoch or one behind."""
    calls = {"n": 0}
    real_save = callbacks.save

    def save(obj, path):
        calls["n"] += 1
        if calls["n"] == crash_at:
            raise KeyboardInterrupt
        real_save(obj, path)

    monkeypatch.setattr(callbacks, "save", save)
    lamina.manual_seed(0)
    model = nn.Linear(1, 1)
    train, val = _data()
    with pytest.raises(KeyboardInterrupt):
        fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05), train, epochs=10,
            val_loader=val, callbacks=[ModelCheckpoint(tmp_path),
                                       CSVLogger(tmp_path / "history.csv")], verbose=0)
    epoch = {}
    for name in ("last", "best"):
        path = tmp_path / f"{name}.safetensors"
        epoch[name] = load_checkpoint(path)["epoch"] if path.exists() else 0
    hist = 0
    if (tmp_path / "history.csv").exists():
        with open(tmp_path / "history.csv") as f:
            hist = int(list(csv.DictReader(f))[-1]["epoch"])
    assert epoch["best"] <= epoch["last"]
    assert epoch["last"] - 1 <= hist <= epoch["last"]
