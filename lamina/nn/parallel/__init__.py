"""``torch.nn.parallel`` for lamina: ``DistributedDataParallel`` (one process per replica,
over ``lamina.distributed``), and ``SyncBatchNorm`` (also ``lamina.nn.SyncBatchNorm``)."""

from lamina.nn.parallel.distributed import DistributedDataParallel
from lamina.nn.parallel.sync_batchnorm import SyncBatchNorm

__all__ = ["DistributedDataParallel", "SyncBatchNorm"]
