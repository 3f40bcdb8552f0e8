"""The parts of data-parallel training that need no second process: DistributedSampler's
index assignment (PyTorch's), post-accumulate-grad hooks and queue_callback (the engine
points DDP builds on), SyncBatchNorm outside a group (BatchNorm, checked against PyTorch),
and the errors before init_process_group."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lamina
import lamina.distributed as dist
from lamina import nn
from lamina.autograd import engine
from lamina.data import DistributedSampler
from tests.helpers import requires_torch, torch

# --- DistributedSampler ------------------------------------------------------------------

@requires_torch
@given(size=st.integers(0, 40), replicas=st.integers(1, 6), drop_last=st.booleans(),
       data=st.data())
def test_sampler_assignment_is_pytorchs(size, replicas, drop_last, data):
    from torch.utils.data.distributed import DistributedSampler as TorchSampler

    rank = data.draw(st.integers(0, replicas - 1))
    ours = DistributedSampler(range(size), replicas, rank, shuffle=False, drop_last=drop_last)
    theirs = TorchSampler(range(size), replicas, rank, shuffle=False, drop_last=drop_last)
    assert list(ours) == list(theirs)
    assert len(ours) == len(theirs) == ours.num_samples == theirs.num_samples
    assert ours.total_size == theirs.total_size


@given(size=st.integers(1, 40), replicas=st.integers(1, 6), drop_last=st.booleans(),
       seed=st.integers(0, 100), epoch=st.integers(0, 5))
def test_shuffled_shares_partition_the_seeded_permutation(size, replicas, drop_last, seed,
                                                          epoch):
    perm = lamina.Generator().manual_seed(seed + epoch).np.permutation(size)
    total = DistributedSampler(range(size), replicas, 0, seed=seed,
                               drop_last=drop_last).total_size
    padded = np.resize(perm, max(total, size))[:total]
    for rank in range(replicas):
        s = DistributedSampler(range(size), replicas, rank, seed=seed, drop_last=drop_last)
        s.set_epoch(epoch)
        assert list(s) == padded[rank::replicas].tolist()


def test_sampler_errors_and_defaults():
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas should be a positive integer"):
        DistributedSampler(range(4), num_replicas=0, rank=0)
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        DistributedSampler(range(4))          # needs the group for its defaults
    from lamina.utils.data import DistributedSampler as A
    from lamina.utils.data.distributed import DistributedSampler as B
    assert A is B is DistributedSampler


# --- the engine: post-accumulate-grad hooks and queue_callback -----------------------------

def _mlp(lib):
    """The same small MLP in lamina or PyTorch (PyTorch's copies lamina's weights)."""
    lamina.manual_seed(0)
    ours = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    if lib is lamina:
        return ours
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    theirs.load_state_dict({k: torch.tensor(v.detach().numpy())
                            for k, v in ours.state_dict().items()})
    return theirs


@requires_torch
def test_post_accumulate_hooks_run_as_pytorchs():
    """Once per backward, with the complete .grad, for a weight used twice; the last layer's
    hook runs before the first layer's."""
    runs = {}
    for lib in (lamina, torch):
        model = _mlp(lib)
        log = []
        for name, p in (("w0", model[0].weight), ("w1", model[2].weight),
                        ("b0", model[0].bias)):
            p.register_post_accumulate_grad_hook(
                lambda p, name=name, log=log: log.append((name, p.grad.detach().numpy().copy())))
        x = lib.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3))
        out = model(x)
        (out.sum() + (model[0](x) ** 2).sum()).backward()   # w0, b0: two uses
        runs[lib.__name__] = log
    ours, theirs = runs["lamina"], runs["torch"]
    assert sorted(n for n, _ in ours) == sorted(n for n, _ in theirs) == ["b0", "w0", "w1"]
    for name, g in ours:
        other = next(t for t in theirs if t[0] == name)
        np.testing.assert_allclose(g, other[1], rtol=1e-6)
    # the order within a layer is the engine's own; across layers backward's order shows
    for log in (ours, theirs):
        names = [n for n, _ in log]
        assert names.index("w1") < names.index("w0")


