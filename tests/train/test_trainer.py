"""fit/evaluate/predict, the History, and the progress display."""

import io
import json
import re
import sys

import numpy as np
import pytest

import lamina
from lamina import nn, optim
from lamina.data import DataLoader, TensorDataset
from lamina.train import History, LambdaCallback, Trainer, evaluate, fit, predict
from lamina.train import metrics as M
from lamina.train.progress import EpochBar, format_epoch, is_terminal


def _classification(n=50, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return lamina.tensor(x), lamina.tensor(y)


def _model(seed=0):
    lamina.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


# --- history --------------------------------------------------------------------------

def test_history_contents_and_values():
    x, y = _classification()
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    train = DataLoader(TensorDataset(x, y), batch_size=16)       # batches of 16, 16, 16, 2
    val = DataLoader(TensorDataset(x[:20], y[:20]), batch_size=6)
    loss_fn = nn.CrossEntropyLoss()
    hist = fit(model, loss_fn, opt, train, 3, val, metrics=["accuracy", "f1"], verbose=0)
    assert isinstance(hist, History) and len(hist) == 3
    assert list(hist.keys()) == ["epoch", "loss", "accuracy", "f1", "val_loss",
                                 "val_accuracy", "val_f1", "lr", "time"]
    assert hist["epoch"] == [1, 2, 3] and hist.epoch == [1, 2, 3]
    assert hist["lr"] == [0.1, 0.1, 0.1]
    assert all(isinstance(v, float) and 0 < v < 60 for v in hist["time"])
    # the last epoch's validation values are those of the final model on the whole set
    with lamina.no_grad():
        out = model(x[:20])
    assert hist["val_loss"][-1] == pytest.approx(float(loss_fn(out, y[:20])), rel=1e-6)
    assert hist["val_accuracy"][-1] == M.accuracy(out, y[:20])
    assert hist["val_f1"][-1] == pytest.approx(M.f1_score(out, y[:20], average="macro"))
    assert hist.last()["epoch"] == 3
    assert hist.best("val_loss") == (int(np.argmin(hist["val_loss"])) + 1,
                                     min(hist["val_loss"]))
    assert model.training                   # back in train mode after validation


def test_train_loss_is_the_sample_weighted_epoch_mean():
    x, y = _classification(n=10)
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.0)     # the model never changes
    loader = DataLoader(TensorDataset(x, y), batch_size=4)   # 4, 4, 2
    hist = fit(model, nn.CrossEntropyLoss(), opt, loader, 2, metrics=["accuracy"],
               verbose=0)
    with lamina.no_grad():
        out = model(x)
    full = float(nn.functional.cross_entropy(out, y))
    assert hist["loss"] == pytest.approx([full, full], rel=1e-6)
    assert hist["accuracy"] == [M.accuracy(out, y)] * 2
    assert evaluate(model, loader, nn.CrossEntropyLoss())["loss"] == pytest.approx(full,
                                                                                  rel=1e-6)


def test_fit_trains_like_a_hand_written_loop():
    x, y = _classification(n=24)
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    a, b = _model(1), _model(1)
    opt_a = optim.SGD(a.parameters(), lr=0.2, momentum=0.9)
    opt_b = optim.SGD(b.parameters(), lr=0.2, momentum=0.9)
    reg = lambda m: nn.utils.l2_penalty(m, 1e-2)
    hist = fit(a, nn.CrossEntropyLoss(), opt_a, loader, 2, regularization=reg, verbose=0)
    penalties = []
    for _ in range(2):
        for xb, yb in loader:
            opt_b.zero_grad()
            penalty = reg(b)
            penalties.append(float(penalty))
            (nn.functional.cross_entropy(b(xb), yb) + penalty).backward()
            opt_b.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(pa.data, pb.data, rtol=1e-6, atol=1e-7)
    assert hist["penalty"] == pytest.approx([np.mean(penalties[:3]), np.mean(penalties[3:])],
                                            rel=1e-6)
    assert list(hist.keys())[:3] == ["epoch", "loss", "penalty"]


def test_fit_with_multiple_inputs_and_metric_objects():
    class Add(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 1)

        def forward(self, a, b):
            return self.lin(a + b)

    rng = np.random.default_rng(0)
    a = lamina.tensor(rng.normal(size=(30, 2)).astype(np.float32))
    b = lamina.tensor(rng.normal(size=(30, 2)).astype(np.float32))
    y = (a + b) @ lamina.tensor([[2.0], [-1.0]])
    loader = DataLoader(TensorDataset(a, b, y), batch_size=10)
    model = Add()
    hist = fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), loader, 30,
               loader, metrics=[M.R2Score(), M.MeanAbsoluteError(), "rmse"], verbose=0)
    assert hist["val_r2"][-1] > 0.99
    assert hist["val_rmse"][-1] == pytest.approx(np.sqrt(hist["val_loss"][-1]), rel=1e-5)
    assert hist["val_mae"][-1] < hist["val_mae"][0]


