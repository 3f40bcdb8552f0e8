"""Post-training dynamic quantization to int8, with ``torch.ao.quantization``'s names and
arithmetic.

``quantize_dynamic(model, {nn.Linear}, dtype=lamina.qint8)`` returns a copy of ``model`` in
which every ``nn.Linear`` (and, when asked, ``nn.Conv2d``) is replaced by a module that holds
int8 weights with symmetric scales (``w ~ scale * w_q``, zero point 0), computed as PyTorch's
``MinMaxObserver`` / ``PerChannelMinMaxObserver`` compute them. At run time the module
quantizes its input *dynamically* (per-tensor affine uint8 from the batch's own min and max,
as fbgemm's dynamic Linear does), multiplies the integers with an int32 accumulator and
rescales:

    y = x_scale * w_scale * (x_q - x_zp) @ w_q.T + bias

* ``qint8`` / ``quint8``: dtype markers (``lamina.qint8`` like ``torch.qint8``);
* ``default_dynamic_qconfig`` (per-tensor weights) and ``per_channel_dynamic_qconfig``;
* ``quantize_weight`` and ``choose_activation_qparams``: the two quantization rules;
* ``DynamicQuantizedLinear``, ``DynamicQuantizedConv2d``: the quantized modules;
* ``model_size`` and ``size_report``: bytes of parameters and buffers before and after;
* ``quantize_static(model, calibration_batches)``: the same layers with activation ranges
  fixed on calibration data (``MinMaxObserver``'s parameters; see ``static.py``).

>>> qmodel = quantize_dynamic(model, {nn.Linear}, dtype=lamina.qint8)
>>> size_report(model, qmodel)
{'before_bytes': 1069080, 'after_bytes': 268464, 'ratio': 3.98}
"""

from lamina.quantization.dtypes import QDtype, qint8, quint8
from lamina.quantization.modules import DynamicQuantizedConv2d, DynamicQuantizedLinear
from lamina.quantization.qconfig import (
    QConfig,
    default_dynamic_qconfig,
    per_channel_dynamic_qconfig,
)
from lamina.quantization.quantize import model_size, quantize_dynamic, size_report
from lamina.quantization.schemes import (
    choose_activation_qparams,
    max_accumulation_length,
    quantize_activation,
    quantize_weight,
)
from lamina.quantization.static import (
    StaticQuantizedConv2d,
    StaticQuantizedLinear,
    calibrated_qparams,
    quantize_static,
)

__all__ = ["QDtype", "qint8", "quint8", "QConfig", "default_dynamic_qconfig",
           "per_channel_dynamic_qconfig", "quantize_dynamic", "model_size", "size_report",
           "DynamicQuantizedLinear", "DynamicQuantizedConv2d", "quantize_weight",
           "choose_activation_qparams", "quantize_activation", "max_accumulation_length",
           "quantize_static", "calibrated_qparams", "StaticQuantizedLinear",
           "StaticQuantizedConv2d"]
