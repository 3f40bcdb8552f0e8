"""``lamina.accelerator``: PyTorch's ``torch.accelerator`` queries. lamina runs on the CPU, which
PyTorch does not count as an accelerator: none is available and the current one is None."""

from __future__ import annotations


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def current_accelerator(check_available: bool = False):
    return None
