"""lamina's dtypes, PyTorch's type promotion between them, and ``iinfo`` / ``finfo``.

A lamina dtype is a NumPy dtype object, so ``t.dtype == lamina.float32`` and
``np.asarray(t).dtype`` agree. The dtypes are PyTorch's real ones that NumPy can hold:

    bool, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64

``bfloat16`` comes from the ``ml_dtypes`` package (the one JAX and TensorFlow use; install the
``lamina[bfloat16]`` extra). Without it ``lamina.bfloat16`` raises an error saying so. NumPy
reports its kind as ``'V'``, not ``'f'``: test floating-ness with ``is_floating`` here, never
with ``dtype.kind == 'f'``.

Promotion follows PyTorch (``torch.result_type``), which is not NumPy's:

- Two tensor dtypes promote on the lattice ``bool < uint8, int8 < int16 < int32 < int64 <
  float16, bfloat16 < float32 < float64``; ``uint8`` with ``int8`` gives ``int16`` and
  ``float16`` with ``bfloat16`` gives ``float32`` (``promote_types``).
- Operands come in three priorities: tensors with dimensions, 0-d tensors, Python numbers.
  A lower priority only matters when it is of a higher category (bool < integer < floating):
  ``int8 tensor + 1000`` stays int8, ``float32 tensor * float64 0-d tensor`` stays float32,
  ``int32 tensor + 2.5`` becomes the default float dtype (float32), ``int32 tensor + float64
  0-d tensor`` becomes float64.

Where lamina differs from PyTorch:

- A dtype prints as NumPy's (``dtype('float32')``), not ``torch.float32``; a tensor's repr
  does say ``dtype=lamina.float16``.
- float16 and bfloat16: elementwise ops compute each element through float32 and round once
  (NumPy's and ml_dtypes' loops), as PyTorch does on the CPU, and ``sum``, ``mean`` and
  ``matmul`` accumulate in float32 and round once, as PyTorch does. Other reductions
  (``cumsum``, ``prod``, ``var``, ``softmax``...) accumulate in the half dtype in NumPy and
  may differ from PyTorch's float32 accumulation by a few half-precision units; half
  precision is also slow in NumPy. Use it to store and move data, compute in float32.
- bfloat16's NumPy kind is ``'V'``; ops that have not been taught ``is_floating`` treat a
  bfloat16 tensor as non-floating and raise a clear error: today the losses, normalization,
  convolution, pooling and several activations of ``nn.functional``. Elementwise math,
  reductions, ``matmul``/``linear``, ``softmax``, casts and autograd work.
- ``set_default_dtype`` takes float32 and float64 only.
"""

from __future__ import annotations

import builtins

import numpy as np

from lamina.errors import LaminaTypeError

__all__ = ["bool_", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16",
           "float32", "float64", "half", "short", "int", "char", "byte", "long", "float",
           "double", "DTYPES", "is_floating", "is_integral", "category", "promote_types",
           "result_type", "can_cast", "iinfo", "finfo", "torch_name"]

bool_ = np.dtype("bool")
uint8 = np.dtype("uint8")
int8 = np.dtype("int8")
int16 = np.dtype("int16")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")

try:                                    # optional: the lamina[bfloat16] extra
    import ml_dtypes as _ml_dtypes
except ImportError:                     # pragma: no cover - depends on the environment
    _ml_dtypes = None
bfloat16 = np.dtype(_ml_dtypes.bfloat16) if _ml_dtypes is not None else None

# PyTorch's aliases
half = float16
short = int16
int = int32  # noqa: A001  (torch.int is int32)
char = int8
byte = uint8
long = int64
float = float32  # noqa: A001
double = float64

_INTS = (uint8, int8, int16, int32, int64)
_FLOATS = tuple(d for d in (float16, bfloat16, float32, float64) if d is not None)
DTYPES = (bool_,) + _INTS + _FLOATS

