"""``lamina.config`` (schema, TOML reading and writing, precedence) and the command line's
builders, in-process (fast); ``test_cli.py`` runs the real command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lamina import cli
from lamina import config as C


def test_defaults_resolve_to_the_default_run():
    cfg = C.resolve(C.defaults())
    assert cfg["model"]["name"] == "lenet5" and cfg["data"]["dataset"] == "digits"
    assert cfg["train"]["optimizer"] == "adam" and cfg["train"]["lr"] == 0.001
    assert cfg["train"]["momentum"] == 0.0


@pytest.mark.parametrize("opt, lr, momentum", [("sgd", 0.01, 0.0), ("momentum", 0.01, 0.9),
                                               ("nesterov", 0.01, 0.9), ("adadelta", 1.0, 0.0),
                                               ("rmsprop", 0.001, 0.0)])
def test_auto_values_follow_the_optimizer(opt, lr, momentum):
    cfg = C.defaults()
    cfg["train"]["optimizer"] = opt
    cfg = C.resolve(cfg)
    assert cfg["train"]["lr"] == lr and cfg["train"]["momentum"] == momentum


def test_coerce_converts_flag_strings():
    assert C.coerce("model", "hidden", "128, 64") == [128, 64]
    assert C.coerce("model", "hidden", [32]) == [32]
    assert C.coerce("train", "betas", "0.8,0.9") == [0.8, 0.9]
    assert C.coerce("train", "lr", "1e-2") == 0.01
    assert C.coerce("train", "lr", "auto") == "auto"
    assert C.coerce("train", "epochs", 3.0) == 3
    assert C.coerce("train", "schedule", "Time_Decay") == "time-decay"
    assert C.coerce("data", "standardize", "no") is False
    assert C.coerce("data", "categorical", "a,b") == ["a", "b"]


@pytest.mark.parametrize("section, key, value, words", [
    ("train", "epochs", "2.5", ["'train.epochs'", "integer"]),
    ("train", "epochs", True, ["'train.epochs'"]),
    ("train", "lr", -1, ["'train.lr'", ">= 0"]),
    ("train", "betas", "0.9", ["'train.betas'", "two numbers"]),
    ("model", "hidden", "64,0", ["'model.hidden'", ">= 1"]),
    ("train", "loss", "hinge", ["'train.loss'", "cross_entropy", "mse"]),
    ("data", "standardize", "maybe", ["'data.standardize'", "auto"]),
    ("train", "lrate", 1, ["'train.lrate'", "lr", "epochs"]),
    ("optim", "lr", 1, ["[optim]", "train"]),
])
def test_coerce_errors_name_key_and_allowed_values(section, key, value, words):
    with pytest.raises(C.ConfigError) as e:
        C.coerce(section, key, value)
    for w in words:
        assert w in str(e.value)


def test_resolve_rejects_inconsistent_combinations():
    cfg = C.defaults()
    cfg["train"]["patience"] = 3
    cfg["data"]["val_split"] = 0.0
    with pytest.raises(C.ConfigError, match="val_split"):
        C.resolve(cfg)
    cfg = C.defaults()
    cfg["data"]["dataset"] = "csv:x.csv"
    with pytest.raises(C.ConfigError, match="data.target"):
        C.resolve(cfg)


def _sample_config():
    cfg = C.defaults()
    cfg["data"]["args"] = {"root": "C:\\data \"x\" é", "n": 3, "flag": True}
    cfg["model"]["hidden"] = [7, 5]
    cfg["train"]["betas"] = [0.5, 0.25]
    cfg["name"] = "a run"
    return C.resolve(cfg)


def test_dump_then_load_round_trips(tmp_path):
    cfg = _sample_config()
    path = tmp_path / "c.toml"
    path.write_text(C.dump_toml(cfg, "a header\nover two lines"))
    back = C.resolve(C.merge(C.defaults(), C.load_toml(path)))
    assert back == cfg


def test_builtin_toml_reader_matches_tomllib():
    tomllib = pytest.importorskip("tomllib")
    text = C.dump_toml(_sample_config(), "header") + (
        "\n[extra]\nlist = [1, 2.5, \"s\", true]  # comment\n"
        "table = {a = 1, 'b c' = \"d\"}\nneg = -3\nsci = 1e-3\n"
        "[extra.sub]\nroot = 'C:\\raw'\n")
    assert C._MiniToml(text, "t").parse() == tomllib.loads(text)
    with pytest.raises(C.ConfigError, match="line 2"):
        C._MiniToml("[a]\nb = \n", "t").parse()


def test_missing_config_file(tmp_path):
    with pytest.raises(C.ConfigError, match="not found"):
        C.load_toml(tmp_path / "missing.toml")


def test_flags_override_the_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("seed = 4\n[train]\nlr = 0.5\nepochs = 7\n[model]\nname = \"mlp\"\n"
                    "args = {bias = true}\n")
    args = cli.build_parser().parse_args(
        ["train", "--config", str(path), "--lr", "0.25", "--model-arg", "x=2",
         "--set", "train.gamma=0.3"])
    cfg = cli._config_from_args(args)
    assert cfg["train"]["lr"] == 0.25          # the flag
    assert cfg["train"]["epochs"] == 7         # the file
    assert cfg["seed"] == 4 and cfg["model"]["name"] == "mlp"
    assert cfg["model"]["args"] == {"bias": True, "x": 2}
    assert cfg["train"]["gamma"] == 0.3
    assert cfg["train"]["batch_size"] == 64    # the default


@pytest.mark.parametrize("name", C.OPTIMIZERS)
def test_every_optimizer_builds_and_steps(name):
    from lamina import nn
    from lamina.tensor import Tensor

    cfg = C.defaults()
    cfg["train"]["optimizer"] = name
    tcfg = C.resolve(cfg)["train"]
    model = nn.Linear(3, 2)
    opt = cli._optimizer(tcfg, model.parameters())
    assert opt.param_groups[0]["lr"] == tcfg["lr"]
    before = model.weight._data.copy()
    model(Tensor(np.ones((4, 3), np.float32))).sum().backward()
    opt.step()
    assert not np.array_equal(before, model.weight._data)


@pytest.mark.parametrize("schedule, lrs", [
    ("none", [0.1, 0.1, 0.1]),
    ("step", [0.1, 0.1, 0.01]),             # step_size 2, gamma 0.1
    ("exponential", [0.1, 0.095, 0.09025]),
    ("time-decay", [0.1, 0.1 / 1.1, 0.1 / 1.2]),
    ("cosine", [0.1, 0.1 * (1 + np.cos(np.pi / 4)) / 2, 0.05]),   # t_max 4
])
def test_schedules(schedule, lrs):
    from lamina import nn

    cfg = C.defaults()
    cfg["train"].update(optimizer="sgd", lr=0.1, schedule=schedule, step_size=2, t_max=4)
    tcfg = C.resolve(cfg)["train"]
    opt = cli._optimizer(tcfg, nn.Linear(2, 1).parameters())
    sched = cli._scheduler(tcfg, opt)
    seen = []
    for _ in range(3):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
    assert seen == pytest.approx(lrs)


def test_plateau_schedule_is_reduce_on_plateau():
    from lamina import nn
    from lamina.optim.lr_scheduler import ReduceLROnPlateau

    cfg = C.defaults()
    cfg["train"]["schedule"] = "plateau"
    tcfg = C.resolve(cfg)["train"]
    sched = cli._scheduler(tcfg, cli._optimizer(tcfg, nn.Linear(2, 1).parameters()))
    assert isinstance(sched, ReduceLROnPlateau)


def test_preprocessor_fits_on_training_data_only():
    cfg = C.resolve(C.defaults())
    cfg["model"]["name"] = "mlp"
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    info = {"task": "regression", "classes": None}
    pre = cli.Preprocessor.fit(x[:3], info, cfg)
    np.testing.assert_allclose(pre.state["standardize"]["mean"], x[:3].mean(0))
    z = pre.transform(x[:3])
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-6)
    json.dumps(pre.state)                     # JSON-serializable state, no pickle


def test_train_without_matplotlib_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "_pyplot", lambda: None)
    rc = cli.main(["train", "--dataset", "xor", "--model", "mlp", "--hidden", "4",
                   "--epochs", "1", "--name", "r", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "matplotlib is not installed" in out
    run = tmp_path / "runs" / "r"
    assert (run / "test_metrics.json").is_file() and (run / "best.safetensors").is_file()
    assert not (run / "learning_curve.png").exists()


@pytest.mark.parametrize("name", ["digits_lenet5", "iris_mlp", "housing_regression"])
def test_example_configs_are_valid(name):
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "configs" / f"{name}.toml"
    cfg = C.resolve(C.merge(C.defaults(), C.load_toml(path)))
    assert cfg["data"]["dataset"]
