"""The array backend: the ``xp`` module, dtypes, type promotion and the global random state.

lamina keeps every tensor's data in an ``xp`` array. Today ``xp`` is NumPy; the same code is
written so that CuPy can stand in for it later (Chainer's idiom).
"""

from __future__ import annotations

import builtins

import numpy as np

# dtypes are NumPy dtype objects, so ``t.dtype == lamina.float32`` and ``np.asarray(t)`` agree;
# they, their aliases and PyTorch's promotion rules live in lamina.dtypes.
from lamina.dtypes import (  # noqa: F401
    _BF16_MISSING,
    DTYPES,
    bfloat16,
    bool_,
    byte,
    can_cast,
    category,
    char,
    double,
    float,
    float16,
    float32,
    float64,
    half,
    int8,
    int16,
    int32,
    int64,
    is_floating,
    long,
    promote_types,
    result_type,
    scalar_dtype,
    scalar_name,
    short,
    torch_name,
    uint8,
)
from lamina.dtypes import operands_result_type as _operands_result_type
from lamina.errors import LaminaTypeError, LaminaValueError

xp = np

_ALIASES = {torch_name(d): d for d in DTYPES}
_ALIASES.update({"float": float32, "double": float64, "long": int64, "half": float16,
                 "short": int16, "char": int8, "byte": uint8})

_default_dtype = [float32]


def get_default_dtype() -> np.dtype:
    """The dtype of floating tensors made from Python floats (float32 unless changed)."""
    return _default_dtype[0]


def set_default_dtype(dtype) -> None:
    """Set the default floating dtype: float32 or float64 (PyTorch also takes float16 and
    bfloat16; lamina does not, since NumPy's half-precision arithmetic is slow)."""
    d = as_dtype(dtype)
    if d not in (float32, float64):
        raise LaminaTypeError(f"set_default_dtype: only float32 and float64 are allowed as "
                              f"the default dtype in lamina, got {torch_name(d)}")
    _default_dtype[0] = d


def as_dtype(dtype) -> np.dtype:
    """Normalize a dtype given as a lamina/NumPy dtype, a Python type or a name."""
    if isinstance(dtype, np.dtype) and dtype in _CATEGORY:
        return dtype
    if dtype is builtins.float:
        return _default_dtype[0]
    if dtype is builtins.int:
        return int64
    if dtype is builtins.bool:
        return bool_
    if isinstance(dtype, str) and dtype in _ALIASES:
        return _ALIASES[dtype]
    if isinstance(dtype, str) and dtype == "bfloat16":      # not in _ALIASES: no ml_dtypes
        raise LaminaTypeError(f"unsupported dtype bfloat16: {_BF16_MISSING}")
    try:
        d = np.dtype(dtype)
    except TypeError:
        d = None
    if d in _CATEGORY:
        return d
    raise LaminaTypeError(
        f"unsupported dtype {dtype!r}: lamina supports "
        + ", ".join(torch_name(d) for d in DTYPES)
    )


def canonical_dtype(arr_dtype: np.dtype) -> np.dtype:
    """The lamina dtype an array of ``arr_dtype`` becomes: itself when lamina has it; other
    unsigned integers (uint16/32/64) become int64, other floats float32 or float64."""
    if arr_dtype in _CATEGORY:
        return arr_dtype
    kind = arr_dtype.kind
    if kind == "f":
        return float64 if arr_dtype.itemsize > 4 else float32
    if kind in "iu":
        return int64
    if kind == "b":
        return bool_
    raise LaminaTypeError(f"unsupported array dtype {arr_dtype}: lamina supports "
                          + ", ".join(torch_name(d) for d in DTYPES))


_CATEGORY = {d: category(d) for d in DTYPES}


def scalar_kind(x) -> builtins.int:
    """Category of a Python scalar: 0 bool, 1 int, 2 float."""
    if isinstance(x, builtins.bool):
        return 0
    if isinstance(x, builtins.int):
        return 1
    return 2


