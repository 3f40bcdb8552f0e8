"""Fused neural-network ops with hand-written backward passes: ``linear``, ``dropout``,
``batch_norm``, ``layer_norm`` and the activations that the elementwise module lacks
(``elu``, ``gelu``, ``silu``, ``softplus``, ``heaviside``, ...). softmax and log_softmax
live in ``lamina.ops.reduce``.

Each is one graph node: one Python call forward and one backward, the arithmetic in NumPy and
BLAS. ``lamina.nn.functional`` exposes them under PyTorch's names.
"""

from __future__ import annotations

import math

import numpy as np

from lamina import backend, dispatch
from lamina.autograd.function import Function
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.ops.reduce import softmax
from lamina.tensor import Tensor

__all__ = ["linear", "dropout", "batch_norm", "batch_norm_relu", "layer_norm", "group_norm",
           "elu", "gelu", "silu", "softplus", "heaviside", "hardtanh", "relu6",
           "hardsigmoid", "hardswish", "logsigmoid", "softsign", "selu", "celu", "mish",
           "tanhshrink", "threshold", "prelu", "softmin"]


def _tensor(x, op: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise LaminaTypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    return x


def _float_tensor(x, op: str) -> Tensor:
    _tensor(x, op)
    if x._data.dtype.kind != "f":
        raise LaminaValueError(f"{op}: expected a floating point tensor, got dtype {x.dtype}")
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
            out = (_rows(x) @ w.T).reshape(*x.shape[:-1], w.shape[0])
        if b is not None:
            out += b
        return out

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved
        nx, nw, nb = ctx.needs_input_grad
        if g.ndim != 2:
            g = _rows(g)
        gx = gw = gb = None
        if nx:
            gx = g @ w
            if x.ndim != 2:
                gx = gx.reshape(x.shape)
        if nw:
            x2 = x if x.ndim == 2 else _rows(x)
            gw = g.T @ x2
        if nb:
            gb = g.sum(axis=0)
        return gx, gw, gb


def _rows(a):
    """``a`` as a matrix (rows, last dim); spelled out, since ``reshape(-1, 0)`` is ambiguous
    for a zero-size last dim (0 in_features or out_features)."""
    return a.reshape(math.prod(a.shape[:-1]), a.shape[-1])


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias`` with ``weight`` of shape (out_features, in_features).

    ``input`` has shape (*, in_features); the result (*, out_features).

    >>> linear(lamina.ones(2, 3), lamina.ones(4, 3)).shape
    (2, 4)
    """
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        _tensor(input, "linear")
        _tensor(weight, "linear")
    xd, wd = input._data, weight._data
    if wd.ndim != 2 or xd.ndim == 0 or xd.shape[-1] != wd.shape[1]:
        _linear_error(input, weight)
    if xd.dtype is not wd.dtype and xd.dtype != wd.dtype:
        raise LaminaValueError(f"linear: input and weight must have the same dtype, got "
                               f"{xd.dtype} and {wd.dtype}")
    if bias is not None:
        bd = bias._data
        if bd.shape != (wd.shape[0],) or bd.dtype != wd.dtype:
            raise LaminaValueError(f"linear: bias must have shape ({wd.shape[0]},) and dtype "
                                   f"{wd.dtype}, got shape {bd.shape} and dtype {bd.dtype}")
    if wd.dtype.itemsize == 2 and backend.is_floating(wd.dtype):
        # float16 / bfloat16: multiply and accumulate in float32, round once, as matmul does
        f32 = [None if t is None else t.float() for t in (input, weight, bias)]
        return Linear.apply(*f32).to(wd.dtype)
    return Linear.apply(input, weight, bias)


def _linear_error(input, weight):
    _tensor(input, "linear")
    _tensor(weight, "linear")
    if weight.ndim != 2:
        raise LaminaValueError(f"linear: weight must be 2-D (out_features, in_features), got "
                               f"shape {tuple(weight.shape)}")
    if input.ndim == 0:
        raise LaminaValueError("linear: input must have at least 1 dimension, got a 0-d tensor")
    raise LaminaValueError(
        f"linear: mat1 and mat2 shapes cannot be multiplied: input {tuple(input.shape)} has "
        f"{input.shape[-1]} features but weight {tuple(weight.shape)} expects "
        f"{weight.shape[1]} (in_features)"
    )


# --- dropout ---------------------------------------------------------------------------------

class Dropout(Function):
    """Inverted dropout: zero each element with probability ``p`` and scale the survivors by
    ``1 / (1 - p)``; backward multiplies by the same scaled mask."""

    @staticmethod
    def forward(ctx, x, p, generator):
        q = 1.0 - p
        if q == 0.0:
            mask = np.zeros_like(x)
        else:
            mask = backend.rng(generator).random(x.shape, dtype=x.dtype)
            # floor(u + q) is 1 with probability q (u ~ U[0, 1)): kept elements, in place
            np.add(mask, q, out=mask)
            np.floor(mask, out=mask)
            mask *= 1.0 / q
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved[0], None, None


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
            generator=None) -> Tensor:
    """Randomly zero elements with probability ``p`` during training, scaling the rest by
    ``1 / (1 - p)`` so the expectation is unchanged; the identity when not ``training``.

    Draws from lamina's random state (``lamina.manual_seed``) or ``generator``. ``inplace``
    is accepted for compatibility; lamina always returns a new tensor.
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise LaminaValueError(f"dropout: probability has to be between 0 and 1, but got {p}")
    _float_tensor(input, "dropout")
    if not training or p == 0.0:
        return input
    return Dropout.apply(input, float(p), generator)


# --- normalization ---------------------------------------------------------------------------

def _update_running(rm, rv, mean, var, momentum, n):
    """Running statistics, in place; the variance with Bessel's correction (PyTorch)."""
    if rm is not None:
        rm *= 1.0 - momentum
        rm += momentum * mean
    if rv is not None:
        rv *= 1.0 - momentum
        rv += (momentum * n / (n - 1)) * var


class BatchNorm(Function):
    """Batch normalization over every axis except 1 (channels), for (N, C), (N, C, L),
    (N, C, H, W), ... inputs.

    Training: normalize with the batch mean and biased variance and update the running
    statistics in place (``running = (1 - momentum) * running + momentum * batch``, the
    unbiased variance for ``running_var``). Evaluation: normalize with the running statistics.

    Backward (training), with ``xhat`` the normalized input and ``m`` the count per channel:
    ``gx = w * invstd * (g - mean(g) - xhat * mean(g * xhat))``; ``gw = sum(g * xhat)``,
    ``gb = sum(g)``. In evaluation the statistics are constants: ``gx = g * w * invstd``.
    """

    @staticmethod
    def forward(ctx, x, w, b, rm, rv, training, momentum, eps):
        axes = (0, *range(2, x.ndim))               # all but the channels
        per_channel = (1, -1) + (1,) * (x.ndim - 2)  # a (C,) vector broadcast along axis 1
        if training:
            mean = x.mean(axis=axes)
            xc = x - mean.reshape(per_channel)
            var = np.square(xc).mean(axis=axes)      # biased
            _update_running(rm, rv, mean, var, momentum, x.size // x.shape[1])
        else:
            xc = x - rm.reshape(per_channel)
            var = rv
        invstd = (1.0 / np.sqrt(var + eps)).reshape(per_channel)
        xhat = xc * invstd
        out = xhat if w is None else xhat * w.reshape(per_channel)
        if b is not None:
            out = out + b.reshape(per_channel)
        # x itself is saved for the in-place-modification check (PyTorch saves it too)
        ctx.save_for_backward(x, xhat, invstd, w)
        ctx.axes, ctx.training = axes, training
        return out if out is not xhat else xhat.copy()

    @staticmethod
    def backward(ctx, g):
        xhat, invstd, w = ctx.saved[1:4]
        axes = ctx.axes
        nx, nw, nb = ctx.needs_input_grad[:3]
        gw = (g * xhat).sum(axis=axes) if nw else None
        gb = g.sum(axis=axes) if nb else None
        gx = None
        if nx:
            scale = invstd if w is None else invstd * w.reshape(invstd.shape)
            if ctx.training:     # the batch statistics depend on x too
                gx = g - g.mean(axis=axes, keepdims=True)
                gx -= xhat * (g * xhat).mean(axis=axes, keepdims=True)
                gx *= scale
            else:
                gx = g * scale
        return gx, gw, gb, None, None, None, None, None


class BatchNormReLU(BatchNorm):
    """``relu(batch_norm(x))`` as one node: forward rectifies BatchNorm's output, backward
    passes the gradient where the output is positive, then through BatchNorm's backward."""

    @staticmethod
    def forward(ctx, x, w, b, rm, rv, training, momentum, eps):
        y = np.maximum(BatchNorm.forward(ctx, x, w, b, rm, rv, training, momentum, eps), 0)
        # the output is saved, as PyTorch's relu saves it: changing it in place before
        # backward is then caught by the version check
        ctx.saved = (*ctx.saved, y)
        return y

    @staticmethod
    def backward(ctx, g):
        y = ctx.saved[4]
        return BatchNorm.backward(ctx, g * (y > 0))  # d/dy relu: 0 at 0 and NaN (PyTorch)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalization over all axes but 1 (PyTorch's ``F.batch_norm``).

    ``y = (x - mean) / sqrt(var + eps) * weight + bias`` per channel. With ``training`` the
    batch statistics are used (biased variance) and ``running_mean``/``running_var`` (when
    given) are updated in place with ``momentum`` (unbiased variance); otherwise the running
    statistics are used.
    """
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps,
                       False, "batch_norm")


def batch_norm_relu(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                    weight: Tensor | None = None, bias: Tensor | None = None,
                    training: bool = False, momentum: float = 0.1,
                    eps: float = 1e-5) -> Tensor:
    """``relu(batch_norm(...))`` as one op, with the same values and gradients (a lamina
    extension; PyTorch has no such function).

    The reference is ``BatchNormReLU``; the compiled fast path (``lamina.kernels.batchnorm``)
    does the ReLU inside BatchNorm's own passes over memory, recomputing the mask from the
    input in backward, so no separate ReLU output is stored or read back. ``nn.Sequential``
    calls this for a ``BatchNorm`` module directly followed by an ``nn.ReLU`` (measured on
    the conv-wide benchmark: see CHANGELOG).
    """
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps,
                       True, "batch_norm_relu")


def _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps,
                relu, op):
    _float_tensor(input, op)
    shape = input.shape
    if input.ndim < 2:
        raise LaminaValueError(f"{op}: expected an input with at least 2 dims (N, C, ...), "
                               f"got shape {tuple(shape)}")
    c = shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and (not isinstance(t, Tensor) or t.shape != (c,)):
            got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise LaminaValueError(f"{op}: {name} should contain {c} elements (one per "
                                   f"channel of input {tuple(shape)}), got {got}")
    if training:
        if input.numel() // max(c, 1) <= 1:
            raise LaminaValueError(f"{op}: Expected more than 1 value per channel when "
                                   f"training, got input size {tuple(shape)}")
        if not eps >= 0:
            raise LaminaValueError(f"{op}: eps must be positive during training, but got {eps}")
    elif running_mean is None or running_var is None:
        raise LaminaValueError(f"{op}: running_mean and running_var must be given when "
                               "training=False")
    fn = dispatch.select(op, BatchNormReLU if relu else BatchNorm, input._data)
    return fn.apply(input, weight, bias, running_mean, running_var, bool(training),
                    float(momentum), float(eps))


class LayerNorm(Function):
    """Layer normalization over the last ``k`` axes; backward
    ``gx = invstd * (gh - mean(gh) - xhat * mean(gh * xhat))`` with ``gh = g * w``."""

    @staticmethod
    def forward(ctx, x, w, b, k, eps):
        axes = tuple(range(x.ndim - k, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        xc = x - mean
        invstd = 1.0 / np.sqrt(np.square(xc).mean(axis=axes, keepdims=True) + eps)
        # PyTorch's variance is E[x^2] - E[x]^2, NaN (inf - inf) in a row whose mean squared
        # overflows: the row's output is NaN there, where the centred form here stays finite.
        big = np.abs(mean) > np.sqrt(np.finfo(x.dtype).max)
        if big.any():
            invstd[big] = np.nan
        xc *= invstd  # xhat
        ctx.save_for_backward(xc, invstd, w)
        ctx.axes = axes
        if w is not None:
            out = xc * w
            if b is not None:
                out += b
        elif b is not None:
            out = xc + b
        else:
            out = xc.copy()
        return out

    @staticmethod
    def backward(ctx, g):
        xhat, invstd, w = ctx.saved
        axes = ctx.axes
        nx, nw, nb = ctx.needs_input_grad[:3]
        lead = tuple(range(g.ndim - len(axes)))
        gw = (g * xhat).sum(axis=lead) if nw else None
        gb = g.sum(axis=lead) if nb else None
        gx = None
        if nx:
            gh = g * w if w is not None else g
            gx = gh - gh.mean(axis=axes, keepdims=True)
            gx -= xhat * (gh * xhat).mean(axis=axes, keepdims=True)
            gx *= invstd
        return gx, gw, gb, None, None


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize over the trailing ``normalized_shape`` dims (biased variance), then scale
    by ``weight`` and shift by ``bias`` (both of shape ``normalized_shape``)."""
    _float_tensor(input, "layer_norm")
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(ns)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != ns:
        raise LaminaValueError(
            f"layer_norm: given normalized_shape={list(ns)}, expected input with shape "
            f"[*, {', '.join(map(str, ns))}], but got input of size {tuple(input.shape)}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != ns:
            raise LaminaValueError(f"layer_norm: {name} must have shape {ns}, got "
                                   f"{tuple(t.shape)}")
    return LayerNorm.apply(input, weight, bias, k, float(eps))


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize each of ``num_groups`` channel groups per sample (over its channels and
    spatial positions, biased variance), then apply per-channel ``weight`` and ``bias``.

    Built from the fused layer-norm op on a (N, G, C/G * spatial) view, so backward is that
    op's plus the affine's.
    """
    _float_tensor(input, "group_norm")
    if input.ndim < 2:
        raise LaminaValueError(f"group_norm: expected an input with at least 2 dims (N, C, ...), "
                               f"got shape {tuple(input.shape)}")
    n, c = input.shape[:2]
    if num_groups <= 0 or c % num_groups:
        raise LaminaValueError(f"group_norm: expected the number of channels ({c}) to be "
                               f"divisible by num_groups ({num_groups})")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise LaminaValueError(f"group_norm: {name} must have shape ({c},), got "
                                   f"{tuple(t.shape)}")
    y = LayerNorm.apply(input.reshape(n, num_groups, -1), None, None, 1, float(eps))
    y = y.reshape(input.shape)
    bshape = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(bshape)
    if bias is not None:
        y = y + bias.reshape(bshape)
    return y


# --- activations -----------------------------------------------------------------------------

class Elu(Function):
    @staticmethod
    def forward(ctx, x, alpha):
        neg = x <= 0
        with np.errstate(over="ignore"):
            e = np.expm1(np.where(neg, x, 0))
        e *= alpha
        out = np.where(neg, e, x)
        ctx.save_for_backward(neg, e)
        ctx.alpha = alpha
        return out

    @staticmethod
    def backward(ctx, g):
        neg, e = ctx.saved
        # d/dx alpha * (exp(x) - 1) = alpha * exp(x) = alpha * (exp(x) - 1) + alpha
        return np.where(neg, g * (e + ctx.alpha), g), None


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise (``inplace`` is accepted and
    ignored: lamina computes out of place)."""
    return Elu.apply(_float_tensor(input, "elu"), float(alpha))


# erf by piecewise Taylor polynomials (NumPy has no erf): [0, 6] is cut into 96 intervals of
# width 1/16; on each, erf(c + t) = sum_k a_k t^k with a_0 = erf(c) and, for k >= 1,
# a_k = 2/sqrt(pi) exp(-c^2) (-1)^(k-1) H_{k-1}(c) / k!  (H the Hermite polynomials, since
# d^k/dx^k exp(-x^2) = (-1)^k H_k(x) exp(-x^2)). With |t| <= 1/32, degree 8 reaches double
# precision; beyond 6, erf is 1 in float64. One table gather and 8 multiply-adds per element:
# about 8x faster than a 45-term series.
_ERF_H = 1.0 / 16
_ERF_N = 96
_ERF_K = 8
_erf_table = []


def _erf_coeffs() -> np.ndarray:
    if not _erf_table:
        c_tab = np.empty((_ERF_K + 1, _ERF_N))
        for j in range(_ERF_N):
            c = (j + 0.5) * _ERF_H
            c_tab[0, j] = math.erf(c)
            g = 2.0 / math.sqrt(math.pi) * math.exp(-c * c)
            h_prev, h = 0.0, 1.0  # H_{k-2}, H_{k-1}
            for k in range(1, _ERF_K + 1):
                c_tab[k, j] = g * (-1) ** (k - 1) * h / math.factorial(k)
                h_prev, h = h, 2 * c * h - 2 * (k - 1) * h_prev
        _erf_table.append(c_tab)
    return _erf_table[0]


def _erf(z):
    """erf of a float64 array to double precision (see the table above); NaN gives NaN."""
    z = np.asarray(z)
    if z.ndim == 0:  # the masked assignment below needs an array
        return _erf(z.reshape(1)).reshape(())
    a = np.fmin(np.abs(z), _ERF_N * _ERF_H)  # fmin: a NaN indexes the last row, not -2**63
    idx = np.minimum((a * (1.0 / _ERF_H)).astype(np.intp), _ERF_N - 1)
    t = a - (idx + 0.5) * _ERF_H
    rows = _erf_coeffs().take(idx, axis=1)  # (K + 1, n): one gather for all coefficients
    acc = rows[_ERF_K]
    for k in range(_ERF_K - 1, -1, -1):
        acc *= t
        acc += rows[k]
    small = a < _ERF_H
    if small.any():
        # near 0 the odd Maclaurin series keeps full relative precision:
        # erf(a) = 2/sqrt(pi) (a - a^3/3 + a^5/10 - a^7/42 + a^9/216 - a^11/1320)
        s = a[small]
        s2 = s * s
        acc[small] = (2.0 / math.sqrt(math.pi)) * s * (
            1.0 - s2 * (1 / 3 - s2 * (1 / 10 - s2 * (1 / 42 - s2 * (1 / 216 - s2 / 1320)))))
    out = np.copysign(acc, z)
    nan = np.isnan(z)
    if nan.any():
        out[nan] = np.nan
    return out


def _normal_cdf(x):
    """Phi(x) = (1 + erf(x / sqrt(2))) / 2, PyTorch's formula for GELU."""
    return 0.5 * (1.0 + _erf(x * (1.0 / math.sqrt(2.0))))


_GELU_K = math.sqrt(2.0 / math.pi)


class Gelu(Function):
    @staticmethod
    def forward(ctx, x, approximate):
        ctx.approximate = approximate
        if approximate == "tanh":
            inner = _GELU_K * (x + 0.044715 * x * x * x)
            t = np.tanh(inner)
            ctx.save_for_backward(x, t)
            return 0.5 * x * (1.0 + t)
        cdf = _normal_cdf(x.astype(np.float64, copy=False)).astype(x.dtype, copy=False)
        ctx.save_for_backward(x, cdf)
        return x * cdf

    @staticmethod
    def backward(ctx, g):
        x, s = ctx.saved
        if ctx.approximate == "tanh":
            # d/dx 0.5 x (1 + t) = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 * 0.044715 x^2)
            dinner = _GELU_K * (1.0 + 3 * 0.044715 * x * x)
            d = 0.5 * (1.0 + s) + 0.5 * x * (1.0 - s * s) * dinner
        else:
            # d/dx x Phi(x) = Phi(x) + x phi(x)
            d = s + x * np.exp(-0.5 * x * x) * (1.0 / math.sqrt(2.0 * math.pi))
        return g * d, None


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """``x * Phi(x)`` with Phi the standard normal CDF; ``approximate='tanh'`` uses
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""
    if approximate not in ("none", "tanh"):
        raise LaminaValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(_float_tensor(input, "gelu"), approximate)


class Silu(Function):
    @staticmethod
    def forward(ctx, x):
        with np.errstate(over="ignore"):
            s = 1.0 / (1.0 + np.exp(-x))
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, g):
        x, s = ctx.saved
        return g * (s * (1.0 + x * (1.0 - s)))  # d/dx x s(x) = s (1 + x (1 - s))


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * sigmoid(x)`` (swish)."""
    return Silu.apply(_float_tensor(input, "silu"))


class Softplus(Function):
    @staticmethod
    def forward(ctx, x, beta, threshold):
        bx = x * beta
        lin = bx > threshold
        with np.errstate(over="ignore"):
            out = np.logaddexp(0, bx) / beta
        out = np.where(lin, x, out).astype(x.dtype, copy=False)
        ctx.save_for_backward(bx, lin)
        return out

    @staticmethod
    def backward(ctx, g):
        bx, lin = ctx.saved
        with np.errstate(over="ignore"):
            s = 1.0 / (1.0 + np.exp(-bx))  # d/dx log(1 + exp(bx)) / b = sigmoid(bx)
        return np.where(lin, g, g * s), None, None


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta x)) / beta``, and ``x`` where ``beta x > threshold``."""
    return Softplus.apply(_float_tensor(input, "softplus"), float(beta), float(threshold))


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x, values):
        return np.where(x > 0, 1, np.where(x == 0, values, 0)).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        # the step is flat almost everywhere: zero gradient (PyTorch raises instead)
        return np.zeros_like(g), None


def heaviside(input: Tensor, values=1.0) -> Tensor:
    """The Heaviside step: 0 where ``x < 0``, ``values`` where ``x == 0``, 1 where ``x > 0``
    (``torch.heaviside``'s convention; ``values`` may be a number or a broadcastable tensor).

    Its gradient is zero everywhere (PyTorch raises "not implemented" instead), so a step
    in a graph passes no gradient: the perceptron learns by its own rule, not backprop.
    """
    _tensor(input, "heaviside")
    v = values._data if isinstance(values, Tensor) else values
    if input._data.dtype.kind != "f":
        return Tensor(np.where(input._data > 0, 1, np.where(input._data == 0, v, 0))
                      .astype(input._data.dtype))
    return Heaviside.apply(input, v)


# --- more pointwise activations: y = f(x), backward g * f'(x) ---------------------------------

class _Pointwise(Function):
    """One elementwise activation: subclasses define ``fn(x, *args) -> (y, saved)`` and
    ``grad(saved, *args) -> dy/dx``."""

    @classmethod
    def forward(cls, ctx, x, *args):
        y, saved = cls.fn(x, *args)
        ctx.save_for_backward(*saved)
        ctx.args = args
        return y.astype(x.dtype, copy=False)

    @classmethod
    def backward(cls, ctx, g):
        return (g * cls.grad(ctx.saved, *ctx.args), *([None] * len(ctx.args)))


class Hardtanh(_Pointwise):
    @staticmethod
    def fn(x, lo, hi):
        return np.clip(x, lo, hi), (x,)

    @staticmethod
    def grad(saved, lo, hi):
        x = saved[0]
        return (x > lo) & (x < hi)  # PyTorch: zero at and beyond the ends


class Hardsigmoid(_Pointwise):
    @staticmethod
    def fn(x):
        return np.clip(x / 6.0 + 0.5, 0.0, 1.0), (x,)

    @staticmethod
    def grad(saved):
        x = saved[0]
        return ((x > -3.0) & (x < 3.0)) * (1.0 / 6.0)


class Hardswish(_Pointwise):
    @staticmethod
    def fn(x):
        return x * np.clip(x + 3.0, 0.0, 6.0) / 6.0, (x,)

    @staticmethod
    def grad(saved):
        x = saved[0]
        return np.where(x < -3.0, 0.0, np.where(x <= 3.0, x / 3.0 + 0.5, 1.0))


class Logsigmoid(_Pointwise):
    @staticmethod
    def fn(x):
        return -np.logaddexp(0, -x), (x,)

    @staticmethod
    def grad(saved):
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(saved[0]))  # sigmoid(-x)


class Softsign(_Pointwise):
    @staticmethod
    def fn(x):
        d = 1.0 + np.abs(x)
        return x / d, (d,)

    @staticmethod
    def grad(saved):
        d = saved[0]
        return 1.0 / (d * d)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class Celu(_Pointwise):
    """``scale * x`` for ``x > 0``, else ``scale * alpha * (exp(x / beta) - 1)``: CELU is
    ``beta = alpha, scale = 1``; SELU is ``alpha = 1.6733, beta = 1, scale = 1.0507``."""

    @staticmethod
    def fn(x, alpha, beta, scale):
        neg = x <= 0
        with np.errstate(over="ignore"):
            e = np.exp(np.where(neg, x, 0) / beta)
        y = np.where(neg, (alpha * scale) * (e - 1.0), scale * x)
        return y, (neg, e)

    @staticmethod
    def grad(saved, alpha, beta, scale):
        neg, e = saved
        return np.where(neg, (scale * alpha / beta) * e, scale)


class Mish(_Pointwise):
    @staticmethod
    def fn(x):
        t = np.tanh(np.logaddexp(0, x))
        return x * t, (x, t)

    @staticmethod
    def grad(saved):
        x, t = saved
        with np.errstate(over="ignore"):
            s = 1.0 / (1.0 + np.exp(-x))
        return t + x * (1.0 - t * t) * s  # d softplus/dx = sigmoid


class Tanhshrink(_Pointwise):
    @staticmethod
    def fn(x):
        t = np.tanh(x)
        return x - t, (t,)

    @staticmethod
    def grad(saved):
        t = saved[0]
        return t * t


class Threshold(_Pointwise):
    @staticmethod
    def fn(x, th, value):
        keep = ~(x <= th)       # NaN is kept (and passes its gradient), as in PyTorch
        return np.where(keep, x, value), (keep,)

    @staticmethod
    def grad(saved, th, value):
        return saved[0]


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """``clamp(x, min_val, max_val)``; gradient 1 strictly inside, 0 elsewhere."""
    if min_val > max_val:
        raise LaminaValueError("min_val cannot be greater than max_val")
    return Hardtanh.apply(_float_tensor(input, "hardtanh"), float(min_val), float(max_val))


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """``min(max(x, 0), 6)``."""
    return hardtanh(input, 0.0, 6.0)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """``clamp(x / 6 + 1/2, 0, 1)``."""
    return Hardsigmoid.apply(_float_tensor(input, "hardsigmoid"))


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * hardsigmoid(x)``."""
    return Hardswish.apply(_float_tensor(input, "hardswish"))


def logsigmoid(input: Tensor) -> Tensor:
    """``log(sigmoid(x)) = -softplus(-x)``, computed stably."""
    return Logsigmoid.apply(_float_tensor(input, "logsigmoid"))


def softsign(input: Tensor) -> Tensor:
    """``x / (1 + |x|)``."""
    return Softsign.apply(_float_tensor(input, "softsign"))


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """``scale * (x if x > 0 else alpha * (exp(x) - 1))`` with the self-normalizing
    constants ``alpha = 1.6733, scale = 1.0507``."""
    return Celu.apply(_float_tensor(input, "selu"), _SELU_ALPHA, 1.0, _SELU_SCALE)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``x`` where positive, ``alpha * (exp(x / alpha) - 1)`` elsewhere."""
    if alpha == 0:
        raise LaminaValueError("ZeroDivisionError: alpha cannot be 0 for CELU")
    return Celu.apply(_float_tensor(input, "celu"), float(alpha), float(alpha), 1.0)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * tanh(softplus(x))``."""
    return Mish.apply(_float_tensor(input, "mish"))


def tanhshrink(input: Tensor) -> Tensor:
    """``x - tanh(x)``."""
    return Tanhshrink.apply(_float_tensor(input, "tanhshrink"))


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """``x`` where ``x > threshold``, else ``value``."""
    return Threshold.apply(_float_tensor(input, "threshold"), float(threshold), float(value))


class Prelu(Function):
    """``x`` where positive, ``w * x`` elsewhere, ``w`` one slope per channel (dim 1) or one
    shared slope; ``gw`` sums ``g * x`` over the negative part."""

    @staticmethod
    def forward(ctx, x, w):
        ws = w.reshape((1, -1) + (1,) * (x.ndim - 2)) if x.ndim >= 2 and w.size > 1 else \
            w.reshape(-1)[0]
        pos = x > 0
        ctx.save_for_backward(x, pos, w)
        ctx.ws = ws
        return np.where(pos, x, x * ws)

    @staticmethod
    def backward(ctx, g):
        x, pos, w = ctx.saved
        nx, nw = ctx.needs_input_grad
        gx = np.where(pos, g, g * ctx.ws) if nx else None
        gw = None
        if nw:
            gn = np.where(pos, 0, g * x)
            if w.size > 1:
                gw = gn.sum(axis=(0, *range(2, x.ndim))).reshape(w.shape)
            else:
                gw = np.asarray(gn.sum(), dtype=w.dtype).reshape(w.shape)
        return gx, gw


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """Leaky ReLU with learned slopes ``weight``: one (shape (1,)) or one per channel
    (shape (C,), channels on dim 1)."""
    _float_tensor(input, "prelu")
    _tensor(weight, "prelu")
    n = weight.numel()
    if n != 1 and (input.ndim < 2 or input.shape[1] != n):
        raise LaminaValueError(f"prelu: mismatch in parameter count: weight has {n} slopes but "
                               f"input {tuple(input.shape)} has "
                               f"{input.shape[1] if input.ndim > 1 else 1} channels")
    return Prelu.apply(input, weight)


def softmin(input: Tensor, dim: int, dtype=None) -> Tensor:
    """``softmax(-x)`` along ``dim``."""
    return softmax(-input, dim, dtype=dtype)
