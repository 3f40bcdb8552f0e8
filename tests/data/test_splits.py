"""train_val_test_split and (stratified) k-fold indices, checked against scikit-learn."""

import numpy as np
import pytest

import lamina
from lamina.data import (
    Dataset,
    Subset,
    kfold_indices,
    stratified_kfold_indices,
    train_val_test_split,
)


class Range(Dataset):
    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        return i

    def __len__(self):
        return self.n


def _partition(parts, n):
    allidx = np.concatenate(parts)
    assert sorted(allidx.tolist()) == list(range(n))


@pytest.mark.parametrize("n, val, test, sizes", [(100, 0.1, 0.2, (70, 10, 20)),
                                                 (11, 0.15, 0.15, (7, 2, 2)),
                                                 (10, 3, 0, (7, 3, 0)),
                                                 (10, 0.0, 1, (9, 0, 1))])
def test_split_sizes_and_partition(n, val, test, sizes):
    x = np.arange(n) * 10
    y = lamina.arange(n)
    xs = train_val_test_split(x, y, val=val, test=test, seed=0)
    assert len(xs) == 6
    assert tuple(len(p) for p in xs[:3]) == sizes
    assert all(isinstance(p, np.ndarray) for p in xs[:3])
    assert all(isinstance(p, lamina.Tensor) for p in xs[3:])
    for a, b in zip(xs[:3], xs[3:]):  # rows stay aligned across arrays
        np.testing.assert_array_equal(a, b.numpy() * 10)
    _partition([p.numpy() for p in xs[3:]], n)


def test_sizes_match_sklearn_train_test_split():
    ms = pytest.importorskip("sklearn.model_selection")
    for n in (10, 33, 101):
        for frac in (0.1, 0.25, 0.33):
            tr, te = ms.train_test_split(np.arange(n), test_size=frac, random_state=0)
            ours = train_val_test_split(np.arange(n), val=0, test=frac, seed=0)
            assert (len(ours[0]), len(ours[2])) == (len(tr), len(te))


def test_split_reproducible_and_shuffle_false():
    x = np.arange(50)
    a = train_val_test_split(x, seed=3)
    b = train_val_test_split(x, seed=3)
    c = train_val_test_split(x, seed=4)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    lamina.manual_seed(1)
    d = train_val_test_split(x)
    lamina.manual_seed(1)
    e = train_val_test_split(x)
    assert all(np.array_equal(u, v) for u, v in zip(d, e))
    tr, va, te = train_val_test_split(x, val=5, test=10, shuffle=False)
    assert tr.tolist() == list(range(35)) and va.tolist() == list(range(35, 40))
    assert te.tolist() == list(range(40, 50))


def test_split_dataset_gives_subsets():
    tr, va, te = train_val_test_split(Range(20), val=0.25, test=0.25, seed=0)
    assert all(isinstance(s, Subset) for s in (tr, va, te))
    assert (len(tr), len(va), len(te)) == (10, 5, 5)
    _partition([np.array([s[i] for i in range(len(s))]) for s in (tr, va, te)], 20)


def test_split_lists():
    names = [f"s{i}" for i in range(10)]
    tr, va, te = train_val_test_split(names, val=2, test=2, seed=0)
    assert isinstance(tr, list) and sorted(tr + va + te) == sorted(names)


def test_stratified_split_keeps_proportions():
    r = np.random.default_rng(0)
    y = r.permutation(np.repeat([0, 1, 2], [60, 30, 10]))
    x = np.arange(100)
    x_tr, x_va, x_te, y_tr, y_va, y_te = train_val_test_split(x, y, val=0.2, test=0.3,
                                                              seed=0, stratify=y)
    assert (len(y_tr), len(y_va), len(y_te)) == (50, 20, 30)
    np.testing.assert_array_equal(y[x_tr], y_tr)
    for part, size in ((y_tr, 50), (y_va, 20), (y_te, 30)):
        counts = np.bincount(part, minlength=3)
        np.testing.assert_allclose(counts, np.array([0.6, 0.3, 0.1]) * size, atol=1)
    _partition([x_tr, x_va, x_te], 100)
    # stratification works from a tensor of labels too, and without shuffling
    parts = train_val_test_split(x, val=0.2, test=0.3, shuffle=False,
                                 stratify=lamina.tensor(y))
    assert [len(p) for p in parts] == [50, 20, 30]
    _partition(parts, 100)


