"""The benchmark suite stays runnable: every workload builds and takes a step in lamina, and
its loss matches PyTorch's on the same weights and data (so both sides time the same work)."""

import importlib
import math

import pytest

from bench.harness import summarize
from bench.workloads import WORKLOADS
from tests.helpers import requires_torch


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_workload_runs_a_step(name):
    mod = importlib.import_module(f"bench.workloads.{WORKLOADS[name]}")
    assert mod.DESCRIPTION and mod.TARGET > 0
    step = mod.lamina_step()
    loss = step()
    assert math.isfinite(loss.item())


@requires_torch
@pytest.mark.parametrize("name", ["tiny-ops", "mlp-ops", "tiny", "mlp"])
def test_workload_losses_agree_with_torch(name):
    mod = importlib.import_module(f"bench.workloads.{WORKLOADS[name]}")
    lam, tor = mod.lamina_step(), mod.torch_step()
    for _ in range(3):
        a, b = lam().item(), tor().item()
        assert a == pytest.approx(b, rel=1e-3, abs=1e-5)


def test_summary_uses_clean_pairs_and_median_ratio():
    pairs = [{"lamina": (10.0, 0.0), "torch": (5.0, 0.0)},
             {"lamina": (12.0, 0.0), "torch": (4.0, 0.0)},
             {"lamina": (9.0, 0.0), "torch": (9.0, 0.0)},
             {"lamina": (1.0, 1.5), "torch": (9.0, 0.0)}]      # noisy: left out
    lam, tor, ratio, clean, total = summarize(pairs)
    assert (clean, total) == (3, 4)
    assert lam == 10.0 and tor == 5.0 and ratio == 2.0


def test_each_timed_run_starts_after_an_idle_pause(monkeypatch):
    """The other library's spinning worker threads must not leak into a timed run."""
    import types

    from bench import harness

    events = []
    monkeypatch.setattr(harness.time, "sleep", lambda s: events.append(("sleep", s)))
    monkeypatch.setattr(harness, "_timed",
                        lambda fn, seconds: (events.append(("run", fn())), (1.0, 0.0))[1])
    mod = types.SimpleNamespace(lamina_step=lambda: (lambda: "lamina"),
                                torch_step=lambda: (lambda: "torch"))
    pairs = harness.run_workload(mod, repeats=2, seconds=0.01, has_torch=True, settle=0.2)
    assert len(pairs) == 2
    timed = events[2:]          # after the two warm-up runs
    assert timed == [("sleep", 0.2), ("run", "lamina"), ("sleep", 0.2), ("run", "torch"),
                     ("sleep", 0.2), ("run", "torch"), ("sleep", 0.2), ("run", "lamina")]


@pytest.mark.parametrize("flags", [["--settle", "-1"], ["--seconds", "0"], ["--repeats", "0"],
                                   ["--runs", "0"]])
def test_bad_timing_flags_are_rejected(flags, capsys):
    from bench import harness

    with pytest.raises(SystemExit) as e:
        harness.main(["tiny-ops", *flags])
    assert e.value.code == 2
    assert "--settle must be >= 0" in capsys.readouterr().err


def test_runs_summary_takes_medians_and_the_ratio_range():
    from bench.harness import summarize_runs

    def run(lam, tor):
        return {"lamina": lam, "torch": tor, "ratio": lam / tor, "clean": 5, "pairs": 5}

    runs = [{"a": run(10.0, 5.0), "b": run(3.0, 3.0)},
            {"a": run(12.0, 4.0)},                       # b failed in this run
            {"a": run(9.0, 9.0), "b": run(4.0, 2.0)}]
    s = summarize_runs(runs, ["a", "b", "c"])
    assert s["a"] == {"lamina": 10.0, "torch": 5.0, "ratio": 2.0, "ratio_min": 1.0,
                      "ratio_max": 3.0, "runs": 3, "left_out": 0, "noisy": False}
    assert s["b"]["runs"] == 2 and s["b"]["ratio"] == 1.5 and s["b"]["lamina"] == 3.5
    assert "c" not in s
    no_torch = summarize_runs([{"a": {"lamina": 7.0, "torch": None, "ratio": None}}], ["a"])
    assert no_torch["a"]["ratio"] is None and no_torch["a"]["lamina"] == 7.0


def test_runs_summary_leaves_out_disturbed_runs():
    """A run whose pairs were mostly disturbed by other processes does not enter the medians
    when other runs are clean; with no clean run, all are used and flagged."""
    from bench.harness import summarize_runs

    def run(lam, tor, clean, pairs=5):
        return {"lamina": lam, "torch": tor, "ratio": lam / tor, "clean": clean,
                "pairs": pairs}

    runs = [{"a": run(150.0, 150.0, 5), "b": run(10.0, 10.0, 0)},
            {"a": run(160.0, 160.0, 3), "b": run(30.0, 10.0, 1)},
            {"a": run(75.0, 18.0, 0), "b": run(20.0, 10.0, 2)},     # a disturbed here
            {"a": run(140.0, 140.0, 2, pairs=2)}]                   # 2 of 2: clean
    s = summarize_runs(runs, ["a", "b"])
    assert s["a"]["runs"] == 3 and s["a"]["left_out"] == 1 and not s["a"]["noisy"]
    assert s["a"]["ratio"] == 1.0 and s["a"]["ratio_max"] == 1.0 and s["a"]["torch"] == 150.0
    assert s["b"]["runs"] == 3 and s["b"]["left_out"] == 0 and s["b"]["noisy"]
    assert s["b"]["ratio"] == 2.0


