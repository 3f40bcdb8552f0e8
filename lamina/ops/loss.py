"""Loss functions as fused ops: one graph node each, values and gradients equal to PyTorch's.

Every loss takes ``reduction`` = ``'mean'`` (default), ``'sum'`` or ``'none'``. The
elementwise losses differentiate with respect to both ``input`` and ``target``;
``cross_entropy`` and ``nll_loss`` with respect to ``input`` (class-index targets have no
gradient; probability targets get none either, as documented there).
"""

from __future__ import annotations

import warnings

import numpy as np

from lamina.autograd.function import Function
from lamina.errors import LaminaIndexError, LaminaTypeError, LaminaValueError
from lamina.ops.reduce import keepdim_max
from lamina.tensor import Tensor

__all__ = ["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss", "kl_div"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction, op: str, allowed=_REDUCTIONS) -> str:
    if reduction not in allowed:
        raise LaminaValueError(f"{op}: {reduction!r} is not a valid value for reduction; expected "
                               f"one of {', '.join(map(repr, allowed))}")
    return reduction


def _as_tensor(x, op: str, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise LaminaTypeError(f"{op}: {name} must be a Tensor, got {type(x).__name__}")
    return x


def _reduce(loss, reduction: str, dtype):
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(loss.mean(), dtype=dtype)
    if reduction == "sum":
        return np.asarray(loss.sum(), dtype=dtype)
    return loss


def _grad_scale(g, reduction: str, n: int):
    """The incoming gradient spread over the elements: ``g / n``, ``g``, or ``g`` itself."""
    if reduction == "mean":
        return g / n if n else g
    return g


class _Pointwise(Function):
    """Base for losses ``l(x, t)`` computed elementwise and then reduced. Subclasses give
    ``_loss(x, t, *args)`` returning the loss and a saved state, and ``_grads(state, *args)``
    returning ``(dl/dx, dl/dt)`` elementwise."""

    @classmethod
    def forward(cls, ctx, x, t, reduction, *args):
        loss, state = cls._loss(x, t, *args)
        ctx.save_for_backward(*state)
        ctx.reduction, ctx.args, ctx.n = reduction, args, loss.size
        return _reduce(loss, reduction, x.dtype)

    @classmethod
    def backward(cls, ctx, g):
        nx, nt = ctx.needs_input_grad[:2]
        c = _grad_scale(g, ctx.reduction, ctx.n)
        dx, dt = cls._grads(ctx.saved, nx, nt, *ctx.args)
        return ((dx * c if nx else None), (dt * c if nt else None),
                *([None] * (1 + len(ctx.args))))


class MSE(_Pointwise):
    @staticmethod
    def _loss(x, t):
        d = x - t
        return d * d, (d,)

    @staticmethod
    def _grads(saved, nx, nt):
        d2 = 2.0 * saved[0]
        return d2, (-d2 if nt else None)


class L1(_Pointwise):
    @staticmethod
    def _loss(x, t):
        d = x - t
        return np.abs(d), (d,)

    @staticmethod
    def _grads(saved, nx, nt):
        s = np.sign(saved[0])
        return s, (-s if nt else None)


class Huber(_Pointwise):
    @staticmethod
    def _loss(x, t, delta):
        d = x - t
        a = np.abs(d)
        quad = a < delta
        return np.where(quad, 0.5 * d * d, delta * (a - 0.5 * delta)), (d,)

    @staticmethod
    def _grads(saved, nx, nt, delta):
        s = np.clip(saved[0], -delta, delta)  # d in the quadratic zone, +-delta outside
        return s, (-s if nt else None)


class SmoothL1(_Pointwise):
    @staticmethod
    def _loss(x, t, beta):
        d = x - t
        a = np.abs(d)
        if beta == 0.0:
            return a, (d,)
        return np.where(a < beta, (0.5 / beta) * d * d, a - 0.5 * beta), (d,)

    @staticmethod
    def _grads(saved, nx, nt, beta):
        d = saved[0]
        s = np.sign(d) if beta == 0.0 else np.clip(d / beta, -1.0, 1.0)
        return s, (-s if nt else None)


def _pointwise_args(input, target, op, warn_broadcast=False):
    _as_tensor(input, op, "input")
    target = _as_tensor(target, op, "target")
    if input._data.dtype.kind != "f":
        raise LaminaValueError(f"{op}: expected a floating point input, got {input.dtype}")
    if target._data.dtype != input._data.dtype:
        target = target.to(input.dtype)
    if target.shape != input.shape:
        try:
            np.broadcast_shapes(input.shape, target.shape)
        except ValueError:
            raise LaminaValueError(f"{op}: target size {tuple(target.shape)} and input size "
                                   f"{tuple(input.shape)} cannot be broadcast together") from None
        if warn_broadcast:  # PyTorch's warning for mse/l1/huber/smooth_l1
            warnings.warn(f"{op}: Using a target size ({tuple(target.shape)}) that is different "
                          f"to the input size ({tuple(input.shape)}). This will likely lead to "
                          "incorrect results due to broadcasting. Please ensure they have the "
                          "same size.", UserWarning, stacklevel=3)
    return input, target


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error ``(x - t)^2``, reduced."""
    _check_reduction(reduction, "mse_loss")
    input, target = _pointwise_args(input, target, "mse_loss", True)
    return MSE.apply(input, target, reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean absolute error ``|x - t|``, reduced (gradient ``sign(x - t)``, 0 at a tie)."""
    _check_reduction(reduction, "l1_loss")
    input, target = _pointwise_args(input, target, "l1_loss", True)
    return L1.apply(input, target, reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean",
               delta: float = 1.0) -> Tensor:
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``, ``d = x - t``."""
    _check_reduction(reduction, "huber_loss")
    if not delta > 0:
        raise LaminaValueError(f"huber_loss does not support non-positive values for delta, got "
                               f"{delta}")
    input, target = _pointwise_args(input, target, "huber_loss", True)
    return Huber.apply(input, target, reduction, float(delta))


def smooth_l1_loss(input: Tensor, target: Tensor, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (L1 when beta = 0)."""
    _check_reduction(reduction, "smooth_l1_loss")
    if beta < 0:
        raise LaminaValueError(f"smooth_l1_loss does not support negative values for beta, got "
                               f"{beta}")
    input, target = _pointwise_args(input, target, "smooth_l1_loss", True)
    return SmoothL1.apply(input, target, reduction, float(beta))


# --- binary cross-entropy ------------------------------------------------------------------

class BCE(Function):
    """``-w (t log x + (1 - t) log(1 - x))`` with both logs clamped to ``>= -100`` (PyTorch's
    guard against ``log 0``); gradient ``w (x - t) / max(x (1 - x), 1e-12)``."""

    @staticmethod
    def forward(ctx, x, t, w, reduction):
        with np.errstate(divide="ignore"):
            lx = np.maximum(np.log(x), -100.0)
            l1x = np.maximum(np.log1p(-x), -100.0)
        loss = -(t * lx + (1.0 - t) * l1x)
        if w is not None:
            loss = loss * w
        ctx.save_for_backward(x, t, w, lx, l1x)
        ctx.reduction, ctx.n = reduction, loss.size
        return _reduce(loss, reduction, x.dtype)

    @staticmethod
    def backward(ctx, g):
        x, t, w, lx, l1x = ctx.saved
        nx, nt = ctx.needs_input_grad[:2]
        c = _grad_scale(g, ctx.reduction, ctx.n)
        if w is not None:
            c = c * w
        gx = gt = None
        if nx:
            gx = (x - t) / np.maximum((1.0 - x) * x, 1e-12) * c
        if nt:
            gt = (l1x - lx) * c
        return gx, gt, None, None


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         reduction: str = "mean") -> Tensor:
    """Binary cross-entropy on probabilities ``input`` in [0, 1]; ``weight`` rescales each
    element (broadcast). Logs are clamped at -100, as in PyTorch."""
    op = "binary_cross_entropy"
    _check_reduction(reduction, op)
    _as_tensor(input, op, "input")
    _as_tensor(target, op, "target")
    if target.shape != input.shape:
        raise LaminaValueError(f"{op}: Using a target size ({tuple(target.shape)}) that is "
                               f"different to the input size ({tuple(input.shape)}) is "
                               "deprecated. Please ensure they have the same size.")
    if input._data.dtype.kind != "f":
        raise LaminaValueError(f"{op}: expected a floating point input, got {input.dtype}")
    x = input._data
    # "not (in range)" so that a NaN fails too, as in PyTorch
    if x.size and not (x.min() >= 0 and x.max() <= 1):
        raise LaminaValueError(f"{op}: all elements of input should be between 0 and 1")
    t = target._data
    if t.size and not (t.min() >= 0 and t.max() <= 1):
        raise LaminaValueError(f"{op}: all elements of target should be between 0 and 1")
    if target._data.dtype != x.dtype:
        target = target.to(input.dtype)
    if weight is not None:
        weight = _as_tensor(weight, op, "weight")
        try:
            np.broadcast_shapes(weight.shape, input.shape)
        except ValueError:
            raise LaminaValueError(f"{op}: weight of shape {tuple(weight.shape)} does not "
                                   f"broadcast "
                                   f"to input of shape {tuple(input.shape)}") from None
        if weight._data.dtype != x.dtype:
            weight = weight.to(input.dtype)
    return BCE.apply(input, target, weight, reduction)