def _category(d: np.dtype) -> builtins.int:
    return _CATEGORY[d] if d in _CATEGORY else category(d)


def result_dtype(a_dtype: np.dtype, a_dim: builtins.bool, b_dtype: np.dtype,
                 b_dim: builtins.bool) -> np.dtype:
    """Promotion of two tensors: dimensioned tensors win over 0-dim ones of the same category.

    ``a_dim``/``b_dim`` say whether each operand has at least one dimension. This follows
    PyTorch: ``float32 tensor * float64 0-dim tensor`` stays float32, ``int32 tensor *
    float64 0-dim tensor`` is float64.
    """
    if a_dim == b_dim:
        return promote_types(a_dtype, b_dtype)
    dim_t, zero_t = (a_dtype, b_dtype) if a_dim else (b_dtype, a_dtype)
    return _operands_result_type((dim_t,), (zero_t,), ())


def scalar_result_dtype(t_dtype: np.dtype, scalar, t_dim: builtins.bool = True) -> np.dtype:
    """Promotion of a tensor with a Python scalar: the scalar only raises the category
    (an int8 tensor plus 1000 stays int8; an int32 tensor plus 0.5 is the default float)."""
    k = scalar_kind(scalar)
    c = _CATEGORY[t_dtype]
    if k <= c:
        return t_dtype
    return _default_dtype[0] if k == 2 else int64


# --- allocator ------------------------------------------------------------------------------

def tune_allocator() -> bool:
    """Keep freed multi-megabyte arrays in the process instead of returning them to the OS.

    glibc hands large blocks (>= 128 KiB by default) back with munmap as soon as they are
    freed, so a training step that allocates the same temporaries every time page-faults
    them back in on the next step: about a third of a LeNet step in hand-written NumPy here
    (shared/PERF-NOTES.md). Raising the mmap and trim thresholds makes glibc reuse them.
    Applied once at import on Linux/glibc; set ``LAMINA_NO_MALLOPT=1`` to opt out. Returns
    whether the settings were applied.
    """
    import ctypes
    import os
    import sys

    if os.environ.get("LAMINA_NO_MALLOPT") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False                    # not glibc (musl, ...): nothing to tune
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    ok = mallopt(m_mmap_threshold, 32 * 1024 * 1024)    # glibc's maximum on 64-bit
    ok &= mallopt(m_trim_threshold, 512 * 1024 * 1024)
    ok &= mallopt(m_top_pad, 64 * 1024 * 1024)
    return bool(ok)


ALLOCATOR_TUNED = tune_allocator()


# --- random state -------------------------------------------------------------------------

