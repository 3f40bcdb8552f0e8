"""Run by tests/distributed/test_mpi.py under mpirun -n 2: DistributedDataParallel with N
ranks of batch B takes the steps one process takes with batch N*B.

Every rank also trains the single-process reference itself (no communication needed), so
the comparison happens on each rank; an assertion failure aborts the job."""


import numpy as np

import lamina
import lamina.distributed as dist
from lamina import nn, optim
from lamina.nn.parallel import DistributedDataParallel as DDP

lamina.set_default_dtype(lamina.float64)
dist.init_process_group("mpi")
r, n = dist.get_rank(), dist.get_world_size()
B, STEPS = 6, 4
TOL = dict(rtol=1e-9, atol=1e-12)


def mlp(bn=None):
    lamina.manual_seed(0)
    layers = [nn.Linear(5, 16, bias=bn is None)]
    if bn is not None:
        layers.append(bn(16))
    layers += [nn.Tanh(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3)]
    return nn.Sequential(*layers)


def data(step, size):
    g = np.random.default_rng(100 + step)
    return lamina.tensor(g.normal(size=(size, 5))), lamina.tensor(g.integers(0, 3, size))


def mine(t):
    return t[r * B:(r + 1) * B]


def reference(model, make_opt, split=False):
    """One process, the global batch (``split``: its rank-sized pieces one after another,
    for BatchNorm with local statistics)."""
    opt = make_opt(model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    for step in range(STEPS):
        x, y = data(step, n * B)
        opt.zero_grad()
        if split:
            loss = sum(loss_fn(model(x[i * B:(i + 1) * B]), y[i * B:(i + 1) * B])
                       for i in range(n)) / n
        else:
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return model


def distributed(model, make_opt, **kw):
    ddp = DDP(model, **kw)
    opt = make_opt(ddp.parameters())
    loss_fn = nn.CrossEntropyLoss()
    for step in range(STEPS):
        x, y = data(step, n * B)
        opt.zero_grad()
        loss_fn(ddp(mine(x)), mine(y)).backward()
        opt.step()
    return ddp


def same(a, b, what):
    for (k, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), err_msg=f"{what}: {k}", **TOL)


def sgd(p):
    return optim.SGD(p, lr=0.1, momentum=0.9)


def adam(p):
    return optim.Adam(p, lr=0.01)


# rank 1 starts from other weights: DDP copies rank 0's
# one bucket (SGD); one or two parameters per bucket (Adam)
for make_opt, name, cap in ((sgd, "SGD", None), (adam, "Adam", 0.0005)):
    model = mlp()
    if r:
        for p in model.parameters():
            p._data += 1.0
    ddp = distributed(model, make_opt, bucket_cap_mb=cap)
    assert len(ddp._buckets) > 3 if cap else len(ddp._buckets) == 1, len(ddp._buckets)
    same(ddp.module, reference(mlp(), make_opt), f"{name}, bucket_cap_mb={cap}")

# SyncBatchNorm: statistics of the global batch, as one process's BatchNorm on N*B
model = nn.SyncBatchNorm.convert_sync_batchnorm(mlp(nn.BatchNorm1d))
assert isinstance(model[1], nn.SyncBatchNorm)
ddp = distributed(model, adam)
same(ddp.module, reference(mlp(nn.BatchNorm1d), adam), "SyncBatchNorm")

# float32 SyncBatchNorm on images: float32 results, those of BatchNorm2d on the whole batch
g = np.random.default_rng(5)
xs = g.normal(size=(n * 3, 4, 5, 5)).astype(np.float32)
ws = g.normal(size=(n * 3, 4, 5, 5)).astype(np.float32)
sync, plain = nn.SyncBatchNorm(4).float(), nn.BatchNorm2d(4).float()
xl = lamina.tensor(xs[r * 3:(r + 1) * 3], requires_grad=True)
out = sync(xl)
(out * lamina.tensor(ws[r * 3:(r + 1) * 3])).sum().backward()
xf = lamina.tensor(xs, requires_grad=True)
ref_out = plain(xf)
(ref_out * lamina.tensor(ws)).sum().backward()
assert out.dtype == lamina.float32 and xl.grad.dtype == lamina.float32
np.testing.assert_allclose(out.detach().numpy(), ref_out.detach().numpy()[r * 3:(r + 1) * 3],
                           rtol=1e-4, atol=1e-5)
np.testing.assert_allclose(xl.grad.numpy(), xf.grad.numpy()[r * 3:(r + 1) * 3],
                           rtol=1e-4, atol=1e-5)
