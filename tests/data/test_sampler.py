"""Samplers and ``DataLoader(sampler=, batch_sampler=)``: index sequences equal PyTorch's where
PyTorch's are deterministic (sequential orders, batch grouping, custom samplers), errors as
PyTorch raises them, and coverage, distribution and seeded reproducibility for the random
samplers (whose streams are NumPy's, not PyTorch's)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lamina
from lamina.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    random_split,
)
from tests.helpers import requires_torch, torch


class ListDataset(Dataset):
    """A generic dataset (no fast path): sample i is (x[i], i)."""

    def __init__(self, n):
        self.x = np.arange(2 * n, dtype=np.float32).reshape(n, 2)

    def __getitem__(self, i):
        return lamina.tensor(self.x[i]), int(i)

    def __len__(self):
        return len(self.x)


class Reversed(Sampler):
    """A custom sampler: every other index, backwards."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n - 1, -1, -2))

    def __len__(self):
        return len(range(self.n - 1, -1, -2))


def _datasets(n):
    x = np.arange(2 * n, dtype=np.float32).reshape(n, 2)
    return {"tensor": TensorDataset(lamina.tensor(x), lamina.tensor(np.arange(n))),
            "generic": ListDataset(n)}


def _labels(loader):
    return [yb.tolist() for _, yb in loader]


def _torch_labels(loader):
    return [yb.tolist() for _, yb in loader]


def _torch_ds(n):
    return torch.utils.data.TensorDataset(torch.arange(2 * n, dtype=torch.float32).reshape(n, 2),
                                          torch.arange(n))


# --- deterministic orders equal PyTorch's -----------------------------------------------------

@requires_torch
@pytest.mark.parametrize("n", [0, 1, 7, 12])
def test_sequential_sampler_matches_pytorch(n):
    data = list(range(n))
    assert list(SequentialSampler(data)) == list(torch.utils.data.SequentialSampler(data))
    assert len(SequentialSampler(data)) == n
    np.testing.assert_array_equal(SequentialSampler(data)._indices(), np.arange(n))


@requires_torch
@pytest.mark.parametrize("n", [0, 1, 9, 10, 11])
@pytest.mark.parametrize("bs", [1, 3, 10])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batch_sampler_matches_pytorch(n, bs, drop_last):
    tb = torch.utils.data.BatchSampler
    for ours, theirs in ((SequentialSampler(range(n)), torch.utils.data.SequentialSampler(
            range(n))), (range(n), range(n)), (Reversed(n), Reversed(n)),
            ([5, 3, 3, 0][:n], [5, 3, 3, 0][:n])):
        a = BatchSampler(ours, bs, drop_last)
        b = tb(theirs, bs, drop_last)
        assert list(a) == list(b)
        assert len(a) == len(b)
        assert all(type(i) is int for batch in a for i in batch)


@requires_torch
@pytest.mark.parametrize("kind", ["tensor", "generic"])
def test_dataloader_with_samplers_matches_pytorch(kind):
    n = 11
    ds = _datasets(n)[kind]
    tds = _torch_ds(n)
    T = torch.utils.data
    configs = [
        (dict(sampler=SequentialSampler(ds), batch_size=3),
         dict(sampler=T.SequentialSampler(tds), batch_size=3)),
        (dict(sampler=Reversed(n), batch_size=2), dict(sampler=Reversed(n), batch_size=2)),
        (dict(sampler=Reversed(n), batch_size=2, drop_last=True),
         dict(sampler=Reversed(n), batch_size=2, drop_last=True)),
        (dict(sampler=[4, 4, 0, 10]), dict(sampler=[4, 4, 0, 10])),
        (dict(batch_sampler=[[3, 1], [0], [10, 2, 2]]),
         dict(batch_sampler=[[3, 1], [0], [10, 2, 2]])),
        (dict(batch_sampler=BatchSampler(Reversed(n), 4, False)),
         dict(batch_sampler=T.BatchSampler(Reversed(n), 4, False))),
        (dict(batch_sampler=BatchSampler(range(n), 5, True)),
         dict(batch_sampler=T.BatchSampler(range(n), 5, True))),
    ]
    for ours, theirs in configs:
        a = DataLoader(ds, **ours)
        b = T.DataLoader(tds, **theirs)
        assert _labels(a) == _torch_labels(b), ours
        assert len(a) == len(b), ours
        for xb, yb in a:                            # features travel with their labels
            np.testing.assert_array_equal(xb.numpy(), ds.x[yb.numpy()] if kind == "generic"
                                          else np.asarray(yb.numpy())[:, None] * 2
                                          + np.arange(2))


