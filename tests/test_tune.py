"""lamina tune: a small search on iris beats a bad learning rate; a SIGKILLed search resumes
with its trial numbers continuing; two processes share one SQLite study; bad input exits 2."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna", reason="lamina tune needs Optuna ([tune] extra)")

from lamina import cli  # noqa: E402
from lamina import config as C  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
       "OMP_NUM_THREADS": "1"}

BASE = """
seed = 0
[data]
dataset = "iris"
standardize = true
val_split = 0.3
test_split = 0.1
[model]
name = "mlp"
hidden = [16]
activation = "tanh"
[train]
optimizer = "sgd"
epochs = {epochs}
batch_size = 16
[tune]
metric = "val_accuracy"
pruner = "{pruner}"
{tune}
"""


def write(tmp_path, tune, epochs=5, pruner="none", name="search.toml"):
    path = tmp_path / name
    path.write_text(BASE.format(tune=tune, epochs=epochs, pruner=pruner), encoding="utf-8")
    return path


def tune(*args, cwd):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return cli.main(["tune", *map(str, args)])
    finally:
        os.chdir(old)


def study_of(url, name):
    return optuna.load_study(study_name=name, storage=url)


def finished(study):
    return [t for t in study.get_trials(deepcopy=False)
            if t.state.name in ("COMPLETE", "PRUNED")]


def test_search_beats_a_bad_learning_rate(tmp_path, capsys):
    """The config's lr (1e-4, far too small for SGD in 5 epochs) is trial 0; the search
    finds a learning rate with a clearly better validation accuracy."""
    cfg = write(tmp_path, "n_trials = 5\nseed = 0\nlr = {low = 1e-4, high = 1.0, log = true}")
    cfg.write_text(cfg.read_text().replace('optimizer = "sgd"', 'optimizer = "sgd"\nlr = 1e-4'))
    assert tune("--config", cfg, "--out", tmp_path / "out", cwd=tmp_path) == 0
    out = capsys.readouterr().out
    assert "best trial" in out and "train.lr" in out
    study = study_of(f"sqlite:///{tmp_path / 'out' / 'study.db'}", "search")
    assert len(finished(study)) == 5
    start = study.trials[0]
    assert start.params["train.lr"] == pytest.approx(1e-4)
    assert study.best_value > start.value + 0.1, (study.best_value, start.value)
    assert study.best_params["train.lr"] > 1e-3
    best = C.resolve(C.merge(C.defaults(), C.load_toml(tmp_path / "out" / "best_config.toml")))
    assert best["train"]["lr"] == pytest.approx(study.best_params["train.lr"])
    assert "[tune]" not in (tmp_path / "out" / "best_config.toml").read_text()
    rows = (tmp_path / "out" / "results.csv").read_text().splitlines()
    assert rows[0].startswith("trial,state,val_accuracy,train.lr") and len(rows) == 6
    for png in ("optimization_history.png", "param_importances.png"):
        assert (tmp_path / "out" / png).stat().st_size > 1000


def test_median_pruner_stops_trials_early(tmp_path):
    cfg = write(tmp_path, "n_trials = 6\nseed = 1\nstartup_trials = 2\nwarmup_epochs = 1\n"
                "lr = {low = 1e-5, high = 1.0, log = true}", epochs=5, pruner="median")
    assert tune("--config", cfg, "--out", tmp_path / "out", cwd=tmp_path) == 0
    study = study_of(f"sqlite:///{tmp_path / 'out' / 'study.db'}", "search")
    states = [t.state.name for t in study.trials]
    assert "PRUNED" in states, states
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert all(t.user_attrs["epochs"] < 5 for t in pruned)
    assert all(len(t.intermediate_values) >= 1 for t in study.trials)


def _start(cfg, url, cwd, n_trials):
    return subprocess.Popen([sys.executable, "-m", "lamina", "tune", "--config", str(cfg),
                             "--storage", url, "--study-name", "shared", "--out", str(cwd),
                             "--n-trials", str(n_trials)],
                            cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_killed_search_resumes(tmp_path):
    cfg = write(tmp_path, "n_trials = 4\nlr = {low = 1e-3, high = 1.0, log = true}", epochs=4)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    proc = _start(cfg, url, tmp_path, 1000)
    deadline = time.monotonic() + 60
    done = []
    try:
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if proc.poll() is not None:
                pytest.fail(f"the search exited early: {proc.communicate()}")
            try:
                done = finished(study_of(url, "shared"))
            except KeyError:         # the study is not created yet
                continue
            if len(done) >= 2:
                break
        else:
            pytest.fail("no two trials finished within 60 s")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    before = {t.number for t in finished(study_of(url, "shared"))}
    target = len(before) + 2
    assert tune("--config", cfg, "--storage", url, "--study-name", "shared", "--out", tmp_path,
                "--n-trials", target, cwd=tmp_path) == 0
    after = finished(study_of(url, "shared"))
    assert len(after) == target
    assert before < {t.number for t in after}               # the first trials are kept
    new = [t.number for t in after if t.number not in before]
    assert min(new) > max(before)                            # numbering continues


def test_two_processes_share_one_study(tmp_path):
    """A second process (this one) joins a study another process is working on: both run
    trials, no trial number repeats, and both stop once the study has its total."""
    cfg = write(tmp_path, "n_trials = 10\nlr = {low = 1e-3, high = 1.0, log = true}")
    url = f"sqlite:///{tmp_path / 'study.db'}"
    proc = _start(cfg, url, tmp_path, 10)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.3)
            try:
                if study_of(url, "shared").get_trials(deepcopy=False):
                    break
            except KeyError:
                continue
        assert tune("--config", cfg, "--storage", url, "--study-name", "shared", "--out",
                    tmp_path, "--n-trials", 10, cwd=tmp_path) == 0
        out = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    trials = study_of(url, "shared").trials
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    assert {t.user_attrs["pid"] for t in trials} == {proc.pid, os.getpid()}
    assert 10 <= len(finished(study_of(url, "shared"))) <= 11   # each stops at the total


@pytest.mark.parametrize("tune_table, message", [
    ("", "no [tune] table"),
    ("n_trials = 2", "no parameters to search"),
    ("lr = {low = 1.0, high = 0.1}", "low < high"),
    ("lr = {low = 0.0, high = 0.1, log = true}", "log scale needs low > 0"),
    ("nonsense = {low = 1, high = 2}", "'nonsense' is not a config key"),
    ("hidden = {choices = []}", "non-empty list"),
    ("activation = {choices = ['relu', 'swish']}", "activation"),
    ("pruner2 = 3", "unknown [tune] setting"),
    ("direction = 'up'\nlr = {low = 1e-3, high = 1.0}", "tune.direction"),
])
def test_bad_search_space_exits_2(tmp_path, capsys, tune_table, message):
    text = BASE.format(tune=tune_table, epochs=2, pruner="none")
    if not tune_table:
        text = text.replace('[tune]\nmetric = "val_accuracy"\npruner = "none"\n', "")
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    assert tune("--config", path, "--out", tmp_path / "o", cwd=tmp_path) == 2
    assert message in capsys.readouterr().err


def test_bad_pruner_metric_and_storage_exit_2(tmp_path, capsys):
    cfg = write(tmp_path, "lr = {low = 1e-3, high = 1.0}", pruner="hyperband")
    assert tune("--config", cfg, cwd=tmp_path) == 2
    assert "tune.pruner" in capsys.readouterr().err
    cfg = write(tmp_path, "metric = 'val_f2'\nn_trials = 1\nlr = {low = 1e-3, high = 1.0}")
    cfg.write_text(cfg.read_text().replace('metric = "val_accuracy"\n', ""))
    assert tune("--config", cfg, "--out", tmp_path / "o", cwd=tmp_path) == 2
    assert "'val_f2' is not one of fit's per-epoch values" in capsys.readouterr().err
    cfg = write(tmp_path, "lr = {low = 1e-3, high = 1.0}")
    assert tune("--config", cfg, "--storage", "study.db", cwd=tmp_path) == 2
    assert "database URL" in capsys.readouterr().err
    assert tune("--config", tmp_path / "missing.toml", cwd=tmp_path) == 2
    assert "not found" in capsys.readouterr().err


def test_example_tune_config_is_valid():
    from lamina.tune import load_search

    base, space = load_search(ROOT / "examples" / "configs" / "iris_tune.toml")
    assert base["data"]["dataset"] == "iris"
    assert set(space.params) == {"train.lr", "model.hidden", "model.dropout"}
    assert space.direction == "maximize" and space.pruner == "median"
