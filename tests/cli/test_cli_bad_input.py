"""The command line never shows a traceback for bad input: each case exits with status 2 and
a ``lamina: error:`` message naming what is wrong. Run in-process (``lamina.cli.main``) on
small runs trained once per module."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from lamina import cli  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def run(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            np.errstate(all="ignore"):
        rc = cli.main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()


def error(result, *words) -> str:
    rc, out, err = result
    assert rc == 2, (rc, out, err)
    assert err.startswith("lamina: error: ") or "\nlamina: error: " in err, err
    assert "Traceback" not in err
    for w in words:
        assert w in err, (w, err)
    return err


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli_bad_input")
    common = ["--out", tmp / "runs", "--no-progress"]
    rc, out, err = run("train", "--dataset", "iris", "--model", "mlp", "--epochs", "2",
                       "--name", "iris", *common)
    assert rc == 0, err
    rc, out, err = run("train", "--epochs", "1", "--limit", "150", "--name", "lenet",
                       *common)
    assert rc == 0, err
    return tmp, tmp / "runs" / "iris", tmp / "runs" / "lenet"


# --- training: divergence --------------------------------------------------------------------

def test_a_diverging_run_stops_with_exit_2_and_keeps_its_checkpoints(tmp_path):
    import lamina

    result = run("train", "--dataset", "iris", "--model", "mlp", "--optimizer", "sgd",
                 "--lr", "1e6", "--epochs", "5", "--out", tmp_path, "--name", "div",
                 "--no-progress")
    err = error(result, "diverged", "smaller learning rate", "--no-stop-on-nonfinite",
                "last.safetensors (epoch")
    assert re.search(r"epoch \d+, batch \d+", err)
    last = lamina.load(tmp_path / "div" / "last.safetensors")
    assert all(np.isfinite(v.numpy()).all() for v in last["model"].values())
    # evaluate and predict on the diverged run (no best.safetensors) explain themselves
    np.save(tmp_path / "x.npy", np.ones((2, 4), np.float32))
    for cmd in (["evaluate", tmp_path / "div"], ["predict", tmp_path / "div",
                                                 tmp_path / "x.npy"]):
        error(run(*cmd), "best.safetensors", "diverged")


def test_without_stopping_a_diverged_run_says_there_is_no_best_checkpoint(tmp_path):
    result = run("train", "--dataset", "iris", "--model", "mlp", "--optimizer", "sgd",
                 "--lr", "1e6", "--epochs", "3", "--out", tmp_path, "--name", "div",
                 "--no-stop-on-nonfinite", "--no-progress")
    error(result, "no best checkpoint", "--lr")


# --- configuration files -------------------------------------------------------------------

def test_a_binary_config_file(tmp_path):
    p = tmp_path / "model.toml"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    error(run("train", "--config", p), "model.toml", "UTF-8")


def test_config_text_that_is_not_toml(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[train]\nlr = 0.1\x00\n")
    error(run("train", "--config", p), "bad.toml", "TOML")
    error(run("train", "--config", tmp_path), "not a regular file")


# --- damaged run directories -----------------------------------------------------------------

@pytest.mark.parametrize("content,words", [
    ("{not json", ["preprocessing.json", "damaged", "JSON"]),
    ('{"task": "classification"}', ["preprocessing.json", "missing keys", "raw_shape"]),
    ("[1, 2]", ["preprocessing.json", "JSON object"]),
])
def test_a_damaged_preprocessing_file(runs, tmp_path, content, words):
    _, iris, _ = runs
    copy = tmp_path / "copy"
    shutil.copytree(iris, copy)
    (copy / "preprocessing.json").write_text(content)
    np.save(tmp_path / "x.npy", np.ones((2, 4), np.float32))
    error(run("evaluate", copy), *words)
    error(run("predict", copy, tmp_path / "x.npy"), *words)


def test_shapes_in_preprocessing_are_checked(runs, tmp_path):
    _, iris, _ = runs
    copy = tmp_path / "copy"
    shutil.copytree(iris, copy)
    state = json.loads((copy / "preprocessing.json").read_text())
    state["raw_shape"] = ["4"]
    (copy / "preprocessing.json").write_text(json.dumps(state))
    error(run("evaluate", copy), "'raw_shape'", "positive integers")


# --- predict inputs ------------------------------------------------------------------------

def test_a_ragged_csv(runs, tmp_path):
    _, iris, _ = runs
    p = tmp_path / "ragged.csv"
    p.write_text("5.1,3.5,1.4,0.2\n4.9,3.0\n")
    error(run("predict", iris, p), "ragged.csv", "ragged", "line 2")


def test_a_csv_that_is_not_utf8(runs, tmp_path):
    _, iris, _ = runs
    p = tmp_path / "latin1.csv"
    p.write_bytes("sl,sw,pl,pw\n5.1,3.5,1.4,0.2 \xb5\n".encode("latin-1"))
    error(run("predict", iris, p), "latin1.csv", "UTF-8")


@pytest.mark.parametrize("array,words", [
    (np.zeros((0, 4), np.float32), ["no samples", "(0, 4)"]),
    (np.array(["5.1", "3.5", "1.4", "x"]), ["strings"]),
    (np.ones(4, np.complex128), ["complex"]),
])
def test_npy_files_predict_refuses(runs, tmp_path, array, words):
    _, iris, _ = runs
    np.save(tmp_path / "in.npy", array)
    error(run("predict", iris, tmp_path / "in.npy"), "in.npy", *words)


def test_non_finite_inputs_are_refused_naming_the_row(runs, tmp_path):
    _, iris, _ = runs
    p = tmp_path / "nan.csv"
    p.write_text("5.1,3.5,1.4,0.2\n4.9,nan,1.4,0.2\n")
    error(run("predict", iris, p), "nan.csv", "row 1", "NaN")
    x = np.ones((3, 4), np.float32)
    x[2, 0] = np.inf
    np.save(tmp_path / "inf.npy", x)
    error(run("predict", iris, tmp_path / "inf.npy"), "inf.npy", "row 2")


def test_an_image_over_the_decompression_bomb_limit(runs, tmp_path, monkeypatch):
    from PIL import Image

    _, _, lenet = runs
    Image.new("L", (64, 64)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)   # 4096 > 2 * 1000: an error
    error(run("predict", lenet, tmp_path / "big.png"), "big.png", "too large", "Pillow")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)   # between 1x and 2x: a warning
    error(run("predict", lenet, tmp_path / "big.png"), "big.png", "too large")


def test_predict_accepts_a_batch_in_the_models_input_shape(runs, tmp_path):
    from sklearn.datasets import load_digits

    from lamina.cli import Preprocessor

    _, _, lenet = runs
    raw = (load_digits().images[:3] / 16).astype(np.float32)[:, None]     # (3, 1, 8, 8)
    pre = Preprocessor.load(lenet)
    ready = pre.transform(raw)
    assert ready.shape == (3, 1, 32, 32)
    np.save(tmp_path / "raw.npy", raw)
    np.save(tmp_path / "ready.npy", ready)
    np.save(tmp_path / "one.npy", ready[0])
    rc, out_raw, err = run("predict", lenet, tmp_path / "raw.npy")
    assert rc == 0, err
    rc, out_ready, err = run("predict", lenet, tmp_path / "ready.npy")
    assert rc == 0, err
    assert out_ready == out_raw                       # the same inputs, the same table
    rc, out_one, err = run("predict", lenet, tmp_path / "one.npy")
    assert rc == 0, err
    assert out_one.splitlines()[2] == out_raw.splitlines()[2]
    error(run("predict", lenet, tmp_path / "wrong.npy"), "not found")
    np.save(tmp_path / "wrong.npy", np.zeros((3, 1, 16, 16), np.float32))
    error(run("predict", lenet, tmp_path / "wrong.npy"), "(1, 8, 8)", "1, 32, 32")


# --- the run name --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../escaped", "..", "a/b", "ABSOLUTE"])
def test_name_cannot_leave_out(tmp_path, name):
    out = tmp_path / "a" / "b" / "runs"
    if name == "ABSOLUTE":
        name = str(tmp_path / "escaped")
    error(run("train", "--dataset", "iris", "--model", "mlp", "--epochs", "1", "--out",
              out, "--name", name), "--name", "--out")
    assert not (tmp_path / "escaped").exists()
    assert not out.exists()
