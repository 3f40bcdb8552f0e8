"""DataLoader: batching, shuffling with seeds, drop_last, collation, prefetching."""

import threading
import time
from collections import namedtuple

import numpy as np
import pytest

import lamina
from lamina.data import DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split


class ListDataset(Dataset):
    """A generic dataset (no fast path): sample i is (x[i], y[i]) as arrays/ints."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __getitem__(self, i):
        return lamina.tensor(self.x[i]), int(self.y[i])

    def __len__(self):
        return len(self.x)


def _data(n=23, f=3, seed=0):
    r = np.random.default_rng(seed)
    return r.standard_normal((n, f)).astype(np.float32), np.arange(n)


def _labels(loader):
    return [yb.tolist() for _, yb in loader]


@pytest.mark.parametrize("fast", [True, False])
def test_every_sample_once_per_epoch(fast):
    x, y = _data()
    ds = TensorDataset(lamina.tensor(x), lamina.tensor(y)) if fast else ListDataset(x, y)
    loader = DataLoader(ds, batch_size=5, shuffle=True, seed=1)
    assert len(loader) == 5
    epochs = []
    for _ in range(3):
        batches = list(loader)
        assert [len(b[1]) for b in batches] == [5, 5, 5, 5, 3]
        seen = np.concatenate([yb.numpy() for _, yb in batches])
        assert sorted(seen.tolist()) == list(range(23))
        for xb, yb in batches:  # features travel with their labels
            assert xb.dtype == lamina.float32 and yb.dtype == lamina.int64
            np.testing.assert_array_equal(xb.numpy(), x[yb.numpy()])
        epochs.append(seen.tolist())
    assert epochs[0] != epochs[1] != epochs[2]  # a new permutation every epoch


def test_same_seed_same_batches_and_paths_agree():
    x, y = _data()
    fast = DataLoader(TensorDataset(lamina.tensor(x), lamina.tensor(y)), batch_size=4,
                      shuffle=True, seed=5)
    slow = DataLoader(ListDataset(x, y), batch_size=4, shuffle=True, seed=5)
    again = DataLoader(TensorDataset(lamina.tensor(x), lamina.tensor(y)), batch_size=4,
                       shuffle=True, generator=lamina.Generator(5))
    for _ in range(2):
        a, b, c = _labels(fast), _labels(slow), _labels(again)
        assert a == b == c
    other = DataLoader(TensorDataset(lamina.tensor(x), lamina.tensor(y)), batch_size=4,
                       shuffle=True, seed=6)
    assert _labels(other) != a


def test_global_generator_controls_shuffle():
    x, y = _data()
    loader = DataLoader(TensorDataset(lamina.tensor(x), lamina.tensor(y)), batch_size=8,
                        shuffle=True)
    lamina.manual_seed(0)
    a = _labels(loader)
    lamina.manual_seed(0)
    assert _labels(loader) == a


def test_no_shuffle_keeps_order_and_copies():
    x, y = _data(10)
    ds = TensorDataset(lamina.tensor(x), lamina.tensor(y))
    batches = list(DataLoader(ds, batch_size=4))
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    batches[0][0].data[:] = 0  # batches do not alias the dataset
    np.testing.assert_array_equal(ds.tensors[0].numpy(), x)


@pytest.mark.parametrize("n, bs", [(10, 3), (9, 3), (2, 5)])
def test_drop_last(n, bs):
    x, y = _data(n)
    for ds in (TensorDataset(lamina.tensor(x), lamina.tensor(y)), ListDataset(x, y)):
        loader = DataLoader(ds, batch_size=bs, drop_last=True, shuffle=True, seed=0)
        batches = list(loader)
        assert len(batches) == len(loader) == n // bs
        assert all(len(b[1]) == bs for b in batches)
        loader = DataLoader(ds, batch_size=bs, drop_last=False)
        assert len(list(loader)) == len(loader) == -(-n // bs)


def test_len_matches_pytorch():
    torch = pytest.importorskip("torch")
    for n in (0, 1, 7, 8, 9):
        for bs in (1, 4, 8):
            for drop in (False, True):
                ours = DataLoader(TensorDataset(lamina.zeros(n, 1)), batch_size=bs,
                                  drop_last=drop)
                theirs = torch.utils.data.DataLoader(torch.zeros(n, 1), batch_size=bs,
                                                     drop_last=drop)
                assert len(ours) == len(theirs) == len(list(ours))


def test_subset_of_tensor_dataset_fast_path():
    x, y = _data(30)
    ds = TensorDataset(lamina.tensor(x), y)  # a NumPy array is fine too
    train, val = random_split(ds, [20, 10], generator=lamina.Generator(0))
    inner = Subset(train, list(range(19, -1, -2)))  # nested subsets compose
    for sub in (train, val, inner):
        for shuffle in (False, True):
            got = [yb.tolist() for _, yb in DataLoader(sub, batch_size=3, shuffle=shuffle,
                                                       seed=2)]
            expected = [yb.tolist() for _, yb in DataLoader(
                ListDataset(x[sub.indices] if sub is not inner else
                            x[np.asarray(train.indices)[inner.indices]],
                            y[sub.indices] if sub is not inner else
                            y[np.asarray(train.indices)[inner.indices]]),
                batch_size=3, shuffle=shuffle, seed=2)]
            assert got == expected


def test_numpy_arrays_are_converted_to_lamina_dtypes():
    ds = TensorDataset(np.arange(6, dtype=np.int32), np.ones((6, 2), np.float16),
                       np.zeros(6, bool))
    xb, fb, bb = next(iter(DataLoader(ds, batch_size=6)))
    # int32 and float16 are lamina dtypes and kept, as torch's default_collate keeps them
    assert xb.dtype == lamina.int32 and fb.dtype == lamina.float16 and bb.dtype == lamina.bool


Point = namedtuple("Point", ["x", "y"])


def test_default_collate_nested_structures_like_pytorch():
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(0)
    samples = [{"img": r.standard_normal((2, 3)).astype(np.float32),
                "label": i, "w": 0.5 * i, "flag": bool(i % 2), "name": f"s{i}",
                "pair": (np.int64(i), [float(i), 2.0]),
                "pt": Point(np.float32(i), r.standard_normal(2))}
               for i in range(4)]
    ours = default_collate(samples)
    theirs = torch.utils.data.default_collate(samples)

    def compare(a, b):
        if isinstance(b, torch.Tensor):
            assert isinstance(a, lamina.Tensor)
            assert a.shape == tuple(b.shape)
            assert str(a.dtype) == str(b.dtype).replace("torch.", "")
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        elif isinstance(b, dict):
            assert type(a) is dict and list(a) == list(b)
            for k in b:
                compare(a[k], b[k])
        elif isinstance(b, (list, tuple)):
            assert type(a) is type(b) and len(a) == len(b)
            for u, v in zip(a, b):
                compare(u, v)
        else:
            assert a == b

    compare(ours, theirs)
    assert isinstance(ours["pt"], Point)


def test_default_collate_tensors_and_errors():
    out = default_collate([(lamina.ones(2), 0), (lamina.zeros(2), 1)])
    assert isinstance(out, list)
    np.testing.assert_array_equal(out[0].numpy(), [[1, 1], [0, 0]])
    assert out[1].tolist() == [0, 1]
    with pytest.raises(RuntimeError, match="equal size.*entry 1"):
        default_collate([lamina.ones(2), lamina.ones(3)])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [1]])
    with pytest.raises(TypeError, match="object"):
        default_collate([object(), object()])
    # stacking tensors that require grad keeps the graph
    a = lamina.ones(2, requires_grad=True)
    default_collate([a, a * 2]).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 3.0])


def test_custom_collate_fn_and_getitems():
    class Batched(Dataset):
        calls = 0

        def __getitem__(self, i):
            raise AssertionError("the loader should use __getitems__")

        def __getitems__(self, idx):
            Batched.calls += 1
            return [i * 10 for i in idx]

        def __len__(self):
            return 7

    loader = DataLoader(Batched(), batch_size=3, collate_fn=lambda s: sum(s))
    assert list(loader) == [30, 120, 60]
    assert Batched.calls == 3


def test_batch_size_none_yields_converted_samples():
    x, y = _data(4)
    loader = DataLoader(TensorDataset(x, y), batch_size=None)
    items = list(loader)
    assert len(items) == len(loader) == 4
    assert isinstance(items[2][0], lamina.Tensor) and items[2][0].shape == (3,)


def test_argument_checks():
    ds = TensorDataset(lamina.zeros(4))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            DataLoader(ds, batch_size=bad)
    with pytest.raises(ValueError, match="drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="either generator or seed"):
        DataLoader(ds, generator=lamina.Generator(0), seed=0)
    with pytest.raises(ValueError, match="prefetch"):
        DataLoader(ds, prefetch=-1)


# --- prefetching ---------------------------------------------------------------------------

def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "lamina-prefetch"]


@pytest.mark.parametrize("fast", [True, False])
def test_prefetch_gives_identical_batches(fast):
    x, y = _data(37)
    ds = TensorDataset(lamina.tensor(x), lamina.tensor(y)) if fast else ListDataset(x, y)
    plain = DataLoader(ds, batch_size=4, shuffle=True, seed=9)
    pre = DataLoader(ds, batch_size=4, shuffle=True, seed=9, prefetch=True)
    deep = DataLoader(ds, batch_size=4, shuffle=True, seed=9, prefetch=5)
    for _ in range(2):
        a, b, c = list(plain), list(pre), list(deep)
        assert len(a) == len(b) == len(c) == 10
        for u, v, w in zip(a, b, c):
            for s, t, r in zip(u, v, w):
                np.testing.assert_array_equal(s.numpy(), t.numpy())
                np.testing.assert_array_equal(s.numpy(), r.numpy())
    assert not _prefetch_threads()


class Slow(Dataset):
    def __init__(self, n=100, fail_at=None):
        self.n, self.fail_at, self.loaded = n, fail_at, 0

    def __getitem__(self, i):
        if i == self.fail_at:
            raise KeyError(f"sample {i} is broken")
        self.loaded += 1
        time.sleep(0.001)
        return np.float32(i)

    def __len__(self):
        return self.n


def test_prefetch_stops_on_early_break():
    ds = Slow(200)
    loader = DataLoader(ds, batch_size=2, prefetch=True)
    for i, _ in enumerate(loader):
        if i == 2:
            break
    assert not _prefetch_threads()  # joined as the iterator went away
    assert ds.loaded <= 2 * (3 + 2 + 1)  # the queue is bounded: at most depth + 1 ahead
    it = iter(loader)
    next(it)
    assert _prefetch_threads()
    it.close()
    assert not _prefetch_threads()
    with pytest.raises(StopIteration):
        next(it)


def test_prefetch_propagates_exceptions():
    loader = DataLoader(Slow(20, fail_at=7), batch_size=2, prefetch=True)
    got = []
    with pytest.raises(KeyError, match="sample 7 is broken"):
        for b in loader:
            got.append(b)
    assert len(got) == 3  # the batches before the broken one arrived
    assert not _prefetch_threads()


def test_prefetch_overlaps_work():
    """With prefetch, the next batch is loaded while the loop still works on the current one
    (checked by events, not by timing, so a loaded machine cannot fail it); without
    prefetch, nothing is loaded ahead."""
    n = 6

    def run(prefetch):
        started = [threading.Event() for _ in range(n)]

        class Tracked(Dataset):
            def __getitem__(self, i):
                started[i].set()
                return np.float32(i)

            def __len__(self):
                return n

        for i, _ in enumerate(DataLoader(Tracked(), batch_size=1, prefetch=prefetch)):
            if i + 1 < n:       # "training" on batch i: is batch i + 1 being loaded?
                if prefetch:
                    assert started[i + 1].wait(timeout=30), f"batch {i + 1} not prefetched"
                else:
                    assert not started[i + 1].wait(timeout=0.05)

    run(True)
    run(False)
