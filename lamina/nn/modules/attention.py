"""Old home of ``MultiheadAttention``, which lives in ``lamina.nn.modules.activation``
(PyTorch's path); re-exported here so older imports and saved files keep working."""

from lamina.nn.modules.activation import MultiheadAttention, _float_mask, _pad_last  # noqa: F401

__all__ = ["MultiheadAttention"]
