"""Static (calibrated) activation ranges: ``quantize_static(model, calibration_batches)``.

Dynamic quantization measures every batch's min and max at run time. Static quantization
measures them once, on calibration data, with PyTorch's ``MinMaxObserver``
(``per_tensor_affine`` uint8, ``reduce_range=True`` as fbgemm's default qconfig) and then
uses those fixed parameters for every batch (inputs outside the range are clamped)::

    scale = max((max(x_max, 0) - min(x_min, 0)) / (qmax - qmin), eps_float32)   (float32)
    zp    = clamp(qmin - round(min(x_min, 0) / scale), qmin, qmax)

Where lamina differs on purpose: PyTorch's static ``convert`` also requantizes each layer's
*output* to uint8 and runs the whole graph on quantized tensors (with ``QuantStub`` and
``DeQuantStub``); lamina's static layers, like its dynamic ones, return float outputs, so
only the quantized layers' inputs and weights are integers and no stubs are needed.
"""

from __future__ import annotations

import copy

import numpy as np

from lamina.autograd import no_grad
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn.module import Module
from lamina.quantization.modules import DynamicQuantizedConv2d, DynamicQuantizedLinear
from lamina.quantization.quantize import DEFAULT_MAPPING, quantize_dynamic
from lamina.quantization.schemes import quantize_activation
from lamina.tensor import Tensor, _make

__all__ = ["calibrated_qparams", "quantize_static", "StaticQuantizedLinear",
           "StaticQuantizedConv2d"]

_EPS32 = np.float32(np.finfo(np.float32).eps)


def calibrated_qparams(x_min: float, x_max: float, reduce_range: bool = True) -> tuple[float, int]:
    """``(scale, zero_point)`` of ``MinMaxObserver(dtype=quint8, qscheme=per_tensor_affine,
    reduce_range=...)`` after it has seen values in ``[x_min, x_max]``."""
    op = "calibrated_qparams"
    if not (np.isfinite(x_min) and np.isfinite(x_max)) or x_min > x_max:
        raise LaminaValueError(f"{op}: expected finite x_min <= x_max, got {x_min}, {x_max}")
    qmin, qmax = (0, 127) if reduce_range else (0, 255)
    lo = np.minimum(np.float32(x_min), np.float32(0))
    hi = np.maximum(np.float32(x_max), np.float32(0))
    scale = np.maximum((hi - lo) / np.float32(qmax - qmin), _EPS32)
    zp = qmin - int(np.rint(lo / scale))
    return float(scale), int(min(max(zp, qmin), qmax))


class _Static:
    """Fixed activation qparams instead of per-batch ones."""

    def _quantize_input(self, x: np.ndarray):
        if x.size and not np.all(np.isfinite(x)):
            raise LaminaValueError(f"{type(self).__name__}: the input has non-finite values")
        scale, zp = self.act_scale, self.act_zero_point
        q = quantize_activation(x, scale, zp)
        qmax = 127 if self.reduce_range else 255     # the observer's range
        return np.minimum(q, qmax).astype(np.uint8), scale, zp

    def extra_repr(self) -> str:
        return (super().extra_repr() + f", act_scale={self.act_scale:.6g}, "
                f"act_zero_point={self.act_zero_point}")


class StaticQuantizedLinear(_Static, DynamicQuantizedLinear):
    """``DynamicQuantizedLinear`` with calibrated (fixed) input qparams."""


class StaticQuantizedConv2d(_Static, DynamicQuantizedConv2d):
    """``DynamicQuantizedConv2d`` with calibrated (fixed) input qparams."""


_STATIC = {DynamicQuantizedLinear: StaticQuantizedLinear,
           DynamicQuantizedConv2d: StaticQuantizedConv2d}


def quantize_static(model: Module, calibration_data, qconfig_spec=None,
                    inplace: bool = False) -> Module:
    """Quantize the layers in ``qconfig_spec`` (as ``quantize_dynamic``) with activation
    ranges calibrated on ``calibration_data``: an iterable of input batches (tensors or
    arrays), or of ``(inputs..., target)`` tuples whose first element is used. The model runs
    on them in eval mode, without gradients; forward pre-hooks record each layer's input
    min and max."""
    op = "quantize_static"
    if not isinstance(model, Module):
        raise LaminaTypeError(f"{op}: model must be an nn.Module, got {type(model).__name__}")
    if not inplace:
        model = copy.deepcopy(model)
    targets = quantize_dynamic(model, qconfig_spec, inplace=False)
    chosen = {name for name, m in targets.named_modules() if type(m) in _STATIC}
    ranges: dict[str, list[float]] = {}
    handles = []
    for name, m in model.named_modules():
        if name in chosen and type(m) in DEFAULT_MAPPING:
            def hook(mod, args, name=name):
                a = np.asarray(args[0]._data)
                r = ranges.setdefault(name, [np.inf, -np.inf])
                r[0], r[1] = min(r[0], float(a.min())), max(r[1], float(a.max()))
            handles.append(m.register_forward_pre_hook(hook))
    was = model.training
    model.eval()
    n = 0
    try:
        with no_grad():
            for batch in calibration_data:
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                model(x if isinstance(x, Tensor) else _make(np.asarray(x)))
                n += 1
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    if n == 0:
        raise LaminaValueError(f"{op}: calibration_data gave no batches")
    for name in chosen:
        if name not in ranges:
            raise LaminaValueError(f"{op}: layer {name!r} did not run on the calibration data")
    out = quantize_dynamic(model, qconfig_spec, inplace=True)
    for name, m in list(out.named_modules()):
        if name in chosen:
            m.__class__ = _STATIC[type(m)]
            m.act_scale, m.act_zero_point = calibrated_qparams(*ranges[name], m.reduce_range)
    return out
