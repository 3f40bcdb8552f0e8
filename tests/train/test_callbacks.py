"""Callbacks: early stopping on scripted validation curves, checkpoints, schedulers, logs."""

import csv
import json
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lamina
from lamina import nn, optim
from lamina.data import DataLoader, TensorDataset
from lamina.train import (
    CSVLogger,
    EarlyStopping,
    JSONLogger,
    LambdaCallback,
    LRSchedulerCallback,
    ModelCheckpoint,
    TerminateOnNaN,
    Trainer,
    fit,
    load_checkpoint,
)


def _loaders(n=32, batch_size=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 1)).astype(np.float32)
    y = (3 * x - 1 + 0.1 * rng.normal(size=(n, 1))).astype(np.float32)
    ds = TensorDataset(lamina.tensor(x), lamina.tensor(y))
    return DataLoader(ds, batch_size=batch_size), DataLoader(ds, batch_size=n)


class ScriptedLoss:
    """MSE while training; during validation (no grad) the next value of ``curve``, one per
    epoch, so the validation loss follows a script while the weights keep changing."""

    def __init__(self, curve):
        self.curve = list(curve)
        self.calls = 0

    def __call__(self, output, target):
        if lamina.is_grad_enabled():
            return nn.functional.mse_loss(output, target)
        value = self.curve[self.calls]
        self.calls += 1
        return lamina.tensor(value, dtype=lamina.float64)


def _run(curve, epochs=None, **es_kwargs):
    """Fit a Linear(1, 1) with the validation loss following ``curve``; returns the history,
    the EarlyStopping callback, the model and the weights after every epoch."""
    lamina.manual_seed(0)
    model = nn.Linear(1, 1)
    opt = optim.SGD(model.parameters(), lr=0.05)
    train, val = _loaders()
    stop = EarlyStopping(**es_kwargs)
    weights = []
    record = LambdaCallback(on_epoch_end=lambda t, e, logs: weights.append(
        {k: v._data.copy() for k, v in t.model.state_dict().items()}))
    hist = fit(model, ScriptedLoss(curve), opt, train, epochs or len(curve), val,
               callbacks=[record, stop], verbose=0)
    return hist, stop, model, weights


def _same_weights(model, weights):
    sd = model.state_dict()
    return all(np.array_equal(sd[k]._data, v) for k, v in weights.items())


def test_early_stopping_stops_after_patience_and_restores_best():
    curve = [1.0, 0.8, 0.7, 0.75, 0.72, 0.71, 0.9, 0.5, 0.4, 0.3]
    hist, stop, model, weights = _run(curve, patience=3, restore_best_weights=True)
    # best at epoch 3; epochs 4, 5, 6 do not improve: stop at the end of epoch 6
    assert hist["epoch"] == [1, 2, 3, 4, 5, 6]
    assert hist["val_loss"] == pytest.approx(curve[:6])
    assert stop.stopped_epoch == 6 and stop.best_epoch == 3 and stop.best == 0.7
    assert _same_weights(model, weights[2])
    assert not _same_weights(model, weights[5])      # training did move the weights


def test_early_stopping_without_restore_keeps_last_weights():
    hist, stop, model, weights = _run([1.0, 0.8, 0.9, 0.95, 0.3], patience=2)
    assert len(hist) == 4 and stop.stopped_epoch == 4
    assert _same_weights(model, weights[-1])


def test_early_stopping_patience_zero_and_never_at_epoch_one():
    hist, stop, _, _ = _run([float("nan"), 1.0, 1.5, 0.5], patience=0)
    # a NaN first epoch is no improvement, but early stopping never stops at epoch 1
    assert len(hist) == 3 and stop.best == 1.0 and stop.stopped_epoch == 3
    hist, stop, _, _ = _run([1.0, 0.9, 0.95, 0.1], patience=0)
    assert len(hist) == 3 and stop.stopped_epoch == 3


def test_early_stopping_min_delta():
    # improvements of 0.05 do not count with min_delta=0.1
    hist, stop, _, _ = _run([1.0, 0.95, 0.9, 0.85, 0.5], patience=2, min_delta=0.1)
    assert len(hist) == 3 and stop.best_epoch == 1
    # a negative min_delta means the same as its absolute value (Keras)
    hist2, _, _, _ = _run([1.0, 0.95, 0.9, 0.85, 0.5], patience=2, min_delta=-0.1)
    assert len(hist2) == 3


