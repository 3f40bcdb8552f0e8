"""The ``lamina`` command line, run as a user runs it: ``python -m lamina ...`` in a
subprocess, on real files in a temporary folder.

Subprocesses are slow to start (importing lamina and scikit-learn), so independent commands
start together (``_run_all``) and each test checks one result.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
       "MPLBACKEND": "Agg"}


def _start(args, cwd):
    return subprocess.Popen([sys.executable, "-m", "lamina", *map(str, args)], cwd=cwd,
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _finish(proc):
    out, err = proc.communicate(timeout=180)
    return proc.returncode, out, err


def lamina(*args, cwd):
    """``(exit status, stdout, stderr)`` of ``python -m lamina args``."""
    return _finish(_start(args, cwd))


def _run_all(commands: dict, cwd) -> dict:
    procs = {k: _start(v, cwd) for k, v in commands.items()}
    return {k: _finish(p) for k, p in procs.items()}


def _ok(result):
    rc, out, err = result
    assert rc == 0, f"exit {rc}\nstdout:\n{out}\nstderr:\n{err}"
    return out


# --- one small default run (LeNet-5 on digits), shared ------------------------------------

@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("digits")
    out = _ok(lamina("train", "--epochs", "2", "--limit", "300", "--name", "small",
                     cwd=tmp))
    return tmp, tmp / "runs" / "small", out


def test_train_writes_every_artefact(digits_run):
    tmp, run, out = digits_run
    for name in ("config.toml", "preprocessing.json", "best.safetensors", "last.safetensors",
                 "history.csv", "history.json", "learning_curve.png", "confusion_matrix.png",
                 "test_metrics.json"):
        assert (run / name).is_file(), name
        assert (run / name).stat().st_size > 0, name
    # a line per epoch with loss, metrics, learning rate and time; the run dir and metrics
    assert "epoch 1/2" in out and "epoch 2/2" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("epoch 2/2"))
    for word in ("loss", "accuracy", "val_loss", "lr"):
        assert f" {word} " in line
    assert line.rstrip().endswith("s")
    assert str(Path("runs") / "small") in out
    assert "accuracy" in out.split("test metrics")[1]


def test_train_history_and_metrics_files(digits_run):
    _, run, _ = digits_run
    hist = json.loads((run / "history.json").read_text())
    assert hist["epoch"] == [1, 2]
    assert len(hist["loss"]) == 2 and len(hist["val_accuracy"]) == 2
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    m = json.loads((run / "test_metrics.json").read_text())
    cm = np.array(m["confusion_matrix"])
    assert cm.shape == (10, 10)
    assert m["n"] == cm.sum() == 45                       # ceil(0.15 * 300)
    assert m["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert set(m["per_class"]) == {str(d) for d in range(10)}
    for c, v in m["per_class"].items():
        i = int(c)
        assert v["support"] == cm[i].sum()
        if cm[:, i].sum():
            assert v["precision"] == pytest.approx(cm[i, i] / cm[:, i].sum())


def test_train_config_is_resolved_and_reusable(digits_run):
    from lamina.config import parse_toml

    _, run, _ = digits_run
    cfg = parse_toml((run / "config.toml").read_text())
    assert cfg["model"]["name"] == "lenet5"
    assert cfg["data"]["dataset"] == "digits"
    assert cfg["data"]["image_size"] == 32          # 8x8 digits upsampled for LeNet-5
    assert cfg["train"]["lr"] == 0.001 and cfg["train"]["loss"] == "cross_entropy"
    assert cfg["train"]["epochs"] == 2 and cfg["data"]["limit"] == 300
    pre = json.loads((run / "preprocessing.json").read_text())
    assert pre["raw_shape"] == [1, 8, 8] and pre["input_shape"] == [1, 32, 32]
    assert pre["classes"] == [str(d) for d in range(10)]


def test_evaluate_and_predict_read_the_run_back(digits_run, tmp_path):
    from PIL import Image
    from sklearn.datasets import load_digits

    tmp, run, _ = digits_run
    d = load_digits()
    x = (d.images[:5] / 16).astype(np.float32)
    np.save(tmp_path / "five.npy", x)
    np.save(tmp_path / "one.npy", x[0])
    np.save(tmp_path / "bad.npy", np.zeros((3, 5), np.float32))
    pixels = (d.images[0] * 255 / 16).astype(np.uint8)
    Image.fromarray(pixels).resize((40, 40)).save(tmp_path / "digit.png")
    Image.fromarray(255 - pixels).resize((40, 40)).save(tmp_path / "dark_on_light.png")
    with open(tmp_path / "rows.csv", "w", newline="") as f:
        csv.writer(f).writerows(d.data[:4] / 16)
    results = _run_all({
        "eval": ["evaluate", run],
        "eval_csv": ["evaluate", run, "--output", tmp_path / "metrics.csv"],
        "npy": ["predict", run, tmp_path / "five.npy", "--output", tmp_path / "p.csv"],
        "one": ["predict", run, tmp_path / "one.npy"],
        "png": ["predict", run, tmp_path / "digit.png", "--probabilities"],
        "csv": ["predict", run, tmp_path / "rows.csv"],
        "eval_data": ["evaluate", run, "--data", "digits"],
        "inverted": ["predict", run, tmp_path / "dark_on_light.png", "--invert",
                     "--probabilities"],
        "not_inverted": ["predict", run, tmp_path / "dark_on_light.png"],
        "missing_input": ["predict", run, tmp_path / "nothere.png"],
        "wrong_shape": ["predict", run, tmp_path / "bad.npy"],
    }, cwd=tmp)
    for case, words in (("missing_input", ["nothere.png", "not found"]),
                        ("wrong_shape", ["(3, 5)", "(1, 8, 8)"])):
        rc, _, err = results[case]
        assert rc == 2 and err.startswith("lamina: error: ") and "Traceback" not in err
        assert all(w in err for w in words), err
    m = json.loads((run / "test_metrics.json").read_text())
    out = _ok(results["eval"])
    assert f"accuracy {m['accuracy']:.4f}" in out           # the same test split
    with open(tmp_path / "metrics.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["class", "precision", "recall", "f1", "support"]
    assert float(rows[1][3]) == pytest.approx(m["accuracy"])
    assert "digits (1797 samples)" in _ok(results["eval_data"])   # the whole data set

    _ok(results["npy"])
    with open(tmp_path / "p.csv") as f:
        preds = list(csv.DictReader(f))
    assert len(preds) == 5
    assert all(r["class"] in m["classes"] and 0 < float(r["probability"]) <= 1
               for r in preds)
    one = _ok(results["one"]).splitlines()
    assert one[0].split() == ["input", "class", "probability"] and len(one) == 3
    png = _ok(results["png"]).splitlines()
    assert png[2].startswith("digit.png")
    probs = [float(v) for v in png[2].split()[3:]]
    assert len(probs) == 10 and sum(probs) == pytest.approx(1, abs=1e-3)
    assert float(png[2].split()[2]) == pytest.approx(max(probs), abs=1e-4)
    # --invert turns a dark-on-light picture into the training images' light-on-dark
    inv = _ok(results["inverted"]).splitlines()[2].split()
    assert inv[1] == png[2].split()[1]
    assert [float(v) for v in inv[3:]] == pytest.approx(probs, abs=2e-3)
    assert "--invert" in results["not_inverted"][2]          # the hint on stderr
    assert len(_ok(results["csv"]).splitlines()) == 2 + 4
    # the .npy rows and the CSV rows are the same images: the same predictions
    npy_classes = [r["class"] for r in preds[:4]]
    csv_classes = [ln.split()[1] for ln in _ok(results["csv"]).splitlines()[2:]]
    assert npy_classes == csv_classes


# --- tabular data from a CSV file, and regression ------------------------------------------

def _write_iris_csv(path: Path, rows=None):
    from sklearn.datasets import load_iris

    iris = load_iris()
    idx = np.arange(150) if rows is None else rows
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sl", "sw", "pl", "pw", "farm", "species"])
        for i in idx:
            w.writerow([*iris.data[i], "north" if i % 2 else "south",
                        iris.target_names[iris.target[i]]])


def test_csv_classification_and_regression(tmp_path):
    _write_iris_csv(tmp_path / "iris.csv")
    cfg = tmp_path / "run.toml"
    cfg.write_text('seed = 3\n[data]\ndataset = "csv:iris.csv"\ntarget = "species"\n'
                   'categorical = ["farm"]\n[model]\nname = "mlp"\nhidden = [16]\n'
                   '[train]\nepochs = 40\noptimizer = "adam"\nlr = 0.02\n'
                   'schedule = "cosine"\n')
    results = _run_all({
        "iris": ["train", "--config", cfg, "--name", "iris", "--batch-size", "16"],
        "reg": ["train", "--dataset", "diabetes", "--model", "linear", "--optimizer", "sgd",
                "--lr", "0.1", "--epochs", "3", "--name", "reg", "--schedule", "step",
                "--step-size", "1", "--gamma", "0.5", "--l2", "1e-4"],
        "logistic": ["train", "--dataset", "breast_cancer", "--model", "logistic", "--epochs",
                     "2", "--name", "lg", "--optimizer", "momentum", "--schedule", "time-decay"],
    }, cwd=tmp_path)
    out = _ok(results["iris"])
    run = tmp_path / "runs" / "iris"
    m = json.loads((run / "test_metrics.json").read_text())
    assert m["classes"] == ["setosa", "versicolor", "virginica"]
    assert m["accuracy"] >= 0.8, out
    pre = json.loads((run / "preprocessing.json").read_text())
    assert pre["standardize"] is not None and len(pre["standardize"]["mean"]) == 6
    assert pre["csv"]["categorical"] == {"farm": ["north", "south"]}

    reg = _ok(results["reg"])
    reg_run = tmp_path / "runs" / "reg"
    hist = json.loads((reg_run / "history.json").read_text())
    assert hist["lr"] == pytest.approx([0.1, 0.05, 0.025])          # the step schedule
    assert "penalty" in hist
    assert not (reg_run / "confusion_matrix.png").exists()
    assert (reg_run / "learning_curve.png").is_file()
    assert "r2" in reg and "rmse" in reg

    # logistic regression: one logit, so the loss is BCE-with-logits
    _ok(results["logistic"])
    lg_run = tmp_path / "runs" / "lg"
    assert 'loss = "bce"' in (lg_run / "config.toml").read_text()
    lg = json.loads((lg_run / "test_metrics.json").read_text())
    assert lg["classes"] == ["malignant", "benign"]
    assert np.array(lg["confusion_matrix"]).shape == (2, 2)
    hist = json.loads((lg_run / "history.json").read_text())
    assert hist["lr"] == pytest.approx([0.01, 0.01 / 1.1])
    np.save(tmp_path / "cancer.npy", np.ones((3, 30), np.float32))

    # predict from a CSV with the training columns (by name, in another order, target
    # absent) and evaluate on a labelled CSV
    with open(tmp_path / "new.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["farm", "pw", "pl", "sw", "sl"])
        w.writerow(["south", 0.2, 1.4, 3.5, 5.1])        # a setosa
        w.writerow(["north", 2.3, 5.9, 3.0, 6.8])        # a virginica
    _write_iris_csv(tmp_path / "more.csv", rows=np.arange(0, 150, 3))
    np.save(tmp_path / "diab.npy", np.zeros((2, 10), np.float32))
    results = _run_all({
        "predict": ["predict", run, "new.csv"],
        "evaluate": ["evaluate", run, "--data", "csv:more.csv"],
        "reg_predict": ["predict", reg_run, "diab.npy"],
        "reg_eval": ["evaluate", reg_run, "--output", "reg.csv"],
        "lg_predict": ["predict", lg_run, "cancer.npy"],
    }, cwd=tmp_path)
    lines = _ok(results["lg_predict"]).splitlines()
    assert len(lines) == 5 and all(ln.split()[1] in ("malignant", "benign")
                                    for ln in lines[2:])
    lines = _ok(results["predict"]).splitlines()
    assert [ln.split()[1] for ln in lines[2:]] == ["setosa", "virginica"]
    assert "50 samples" in _ok(results["evaluate"])
    lines = _ok(results["reg_predict"]).splitlines()
    assert lines[0].split() == ["input", "value"] and len(lines) == 4
    _ok(results["reg_eval"])
    with open(tmp_path / "reg.csv") as f:
        rows = dict(list(csv.reader(f))[1:])
    assert set(rows) == {"mse", "rmse", "mae", "r2"}
    assert float(rows["rmse"]) == pytest.approx(float(rows["mse"]) ** 0.5)


# --- errors a user can act on, and help ------------------------------------------------------

ERRORS = {
    "unknown_model": (["train", "--model", "resnet9000"],
                      ["unknown model 'resnet9000'", "mlp", "lenet5"]),
    "unknown_dataset": (["train", "--dataset", "cifar"],
                        ["unknown dataset 'cifar'", "digits", "iris", "csv:PATH"]),
    "bad_optimizer": (["train", "--optimizer", "adamx"],
                      ["'train.optimizer'", "adamx", "sgd", "adamw"]),
    "bad_number": (["train", "--lr", "fast"], ["'train.lr'", "number", "fast"]),
    "bad_schedule": (["train", "--schedule", "linear"],
                     ["'train.schedule'", "time-decay", "cosine"]),
    "negative": (["train", "--epochs", "0"], ["'train.epochs'", ">= 1"]),
    "bad_key_file": (["train", "--config", "badkey.toml"],
                     ["badkey.toml", "'train.epoch'", "epochs", "batch_size"]),
    "bad_value_file": (["train", "--config", "badvalue.toml"],
                       ["badvalue.toml", "'model.dropout'", "<= 0.99"]),
    "bad_section": (["train", "--config", "badsection.toml"],
                    ["[optim]", "data, model, train"]),
    "bad_toml": (["train", "--config", "broken.toml"], ["broken.toml", "TOML"]),
    "missing_config": (["train", "--config", "nope.toml"], ["nope.toml", "not found"]),
    "missing_csv": (["train", "--dataset", "csv:nope.csv", "--target", "y"],
                    ["nope.csv", "not found"]),
    "csv_no_target": (["train", "--dataset", "csv:data.csv"], ["--target"]),
    "csv_bad_target": (["train", "--dataset", "csv:data.csv", "--target", "z"],
                       ["'z'", "not found", "'a'"]),
    "missing_run": (["evaluate", "no_such_run"], ["no_such_run", "not found"]),
    "not_a_run": (["predict", ".", "x.npy"], ["config.toml", "not found"]),
    "lenet_tabular": (["train", "--dataset", "iris"], ["lenet5", "image", "--model mlp"]),
    "logistic_3_classes": (["train", "--dataset", "iris", "--model", "logistic"],
                           ["'logistic'", "3", "softmax"]),
    "bad_loss_for_task": (["train", "--dataset", "diabetes", "--model", "linear", "--loss",
                           "cross_entropy"], ["'train.loss'", "regression", "mse"]),
    "bad_set": (["train", "--set", "train.colour=red"],
                ["'train.colour'", "optimizer", "epochs"]),
    "unknown_experiment": (["experiment", "run", "no-such-experiment"],
                           ["no-such-experiment"]),
    "experiment_no_name": (["experiment", "run"], ["NAME", "experiment list"]),
    "dropout_unsupported": (["train", "--model", "linear", "--dataset", "xor", "--dropout",
                             "0.5"], ["'model.dropout'", "'linear'", "mlp"]),
}


# a subprocess each for these (the exit status and stderr of a real process); the rest run
# in-process through ``lamina.cli.main`` (the same code, without the start-up cost)
SUBPROCESS = ("unknown_model", "unknown_dataset", "bad_key_file", "missing_config",
              "missing_csv", "missing_run", "lenet_tabular", "bad_optimizer")


def _write_error_files(tmp: Path) -> None:
    (tmp / "badkey.toml").write_text("[train]\nepoch = 3\n")
    (tmp / "badvalue.toml").write_text("[model]\ndropout = 2.5\n")
    (tmp / "badsection.toml").write_text("[optim]\nlr = 0.1\n")
    (tmp / "broken.toml").write_text("[train\nlr = \n")
    (tmp / "data.csv").write_text("a,b,y\n1,2,0\n3,4,1\n")
    np.save(tmp / "x.npy", np.zeros(4, np.float32))


@pytest.fixture(scope="module")
def error_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("errors")
    _write_error_files(tmp)
    commands = {k: ERRORS[k][0] for k in SUBPROCESS}
    commands.update({f"help_{c}": [c, "--help"] if c else ["--help"]
                     for c in ("", "train", "evaluate", "predict", "experiment")})
    commands["version"] = ["--version"]
    commands["experiment_list"] = ["experiment", "list"]
    commands["experiment_run"] = ["experiment", "run", "polynomial-degree", "--quick",
                                  "--seed", "1", "--out", tmp / "figs"]
    results = _run_all(commands, cwd=tmp)
    results["tmp"] = tmp
    return results


def _check_error(rc, out, err, words):
    assert rc == 2, (out, err)
    assert "Traceback" not in err
    assert err.startswith("lamina: error: ") or "\nlamina: error: " in err, err
    for word in words:
        assert word in err, (word, err)


@pytest.mark.parametrize("case", SUBPROCESS)
def test_errors_exit_2_with_a_message(error_results, case):
    _check_error(*error_results[case], ERRORS[case][1])


@pytest.mark.parametrize("case", [c for c in ERRORS if c not in SUBPROCESS])
def test_errors_in_process(case, tmp_path, monkeypatch, capsys):
    from lamina import cli

    _write_error_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    rc = cli.main([str(a) for a in ERRORS[case][0]])
    captured = capsys.readouterr()
    _check_error(rc, captured.out, captured.err, ERRORS[case][1])


@pytest.mark.parametrize("command", ["", "train", "evaluate", "predict", "experiment"])
def test_help(error_results, command):
    rc, out, err = error_results[f"help_{command}"]
    assert rc == 0, err
    assert out.startswith("usage: lamina")
    assert "examples:" in out
    if command == "train":
        for flag in ("--dataset", "--model", "--hidden", "--optimizer", "--schedule",
                     "--lr", "--epochs", "--patience", "--val-split", "--standardize",
                     "--config", "--seed", "--out", "--l1", "--dropout"):
            assert flag in out, flag


def test_version(error_results):
    from lamina import __version__

    rc, out, _ = error_results["version"]
    assert rc == 0 and out.strip() == f"lamina {__version__}"


def test_experiment_list(error_results):
    rc, out, err = error_results["experiment_list"]
    try:
        from lamina import experiments
    except ImportError:
        assert rc == 2 and "lamina.experiments" in err
        return
    assert rc == 0, err
    for name, _ in experiments.available():
        assert name in out


def test_experiment_run(error_results):
    experiments = pytest.importorskip("lamina.experiments")
    if "polynomial-degree" not in [n for n, _ in experiments.available()]:
        pytest.skip("no polynomial-degree experiment")
    out = _ok(error_results["experiment_run"])
    assert "| degree |" in out                 # the markdown table
    plot = error_results["tmp"] / "figs" / "polynomial-degree.png"
    assert f"plot: {plot}" in out and plot.is_file()
