"""Gymnasium is optional: lamina.rl never imports it, and the cartpole experiment says how to
install it when it is missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lamina import experiments


def test_lamina_rl_does_not_import_gymnasium():
    code = "import sys, lamina.rl; print('gymnasium' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"


def test_cartpole_without_gymnasium_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "gymnasium", None)
    with pytest.raises(ImportError, match="cartpole.*pip install gymnasium"):
        experiments.run("cartpole", seed=0, out_dir=tmp_path, quick=True)
