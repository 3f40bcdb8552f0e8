"""The array backend: the ``xp`` module, dtypes, type promotion and the global random state.

lamina keeps every tensor's data in an ``xp`` array. Today ``xp`` is NumPy; the same code is
written so that CuPy can stand in for it later (Chainer's idiom).
"""

from __future__ import annotations

import builtins

import numpy as np

from lamina.errors import LaminaTypeError, LaminaValueError

xp = np

# dtypes are NumPy dtype objects, so ``t.dtype == lamina.float32`` and ``np.asarray(t)`` agree.
float32 = np.dtype("float32")
float64 = np.dtype("float64")
int64 = np.dtype("int64")
bool_ = np.dtype("bool")
float = float32  # noqa: A001  (torch.float is float32)
double = float64
long = int64

DTYPES = (bool_, int64, float32, float64)
_RANK = {bool_: 0, int64: 1, float32: 2, float64: 3}
_ALIASES = {
    "float32": float32, "float": float32, "float64": float64, "double": float64,
    "int64": int64, "long": int64, "bool": bool_,
}

_default_dtype = [float32]


def get_default_dtype() -> np.dtype:
    """The dtype of floating tensors made from Python floats (float32 unless changed)."""
    return _default_dtype[0]


def set_default_dtype(dtype) -> None:
    """Set the default floating dtype; only float32 and float64 are allowed, as in PyTorch."""
    d = as_dtype(dtype)
    if d.kind != "f":
        raise LaminaTypeError(f"set_default_dtype: only floating dtypes are allowed, got {d}")
    _default_dtype[0] = d


def as_dtype(dtype) -> np.dtype:
    """Normalize a dtype given as a lamina/NumPy dtype, a Python type or a name."""
    if isinstance(dtype, np.dtype) and dtype in _RANK:
        return dtype
    if dtype is builtins.float:
        return _default_dtype[0]
    if dtype is int:
        return int64
    if dtype is bool:
        return bool_
    if isinstance(dtype, str) and dtype in _ALIASES:
        return _ALIASES[dtype]
    try:
        d = np.dtype(dtype)
    except TypeError:
        d = None
    if d in _RANK:
        return d
    raise LaminaTypeError(
        f"unsupported dtype {dtype!r}: lamina supports float32, float64, int64 and bool"
    )



def canonical_dtype(arr_dtype: np.dtype) -> np.dtype:
    """Map any NumPy dtype onto the four lamina dtypes (ints -> int64, floats -> float32/64)."""
    if arr_dtype in _RANK:
        return arr_dtype
    kind = arr_dtype.kind
    if kind == "f":
        return float64 if arr_dtype.itemsize > 4 else float32
    if kind in "iu":
        return int64
    if kind == "b":
        return bool_
    raise LaminaTypeError(f"unsupported array dtype {arr_dtype}: lamina supports float32, "
                          "float64, int64 and bool")


def scalar_kind(x) -> int:
    """Category of a Python scalar: 0 bool, 1 int, 2 float."""
    if isinstance(x, bool):
        return 0
    if isinstance(x, int):
        return 1
    return 2


def _category(d: np.dtype) -> int:
    return 2 if d.kind == "f" else (1 if d.kind in "iu" else 0)


def promote_types(a: np.dtype, b: np.dtype) -> np.dtype:
    """PyTorch's promotion between two tensor dtypes (of equal dimension category)."""
    if a is b or a == b:
        return a
    return a if _RANK[a] > _RANK[b] else b


def result_dtype(a_dtype: np.dtype, a_dim: bool, b_dtype: np.dtype, b_dim: bool) -> np.dtype:
    """Promotion of two tensors: dimensioned tensors win over 0-dim ones of the same category.

    ``a_dim``/``b_dim`` say whether each operand has at least one dimension. This follows
    PyTorch: ``float32 tensor * float64 0-dim tensor`` stays float32.
    """
    if a_dim == b_dim:
        return promote_types(a_dtype, b_dtype)
    dim_t, zero_t = (a_dtype, b_dtype) if a_dim else (b_dtype, a_dtype)
    if _category(zero_t) > _category(dim_t):
        return zero_t
    return dim_t


def scalar_result_dtype(t_dtype: np.dtype, scalar) -> np.dtype:
    """Promotion of a tensor with a Python scalar: the scalar only raises the category."""
    k = scalar_kind(scalar)
    c = _category(t_dtype)
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
    """A seeded source of random numbers, like ``torch.Generator``.

    >>> g = Generator().manual_seed(0)
    """

    def __init__(self, seed: int | None = None):
        self._np = np.random.default_rng(seed)
        self._seed = seed

    def manual_seed(self, seed: int) -> Generator:
        seed = _seed_int(seed)
        self._np = np.random.default_rng(seed % 2**64)  # PyTorch takes negative seeds too
        self._seed = seed
        return self

    def initial_seed(self) -> int | None:
        return self._seed

    @property
    def np(self) -> np.random.Generator:
        return self._np


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


def get_rng_state() -> dict:
    """The state of lamina's global generator (a JSON-able dict), for ``set_rng_state``."""
    return {"bit_generator": default_generator.np.bit_generator.state,
            "seed": default_generator.initial_seed()}


def set_rng_state(state: dict) -> None:
    """Put lamina's global generator back to a state from ``get_rng_state``."""
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
