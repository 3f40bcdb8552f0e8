"""Switching gradient recording on and off: ``no_grad``, ``enable_grad``, ``set_grad_enabled``.

Grad mode is per thread, as in PyTorch: a ``no_grad`` block in one thread never stops another
thread from recording its graph, and every new thread starts with recording on. (The default
dtype and the random generator stay process-wide, as they are in PyTorch.)
"""

from __future__ import annotations

import functools
import threading


class _GradMode(threading.local):
    """The per-thread flag every op reads: record the graph only while ``enabled`` is true.

    ``GradMode.enabled`` reads and writes the calling thread's own value. ``__init__`` runs
    once in each thread, on its first access, so the value is a plain attribute of that
    thread's dict (about 30 ns a read faster than falling back to a class attribute).
    """

    enabled = True

    def __init__(self):
        self.enabled = True


GradMode = _GradMode()


def is_grad_enabled() -> bool:
    return GradMode.enabled


class _GradContext:
    """Base of the grad-mode context managers; each also works as a decorator."""

    _mode = True

    def __enter__(self):
        self._prev = GradMode.enabled
        GradMode.enabled = self._mode

    def __exit__(self, *exc):
        GradMode.enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradContext):
    """Context manager and decorator: ops inside record no graph.

    >>> with no_grad():
    ...     w -= lr * w.grad
    """

    _mode = False


class enable_grad(_GradContext):
    """Context manager and decorator: turn recording back on inside a ``no_grad`` block."""

    _mode = True


class set_grad_enabled(_GradContext):
    """Set recording on or off, as a function call or as a context manager."""

    def __init__(self, mode: bool):
        self._prev = GradMode.enabled
        self._mode = bool(mode)
        GradMode.enabled = self._mode

    def __enter__(self):
        pass

    def __call__(self, fn):
        mode = self._mode
        GradMode.enabled = self._prev

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper
