"""The char-lm experiment in quick mode: the text loads offline, every model beats the
uniform guess, the two networks have similar parameter counts, the samples follow the
prompt."""

from __future__ import annotations

import math

import pytest

from lamina import experiments
from lamina.experiments import char_lm


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return experiments.run("char-lm", seed=0, out_dir=tmp_path_factory.mktemp("clm"),
                           quick=True)


def test_text_ships_with_python():
    text = char_lm.load_text()
    assert len(text) > 100_000 and "statement" in text


def test_models_beat_the_uniform_guess(result):
    res = result.data["results"]
    uniform = math.log2(result.data["vocab"])
    for name in ("bigram", "LSTM", "GPT"):
        assert 0 < res[name]["held_out_bpc"] < uniform, name
    lstm, gpt = res["LSTM"]["parameters"], res["GPT"]["parameters"]
    assert 0.7 < gpt / lstm < 1.4


def test_samples_follow_the_prompt(result):
    for name, s in result.data["samples"].items():
        assert s.startswith("The ") and len(s) > 100, name
    assert "bits/char" in result.markdown
