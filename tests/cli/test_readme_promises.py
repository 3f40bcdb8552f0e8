"""What the README promises about the command line holds: the demo's setup, the dataset names
it lists, and the config example's documented override."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_make_demo_installs_the_fast_extra():
    text = (ROOT / "Makefile").read_text()
    block = text.split("$(VENV)/.installed-demo:", 1)[1].split("\n\n", 1)[0]
    m = re.search(r'install -e "\.\[([^\]]*)\]"', block)
    assert m, block
    extras = set(m.group(1).split(","))
    assert {"data", "fast"} <= extras, extras     # digits, and numba for the 10 s figure


def test_readme_quick_start_commands_are_make_targets():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("##", 1)[0]
    targets = re.findall(r"^make (\w+)", quick, flags=re.M)
    assert targets == ["demo", "test"]
    makefile = (ROOT / "Makefile").read_text()
    for t in targets:
        assert re.search(rf"^{t}:", makefile, flags=re.M), t


def test_every_dataset_the_readme_names_is_accepted():
    pytest.importorskip("sklearn")
    from lamina import cli

    readme = (ROOT / "README.md").read_text()
    sentence = re.search(r"datasets: (.*?)\. A mistake", readme, flags=re.S).group(1)
    names = [n for n in re.findall(r"`([a-z0-9_-]{2,})`", sentence)]
    assert "mnist_5k" in names
    for name in names:
        cli._check_dataset_name(name)            # raises CLIError for an unknown name
    # the old name still works and means the canonical one, which errors and help list
    assert cli._canonical_dataset("mnist-subset") == "mnist_5k"
    cli._check_dataset_name("mnist-subset")
    assert "mnist_5k" in cli._dataset_names()


def _train(*args) -> tuple[int, str]:
    from lamina import cli

    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err), \
            np.errstate(all="ignore"):
        rc = cli.main(["train", *map(str, args)])
    return rc, err.getvalue()


def test_overriding_the_optimizer_warns_about_the_files_settings(tmp_path):
    pytest.importorskip("sklearn")
    config = ROOT / "examples" / "configs" / "iris_mlp.toml"
    common = ["--config", config, "--epochs", "1", "--out", tmp_path, "--no-progress"]
    rc, err = _train(*common, "--optimizer", "adam", "--name", "a")
    assert rc == 0, err
    assert "warning: --optimizer adam" in err
    assert "train.lr = 0.05" in err and "nesterov" in err and "--lr" in err
    assert "ignores train.momentum = 0.9" in err
    rc, err = _train(*common, "--optimizer", "adam", "--lr", "0.01", "--name", "b")
    assert rc == 0 and "train.lr" not in err and "ignores train.momentum" in err
    rc, err = _train(*common, "--optimizer", "momentum", "--name", "c")
    assert rc == 0 and "train.lr = 0.05" in err and "ignores" not in err
    rc, err = _train(*common, "--name", "d")
    assert rc == 0 and "warning" not in err
