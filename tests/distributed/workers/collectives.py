"""Run by tests/distributed/test_mpi.py under mpirun -n 2: every collective, checked on
every rank. An assertion failure aborts the job (non-zero exit, traceback in the output)."""

import numpy as np

import lamina
import lamina.distributed as dist

dist.init_process_group(backend="mpi")
r, n = dist.get_rank(), dist.get_world_size()
assert dist.is_initialized() and n == 2 and dist.get_backend() == "mpi"
ranks = np.arange(n, dtype=np.float64)

for dtype in (lamina.float64, lamina.float32, lamina.int64):
    t = lamina.tensor([r + 1, 2 * r + 1, 5], dtype=dtype)
    dist.all_reduce(t)
    np.testing.assert_array_equal(t.numpy(), [n * (n + 1) / 2, (2 * ranks + 1).sum(), 5 * n])
    assert t.dtype == dtype

for op, want in ((dist.ReduceOp.PRODUCT, np.prod(ranks + 1)), (dist.ReduceOp.MIN, 1.0),
                 (dist.ReduceOp.MAX, float(n)), (dist.ReduceOp.AVG, (ranks + 1).mean())):
    t = lamina.full((2, 3), float(r + 1))
    dist.all_reduce(t, op=op)
    np.testing.assert_allclose(t.numpy(), np.full((2, 3), want))

# a non-contiguous tensor (a transposed view) gets its result in place
base = lamina.arange(6.0).reshape(2, 3) + r
view = base.t()
dist.all_reduce(view)
np.testing.assert_array_equal(base.numpy(), 2 * np.arange(6.0).reshape(2, 3) + ranks.sum())

# async: the result is there after wait()
t = lamina.ones(4) * (r + 1)
work = dist.all_reduce(t, async_op=True)
assert work.wait() is True and work.is_completed()
np.testing.assert_array_equal(t.numpy(), np.full(4, (ranks + 1).sum()))

t = lamina.full((3,), float(r))
dist.broadcast(t, src=1)
np.testing.assert_array_equal(t.numpy(), [1.0, 1.0, 1.0])

t = lamina.full((2,), float(r + 1))
dist.reduce(t, dst=0, op=dist.ReduceOp.SUM)
np.testing.assert_array_equal(t.numpy(), np.full(2, (ranks + 1).sum() if r == 0 else r + 1))

out = [lamina.zeros(2, 2) for _ in range(n)]
dist.all_gather(out, lamina.full((2, 2), float(r)))
for i, o in enumerate(out):
    np.testing.assert_array_equal(o.numpy(), np.full((2, 2), float(i)))

objs = [None] * n
dist.all_gather_object(objs, {"rank": r})
assert objs == [{"rank": i} for i in range(n)]
lst = [f"from {r}", r]
dist.broadcast_object_list(lst, src=0)
assert lst == ["from 0", 0]
dist.barrier()
dist.barrier(async_op=True).wait()

# errors name the op and what was expected
for call, text in ((lambda: dist.broadcast(lamina.ones(1), src=n), "src must be a rank"),
                   (lambda: dist.all_gather([lamina.ones(1)], lamina.ones(1)), "world_size"),
                   (lambda: dist.all_reduce(np.ones(2)), "expected a lamina Tensor"),
                   (lambda: dist.init_process_group("mpi"), "twice")):
    try:
        call()
    except (ValueError, TypeError, RuntimeError) as e:
        assert text in str(e), (text, str(e))
    else:
        raise AssertionError(f"no error for {text}")

dist.destroy_process_group()
assert not dist.is_initialized()
print(f"rank {r}: collectives OK", flush=True)