def test_early_stopping_mode_max_and_auto():
    hist, stop, _, _ = _run([0.1, 0.5, 0.4, 0.45, 0.2, 0.9], patience=2, mode="max")
    assert len(hist) == 4 and stop.best == 0.5 and stop.best_epoch == 2
    # "auto" reads val_loss as a loss (mode min)
    hist, stop, _, _ = _run([0.1, 0.5, 0.4, 0.45], patience=2, mode="auto")
    assert len(hist) == 3 and stop.best == 0.1


def test_early_stopping_restores_at_end_even_without_stopping():
    hist, stop, model, weights = _run([1.0, 0.2, 0.5, 0.6], patience=5,
                                      restore_best_weights=True)
    assert len(hist) == 4 and stop.stopped_epoch == 0
    assert _same_weights(model, weights[1])


def test_early_stopping_baseline_and_start_from_epoch():
    # the baseline 0.5 is never beaten: improvements do not reset the wait, so the first
    # epoch that does not improve stops training (Keras's rule)
    curve = [1.0, 0.9, 0.95, 0.96, 0.97]
    hist, stop, _, _ = _run(curve, patience=2, baseline=0.5)
    assert len(hist) == 3 and stop.stopped_epoch == 3 and stop.best == 0.9
    hist, stop, _, _ = _run(curve, patience=2)
    assert len(hist) == 4
    # warm-up epochs are ignored entirely
    hist, stop, _, _ = _run([0.1, 0.1, 1.0, 0.9, 0.95, 0.96, 0.97], patience=2,
                            start_from_epoch=2)
    assert len(hist) == 6 and stop.best == 0.9 and stop.best_epoch == 4


def _expected_stop(curve, patience, min_delta):
    """The stopping epoch by the rule as stated: stop at the first epoch e > 1 that does not
    improve on the best so far by more than min_delta and comes at least ``patience`` epochs
    after the last improving epoch (the first finite value always improves)."""
    best, last_improvement = None, 0
    for e, v in enumerate(curve, start=1):
        if not math.isnan(v) and (best is None or v < best - min_delta):
            best, last_improvement = v, e
        elif e > 1 and e - last_improvement >= patience:
            return e
    return None


@given(curve=st.lists(st.sampled_from([0.1, 0.2, 0.3, 0.35, 0.4, 0.5, math.nan]),
                      min_size=1, max_size=12),
       patience=st.integers(0, 4), min_delta=st.sampled_from([0.0, 0.06]))
@settings(max_examples=40, deadline=None)
def test_early_stopping_matches_the_stated_rule(curve, patience, min_delta):
    hist, stop, _, _ = _run(curve, patience=patience, min_delta=min_delta)
    expected = _expected_stop(curve, patience, min_delta)
    assert len(hist) == (expected or len(curve))
    assert stop.stopped_epoch == (expected or 0)


def test_early_stopping_missing_monitor_is_an_error():
    model = nn.Linear(1, 1)
    train, _ = _loaders()
    with pytest.raises(ValueError, match="'val_loss' is not in the epoch's logs.*val_loader"):
        fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), train, 2,
            callbacks=[EarlyStopping()], verbose=0)
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="lowest")


def test_early_stopping_reports_when_verbose(capsys):
    _run([1.0, 2.0, 3.0], patience=1, verbose=True, restore_best_weights=True)
    assert capsys.readouterr().out == ""          # fit's verbose=0 silences callbacks too
    lamina.manual_seed(0)
    model = nn.Linear(1, 1)
    train, val = _loaders()
    fit(model, ScriptedLoss([1.0, 2.0, 3.0]), optim.SGD(model.parameters(), lr=0.01), train,
        3, val, callbacks=[EarlyStopping(patience=1, verbose=True, restore_best_weights=True)])
    out = capsys.readouterr().out
    assert "early stopping at epoch 2" in out and "restored the weights of epoch 1" in out


# --- checkpoints ----------------------------------------------------------------------------

