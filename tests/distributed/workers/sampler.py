"""Run by tests/distributed/test_mpi.py under mpirun -n 2: DistributedSampler's shares of
each epoch, gathered from the ranks, cover the dataset exactly once (plus the padding)."""

import numpy as np

import lamina
import lamina.distributed as dist
from lamina.data import DataLoader, DistributedSampler, TensorDataset

dist.init_process_group("mpi")
r, n = dist.get_rank(), dist.get_world_size()

for size in (10, 11, 1, 2):
    for drop_last in (False, True):
        sampler = DistributedSampler(range(size), shuffle=True, seed=7, drop_last=drop_last)
        assert sampler.num_replicas == n and sampler.rank == r
        epochs = []
        for epoch in range(3):
            sampler.set_epoch(epoch)
            shares = [None] * n
            dist.all_gather_object(shares, list(sampler))
            assert all(len(s) == len(sampler) for s in shares)
            flat = [i for s in shares for i in s]
            if drop_last:       # no index twice; only the last size % n indices dropped
                assert len(set(flat)) == len(flat) == size - size % n, (size, flat)
            else:               # every index, and the padding repeats size % n of them
                assert set(flat) == set(range(size)), (size, flat)
                assert len(flat) == -(-size // n) * n
            epochs.append(flat)
        if size > 2:            # set_epoch gives a new permutation
            assert epochs[0] != epochs[1]

# through a DataLoader: the samples of one epoch, from all ranks, are the dataset's
x = lamina.arange(20.0).reshape(10, 2)
ds = TensorDataset(x, lamina.arange(10))
sampler = DistributedSampler(ds, seed=3)
loader = DataLoader(ds, batch_size=2, sampler=sampler)
sampler.set_epoch(1)
mine = np.concatenate([yb.numpy() for _, yb in loader])
shares = [None] * n
dist.all_gather_object(shares, mine.tolist())
assert sorted(i for s in shares for i in s) == list(range(10))
print(f"rank {r}: DistributedSampler OK", flush=True)
