"""Functional forms of ``lamina.vision.transforms``, with torchvision's (v1) definitions.

Every function takes a PIL image or a lamina tensor image of shape ``(..., C, H, W)`` (a
leading batch is allowed where torchvision allows it) and returns the same kind. PIL images
go through Pillow's own operations (``Image.resize``, ``Image.rotate``, ``ImageEnhance``,
``ImageOps.expand``), exactly as torchvision does; tensors go through NumPy code written from
torchvision's tensor kernels (``torch.nn.functional.interpolate`` for resizing,
``grid_sample`` for rotations and affine maps, a reflect-padded convolution for the blur).

lamina's tensors have no uint8 type, so an integer image is an int64 tensor holding 8-bit
values 0..255 (what ``pil_to_tensor`` returns); it is treated as torchvision treats a uint8
one: computed in float32, then rounded (resize, blur, rotate, affine) or truncated (the
colour adjustments) and saturated back to 0..255.

>>> t = to_tensor(pil_image)                 # float32 (C, H, W) in [0, 1]
>>> t = normalize(t, (0.1307,), (0.3081,))
"""

from __future__ import annotations

import math
import numbers
from enum import Enum

import numpy as np

from lamina.data.datasets._common import require
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor, _make

__all__ = [
    "InterpolationMode", "get_dimensions", "get_image_size", "get_image_num_channels",
    "to_tensor", "pil_to_tensor", "to_pil_image", "normalize", "resize", "crop",
    "center_crop", "resized_crop", "hflip", "vflip", "pad", "rotate", "affine",
    "rgb_to_grayscale", "to_grayscale", "adjust_brightness", "adjust_contrast",
    "adjust_saturation", "adjust_hue", "gaussian_blur", "erase",
]


class InterpolationMode(Enum):
    """torchvision's interpolation modes (the values are the names ``interpolate`` uses)."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


# Pillow's filter numbers (``PIL.Image.Resampling``), so PIL need not be imported for them
_PIL_FILTERS = {InterpolationMode.NEAREST: 0, InterpolationMode.LANCZOS: 1,
                InterpolationMode.BILINEAR: 2, InterpolationMode.BICUBIC: 3,
                InterpolationMode.BOX: 4, InterpolationMode.HAMMING: 5}
_PIL_TO_MODE = {v: k for k, v in _PIL_FILTERS.items()}


# --- checks and helpers -----------------------------------------------------------------------

def _pil():
    return require("PIL.Image", "pillow", "lamina.vision.transforms")


def _is_pil(img) -> bool:
    try:
        from PIL import Image
    except ImportError:
        return False
    return isinstance(img, Image.Image)


def _check_image(img, op: str, pil: bool = True) -> None:
    if isinstance(img, Tensor):
        if img.ndim < 2:
            raise LaminaValueError(f"{op}: a tensor image must have shape (..., H, W) with at "
                                   f"least "
                                   f"2 dims, got shape {tuple(img.shape)}")
        return
    if pil and _is_pil(img):
        return
    expected = "a PIL Image or a lamina Tensor" if pil else "a lamina Tensor"
    raise LaminaTypeError(f"{op}: img should be {expected}, got {type(img).__name__}")


def _chw(img, op: str) -> None:
    if img.ndim < 3:
        raise LaminaValueError(f"{op}: expected a tensor image of shape (..., C, H, W), got shape "
                               f"{tuple(img.shape)}")


def _interp(mode, op: str) -> InterpolationMode:
    if isinstance(mode, InterpolationMode):
        return mode
    if isinstance(mode, str):
        try:
            return InterpolationMode(mode)
        except ValueError:
            pass
    elif isinstance(mode, (int, np.integer)) and not isinstance(mode, bool) \
            and int(mode) in _PIL_TO_MODE:
        return _PIL_TO_MODE[int(mode)]
    raise LaminaValueError(f"{op}: interpolation must be an InterpolationMode (or its name), got "
                           f"{mode!r}; expected one of {[m.value for m in InterpolationMode]}")


def _int(v, op: str, name: str, low: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise LaminaTypeError(f"{op}: {name} must be an int, got {type(v).__name__}")
    if low is not None and v < low:
        raise LaminaValueError(f"{op}: {name} must be >= {low}, got {v}")
    return int(v)


def _number(v, op: str, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise LaminaTypeError(f"{op}: {name} must be a number, got {type(v).__name__}")
    if not math.isfinite(v):
        raise LaminaValueError(f"{op}: {name} must be finite, got {v}")
    return float(v)


def _size_pair(size, op: str, name: str = "size") -> tuple[int, int]:
    """An int or a sequence of 1 or 2 ints as ``(h, w)``, each >= 1."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (size, size)
    elif isinstance(size, (list, tuple)) and len(size) == 1:
        size = (size[0], size[0])
    if not isinstance(size, (list, tuple)) or len(size) != 2:
        raise LaminaValueError(f"{op}: {name} must be an int or a sequence of 1 or 2 ints, got "
                               f"{size!r}")
    return tuple(_int(s, op, name, 1) for s in size)


def _wrap(arr: np.ndarray) -> Tensor:
    """A tensor of ``arr`` in a lamina dtype (integers as int64, floats kept as float32 or
    float64)."""
    if arr.dtype.kind in "iu":
        arr = arr.astype(np.int64)
    elif arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    return _make(np.ascontiguousarray(arr))


def _is_float(arr: np.ndarray) -> bool:
    return np.issubdtype(arr.dtype, np.floating)


def _to_float(arr: np.ndarray) -> np.ndarray:
    return arr if _is_float(arr) else arr.astype(np.float32)


def _cast_back(out: np.ndarray, dtype: np.dtype, rounding: bool = True) -> np.ndarray:
    """torchvision's ``_cast_squeeze_out``: integer (8-bit) images are rounded and
    saturated back to 0..255."""
    if np.issubdtype(dtype, np.integer):
        if rounding:
            out = np.round(out)
        return np.clip(out, 0, 255).astype(dtype)
    return out.astype(dtype, copy=False)


def _max_value(dtype) -> float:
    """The value of white: 255 for integer (8-bit) images, 1 for floating ones."""
    return 255.0 if np.issubdtype(dtype, np.integer) else 1.0