class BCEWithLogits(Function):
    """Stable ``-w [pw t log s(x) + (1 - t) log(1 - s(x))]``: with ``lw = 1 + (pw - 1) t``,
    ``loss = (1 - t) x + lw softplus(-x)``; ``d/dx = (1 - t) - lw (1 - s(x))``,
    ``d/dt = -x + (pw - 1) softplus(-x)``."""

    @staticmethod
    def forward(ctx, x, t, w, pw, reduction):
        sp = np.logaddexp(0, -x)  # softplus(-x) = -log s(x), computed stably
        if pw is None:
            loss = (1.0 - t) * x + sp
        else:
            lw = 1.0 + (pw - 1.0) * t
            loss = (1.0 - t) * x + lw * sp
        if w is not None:
            loss = loss * w
        ctx.save_for_backward(x, t, w, pw, sp)
        ctx.reduction, ctx.n = reduction, loss.size
        return _reduce(loss, reduction, x.dtype)

    @staticmethod
    def backward(ctx, g):
        x, t, w, pw, sp = ctx.saved
        nx, nt = ctx.needs_input_grad[:2]
        c = _grad_scale(g, ctx.reduction, ctx.n)
        if w is not None:
            c = c * w
        gx = gt = None
        if nx:
            with np.errstate(over="ignore"):
                s = 1.0 / (1.0 + np.exp(-x))
            if pw is None:
                gx = (s - t) * c
            else:
                lw = 1.0 + (pw - 1.0) * t
                gx = ((1.0 - t) - lw * (1.0 - s)) * c
        if nt:
            gt = (-x if pw is None else (pw - 1.0) * sp - x) * c
        return gx, gt, None, None, None


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Tensor | None = None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid plus binary cross-entropy in one stable op (logits ``input``).

    ``weight`` rescales each element; ``pos_weight`` (broadcast along the last dim, one per
    class) weights the positive term. ``weight`` and ``pos_weight`` get no gradient.
    """
    op = "binary_cross_entropy_with_logits"
    _check_reduction(reduction, op)
    _as_tensor(input, op, "input")
    _as_tensor(target, op, "target")
    if target.shape != input.shape:
        raise LaminaValueError(f"{op}: Target size ({tuple(target.shape)}) must be the same as "
                               f"input size ({tuple(input.shape)})")
    if input._data.dtype.kind != "f":
        raise LaminaValueError(f"{op}: expected a floating point input, got {input.dtype}")
    dt = input._data.dtype
    if target._data.dtype != dt:
        target = target.to(dt)
    extra = []
    for name, t in (("weight", weight), ("pos_weight", pos_weight)):
        if t is None:
            extra.append(None)
            continue
        t = _as_tensor(t, op, name)
        try:
            np.broadcast_shapes(t.shape, input.shape)
        except ValueError:
            raise LaminaValueError(f"{op}: {name} of shape {tuple(t.shape)} does not broadcast to "
                                   f"input of shape {tuple(input.shape)}") from None
        extra.append(t._data.astype(dt, copy=False))
    return BCEWithLogits.apply(input, target, extra[0], extra[1], reduction)


# --- cross-entropy and NLL -----------------------------------------------------------------

def _to_rows(x, class_dim):
    """(N, C, d1, ...) -> (N * d1 * ..., C); (N, C) and (C,) need no copy."""
    if x.ndim <= 2:
        return x.reshape(-1, x.shape[-1])
    return np.moveaxis(x, class_dim, -1).reshape(-1, x.shape[class_dim])


def _from_rows(g, shape, class_dim):
    if len(shape) <= 2:
        return g.reshape(shape)
    moved = (shape[0], *shape[2:], shape[1])
    return np.moveaxis(g.reshape(moved), -1, class_dim)


def _log_softmax_rows(z):
    z = z - keepdim_max(z, 1)
    z -= np.log(np.exp(z).sum(axis=1, keepdims=True))
    return z


class CrossEntropy(Function):
    """Log-softmax plus negative log-likelihood in one node.

    Every form reduces to per-row class weights ``a`` (rows = samples times spatial
    positions): the loss of a row is ``-sum_c a_c logp_c`` and its gradient
    ``(sum_c a_c) softmax - a``. Class indices: ``a = (1 - eps) w_t onehot(t) + eps/C w``
    (zero for ignored rows); the mean divides by ``sum w_t`` over kept rows (PyTorch's
    weighted mean). Probability targets: ``a = w * ((1 - eps) p + eps/C)``; the mean divides
    by the number of rows. The plain case (no weight, no smoothing) is
    ``(softmax - onehot) / N``: one exp and one scatter.
    """

    @staticmethod
    def forward(ctx, x, t, w, ignore_index, eps, reduction, probs, maybe_ignored):
        shape = x.shape
        class_dim = 1 if x.ndim >= 2 else 0
        z = _to_rows(x, class_dim)
        m, c = z.shape
        logp = _log_softmax_rows(z)
        dt = x.dtype
        ctx.shape, ctx.class_dim, ctx.reduction = shape, class_dim, reduction
        if probs:
            a = t.reshape(z.shape) if t.ndim <= 2 else _to_rows(t, class_dim)
            if eps:
                a = a * (1.0 - eps) + eps / c
            if w is not None:
                a = a * w
            rows = -(a * logp).sum(axis=1)
            denom = m
            ctx.save_for_backward(logp, a, w)
            ctx.kind = "dense"
            ctx.eps = eps
        else:
            t = t.reshape(-1)
            valid = (t != ignore_index) if maybe_ignored else None
            if valid is None or valid.all():
                valid, ts = None, t
            else:
                ts = np.where(valid, t, 0)
            picked = logp[np.arange(m), ts]
            if w is None and valid is None:
                wt = None
                rows = -picked if not eps else (eps - 1.0) * picked
                denom = m
            else:
                wt = w[ts] if w is not None else np.ones(m, dtype=dt)
                if valid is not None:
                    wt = wt * valid
                rows = (eps - 1.0) * wt * picked
                denom = wt.sum()
            if eps:
                sm = -(logp * w).sum(axis=1) if w is not None else -logp.sum(axis=1)
                if valid is not None:
                    sm = sm * valid
                rows = rows + (eps / c) * sm
            ctx.save_for_backward(logp, ts, wt, valid, w)
            ctx.kind = "index"
            ctx.eps = eps
        ctx.denom = denom
        if reduction == "none":
            out_shape = (shape[0], *shape[2:]) if len(shape) >= 2 else ()
            return rows.reshape(out_shape).astype(dt, copy=False)
        total = rows.sum()
        if reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                total = total / denom
        return np.asarray(total, dtype=dt)

    @staticmethod
    def backward(ctx, g):
        if ctx.reduction == "none":
            coef = g.reshape(-1, 1)
        elif ctx.reduction == "mean":
            # nothing kept (all ignored): PyTorch's gradient is 0, not 0 * inf
            coef = g / ctx.denom if ctx.denom else np.zeros_like(g)
        else:
            coef = g
        logp = ctx.saved[0]
        p = np.exp(logp)
        if ctx.kind == "dense":
            a = ctx.saved[1]
            p *= a.sum(axis=1, keepdims=True)
            p -= a
        else:
            _, ts, wt, valid, w = ctx.saved
            eps = ctx.eps
            m, c = p.shape
            if eps == 0.0 and wt is None:
                p[np.arange(m), ts] -= 1.0                      # (softmax - onehot)
            else:
                if wt is None:
                    wt = np.ones(m, dtype=p.dtype)
                total_a = (1.0 - eps) * wt
                if eps:
                    sw = float(w.sum()) if w is not None else float(c)
                    kept = 1.0 if valid is None else valid
                    total_a = total_a + (eps / c) * sw * kept
                p *= total_a[:, None]
                p[np.arange(m), ts] -= (1.0 - eps) * wt
                if eps:
                    ws = w if w is not None else 1.0
                    if valid is None:
                        p -= (eps / c) * ws
                    else:
                        p -= (eps / c) * (valid[:, None] * ws)
        gt = None
        if ctx.kind == "dense" and ctx.needs_input_grad[1]:
            # d/dt of -sum_c w_c ((1 - eps) t_c + eps/C) logp_c
            w = ctx.saved[2]
            gt = logp * (-(1.0 - ctx.eps) * coef)
            if w is not None:
                gt *= w
            gt = _from_rows(gt, ctx.shape, ctx.class_dim).astype(logp.dtype, copy=False)
        p *= coef
        return (_from_rows(p, ctx.shape, ctx.class_dim).astype(logp.dtype, copy=False),
                gt, None, None, None, None, None, None)


def _class_target_checks(input, target, op):
    """Shapes for class-index targets: (N, C, d...) with (N, d...), or (C,) with ()."""
    ishape, tshape = tuple(input.shape), tuple(target.shape)
    if input.ndim == 1:
        ok = tshape == ()
    else:
        ok = tshape == (ishape[0], *ishape[2:])
    if not ok:
        if input.ndim >= 1 and target.ndim >= 1 and ishape[0] != tshape[0]:
            raise LaminaValueError(f"Expected input batch_size ({ishape[0]}) to match target "
                                   f"batch_size ({tshape[0]}).")
        want = (ishape[0], *ishape[2:]) if input.ndim > 1 else ()
        raise LaminaValueError(f"{op}: expected target of shape {want} for input of shape "
                               f"{ishape}, got {tshape}")


def _check_class_range(t, c, ignore_index, op: str) -> bool:
    """Raise IndexError for a target outside [0, C) that is not ``ignore_index``; return
    whether any target may equal ``ignore_index`` (False lets the op skip the mask)."""
    if t.size == 0:
        return False
    lo, hi = t.min(), t.max()
    maybe_ignored = bool(lo <= ignore_index <= hi)
    if lo >= 0 and hi < c:
        return maybe_ignored
    bad = t[(t != ignore_index) & ((t < 0) | (t >= c))]
    if bad.size:
        raise LaminaIndexError(f"{op}: Target {int(bad.flat[0])} is out of bounds (expected a "
                               f"class index in [0, {c}) or ignore_index={ignore_index}).")
    return maybe_ignored


def _class_weight(weight, c, dt, op):
    if weight is None:
        return None
    weight = _as_tensor(weight, op, "weight")
    if weight.shape != (c,):
        raise LaminaValueError(f"{op}: weight tensor should be defined either for all {c} classes "
                               f"or no classes but got weight tensor of shape: "
                               f"{list(weight.shape)}")
    return weight._data.astype(dt, copy=False)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy from unnormalized logits, fused with the log-softmax.

    ``input``: (N, C), (N, C, d1, ...) or (C,). ``target``: class indices (int64) of shape
    (N,), (N, d1, ...) or (); or class probabilities (floating, same shape as ``input``).
    ``weight`` (C,) rescales classes; targets equal to ``ignore_index`` contribute nothing;
    ``label_smoothing`` mixes the target with the uniform distribution. The mean over class
    indices is weighted: ``sum_i w[t_i] l_i / sum_i w[t_i]``, as in PyTorch. ``input`` gets a
    gradient, and so does a probability ``target``; ``weight`` does not.

    >>> F.cross_entropy(logits, labels)          # logits (128, 10), labels (128,) int64
    """
    op = "cross_entropy"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    _as_tensor(input, op, "input")
    _as_tensor(target, op, "target")
    x = input._data
    if x.dtype.kind != "f":
        raise LaminaValueError(f"{op}: expected a floating point input, got {x.dtype}")
    if x.ndim == 0:
        raise LaminaValueError(f"{op}: input must have at least 1 dimension (classes), got a 0-d "
                               "tensor")
    if not 0.0 <= label_smoothing <= 1.0:
        raise LaminaValueError(f"label_smoothing must be between 0.0 and 1.0. Got: "
                               f"{label_smoothing}")
    c = x.shape[1] if x.ndim >= 2 else x.shape[0]
    w = _class_weight(weight, c, x.dtype, op)
    t = target._data
    if t.dtype.kind == "f":
        if t.shape != x.shape:
            raise LaminaValueError(f"{op}: a floating (probability) target must have the input's "
                                   f"shape {tuple(x.shape)}, got {tuple(t.shape)}")
        if ignore_index >= 0:
            raise LaminaValueError(f"{op}: ignore_index is not supported for floating point "
                                   "target")
        if t.dtype != x.dtype:
            target = target.to(x.dtype)
        return CrossEntropy.apply(input, target, w, int(ignore_index),
                                  float(label_smoothing), reduction, True, False)
    if t.dtype.kind not in "iu":
        raise LaminaValueError(f"{op}: expected target of dtype int64 (class indices) or floating "
                               f"(probabilities), got {t.dtype}")
    _class_target_checks(input, target, op)
    maybe_ignored = _check_class_range(t, c, ignore_index, op)
    return CrossEntropy.apply(input, t, w, int(ignore_index), float(label_smoothing),
                              reduction, False, maybe_ignored)


