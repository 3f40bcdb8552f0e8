"""The default process group: one MPI job (``MPI.COMM_WORLD``), set up by
``init_process_group`` and torn down by ``destroy_process_group``.

Two safety nets keep a broken job from hanging instead of failing:

* an uncaught exception on any rank prints its traceback, then a line naming the rank, and
  calls ``MPI_Abort``: ``mpirun`` ends every process of the job (without it the other ranks
  would wait forever inside their next collective for a partner that has gone);
* a watchdog thread aborts the job when one collective has waited longer than the group's
  ``timeout`` (PyTorch's default, 30 minutes): a rank that exited early, loops, or called a
  different collective. mpi4py releases the GIL during blocking MPI calls, so the watchdog
  runs while the main thread waits.

A rank killed outright (a signal, ``os._exit``) is seen by ``mpirun`` itself, which ends
the job.
"""

from __future__ import annotations

import datetime
import os
import sys
import threading
import time
import traceback

from lamina.errors import LaminaError, LaminaValueError

DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)   # PyTorch's default for CPU backends

_NOT_INIT = ("Default process group has not been initialized, please make sure to call "
             "init_process_group.")


def import_mpi():
    """``mpi4py.MPI``, or an error that says how to get it."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise LaminaError(
            "lamina.distributed: the MPI backend needs mpi4py and an MPI library: install "
            "Open MPI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev) and then "
            "pip install 'lamina[mpi]'") from e
    return MPI


def mpi_available() -> bool:
    """Whether mpi4py is installed. Only looks: importing ``mpi4py.MPI`` would initialize MPI
    in this process, and a process that has done so cannot start ``mpirun`` itself."""
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None


def launched_by_mpirun() -> bool:
    """Whether this process was started by ``mpirun``/``mpiexec`` (Open MPI or MPICH-style
    launchers set these variables), without importing MPI."""
    return any(k in os.environ for k in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"))


class World:
    """The state of an initialized default group: the communicator, this process's rank,
    the number of processes and the collective timeout (seconds)."""

    def __init__(self, comm, timeout: float):
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.timeout = timeout
        self.watchdog = _Watchdog(self)
        self.watchdog.start()
        self._prev_excepthook = sys.excepthook
        sys.excepthook = self._excepthook

    def wait(self, name: str, fn, *args):
        """Run the blocking MPI call ``fn(*args)`` under the watchdog (named ``name`` in a
        timeout message)."""
        self.watchdog.arm(name)
        try:
            return fn(*args)
        finally:
            self.watchdog.disarm()

    def abort(self, message: str, code: int = 1) -> None:
        """Print ``message`` and end every process of the job (``MPI_Abort``)."""
        print(f"lamina.distributed: rank {self.rank} of {self.size}: {message}",
              file=sys.stderr, flush=True)
        try:
            self.comm.Abort(code)
        finally:                    # Abort does not return; if it ever did, stop here
            os._exit(code)

    def _excepthook(self, etype, value, tb):
        self._prev_excepthook(etype, value, tb)
        if issubclass(etype, KeyboardInterrupt):
            code = 130
        else:
            code = 1
        self.abort(f"stopped by an uncaught {etype.__name__}; aborting all {self.size} "
                   "processes so that none waits for it", code)

    def close(self) -> None:
        self.watchdog.stop()
        if sys.excepthook == self._excepthook:
            sys.excepthook = self._prev_excepthook


class _Watchdog(threading.Thread):
    """Aborts the job when a collective has run longer than the timeout. The main thread
    ``arm``s it before a blocking call and ``disarm``s it after; the thread looks every
    ``min(1 s, timeout / 4)``."""

    def __init__(self, world: World):
        super().__init__(name="lamina-distributed-watchdog", daemon=True)
        self.world = world
        self.current = None          # (name, start time) of the collective in progress
        self.done = threading.Event()

    def arm(self, name: str) -> None:
        self.current = (name, time.monotonic())

    def disarm(self) -> None:
        self.current = None

    def stop(self) -> None:
        self.done.set()

    def run(self) -> None:
        timeout = self.world.timeout
        while not self.done.wait(min(1.0, timeout / 4)):
            cur = self.current
            if cur is not None and time.monotonic() - cur[1] > timeout:
                stack = "".join(traceback.format_stack(sys._current_frames().get(
                    threading.main_thread().ident)))
                self.world.abort(
                    f"{cur[0]} has waited more than {timeout:g} s (the process group's "
                    "timeout) for the other ranks: one of them has probably crashed, exited "
                    "early, or called a different collective; aborting the job.\n"
                    f"This rank was waiting at:\n{stack}")


_world: World | None = None


def get_world() -> World:
    """The initialized default group, or PyTorch's error when there is none."""
    if _world is None:
        raise LaminaValueError(_NOT_INIT)
    return _world


def is_initialized() -> bool:
    return _world is not None


def init(backend: str, timeout) -> None:
    global _world
    if _world is not None:
        raise LaminaError("trying to initialize the default process group twice!")
    if backend.lower() != "mpi":
        raise LaminaValueError(
            f"init_process_group: backend {backend!r} is not available in lamina; use "
            "backend='mpi' and start the processes with mpirun -n N (see docs/distributed.md)")
    if timeout is None:
        timeout = DEFAULT_TIMEOUT
    seconds = (timeout.total_seconds() if isinstance(timeout, datetime.timedelta)
               else float(timeout))
    if not seconds > 0:
        raise LaminaValueError(f"init_process_group: timeout must be positive, got {timeout!r}")
    MPI = import_mpi()
    _world = World(MPI.COMM_WORLD, seconds)


def destroy() -> None:
    global _world
    if _world is not None:
        _world.close()
        _world = None
