"""Run the benchmark suite: ``python -m bench [WORKLOAD ...] [--repeats N] [--seconds S]``.

Each workload runs one training step in lamina and in PyTorch (CPU eager, the same number of
threads, float32, the same weights and data). The two are timed in alternation, a pair at a
time; the table reports the median steps per second of each and the median of the per-pair
ratios (lamina / PyTorch, higher is better for lamina). Pairs during which other processes
used the CPU noticeably are marked and left out when enough clean pairs remain.
"""

import os
import sys

THREADS = os.environ.get("BENCH_THREADS", "2")
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, THREADS)

from bench.harness import main  # noqa: E402  (thread variables must be set before numpy)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
