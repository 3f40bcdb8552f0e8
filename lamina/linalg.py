"""``lamina.linalg``: torch.linalg's functions under torch.linalg's names.

The reference math and the gradients live in ``lamina/ops/linalg_decomp.py``; this module is
the public namespace, so that ``import lamina as torch`` keeps ``torch.linalg.solve(A, B)``
working.

>>> import lamina
>>> A = lamina.tensor([[4.0, 1.0], [1.0, 3.0]])
>>> lamina.linalg.solve(A, lamina.tensor([1.0, 2.0]))
tensor([0.0909, 0.6364])
"""

import numpy as np

from lamina.errors import LaminaValueError
from lamina.ops import contraction, linalg_decomp
from lamina.ops.linalg import matmul  # noqa: F401  (torch.linalg.matmul)
from lamina.ops.linalg_decomp import *  # noqa: F401,F403

__all__ = ["matmul", "cross", *linalg_decomp.__all__]


def cross(input, other, *, dim: int = -1):  # noqa: A002
    """``torch.linalg.cross``: the cross product along ``dim`` (default the last), which must
    have size 3; unlike ``lamina.cross``, whose ``dim=None`` picks the first dim of size 3.
    Inputs of the same number of dimensions broadcast against each other, as in PyTorch."""
    if input.ndim != other.ndim:
        raise LaminaValueError(f"linalg.cross: inputs must have the same number of dimensions, "
                               f"got shapes {tuple(input.shape)} and {tuple(other.shape)}")
    if input.shape != other.shape:
        try:
            shape = np.broadcast_shapes(tuple(input.shape), tuple(other.shape))
        except ValueError:
            raise LaminaValueError(f"linalg.cross: shapes {tuple(input.shape)} and "
                                   f"{tuple(other.shape)} cannot be broadcast together") from None
        input, other = input.expand(*shape), other.expand(*shape)
    return contraction.cross(input, other, dim=dim)
