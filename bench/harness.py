"""Timing: alternate lamina and PyTorch, median of pair ratios, with a CPU-contention check."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from bench.workloads import WORKLOADS


def _cpu_busy_jiffies() -> int | None:
    """Busy CPU time of the whole machine, in clock ticks (None where /proc/stat is absent)."""
    try:
        with open("/proc/stat") as f:
            parts = f.readline().split()[1:]
    except OSError:
        return None
    vals = [int(v) for v in parts]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return sum(vals[:8]) - idle


def _timed(step, seconds: float):
    """Run ``step`` repeatedly for about ``seconds``; return (steps/s, foreign CPU share)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy0, own0 = _cpu_busy_jiffies(), os.times()
    t0 = time.perf_counter()
    n = 0
    while True:
        step()
        n += 1
        el = time.perf_counter() - t0
        if el >= seconds and n >= 3:
            break
    busy1, own1 = _cpu_busy_jiffies(), os.times()
    foreign = 0.0
    if busy0 is not None:
        machine = (busy1 - busy0) / tick
        own = (own1.user - own0.user) + (own1.system - own0.system)
        foreign = max(0.0, machine - own) / el   # cores' worth of other processes' work
    return n / el, foreign


SETTLE = 0.3     # seconds of idle before each timed run (see run_workload)


def run_workload(mod, repeats: int, seconds: float, has_torch: bool, settle: float = SETTLE):
    """Time ``repeats`` alternating pairs. Each timed run starts after ``settle`` seconds of
    idle: both libraries leave worker threads spinning after their parallel kernels
    (OpenBLAS between GEMMs, PyTorch's OpenMP pool), and those threads slow the other side's
    start. Measured on mlp-ops: PyTorch right after lamina was 38% slower than after a
    pause, lamina right after PyTorch 11%.

    A workload with a ``numpy_step`` (the same step hand-written in plain NumPy) has it timed
    in each pair too, between the two libraries, as a reference; one with a
    ``compiled_step`` (the lamina step through ``lamina.compile``) has that timed between them
    as well, its first (recording) call made in the warm-up."""
    lam = mod.lamina_step()
    tor = mod.torch_step() if has_torch else None
    ref = mod.numpy_step() if hasattr(mod, "numpy_step") else None
    comp = mod.compiled_step() if hasattr(mod, "compiled_step") else None
    # warm-up: caches, allocator, lazy initialisation (and the compiled step's recording)
    for fn in (lam, tor, ref, comp):
        if fn is not None:
            _timed(fn, min(0.5, seconds))
    pairs = []
    for r in range(repeats):
        order = [("lamina", lam), ("torch", tor)] if r % 2 == 0 else \
            [("torch", tor), ("lamina", lam)]
        if ref is not None:
            order.insert(1, ("numpy", ref))
        if comp is not None:
            order.insert(1, ("compiled", comp))
        res = {}
        for name, fn in order:
            if fn is not None:
                time.sleep(settle)
                res[name] = _timed(fn, seconds)
        pairs.append(res)
    return pairs


