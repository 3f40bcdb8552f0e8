"""Functional forms of the layers and losses (``import lamina.nn.functional as F``).

The ops live in ``lamina.ops`` (``nn.py``, ``loss.py`` and others); this module gathers them
under PyTorch's ``torch.nn.functional`` names. A new op file adds one import line at the end.
"""
# isort: skip_file
# ruff: noqa: F401, F403

from __future__ import annotations

import numpy as np

from lamina.errors import LaminaError, LaminaTypeError, LaminaValueError
from lamina import ops as _ops
from lamina.ops import nn as _nn
from lamina.tensor import Tensor, _make

from lamina.ops.elementwise import sigmoid, tanh
from lamina.ops.nn import (
    batch_norm, batch_norm_relu, celu, dropout, elu, gelu, group_norm, hardsigmoid, hardswish,
    hardtanh, heaviside, layer_norm, linear, logsigmoid, mish, prelu, relu6, selu, silu,
    softplus, softsign, tanhshrink, threshold,
)
from lamina.ops.loss import (
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, huber_loss, kl_div,
    l1_loss, mse_loss, nll_loss, smooth_l1_loss,
)
from lamina.ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d
from lamina.ops.pool import (
    adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_max_pool1d, adaptive_max_pool2d,
    avg_pool1d, avg_pool2d, max_pool1d, max_pool2d,
)
from lamina.nn.modules.misc import dropout2d
from lamina.nn.modules.sparse import embedding


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """``max(x, 0)``. ``inplace`` is accepted for compatibility; lamina computes out of
    place (same values and gradients)."""
    return _ops.relu(input)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``x`` where positive, ``negative_slope * x`` elsewhere (``inplace`` is ignored)."""
    return _ops.leaky_relu(input, negative_slope)


def _implicit_dim(ndim: int) -> int:
    # PyTorch's legacy rule when dim is omitted
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype=None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim`` (fused, numerically stable)."""
    if dim is None:
        dim = _implicit_dim(input.ndim)
    return _ops.softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype=None) -> Tensor:
    """``x - logsumexp(x)`` along ``dim`` (fused, numerically stable)."""
    if dim is None:
        dim = _implicit_dim(input.ndim)
    return _ops.log_softmax(input, dim, dtype=dtype)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype=None) -> Tensor:
    """``softmax(-x)`` along ``dim``."""
    if dim is None:
        dim = _implicit_dim(input.ndim)
    return softmax(-input, dim, dtype=dtype)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """Int64 one-hot encoding with a new last dim of size ``num_classes`` (``max + 1`` when
    -1)."""
    if not isinstance(tensor, Tensor) or tensor._data.dtype.kind not in "iu":
        raise LaminaValueError("one_hot: only applicable to index tensor of type LongTensor.")
    if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool):
        raise LaminaTypeError(f"one_hot: num_classes must be an int, got {num_classes!r}")
    t = tensor._data
    if t.size == 0 and num_classes <= 0:
        raise LaminaValueError("one_hot: Can not infer total number of classes from empty "
                               "tensor.")
    if num_classes == -1:
        num_classes = int(t.max()) + 1
    if t.size and t.min() < 0:
        raise LaminaValueError("one_hot: Class values must be non-negative.")
    if t.size and t.max() >= num_classes:
        raise LaminaValueError("one_hot: Class values must be smaller than num_classes.")
    out = np.zeros((*t.shape, num_classes), dtype=np.int64)
    np.put_along_axis(out, t[..., None].astype(np.intp), 1, axis=-1)
    return _make(out)


from lamina.ops.attention import scaled_dot_product_attention  # noqa: E402
from lamina.ops.rms_norm import rms_norm  # noqa: E402
from lamina.nn.distill import kl_div  # noqa: E402,F811  (the same op, warning on 'mean')

# padding, sliding blocks, 3-D convolution and pooling, resampling (issue #14)
from lamina.ops.movement import pad  # noqa: E402
from lamina.ops.fold import fold, unfold  # noqa: E402
from lamina.ops.conv3d import conv3d, conv_transpose3d  # noqa: E402
from lamina.ops.pool3d import (  # noqa: E402
    adaptive_avg_pool3d, adaptive_max_pool3d, avg_pool3d, max_pool3d,
)
from lamina.ops.resample import interpolate  # noqa: E402


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12,
              out=None) -> Tensor:
    """``input / max(||input||_p, eps)`` with the norm taken over ``dim`` (each slice along
    ``dim`` scaled to unit ``p``-norm; an all-zero slice stays zero). ``out=`` is not
    supported in lamina.

    >>> normalize(lamina.tensor([[3.0, 4.0]])).tolist()
    [[0.6, 0.8]]
    """
    op = "normalize"
    if out is not None:
        raise NotImplementedError(f"{op}: out= is not supported in lamina")
    if not isinstance(input, Tensor):
        raise LaminaTypeError(f"{op}: expected a Tensor, got {type(input).__name__}")
    if input._data.dtype.kind != "f":
        raise LaminaValueError(f"{op}: expected a floating input, got {input.dtype}")
    nd = max(input.ndim, 1)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or not -nd <= dim < nd:
        raise LaminaValueError(f"{op}: dim {dim!r} is out of range for an input of shape "
                               f"{tuple(input.shape)}")
    if not isinstance(p, (int, float, np.integer, np.floating)) or isinstance(p, bool):
        raise LaminaTypeError(f"{op}: p must be a number, got {p!r}")
    try:
        denom = _ops.norm(input, p, dim, keepdim=True).clamp(min=eps)
    except LaminaError as e:          # e.g. the inf-norm of an empty slice: name this op
        raise type(e)(f"{op}: {e}") from e
    return input / denom