def _legacy_reduction(size_average, reduce, reduction):
    """PyTorch's deprecated ``size_average``/``reduce`` flags mapped onto ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


class NLL(Function):
    """``-w[t] logp[t]`` per row; weighted mean ``/ sum w[t]``; gradient ``-coef w[t]`` at
    the target class, zero elsewhere."""

    @staticmethod
    def forward(ctx, x, t, w, ignore_index, reduction):
        shape = x.shape
        class_dim = 1 if x.ndim >= 2 else 0
        z = _to_rows(x, class_dim)
        m = z.shape[0]
        t = t.reshape(-1)
        valid = t != ignore_index
        ts = np.where(valid, t, 0)
        wt = (w[ts] if w is not None else np.ones(m, dtype=x.dtype)) * valid
        rows = -wt * z[np.arange(m), ts]
        denom = wt.sum()
        ctx.save_for_backward(ts, wt)
        ctx.shape, ctx.class_dim, ctx.reduction, ctx.denom = shape, class_dim, reduction, denom
        ctx.zshape = z.shape
        if reduction == "none":
            out_shape = (shape[0], *shape[2:]) if len(shape) >= 2 else ()
            return rows.reshape(out_shape).astype(x.dtype, copy=False)
        total = rows.sum()
        if reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                total = total / denom
        return np.asarray(total, dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        ts, wt = ctx.saved
        if ctx.reduction == "none":
            coef = g.reshape(-1)
        elif ctx.reduction == "mean":
            # nothing kept (all ignored): PyTorch's gradient is 0, not 0 * inf
            coef = g / ctx.denom if ctx.denom else np.zeros_like(g)
        else:
            coef = g
        gz = np.zeros(ctx.zshape, dtype=g.dtype)
        gz[np.arange(ctx.zshape[0]), ts] = -(wt * coef)
        return _from_rows(gz, ctx.shape, ctx.class_dim), None, None, None, None


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
             size_average=None, ignore_index: int = -100, reduce=None,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (N, C, ...) at class indices
    ``target`` (N, ...): ``-weight[t] * input[t]``; the mean is weighted like
    ``cross_entropy``'s."""
    op = "nll_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    _as_tensor(input, op, "input")
    _as_tensor(target, op, "target")
    x = input._data
    if x.dtype.kind != "f":
        raise LaminaValueError(f"{op}: expected a floating point input, got {x.dtype}")
    if x.ndim == 0:
        raise LaminaValueError(f"{op}: expected 1 or more dimensions (got 0)")
    if target._data.dtype.kind not in "iu":
        raise LaminaValueError(f"{op}: expected target of dtype int64 (class indices), got "
                               f"{target.dtype}")
    c = x.shape[1] if x.ndim >= 2 else x.shape[0]
    w = _class_weight(weight, c, x.dtype, op)
    _class_target_checks(input, target, op)
    _check_class_range(target._data, c, ignore_index, op)
    return NLL.apply(input, target._data, w, int(ignore_index), reduction)


