"""Making tensors: from data, filled, ranges and random draws.

Random functions draw from lamina's global generator (seeded by ``lamina.manual_seed``) or
from an explicit ``generator=``. The draws are NumPy's, so the same seed gives the same numbers
in lamina on every run, but not the same numbers as PyTorch's generator.
"""

from __future__ import annotations

import numpy as np

from lamina.backend import DTYPES, as_dtype, get_default_dtype, is_floating, rng, torch_name
from lamina.device import check_device
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor, _make, _to_array

__all__ = ["tensor", "as_tensor", "from_numpy", "zeros", "ones", "full", "empty", "arange",
           "linspace", "eye", "rand", "randn", "randint", "randperm", "zeros_like",
           "ones_like", "full_like", "empty_like", "rand_like", "randn_like", "randint_like"]


def _finish(arr: np.ndarray, requires_grad: bool) -> Tensor:
    t = _make(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _size(size, op):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise LaminaTypeError(f"{op}: size must be a tuple of ints, got {tuple(size)}")
        if s < 0:
            raise LaminaValueError(f"{op}: size must be non-negative, got {tuple(size)}")
    return tuple(int(s) for s in size)


_INT64_MAX = np.iinfo(np.int64).max


def _checked_array(data, dtype, copy: bool, op: str) -> np.ndarray:
    """``_to_array`` with the errors named for ``op``: ragged nested lists, values that do not
    fit int64 (NumPy would wrap a uint64 silently), data that is not numeric."""
    src = data._data if isinstance(data, Tensor) else data
    if isinstance(src, (list, tuple)):
        try:
            src = np.array(src)
        except ValueError as e:  # NumPy: "setting an array element with a sequence ..."
            raise LaminaValueError(f"{op}: expected a rectangular nested sequence of numbers "
                                   f"(every row the same length), got a ragged one ({e})") from None
        if dtype is None and src.dtype.kind == "f":  # Python floats: the default dtype
            src = src.astype(get_default_dtype(), copy=False)
        copy = False  # src is already a new array
        if dtype is not None and src.size and src.dtype.kind in "iuf":
            d = as_dtype(dtype)
            # PyTorch's range: an unsigned dtype also takes -max..-1 (two's complement wrap)
            lo = -int(np.iinfo(d).max) if d.kind == "u" else int(np.iinfo(d).min) \
                if d.kind == "i" else 0
            if d.kind in "iu" and (src.min() < lo or src.max() > np.iinfo(d).max):
                raise LaminaValueError(f"{op}: value cannot be converted to type {d} without "
                                       f"overflow (values from {src.min()} to {src.max()})")
    if (isinstance(src, np.ndarray) and src.dtype.kind == "u" and src.itemsize == 8
            and src.size and (dtype is None or as_dtype(dtype) == np.int64)
            and src.max() > _INT64_MAX):
        raise LaminaValueError(f"{op}: value {int(src.max())} does not fit int64 (lamina has no "
                               "uint64 dtype); convert to float64 first if that is what you want")
    try:
        return _to_array(src, dtype, copy=copy)
    except OverflowError as e:      # tensor([300], dtype=int8): PyTorch refuses it too
        raise LaminaValueError(f"{op}: value cannot be converted to {as_dtype(dtype)} without "
                               f"overflow ({e})") from None
    except (TypeError, ValueError) as e:
        cls = LaminaValueError if isinstance(e, ValueError) else LaminaTypeError
        if str(e).startswith(f"{op}:"):
            raise cls(str(e)) from None
        raise cls(f"{op}: could not convert data of type {type(data).__name__} to a tensor: "
                  f"{e}") from None


def _float_dtype(dtype):
    return get_default_dtype() if dtype is None else as_dtype(dtype)


def tensor(data, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, numbers, arrays, tensors).

    Python floats become float32 (the default dtype), ints int64, bools bool.
    """
    if device is not None:
        check_device(device, "tensor")
    return _finish(_checked_array(data, dtype, True, "tensor"), requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but shares memory with an array or tensor when the dtype allows."""
    if device is not None:
        check_device(device, "as_tensor")
    if isinstance(data, Tensor) and (dtype is None or as_dtype(dtype) == data.dtype):
        return data
    return _make(_checked_array(data, dtype, False, "as_tensor"))


def from_numpy(arr: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``arr`` (changes to one show in the other)."""
    if not isinstance(arr, np.ndarray):
        raise LaminaTypeError(f"from_numpy: expected np.ndarray (got {type(arr).__name__})")
    if arr.dtype not in DTYPES:
        raise LaminaTypeError(
            f"from_numpy: can't convert np.ndarray of type {arr.dtype}; the supported types "
            f"are {', '.join(torch_name(d) for d in DTYPES)}"
        )
    return _make(arr)


def zeros(*size, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    if device is not None:
        check_device(device, "zeros")
    return _finish(np.zeros(_size(size, "zeros"), _float_dtype(dtype)), requires_grad)


def ones(*size, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    if device is not None:
        check_device(device, "ones")
    return _finish(np.ones(_size(size, "ones"), _float_dtype(dtype)), requires_grad)


def empty(*size, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    if device is not None:
        check_device(device, "empty")
    return _finish(np.empty(_size(size, "empty"), _float_dtype(dtype)), requires_grad)


def full(size, fill_value, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value`` (dtype inferred from the value)."""
    if device is not None:
        check_device(device, "full")
    if dtype is None:
        dtype = _to_array(fill_value).dtype
    return _finish(np.full(_size((size,), "full"), fill_value, as_dtype(dtype)), requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """Values ``start, start+step, ...`` below ``end``; int64 unless a bound is a float."""
    if device is not None:
        check_device(device, "arange")
    if end is None:
        start, end = 0, start
    if step == 0:
        raise LaminaValueError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise LaminaValueError(
            f"arange: upper bound and larger bound inconsistent with step sign "
            f"(start={start}, end={end}, step={step})"
        )
    if dtype is None:
        is_float = any(isinstance(v, float) for v in (start, end, step))
        dtype = get_default_dtype() if is_float else np.int64
    dtype = as_dtype(dtype)
    n = int(np.ceil((end - start) / step))
    arr = (start + step * np.arange(n, dtype=np.float64)).astype(dtype)
    return _finish(arr, requires_grad)


def linspace(start, end, steps: int, dtype=None, requires_grad: bool = False,
             device=None) -> Tensor:
    if device is not None:
        check_device(device, "linspace")
    if steps < 0:
        raise LaminaValueError("linspace: number of steps must be non-negative")
    return _finish(np.linspace(start, end, steps).astype(_float_dtype(dtype)), requires_grad)


def eye(n: int, m: int | None = None, dtype=None, requires_grad: bool = False,
        device=None) -> Tensor:
    """The ``n x m`` (default ``n x n``) identity matrix."""
    if device is not None:
        check_device(device, "eye")
    for name, v in (("n", n), ("m", m)):
        if v is None:
            continue
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise LaminaTypeError(f"eye: {name} must be an int, got {type(v).__name__}")
        if v < 0:
            raise LaminaValueError(f"eye: {name} must be greater or equal to 0, got {v}")
    return _finish(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad)


def _random_float_dtype(dtype, op: str):
    d = _float_dtype(dtype)
    if not is_floating(d):
        raise LaminaValueError(f"{op}: not implemented for dtype {torch_name(d)}; a floating "
                               "dtype is needed")
    return d


def rand(*size, generator=None, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """Uniform draws on [0, 1) (floating dtypes only, as in PyTorch)."""
    if device is not None:
        check_device(device, "rand")
    d = _random_float_dtype(dtype, "rand")
    arr = rng(generator).random(_size(size, "rand"), dtype=np.float64)
    return _finish(arr.astype(d), requires_grad)


def randn(*size, generator=None, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """Standard normal draws (floating dtypes only, as in PyTorch)."""
    if device is not None:
        check_device(device, "randn")
    d = _random_float_dtype(dtype, "randn")
    arr = rng(generator).standard_normal(_size(size, "randn"))
    return _finish(arr.astype(d), requires_grad)


def randint(low, high=None, size=(), generator=None, dtype=None, device=None) -> Tensor:
    """Integers drawn uniformly from ``[low, high)``: ``randint(high, size)`` or
    ``randint(low, high, size)``."""
    if device is not None:
        check_device(device, "randint")
    if high is None or isinstance(high, (tuple, list)):     # randint(high, size)
        if isinstance(high, (tuple, list)):
            size = high
        low, high = 0, low
    return _randint(low, high, size, generator, dtype, "randint")


def _randint(low, high, size, generator, dtype, op: str) -> Tensor:
    if high <= low:
        raise LaminaValueError(f"{op}: expects 'from' < 'to', but got from={low} >= to={high}")
    d = np.dtype(np.int64) if dtype is None else as_dtype(dtype)
    if d.kind in "iub":
        lo_ok, hi_ok = (0, 1) if d.kind == "b" else (np.iinfo(d).min, np.iinfo(d).max)
        if low < lo_ok:
            raise LaminaValueError(f"{op}: from is out of bounds for {torch_name(d)}")
        if high - 1 > hi_ok:
            raise LaminaValueError(f"{op}: to - 1 is out of bounds for {torch_name(d)}")
    arr = rng(generator).integers(low, high, _size((size,), op))
    return _make(arr.astype(d))


def randperm(n: int, generator=None, dtype=None, device=None) -> Tensor:
    """A random permutation of ``0 .. n-1``."""
    if device is not None:
        check_device(device, "randperm")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise LaminaTypeError(f"randperm: n must be an int, got {type(n).__name__}")
    if n < 0:
        raise LaminaValueError(f"randperm: n must be non-negative, got {n}")
    d = np.dtype(np.int64) if dtype is None else as_dtype(dtype)
    if d.kind in "iu" and n - 1 > np.iinfo(d).max:
        raise LaminaValueError(f"randperm: n={n} does not fit {torch_name(d)} (value cannot be "
                               "converted without overflow)")
    arr = rng(generator).permutation(int(n))
    return _make(arr.astype(d))


def _like(x, dtype):
    return x.dtype if dtype is None else as_dtype(dtype)


def zeros_like(x, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    if device is not None:
        check_device(device, "zeros_like")
    return _finish(np.zeros(x.shape, _like(x, dtype)), requires_grad)


def ones_like(x, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    if device is not None:
        check_device(device, "ones_like")
    return _finish(np.ones(x.shape, _like(x, dtype)), requires_grad)


def empty_like(x, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    if device is not None:
        check_device(device, "empty_like")
    return _finish(np.empty(x.shape, _like(x, dtype)), requires_grad)


def full_like(x, fill_value, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    if device is not None:
        check_device(device, "full_like")
    return _finish(np.full(x.shape, fill_value, _like(x, dtype)), requires_grad)


def rand_like(x, dtype=None, generator=None, requires_grad: bool = False, device=None) -> Tensor:
    if device is not None:
        check_device(device, "rand_like")
    dtype = _random_float_dtype(_like(x, dtype), "rand_like")
    return rand(*x.shape, generator=generator, dtype=dtype,
                requires_grad=requires_grad)


def randn_like(x, dtype=None, generator=None, requires_grad: bool = False, device=None) -> Tensor:
    if device is not None:
        check_device(device, "randn_like")
    dtype = _random_float_dtype(_like(x, dtype), "randn_like")
    return randn(*x.shape, generator=generator, dtype=dtype,
                 requires_grad=requires_grad)


def randint_like(x, low, high=None, dtype=None, generator=None, device=None) -> Tensor:
    if device is not None:
        check_device(device, "randint_like")
    if high is None:
        low, high = 0, low
    return _randint(low, high, x.shape, generator, _like(x, dtype), "randint_like")
