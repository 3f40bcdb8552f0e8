"""``torch.utils.data.dataset``'s path for ``lamina.data.dataset``'s classes."""

from lamina.data.dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset",
           "random_split", "ChainDataset"]
