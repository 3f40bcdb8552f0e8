"""Process-wide runtime settings: BLAS threads (``lamina.compile`` lives in ``lamina.compiler``).

``set_num_threads(n)`` sets how many threads the BLAS behind NumPy (OpenBLAS, MKL, ...) uses for
matrix products: through ``threadpoolctl`` when it is installed, otherwise through OpenBLAS's
own C function, found in the library NumPy bundles. lamina's compiled kernels
(``lamina/kernels``, numba) are single-threaded on purpose: they work on one sample's or one
small block's data, where threads cost more than they gain, so this setting leaves them alone.
"""

from __future__ import annotations

import ctypes
import glob
import os

from lamina.errors import LaminaValueError

_threads = [None]       # what set_num_threads last set (None: never called)


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for the BLAS (matrix products, convolutions' GEMMs).

    >>> lamina.set_num_threads(1)     # e.g. many processes sharing one machine
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise LaminaValueError(f"set_num_threads expects a positive integer, got {n!r}")
    try:
        import threadpoolctl
    except ImportError:
        threadpoolctl = None
    if threadpoolctl is not None:
        threadpoolctl.threadpool_limits(limits=n, user_api="blas")
    else:
        fn = _openblas("set")
        if fn is None:
            raise LaminaValueError("set_num_threads: found no way to set the BLAS thread count "
                                   "(install threadpoolctl)")
        fn(n)
    _threads[0] = n


def get_num_threads() -> int:
    """The number of threads the BLAS uses (``os.cpu_count()`` when it cannot be read)."""
    try:
        import threadpoolctl
    except ImportError:
        threadpoolctl = None
    if threadpoolctl is not None:
        counts = [i["num_threads"] for i in threadpoolctl.threadpool_info()
                  if i.get("user_api") == "blas"]
        if counts:
            return int(counts[0])
    fn = _openblas("get")
    if fn is not None:
        return int(fn())
    return _threads[0] or os.cpu_count() or 1


def _openblas(which: str):
    """OpenBLAS's ``{set,get}_num_threads`` from the library bundled with NumPy, or None."""
    import numpy as np

    root = os.path.dirname(os.path.dirname(np.__file__))
    for path in glob.glob(os.path.join(root, "numpy.libs", "*openblas*")) + \
            glob.glob(os.path.join(os.path.dirname(np.__file__), ".dylibs", "*openblas*")):
        lib = ctypes.CDLL(path)          # already loaded by NumPy: the same library
        for name in (f"scipy_openblas_{which}_num_threads64_", f"openblas_{which}_num_threads64_",
                     f"openblas_{which}_num_threads"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.argtypes = [ctypes.c_int] if which == "set" else []
                fn.restype = None if which == "set" else ctypes.c_int
                return fn
    return None