def test_model_checkpoint_best_and_last(tmp_path):
    curve = [1.0, 0.6, 0.8, 0.5, 0.7]
    lamina.manual_seed(0)
    model = nn.Linear(1, 1)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    train, val = _loaders()
    weights, best_epochs = [], []
    ckpt = ModelCheckpoint(tmp_path / "ckpt")
    cbs = [LambdaCallback(on_epoch_end=lambda t, e, logs: weights.append(
               {k: v._data.copy() for k, v in t.model.state_dict().items()})),
           ckpt,
           LambdaCallback(on_epoch_end=lambda t, e, logs: best_epochs.append(
               load_checkpoint(ckpt.best_path)["epoch"]))]
    fit(model, ScriptedLoss(curve), opt, train, len(curve), val, callbacks=cbs, verbose=0)
    assert best_epochs == [1, 2, 2, 4, 4]          # best.safetensors follows improvements
    assert ckpt.best == 0.5 and ckpt.best_epoch == 4
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["best.safetensors", "last.safetensors"]

    best = load_checkpoint(ckpt.best_path)
    assert best["epoch"] == 4 and best["logs"]["val_loss"] == 0.5
    for k, v in weights[3].items():
        np.testing.assert_array_equal(best["model"][k].numpy(), v)

    # last: the final epoch's model and optimizer, loadable into fresh objects
    fresh = nn.Linear(1, 1)
    fresh_opt = optim.SGD(fresh.parameters(), lr=0.05, momentum=0.9)
    last = load_checkpoint(ckpt.last_path, fresh, fresh_opt)
    assert last["epoch"] == 5 and set(last["logs"]) >= {"loss", "val_loss", "lr", "time"}
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[k].numpy(), v.numpy())
    for p, q in zip(model.parameters(), fresh.parameters()):
        np.testing.assert_array_equal(opt.state[p]["momentum_buffer"].numpy(),
                                      fresh_opt.state[q]["momentum_buffer"].numpy())


def test_model_checkpoint_options(tmp_path):
    lamina.manual_seed(0)
    model = nn.Linear(1, 1)
    train, val = _loaders()
    ckpt = ModelCheckpoint(tmp_path, monitor="val_loss", mode="max", save_last=False,
                           save_optimizer=False)
    fit(model, ScriptedLoss([0.2, 0.9, 0.4]), optim.SGD(model.parameters(), lr=0.1), train,
        3, val, callbacks=[ckpt], verbose=0)
    assert os.listdir(tmp_path) == ["best.safetensors"]
    data = load_checkpoint(ckpt.best_path)
    assert data["epoch"] == 2 and "optimizer" not in data
    with pytest.raises(ValueError, match="no optimizer state"):
        load_checkpoint(ckpt.best_path, model, optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="nothing to save"):
        ModelCheckpoint(tmp_path, save_best=False, save_last=False)
    lamina.save({"w": lamina.ones(2)}, tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match="not a ModelCheckpoint file"):
        load_checkpoint(tmp_path / "other.safetensors")


def test_model_checkpoint_last_only_needs_no_monitor(tmp_path):
    model = nn.Linear(1, 1)
    train, _ = _loaders()
    ckpt = ModelCheckpoint(tmp_path, save_best=False)
    fit(model, nn.MSELoss(), optim.Adam(model.parameters()), train, 2, callbacks=[ckpt],
        verbose=0)
    assert os.listdir(tmp_path) == ["last.safetensors"]
    fresh_opt = optim.Adam(nn.Linear(1, 1).parameters())
    assert load_checkpoint(ckpt.last_path, optimizer=fresh_opt)["epoch"] == 2
    assert fresh_opt.state_dict()["state"][0]["step"] == 2 * 4    # 4 batches per epoch


# --- learning-rate schedules ----------------------------------------------------------------

def test_reduce_lr_on_plateau_is_fed_the_validation_loss():
    torch = pytest.importorskip("torch")
    curve = [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8]
    lamina.manual_seed(0)
    model = nn.Linear(1, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    train, val = _loaders()
    hist = fit(model, ScriptedLoss(curve), opt, train, len(curve), val, scheduler=sched,
               verbose=0)
    # the oracle: torch's scheduler stepped with the same values
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, factor=0.5, patience=2)
    expected = []
    for v in curve:
        expected.append(topt.param_groups[0]["lr"])   # the rate used during the epoch
        tsched.step(v)
    assert hist["lr"] == pytest.approx(expected, rel=1e-12)
    assert expected[-1] < expected[0]                 # the test exercises a reduction


