"""``lamina train --model vae|gan|rbm``: the generative models train from the command line on
image data (tiny runs: 1 epoch, 64 digits), write their samples and the usual files, and
refuse non-image data with exit status 2 and a clear message."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

pytest.importorskip("sklearn")

from lamina import cli  # noqa: E402


def run(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = cli.main([str(a) for a in args])
        except SystemExit as e:
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


TINY = ["--dataset", "digits", "--epochs", "1", "--limit", "64", "--batch-size", "32",
        "--no-progress"]


@pytest.mark.parametrize("model,metric", [("vae", "test_elbo"), ("gan", "test_d_real"),
                                          ("rbm", "test_reconstruction_error")])
def test_generative_models_train_and_write_samples(tmp_path, model, metric):
    rc, out, err = run("train", "--model", model, *TINY, "--out", tmp_path, "--name", "r")
    assert rc == 0, err
    d = tmp_path / "r"
    for f in ("config.toml", "generative.json", "model.safetensors", "history.csv",
              "history.json", "test_metrics.json"):
        assert (d / f).is_file(), f
    assert metric in json.loads((d / "test_metrics.json").read_text())
    info = json.loads((d / "generative.json").read_text())
    assert info["model"] == model and info["input_shape"] == [1, 8, 8]
    assert len(json.loads((d / "history.json").read_text())[
        {"vae": "loss", "gan": "d_loss", "rbm": "reconstruction_error"}[model]]) == 1
    pytest.importorskip("matplotlib")
    assert (d / "samples.png").read_bytes()[:4] == b"\x89PNG"
    assert "samples.png" in out


def test_model_args_reach_the_model(tmp_path):
    rc, _, err = run("train", "--model", "gan", *TINY, "--out", tmp_path, "--name", "g",
                     "--model-arg", "kind=mlp", "--model-arg", "latent_dim=4", "--lr", "0.001",
                     "--optimizer", "sgd")
    assert rc == 0, err
    assert "model 'gan' trains with its own method and ignores --optimizer" in err
    info = json.loads((tmp_path / "g" / "generative.json").read_text())
    assert info["args"] == {"latent_dim": 4, "kind": "mlp"}
    assert "lr = 0.001" in (tmp_path / "g" / "config.toml").read_text()


def test_help_lists_the_generative_models():
    rc, out, _ = run("train", "--help")
    assert rc == 0
    assert "vae, gan, rbm" in " ".join(out.split())


@pytest.mark.parametrize("model", ["gan", "vae", "rbm"])
def test_non_image_dataset_exits_2(tmp_path, model):
    rc, _, err = run("train", "--model", model, "--dataset", "iris", "--epochs", "1",
                     "--out", tmp_path)
    assert rc == 2
    assert f"model {model!r} generates images and needs an image dataset" in err
    assert "'iris' has samples of shape (4,)" in err
    assert "Traceback" not in err
    assert not any(tmp_path.iterdir())                # no run directory left behind


def test_bad_model_argument_exits_2(tmp_path):
    rc, _, err = run("train", "--model", "vae", *TINY, "--out", tmp_path,
                     "--model-arg", "latent_dim=0")
    assert rc == 2
    assert "cannot build model 'vae'" in err and "latent_dim must be an int >= 1" in err
    rc, _, err = run("train", "--model", "gan", *TINY, "--out", tmp_path,
                     "--model-arg", "depth=3")
    assert rc == 2 and "cannot build model 'gan'" in err and "depth" in err