@requires_torch
def test_unbatched_with_sampler_matches_pytorch():
    n = 6
    ds, tds = _datasets(n)["tensor"], _torch_ds(n)
    ours = [int(y) for _, y in DataLoader(ds, batch_size=None, sampler=Reversed(n))]
    theirs = [int(y) for _, y in torch.utils.data.DataLoader(tds, batch_size=None,
                                                             sampler=Reversed(n))]
    assert ours == theirs == [5, 3, 1]
    assert len(DataLoader(ds, batch_size=None, sampler=Reversed(n))) == 3


@requires_torch
def test_default_samplers_are_pytorch_s():
    ds, tds = _datasets(5)["tensor"], _torch_ds(5)
    T = torch.utils.data
    for kw in (dict(), dict(shuffle=True), dict(batch_size=None), dict(batch_size=2)):
        a, b = DataLoader(ds, **kw), T.DataLoader(tds, **kw)
        assert type(a.sampler).__name__ == type(b.sampler).__name__
        assert type(a.batch_sampler).__name__ == type(b.batch_sampler).__name__
        assert a.batch_size == b.batch_size and a.drop_last == b.drop_last
    a = DataLoader(ds, batch_sampler=[[0, 1]])
    assert a.batch_size is None and a.drop_last is False


# --- errors as PyTorch raises them -------------------------------------------------------------

_LOADER_BAD = [
    dict(sampler=[0, 1], shuffle=True),
    dict(batch_sampler=[[0]], batch_size=2),
    dict(batch_sampler=[[0]], shuffle=True),
    dict(batch_sampler=[[0]], sampler=[0]),
    dict(batch_sampler=[[0]], drop_last=True),
    dict(batch_size=None, drop_last=True),
    dict(num_workers=-1),
    dict(timeout=-1),
    dict(prefetch_factor=2),
    dict(persistent_workers=True),
]


@requires_torch
@pytest.mark.parametrize("kw", _LOADER_BAD, ids=lambda kw: ",".join(kw))
def test_dataloader_option_errors_match_pytorch(kw):
    with pytest.raises(ValueError) as terr:
        torch.utils.data.DataLoader(_torch_ds(3), **kw)
    with pytest.raises(ValueError) as lerr:
        DataLoader(_datasets(3)["tensor"], **kw)
    msg = str(lerr.value)
    assert msg.startswith("DataLoader: ")
    # PyTorch's sentence, up to lamina's extra detail
    assert str(terr.value).split(";")[0].replace(".let", ". let") in msg


def test_dataloader_type_errors():
    ds = _datasets(3)["tensor"]
    with pytest.raises(TypeError, match="drop_last should be a bool.*by keyword"):
        DataLoader(ds, 2, False, SequentialSampler(ds))      # PyTorch's positional sampler
    with pytest.raises(TypeError, match="collate_fn should be callable"):
        DataLoader(ds, 2, False, False, BatchSampler(range(3), 2, False))
    with pytest.raises(TypeError, match="DataLoader: sampler should be a Sampler"):
        DataLoader(ds, sampler=3)
    with pytest.raises(TypeError, match="DataLoader: batch_sampler should be"):
        DataLoader(ds, batch_sampler=3)


_SAMPLER_BAD = [
    ("RandomSampler", lambda m: m.RandomSampler(range(3), replacement=1)),
    ("RandomSampler", lambda m: m.RandomSampler(range(3), num_samples=0)),
    ("RandomSampler", lambda m: m.RandomSampler(range(3), num_samples=2.5)),
    ("WeightedRandomSampler", lambda m: m.WeightedRandomSampler([1.0, 2.0], 0)),
    ("WeightedRandomSampler", lambda m: m.WeightedRandomSampler([1.0, 2.0], 2,
                                                                replacement=None)),
    ("WeightedRandomSampler", lambda m: m.WeightedRandomSampler([[1.0, 2.0]], 2)),
    ("BatchSampler", lambda m: m.BatchSampler(range(3), 0, False)),
    ("BatchSampler", lambda m: m.BatchSampler(range(3), True, False)),
    ("BatchSampler", lambda m: m.BatchSampler(range(3), 2, 1)),
]


@requires_torch
@pytest.mark.parametrize("case", _SAMPLER_BAD, ids=lambda c: c[0])
def test_sampler_errors_match_pytorch(case):
    name, make = case
    with pytest.raises((ValueError, TypeError)) as terr:
        make(torch.utils.data)
    with pytest.raises(terr.type) as lerr:
        make(lamina.data)
    msg = str(lerr.value)
    assert msg.startswith(f"{name}: ")
    assert msg[len(name) + 2:].split("=")[0] == str(terr.value).split("=")[0]


