"""Quantized dtype markers: ``lamina.qint8`` and ``lamina.quint8`` (``torch.qint8``...).

A marker names the integer type a quantized tensor stores and its range; the values live in
NumPy ``int8`` / ``uint8`` arrays.
"""

from __future__ import annotations

import numpy as np


class QDtype:
    """A quantized integer type: its name, NumPy storage type and range ``[qmin, qmax]``."""

    __slots__ = ("name", "numpy_dtype", "qmin", "qmax")

    def __init__(self, name: str, numpy_dtype, qmin: int, qmax: int):
        self.name = name
        self.numpy_dtype = np.dtype(numpy_dtype)
        self.qmin = qmin
        self.qmax = qmax

    def __repr__(self) -> str:
        return f"lamina.{self.name}"

    def __reduce__(self):
        return self.name          # pickles as the module-level singleton


qint8 = QDtype("qint8", np.int8, -128, 127)
quint8 = QDtype("quint8", np.uint8, 0, 255)