class Generator:
    """A seeded source of random numbers, like ``torch.Generator``: pass one as ``generator=``
    to any random function. Two generators are independent streams; one seed always gives the
    same stream.

    >>> g = Generator().manual_seed(0)
    >>> lamina.rand(2, generator=g)       # the same two numbers on every run

    ``Generator(seed)`` is a lamina shorthand for ``Generator().manual_seed(seed)``; PyTorch's
    ``Generator(device)`` form is accepted (only the CPU). Unlike PyTorch, whose new generators
    all start from the same fixed seed, an unseeded lamina generator is seeded from the
    operating system's entropy; ``initial_seed()`` tells which seed that was.
    """

    def __init__(self, seed: builtins.int | None = None, device=None):
        from lamina.device import check_device, is_device
        if isinstance(seed, str) or is_device(seed):    # Generator("cpu"), PyTorch's form
            seed, device = None, seed
        if device is not None:
            check_device(device, "Generator")
        self.manual_seed(_fresh_seed() if seed is None else seed)

    def manual_seed(self, seed: builtins.int) -> Generator:
        """Restart the stream from ``seed`` (negative seeds are taken modulo 2^64, as in
        PyTorch); returns the generator."""
        seed = _seed_int(seed)
        self._np = np.random.default_rng(seed % 2**64)
        self._seed = seed
        return self

    def initial_seed(self) -> builtins.int:
        """The seed this generator's stream started from."""
        return self._seed

    def seed(self) -> builtins.int:
        """Restart from a fresh seed drawn from the operating system; returns it."""
        s = _fresh_seed()
        self.manual_seed(s)
        return s

    def get_state(self):
        """The generator's full state as a uint8 tensor (PyTorch also gives a ByteTensor; the
        bytes are lamina's own: NumPy's PCG64 state as JSON), for ``set_state``."""
        import json

        from lamina.tensor import _make
        blob = json.dumps({"bit_generator": self._np.bit_generator.state, "seed": self._seed})
        return _make(np.frombuffer(blob.encode(), dtype=np.uint8).copy())

    def set_state(self, state) -> Generator:
        """Put the generator back to a state from ``get_state``; returns the generator."""
        import json
        arr = getattr(state, "_data", state)
        if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8 or arr.ndim != 1:
            raise LaminaTypeError("set_state: expected the uint8 tensor that get_state returns, "
                                  f"got {type(state).__name__}")
        try:
            d = json.loads(arr.tobytes().decode())
            g = np.random.default_rng()
            g.bit_generator.state = d["bit_generator"]
        except (ValueError, KeyError, TypeError):
            raise LaminaValueError("set_state: the tensor is not a state from "
                                   "Generator.get_state") from None
        self._np, self._seed = g, d.get("seed")
        return self

    @property
    def device(self):
        from lamina.device import CPU
        return CPU

    @property
    def np(self) -> np.random.Generator:
        return self._np


def _fresh_seed() -> builtins.int:
    import os
    return builtins.int.from_bytes(os.urandom(8), "little") >> 1     # 63 bits, like PyTorch's


def _seed_int(seed) -> int:
    try:
        return int(seed)
    except (TypeError, ValueError):
        if isinstance(seed, str):  # PyTorch: ValueError from int('a')
            raise LaminaValueError(f"manual_seed: seed must be an int, got {seed!r}") from None
        raise LaminaTypeError(f"manual_seed: seed must be an int, got "
                              f"{type(seed).__name__}") from None


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed lamina's global random state: every random draw in the library follows from it."""
    return default_generator.manual_seed(seed)


def initial_seed() -> builtins.int:
    """The seed of lamina's global generator (``manual_seed``'s, or the one drawn from the OS
    at start-up)."""
    return default_generator.initial_seed()


def seed() -> builtins.int:
    """Seed the global generator from the operating system's entropy; returns that seed."""
    return default_generator.seed()


def get_rng_state() -> dict:
    """The state of lamina's global generator (a JSON-able dict), for ``set_rng_state``."""
    return {"bit_generator": default_generator.np.bit_generator.state,
            "seed": default_generator.initial_seed()}


def set_rng_state(state: dict) -> None:
    """Put lamina's global generator back to a state from ``get_rng_state`` (or a uint8 tensor
    from ``Generator.get_state``)."""
    if not isinstance(state, dict):
        default_generator.set_state(state)
        return
    g = np.random.default_rng()
    g.bit_generator.state = state["bit_generator"]
    default_generator._np = g
    default_generator._seed = state.get("seed")


class fork_rng:
    """Context manager: the global generator's state is restored on exit, so draws inside
    (optionally after ``manual_seed(seed)``) do not disturb the caller's random stream.

    >>> with fork_rng(seed=0):
    ...     w = lamina.randn(3)        # the same numbers every time
    """

    def __init__(self, seed: int | None = None):
        self.seed = seed

    def __enter__(self):
        self._state = get_rng_state()
        if self.seed is not None:
            manual_seed(self.seed)
        return self

    def __exit__(self, *exc):
        set_rng_state(self._state)
        return False


def rng(generator: Generator | None = None) -> np.random.Generator:
    """The NumPy generator to draw from: the given one, or lamina's global one."""
    return (generator or default_generator).np
