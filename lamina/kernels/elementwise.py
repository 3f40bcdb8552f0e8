"""Element-wise fast paths: ReLU's backward in one compiled pass.

The reference ``lamina.ops.elementwise.Relu`` computes its backward as ``g * (out > 0)``:
three NumPy passes (compare, cast the mask, multiply) and two temporaries. ``ReluCompiled``
does it in one compiled pass over memory, on any dense layout (conv outputs are dense but
channels-first, batch-last), with the same product and so the same results, NaN and signed
zeros included: 0.92 -> 0.47 ms on 1M float32 elements (measured when it was added).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from lamina import dispatch
from lamina.kernels.jit import kernels
from lamina.ops.elementwise import Relu

__all__ = ["ReluKernels", "relu_kernels", "ReluCompiled"]

# below this many elements the compiled call costs more than the three ufuncs it replaces
_MIN_SIZE = 4096


class ReluKernels(NamedTuple):
    backward: Callable      # (out, g, res): res = g * (out > 0), all 1-D and dense


@kernels
def relu_kernels(numba) -> ReluKernels:
    """The compiled pass (a ``ReluKernels``), or None (no numba, turned off, or a dtype other
    than float32/float64)."""

    @numba.njit(cache=True, nogil=True)
    def backward(out, g, res):
        for i in range(res.size):
            res[i] = g[i] * (out[i] > 0)

    return ReluKernels(backward)


def memory_order_flat(*arrays):
    """1-D views of arrays that share one dense memory layout (C order, or any permutation of
    it such as conv's channels-first, batch-last outputs), in memory order; None if they are
    not dense."""
    a = arrays[0]
    if not a.flags.c_contiguous:
        order = np.argsort([-s for s in a.strides], kind="stable")
        arrays = tuple(x.transpose(order) for x in arrays)
    if not all(x.flags.c_contiguous for x in arrays):
        return None
    return tuple(x.reshape(-1) for x in arrays)


def _applies(x) -> bool:
    """Big enough to pay for the call, and the pass exists for ``x``'s dtype."""
    return x.size >= _MIN_SIZE and relu_kernels(x.dtype) is not None


@dispatch.register("relu", applies=_applies)
class ReluCompiled(Relu):
    """``Relu`` whose backward is one compiled pass when the gradient has the output's dtype
    and dense memory layout (else the reference's ``g * (out > 0)``)."""

    @staticmethod
    def backward(ctx, g):
        out = ctx.saved[0]
        if g.dtype is out.dtype and g.shape == out.shape and g.strides == out.strides:
            res = np.empty_like(out)        # same memory layout as out (order "K")
            flat = memory_order_flat(out, g, res)
            if flat is not None:
                relu_kernels(out.dtype).backward(*flat)
                return res
        return Relu.backward(ctx, g)
