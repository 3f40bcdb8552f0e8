"""``torch.utils.data``'s names for ``lamina.data``: the same objects, under PyTorch's path.

``from torch.utils.data import DataLoader, TensorDataset`` ports as
``from lamina.utils.data import DataLoader, TensorDataset``; the submodules
``lamina.utils.data.dataset``, ``.dataloader`` and ``.sampler`` mirror PyTorch's too.
``lamina.data`` remains the primary home (it also holds the preprocessing, splitting and
dataset tools PyTorch keeps elsewhere); ``IterableDataset`` and the worker utilities are not
provided. ``DistributedSampler`` is here and at ``lamina.utils.data.distributed``.

>>> import lamina.utils.data as data
>>> data.DataLoader is lamina.data.DataLoader
True
"""

from lamina.data.dataloader import DataLoader, default_collate, default_convert
from lamina.data.dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from lamina.data.sampler import (
    BatchSampler,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from lamina.utils.data import dataloader, dataset, distributed, sampler

__all__ = [
    "Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
    "DataLoader", "default_collate", "default_convert",
    "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
    "WeightedRandomSampler", "BatchSampler", "DistributedSampler",
    "dataloader", "dataset", "distributed", "sampler",
]