def test_reduce_lr_on_plateau_monitors_train_loss_without_validation():
    model = nn.Linear(1, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    train, _ = _loaders()
    calls = []
    sched_step = sched.step
    sched.step = lambda m: (calls.append(m), sched_step(m))
    hist = fit(model, nn.MSELoss(), opt, train, 3, scheduler=sched, verbose=0)
    assert calls == pytest.approx(hist["loss"], rel=1e-12)


def test_epoch_and_step_schedulers():
    model = nn.Linear(1, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    train, _ = _loaders()          # 4 batches per epoch
    hist = fit(model, nn.MSELoss(), opt, train, 3,
               scheduler=optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5), verbose=0)
    assert hist["lr"] == pytest.approx([0.1, 0.05, 0.025])
    opt = optim.SGD(model.parameters(), lr=0.1)
    cb = LRSchedulerCallback(optim.lr_scheduler.ExponentialLR(opt, gamma=0.5),
                             interval="step")
    hist = fit(model, nn.MSELoss(), opt, train, 2, callbacks=[cb], verbose=0)
    assert hist["lr"] == pytest.approx([0.1, 0.1 * 0.5**4])
    with pytest.raises(ValueError, match="interval='epoch'"):
        LRSchedulerCallback(optim.lr_scheduler.ReduceLROnPlateau(opt), interval="step")
    with pytest.raises(TypeError, match="expected a learning-rate scheduler"):
        LRSchedulerCallback(3)


# --- logs -----------------------------------------------------------------------------------

def test_csv_and_json_loggers_write_every_epoch(tmp_path):
    model = nn.Linear(1, 1)
    train, val = _loaders()
    csv_path, json_path = tmp_path / "log.csv", tmp_path / "log.json"
    rows_seen, epochs_seen = [], []

    def peek(trainer, epoch, logs):
        with open(csv_path) as f:
            rows_seen.append(len(list(csv.reader(f))) - 1)
        with open(json_path) as f:
            epochs_seen.append(json.load(f)["epoch"])

    hist = fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), train, 3, val,
               metrics=["mae"], callbacks=[CSVLogger(csv_path), JSONLogger(json_path),
                                           LambdaCallback(on_epoch_end=peek)], verbose=0)
    assert rows_seen == [1, 2, 3] and epochs_seen == [[1], [1, 2], [1, 2, 3]]
    with open(csv_path) as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(hist.keys())
    assert rows[0] == ["epoch", "loss", "mae", "val_loss", "val_mae", "lr", "time"]
    for i, row in enumerate(rows[1:]):
        assert [float(x) for x in row] == [float(hist[k][i]) for k in rows[0]]
    with open(json_path) as f:
        assert json.load(f) == hist.history
    assert sorted(os.listdir(tmp_path)) == ["log.csv", "log.json"]   # no temp files left


def test_terminate_on_nan(capsys):
    model = nn.Linear(1, 1)
    train, _ = _loaders()

    def bad_loss(output, target):
        return nn.functional.mse_loss(output, target) * math.nan

    hist = Trainer(model, bad_loss, optim.SGD(model.parameters(), lr=0.1),
                   callbacks=[TerminateOnNaN()], verbose=2, stop_on_nonfinite=False).fit(train, 5)
    assert len(hist) == 1 and math.isnan(hist["loss"][0])
    assert "loss is nan, stopping training" in capsys.readouterr().out


def test_callback_hook_order():
    events = []
    cb = LambdaCallback(
        on_train_begin=lambda t: events.append("train_begin"),
        on_epoch_begin=lambda t, e: events.append(f"epoch_begin {e}"),
        on_batch_end=lambda t, b, logs: events.append(f"batch {b}"),
        on_epoch_end=lambda t, e, logs: events.append(f"epoch_end {e} {len(t.history)}"),
        on_train_end=lambda t: events.append("train_end"))
    model = nn.Linear(1, 1)
    train, _ = _loaders(n=16)
    fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), train, 2,
        callbacks=[cb], verbose=0)
    assert events == ["train_begin", "epoch_begin 1", "batch 0", "batch 1", "epoch_end 1 1",
                      "epoch_begin 2", "batch 0", "batch 1", "epoch_end 2 2", "train_end"]