np.testing.assert_allclose(sync.running_var.numpy(), plain.running_var.numpy(), rtol=1e-5)

# plain BatchNorm (PyTorch's default): each rank normalizes its own batch; the running
# statistics are rank 0's at the start of each forward (broadcast_buffers), then updated
# locally, so only the parameters are compared with the reference
model = mlp(nn.BatchNorm1d)
seen = []
model[1].register_forward_pre_hook(lambda m, args: seen.append(m.running_mean.numpy().copy()))
ddp = distributed(model, sgd)
ref = reference(mlp(nn.BatchNorm1d), sgd, split=True)
for (k, p), q in zip(ddp.module.named_parameters(), ref.parameters()):
    np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(),
                               err_msg=f"local BatchNorm: {k}", **TOL)
gathered = [lamina.zeros(len(seen), 16) for _ in range(n)]
dist.all_gather(gathered, lamina.tensor(np.stack(seen)))
np.testing.assert_array_equal(gathered[0].numpy(), gathered[1].numpy())
assert not np.allclose(model[1].running_mean.numpy(), gathered[0].numpy()[-1])

# no_sync: two micro-batches per rank, the first accumulated locally
model, ref = mlp(), mlp()
ddp = DDP(model)
opt, ref_opt = sgd(ddp.parameters()), sgd(ref.parameters())
loss_fn = nn.CrossEntropyLoss()
for step in range(3):
    x, y = data(step, 2 * n * B)
    x1, y1, x2, y2 = x[:n * B], y[:n * B], x[n * B:], y[n * B:]
    opt.zero_grad()
    with ddp.no_sync():
        loss_fn(ddp(mine(x1)), mine(y1)).backward()
    local = [p.grad.numpy().copy() for p in model.parameters()]
    loss_fn(ddp(mine(x2)), mine(y2)).backward()
    opt.step()
    ref_opt.zero_grad()
    loss_fn(ref(x1), y1).backward()
    loss_fn(ref(x2), y2).backward()
    ref_opt.step()
same(model, ref, "no_sync")
# the accumulated gradient was this rank's own before the synchronized pass
others = [lamina.zeros(*local[0].shape) for _ in range(n)]
dist.all_gather(others, lamina.tensor(local[0]))
assert not np.allclose(others[0].numpy(), others[1].numpy())

# a parameter no forward uses: no hang; its gradient is zero, the others are averaged
class WithUnused(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = mlp()
        self.unused = nn.Linear(3, 3)

    def forward(self, x):
        return self.net(x)


model = WithUnused()
ddp = DDP(model, bucket_cap_mb=0.0005)
x, y = data(0, n * B)
loss_fn(ddp(mine(x)), mine(y)).backward()
assert np.all(model.unused.weight.grad.numpy() == 0)
ref = mlp()
loss_fn(ref(x), y).backward()
for p, q in zip(model.net.parameters(), ref.parameters()):
    np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), **TOL)

# the reductions start during backward: the first bucket is launched before the gradient
# of the first layer (the last one backward reaches) is complete
events = []
model = mlp()
ddp = DDP(model, bucket_cap_mb=0.0005)
first = model[0].weight
first.register_post_accumulate_grad_hook(lambda p: events.append("first layer done"))
launch = ddp._buckets[0].launch
ddp._buckets[0].launch = lambda size: (events.append("bucket 0 launched"), launch(size))
loss_fn(ddp(mine(x)), mine(y)).backward()
assert events == ["bucket 0 launched", "first layer done"], events

# fit with a DDP model on DistributedSampler shares: the history (losses and accuracy
# reduced over the ranks) and the weights of one process fitting batches twice as large
from lamina.data import DataLoader, DistributedSampler, TensorDataset  # noqa: E402
from lamina.train import fit  # noqa: E402

x, y = data(9, 8 * n * B)
ds = TensorDataset(x, y)
sampler = DistributedSampler(ds, shuffle=False)
ddp = DDP(mlp())
got = fit(ddp, nn.CrossEntropyLoss(), sgd(ddp.parameters()),
          DataLoader(ds, batch_size=B, sampler=sampler), epochs=2, metrics=["accuracy"],
          verbose=0)
ref = mlp()
want = fit(ref, nn.CrossEntropyLoss(), sgd(ref.parameters()),
           DataLoader(ds, batch_size=n * B), epochs=2, metrics=["accuracy"], verbose=0)
for key in ("loss", "accuracy"):
    np.testing.assert_allclose(got[key], want[key], err_msg=key, **TOL)
same(ddp.module, ref, "fit")

print(f"rank {r}: DistributedDataParallel OK", flush=True)
