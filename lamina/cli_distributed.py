"""``lamina train --nproc N``: data-parallel training on N processes with MPI.

``lamina train --nproc 2 ...`` starts ``mpirun -n 2 python -m lamina train ...`` (the same
arguments, without ``--nproc``) and waits for it; ``mpirun -n 2 lamina train ...`` does the
same by hand (add ``--oversubscribe`` for more ranks than cores, ``--allow-run-as-root`` as
root: ``--nproc`` adds both where they are needed). Each rank then:

* loads and splits the data as one process would (the same seed), and trains on its share
  of every epoch's shuffled training set (``DistributedSampler``): ``--batch-size`` is the
  batch of one process, so the global batch is N times larger;
* wraps the model in ``DistributedDataParallel`` (rank 0's initial weights, gradients
  averaged after every backward);
* reports the epoch's training loss and metrics reduced over the ranks; the validation
  set is evaluated whole on every rank (the replicas are identical, so the values are the
  one-process values, and no rank waits for another).

Only rank 0 prints, shows the progress bar and writes the run directory (configuration,
checkpoints, history, plots, test metrics). An error on any rank ends the whole job. A rank
cannot see whether mpirun's output is a terminal (Open MPI gives each rank a pseudo-terminal
of its own), so ``--nproc`` tells rank 0 (``LAMINA_PROGRESS_BAR``: the terminal's width, 0
for none). Under a hand-written ``mpirun`` tqdm sees that width-0 terminal and draws
nothing; ``LAMINA_PROGRESS_BAR=$COLUMNS mpirun -n 2 lamina train ...`` brings the bar back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from lamina.distributed import world as _world


def strip_nproc(argv: list[str]) -> list[str]:
    """``argv`` without its ``--nproc N`` / ``--nproc=N``."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def mpirun_command(n: int) -> list[str]:
    """``mpirun -n N`` plus the flags Open MPI needs here: ``--oversubscribe`` when N exceeds
    the cores, ``--allow-run-as-root`` as root."""
    cmd = ["mpirun", "-n", str(n)]
    try:
        version = subprocess.run(["mpirun", "--version"], capture_output=True, text=True,
                                 timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        version = ""
    if "Open MPI" in version or "OpenRTE" in version:
        if n > (os.cpu_count() or 1):
            cmd.append("--oversubscribe")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-run-as-root")
    return cmd


def launch(nproc: int, argv: list[str]) -> int:
    """Run ``lamina <argv without --nproc>`` on ``nproc`` ranks under mpirun; its status."""
    from lamina.cli import CLIError

    if shutil.which("mpirun") is None:
        raise CLIError("--nproc needs MPI's mpirun: install Open MPI (Debian/Ubuntu: apt-get "
                       "install openmpi-bin libopenmpi-dev) and pip install 'lamina[mpi]'")
    if not _world.mpi_available():
        raise CLIError("--nproc needs mpi4py: pip install 'lamina[mpi]'")
    cmd = [*mpirun_command(nproc), sys.executable, "-m", "lamina", *strip_nproc(argv)]
    print("starting: " + " ".join(cmd), flush=True)
    # tell rank 0 whether mpirun's output is a terminal, and how wide (see Job.progress)
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 0
    env = dict(os.environ, LAMINA_PROGRESS_BAR=str(width))
    try:
        return subprocess.run(cmd, env=env).returncode
    except KeyboardInterrupt:
        return 130


class Job:
    """This process's place in the job: ``rank`` and ``size`` (0 and 1 when not under
    mpirun), ``main`` (rank 0, the one that writes and prints)."""

    def __init__(self):
        from lamina import distributed as dist

        self.size, self.rank = 1, 0
        if _world.launched_by_mpirun():
            if not dist.is_initialized():
                dist.init_process_group("mpi")
            self.size, self.rank = dist.get_world_size(), dist.get_rank()
        self.main = self.rank == 0
        self.parallel = self.size > 1

    def progress(self) -> bool | None:
        """``fit``'s ``progress`` for this rank. Open MPI gives every rank a pseudo-terminal
        of 0 columns, whatever mpirun writes to: under ``--nproc`` rank 0 draws the bar when
        mpirun's own output is a terminal, after giving its pseudo-terminal that terminal's
        width (tqdm draws nothing at width 0). Otherwise ``None``: a bar on a terminal."""
        flag = os.environ.get("LAMINA_PROGRESS_BAR")
        if not self.parallel or flag is None:
            return None
        width = int(flag) if flag.isdigit() else 0
        if not self.main or width <= 0:
            return False
        try:
            import fcntl
            import struct
            import termios

            if sys.stdout.isatty() and os.get_terminal_size(sys.stdout.fileno()).columns == 0:
                fcntl.ioctl(sys.stdout.fileno(), termios.TIOCSWINSZ,
                            struct.pack("HHHH", 24, width, 0, 0))
        except (ImportError, OSError):
            pass
        return True

    def share(self, value):
        """Rank 0's ``value``, on every rank."""
        if not self.parallel:
            return value
        from lamina import distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def wrap(self, model):
        """``model`` in ``DistributedDataParallel`` when the job has several ranks."""
        if not self.parallel:
            return model
        from lamina.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model)

    def train_loader(self, dataset, batch_size: int, seed: int):
        """A loader over this rank's share of ``dataset``, reshuffled each epoch, and the
        callback that tells the sampler the epoch."""
        from lamina.data import DataLoader, DistributedSampler
        from lamina.train import LambdaCallback

        sampler = DistributedSampler(dataset, self.size, self.rank, shuffle=True, seed=seed)
        loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler)
        return loader, LambdaCallback(on_epoch_begin=lambda trainer, epoch:
                                      sampler.set_epoch(epoch))

    def fail(self, message: str, code: int) -> None:
        """End every rank of the job after an error on this one (which printed it)."""
        if self.parallel:
            _world.get_world().abort(message, code)