_TORCH_NAMES = {bool_: "bool", uint8: "uint8", int8: "int8", int16: "int16", int32: "int32",
                int64: "int64", float16: "float16", float32: "float32", float64: "float64"}
if bfloat16 is not None:
    _TORCH_NAMES[bfloat16] = "bfloat16"
# PyTorch's C++ names, used in its error messages ("result type Float can't be cast ...")
_SCALAR_NAMES = {bool_: "Bool", uint8: "Byte", int8: "Char", int16: "Short", int32: "Int",
                 int64: "Long", float16: "Half", float32: "Float", float64: "Double"}
if bfloat16 is not None:
    _SCALAR_NAMES[bfloat16] = "BFloat16"

_BF16_MISSING = ("bfloat16 needs the ml_dtypes package (pip install ml_dtypes, or the "
                 "lamina[bfloat16] extra): NumPy has no bfloat16 of its own")


def torch_name(d: np.dtype) -> str:
    """The dtype's name without prefix: ``'float32'``, ``'bfloat16'``."""
    return _TORCH_NAMES.get(d, str(d))


def scalar_name(d: np.dtype) -> str:
    """PyTorch's C++ name of a dtype (``Float``, ``Long``), as its error messages print it."""
    return _SCALAR_NAMES.get(d, str(d))


def is_floating(d: np.dtype) -> bool:
    """Whether ``d`` is a floating dtype (bfloat16 included, whose NumPy kind is 'V')."""
    return d.kind == "f" or (d is bfloat16 or (bfloat16 is not None and d == bfloat16))


def is_integral(d: np.dtype, include_bool: bool = False) -> bool:
    return d.kind in ("iub" if include_bool else "iu")


def category(d: np.dtype) -> builtins.int:
    """0 for bool, 1 for integers, 2 for floating dtypes: the order promotion respects."""
    if d.kind == "b":
        return 0
    if d.kind in "iu":
        return 1
    return 2


# --- promotion between two dtypes ------------------------------------------------------------

# Position on the promotion lattice; uint8 and int8 share one, float16 and bfloat16 too
_RANK = {bool_: 0, uint8: 1, int8: 1, int16: 2, int32: 3, int64: 4, float16: 5, float32: 6,
         float64: 7}
if bfloat16 is not None:
    _RANK[bfloat16] = 5


def _promote_pair(a, b):
    if a == b:
        return a
    ra, rb = _RANK[a], _RANK[b]
    if ra == rb:                        # uint8 with int8, or float16 with bfloat16
        return int16 if ra == 1 else float32
    return a if ra > rb else b


_PROMOTE = {(a, b): _promote_pair(a, b) for a in DTYPES for b in DTYPES}


def promote_types(a, b) -> np.dtype:
    """The smallest dtype both ``a`` and ``b`` cast to safely, PyTorch's table
    (``torch.promote_types``): int8 with uint8 gives int16, int64 with float16 gives float16."""
    r = _PROMOTE.get((a, b))
    if r is None:
        from lamina.backend import as_dtype
        r = _PROMOTE[(as_dtype(a), as_dtype(b))]
    return r


# --- promotion of operands: tensors, 0-d tensors and Python numbers -----------------------------

def _combine(higher, lower):
    """PyTorch's ``combine_categories``: a lower-priority dtype counts only when it is of a
    higher category (or the higher-priority one is bool)."""
    if higher is None:
        return lower
    if lower is None or is_floating(higher):
        return higher
    if higher is bool_ or higher == bool_ or is_floating(lower):
        return promote_types(higher, lower)
    return higher


def scalar_dtype(x, default_float) -> np.dtype:
    """The dtype a Python number takes part in promotion with: bool, int64 or the default
    floating dtype (a complex number is not supported)."""
    if isinstance(x, bool):
        return bool_
    if isinstance(x, builtins.int):
        return int64
    return default_float


