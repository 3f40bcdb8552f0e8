"""The fast-path registry: where a reference op asks whether a faster implementation applies.

``lamina/ops`` holds one readable ``Function`` per op: the NumPy reference math. The speed
lives one floor up, in ``lamina/kernels``: each fast path is a ``Function`` subclass of the
op it accelerates, registered here with the condition under which it applies. An op's public
function asks once, and never names a kernel::

    # lamina/ops/conv.py (the reference floor)
    fn = dispatch.select("conv2d", Conv2d, x, w, stride, dilation, groups)
    return fn.apply(x, w, b, stride, pads, dilation, groups)

    # lamina/kernels/conv.py (the fast floor)
    @dispatch.register("conv2d", applies=lambda x, w, stride, dilation, groups: ...)
    class Conv2dDirect(Conv2d):
        @staticmethod
        def forward(ctx, ...): ...

This module imports nothing from lamina, so every layer may use it. ``lamina.kernels``
registers its paths when ``lamina`` is imported; until then, and with fast paths off,
``select`` returns the reference.

One switch turns every fast path off: the environment variable ``LAMINA_NUMBA=0`` (read at
import), or ``set_fast_paths(False)`` / ``with fast_paths(False):`` at run time (tests run
both floors this way and compare them).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class FastPath:
    """One registered implementation of ``op``: ``function`` (a ``Function`` subclass, or any
    object the op knows how to call) is used when ``applies(*args)`` is true."""

    op: str
    name: str
    function: object
    applies: Callable[..., bool]


_PATHS: dict[str, list[FastPath]] = {}
_enabled = os.environ.get("LAMINA_NUMBA", "1") != "0"


def register(op: str, applies: Callable[..., bool] | None = None, name: str | None = None):
    """Class or function decorator: register the decorated object as a fast path of ``op``.

    ``applies`` receives the arguments the op passes to ``select`` and says whether this path
    handles them; paths are tried in registration order and the first that applies wins."""

    def deco(obj):
        _PATHS.setdefault(op, []).append(
            FastPath(op, name or getattr(obj, "__name__", op), obj, applies or _always))
        return obj

    return deco


def _always(*args) -> bool:
    return True


def select(op: str, reference, *args):
    """The fast path of ``op`` that applies to ``args``, or ``reference`` when none does (or
    fast paths are off)."""
    if _enabled:
        for p in _PATHS.get(op, ()):
            if p.applies(*args):
                return p.function
    return reference


def paths(op: str | None = None) -> list[FastPath]:
    """The registered fast paths (of one op, or all), for inspection and tests."""
    if op is not None:
        return list(_PATHS.get(op, ()))
    return [p for lst in _PATHS.values() for p in lst]


def fast_paths_enabled() -> bool:
    return _enabled


def set_fast_paths(on: bool) -> None:
    """Turn every fast path on or off for the whole process."""
    global _enabled
    _enabled = bool(on)


@contextmanager
def fast_paths(on: bool):
    """``with fast_paths(False):`` runs the block on the reference ops alone."""
    prev = _enabled
    set_fast_paths(on)
    try:
        yield
    finally:
        set_fast_paths(prev)
