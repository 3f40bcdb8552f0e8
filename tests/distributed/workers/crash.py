"""Run by tests/distributed/test_mpi.py under mpirun -n 2: rank 1 fails in the way named by
argv[1] while rank 0 waits in an all_reduce; the job must end with an error, not hang.

raise: rank 1 raises an exception; exit: rank 1 dies without a word (os._exit);
hang: rank 1 never joins (sleeps), and the group's 3 s timeout ends the job."""

import datetime
import os
import sys
import time

import lamina
import lamina.distributed as dist

mode = sys.argv[1]
dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=3))
if dist.get_rank() == 1:
    if mode == "raise":
        raise RuntimeError("rank 1 failed on purpose")
    if mode == "exit":
        os._exit(3)
    time.sleep(60)
dist.all_reduce(lamina.ones(3))
print("rank 0 finished the all_reduce: the failure went unnoticed", flush=True)
