"""``torch.utils.data``'s names for ``lamina.data``: the same objects, under PyTorch's path.

``from torch.utils.data import DataLoader, TensorDataset`` ports as
``from lamina.utils.data import DataLoader, TensorDataset``; the submodules
``lamina.utils.data.dataset``, ``.dataloader`` and ``.sampler`` mirror PyTorch's too.
``lamina.data`` remains the primary home (it also holds the preprocessing, splitting and
dataset tools PyTorch keeps elsewhere). ``IterableDataset``, ``get_worker_info`` and worker
processes (``num_workers``) are here, and ``DistributedSampler`` (also at
``lamina.utils.data.distributed``).

>>> import lamina.utils.data as data
>>> data.DataLoader is lamina.data.DataLoader
True
"""

from lamina.data.dataloader import DataLoader, default_collate, default_convert
from lamina.data.dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)
from lamina.data.sampler import (
    BatchSampler,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from lamina.data.worker import WorkerInfo, get_worker_info
from lamina.utils.data import dataloader, dataset, distributed, sampler

__all__ = [
    "Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
    "ChainDataset",
    "DataLoader", "default_collate", "default_convert", "get_worker_info", "WorkerInfo",
    "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
    "WeightedRandomSampler", "BatchSampler", "DistributedSampler",
    "dataloader", "dataset", "distributed", "sampler",
]
