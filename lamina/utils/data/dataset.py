"""``torch.utils.data.dataset``'s path for ``lamina.data.dataset``'s classes."""

from lamina.data.dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split"]