def get_dimensions(img) -> list[int]:
    """``[channels, height, width]`` of a PIL image or a tensor image."""
    _check_image(img, "get_dimensions")
    if isinstance(img, Tensor):
        c = img.shape[-3] if img.ndim >= 3 else 1
        return [int(c), int(img.shape[-2]), int(img.shape[-1])]
    return [len(img.getbands()), img.height, img.width]


def get_image_size(img) -> list[int]:
    """``[width, height]`` (torchvision's order)."""
    _, h, w = get_dimensions(img)
    return [w, h]


def get_image_num_channels(img) -> int:
    return get_dimensions(img)[0]


# --- conversion -------------------------------------------------------------------------------

def to_tensor(pic) -> Tensor:
    """A PIL image or an ``(H, W[, C])`` NumPy array as a ``(C, H, W)`` tensor.

    uint8 data (PIL modes ``L``, ``RGB``, ``RGBA``, ..., ``1`` as 0/255) becomes float32
    divided by 255 into ``[0, 1]``; other types keep their values (PIL ``I`` and ``I;16``
    as int64, lamina's integer type, where torchvision gives int32 / int16; ``F`` as
    float32), as torchvision's ``to_tensor``.
    """
    if isinstance(pic, np.ndarray):
        if pic.ndim not in (2, 3):
            raise LaminaValueError(f"to_tensor: a NumPy image must be (H, W) or (H, W, C), got "
                                   f"shape "
                                   f"{pic.shape}")
        arr = (pic[:, :, None] if pic.ndim == 2 else pic).transpose(2, 0, 1)
    elif _is_pil(pic):
        types = {"I": np.int32, "I;16": np.int16, "F": np.float32}
        arr = np.array(pic, types.get(pic.mode, np.uint8), copy=True)
        if pic.mode == "1":
            arr = arr * np.uint8(255)
        arr = arr.reshape(pic.height, pic.width, len(pic.getbands())).transpose(2, 0, 1)
    else:
        raise LaminaTypeError(f"to_tensor: pic should be a PIL Image or a NumPy ndarray, got "
                              f"{type(pic).__name__}")
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / np.float32(255)
    return _wrap(arr)


def pil_to_tensor(pic) -> Tensor:
    """A PIL image as a ``(C, H, W)`` integer tensor, no scaling: 8-bit pixels stay 0..255
    (as int64, lamina's integer type, where torchvision gives uint8); mode ``F`` gives
    float32."""
    if not _is_pil(pic):
        raise LaminaTypeError(f"pil_to_tensor: pic should be a PIL Image, got {type(pic).__name__}")
    arr = np.array(pic, copy=True)
    return _wrap(arr.reshape(pic.height, pic.width, len(pic.getbands())).transpose(2, 0, 1))


_PERMITTED = {2: ("LA",), 3: ("RGB", "YCbCr", "HSV"), 4: ("RGBA", "CMYK", "RGBX")}
_DEFAULT = {2: "LA", 3: "RGB", 4: "RGBA"}


