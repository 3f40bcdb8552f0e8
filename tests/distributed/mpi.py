"""Running a worker script under ``mpirun`` for the multi-process tests.

``run_mpi("ddp.py")`` starts ``tests/distributed/workers/ddp.py`` as 2 ranks with this
checkout's ``lamina`` on the path and returns the ``CompletedProcess`` (stdout and stderr
together). The tests skip, saying why, where Open MPI's ``mpirun`` or mpi4py is missing
(``.ci/run`` installs both).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKERS = Path(__file__).resolve().parent / "workers"


def mpi_missing() -> str | None:
    """Why the MPI tests cannot run here, or None."""
    if shutil.which("mpirun") is None:
        return "mpirun not found: install Open MPI (apt-get install openmpi-bin libopenmpi-dev)"
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py not installed: pip install 'lamina[mpi]'"
    return None


requires_mpi = pytest.mark.skipif(mpi_missing() is not None, reason=str(mpi_missing()))


def mpirun_command(n: int) -> list[str]:
    """``mpirun -n N`` with the flags this kind of machine needs: ``--oversubscribe`` (more
    ranks than cores is fine for tests) and, as root (containers, CI), the run-as-root
    permission Open MPI asks for."""
    cmd = ["mpirun", "-n", str(n)]
    out = subprocess.run(["mpirun", "--version"], capture_output=True, text=True).stdout
    if "Open MPI" in out or "OpenRTE" in out:
        cmd.append("--oversubscribe")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-run-as-root")
    return cmd


def run_mpi(worker: str, *args: str, n: int = 2, timeout: float = 60,
            cwd: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    cmd = [*mpirun_command(n), sys.executable, str(WORKERS / worker), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=cwd or str(ROOT), stdin=subprocess.DEVNULL)


def output(proc: subprocess.CompletedProcess) -> str:
    return f"exit status {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
