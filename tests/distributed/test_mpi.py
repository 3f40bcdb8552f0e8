"""lamina.distributed, DistributedDataParallel and DistributedSampler across real processes:
each test starts ``mpirun -n 2`` on a worker script in ``workers/`` (skipped, with the reason,
where Open MPI or mpi4py is missing; ``.ci/run`` installs both)."""

import time

import pytest

from tests.distributed.mpi import output, requires_mpi, run_mpi

pytestmark = requires_mpi


def test_collectives():
    proc = run_mpi("collectives.py")
    assert proc.returncode == 0, output(proc)
    assert proc.stdout.count("collectives OK") == 2, output(proc)


def test_ddp_two_ranks_match_one_process_with_twice_the_batch():
    # SGD with one bucket, Adam with many, SyncBatchNorm (float64 and float32), local
    # BatchNorm, no_sync, an unused parameter, reductions launched during backward
    proc = run_mpi("ddp.py", timeout=120)
    assert proc.returncode == 0, output(proc)
    assert proc.stdout.count("DistributedDataParallel OK") == 2, output(proc)


def test_sampler_covers_the_dataset_once_per_epoch():
    proc = run_mpi("sampler.py")
    assert proc.returncode == 0, output(proc)
    assert proc.stdout.count("DistributedSampler OK") == 2, output(proc)


@pytest.mark.parametrize("mode, message", [
    ("raise", "rank 1 of 2: stopped by an uncaught RuntimeError; aborting all 2 processes"),
    ("exit", "exited with non-zero status"),
    ("hang", "rank 0 of 2: all_reduce has waited more than 3 s"),
])
def test_a_failing_rank_fails_the_job_instead_of_hanging(mode, message):
    start = time.monotonic()
    proc = run_mpi("crash.py", mode, timeout=50)
    elapsed = time.monotonic() - start
    assert proc.returncode != 0, output(proc)
    assert message in proc.stdout + proc.stderr, output(proc)
    assert "the failure went unnoticed" not in proc.stdout
    assert elapsed < 45, f"took {elapsed:.0f} s: the job waited for the failed rank"


def test_lamina_train_nproc_2(tmp_path):
    """``lamina train --nproc 2`` starts mpirun; rank 0 alone prints and writes the run
    directory, whose checkpoint loads into the plain model (``lamina evaluate``)."""
    import os
    import subprocess
    import sys

    from lamina.cli import main
    from tests.distributed.mpi import ROOT

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "lamina", "train", "--nproc", "2", "--dataset", "iris",
         "--model", "mlp", "--epochs", "2", "--out", str(tmp_path), "--name", "run",
         "--no-progress"], env=env, capture_output=True, text=True, timeout=120,
        cwd=str(tmp_path), stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, output(proc)
    assert proc.stdout.count("data-parallel: 2 processes (MPI), batch 64 each") == 1
    assert proc.stdout.count("epoch 2/2") == 1, output(proc)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    run = tmp_path / "run"
    for name in ("config.toml", "best.safetensors", "history.csv", "test_metrics.json"):
        assert (run / name).is_file(), name
    assert len((run / "history.csv").read_text().strip().splitlines()) == 3
    assert main(["evaluate", str(run)]) == 0