def test_epochs_zero_and_stop_from_callback():
    x, y = _classification()
    model = _model()
    loader = DataLoader(TensorDataset(x, y), batch_size=25)
    opt = optim.SGD(model.parameters(), lr=0.1)
    assert len(fit(model, nn.CrossEntropyLoss(), opt, loader, 0, verbose=0)) == 0
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, verbose=0)
    batches = []
    trainer.callbacks.append(LambdaCallback(
        on_batch_end=lambda t, b, logs: (batches.append(logs["loss"]),
                                         setattr(t, "stop_training", True))))
    hist = trainer.fit(loader, 10, loader)
    # set after a batch: the epoch ends there, is still validated and recorded, and no
    # further epoch runs
    assert len(hist) == 1 and trainer.epoch == 1 and len(batches) == 1
    assert hist["loss"] == batches and "val_loss" in hist


def test_fit_errors():
    x, y = _classification()
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(TensorDataset(x, y), batch_size=25)
    ce = nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match="0-d tensor.*reduction"):
        fit(model, nn.CrossEntropyLoss(reduction="none"), opt, loader, 1, verbose=0)
    with pytest.raises(TypeError, match=r"batches of \(inputs..., target\).*a Tensor"):
        fit(model, ce, opt, [x], 1, verbose=0)
    with pytest.raises(ValueError, match="no batches"):
        fit(model, ce, opt, [], 1, verbose=0)
    with pytest.raises(ValueError, match="epochs must be an integer >= 0"):
        fit(model, ce, opt, loader, -1, verbose=0)
    with pytest.raises(TypeError, match="optimizer must be an Optimizer"):
        fit(model, ce, "sgd", loader, 1)
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        fit(model, "ce", opt, loader, 1)
    with pytest.raises(TypeError, match="callbacks must be Callback instances"):
        fit(model, ce, opt, loader, 1, callbacks=[print])
    with pytest.raises(TypeError, match="regularization must be a function"):
        fit(model, ce, opt, loader, 1, regularization=1e-4)
    with pytest.raises(ValueError, match="verbose must be 0"):
        fit(model, ce, opt, loader, 1, verbose=3)
    with pytest.raises(ValueError, match="two metrics are named 'accuracy'"):
        fit(model, ce, opt, loader, 1, metrics=["accuracy", "acc"])
    with pytest.raises(TypeError, match="not a number"):
        fit(model, ce, opt, loader, 1, metrics=[M.ConfusionMatrix()], verbose=0)


def test_named_metrics_threshold_logits_with_bce_with_logits():
    x, y = _classification(n=40)
    yf = y.float().reshape(40, 1)
    lamina.manual_seed(0)
    model = nn.Linear(3, 1)
    loader = DataLoader(TensorDataset(x, yf), batch_size=40)
    with lamina.no_grad():
        logits = model(x)
    expected = M.accuracy(logits.sigmoid(), yf)
    assert expected != M.accuracy(logits, yf)      # thresholding logits at 0.5 would differ
    for loss_fn in (nn.BCEWithLogitsLoss(), nn.functional.binary_cross_entropy_with_logits):
        res = evaluate(model, loader, loss_fn, ["accuracy", "f1"])
        assert res["accuracy"] == expected
        assert res["f1"] == M.f1_score(logits.sigmoid(), yf, average="macro")
    # a metric object keeps its own threshold
    assert evaluate(model, loader, nn.BCEWithLogitsLoss(), [M.Accuracy()])["accuracy"] == \
        M.accuracy(logits, yf)
    assert evaluate(model, loader, nn.MSELoss(), ["accuracy"])["accuracy"] == \
        M.accuracy(logits, yf)


# --- evaluate and predict -------------------------------------------------------------

def test_evaluate_and_predict():
    x, y = _classification(n=37)
    model = _model()
    model.train()
    loader = DataLoader(TensorDataset(x, y), batch_size=10)
    with lamina.no_grad():
        out = model.eval()(x)
    model.train()
    res = evaluate(model, loader, nn.CrossEntropyLoss(), ["accuracy", "top1_accuracy"])
    assert set(res) == {"loss", "accuracy", "top1_accuracy"}
    assert res["accuracy"] == res["top1_accuracy"] == M.accuracy(out, y)
    assert evaluate(model, loader, metrics="accuracy") == {"accuracy": M.accuracy(out, y)}
    assert model.training
    with pytest.raises(ValueError, match="nothing to compute"):
        evaluate(model, loader)

    for got in (predict(model, x), predict(model, x, batch_size=8), predict(model, loader),
                predict(model, DataLoader(TensorDataset(x), batch_size=7)),
                predict(model, x.numpy())):
        assert got.shape == (37, 2) and not got.requires_grad
        np.testing.assert_allclose(got.numpy(), out.numpy(), rtol=1e-6, atol=1e-7)
    assert model.training
    model.eval()
    predict(model, x)
    assert not model.training                  # the mode is restored, not forced to train
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        predict(model, x, batch_size=0)


