"""The exceptions lamina raises, and the one rule a PyTorch user can rely on.

PyTorch raises ``RuntimeError`` for most bad values, shapes and dtypes, ``TypeError`` for an
argument of the wrong Python type and ``IndexError`` for some out-of-range indices; Python code
conventionally catches ``ValueError`` for bad values. lamina raises one of these classes, each
of which is a ``RuntimeError`` (so code written for PyTorch catches it) and also the builtin
that names the kind of mistake (so code written in the Python convention catches it):

- ``LaminaValueError`` (``ValueError``): a bad value, shape or dtype: where PyTorch raises
  ``RuntimeError`` or ``ValueError``.
- ``LaminaTypeError`` (``TypeError``): an argument of the wrong Python type: where PyTorch
  raises ``TypeError``.
- ``LaminaIndexError`` (``IndexError``): an index outside its dimension.
- ``LaminaError`` itself: a call that is wrong in the current state (a freed graph, an
  optimizer stepped in the wrong order), where PyTorch raises ``RuntimeError``.

Every message starts with the operation that raised it: ``"conv2d: ..."``.

This module imports nothing from lamina, so any layer can use it.
"""

__all__ = ["LaminaError", "LaminaValueError", "LaminaTypeError", "LaminaIndexError"]


class LaminaError(RuntimeError):
    """Base class of every error lamina raises for a bad call; a ``RuntimeError``."""


class LaminaValueError(LaminaError, ValueError):
    """A bad value, shape or dtype: both ``ValueError`` and ``RuntimeError``."""


class LaminaTypeError(LaminaError, TypeError):
    """An argument of the wrong Python type: both ``TypeError`` and ``RuntimeError``."""


class LaminaIndexError(LaminaError, IndexError):
    """An index outside its dimension: both ``IndexError`` and ``RuntimeError``."""
