"""``lamina.backends``: PyTorch's ``torch.backends`` availability flags for a CPU-only
framework (``lamina.backends.mps.is_available()`` is False)."""

from lamina.backends import mps

__all__ = ["mps"]