def test_evaluate_uses_eval_mode():
    lamina.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 50), nn.Dropout(0.9), nn.Linear(50, 2))
    x, y = _classification()
    loader = DataLoader(TensorDataset(x, y), batch_size=50)
    a = evaluate(model, loader, nn.CrossEntropyLoss())
    b = evaluate(model, loader, nn.CrossEntropyLoss())
    assert a == b                               # no dropout noise


# --- History on its own ---------------------------------------------------------------

def test_history_append_pads_missing_keys_and_roundtrips(tmp_path):
    h = History()
    h.append({"epoch": 1, "loss": 0.5})
    h.append({"epoch": 2, "loss": 0.25, "val_loss": 0.75})
    h.append({"epoch": 3, "val_loss": float("nan")})
    assert h["loss"] == [0.5, 0.25, None] and h["val_loss"][:2] == [None, 0.75]
    assert h.best("loss") == (2, 0.25) and h.best("val_loss", "max") == (2, 0.75)
    h.to_json(tmp_path / "h.json")
    back = History.from_json(tmp_path / "h.json")
    assert back["loss"] == h["loss"] and np.isnan(back["val_loss"][2])
    h.to_csv(tmp_path / "h.csv")
    lines = (tmp_path / "h.csv").read_text().splitlines()
    assert lines == ["epoch,loss,val_loss", "1,0.5,", "2,0.25,0.75", "3,,nan"]
    with pytest.raises(KeyError, match="has no 'acc'"):
        h["acc"]
    with pytest.raises(ValueError, match="mode"):
        h.best("loss", "lowest")
    json.loads((tmp_path / "h.json").read_text().replace("NaN", "null"))


# --- progress -------------------------------------------------------------------------

LINE = re.compile(r"^epoch (\d+)/3  loss \d+\.\d{4}  accuracy \d\.\d{3}  val_loss \d+\.\d{4}  "
                  r"val_accuracy \d\.\d{3}  lr 1\.0e-01  \d+\.\ds$")


def _fit_printing(**kwargs):
    x, y = _classification()
    model = _model()
    loader = DataLoader(TensorDataset(x, y), batch_size=10)
    return Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                   metrics=["accuracy"], **kwargs).fit(loader, 3, loader)


def test_no_progress_bar_when_stdout_is_not_a_terminal(capsys):
    _fit_printing()
    out = capsys.readouterr().out
    assert "\r" not in out
    lines = out.splitlines()
    assert len(lines) == 3
    for i, line in enumerate(lines, start=1):
        m = LINE.match(line)
        assert m, line
        assert int(m.group(1)) == i


@pytest.mark.parametrize("have_tqdm", [True, False])
def test_progress_bar_on_a_terminal(monkeypatch, have_tqdm):
    if have_tqdm:
        pytest.importorskip("tqdm")
    else:
        monkeypatch.setitem(sys.modules, "tqdm", None)     # import tqdm now fails
    tty = FakeTTY()
    _fit_printing(stream=tty)
    out = tty.getvalue()
    assert "\r" in out                                       # a bar was drawn
    if not have_tqdm:
        assert "[" in out and "/5" in out                    # the built-in bar, 5 batches
    lines = [line.split("\r")[-1] for line in out.split("\n") if line.strip()]
    assert len(lines) == 3 and all(LINE.match(line) for line in lines), lines


def test_progress_switches():
    tty = FakeTTY()
    _fit_printing(stream=tty, verbose=2)                    # a line per epoch, never a bar
    assert "\r" not in tty.getvalue() and len(tty.getvalue().splitlines()) == 3
    tty = FakeTTY()
    _fit_printing(stream=tty, progress=False)
    assert "\r" not in tty.getvalue()
    quiet = FakeTTY()
    _fit_printing(stream=quiet, verbose=0)
    assert quiet.getvalue() == ""
    forced = io.StringIO()
    _fit_printing(stream=forced, progress=True)             # forced on, even into a file
    assert "\r" in forced.getvalue()


def test_builtin_bar_and_helpers():
    s = io.StringIO()
    bar = EpochBar(4, "epoch 1/2", s, use_tqdm=False)
    for loss in (1.0, 0.5, 0.25, 0.25):
        bar.update(loss)
    drawn = s.getvalue()
    assert drawn.startswith("\repoch 1/2 [") and "4/4 loss 0.5000" in drawn
    bar.close()
    assert s.getvalue().endswith("\r") and "\n" not in s.getvalue()
    assert not is_terminal(io.StringIO()) and is_terminal(FakeTTY())
    assert not is_terminal(object())
    line = format_epoch(3, 20, {"epoch": 3, "loss": 0.41234, "val_loss": 0.441,
                                "val_accuracy": 0.9123, "lr": 1e-3, "time": 1.23})
    assert line == "epoch 3/20  loss 0.4123  val_loss 0.4410  val_accuracy 0.912  lr 1.0e-03  1.2s"
    assert format_epoch(1, 1, {"loss": 1.5e-6, "mse": 2.5e6, "x": None, "y": float("nan")}) \
        == "epoch 1/1  loss 1.500e-06  mse 2.500e+06  x -  y nan"
