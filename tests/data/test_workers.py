"""``DataLoader(num_workers=N)``: worker processes with PyTorch's semantics.

The batches and their order equal ``num_workers=0``'s; workers know who they are
(``get_worker_info``) and are seeded apart; a worker's exception comes out in the main
process naming the worker; no worker process outlives its iterator.
"""

import gc
import multiprocessing
import os
import time

import numpy as np
import pytest

import lamina
from lamina.errors import LaminaError, LaminaValueError
from lamina.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    IterableDataset,
    SequentialSampler,
    TensorDataset,
    get_worker_info,
)


class Squares(Dataset):
    """Samples (a float vector, an int label, a dict) computed from the index."""

    def __init__(self, n=23):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.full(3, i * i, dtype=np.float32), i, {"half": i / 2}


class WhoAmI(Dataset):
    def __len__(self):
        return 12

    def __getitem__(self, i):
        info = get_worker_info()
        return {"i": i, "id": info.id, "n": info.num_workers, "seed": info.seed,
                "pid": os.getpid(), "np": float(np.random.random()),
                "lamina": float(lamina.rand(1).numpy()[0]),
                "same_dataset": info.dataset is not None and len(info.dataset) == 12}


class Failing(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        if i == 7:
            raise KeyError(f"sample {i} is missing")
        return i


class Slow(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(1.5)
        return i


class Dies(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        os._exit(3)


class Range(IterableDataset):
    """0..n-1, split between the workers by ``get_worker_info`` (PyTorch's recipe)."""

    def __init__(self, n, split=True):
        self.n = n
        self.split = split

    def __iter__(self):
        info = get_worker_info()
        if info is None or not self.split:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))

    def __len__(self):
        return self.n


def _as_lists(batches):
    out = []
    for b in batches:
        if isinstance(b, lamina.Tensor):
            out.append(b.numpy().tolist())
        elif isinstance(b, dict):
            out.append({k: _as_lists([v])[0] for k, v in b.items()})
        elif isinstance(b, (list, tuple)):
            out.append(_as_lists(b))
        else:
            out.append(b)
    return out


def _children():
    return [p for p in multiprocessing.active_children()
            if p.name.startswith("lamina-dataloader-worker")]


@pytest.fixture(autouse=True)
def _no_leaks():
    yield
    gc.collect()
    deadline = time.monotonic() + 5
    while _children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _children() == []


@pytest.mark.parametrize("kwargs", [
    dict(batch_size=4),
    dict(batch_size=4, drop_last=True),
    dict(batch_size=5, shuffle=True, seed=3),
    dict(batch_size=None),
    dict(batch_sampler=BatchSampler(SequentialSampler(range(23)), 6, False)),
    dict(batch_sampler=[[3, 1], [22], [0, 5, 9]]),
    dict(batch_size=3, collate_fn=lambda samples: [s[1] * 10 for s in samples]),
])
@pytest.mark.parametrize("workers", [1, 3])
def test_same_batches_as_the_main_process(kwargs, workers):
    ds = Squares()
    want = _as_lists(DataLoader(ds, **kwargs))
    got = _as_lists(DataLoader(ds, num_workers=workers, **kwargs))
    assert got == want and len(got) > 0


def test_tensor_dataset_batches_are_tensors():
    x = lamina.randn(17, 2)
    y = lamina.arange(17)
    for shuffle in (False, True):
        want = list(DataLoader(TensorDataset(x, y), batch_size=5, shuffle=shuffle, seed=0))
        got = list(DataLoader(TensorDataset(x, y), batch_size=5, shuffle=shuffle, seed=0,
                              num_workers=2, prefetch_factor=1))
        assert len(got) == len(want) == 4
        for (gx, gy), (wx, wy) in zip(got, want):
            assert isinstance(gx, lamina.Tensor) and gx.dtype == wx.dtype
            np.testing.assert_array_equal(gx.numpy(), wx.numpy())
            np.testing.assert_array_equal(gy.numpy(), wy.numpy())


def test_worker_info_and_seeds():
    assert get_worker_info() is None
    seen = []
    loader = DataLoader(WhoAmI(), batch_size=2, num_workers=3,
                        worker_init_fn=lambda wid: seen.append(wid))
    batches = list(loader)
    rows = [dict(zip(b, vals)) for b in batches
            for vals in zip(*[b[k].numpy().tolist() for k in b])]
    assert [r["i"] for r in rows] == list(range(12))
    # round robin: batch k is made by worker k % 3
    assert [r["id"] for r in rows] == [(i // 2) % 3 for i in range(12)]
    assert all(r["n"] == 3 and r["same_dataset"] for r in rows)
    by_worker = {}
    for r in rows:
        by_worker.setdefault(r["id"], set()).add((r["seed"], r["pid"]))
    assert all(len(v) == 1 for v in by_worker.values())
    seeds = sorted(next(iter(v))[0] for v in by_worker.values())
    assert seeds == [seeds[0], seeds[0] + 1, seeds[0] + 2]           # base seed + worker id
    assert len({next(iter(v))[1] for v in by_worker.values()} | {os.getpid()}) == 4
    # each worker's NumPy and lamina streams differ from the others'
    firsts = {r["id"]: (r["np"], r["lamina"]) for r in rows[::-1]}
    assert len({f[0] for f in firsts.values()}) == 3 and len({f[1] for f in firsts.values()}) == 3
    assert seen == []                 # worker_init_fn ran in the workers, not here


def test_worker_init_fn_runs_in_each_worker(tmp_path):
    def init(worker_id):
        (tmp_path / f"w{worker_id}").write_text(str(get_worker_info().id))

    list(DataLoader(Squares(6), batch_size=2, num_workers=2, worker_init_fn=init))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w0", "w1"]
    assert (tmp_path / "w1").read_text() == "1"


def test_base_seed_follows_lamina_manual_seed():
    def seeds():
        lamina.manual_seed(5)
        return sorted({int(v) for b in DataLoader(WhoAmI(), batch_size=4, num_workers=2)
                       for v in b["seed"].numpy()})

    assert seeds() == seeds()


def test_worker_exception_is_reraised_naming_the_worker():
    loader = DataLoader(Failing(), batch_size=2, num_workers=2)
    with pytest.raises(KeyError) as e:
        list(loader)
    msg = str(e.value)
    assert "Caught KeyError in DataLoader worker process 1" in msg   # batch 3 -> worker 1
    assert "sample 7 is missing" in msg and "__getitem__" in msg     # the worker's traceback


def test_persistent_workers_start_again_after_an_error():
    loader = DataLoader(Failing(), batch_size=2, num_workers=2, persistent_workers=True)
    for _ in range(2):
        with pytest.raises(KeyError, match="sample 7"):
            list(loader)
    del loader


def test_worker_init_fn_error_is_reraised():
    def init(worker_id):
        raise ValueError(f"init failed in {worker_id}")

    with pytest.raises(ValueError, match="init failed in 0"):
        list(DataLoader(Squares(4), batch_size=2, num_workers=1, worker_init_fn=init))


def test_leaving_early_stops_the_workers():
    it = iter(DataLoader(Squares(200), batch_size=2, num_workers=3))
    next(it)
    assert len(_children()) == 3
    del it                       # the _no_leaks fixture checks they are gone


def test_breaking_out_of_a_loop_stops_the_workers():
    for i, _ in enumerate(DataLoader(Squares(200), batch_size=2, num_workers=2)):
        if i == 2:
            break


def test_timeout_raises():
    loader = DataLoader(Slow(), batch_size=1, num_workers=1, timeout=0.3)
    with pytest.raises(LaminaError, match="timed out after 0.3 seconds"):
        next(iter(loader))


def test_a_dead_worker_is_reported():
    with pytest.raises(LaminaError, match="exited unexpectedly"):
        list(DataLoader(Dies(), batch_size=1, num_workers=1))


def test_iterable_dataset_sharded_by_worker_info():
    main = _as_lists(DataLoader(Range(10), batch_size=3))
    assert main == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    got = _as_lists(DataLoader(Range(10), batch_size=3, num_workers=2))
    assert got == [[0, 2, 4], [1, 3, 5], [6, 8], [7, 9]]              # PyTorch's interleaving
    got = _as_lists(DataLoader(Range(10), batch_size=3, num_workers=2, drop_last=True))
    assert got == [[0, 2, 4], [1, 3, 5]]
    got = _as_lists(DataLoader(Range(5), batch_size=None, num_workers=2))
    assert got == [0, 1, 2, 3, 4]
    assert len(DataLoader(Range(10), batch_size=3)) == 4


def test_iterable_dataset_unsplit_is_copied_per_worker():
    got = _as_lists(DataLoader(Range(4, split=False), batch_size=2, num_workers=2))
    assert sorted(x for b in got for x in b) == [0, 0, 1, 1, 2, 2, 3, 3]


def test_iterable_dataset_refuses_shuffle_and_samplers():
    with pytest.raises(LaminaValueError, match="expected unspecified shuffle"):
        DataLoader(Range(4), batch_size=2, shuffle=True)
    with pytest.raises(LaminaValueError, match="expected unspecified sampler"):
        DataLoader(Range(4), sampler=[0, 1])


class Pids(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return os.getpid()


def test_persistent_workers_live_across_epochs():
    loader = DataLoader(Pids(), batch_size=2, num_workers=2, persistent_workers=True)
    first = {int(p) for b in loader for p in b.numpy()}
    second = {int(p) for b in loader for p in b.numpy()}
    assert first == second and len(first) == 2
    it = iter(loader)
    next(it)                      # leave an epoch early: the next one still works
    third = [int(p) for b in loader for p in b.numpy()]
    assert set(third) == first and len(third) == 4
    fresh = DataLoader(Pids(), batch_size=2, num_workers=2)
    assert {int(p) for b in fresh for p in b.numpy()}.isdisjoint(first)
    del loader, it


def test_persistent_workers_restart_an_iterable_stream():
    loader = DataLoader(Range(6), batch_size=2, num_workers=2, persistent_workers=True)
    a = _as_lists(loader)
    b = _as_lists(loader)
    assert a == b == [[0, 2], [1, 3], [4], [5]]
    del loader


def test_spawn_context():
    ds = Squares(7)
    want = _as_lists(DataLoader(ds, batch_size=3))
    got = _as_lists(DataLoader(ds, batch_size=3, num_workers=1, multiprocessing_context="spawn"))
    assert got == want


def test_option_checks():
    ds = Squares(4)
    with pytest.raises(LaminaValueError, match="multiprocessing_context can only be used"):
        DataLoader(ds, multiprocessing_context="spawn")
    with pytest.raises(LaminaValueError, match="valid start method"):
        DataLoader(ds, num_workers=1, multiprocessing_context="nope")
    with pytest.raises(LaminaValueError, match="both load ahead"):
        DataLoader(ds, num_workers=1, prefetch=True)
    with pytest.raises(LaminaValueError, match="prefetch_factor option could only"):
        DataLoader(ds, prefetch_factor=2)


# --- where the workers' base seed comes from: PyTorch's rules, checked on both libraries ---

class SeedOf:
    """Each sample is the seed of the worker that loads it (``library``: "lamina" or "torch",
    whose ``get_worker_info`` to ask); a plain class, so both DataLoaders take it."""

    def __init__(self, library, n=8):
        self.library, self.n = library, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.library == "torch":
            from torch.utils.data import get_worker_info as info
        else:
            info = get_worker_info
        return info().seed


def _library(name):
    if name == "torch":
        torch = pytest.importorskip("torch", reason="PyTorch is the reference for seeding")
        from torch.utils.data import DataLoader as TorchLoader
        return torch, TorchLoader, lambda s: torch.Generator().manual_seed(s)
    return lamina, DataLoader, lamina.Generator


def _seeds(loader):
    return sorted({int(s) for b in loader for s in np.asarray(b).ravel()})


@pytest.mark.parametrize("library", ["lamina", "torch"])
def test_base_seed_comes_from_the_loaders_generator(library):
    """With a ``generator`` the worker seeds follow it, not the global seed, and iterating
    leaves the global generator untouched; without one they come from the global generator,
    which every ``iter(loader)`` advances, with or without workers."""
    lib, Loader, Gen = _library(library)
    ds = SeedOf(library)

    def seeded(global_seed):
        lib.manual_seed(global_seed)
        return _seeds(Loader(ds, batch_size=2, num_workers=2, generator=Gen(7)))

    assert seeded(1) == seeded(2)
    assert _seeds(Loader(ds, batch_size=2, num_workers=2, generator=Gen(8))) != seeded(1)

    def global_after(**kwargs):
        lib.manual_seed(0)
        list(Loader(range(8), batch_size=2, **kwargs))
        return lib.rand(3).numpy().tolist()

    lib.manual_seed(0)
    untouched = lib.rand(3).numpy().tolist()
    assert global_after(generator=Gen(7)) == untouched
    assert global_after(generator=Gen(7), num_workers=2) == untouched
    assert global_after() != untouched                     # one base seed drawn ...
    assert global_after() == global_after(num_workers=2)   # ... with or without workers


@pytest.mark.parametrize("library", ["lamina", "torch"])
def test_base_seed_per_iterator_and_kept_by_persistent_workers(library):
    lib, Loader, Gen = _library(library)
    ds = SeedOf(library)
    fresh = Loader(ds, batch_size=2, num_workers=2, generator=Gen(3))
    assert _seeds(fresh) != _seeds(fresh)                  # a new base seed each epoch
    kept = Loader(ds, batch_size=2, num_workers=2, generator=Gen(3), persistent_workers=True)
    first = _seeds(kept)
    assert _seeds(kept) == first == _seeds(Loader(ds, batch_size=2, num_workers=2,
                                                  generator=Gen(3)))
    del kept


@pytest.mark.parametrize("library", ["lamina", "torch"])
@pytest.mark.parametrize("source", ["generator", "global"])
def test_shuffled_order_same_with_and_without_workers(library, source):
    """The base seed is drawn before the order in both modes, so a seeded loader shuffles
    alike with any ``num_workers``, for its own generator or the global one."""
    lib, Loader, Gen = _library(library)

    def order(workers):
        lib.manual_seed(11)
        extra = {"generator": Gen(5)} if source == "generator" else {}
        return [int(v) for b in Loader(range(20), batch_size=3, shuffle=True,
                                       num_workers=workers, **extra) for v in b]

    assert order(0) == order(2)
    assert sorted(order(0)) == list(range(20))