def to_pil_image(pic, mode: str | None = None):
    """A ``(C, H, W)`` tensor or an ``(H, W[, C])`` NumPy array as a PIL image.

    Floating tensors are taken as ``[0, 1]`` and become uint8 by ``x * 255`` truncated
    (torchvision's ``pic.mul(255).byte()``; lamina clips to ``[0, 255]`` first, where torch's
    cast of out-of-range values is undefined). The mode is inferred as torchvision does:
    1 channel: ``L`` (uint8), ``I;16`` (int16), ``I`` (int32), ``F`` (float32); 2: ``LA``;
    3: ``RGB``; 4: ``RGBA``.
    """
    image = _pil()
    if isinstance(pic, Tensor):
        arr = np.asarray(pic._data)
        if arr.ndim not in (2, 3):
            raise LaminaValueError(f"to_pil_image: pic should be 2 or 3 dimensional, got "
                                   f"{arr.ndim} dimensions (shape {arr.shape})")
        if arr.ndim == 3:
            if arr.shape[0] > 4:
                raise LaminaValueError(f"to_pil_image: pic should not have > 4 channels, got "
                                       f"{arr.shape[0]} channels (shape {arr.shape})")
            arr = arr.transpose(1, 2, 0)
        if _is_float(arr) and mode != "F":
            arr = np.clip(arr * 255, 0, 255).astype(np.uint8)
        elif arr.dtype.kind in "iub":
            # lamina's int64 stands for torchvision's uint8: 8-bit values become uint8,
            # wider one-channel values int32 (mode "I")
            if arr.size == 0 or (arr.min() >= 0 and arr.max() <= 255):
                arr = arr.astype(np.uint8)
            elif arr.ndim == 2 or arr.shape[-1] == 1:
                if arr.min() < -2**31 or arr.max() >= 2**31:
                    raise LaminaValueError("to_pil_image: integer values must fit int32 (mode I), "
                                           f"got the range [{arr.min()}, {arr.max()}]")
                arr = arr.astype(np.int32)
            else:
                raise LaminaValueError(f"to_pil_image: an integer image with {arr.shape[-1]} "
                                       "channels must hold 8-bit values 0..255, got the range "
                                       f"[{arr.min()}, {arr.max()}]")
    elif isinstance(pic, np.ndarray):
        arr = pic
        if arr.ndim not in (2, 3):
            raise LaminaValueError(f"to_pil_image: pic should be 2 or 3 dimensional, got "
                                   f"{arr.ndim} dimensions (shape {arr.shape})")
        if arr.ndim == 3 and arr.shape[-1] > 4:
            raise LaminaValueError(f"to_pil_image: pic should not have > 4 channels, got "
                                   f"{arr.shape[-1]} channels (shape {arr.shape})")
    else:
        raise LaminaTypeError(f"to_pil_image: pic should be a lamina Tensor or a NumPy ndarray, "
                              f"got "
                              f"{type(pic).__name__}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    c = arr.shape[-1]
    if c == 1:
        arr = arr[:, :, 0]
        expected = {np.dtype(np.uint8): "L", np.dtype(np.int16): "I;16",
                    np.dtype(np.int32): "I", np.dtype(np.float32): "F"}.get(arr.dtype)
        if mode is not None and mode != expected:
            raise LaminaValueError(f"to_pil_image: incorrect mode ({mode!r}) supplied for input "
                                   f"type "
                                   f"{arr.dtype}; expected {expected!r}")
        mode = expected
    else:
        if mode is not None and mode not in _PERMITTED[c]:
            raise LaminaValueError(f"to_pil_image: only modes {list(_PERMITTED[c])} are supported "
                                   f"for {c}-channel inputs, got {mode!r}")
        if mode is None and arr.dtype == np.uint8:
            mode = _DEFAULT[c]
    if mode is None:
        raise LaminaTypeError(f"to_pil_image: input type {arr.dtype} is not supported with {c} "
                              "channel(s)")
    h, w = arr.shape[:2]
    raw = {"I;16": "<i2", "I": "<i4", "F": "<f4"}.get(mode, "u1")
    return image.frombytes(mode, (w, h), np.ascontiguousarray(arr, dtype=raw).tobytes())


def normalize(tensor: Tensor, mean, std, inplace: bool = False) -> Tensor:
    """``(x - mean[c]) / std[c]`` for each channel ``c`` of a float ``(..., C, H, W)`` tensor.

    Differentiable when ``tensor`` requires grad (lamina ops then), as torchvision's is.

    >>> normalize(to_tensor(img), (0.1307,), (0.3081,))
    """
    if not isinstance(tensor, Tensor):
        raise LaminaTypeError(f"normalize: tensor should be a lamina Tensor, got "
                              f"{type(tensor).__name__}")
    arr = tensor._data
    if not _is_float(arr):
        raise LaminaTypeError(f"normalize: input tensor should be a float tensor, got {arr.dtype}")
    if arr.ndim < 3:
        raise LaminaValueError(f"normalize: expected a tensor image of size (..., C, H, W), got "
                               f"shape {tuple(arr.shape)}")
    m = np.asarray(mean, dtype=arr.dtype).reshape(-1)
    s = np.asarray(std, dtype=arr.dtype).reshape(-1)
    c = arr.shape[-3]
    for name, v in (("mean", m), ("std", s)):
        if v.size not in (1, c):
            raise LaminaValueError(f"normalize: {name} must have 1 or {c} values (the channels), "
                                   f"got {v.size}")
    if (s == 0).any():
        raise LaminaValueError(f"normalize: std evaluated to zero after conversion to {arr.dtype}, "
                               f"leading to division by zero (std={list(std)})")
    if inplace:
        arr -= m[:, None, None]
        arr /= s[:, None, None]
        return tensor
    if tensor.requires_grad:        # inside a model (e.g. under an attack): keep the graph
        return (tensor - _make(m[:, None, None])) / _make(s[:, None, None])
    return _wrap((arr - m[:, None, None]) / s[:, None, None])


# --- resizing ---------------------------------------------------------------------------------

def _output_size(h: int, w: int, size, max_size, op: str) -> tuple[int, int]:
    """torchvision's ``_compute_resized_output_size``."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = [int(size)]
    if not isinstance(size, (list, tuple)) or len(size) not in (1, 2):
        raise LaminaValueError(f"{op}: size must be an int or a sequence of 1 or 2 ints, got "
                               f"{size!r}")
    size = [_int(s, op, "size", 1) for s in size]
    if len(size) == 2:
        if max_size is not None:
            raise LaminaValueError(f"{op}: max_size is only supported with a single int size, got "
                                   f"size={size}")
        return size[0], size[1]
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size[0], int(size[0] * long / short)
    if max_size is not None:
        max_size = _int(max_size, op, "max_size", 1)
        if max_size <= size[0]:
            raise LaminaValueError(f"{op}: max_size = {max_size} must be strictly greater than the "
                                   f"requested size for the smaller edge, size = {size[0]}")
        if new_long > max_size:
            new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if w <= h else (new_short, new_long)


def _cubic(x: np.ndarray, a: float) -> np.ndarray:
    x = np.abs(x)
    return np.where(x < 1, ((a + 2) * x - (a + 3)) * x * x + 1,
                    np.where(x < 2, ((a * x - 5 * a) * x + 8 * a) * x - 4 * a, 0.0))


def _resize_weights(n_in: int, n_out: int, mode: InterpolationMode,
                    antialias: bool) -> np.ndarray:
    """The ``(n_out, n_in)`` matrix of one axis of ``torch.nn.functional.interpolate``
    (``align_corners=False``; the ``antialias=True`` kernels are Pillow's: a triangle or a
    cubic with ``a = -0.5`` stretched by the downscale factor)."""
    scale = n_in / n_out
    W = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    if mode is InterpolationMode.NEAREST:
        # torch computes the nearest index in float32: floor(i * scale)
        src = np.floor(np.float32(rows) * np.float32(scale)).astype(np.int64)
        W[rows, np.minimum(src, n_in - 1)] = 1.0
        return W
    if mode is InterpolationMode.NEAREST_EXACT:
        src = np.floor((rows + 0.5) * scale).astype(np.int64)
        W[rows, np.minimum(src, n_in - 1)] = 1.0
        return W
    if antialias:
        size = 2 if mode is InterpolationMode.BILINEAR else 4
        support = size * 0.5 * scale if scale >= 1 else size * 0.5
        inv = 1.0 / scale if scale >= 1 else 1.0
        for i in range(n_out):
            center = scale * (i + 0.5)
            lo = max(int(center - support + 0.5), 0)
            hi = min(int(center + support + 0.5), n_in)
            x = (np.arange(lo, hi) - center + 0.5) * inv
            w = (np.maximum(1 - np.abs(x), 0) if size == 2 else _cubic(x, -0.5))
            W[i, lo:hi] = w / w.sum() if w.sum() != 0 else w
        return W
    real = scale * (rows + 0.5) - 0.5
    if mode is InterpolationMode.BILINEAR:
        real = np.maximum(real, 0)
        i0 = real.astype(np.int64)
        lam = real - i0
        i1 = np.minimum(i0 + 1, n_in - 1)
        np.add.at(W, (rows, i0), 1 - lam)
        np.add.at(W, (rows, i1), lam)
        return W
    i0 = np.floor(real).astype(np.int64)                  # bicubic, a = -0.75 (torch's)
    t = real - i0
    for k in range(-1, 3):
        np.add.at(W, (rows, np.clip(i0 + k, 0, n_in - 1)), _cubic(t - k, -0.75))
    return W


def _resize_array(arr: np.ndarray, h: int, w: int, mode: InterpolationMode,
                  antialias: bool) -> np.ndarray:
    x = _to_float(arr)
    wh = _resize_weights(arr.shape[-2], h, mode, antialias).astype(x.dtype)
    ww = _resize_weights(arr.shape[-1], w, mode, antialias).astype(x.dtype)
    out = np.matmul(np.matmul(wh, x), ww.T)
    return _cast_back(out, arr.dtype)           # integer images: rounded, clamped to 0..255


def resize(img, size, interpolation=InterpolationMode.BILINEAR, max_size: int | None = None,
           antialias: bool | None = True):
    """Resize to ``size``: ``(h, w)``, or an int that the smaller edge is matched to (the
    other edge ``int(size * long / short)``, capped by ``max_size``).

    PIL images use ``Image.resize`` with Pillow's filter for ``interpolation`` (always
    antialiased). Tensors follow ``torch.nn.functional.interpolate`` (``align_corners=False``),
    with ``antialias`` applying to bilinear and bicubic; integer tensors are rounded back.
    """
    op = "resize"
    _check_image(img, op)
    mode = _interp(interpolation, op)
    _, h, w = get_dimensions(img)
    oh, ow = _output_size(h, w, size, max_size, op)
    if (oh, ow) == (h, w):
        return img
    if _is_pil(img):
        if mode not in _PIL_FILTERS:
            raise LaminaValueError(f"{op}: interpolation {mode.value!r} is not supported for PIL "
                                   f"images; expected one of {[m.value for m in _PIL_FILTERS]}")
        return img.resize((ow, oh), _PIL_FILTERS[mode])
    if mode not in (InterpolationMode.NEAREST, InterpolationMode.NEAREST_EXACT,
                    InterpolationMode.BILINEAR, InterpolationMode.BICUBIC):
        raise LaminaValueError(f"{op}: interpolation {mode.value!r} is not supported for tensors; "
                               "expected nearest, nearest-exact, bilinear or bicubic")
    aa = bool(antialias) and mode in (InterpolationMode.BILINEAR, InterpolationMode.BICUBIC)
    return _wrap(_resize_array(img._data, oh, ow, mode, aa))


# --- geometry: crops, flips, padding --------------------------------------------------------

def _parse_padding(padding, op: str) -> list[int]:
    """torchvision's padding forms as ``[left, top, right, bottom]``."""
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        padding = [int(padding)]
    if isinstance(padding, tuple):
        padding = list(padding)
    if not isinstance(padding, list) or len(padding) not in (1, 2, 4):
        raise LaminaValueError(f"{op}: padding must be an int or a sequence of 1, 2 or 4 ints, got "
                               f"{padding!r}")
    padding = [_int(p, op, "padding") for p in padding]
    if len(padding) == 1:
        return padding * 4
    if len(padding) == 2:
        return [padding[0], padding[1], padding[0], padding[1]]
    return padding


