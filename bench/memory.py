"""Peak resident memory (RSS) of a training workload, one fresh process per side.

``python -m bench.memory WORKLOAD SIDE [STEPS]`` builds the workload's ``SIDE`` step
(``lamina``: eager, ``compiled``: through ``lamina.compile``, ``torch``: PyTorch eager), runs
it ``STEPS`` times (20) and prints the process's peak RSS in KiB. Each side runs alone in its
process, so one library's memory never counts against the other: the figure is what a
training script using that library alone would hold at its peak (interpreter, libraries,
model, data and the step's temporaries). ``python -m bench --memory`` runs it for every side
of the chosen workloads.
"""

import importlib
import os
import resource
import sys

THREADS = os.environ.get("BENCH_THREADS", "2")
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, THREADS)

from bench.workloads import WORKLOADS  # noqa: E402

SIDES = ("lamina", "compiled", "torch")


def peak_rss_kib(name: str, side: str, steps: int = 20) -> int:
    """Run ``steps`` steps of ``side`` of workload ``name`` here; return the peak RSS (KiB)."""
    mod = importlib.import_module(f"bench.workloads.{WORKLOADS[name]}")
    step = {"lamina": mod.lamina_step, "compiled": mod.compiled_step,
            "torch": mod.torch_step}[side]()
    if side == "torch":
        import torch

        torch.set_num_threads(int(THREADS))
    for _ in range(steps):
        step()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss   # KiB on Linux


if __name__ == "__main__":
    name, side = sys.argv[1], sys.argv[2]
    if side not in SIDES or name not in WORKLOADS:
        sys.exit(f"usage: python -m bench.memory {{{','.join(WORKLOADS)}}} "
                 f"{{{','.join(SIDES)}}} [STEPS]")
    print(peak_rss_kib(name, side, int(sys.argv[3]) if len(sys.argv) > 3 else 20))
