"""Fused neural-network ops with hand-written backward passes: ``linear``, ``dropout``,
``batch_norm``, ``layer_norm`` and the activations that the elementwise module lacks
(``elu``, ``gelu``, ``silu``, ``softplus``, ``heaviside``), plus softmax / log_softmax
fallbacks used until ``lamina.ops`` provides them.

Each is one graph node: one Python call forward and one backward, the arithmetic in NumPy and
BLAS. ``lamina.nn.functional`` exposes them under PyTorch's names.
"""

from __future__ import annotations

from lamina.autograd.function import Function
from lamina.tensor import Tensor

__all__ = ["linear"]


def _tensor(x, op: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    return x


def _float_tensor(x, op: str) -> Tensor:
    _tensor(x, op)
    if x.data.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating point tensor, got dtype {x.dtype}")
    return x


# --- linear ----------------------------------------------------------------------------------

class Linear(Function):
    """``y = x @ W.T + b`` over any leading dims.

    ``x @ W.T`` hands BLAS the transpose flag (no copy); the bias is added in place into the
    fresh GEMM output. Backward: ``gx = g @ W``, ``gW = g2d.T @ x2d``, ``gb = g2d.sum(0)``:
    three BLAS-bound passes and nothing else.
    """

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        if x.ndim == 2:
            out = x @ w.T
        else:
            out = (x.reshape(-1, x.shape[-1]) @ w.T).reshape(*x.shape[:-1], w.shape[0])
        if b is not None:
            out += b
        return out

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved
        nx, nw, nb = ctx.needs_input_grad
        if g.ndim != 2:
            g = g.reshape(-1, g.shape[-1])
        gx = gw = gb = None
        if nx:
            gx = g @ w
            if x.ndim != 2:
                gx = gx.reshape(x.shape)
        if nw:
            x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
            gw = g.T @ x2
        if nb:
            gb = g.sum(axis=0)
        return gx, gw, gb


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias`` with ``weight`` of shape (out_features, in_features).

    ``input`` has shape (*, in_features); the result (*, out_features).

    >>> linear(lamina.ones(2, 3), lamina.ones(4, 3)).shape
    (2, 4)
    """
    xd, wd = input.data, weight.data
    if wd.ndim != 2 or xd.ndim == 0 or xd.shape[-1] != wd.shape[1]:
        _linear_error(input, weight)
    if xd.dtype is not wd.dtype and xd.dtype != wd.dtype:
        raise RuntimeError(f"linear: input and weight must have the same dtype, got "
                           f"{xd.dtype} and {wd.dtype}")
    if bias is not None:
        bd = bias.data
        if bd.shape != (wd.shape[0],) or bd.dtype != wd.dtype:
            raise RuntimeError(f"linear: bias must have shape ({wd.shape[0]},) and dtype "
                               f"{wd.dtype}, got shape {bd.shape} and dtype {bd.dtype}")
    return Linear.apply(input, weight, bias)


def _linear_error(input, weight):
    _tensor(input, "linear")
    _tensor(weight, "linear")
    if weight.ndim != 2:
        raise RuntimeError(f"linear: weight must be 2-D (out_features, in_features), got "
                           f"shape {tuple(weight.shape)}")
    if input.ndim == 0:
        raise RuntimeError("linear: input must have at least 1 dimension, got a 0-d tensor")
    raise RuntimeError(
        f"linear: mat1 and mat2 shapes cannot be multiplied: input {tuple(input.shape)} has "
        f"{input.shape[-1]} features but weight {tuple(weight.shape)} expects "
        f"{weight.shape[1]} (in_features)"
    )
