"""``torch.utils.data.dataloader``'s path for ``lamina.data.dataloader``."""

from lamina.data.dataloader import DataLoader, default_collate, default_convert

__all__ = ["DataLoader", "default_collate", "default_convert"]
