"""Data-parallel scaling on this machine: ``python -m bench.distributed [--quick] [--json F]``.

Starts itself under ``mpirun`` (1 and 2 processes) and measures, as medians of repeated runs:

* training throughput (samples/s over all ranks) of LeNet-5 (1x28x28, batch 64 per process,
  Adam) and the MLP (784-256-128-10, batch 128 per process, SGD momentum), float32, the
  models of ``bench/workloads``: one process with 1 and 2 BLAS threads, and two processes
  with 1 thread each under ``DistributedDataParallel`` (weak scaling: each process keeps its
  batch, so the global batch doubles);
* the time of one ``all_reduce`` against the message size (float32, 4 B to 16 MiB), 2 ranks;
* the compute time of one step and the gradient size of each model, the inputs of the cost
  model in docs/distributed.md (``--model`` prints its predictions from these numbers).

The machine is shared: run it when ``uptime`` shows a low load, and expect noise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# --- the workers (run under mpirun) ------------------------------------------------------

def _models(lamina):
    nn = lamina.nn

    def lenet():
        model = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
        return nn.utils.fuse(model), (1, 28, 28), 64, lambda p: lamina.optim.Adam(p, lr=1e-3)

    def mlp():
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                              nn.Linear(128, 10))
        return model, (784,), 128, lambda p: lamina.optim.SGD(p, lr=0.01, momentum=0.9)

    return {"lenet": lenet, "mlp": mlp}


def _throughput(steps: int, repeats: int) -> dict:
    import numpy as np

    import lamina
    import lamina.distributed as dist

    parallel = "OMPI_COMM_WORLD_SIZE" in os.environ
    if parallel:
        dist.init_process_group("mpi")
    n = dist.get_world_size() if parallel else 1
    out = {}
    # the time backward's end spends waiting for the gradient all-reduces (exposed
    # communication), summed by wrapping the buckets' finish
    from lamina.nn.parallel import distributed as ddp_module

    waited = [0.0]
    finish = ddp_module._Bucket.finish

    def timed_finish(bucket):
        t = time.perf_counter()
        finish(bucket)
        waited[0] += time.perf_counter() - t

    ddp_module._Bucket.finish = timed_finish
    for name, make in _models(lamina).items():
        lamina.manual_seed(0)
        model, shape, batch, make_opt = make()
        n_params = sum(p._data.size for p in model.parameters())
        if n > 1:
            model = lamina.nn.parallel.DistributedDataParallel(model)
        opt = make_opt(model.parameters())
        loss_fn = lamina.nn.CrossEntropyLoss()
        rng = np.random.default_rng(1)
        x = lamina.tensor(rng.normal(size=(batch, *shape)).astype(np.float32))
        y = lamina.tensor(rng.integers(0, 10, batch))

        def step(model=model, opt=opt, loss_fn=loss_fn, x=x, y=y):
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()

        for _ in range(3):
            step()
        times, waits = [], []
        for _ in range(repeats):
            if n > 1:
                dist.barrier()
            waited[0] = 0.0
            t = time.perf_counter()
            for _ in range(steps):
                step()
            times.append((time.perf_counter() - t) / steps)
            waits.append(waited[0] / steps)
        med = statistics.median(times)
        out[name] = {"step_s": med, "samples_per_s": n * batch / med, "batch": batch,
                     "best_step_s": min(times), "allreduce_wait_s": statistics.median(waits),
                     "params": int(n_params),
                     "grad_bytes": int(n_params) * 4}
    return out


def _allreduce_sweep(repeats: int) -> dict:
    import numpy as np

    import lamina
    import lamina.distributed as dist

    dist.init_process_group("mpi")
    out = {}
    for k in range(0, 23, 2):                  # 1 .. 4M floats: 4 B .. 16 MiB
        t = lamina.tensor(np.ones(2 ** k, np.float32))
        reps = max(3, min(200, 2 ** (20 - k)))
        for _ in range(3):
            dist.all_reduce(t)
        times = []
        for _ in range(repeats):
            dist.barrier()
            start = time.perf_counter()
            for _ in range(reps):
                dist.all_reduce(t)
            times.append((time.perf_counter() - start) / reps)
        out[str(4 * 2 ** k)] = {"median": statistics.median(times), "min": min(times)}
    return out


def _worker(args) -> None:
    result = (_allreduce_sweep(args.repeats) if args.worker == "allreduce"
              else _throughput(args.steps, args.repeats))
    if int(os.environ.get("OMPI_COMM_WORLD_RANK", "0")) == 0:
        print("RESULT " + json.dumps(result), flush=True)


# --- the cost model (docs/distributed.md) ----------------------------------------------------

# Typical cluster networks: per-message latency alpha (s) and bandwidth beta (bytes/s) of one
# link, as MPI sees them (assumptions, stated in docs/distributed.md).
NETWORKS = {"10 GbE (TCP)": (30e-6, 1.1e9), "100 Gb/s InfiniBand": (2e-6, 11e9)}
SCALES = (2, 8, 64, 512)


def fit_allreduce(sweep: dict) -> tuple[float, float]:
    """``(o, beta)`` of ``t(M) = o + M / beta`` fitted to the 2-rank all-reduce times (least
    squares on relative error); for 2 ranks the ring's ``2 (N-1)/N M / beta`` is ``M / beta``
    and its latency ``2 (N - 1) alpha`` is folded into ``o``, with the per-call overhead.
    The fit takes each size's fastest repeat: other processes on a shared machine only
    ever add time."""
    import numpy as np

    m = np.array([float(k) for k in sweep])
    t = np.array([v["min"] if isinstance(v, dict) else v for v in sweep.values()])
    a = np.stack([np.ones_like(m), m], axis=1) / t[:, None]
    (o, inv_beta), *_ = np.linalg.lstsq(a, np.ones_like(t), rcond=None)
    return float(o), 1.0 / float(inv_beta)


def ring_allreduce(n: int, nbytes: float, o: float, alpha: float, beta: float) -> float:
    """Seconds for a ring all-reduce of ``nbytes`` over ``n`` ranks: a software overhead per
    call, ``2 (n-1)`` steps of latency, each rank sending and receiving ``2 (n-1)/n`` of the
    message."""
    if n == 1:
        return 0.0
    return o + 2 * (n - 1) * alpha + 2 * (n - 1) / n * nbytes / beta


def model_report(res: dict) -> str:
    o, beta = fit_allreduce(res["allreduce_2proc"])
    lines = [f"fitted on this machine (2 ranks, shared memory): overhead o = {o * 1e6:.1f} us, "
             f"bandwidth beta = {beta / 1e9:.2f} GB/s"]
    for name, r in res["1proc_1thread"].items():
        tc, m = r["step_s"], r["grad_bytes"]
        t2 = res["2proc_1thread"][name]["step_s"]
        pred2 = tc + ring_allreduce(2, m, o, 0.0, beta)
        wait = res["2proc_1thread"][name].get("allreduce_wait_s", float("nan"))
        lines.append(f"{name}: compute {tc * 1e3:.1f} ms/step, gradients {m / 1e6:.2f} MB; "
                     f"2 ranks here: predicted {pred2 * 1e3:.1f} ms/step from the all-reduce "
                     f"alone, measured {t2 * 1e3:.1f} ms/step, of which "
                     f"{wait * 1e3:.1f} ms waiting for the all-reduce at backward's end")
        for net, (alpha, bw) in NETWORKS.items():
            effs = []
            for n in SCALES:
                t_ar = ring_allreduce(n, m, o, alpha, bw)
                effs.append(f"N={n}: {tc / (tc + t_ar):.2f}")
            lines.append(f"  {net:22} efficiency " + ", ".join(effs))
    return "\n".join(lines)


# --- the driver ------------------------------------------------------------------------------

def _mpirun(n: int, threads: int, worker: str, steps: int, repeats: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    cmd = ["mpirun", "-n", str(n), "--oversubscribe", "--bind-to", "none"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    cmd += [sys.executable, "-m", "bench.distributed", "--worker", worker,
            "--steps", str(steps), "--repeats", str(repeats)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=str(ROOT),
                          timeout=1800)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(line[len("RESULT "):])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", choices=("train", "allreduce"), help=argparse.SUPPRESS)
    p.add_argument("--steps", type=int, default=20, help="training steps per timed run")
    p.add_argument("--repeats", type=int, default=5, help="timed runs (the median is kept)")
    p.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--model", metavar="FILE", help="only print the cost model's fit and "
                   "predictions from the results of an earlier --json run")
    args = p.parse_args(argv)
    if args.worker:
        _worker(args)
        return 0
    if args.model:
        print(model_report(json.loads(Path(args.model).read_text())))
        return 0
    if args.quick:
        args.steps, args.repeats = 5, 3
    print(f"load average before: {os.getloadavg()}", flush=True)
    res = {"load_before": os.getloadavg(),
           "1proc_1thread": _mpirun(1, 1, "train", args.steps, args.repeats),
           "1proc_2threads": _mpirun(1, 2, "train", args.steps, args.repeats),
           "2proc_1thread": _mpirun(2, 1, "train", args.steps, args.repeats),
           "allreduce_2proc": _mpirun(2, 1, "allreduce", args.steps, args.repeats),
           "load_after": os.getloadavg()}
    print(f"{'model':8} {'1 proc x 1 thread':>18} {'1 proc x 2 threads':>19} "
          f"{'2 procs x 1 thread':>19} {'speed-up':>9} {'efficiency':>10}")
    for name in res["1proc_1thread"]:
        a, b, c = (res[k][name]["samples_per_s"] for k in
                   ("1proc_1thread", "1proc_2threads", "2proc_1thread"))
        print(f"{name:8} {a:13.0f} /s {b:14.0f} /s {c:14.0f} /s {c / a:9.2f} {c / a / 2:10.2f}")
    print("all_reduce, 2 processes (float32):")
    print(f"  {'size':>10}    {'median':>10}    {'fastest':>10}")
    for size, t in res["allreduce_2proc"].items():
        print(f"  {int(size):>10} B  {t['median'] * 1e6:10.1f} us  {t['min'] * 1e6:10.1f} us")
    print(f"load average after: {res['load_after']}")
    print(model_report(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