def test_several_runs_each_in_a_fresh_process(monkeypatch, tmp_path, capsys):
    """--runs N starts N child processes of the suite and summarises what they wrote."""
    import json

    from bench import harness

    calls = []

    def fake_run(cmd, check):
        calls.append(cmd)
        out = cmd[cmd.index("--json") + 1]
        k = len(calls)
        with open(out, "w") as f:
            json.dump({"tiny-ops": {"lamina": 10.0 * k, "torch": 5.0, "ratio": 2.0 * k,
                                    "clean": 2, "pairs": 2}}, f)

    monkeypatch.setattr(harness.subprocess, "run", fake_run)
    dest = tmp_path / "all.json"
    assert harness.main(["tiny-ops", "--runs", "3", "--repeats", "2", "--json",
                         str(dest)]) == 0
    assert len(calls) == 3
    assert all(c[1:3] == ["-m", "bench"] and "tiny-ops" in c and "--repeats" in c
               for c in calls)
    summary = json.loads(dest.read_text())["summary"]["tiny-ops"]
    assert summary["ratio"] == 4.0 and summary["ratio_min"] == 2.0
    assert summary["ratio_max"] == 6.0 and summary["runs"] == 3
    assert "2.00x-6.00x" in capsys.readouterr().out


def test_numpy_reference_takes_the_same_step_as_lamina():
    """mlp-ops' hand-written NumPy reference computes the lamina step's loss, step after step
    (so its timing is of the same work, update included)."""
    from bench.workloads import mlp_ops

    lam, ref = mlp_ops.lamina_step(), mlp_ops.numpy_step()
    for _ in range(4):
        assert float(ref()) == pytest.approx(lam().item(), rel=1e-5)


def test_reference_is_timed_between_the_libraries(monkeypatch):
    import types

    from bench import harness

    events = []
    monkeypatch.setattr(harness.time, "sleep", lambda s: None)
    monkeypatch.setattr(harness, "_timed",
                        lambda fn, seconds: (events.append(fn()), (1.0, 0.0))[1])
    mod = types.SimpleNamespace(lamina_step=lambda: (lambda: "lamina"),
                                torch_step=lambda: (lambda: "torch"),
                                numpy_step=lambda: (lambda: "numpy"))
    pairs = harness.run_workload(mod, repeats=2, seconds=0.01, has_torch=True)
    assert events[3:] == ["lamina", "numpy", "torch", "torch", "numpy", "lamina"]
    assert all(set(p) == {"lamina", "numpy", "torch"} for p in pairs)


def test_reference_summary_uses_the_same_clean_pairs():
    from bench.harness import summarize_reference, summarize_runs

    pairs = [{"lamina": (10.0, 0.0), "numpy": (12.0, 0.0), "torch": (10.0, 0.0)},
             {"lamina": (10.0, 0.0), "numpy": (9.0, 0.0), "torch": (10.0, 0.0)},
             {"lamina": (10.0, 0.0), "numpy": (16.0, 0.0), "torch": (8.0, 0.0)},
             {"lamina": (10.0, 0.0), "numpy": (90.0, 2.0), "torch": (10.0, 0.0)}]  # noisy
    steps, ratio = summarize_reference(pairs)
    assert steps == 12.0 and ratio == 1.2
    assert summarize_reference([{"lamina": (1.0, 0.0), "torch": (1.0, 0.0)}]) is None
    assert summarize_reference([{"lamina": (1.0, 0.0), "numpy": (1.0, 0.0)}]) is None

    def run(ref_ratio):
        row = {"lamina": 9.0, "torch": 10.0, "ratio": 0.9, "clean": 5, "pairs": 5}
        if ref_ratio is not None:
            row.update(numpy=10.0 * ref_ratio, numpy_ratio=ref_ratio)
        return row

    s = summarize_runs([{"a": run(1.1)}, {"a": run(0.9)}, {"a": run(1.0)}, {"a": run(None)}],
                       ["a"])
    assert s["a"]["numpy_ratio"] == 1.0 and s["a"]["numpy"] == 10.0
    assert "numpy_ratio" not in summarize_runs([{"a": run(None)}], ["a"])["a"]


def test_compiled_summary_uses_the_same_clean_pairs():
    from bench.harness import summarize_compiled

    pairs = [{"lamina": (10.0, 0.0), "compiled": (30.0, 0.0), "torch": (10.0, 0.0)},
             {"lamina": (10.0, 0.0), "compiled": (20.0, 0.0), "torch": (10.0, 0.0)},
             {"lamina": (10.0, 0.0), "compiled": (24.0, 0.0), "torch": (8.0, 0.0)},
             {"lamina": (10.0, 0.0), "compiled": (90.0, 2.0), "torch": (10.0, 0.0)}]  # noisy
    assert summarize_compiled(pairs) == (24.0, 3.0)
    assert summarize_compiled([{"lamina": (1.0, 0.0), "torch": (1.0, 0.0)}]) is None
    assert summarize_compiled([{"lamina": (1.0, 0.0), "compiled": (2.0, 0.0)}]) == (2.0, None)


def test_every_workload_has_a_compiled_step_and_mlp_its_flops():
    from bench.workloads import mlp

    for name in WORKLOADS.values():
        mod = importlib.import_module(f"bench.workloads.{name}")
        assert callable(mod.compiled_step)
    assert mlp.FLOPS == 2 * 128 * (3 * (784 * 256 + 256 * 128 + 128 * 10) - 784 * 256)
