"""``lamina.linalg``: torch.linalg's functions under torch.linalg's names.

The reference math and the gradients live in ``lamina/ops/linalg_decomp.py``; this module is
the public namespace, so that ``import lamina as torch`` keeps ``torch.linalg.solve(A, B)``
working.

>>> import lamina
>>> A = lamina.tensor([[4.0, 1.0], [1.0, 3.0]])
>>> lamina.linalg.solve(A, lamina.tensor([1.0, 2.0]))
tensor([0.0909, 0.6364])
"""

from lamina.ops import linalg_decomp
from lamina.ops.linalg import matmul  # noqa: F401  (torch.linalg.matmul)
from lamina.ops.linalg_decomp import *  # noqa: F401,F403

__all__ = ["matmul", *linalg_decomp.__all__]