def _pil_fill(fill, img, op: str, key: str) -> dict:
    """torchvision's ``_parse_fill``: the fill as Pillow wants it for ``img``'s bands."""
    if fill is None:
        fill = 0
    bands = len(img.getbands())
    if isinstance(fill, numbers.Real) and not isinstance(fill, bool):
        fill = tuple([fill] * bands) if bands > 1 else fill
    if isinstance(fill, (list, tuple)):
        if len(fill) == 1:
            fill = fill * bands
        if len(fill) != bands:
            raise LaminaValueError(f"{op}: the number of elements in fill ({len(fill)}) does not "
                                   f"match the number of bands of the image ({bands})")
        fill = tuple(fill)
    if img.mode != "F":
        fill = tuple(int(v) for v in fill) if isinstance(fill, tuple) else int(fill)
    return {key: fill}


_PAD_MODES = ("constant", "edge", "reflect", "symmetric")


def pad(img, padding, fill=0, padding_mode: str = "constant"):
    """Pad the borders: ``padding`` an int (all sides), ``(left/right, top/bottom)`` or
    ``(left, top, right, bottom)``; negative values crop. ``padding_mode``: ``constant``
    (with ``fill``: a number, or one per channel), ``edge``, ``reflect`` (without repeating
    the edge) or ``symmetric`` (repeating it), as NumPy's ``np.pad`` modes."""
    op = "pad"
    _check_image(img, op)
    left, top, right, bottom = _parse_padding(padding, op)
    if padding_mode not in _PAD_MODES:
        raise LaminaValueError(f"{op}: padding_mode must be one of {_PAD_MODES}, got "
                               f"{padding_mode!r}")
    if _is_pil(img):
        if min(left, top, right, bottom) < 0:
            img = img.crop((-min(left, 0), -min(top, 0), img.width + min(right, 0),
                            img.height + min(bottom, 0)))
            left, top, right, bottom = (max(v, 0) for v in (left, top, right, bottom))
        if padding_mode == "constant":
            from PIL import ImageOps
            opts = _pil_fill(fill, img, op, "fill")
            return ImageOps.expand(img, border=(left, top, right, bottom), **opts)
        arr = np.asarray(img)
        width = ((top, bottom), (left, right)) + (((0, 0),) if arr.ndim == 3 else ())
        out = np.pad(arr, width, mode=padding_mode)
        return _pil().frombytes(img.mode, (out.shape[1], out.shape[0]),
                                np.ascontiguousarray(out).tobytes())
    arr = img._data
    h, w = arr.shape[-2:]
    arr = arr[..., max(-top, 0):h - max(-bottom, 0), max(-left, 0):w - max(-right, 0)]
    left, top, right, bottom = (max(v, 0) for v in (left, top, right, bottom))
    width = [(0, 0)] * (arr.ndim - 2) + [(top, bottom), (left, right)]
    if padding_mode == "reflect" and (max(top, bottom) >= arr.shape[-2]
                                      or max(left, right) >= arr.shape[-1]):
        raise LaminaValueError(f"{op}: reflect padding must be smaller than the image's side, got "
                               f"padding {[left, top, right, bottom]} for an image of "
                               f"{arr.shape[-2]}x{arr.shape[-1]}")
    if padding_mode != "constant":
        return _wrap(np.pad(arr, width, mode=padding_mode))
    if isinstance(fill, (list, tuple)):
        values = np.asarray(fill, dtype=np.float64).reshape(-1)
        c = arr.shape[-3] if arr.ndim >= 3 else 1
        if values.size not in (1, c):
            raise LaminaValueError(f"{op}: fill must be a number or one value per channel ({c}), "
                                   f"got {len(fill)} values")
        if values.size == 1:
            fill = float(values[0])
        else:
            out = np.empty(arr.shape[:-2] + (arr.shape[-2] + top + bottom,
                                              arr.shape[-1] + left + right), arr.dtype)
            out[...] = values.astype(arr.dtype)[:, None, None]
            out[..., top:top + arr.shape[-2], left:left + arr.shape[-1]] = arr
            return _wrap(out)
    fill = 0 if fill is None else _number(fill, op, "fill")
    return _wrap(np.pad(arr, width, mode="constant", constant_values=np.asarray(fill).astype(
        arr.dtype)))