def _clean_needed(total: int) -> int:
    """How many of ``total`` pairs must be clean for a result to use the clean ones alone
    (and for ``--runs`` to count a run): half of them and at least 3, or all when fewer."""
    return min(total, max(3, total // 2))


def _usable(pairs, noise_limit: float):
    """(the pairs to use, how many were clean): the clean ones when there are enough."""
    clean = [p for p in pairs if all(f <= noise_limit for _, f in p.values())]
    return (clean if len(clean) >= _clean_needed(len(pairs)) else pairs), len(clean)


def summarize(pairs, noise_limit: float = 0.25):
    use, clean = _usable(pairs, noise_limit)
    lam = statistics.median(p["lamina"][0] for p in use)
    if "torch" not in use[0]:
        return lam, None, None, clean, len(pairs)
    tor = statistics.median(p["torch"][0] for p in use)
    ratio = statistics.median(p["lamina"][0] / p["torch"][0] for p in use)
    return lam, tor, ratio, clean, len(pairs)


def summarize_reference(pairs, noise_limit: float = 0.25):
    """(steps/s, median ratio to PyTorch) of the hand-written NumPy reference, from the same
    pairs ``summarize`` uses; None without a reference or without PyTorch."""
    use, _ = _usable(pairs, noise_limit)
    if "numpy" not in use[0] or "torch" not in use[0]:
        return None
    return (statistics.median(p["numpy"][0] for p in use),
            statistics.median(p["numpy"][0] / p["torch"][0] for p in use))


def summarize_compiled(pairs, noise_limit: float = 0.25):
    """(steps/s, median ratio to PyTorch or None without it) of the ``lamina.compile`` step,
    from the same pairs ``summarize`` uses; None for a workload without one."""
    use, _ = _usable(pairs, noise_limit)
    if "compiled" not in use[0]:
        return None
    steps = statistics.median(p["compiled"][0] for p in use)
    if "torch" not in use[0]:
        return steps, None
    return steps, statistics.median(p["compiled"][0] / p["torch"][0] for p in use)


def _print_references(rows) -> None:
    """One line per workload that has a hand-written NumPy reference."""
    for name, steps, ratio in rows:
        print(f"  reference, {name} hand-written in plain NumPy (no framework, same step): "
              f"{steps:.1f} steps/s, {ratio:.2f}x PyTorch", flush=True)


PEAK_N = 2048          # sgemm size for the machine's peak (large: BLAS at its best)
PEAK_SECONDS = 1.0


def sgemm_peak(n: int = PEAK_N, seconds: float = PEAK_SECONDS) -> float:
    """The machine's float32 matrix-product rate in FLOP/s: the best of repeated NumPy
    ``n x n @ n x n`` products over about ``seconds`` (the BLAS and thread count NumPy uses, the
    same ones a lamina step uses)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    np.matmul(a, b, out=out)
    best, t_end = float("inf"), time.perf_counter() + seconds
    while True:
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - t0)
        if time.perf_counter() > t_end:
            break
    return 2.0 * n ** 3 / best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("workloads", nargs="*", help=f"names (default: all): {', '.join(WORKLOADS)}")
    ap.add_argument("--repeats", type=int, default=5, help="timed pairs per workload (5)")
    ap.add_argument("--seconds", type=float, default=1.0, help="seconds per timed run (1.0)")
    ap.add_argument("--settle", type=float, default=SETTLE,
                    help=f"idle seconds before each timed run, so the other library's "
                         f"spinning worker threads have gone to sleep ({SETTLE})")
    ap.add_argument("--runs", type=int, default=1,
                    help="run the suite this many times, each in a fresh process, then "
                         "summarise: median and range of the ratios over the runs (1). "
                         "Separate processes differ far more than pairs within one")
    ap.add_argument("--json", metavar="FILE", help="also write the results to FILE as JSON")
    ap.add_argument("--list", action="store_true", help="list the workloads and exit")
    ap.add_argument("--memory", action="store_true",
                    help="measure peak RSS instead of speed: each side (lamina eager, "
                         "lamina.compile, PyTorch eager) of each workload in its own process "
                         "(python -m bench.memory)")
    args = ap.parse_args(argv)
    if args.settle < 0 or args.seconds <= 0 or args.repeats < 1 or args.runs < 1:
        ap.error(f"--settle must be >= 0, --seconds > 0, --repeats >= 1 and --runs >= 1; "
                 f"got {args.settle}, {args.seconds}, {args.repeats} and {args.runs}")
    mods = {}
    for name, modname in WORKLOADS.items():
        mods[name] = importlib.import_module(f"bench.workloads.{modname}")
    if args.list:
        for name, mod in mods.items():
            print(f"{name:12s} {mod.DESCRIPTION}")
        return 0
    names = args.workloads or list(mods)
    unknown = [n for n in names if n not in mods]
    if unknown:
        ap.error(f"unknown workload(s) {unknown}; choose from {list(mods)}")
    if args.memory:
        return memory_table(names)
    if args.runs > 1:
        return _several_runs(args, names, mods)
    try:
        import torch

        torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
        has_torch = True
    except ImportError:
        has_torch = False
        print("torch is not installed: timing lamina alone (pip install torch==2.13.0)")
    import numpy as np

    print(f"threads={os.environ.get('OMP_NUM_THREADS')} numpy={np.__version__}"
          + (f" torch={torch.__version__}" if has_torch else "")
          + f"  ({args.repeats} alternating pairs x {args.seconds}s, medians)")
    header = f"| {'workload':12s} | {'lamina steps/s':>14s} | {'torch steps/s':>13s} | " \
             f"{'ratio':>6s} | {'target':>6s} | clean pairs |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    failed = 0
    results = {}
    references = []
    mfu = []
    for name in names:
        mod = mods[name]
        try:
            pairs = run_workload(mod, args.repeats, args.seconds, has_torch, args.settle)
        except Exception as e:  # a workload whose ops are missing must not stop the rest
            print(f"| {name:12s} | failed: {type(e).__name__}: {e}")
            failed += 1
            continue
        lam, tor, ratio, clean, total = summarize(pairs)
        results[name] = {"lamina": lam, "torch": tor, "ratio": ratio, "clean": clean,
                         "pairs": total}
        ref = summarize_reference(pairs)
        if ref is not None:
            results[name].update(numpy=ref[0], numpy_ratio=ref[1])
            references.append((name, *ref))
        comp = summarize_compiled(pairs)
        tor_s = f"{tor:13.1f}" if tor else f"{'-':>13s}"
        ratio_s = f"{ratio:5.2f}x" if ratio else f"{'-':>6s}"
        print(f"| {name:12s} | {lam:14.1f} | {tor_s} | {ratio_s} | "
              f"{getattr(mod, 'TARGET', 1.0):5.1f}x | {clean}/{total}{'':7s}|", flush=True)
        if comp is not None:
            results[name].update(compiled=comp[0], compiled_ratio=comp[1])
            cratio_s = f"{comp[1]:5.2f}x" if comp[1] else f"{'-':>6s}"
            print(f"| {name + ' (c)':12s} | {comp[0]:14.1f} | {tor_s} | {cratio_s} | "
                  f"{getattr(mod, 'COMPILED_TARGET', 1.0):5.1f}x | {clean}/{total}{'':7s}|",
                  flush=True)
        if getattr(mod, "FLOPS", None):
            mfu.append((name, mod.FLOPS, lam, comp[0] if comp else None, tor))
    _print_references(references)
    if mfu:
        peak = sgemm_peak()
        print(f"  machine sgemm peak (NumPy float32 {PEAK_N}x{PEAK_N} matmul, best of the "
              f"runs in {PEAK_SECONDS:g}s): {peak / 1e9:.1f} GFLOP/s", flush=True)
        for name, flops, *rates in mfu:
            parts = [f"{label} {100 * flops * r / peak:.0f}%" for label, r in
                     zip(("lamina", "compiled", "torch"), rates) if r]
            print(f"  MFU of {name} ({flops / 1e6:.1f} MFLOP a step) vs that peak: "
                  + ", ".join(parts), flush=True)
            results[name]["mfu"] = {label: flops * r / peak for label, r in
                                    zip(("lamina", "compiled", "torch"), rates) if r}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f)
    return 1 if failed else 0


def memory_table(names, steps: int = 20) -> int:
    """``--memory``: peak RSS of each side of each workload, each in a fresh process."""
    from bench.memory import SIDES

    print(f"peak RSS in MiB over {steps} training steps, each side alone in a fresh process "
          "(python -m bench.memory)")
    header = f"| {'workload':12s} | {'lamina':>8s} | {'compiled':>8s} | {'torch':>8s} | " \
             f"{'compiled / torch':>16s} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    failed = 0
    for name in names:
        row = {}
        for side in SIDES:
            r = subprocess.run([sys.executable, "-m", "bench.memory", name, side, str(steps)],
                               capture_output=True, text=True, check=False)
            try:
                row[side] = int(r.stdout.split()[-1]) / 1024
            except (ValueError, IndexError):
                row[side] = None
                failed += 1
        cells = [f"{row[s]:8.0f}" if row[s] else f"{'-':>8s}" for s in SIDES]
        ratio = (f"{row['compiled'] / row['torch']:15.2f}x" if row["compiled"] and row["torch"]
                 else f"{'-':>16s}")
        print(f"| {name:12s} | {' | '.join(cells)} | {ratio} |", flush=True)
    return 1 if failed else 0


def _several_runs(args, names, mods) -> int:
    """``--runs N``: the suite N times, each in a fresh process (its own table printed as it
    comes), then one table of medians over the runs with the range of the ratios."""
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            out = os.path.join(tmp, f"run{i}.json")
            print(f"run {i + 1} of {args.runs}", flush=True)
            cmd = [sys.executable, "-m", "bench", *names, "--repeats", str(args.repeats),
                   "--seconds", str(args.seconds), "--settle", str(args.settle), "--json", out]
            subprocess.run(cmd, check=False)
            if os.path.exists(out):
                with open(out) as f:
                    runs.append(json.load(f))
    summary = summarize_runs(runs, names)
    mfu_rows = []
    print(f"\nover {len(runs)} separate runs: medians, and the range of the ratio (runs: used "
          "of made; a run is left out when most of its pairs were disturbed by other "
          "processes)")
    header = f"| {'workload':12s} | {'lamina steps/s':>14s} | {'torch steps/s':>13s} | " \
             f"{'ratio':>6s} | {'ratio range':>13s} | {'target':>6s} |  runs  |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for name in names:
        row = summary.get(name)
        if row is None:
            print(f"| {name:12s} | failed in every run")
            continue
        lam, tor, ratio, lo, hi, n = (row[k] for k in ("lamina", "torch", "ratio",
                                                       "ratio_min", "ratio_max", "runs"))
        tor_s = f"{tor:13.1f}" if tor else f"{'-':>13s}"
        ratio_s = f"{ratio:5.2f}x" if ratio else f"{'-':>6s}"
        range_s = f"{lo:.2f}x-{hi:.2f}x" if ratio else "-"
        runs_s = f"{n}/{n + row['left_out']}" + ("!" if row["noisy"] else "")
        print(f"| {name:12s} | {lam:14.1f} | {tor_s} | {ratio_s} | {range_s:>13s} | "
              f"{getattr(mods[name], 'TARGET', 1.0):5.1f}x | {runs_s:>6s} |", flush=True)
        if row.get("compiled") is not None:
            cr, clo, chi = (row.get(k) for k in ("compiled_ratio", "compiled_ratio_min",
                                                  "compiled_ratio_max"))
            cratio_s = f"{cr:5.2f}x" if cr else f"{'-':>6s}"
            crange_s = f"{clo:.2f}x-{chi:.2f}x" if cr else "-"
            print(f"| {name + ' (c)':12s} | {row['compiled']:14.1f} | {tor_s} | {cratio_s} | "
                  f"{crange_s:>13s} | {getattr(mods[name], 'COMPILED_TARGET', 1.0):5.1f}x | "
                  f"{runs_s:>6s} |", flush=True)
        if row.get("mfu"):
            mfu_rows.append((name, row["mfu"]))
    _print_references([(name, summary[name]["numpy"], summary[name]["numpy_ratio"])
                       for name in names if summary.get(name, {}).get("numpy_ratio")])
    for name, m in mfu_rows:
        print(f"  MFU of {name} vs the machine's sgemm peak (medians over the runs): "
              + ", ".join(f"{k} {100 * v:.0f}%" for k, v in m.items()), flush=True)
    if any(row["noisy"] for row in summary.values()):
        print("! no run had enough clean pairs for this workload: its figures are not "
              "reliable", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": runs, "summary": summary}, f)
    return 0 if len(runs) == args.runs and len(summary) == len(names) else 1


def _enough_clean(result) -> bool:
    """Whether one run's result for a workload rests on enough clean pairs
    (``_clean_needed``). A result without the counts (written by an older version) counts as
    clean."""
    clean, pairs = result.get("clean"), result.get("pairs")
    if clean is None or pairs is None:
        return True
    return clean >= _clean_needed(pairs)


def summarize_runs(runs, names):
    """Per workload over the runs' results: a dict of ``lamina``, ``torch`` and ``ratio``
    (medians), ``ratio_min``, ``ratio_max``, ``runs`` (how many runs the figures use) and
    ``left_out`` (runs left out); the torch figures are None when PyTorch was absent. A
    workload with a hand-written NumPy reference also gets ``numpy`` and ``numpy_ratio``
    (medians).

    A run whose pairs were mostly disturbed by other processes (fewer clean pairs than
    ``_enough_clean`` asks for) is left out when another run has enough; if none has, all
    runs are used and ``noisy`` is True. (One disturbed run once put PyTorch's LSTM at 18
    steps/s against 150-170 in the others, and moved the median ratio from 1.0 to 1.16.)"""
    out = {}
    for name in names:
        rows = [r[name] for r in runs if name in r]
        if not rows:
            continue
        good = [r for r in rows if _enough_clean(r)]
        use = good or rows
        lam = statistics.median(r["lamina"] for r in use)
        ratios = [r["ratio"] for r in use if r["ratio"] is not None]
        row = {"lamina": lam, "torch": None, "ratio": None, "ratio_min": None,
               "ratio_max": None, "runs": len(use), "left_out": len(rows) - len(use),
               "noisy": not good}
        if ratios:
            row.update(torch=statistics.median(r["torch"] for r in use if r["torch"]),
                       ratio=statistics.median(ratios), ratio_min=min(ratios),
                       ratio_max=max(ratios))
        refs = [r for r in use if r.get("numpy_ratio") is not None]
        if refs:
            row.update(numpy=statistics.median(r["numpy"] for r in refs),
                       numpy_ratio=statistics.median(r["numpy_ratio"] for r in refs))
        comps = [r for r in use if r.get("compiled") is not None]
        if comps:
            cr = [r["compiled_ratio"] for r in comps if r.get("compiled_ratio") is not None]
            row.update(compiled=statistics.median(r["compiled"] for r in comps),
                       compiled_ratio=statistics.median(cr) if cr else None,
                       compiled_ratio_min=min(cr) if cr else None,
                       compiled_ratio_max=max(cr) if cr else None)
        mfus = [r["mfu"] for r in use if r.get("mfu")]
        if mfus:
            row["mfu"] = {k: statistics.median(m[k] for m in mfus if k in m)
                          for k in mfus[0]}
        out[name] = row
    return out