class KLDiv(Function):
    """``t (log t - x)`` (``0`` where ``t == 0``) or, with ``log_target``,
    ``exp(t) (t - x)``; ``input`` holds log-probabilities."""

    @staticmethod
    def forward(ctx, x, t, reduction, log_target):
        if log_target:
            et = np.exp(t)
            loss = et * (t - x)
            ctx.save_for_backward(x, t, et)
        else:
            # xlogy(t, t) - t x as PyTorch computes it: 0 log 0 = 0; a negative target gives
            # NaN (log of a negative), t = inf with x = 0 gives NaN (inf * 0)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                lt = np.log(np.where(t == 0, 1, t)).astype(t.dtype, copy=False)
                loss = t * lt - t * x
            ctx.save_for_backward(x, t, lt)
        ctx.reduction, ctx.log_target, ctx.n = reduction, log_target, loss.size
        ctx.batch = x.shape[0] if x.ndim else 1
        if reduction == "batchmean":
            return np.asarray(loss.sum() / ctx.batch, dtype=x.dtype)
        return _reduce(loss, reduction, x.dtype)

    @staticmethod
    def backward(ctx, g):
        x, t, aux = ctx.saved
        nx, nt = ctx.needs_input_grad[:2]
        if ctx.reduction == "batchmean":
            c = g / ctx.batch
        else:
            c = _grad_scale(g, ctx.reduction, ctx.n)
        gx = gt = None
        if ctx.log_target:
            if nx:
                gx = -aux * c
            if nt:
                gt = aux * (t - x + 1.0) * c
        else:
            if nx:
                gx = -t * c
            if nt:
                gt = (aux + 1.0 - x) * c
        return gx, gt, None, None


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence ``KL(target || exp(input))`` elementwise, with ``input``
    as log-probabilities (and ``target`` too with ``log_target``). ``reduction='batchmean'``
    divides the sum by the batch size (the mathematically correct KL); ``'mean'`` divides by
    the number of elements, as PyTorch does."""
    op = "kl_div"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op, (*_REDUCTIONS, "batchmean"))
    input, target = _pointwise_args(input, target, op)
    return KLDiv.apply(input, target, reduction, bool(log_target))
