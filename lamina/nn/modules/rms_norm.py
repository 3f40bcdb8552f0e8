"""Old home of ``RMSNorm``, which lives in ``lamina.nn.modules.normalization`` (PyTorch's
path); re-exported here so older imports and saved files keep working."""

from lamina.nn.modules.normalization import RMSNorm  # noqa: F401

__all__ = ["RMSNorm"]