def test_lamina_only_sampler_errors():
    with pytest.raises(TypeError, match="RandomSampler: generator must be a lamina.Generator"):
        RandomSampler(range(3), generator=np.random.default_rng(0))
    with pytest.raises(TypeError, match="RandomSampler: data_source must have a length"):
        RandomSampler(iter(range(3)))
    with pytest.raises(ValueError, match="WeightedRandomSampler: weights must be finite"):
        WeightedRandomSampler([1.0, -1.0], 2)
    with pytest.raises(ValueError, match="WeightedRandomSampler: weights must be finite"):
        WeightedRandomSampler([0.0, 0.0], 2)
    with pytest.raises(ValueError, match="cannot draw num_samples=3 without replacement"):
        WeightedRandomSampler([1.0, 0.0, 2.0], 3, replacement=False)
    with pytest.raises(TypeError, match="SubsetRandomSampler: indices must be a 1-d"):
        SubsetRandomSampler([[0, 1]])
    with pytest.raises(TypeError, match="SubsetRandomSampler: indices must be a 1-d"):
        SubsetRandomSampler([0.5, 1.0])
    with pytest.raises(TypeError, match="BatchSampler: sampler must be"):
        BatchSampler(5, 2, False)
    with pytest.raises(NotImplementedError, match="Sampler does not implement __iter__"):
        iter(Sampler())


# --- the random samplers -----------------------------------------------------------------------

def test_random_sampler_permutes_and_is_seeded():
    s = RandomSampler(range(20), generator=lamina.Generator(3))
    epochs = [list(s) for _ in range(3)]
    for e in epochs:
        assert sorted(e) == list(range(20)) and all(type(i) is int for i in e)
    assert epochs[0] != epochs[1]                      # a fresh order every epoch
    again = RandomSampler(range(20), generator=lamina.Generator(3))
    assert [list(again) for _ in range(3)] == epochs
    assert list(RandomSampler(range(20), generator=lamina.Generator(4))) != epochs[0]
    assert len(s) == 20


def test_random_sampler_global_generator():
    s = RandomSampler(range(15))
    lamina.manual_seed(11)
    a = list(s)
    lamina.manual_seed(11)
    assert list(s) == a


def test_random_sampler_num_samples_without_replacement_repeats_permutations():
    # as in PyTorch: whole permutations, then the start of another
    s = RandomSampler(range(5), num_samples=13, generator=lamina.Generator(0))
    idx = list(s)
    assert len(idx) == len(s) == 13
    assert sorted(idx[:5]) == sorted(idx[5:10]) == list(range(5))
    assert len(set(idx[10:])) == 3
    short = RandomSampler(range(5), num_samples=3, generator=lamina.Generator(0))
    assert len(set(short)) == 3


def test_random_sampler_with_replacement_is_uniform():
    n, k = 8, 40000
    s = RandomSampler(range(n), replacement=True, num_samples=k, generator=lamina.Generator(1))
    idx = np.array(list(s))
    assert len(idx) == len(s) == k and idx.min() >= 0 and idx.max() < n
    counts = np.bincount(idx, minlength=n)
    # each count is Binomial(k, 1/n): within 5 standard deviations
    sd = np.sqrt(k * (1 / n) * (1 - 1 / n))
    assert np.all(np.abs(counts - k / n) < 5 * sd), counts
    # the dataset's length is read when iterating
    data = [0, 1, 2]
    r = RandomSampler(data, generator=lamina.Generator(0))
    data.append(3)
    assert len(r) == 4 and sorted(r) == [0, 1, 2, 3]


def test_random_sampler_empty_dataset_gives_empty_epoch():
    assert list(RandomSampler([])) == []
    assert list(DataLoader(TensorDataset(lamina.zeros(0, 2)), batch_size=2, shuffle=True)) == []


def test_subset_random_sampler():
    indices = [7, 2, 9, 4, 11]
    s = SubsetRandomSampler(indices, generator=lamina.Generator(5))
    epochs = [list(s) for _ in range(4)]
    for e in epochs:
        assert sorted(e) == sorted(indices) and all(type(i) is int for i in e)
    assert len({tuple(e) for e in epochs}) > 1
    again = SubsetRandomSampler(np.array(indices), generator=lamina.Generator(5))
    assert [list(again) for _ in range(4)] == epochs
    assert len(s) == 5 and s.indices is indices
    assert list(SubsetRandomSampler([])) == []


def test_subset_random_sampler_position_frequencies_are_uniform():
    # every index is equally likely in every position
    g = lamina.Generator(2)
    s = SubsetRandomSampler([10, 20, 30, 40], generator=g)
    first = np.array([next(iter(s)) for _ in range(8000)])
    counts = np.array([(first == v).sum() for v in (10, 20, 30, 40)])
    sd = np.sqrt(8000 * 0.25 * 0.75)
    assert np.all(np.abs(counts - 2000) < 5 * sd), counts


