"""Data handling: datasets, the ``DataLoader``, preprocessing and data splits.

Mirrors ``torch.utils.data`` (``Dataset``, ``TensorDataset``, ``Subset``, ``ConcatDataset``,
``random_split``, ``DataLoader``, ``default_collate``, the samplers) and adds the
preprocessing and splitting tools of a typical course (scalers fitted on training data only,
one-hot encodings, polynomial features, train/validation/test splits and k-fold indices).
"""

from lamina.data import datasets as datasets  # real and synthetic datasets
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
from lamina.data.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    StandardScaler,
    one_hot,
    polynomial_features,
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
from lamina.data.splits import kfold_indices, stratified_kfold_indices, train_val_test_split
from lamina.data.worker import WorkerInfo, get_worker_info

__all__ = [
    "Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
    "ChainDataset",
    "DataLoader", "default_collate", "default_convert", "get_worker_info", "WorkerInfo",
    "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
    "WeightedRandomSampler", "BatchSampler", "DistributedSampler",
    "StandardScaler", "MinMaxScaler", "OneHotEncoder", "one_hot", "polynomial_features",
    "train_val_test_split", "kfold_indices", "stratified_kfold_indices",
]
