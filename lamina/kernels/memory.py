"""Memory for the fast paths: a small buffer pool.

The big per-step temporaries of the fast paths (column matrices, padded inputs, col2im sums,
LSTM gate buffers) are megabytes: glibc hands such blocks back to the OS when freed and every
new step faults them in again (PERF-NOTES: about a third of a NumPy LeNet step). ``buffer``
recycles them by shape once nothing but the pool refers to them (checked with the reference
count, so a buffer saved for backward or handed out as an output view is never reused while
alive). ``LAMINA_CONV_POOL=0`` turns the pool off. The reference ops never use it.
"""

from __future__ import annotations

import math
import os
import sys
import threading

import numpy as np

_POOL: dict = {}
_POOL_ON = os.environ.get("LAMINA_CONV_POOL", "1") != "0"
_POOL_PER_KEY = 4
_POOL_KEYS = 32
_POOL_MAX_BYTES = 64 << 20       # larger arrays are not kept
_POOL_LOCK = threading.Lock()


def _free_refcount() -> int:
    """Reference count ``buffer`` sees for a pooled buffer nobody else holds."""
    lst = [np.empty(1)]
    for b in lst:
        return sys.getrefcount(b)
    return -1


_FREE_RC = _free_refcount()


def clear_buffer_pool() -> None:
    """Drop every recycled buffer (memory held between steps is returned to the allocator)."""
    with _POOL_LOCK:
        _POOL.clear()


def buffer(shape, dtype, zero=False):
    """An array of ``shape`` and ``dtype`` (zeroed when ``zero``), recycled when possible."""
    if not _POOL_ON or math.prod(shape) * dtype.itemsize > _POOL_MAX_BYTES:
        return np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
    key = (shape, dtype)
    with _POOL_LOCK:                  # a buffer handed to one thread is referenced at once
        lst = _POOL.get(key)
        if lst is None:
            if len(_POOL) >= _POOL_KEYS:        # forget the oldest shape
                del _POOL[next(iter(_POOL))]
            lst = _POOL[key] = []
        for b in lst:
            if sys.getrefcount(b) == _FREE_RC:
                found = b
                break
        else:
            found = None
            if len(lst) < _POOL_PER_KEY:
                found = np.empty(shape, dtype)
                lst.append(found)
    if found is None:
        return np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
    if zero:
        found.fill(0)
    return found
