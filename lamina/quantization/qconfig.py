"""Which scheme quantizes the weights: PyTorch's ``default_dynamic_qconfig`` (one symmetric
scale per tensor) and ``per_channel_dynamic_qconfig`` (one per output channel, axis 0).
Activations are always quantized dynamically to per-tensor affine uint8."""

from __future__ import annotations

from typing import NamedTuple


class QConfig(NamedTuple):
    """``weight``: ``"per_tensor_symmetric"`` or ``"per_channel_symmetric"``;
    ``reduce_range``: quantize activations to 7 bits (``[0, 127]``), as fbgemm's dynamic
    Linear does by default (see ``schemes.max_accumulation_length``)."""

    weight: str = "per_tensor_symmetric"
    reduce_range: bool = True


default_dynamic_qconfig = QConfig("per_tensor_symmetric")
per_channel_dynamic_qconfig = QConfig("per_channel_symmetric")
