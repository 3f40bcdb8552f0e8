"""Dynamically quantized Linear and Conv2d: int8 weights, uint8 activations chosen per batch,
int32 products, float output. Inference only: the output records no gradient."""

from __future__ import annotations

import numpy as np

from lamina import nn
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn.module import Module
from lamina.quantization.qconfig import QConfig, default_dynamic_qconfig
from lamina.quantization.schemes import (
    choose_activation_qparams,
    max_accumulation_length,
    quantize_activation,
    quantize_weight,
)
from lamina.tensor import Tensor, _make


def _int_matmul(x_q: np.ndarray, zp: int, w_q: np.ndarray) -> np.ndarray:
    """``(x_q - zp) @ w_q.T`` in int32 (the caller has checked the length bound)."""
    return np.matmul(x_q.astype(np.int32) - np.int32(zp), w_q.astype(np.int32).T)


class _DynamicQuantized(Module):
    """Shared storage: ``weight_int8`` (int8), ``weight_scale`` (float32, 0-d or per output
    channel) and ``bias`` (float32) as buffers, so ``state_dict`` and ``model_size`` see
    them."""

    def _quantize_from(self, float_mod, qconfig: QConfig, k: int, name: str) -> None:
        if not isinstance(qconfig, QConfig):
            raise LaminaTypeError(f"{name}: qconfig must be a lamina.quantization.QConfig, got "
                                  f"{type(qconfig).__name__}")
        limit = max_accumulation_length(qconfig.reduce_range)
        if k > limit:
            raise LaminaValueError(f"{name}: dot products of length {k} could overflow the int32 "
                                   f"accumulator; expected at most {limit}")
        self.qconfig = qconfig
        self.reduce_range = qconfig.reduce_range
        w = float_mod.weight._data
        self.float_dtype = w.dtype
        w_q, scale = quantize_weight(w, qconfig.weight, axis=0)
        self.register_buffer("weight_int8", _make(w_q))
        self.register_buffer("weight_scale", _make(np.asarray(scale, np.float32)))
        b = float_mod.bias
        self.register_buffer("bias", None if b is None else
                             _make(b._data.astype(np.float32)))

    def _rescale(self, acc: np.ndarray, x_scale: float) -> np.ndarray:
        """``x_scale * w_scale * acc + bias`` over the last axis (output channels)."""
        out = acc.astype(np.float64) * (np.float64(x_scale) *
                                        self.weight_scale._data.astype(np.float64))
        if self.bias is not None:
            out += self.bias._data
        return out

    def _quantize_input(self, x: np.ndarray):
        if x.size == 0:
            return np.zeros(x.shape, np.uint8), 1.0, 0
        if not np.all(np.isfinite(x)):
            raise LaminaValueError(f"{type(self).__name__}: the input has non-finite values")
        scale, zp = choose_activation_qparams(x.min(), x.max(), self.reduce_range)
        return quantize_activation(x, scale, zp), scale, zp

    def dequantized_weight(self) -> np.ndarray:
        """``scale * weight_int8`` as float32: the weight the module effectively uses."""
        s = self.weight_scale._data
        s = s.reshape((-1,) + (1,) * (self.weight_int8.ndim - 1)) if s.ndim else s
        return (self.weight_int8._data.astype(np.float32) * s).astype(np.float32)


class DynamicQuantizedLinear(_DynamicQuantized):
    """``torch.ao.nn.quantized.dynamic.Linear``: ``y = x_s * w_s * ((x_q - zp) @ w_q.T) + b``.

    Build it with ``from_float(linear, qconfig)`` (``quantize_dynamic`` does).
    """

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features

    @classmethod
    def from_float(cls, mod: nn.Linear,
                   qconfig: QConfig = default_dynamic_qconfig) -> DynamicQuantizedLinear:
        if not isinstance(mod, nn.Linear):
            raise LaminaTypeError(f"DynamicQuantizedLinear.from_float: expected an nn.Linear, got "
                                  f"{type(mod).__name__}")
        q = cls(mod.in_features, mod.out_features)
        q._quantize_from(mod, qconfig, mod.in_features, "DynamicQuantizedLinear")
        return q

    def forward(self, input: Tensor) -> Tensor:
        x = np.asarray(getattr(input, "data", input))
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise LaminaValueError(f"DynamicQuantizedLinear: expected an input with last dim "
                                   f"{self.in_features}, got shape {tuple(x.shape)}")
        x_q, scale, zp = self._quantize_input(x)
        acc = _int_matmul(x_q.reshape(-1, self.in_features), zp, self.weight_int8._data)
        out = self._rescale(acc, scale).reshape(*x.shape[:-1], self.out_features)
        return _make(out.astype(self.float_dtype))

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"dtype=lamina.qint8, qscheme={self.qconfig.weight}")


class DynamicQuantizedConv2d(_DynamicQuantized):
    """Conv2d with int8 weights and a dynamically quantized input: im2col (a strided window
    view of the zero-padded uint8 input) then one int32 GEMM. ``groups=1``, zero padding."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.kernel_size, self.stride = conv.kernel_size, conv.stride
        self.padding, self.dilation = conv.padding, conv.dilation

    @classmethod
    def from_float(cls, mod: nn.Conv2d,
                   qconfig: QConfig = default_dynamic_qconfig) -> DynamicQuantizedConv2d:
        name = "DynamicQuantizedConv2d.from_float"
        if not isinstance(mod, nn.Conv2d):
            raise LaminaTypeError(f"{name}: expected an nn.Conv2d, got {type(mod).__name__}")
        if mod.groups != 1 or mod.padding_mode != "zeros" or isinstance(mod.padding, str):
            raise LaminaValueError(f"{name}: supports groups=1, numeric zero padding; got groups="
                                   f"{mod.groups}, padding={mod.padding!r}, padding_mode="
                                   f"{mod.padding_mode!r}")
        q = cls(mod)
        kh, kw = mod.kernel_size
        q._quantize_from(mod, qconfig, mod.in_channels * kh * kw, "DynamicQuantizedConv2d")
        return q

    def forward(self, input: Tensor) -> Tensor:
        x = np.asarray(getattr(input, "data", input))
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise LaminaValueError(f"DynamicQuantizedConv2d: expected input (N, "
                                   f"{self.in_channels}, "
                                   f"H, W), got shape {tuple(x.shape)}")
        x_q, scale, zp = self._quantize_input(x)
        (ph, pw), (sh, sw), (dh, dw) = self.padding, self.stride, self.dilation
        kh, kw = self.kernel_size
        # pad with the zero point: the quantized value of 0.0
        xp = np.pad(x_q, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=zp)
        eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
        if xp.shape[2] < eh or xp.shape[3] < ew:
            raise LaminaValueError(f"DynamicQuantizedConv2d: input {tuple(x.shape)} is smaller "
                                   f"than the kernel {self.kernel_size}")
        win = np.lib.stride_tricks.sliding_window_view(xp, (eh, ew), axis=(2, 3))
        win = win[:, :, ::sh, ::sw, ::dh, ::dw]            # (N, C, OH, OW, kh, kw)
        n, _, oh, ow = win.shape[:4]
        cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, -1)
        acc = _int_matmul(cols, zp, self.weight_int8._data.reshape(self.out_channels, -1))
        out = self._rescale(acc, scale).reshape(n, oh, ow, self.out_channels)
        return _make(np.ascontiguousarray(out.transpose(0, 3, 1, 2))
                             .astype(self.float_dtype))

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dtype=lamina.qint8, "
                f"qscheme={self.qconfig.weight}")
