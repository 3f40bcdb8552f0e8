"""``lamina.utils.data``: ``torch.utils.data``-style imports give ``lamina.data``'s objects."""

from __future__ import annotations

import importlib
import subprocess
import sys

import numpy as np

import lamina
import lamina.data
from tests.helpers import requires_torch, torch

NAMES = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader",
         "default_collate", "default_convert", "Sampler", "SequentialSampler",
         "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler"]


def test_from_import_gives_the_same_objects():
    from lamina.utils.data import (  # noqa: F401 - the import itself is the test
        BatchSampler,
        ConcatDataset,
        DataLoader,
        Dataset,
        RandomSampler,
        Sampler,
        SequentialSampler,
        Subset,
        SubsetRandomSampler,
        TensorDataset,
        WeightedRandomSampler,
        random_split,
    )
    assert DataLoader is lamina.data.DataLoader and Dataset is lamina.data.Dataset
    assert random_split is lamina.data.random_split and Sampler is lamina.data.Sampler
    mod = importlib.import_module("lamina.utils.data")
    for name in NAMES:
        assert getattr(mod, name) is getattr(lamina.data, name), name
    assert set(NAMES) <= set(mod.__all__)


def test_attribute_paths_and_submodules():
    import lamina.utils.data as data

    assert lamina.utils.data is data                      # as torch.utils.data
    from lamina.utils.data.dataloader import DataLoader, default_collate
    from lamina.utils.data.dataset import Dataset, Subset, TensorDataset
    from lamina.utils.data.sampler import BatchSampler, SubsetRandomSampler
    assert DataLoader is lamina.data.DataLoader and default_collate is lamina.data.default_collate
    assert (Dataset, Subset, TensorDataset) == (lamina.data.Dataset, lamina.data.Subset,
                                                lamina.data.TensorDataset)
    assert BatchSampler is lamina.data.BatchSampler
    assert SubsetRandomSampler is lamina.data.SubsetRandomSampler


def test_import_lamina_as_torch_reaches_utils_data():
    # a fresh interpreter: ``import lamina`` alone makes ``lamina.utils.data`` reachable
    code = ("import lamina as torch; from lamina.data import DataLoader; "
            "assert torch.utils.data.DataLoader is DataLoader")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=_repo_root())


def _repo_root():
    import pathlib
    return str(pathlib.Path(lamina.__file__).resolve().parent.parent)


@requires_torch
def test_a_pytorch_snippet_ports_by_changing_the_import():
    def run(lib, data):
        class Squares(data.Dataset):
            def __init__(self, n):
                self.n = n

            def __len__(self):
                return self.n

            def __getitem__(self, i):
                return lib.tensor([float(i)]), i * i

        ds = data.ConcatDataset([Squares(10), Squares(4)])
        sub = data.Subset(ds, list(range(2, 14)))
        loader = data.DataLoader(sub, batch_size=5, sampler=data.SequentialSampler(sub))
        return [yb.tolist() for _, yb in loader], len(loader)

    import torch.utils.data as tdata

    import lamina.utils.data as ldata
    ours, theirs = run(lamina, ldata), run(torch, tdata)
    assert ours == theirs
    np.testing.assert_array_equal(ours[0][0], [4, 9, 16, 25, 36])