def test_post_accumulate_hook_after_tensor_hooks_and_unreached_edges():
    w = lamina.tensor([1.0, 2.0], requires_grad=True)
    w.register_hook(lambda g: g * 10)
    seen = []
    h = w.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.numpy().copy()))
    (w * 3).sum().backward()
    np.testing.assert_array_equal(seen[-1], [30.0, 30.0])
    # an edge that never delivers (its node gets no gradient) does not stop the hook
    v = lamina.tensor([1.0], requires_grad=True)
    got = []
    v.register_post_accumulate_grad_hook(lambda p: got.append(1))
    (v * 2).sum().backward()
    assert got == [1]
    h.remove()
    (w * 3).sum().backward()
    assert len(seen) == 1
    with pytest.raises(ValueError, match="non-leaf"):
        (w * 2).register_post_accumulate_grad_hook(lambda p: None)
    lamina.autograd.grad((w * w).sum(), [w])        # autograd.grad runs none
    assert len(seen) == 1


def test_queue_callback_runs_after_every_grad():
    a = lamina.tensor([1.0, 2.0], requires_grad=True)
    b = lamina.tensor([3.0], requires_grad=True)
    order = []
    a.register_post_accumulate_grad_hook(
        lambda p: engine.queue_callback(lambda: order.append(("end", b.grad is not None))))
    (a.sum() * b).sum().backward()
    assert order == [("end", True)]
    with pytest.raises(ValueError, match="outside a backward pass"):
        engine.queue_callback(lambda: None)


# --- SyncBatchNorm without a process group -------------------------------------------------

@requires_torch
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 4)])
def test_sync_batchnorm_alone_is_batchnorm(shape):
    x = np.random.default_rng(0).normal(size=shape)
    ours = nn.SyncBatchNorm(3, momentum=0.2).double()
    theirs = torch.nn.BatchNorm1d(3, momentum=0.2).double() if len(shape) < 4 else \
        torch.nn.BatchNorm2d(3, momentum=0.2).double()
    xl = lamina.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    (ours(xl) ** 3).sum().backward()
    (theirs(xt) ** 3).sum().backward()
    np.testing.assert_allclose(xl.grad.numpy(), xt.grad.numpy(), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(ours.running_var.numpy(), theirs.running_var.detach().numpy(),
                               rtol=1e-7)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-7)


def test_convert_sync_batchnorm_shares_tensors():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)))
    model.eval()
    weight, mean = model[1].weight, model[1].running_mean
    keys = list(model.state_dict())
    out = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert out is model and isinstance(model[1], nn.SyncBatchNorm)
    assert isinstance(model[3][1], nn.SyncBatchNorm)
    assert model[1].weight is weight and model[1].running_mean is mean
    assert not model[1].training and list(model.state_dict()) == keys
    fused = nn.utils.fuse(nn.Sequential(nn.BatchNorm2d(2), nn.ReLU()))
    with pytest.raises(ValueError, match="before nn.utils.fuse"):
        nn.SyncBatchNorm.convert_sync_batchnorm(fused)
    with pytest.raises(ValueError, match="at least 2D input"):
        nn.SyncBatchNorm(3)(lamina.ones(3))


# --- before init_process_group ---------------------------------------------------------------

def test_errors_without_a_process_group():
    assert not dist.is_initialized()
    for call in (dist.get_rank, dist.get_world_size, lambda: dist.all_reduce(lamina.ones(1)),
                 lambda: nn.parallel.DistributedDataParallel(nn.Linear(2, 2))):
        with pytest.raises(ValueError, match="Default process group has not been initialized"):
            call()
    with pytest.raises(ValueError, match="backend 'nccl' is not available in lamina"):
        dist.init_process_group("nccl")
    assert not dist.is_initialized()
    assert dist.is_available() == dist.is_mpi_available()


# --- lamina train --nproc, without starting anything ------------------------------------------

def test_nproc_argument_handling(monkeypatch, capsys):
    from lamina import cli, cli_distributed

    assert cli_distributed.strip_nproc(["train", "--nproc", "2", "--epochs", "1"]) == \
        ["train", "--epochs", "1"]
    assert cli_distributed.strip_nproc(["train", "--nproc=4", "--lr", "0.1"]) == \
        ["train", "--lr", "0.1"]
    assert cli.main(["train", "--nproc", "0"]) == 2
    assert "--nproc must be a positive number of processes, got 0" in capsys.readouterr().err
    monkeypatch.setattr(cli_distributed.shutil, "which", lambda name: None)
    assert cli.main(["train", "--nproc", "2"]) == 2
    assert "--nproc needs MPI's mpirun: install Open MPI" in capsys.readouterr().err
