"""The two quantization rules, in PyTorch's (fbgemm's) float32 arithmetic.

Weights: symmetric int8, zero point 0 (``MinMaxObserver`` with ``per_tensor_symmetric``, or
``PerChannelMinMaxObserver`` with ``per_channel_symmetric`` over axis 0)::

    scale = max(max(|min(w)|, max(w)) / 127.5, eps_float32)      (in float32)
    w_q   = clamp(rint(w * float32(1 / scale)), -128, 127)      (half to even)

Activations: per-tensor affine uint8 from the batch's min and max (fbgemm's
``ChooseQuantizationParams``; ``reduce_range`` halves the range to ``[0, 127]``)::

    scale = (max(x_max, 0) - min(x_min, 0)) / (qmax - qmin)
    zp    = the rounded zero point whose end of the range loses less, clamped to the range
    x_q   = clamp(rint(x * float32(1 / scale)) + zp, 0, 255)

Why ``reduce_range``: fbgemm's AVX2 kernel multiplies uint8 by int8 with ``vpmaddubsw``,
which sums *pairs* of products into int16; ``2 * 255 * 128`` overflows int16, ``2 * 127 *
128`` does not. lamina accumulates in int32 (NumPy ``int32`` matmul), where a dot product of
length ``K`` is safe while ``K * max|x_q - zp| * 128 < 2**31`` (``max_accumulation_length``).
"""

from __future__ import annotations

import numpy as np

from lamina.errors import LaminaTypeError, LaminaValueError

_EPS32 = np.float32(np.finfo(np.float32).eps)
_SMALL_SCALE = 6.1e-5          # fbgemm's SMALL_SCALE_THRESHOLD
_SCHEMES = ("per_tensor_symmetric", "per_channel_symmetric")


def quantize_weight(weight, scheme: str = "per_tensor_symmetric", axis: int = 0):
    """Symmetric int8 quantization of a weight array.

    Args:
        weight: a floating NumPy array (or lamina Tensor), e.g. a Linear's (out, in) weight.
        scheme: ``"per_tensor_symmetric"`` (one scale) or ``"per_channel_symmetric"`` (one
            scale per index of ``axis``).
        axis: the channel axis for per-channel scales (PyTorch's ``ch_axis``, 0).

    Returns:
        ``(w_q, scale)``: int8 array of ``weight``'s shape and float32 scale(s) (a 0-d array,
        or shape ``(weight.shape[axis],)``); ``weight ~ scale * w_q`` (scale broadcast over
        ``axis``).

    >>> w_q, s = quantize_weight(np.array([[0.5, -1.0]], np.float32))
    >>> w_q, float(s)
    (array([[ 64, -128]], dtype=int8), 0.00784313...)
    """
    op = "quantize_weight"
    w = np.asarray(getattr(weight, "data", weight))
    if w.dtype.kind != "f":
        raise LaminaTypeError(f"{op}: expected a floating-point weight, got dtype {w.dtype}")
    if scheme not in _SCHEMES:
        raise LaminaValueError(f"{op}: scheme must be one of {_SCHEMES}, got {scheme!r}")
    if w.size == 0:
        raise LaminaValueError(f"{op}: expected a non-empty weight, got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise LaminaValueError(f"{op}: the weight has non-finite values")
    w = w.astype(np.float32)
    if scheme == "per_tensor_symmetric":
        lo, hi = np.float32(min(w.min(), 0)), np.float32(max(w.max(), 0))
        scale = np.maximum(np.maximum(-lo, hi) / np.float32(127.5), _EPS32)
        inv = np.float32(1.0) / scale
        q = np.rint(w * inv)
        return np.clip(q, -128, 127).astype(np.int8), np.asarray(scale, np.float32)
    if not isinstance(axis, int) or not -w.ndim <= axis < w.ndim:
        raise LaminaValueError(f"{op}: axis must be an int in [{-w.ndim}, {w.ndim}), got {axis!r}")
    axis %= w.ndim
    other = tuple(i for i in range(w.ndim) if i != axis)
    lo = np.minimum(w.min(axis=other), np.float32(0)) if other else np.minimum(w, 0)
    hi = np.maximum(w.max(axis=other), np.float32(0)) if other else np.maximum(w, 0)
    scale = np.maximum(np.maximum(-lo, hi) / np.float32(127.5), _EPS32).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    inv = (np.float32(1.0) / scale).reshape(shape)
    q = np.rint(w * inv)
    return np.clip(q, -128, 127).astype(np.int8), scale


def choose_activation_qparams(x_min: float, x_max: float,
                              reduce_range: bool = True) -> tuple[float, int]:
    """``(scale, zero_point)`` of per-tensor affine uint8 for values in ``[x_min, x_max]``,
    as fbgemm's ``ChooseQuantizationParams(x_min, x_max, 0, 255, reduce_range=...)``.
    The range always includes 0, so that 0 is exactly representable."""
    op = "choose_activation_qparams"
    x_min, x_max = float(x_min), float(x_max)
    if not (np.isfinite(x_min) and np.isfinite(x_max)) or x_min > x_max:
        raise LaminaValueError(f"{op}: expected finite x_min <= x_max, got {x_min}, {x_max}")
    qmin, qmax = (0, 127) if reduce_range else (0, 255)
    lo, hi = float(np.float32(min(x_min, 0.0))), float(np.float32(max(x_max, 0.0)))
    scale = (hi - lo) / (qmax - qmin)
    if np.float32(scale) == 0 or np.isinf(np.float32(1.0) / np.float32(scale)):
        scale = 0.1
    if scale < _SMALL_SCALE:
        amp = _SMALL_SCALE / scale
        scale = _SMALL_SCALE
        if lo == 0.0:
            hi = _SMALL_SCALE * (qmax - qmin)
        elif hi == 0.0:
            lo = -_SMALL_SCALE * (qmax - qmin)
        else:
            lo, hi = lo * amp, hi * amp
    zp_from_min = qmin - lo / scale
    zp_from_max = qmax - hi / scale
    err_min = abs(qmin) - abs(lo / scale)
    err_max = abs(qmax) - abs(hi / scale)
    zp0 = zp_from_min if err_min < err_max else zp_from_max
    zp = qmin if zp0 < qmin else qmax if zp0 > qmax else int(np.rint(zp0))
    return float(np.float32(scale)), int(zp)


def quantize_activation(x, scale: float, zero_point: int) -> np.ndarray:
    """``clamp(rint(x * float32(1 / scale)) + zero_point, 0, 255)`` as uint8."""
    x = np.asarray(getattr(x, "data", x), dtype=np.float32)
    inv = np.float32(1.0) / np.float32(scale)
    return np.clip(np.rint(x * inv) + zero_point, 0, 255).astype(np.uint8)


def max_accumulation_length(reduce_range: bool = True) -> int:
    """The longest dot product (``in_features``, or ``C * kh * kw`` for a convolution) whose
    int32 accumulator cannot overflow: ``K * max|x_q - zp| * 128 <= 2**31 - 1``, with
    ``max|x_q - zp|`` at most 128 with ``reduce_range`` (127 plus a rounding step) and 255
    without."""
    amax = 128 if reduce_range else 255
    return (2**31 - 1) // (amax * 128)