def crop(img, top: int, left: int, height: int, width: int):
    """The region ``[top, top + height) x [left, left + width)``; parts outside the image
    are zero (PIL's ``Image.crop`` and torchvision's tensor crop)."""
    op = "crop"
    _check_image(img, op)
    top, left = _int(top, op, "top"), _int(left, op, "left")
    height, width = _int(height, op, "height", 0), _int(width, op, "width", 0)
    if _is_pil(img):
        return img.crop((left, top, left + width, top + height))
    _, h, w = get_dimensions(img)
    right, bottom = left + width, top + height
    arr = img._data
    if left < 0 or top < 0 or right > w or bottom > h:
        ltrb = [max(-left + min(0, right), 0), max(-top + min(0, bottom), 0),
                max(right - max(w, left), 0), max(bottom - max(h, top), 0)]
        return pad(_wrap(arr[..., max(top, 0):bottom, max(left, 0):right]), ltrb, fill=0)
    return _wrap(arr[..., top:bottom, left:right])


def center_crop(img, output_size):
    """The centred ``output_size`` crop (top ``round((H - h) / 2)``, Python's rounding);
    an image smaller than the crop is zero-padded first, as torchvision does."""
    op = "center_crop"
    _check_image(img, op)
    ch, cw = _size_pair(output_size, op, "output_size")
    _, h, w = get_dimensions(img)
    if cw > w or ch > h:
        ltrb = [(cw - w) // 2 if cw > w else 0, (ch - h) // 2 if ch > h else 0,
                (cw - w + 1) // 2 if cw > w else 0, (ch - h + 1) // 2 if ch > h else 0]
        img = pad(img, ltrb, fill=0)
        _, h, w = get_dimensions(img)
        if (cw, ch) == (w, h):
            return img
    return crop(img, int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0)), ch, cw)


def resized_crop(img, top: int, left: int, height: int, width: int, size,
                 interpolation=InterpolationMode.BILINEAR, antialias: bool | None = True):
    """``crop`` then ``resize`` (RandomResizedCrop's functional form)."""
    return resize(crop(img, top, left, height, width), size, interpolation,
                  antialias=antialias)


def hflip(img):
    """Mirror left to right."""
    _check_image(img, "hflip")
    if _is_pil(img):
        return img.transpose(0)              # Image.Transpose.FLIP_LEFT_RIGHT
    return _wrap(img._data[..., ::-1])


def vflip(img):
    """Mirror top to bottom."""
    _check_image(img, "vflip")
    if _is_pil(img):
        return img.transpose(1)              # Image.Transpose.FLIP_TOP_BOTTOM
    return _wrap(img._data[..., ::-1, :])


# --- rotation and affine maps -----------------------------------------------------------------

def _inverse_affine_matrix(center, angle: float, translate, scale: float,
                           shear) -> list[float]:
    """torchvision's ``_get_inverse_affine_matrix``: the 2x3 map from output to input pixels
    of ``T * C * R * S * Sh * C^-1`` (translate, centre, rotate-scale, shear)."""
    rot = math.radians(angle)
    sx, sy = math.radians(shear[0]), math.radians(shear[1])
    cx, cy = center
    tx, ty = translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    m = [v / scale for v in (d, -b, 0.0, -c, a, 0.0)]
    m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty) + cx
    m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty) + cy
    return m


def _affine_output_size(m: list[float], w: int, h: int) -> tuple[int, int]:
    """torchvision's ``_compute_affine_output_size``: the ``(w, h)`` that holds the whole
    rotated image (``expand=True``)."""
    pts = np.array([[-0.5 * w, -0.5 * h, 1.0], [-0.5 * w, 0.5 * h, 1.0],
                    [0.5 * w, 0.5 * h, 1.0], [0.5 * w, -0.5 * h, 1.0]], np.float32)
    new = pts @ np.asarray(m, np.float32).reshape(2, 3).T
    lo = new.min(0) + np.array([w * 0.5, h * 0.5], np.float32)
    hi = new.max(0) + np.array([w * 0.5, h * 0.5], np.float32)
    tol = np.float32(1e-4)     # so that a float error of 1e-15 does not ceil to a whole pixel
    size = np.ceil(np.trunc(hi / tol) * tol) - np.floor(np.trunc(lo / tol) * tol)
    return int(size[0]), int(size[1])