def test_split_errors():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        train_val_test_split(np.arange(5), np.arange(6))
    with pytest.raises(ValueError, match="training part would have"):
        train_val_test_split(np.arange(10), val=0.5, test=0.5)
    with pytest.raises(ValueError, match="fraction"):
        train_val_test_split(np.arange(10), test=1.5)
    with pytest.raises(ValueError, match="between 0 and"):
        train_val_test_split(np.arange(10), test=11)
    with pytest.raises(ValueError, match="either seed or generator"):
        train_val_test_split(np.arange(10), seed=0, generator=lamina.Generator(0))


# --- k-fold --------------------------------------------------------------------------------

def _check_folds(folds, n, k):
    assert len(folds) == k
    counts = np.zeros(n, int)
    for tr, va in folds:
        assert tr.dtype == np.int64 and va.dtype == np.int64
        assert len(np.intersect1d(tr, va)) == 0
        assert len(tr) + len(va) == n
        counts[va] += 1
    assert np.all(counts == 1)  # each sample validates exactly once
    sizes = sorted(len(va) for _, va in folds)
    assert sizes[-1] - sizes[0] <= 1


@pytest.mark.parametrize("n, k", [(10, 2), (10, 3), (23, 5), (7, 7)])
def test_kfold_matches_sklearn(n, k):
    ms = pytest.importorskip("sklearn.model_selection")
    ours = list(kfold_indices(n, k))
    _check_folds(ours, n, k)
    theirs = list(ms.KFold(k).split(np.zeros(n)))
    for (a, b), (c, d) in zip(ours, theirs):  # unshuffled folds are identical
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    shuffled = list(kfold_indices(n, k, shuffle=True, seed=0))
    _check_folds(shuffled, n, k)
    sk_shuffled = list(ms.KFold(k, shuffle=True, random_state=0).split(np.zeros(n)))
    assert [len(v) for _, v in shuffled] == [len(v) for _, v in sk_shuffled]


def test_kfold_shuffle_reproducible():
    a = [v.tolist() for _, v in kfold_indices(30, 4, shuffle=True, seed=1)]
    b = [v.tolist() for _, v in kfold_indices(30, 4, shuffle=True, seed=1)]
    c = [v.tolist() for _, v in kfold_indices(30, 4, shuffle=True, seed=2)]
    assert a == b != c
    assert a != [v.tolist() for _, v in kfold_indices(30, 4)]


@pytest.mark.filterwarnings("ignore:.*least populated class")
def test_stratified_kfold_matches_sklearn():
    ms = pytest.importorskip("sklearn.model_selection")
    r = np.random.default_rng(0)
    for labels in (r.permutation(np.repeat([2, 0, 1], [30, 17, 8])),
                   np.array(["b", "a", "b", "c", "a", "b", "c", "a", "b", "b", "c", "a"])):
        n, k = len(labels), 4
        ours = list(stratified_kfold_indices(labels, k))
        _check_folds(ours, n, k)
        theirs = list(ms.StratifiedKFold(k).split(np.zeros(n), labels))
        for (a, b), (c, d) in zip(ours, theirs):
            np.testing.assert_array_equal(a, c)
            np.testing.assert_array_equal(b, d)
        shuffled = list(stratified_kfold_indices(lamina.tensor(np.unique(
            labels, return_inverse=True)[1]), k, shuffle=True, seed=0))
        _check_folds(shuffled, n, k)
        classes = np.unique(labels)
        total = np.array([(labels == c).sum() for c in classes])
        sk_shuffled = list(ms.StratifiedKFold(k, shuffle=True, random_state=0).split(
            np.zeros(n), labels))
        for (_, va), (_, sk_va) in zip(shuffled, sk_shuffled):
            per_class = np.array([(labels[va] == c).sum() for c in classes])
            assert np.all(np.abs(per_class - total / k) < 1)  # proportions kept
            assert len(va) == len(sk_va)


def test_kfold_errors():
    with pytest.raises(ValueError, match="at least 2"):
        list(kfold_indices(10, 1))
    with pytest.raises(ValueError, match="greater than the number of samples"):
        list(kfold_indices(3, 4))
    with pytest.raises(ValueError, match="number of members in each class"):
        list(stratified_kfold_indices([0, 0, 1, 1], 3))
    with pytest.warns(UserWarning, match="least populated class"):
        list(stratified_kfold_indices([0, 0, 0, 1, 1, 1, 2, 2], 3))
    with pytest.raises(ValueError, match="1-D"):
        list(stratified_kfold_indices(np.zeros((4, 2)), 2))


def test_kfold_accepts_sized_objects():
    a = [v.tolist() for _, v in kfold_indices(np.zeros((9, 2)), 3)]
    assert a == [v.tolist() for _, v in kfold_indices(9, 3)]
    assert len(list(kfold_indices(Range(6), 2))) == 2
