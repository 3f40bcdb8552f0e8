"""``torch.utils.data.dataloader``'s path for ``lamina.data.dataloader``."""

from lamina.data.dataloader import DataLoader, default_collate, default_convert
from lamina.data.worker import WorkerInfo, get_worker_info

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info", "WorkerInfo"]
