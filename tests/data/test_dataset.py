"""Dataset, TensorDataset, Subset, ConcatDataset and random_split."""

import numpy as np
import pytest

import lamina
from lamina.data import ConcatDataset, Dataset, Subset, TensorDataset, random_split


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i * i

    def __len__(self):
        return self.n


def test_tensor_dataset_items():
    x = lamina.tensor(np.arange(12.0).reshape(6, 2))
    y = lamina.arange(6)
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    xi, yi = ds[4]
    np.testing.assert_array_equal(xi.numpy(), [8.0, 9.0])
    assert yi.item() == 4
    xs, ys = ds[1:3]
    assert xs.shape == (2, 2) and ys.tolist() == [1, 2]


def test_tensor_dataset_checks():
    with pytest.raises(ValueError, match="size mismatch.*5, 4"):
        TensorDataset(lamina.zeros(5, 2), lamina.zeros(4))
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorDataset()
    with pytest.raises(ValueError, match="0-d"):
        TensorDataset(lamina.tensor(1.0))
    with pytest.raises(TypeError, match="argument 1"):
        TensorDataset(lamina.zeros(2), [1, 2])


def test_subset_and_concat():
    a, b = Squares(3), Squares(4)
    c = a + b
    assert isinstance(c, ConcatDataset)
    assert len(c) == 7
    assert [c[i] for i in range(7)] == [0, 1, 4, 0, 1, 4, 9]
    assert c[-1] == 9 and c[-7] == 0
    with pytest.raises(IndexError):
        c[7]
    with pytest.raises(IndexError):
        c[-8]
    with pytest.raises(ValueError, match="empty"):
        ConcatDataset([])
    s = Subset(b, [3, 1])
    assert len(s) == 2 and s[0] == 9 and s[1] == 1
    assert s[[1, 0]] == [1, 9]
    assert len(ConcatDataset([a, s, b])) == 9


@pytest.mark.parametrize("n, lengths", [(10, [0.3, 0.7]), (11, [0.5, 0.5]),
                                        (7, [0.1, 0.2, 0.3, 0.4]), (5, [1.0]),
                                        (10, [3, 7]), (4, [0, 4])])
def test_random_split_lengths_match_pytorch(n, lengths):
    torch = pytest.importorskip("torch")
    ours = random_split(Squares(n), lengths, generator=lamina.Generator(0))
    theirs = torch.utils.data.random_split(range(n), lengths,
                                           generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    idx = sorted(i for s in ours for i in s.indices)
    assert idx == list(range(n))  # a partition


def test_random_split_reproducible():
    ds = Squares(50)
    a = random_split(ds, [0.6, 0.4], generator=lamina.Generator(3))
    b = random_split(ds, [0.6, 0.4], generator=lamina.Generator(3))
    c = random_split(ds, [0.6, 0.4], generator=lamina.Generator(4))
    assert [s.indices for s in a] == [s.indices for s in b]
    assert [s.indices for s in a] != [s.indices for s in c]
    lamina.manual_seed(7)
    d = random_split(ds, [30, 20])
    lamina.manual_seed(7)
    e = random_split(ds, [30, 20])
    assert [s.indices for s in d] == [s.indices for s in e]
    assert [len(s) for s in d] == [30, 20]


def test_random_split_errors():
    with pytest.raises(ValueError, match="does not equal"):
        random_split(Squares(5), [2, 2])
    with pytest.raises(ValueError, match="fractions"):
        random_split(Squares(5), [1.5, -0.5])


def test_subset_getitems_delegates():
    class Batched(Squares):
        def __getitems__(self, idx):
            return [("batched", i) for i in idx]

    s = Subset(Batched(10), [9, 4, 1])
    assert s.__getitems__([0, 2]) == [("batched", 9), ("batched", 1)]
    assert Subset(Squares(10), [3, 2]).__getitems__([1, 0]) == [4, 9]


# --- ChainDataset: IterableDataset streams one after another ---------------------------------

class Stream:
    """An IterableDataset of ``items``, for lamina's or PyTorch's base class (``base``); it
    has a length only when ``sized``."""

    @staticmethod
    def make(base, items, sized=True):
        class _Stream(base):
            def __iter__(self):
                return iter(items)

        if sized:
            _Stream.__len__ = lambda self: len(items)
        return _Stream()


def _chains(base, Chain):
    a = Stream.make(base, [0, 1, 2])
    b = Stream.make(base, [])
    c = Stream.make(base, [10, 11])
    return {"list": Chain([a, b, c]), "generator": Chain(d for d in [a, c]),
            "add": a + c, "add3": a + b + c, "nested": Chain([Chain([a, c]), a])}


def test_chain_dataset_matches_pytorch():
    tdata = pytest.importorskip("torch.utils.data", reason="PyTorch is the reference")
    from lamina.data import ChainDataset, IterableDataset

    ours = _chains(IterableDataset, ChainDataset)
    ref = _chains(tdata.IterableDataset, tdata.ChainDataset)
    for name in ours:
        assert type(ours[name]) is ChainDataset, name
        assert list(ours[name]) == list(ref[name]), name
        if name != "generator":            # a generator of datasets is used up by iterating
            assert len(ours[name]) == len(ref[name]), name
            assert list(ours[name]) == list(ref[name]), name   # iterates again


def test_chain_dataset_in_a_loader_and_exports():
    import lamina.utils.data as udata
    from lamina.data import ChainDataset, DataLoader, IterableDataset

    assert udata.ChainDataset is ChainDataset is udata.dataset.ChainDataset
    chain = Stream.make(IterableDataset, range(5)) + Stream.make(IterableDataset, range(7, 9))
    batches = [b.tolist() for b in DataLoader(chain, batch_size=3)]
    assert batches == [[0, 1, 2], [3, 4, 7], [8]]
    assert len(DataLoader(chain, batch_size=3)) == 3


def test_chain_dataset_errors():
    from lamina.data import ChainDataset, IterableDataset
    from lamina.errors import LaminaTypeError

    a = Stream.make(IterableDataset, [1, 2])
    chain = ChainDataset([a, Squares(3)])
    with pytest.raises(LaminaTypeError, match="ChainDataset: only supports IterableDataset, "
                                              "got Squares"):
        list(chain)
    with pytest.raises(LaminaTypeError, match="ChainDataset: only supports IterableDataset"):
        len(chain)
    with pytest.raises(TypeError):           # a stream without a length: no chain length
        len(ChainDataset([a, Stream.make(IterableDataset, [3], sized=False)]))
    with pytest.raises(LaminaTypeError, match="ConcatDataset: does not support IterableDataset"):
        ConcatDataset([Squares(2), a])
