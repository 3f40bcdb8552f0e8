"""The fast floor: compiled kernels and memory reuse that make lamina's reference ops fast.

``lamina/ops`` computes each op with NumPy alone, as a student reads it. This package holds
what makes those ops fast on a CPU, one module per family, each registering its paths with
``lamina.dispatch`` (which op it accelerates, when it applies, its forward and backward):

- ``jit``: the numba loader every family uses (``LAMINA_NUMBA=0`` turns it off);
- ``memory``: the buffer pool for large per-step temporaries;
- one module per op family (added as the fast paths move here from ``lamina/ops``).

``load()`` imports every family; ``lamina/__init__.py`` calls it once the reference ops
exist. Kernels may use the reference ops' helpers; the reference ops never import this
package.
"""

from __future__ import annotations

import importlib

# family modules, imported (and so registered) in this order
FAMILIES: tuple[str, ...] = ("conv", "pool", "batchnorm", "lstm", "elementwise", "optim")


def load() -> None:
    """Import every kernel family, registering its fast paths with ``lamina.dispatch``."""
    for name in FAMILIES:
        importlib.import_module(f"{__name__}.{name}")
