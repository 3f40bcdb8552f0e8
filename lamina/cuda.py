"""``lamina.cuda``: PyTorch's ``torch.cuda`` queries, answered for a CPU-only framework.

``is_available()`` is False and ``device_count()`` 0, so the usual
``device = "cuda" if lamina.cuda.is_available() else "cpu"`` picks the CPU unchanged.
"""

from __future__ import annotations

from lamina.device import check_device


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def is_bf16_supported() -> bool:
    return False


def manual_seed(seed: int) -> None:
    """Accepted and ignored: there is no CUDA generator to seed (``lamina.manual_seed``
    seeds the only one)."""


def manual_seed_all(seed: int) -> None:
    """Accepted and ignored, as ``manual_seed``."""


def synchronize(device=None) -> None:
    """Accepted and ignored when no device is named: CPU work is already synchronous."""
    if device is not None:
        check_device(device, "cuda.synchronize")


def empty_cache() -> None:
    """Nothing to free: lamina holds no device memory."""


def current_device() -> int:
    check_device("cuda", "cuda.current_device")
