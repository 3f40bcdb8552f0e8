"""``SyncBatchNorm`` lives at PyTorch's path, ``lamina.nn.modules.batchnorm``; this module keeps
the older import working."""

from lamina.nn.modules.batchnorm import SyncBatchNorm

__all__ = ["SyncBatchNorm"]
