"""``torch.utils.data.distributed``'s path for ``lamina.data.DistributedSampler``."""

from lamina.data.sampler import DistributedSampler

__all__ = ["DistributedSampler"]
