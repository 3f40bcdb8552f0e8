"""The numba loader: one way for every fast path to build its compiled kernels.

numba is an optional extra (``pip install lamina[fast]``); ``LAMINA_NUMBA=0`` (or
``lamina.dispatch.set_fast_paths(False)``) turns it off. The reference op in ``lamina/ops``
computes the same function with NumPy alone; a fast path uses its kernels only when they
exist::

    @kernels
    def _relu_kernels(numba):
        @numba.njit(cache=True, nogil=True)
        def backward(out, g, res): ...
        return backward

    kern = _relu_kernels(x.dtype)      # compiled on first use; None without numba

Kernels are single-threaded on purpose: OpenBLAS's worker threads spin between GEMMs, and a
second pool of threads fighting them made a 1M-element kernel 15x slower, not 2x faster.
"""

from __future__ import annotations

import os

import numpy as np

from lamina import dispatch

ENABLED = os.environ.get("LAMINA_NUMBA", "1") != "0"
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class kernels:  # noqa: N801 - used as a decorator
    """Wrap ``build(numba) -> kernels`` so that calling the result with a dtype compiles the
    kernels once and returns them, or None: numba missing or unusable, ``LAMINA_NUMBA=0``,
    ``enabled`` set False (tests compare both paths that way), or a dtype other than
    float32/float64."""

    def __init__(self, build):
        self.build = build
        self.enabled = ENABLED
        self._built = False
        self._value = None
        self.__doc__ = build.__doc__

    def __call__(self, dtype):
        if (not self.enabled or not dispatch.fast_paths_enabled()
                or np.dtype(dtype) not in _FLOATS):
            return None
        if not self._built:
            self._built = True
            try:
                import numba
                self._value = self.build(numba)
            except Exception:      # no numba, or nowhere to cache: the NumPy path it is
                self._value = None
        return self._value
