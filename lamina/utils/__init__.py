"""``lamina.utils``: the home of ``lamina.utils.data``, so ``torch.utils.data`` imports port.

>>> from lamina.utils.data import DataLoader, TensorDataset    # the objects of lamina.data
"""

from lamina.utils import data

__all__ = ["data"]