def operands_result_type(dim_dtypes, zero_dtypes, scalar_dtypes) -> np.dtype:
    """Combine the dtypes of the three priority groups (tensors with dimensions, 0-d tensors,
    Python numbers) the way ``torch.result_type`` does."""
    groups = []
    for ds in (dim_dtypes, zero_dtypes, scalar_dtypes):
        r = None
        for d in ds:
            r = d if r is None else promote_types(r, d)
        groups.append(r)
    return _combine(groups[0], _combine(groups[1], groups[2]))


def result_type(*operands, default_float=None) -> np.dtype:
    """PyTorch's ``result_type`` of tensors (anything with ``.dtype`` and ``.ndim``) and Python
    numbers, as lamina's binary ops compute it."""
    if default_float is None:
        from lamina.backend import get_default_dtype
        default_float = get_default_dtype()
    dim, zero, scal = [], [], []
    for x in operands:
        d = getattr(x, "dtype", None)
        if d is None or isinstance(x, np.generic):
            if isinstance(x, np.generic):
                x = x.item()
            if not isinstance(x, (bool, builtins.int, builtins.float)):
                raise LaminaTypeError(f"result_type: expected Tensors or Python numbers, got "
                                      f"{type(x).__name__}")
            scal.append(scalar_dtype(x, default_float))
        elif (x.ndim if hasattr(x, "ndim") else np.ndim(x)) > 0:
            dim.append(d)
        else:
            zero.append(d)
    if not (dim or zero or scal):
        raise LaminaTypeError("result_type: expected at least one operand")
    return operands_result_type(dim, zero, scal)


def can_cast(from_, to) -> bool:
    """PyTorch's ``can_cast``: casting may keep or raise the category (bool -> int -> float) but
    not lower it; an in-place op whose result cannot be cast to its tensor's dtype raises."""
    return category(from_) <= category(to)


# --- iinfo / finfo ---------------------------------------------------------------------------

class iinfo:
    """Machine limits of an integer dtype, PyTorch's ``torch.iinfo``: ``bits``, ``min``,
    ``max``, ``dtype`` (its name, a string as in PyTorch)."""

    def __init__(self, dtype):
        from lamina.backend import as_dtype
        d = as_dtype(dtype)
        if not is_integral(d):          # bool is not accepted either, as in PyTorch
            raise LaminaTypeError(f"iinfo: expected an integer dtype, got {torch_name(d)}")
        i = np.iinfo(d)
        self.bits, self.min, self.max = i.bits, builtins.int(i.min), builtins.int(i.max)
        self.dtype = torch_name(d)

    def __repr__(self) -> str:
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"


class finfo:
    """Machine limits of a floating dtype, PyTorch's ``torch.finfo``: ``bits``, ``eps``,
    ``max``, ``min``, ``tiny`` (= ``smallest_normal``), ``resolution``, ``dtype``. With no
    argument, the default dtype's."""

    def __init__(self, dtype=None):
        from lamina.backend import as_dtype, get_default_dtype
        d = get_default_dtype() if dtype is None else as_dtype(dtype)
        if not is_floating(d):
            raise LaminaTypeError(f"finfo: expected a floating dtype, got {torch_name(d)}")
        f = _ml_dtypes.finfo(d) if (bfloat16 is not None and d == bfloat16) else np.finfo(d)
        self.bits = builtins.int(f.bits)
        self.eps = builtins.float(f.eps)
        self.max = builtins.float(f.max)
        self.min = builtins.float(f.min)
        self.tiny = self.smallest_normal = builtins.float(f.smallest_normal)
        self.resolution = 10.0 ** -builtins.int(f.precision)   # PyTorch: 10^-digits10
        self.dtype = torch_name(d)

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution}, min={self.min}, max={self.max}, "
                f"eps={self.eps}, smallest_normal={self.smallest_normal}, tiny={self.tiny}, "
                f"dtype={self.dtype})")