def test_weighted_random_sampler_frequencies():
    w = np.array([1.0, 0.0, 3.0, 6.0])
    k = 50000
    s = WeightedRandomSampler(w, k, generator=lamina.Generator(0))
    idx = np.array(list(s))
    assert len(idx) == len(s) == k
    counts = np.bincount(idx, minlength=4)
    assert counts[1] == 0                                  # zero weight: never drawn
    p = w / w.sum()
    sd = np.sqrt(k * p * (1 - p))
    assert np.all(np.abs(counts - k * p) <= 5 * sd + 1e-9), counts
    again = WeightedRandomSampler(lamina.tensor(w), k, generator=lamina.Generator(0))
    assert list(again) == idx.tolist()


def test_weighted_random_sampler_without_replacement():
    w = [5.0, 1.0, 0.0, 1.0, 3.0]
    s = WeightedRandomSampler(w, 4, replacement=False, generator=lamina.Generator(1))
    for _ in range(20):
        e = list(s)
        assert sorted(e) == [0, 1, 3, 4]                   # the non-zero ones, once each
    # the heaviest index comes first most often
    firsts = [list(s)[0] for _ in range(2000)]
    assert np.bincount(firsts, minlength=5).argmax() == 0


def test_weighted_sampler_oversamples_a_rare_class_in_a_loader():
    labels = np.array([0] * 90 + [1] * 10)
    ds = TensorDataset(lamina.tensor(np.zeros((100, 1), np.float32)), lamina.tensor(labels))
    class_count = np.bincount(labels)
    weights = 1.0 / class_count[labels]
    loader = DataLoader(ds, batch_size=50, sampler=WeightedRandomSampler(
        weights, 10000, generator=lamina.Generator(0)))
    seen = np.concatenate([yb.numpy() for _, yb in loader])
    assert len(seen) == 10000 and abs(seen.mean() - 0.5) < 0.03


# --- the loader with samplers --------------------------------------------------------------

@pytest.mark.parametrize("kind", ["tensor", "generic"])
def test_shuffle_is_random_sampler_with_the_loader_generator(kind):
    ds = _datasets(13)[kind]
    a = DataLoader(ds, batch_size=4, shuffle=True, seed=7)
    # (each iter(loader) first draws the workers' base seed from the loader's generator, as
    # PyTorch does, so the sampler's generator is the loader's here too)
    g = lamina.Generator(7)
    b = DataLoader(ds, batch_size=4, sampler=RandomSampler(ds, generator=g), generator=g)
    assert isinstance(a.sampler, RandomSampler) and a.sampler.generator is a.generator
    for _ in range(3):
        assert _labels(a) == _labels(b)


@pytest.mark.parametrize("kind", ["tensor", "generic"])
def test_random_samplers_in_a_loader_and_prefetch(kind):
    ds = _datasets(17)[kind]
    for make in (lambda: SubsetRandomSampler([1, 5, 16, 3, 8], generator=lamina.Generator(3)),
                 lambda: RandomSampler(ds, replacement=True, num_samples=9,
                                       generator=lamina.Generator(3)),
                 lambda: WeightedRandomSampler(np.arange(17.0), 12,
                                               generator=lamina.Generator(3))):
        plain = DataLoader(ds, batch_size=4, sampler=make())
        pre = DataLoader(ds, batch_size=4, sampler=make(), prefetch=True)
        bs = DataLoader(ds, batch_sampler=BatchSampler(make(), 4, False))
        for _ in range(2):
            a, b, c = _labels(plain), _labels(pre), _labels(bs)
            assert a == b == c
            assert len(a) == len(plain)
    sub = SubsetRandomSampler([1, 5, 16, 3, 8], generator=lamina.Generator(0))
    got = sorted(i for batch in _labels(DataLoader(ds, batch_size=2, sampler=sub))
                 for i in batch)
    assert got == [1, 3, 5, 8, 16]


def test_sampler_over_subset_fast_path():
    ds = _datasets(30)["tensor"]
    train, _ = random_split(ds, [20, 10], generator=lamina.Generator(0))
    loader = DataLoader(train, batch_size=3, sampler=Reversed(20))
    want = [[train.indices[i] for i in range(19, -1, -2)][s:s + 3] for s in range(0, 10, 3)]
    assert _labels(loader) == want
    loader = DataLoader(train, batch_sampler=[[0, 1], [19]])
    assert _labels(loader) == [[train.indices[0], train.indices[1]], [train.indices[19]]]


def test_num_workers_loads_in_workers_without_warning_and_pin_memory_is_accepted():
    # the worker processes themselves are tested in tests/data/test_workers.py
    ds = _datasets(6)["tensor"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loader = DataLoader(ds, batch_size=2, num_workers=2, pin_memory=True,
                            persistent_workers=True, prefetch_factor=4)
        assert loader.num_workers == 2 and loader.pin_memory is True
        assert _labels(loader) == [[0, 1], [2, 3], [4, 5]]
        assert _labels(loader) == [[0, 1], [2, 3], [4, 5]]      # the same workers again
        DataLoader(ds, batch_size=2, pin_memory=True)