def _grid_transform(arr: np.ndarray, m: list[float], ow: int, oh: int,
                    mode: InterpolationMode, fill) -> np.ndarray:
    """Sample ``arr`` (..., C, H, W) at ``m`` applied to the output pixel centres (taken
    relative to the image centre), as torchvision's ``_gen_affine_grid`` and ``grid_sample``
    (zeros outside, ``align_corners=False``), then blend ``fill`` in where the image is
    missing."""
    h, w = arr.shape[-2:]
    x = _to_float(arr)
    xs = np.linspace(-ow * 0.5 + 0.5, ow * 0.5 - 0.5, ow)
    ys = np.linspace(-oh * 0.5 + 0.5, oh * 0.5 - 0.5, oh)
    gx = m[0] * xs[None, :] + m[1] * ys[:, None] + m[2]   # input coordinates, centred
    gy = m[3] * xs[None, :] + m[4] * ys[:, None] + m[5]
    ix, iy = gx + w * 0.5 - 0.5, gy + h * 0.5 - 0.5      # pixel index coordinates

    def gather(yi, xi):
        ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        v = x[..., np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
        return v * ok, ok.astype(x.dtype)

    if mode is InterpolationMode.NEAREST:
        out, mask = gather(np.rint(iy).astype(np.int64), np.rint(ix).astype(np.int64))
    elif mode is InterpolationMode.BILINEAR:
        x0, y0 = np.floor(ix).astype(np.int64), np.floor(iy).astype(np.int64)
        fx, fy = (ix - x0).astype(x.dtype), (iy - y0).astype(x.dtype)
        out = np.zeros(x.shape[:-2] + (oh, ow), x.dtype)
        mask = np.zeros((oh, ow), x.dtype)
        for dy, dx, wt in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                           (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
            v, ok = gather(y0 + dy, x0 + dx)
            out += v * wt
            mask += ok * wt
    else:
        raise LaminaValueError(f"interpolation {mode.value!r} is not supported for tensor "
                               "rotations and affine maps; expected nearest or bilinear")
    if fill is not None:
        c = x.shape[-3] if x.ndim >= 3 else 1
        f = np.asarray(fill, x.dtype).reshape(-1)
        if f.size not in (1, c):
            raise LaminaValueError(f"fill must be a number or one value per channel ({c}), got "
                                   f"{f.size} values")
        f = (f[:, None, None] if x.ndim >= 3 else f.reshape(())) * np.ones_like(out)
        if mode is InterpolationMode.NEAREST:
            out = np.where(mask < 0.5, f, out)
        else:           # torchvision blends the already zero-padded samples with the fill
            out = out * mask + (1 - mask) * f
    return _cast_back(out, arr.dtype)


def _pil_filter(mode: InterpolationMode, op: str) -> int:
    if mode not in (InterpolationMode.NEAREST, InterpolationMode.BILINEAR,
                    InterpolationMode.BICUBIC):
        raise LaminaValueError(f"{op}: interpolation {mode.value!r} is not supported for PIL "
                               "rotations and affine maps; expected nearest, bilinear or bicubic")
    return _PIL_FILTERS[mode]


def _center_shift(center, w: int, h: int, op: str) -> list[float]:
    if center is None:
        return [0.0, 0.0]
    if not isinstance(center, (list, tuple)) or len(center) != 2:
        raise LaminaValueError(f"{op}: center must be a sequence of 2 numbers (x, y), got "
                               f"{center!r}")
    return [_number(c, op, "center") - s * 0.5 for c, s in zip(center, (w, h))]


def _tensor_fill(fill, op: str):
    if fill is None:
        return None
    if isinstance(fill, (list, tuple)):
        return [_number(v, op, "fill") for v in fill]
    return [_number(fill, op, "fill")]


def rotate(img, angle: float, interpolation=InterpolationMode.NEAREST, expand: bool = False,
           center=None, fill=None):
    """Rotate counter-clockwise by ``angle`` degrees about ``center`` (default the image
    centre); ``expand=True`` grows the output to hold the whole rotated image. PIL images
    use ``Image.rotate``; tensors sample the inverse map (nearest or bilinear), with zeros
    (or ``fill``) outside."""
    op = "rotate"
    _check_image(img, op)
    angle = _number(angle, op, "angle")
    mode = _interp(interpolation, op)
    if _is_pil(img):
        if center is not None and (not isinstance(center, (list, tuple)) or len(center) != 2):
            raise LaminaValueError(f"{op}: center must be a sequence of 2 numbers (x, y), got "
                                   f"{center!r}")
        opts = _pil_fill(fill, img, op, "fillcolor")
        return img.rotate(angle, _pil_filter(mode, op), expand, center, **opts)
    _, h, w = get_dimensions(img)
    m = _inverse_affine_matrix(_center_shift(center, w, h, op), -angle, [0.0, 0.0], 1.0,
                               [0.0, 0.0])
    ow, oh = _affine_output_size(m, w, h) if expand else (w, h)
    return _wrap(_grid_transform(img._data, m, ow, oh, mode, _tensor_fill(fill, op)))


def affine(img, angle: float, translate, scale: float, shear,
           interpolation=InterpolationMode.NEAREST, fill=None, center=None):
    """Rotate by ``angle`` degrees (clockwise, as torchvision's ``affine``), shear by
    ``shear`` degrees (a number for x, or ``(x, y)``), scale by ``scale`` and translate by
    ``translate = (tx, ty)`` pixels, all about ``center`` (default the image centre). PIL
    images use ``Image.transform(AFFINE)`` with the inverse matrix; tensors sample it."""
    op = "affine"
    _check_image(img, op)
    angle = _number(angle, op, "angle")
    if not isinstance(translate, (list, tuple)) or len(translate) != 2:
        raise LaminaValueError(f"{op}: translate must be a sequence of 2 numbers, got "
                               f"{translate!r}")
    translate = [_number(t, op, "translate") for t in translate]
    scale = _number(scale, op, "scale")
    if scale <= 0:
        raise LaminaValueError(f"{op}: scale must be positive, got {scale}")
    if isinstance(shear, numbers.Real) and not isinstance(shear, bool):
        shear = [float(shear), 0.0]
    if isinstance(shear, (list, tuple)) and len(shear) == 1:
        shear = [shear[0], shear[0]]
    if not isinstance(shear, (list, tuple)) or len(shear) != 2:
        raise LaminaValueError(f"{op}: shear must be a number or a sequence of 1 or 2 numbers, got "
                               f"{shear!r}")
    shear = [_number(s, op, "shear") for s in shear]
    mode = _interp(interpolation, op)
    _, h, w = get_dimensions(img)
    if _is_pil(img):
        if center is None:
            center = [w * 0.5, h * 0.5]
        m = _inverse_affine_matrix(center, angle, translate, scale, shear)
        opts = _pil_fill(fill, img, op, "fillcolor")
        return img.transform((w, h), 0, m, _pil_filter(mode, op), **opts)  # Image.AFFINE
    m = _inverse_affine_matrix(_center_shift(center, w, h, op), angle, translate, scale, shear)
    return _wrap(_grid_transform(img._data, m, w, h, mode, _tensor_fill(fill, op)))


# --- colour -----------------------------------------------------------------------------------

def _channels(arr: np.ndarray, op: str, allowed=(1, 3)) -> int:
    c = arr.shape[-3] if arr.ndim >= 3 else 1
    if arr.ndim < 3 or c not in allowed:
        raise LaminaValueError(f"{op}: expected a (..., C, H, W) image with C in {list(allowed)}, "
                               f"got shape {tuple(arr.shape)}")
    return c


def _gray(arr: np.ndarray) -> np.ndarray:
    """``0.2989 R + 0.587 G + 0.114 B`` in float32, cast back to the input type (truncating
    for integer images, as torchvision's ``.to(img.dtype)``)."""
    x = _to_float(arr)
    r, g, b = x[..., 0, :, :], x[..., 1, :, :], x[..., 2, :, :]
    dt = x.dtype.type
    out = dt(0.2989) * r + dt(0.587) * g + dt(0.114) * b
    return out.astype(arr.dtype)[..., None, :, :]


def rgb_to_grayscale(img, num_output_channels: int = 1):
    """Luminance ``L = 0.2989 R + 0.587 G + 0.114 B`` (tensors; PIL images use
    ``convert("L")``, which is Pillow's ITU-R 601-2 ``299/587/114`` in integers), repeated
    into 3 channels with ``num_output_channels=3``. A 1-channel tensor is returned as it is
    (repeated to 3 channels when asked: torchvision keeps 1 channel there)."""
    op = "rgb_to_grayscale"
    _check_image(img, op)
    if num_output_channels not in (1, 3):
        raise LaminaValueError(f"{op}: num_output_channels should be either 1 or 3, got "
                               f"{num_output_channels!r}")
    if _is_pil(img):
        g = img.convert("L")
        if num_output_channels == 3:
            g = _pil().merge("RGB", (g, g, g))
        return g
    arr = img._data
    c = _channels(arr, op)
    out = _gray(arr) if c == 3 else arr.copy()
    if num_output_channels == 3:
        out = np.repeat(out, 3, axis=-3)
    return _wrap(out)


to_grayscale = rgb_to_grayscale


def _blend(a: np.ndarray, b: np.ndarray, ratio: float, dtype) -> np.ndarray:
    """torchvision's ``_blend``: ``ratio * a + (1 - ratio) * b`` clamped to the type's range,
    cast back (truncating for integers)."""
    a, b = _to_float(a), np.asarray(b, dtype=_to_float(a).dtype)
    dt = a.dtype.type
    out = np.clip(dt(ratio) * a + dt(1.0 - ratio) * b, 0, _max_value(dtype))
    return out.astype(dtype)


def _enhance(img, kind: str, factor: float, op: str):
    """Pillow's ``ImageEnhance.<kind>(img).enhance(factor)``, as torchvision's PIL path."""
    from PIL import ImageEnhance
    if img.mode not in ("L", "LA", "RGB", "RGBA"):
        raise LaminaValueError(f"{op}: PIL image mode {img.mode!r} is not supported; expected L, "
                               f"LA, "
                               "RGB or RGBA (convert the image first)")
    return getattr(ImageEnhance, kind)(img).enhance(factor)


def _factor(v, op: str, name: str) -> float:
    v = _number(v, op, name)
    if v < 0:
        raise LaminaValueError(f"{op}: {name} must be non-negative, got {v}")
    return v


def adjust_brightness(img, brightness_factor: float):
    """Multiply by ``brightness_factor`` (0 black, 1 the original), clamped to the range."""
    op = "adjust_brightness"
    _check_image(img, op)
    f = _factor(brightness_factor, op, "brightness_factor")
    if _is_pil(img):
        return _enhance(img, "Brightness", f, op)
    arr = img._data
    _channels(arr, op)
    return _wrap(_blend(arr, np.zeros_like(arr), f, arr.dtype))


def adjust_contrast(img, contrast_factor: float):
    """Blend with the mean grey level: ``f * x + (1 - f) * mean(gray(x))``."""
    op = "adjust_contrast"
    _check_image(img, op)
    f = _factor(contrast_factor, op, "contrast_factor")
    if _is_pil(img):
        return _enhance(img, "Contrast", f, op)
    arr = img._data
    c = _channels(arr, op)
    g = _to_float(_gray(arr) if c == 3 else arr)
    mean = g.mean(axis=(-3, -2, -1), keepdims=True, dtype=np.float64).astype(g.dtype)
    return _wrap(_blend(arr, mean, f, arr.dtype))


def adjust_saturation(img, saturation_factor: float):
    """Blend with the grayscale image: 0 gives gray, 1 the original, 2 doubles saturation."""
    op = "adjust_saturation"
    _check_image(img, op)
    f = _factor(saturation_factor, op, "saturation_factor")
    if _is_pil(img):
        return _enhance(img, "Color", f, op)
    arr = img._data
    if _channels(arr, op) == 1:
        return _wrap(arr.copy())
    return _wrap(_blend(arr, _gray(arr), f, arr.dtype))


def _rgb2hsv(x: np.ndarray) -> np.ndarray:
    r, g, b = x[..., 0, :, :], x[..., 1, :, :], x[..., 2, :, :]
    maxc, minc = x.max(axis=-3), x.min(axis=-3)
    eqc = maxc == minc
    cr = maxc - minc
    s = cr / np.where(eqc, 1, maxc)
    div = np.where(eqc, 1, cr)
    rc, gc, bc = (maxc - r) / div, (maxc - g) / div, (maxc - b) / div
    h = ((maxc == r) * (bc - gc) + ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
         + ((maxc != g) & (maxc != r)) * (4.0 + gc - rc))
    h = np.fmod(h / 6.0 + 1.0, 1.0)
    return np.stack((h, s, maxc), axis=-3).astype(x.dtype)


def _hsv2rgb(x: np.ndarray) -> np.ndarray:
    h, s, v = x[..., 0, :, :], x[..., 1, :, :], x[..., 2, :, :]
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.astype(np.int32) % 6
    p = np.clip(v * (1.0 - s), 0.0, 1.0)
    q = np.clip(v * (1.0 - s * f), 0.0, 1.0)
    t = np.clip(v * (1.0 - s * (1.0 - f)), 0.0, 1.0)
    r = np.choose(i, (v, q, p, p, t, v))
    g = np.choose(i, (t, v, v, q, p, p))
    b = np.choose(i, (p, p, t, v, v, q))
    return np.stack((r, g, b), axis=-3).astype(x.dtype)


def adjust_hue(img, hue_factor: float):
    """Shift the hue by ``hue_factor`` turns (in ``[-0.5, 0.5]``) in HSV space. PIL images
    shift the uint8 H band of ``convert("HSV")`` (modes L, 1, I, F are returned as they
    are); integer tensors go through float (``x / 255``, back with ``x * 255.999`` truncated,
    torchvision's ``convert_image_dtype``)."""
    op = "adjust_hue"
    _check_image(img, op)
    hue_factor = _number(hue_factor, op, "hue_factor")
    if not -0.5 <= hue_factor <= 0.5:
        raise LaminaValueError(f"{op}: hue_factor must be in [-0.5, 0.5], got {hue_factor}")
    if _is_pil(img):
        if img.mode in ("L", "1", "I", "F"):
            return img
        h, s, v = img.convert("HSV").split()
        np_h = (np.asarray(h, dtype=np.int64) + int(hue_factor * 255)) % 256
        h = _pil().frombytes("L", h.size, np_h.astype(np.uint8).tobytes())
        return _pil().merge("HSV", (h, s, v)).convert(img.mode)
    arr = img._data
    if _channels(arr, op) == 1:
        return _wrap(arr.copy())
    x = arr if _is_float(arr) else arr.astype(np.float32) / np.float32(_max_value(arr.dtype))
    hsv = _rgb2hsv(x)
    hsv[..., 0, :, :] = (hsv[..., 0, :, :] + x.dtype.type(hue_factor)) % 1.0
    out = _hsv2rgb(hsv)
    if not _is_float(arr):
        out = (out * np.float32(_max_value(arr.dtype) + 1.0 - 1e-3)).astype(arr.dtype)
    return _wrap(out)


# --- blur and erasing -------------------------------------------------------------------------

def _gaussian_kernel1d(size: int, sigma: float, dtype) -> np.ndarray:
    """``exp(-x^2 / (2 sigma^2))`` at ``x = -(size-1)/2 .. (size-1)/2``, normalized to sum 1."""
    half = (size - 1) * 0.5
    x = np.linspace(-half, half, size).astype(dtype)
    pdf = np.exp(-0.5 * (x / dtype(sigma)) ** 2)
    return pdf / pdf.sum()


def gaussian_blur(img, kernel_size, sigma=None):
    """Blur with a Gaussian kernel of ``kernel_size = (kx, ky)`` (odd, positive; an int for
    both) and ``sigma = (sx, sy)`` (default ``0.3 * ((k - 1) * 0.5 - 1) + 0.8``, i.e.
    ``k * 0.15 + 0.35``), over a reflect-padded image. PIL images are blurred as tensors and
    converted back, as torchvision does."""
    op = "gaussian_blur"
    _check_image(img, op)
    if isinstance(kernel_size, (int, np.integer)) and not isinstance(kernel_size, bool):
        kernel_size = [int(kernel_size)] * 2
    if not isinstance(kernel_size, (list, tuple)) or len(kernel_size) not in (1, 2):
        raise LaminaValueError(f"{op}: kernel_size must be an int or a sequence of 1 or 2 ints, "
                               f"got "
                               f"{kernel_size!r}")
    if len(kernel_size) == 1:
        kernel_size = [kernel_size[0]] * 2
    for k in kernel_size:
        if _int(k, op, "kernel_size") <= 0 or k % 2 == 0:
            raise LaminaValueError(f"{op}: kernel_size should have odd and positive integers, got "
                                   f"{list(kernel_size)}")
    if sigma is None:
        sigma = [k * 0.15 + 0.35 for k in kernel_size]
    elif isinstance(sigma, numbers.Real) and not isinstance(sigma, bool):
        sigma = [float(sigma)] * 2
    elif isinstance(sigma, (list, tuple)) and len(sigma) == 1:
        sigma = [sigma[0]] * 2
    if not isinstance(sigma, (list, tuple)) or len(sigma) != 2:
        raise LaminaValueError(f"{op}: sigma must be a number or a sequence of 1 or 2 numbers, got "
                               f"{sigma!r}")
    for s in sigma:
        if _number(s, op, "sigma") <= 0:
            raise LaminaValueError(f"{op}: sigma should have positive values, got {list(sigma)}")
    if _is_pil(img):
        if img.mode not in ("L", "LA", "RGB", "RGBA", "F"):
            raise LaminaValueError(f"{op}: PIL image mode {img.mode!r} is not supported; expected "
                                   "L, LA, RGB, RGBA or F (convert the image first)")
        return to_pil_image(gaussian_blur(pil_to_tensor(img), kernel_size, sigma),
                            mode=img.mode)
    arr = img._data
    x = _to_float(arr)
    kx, ky = kernel_size
    h, w = x.shape[-2:]
    if ky // 2 >= h or kx // 2 >= w:
        raise LaminaValueError(f"{op}: kernel_size {list(kernel_size)} needs reflect padding of "
                               f"({kx // 2}, {ky // 2}), which must be smaller than the image "
                               f"({h}x{w})")
    wx = _gaussian_kernel1d(kx, sigma[0], x.dtype.type)
    wy = _gaussian_kernel1d(ky, sigma[1], x.dtype.type)
    width = [(0, 0)] * (x.ndim - 2) + [(ky // 2, ky // 2), (kx // 2, kx // 2)]
    p = np.pad(x, width, mode="reflect")
    # separable: rows then columns (the 2-D kernel is the outer product wy wx^T)
    rows = sum(wx[k] * p[..., :, k:k + w] for k in range(kx))
    out = sum(wy[k] * rows[..., k:k + h, :] for k in range(ky))
    return _wrap(_cast_back(out, arr.dtype))


def erase(img: Tensor, i: int, j: int, h: int, w: int, v, inplace: bool = False) -> Tensor:
    """Set the region ``[i, i + h) x [j, j + w)`` of a ``(..., C, H, W)`` tensor to ``v`` (a
    tensor or array broadcastable to ``(C, h, w)``)."""
    op = "erase"
    _check_image(img, op, pil=False)
    _chw(img, op)
    i, j = _int(i, op, "i", 0), _int(j, op, "j", 0)
    h, w = _int(h, op, "h", 0), _int(w, op, "w", 0)
    arr = img._data if inplace else img._data.copy()
    value = np.asarray(v._data if isinstance(v, Tensor) else v)
    try:
        arr[..., i:i + h, j:j + w] = value
    except ValueError:
        raise LaminaValueError(f"{op}: v of shape {value.shape} cannot fill a region of shape "
                               f"{arr[..., i:i + h, j:j + w].shape}") from None
    if inplace:
        return img
    return _wrap(arr)
