"""Computer vision: box and region operators (``ops``) for detection and segmentation."""

from lamina.vision import ops

__all__ = ["ops"]
from lamina.vision import transforms  # noqa: E402,F401  (issue #15)
