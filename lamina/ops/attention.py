"""Scaled dot-product attention as one fused op with a hand-written backward.

For queries ``Q`` (..., L, E), keys ``K`` (..., S, E) and values ``V`` (..., S, Ev)::

    A = Q K^T * scale + B           scores (..., L, S); B is the additive mask (0 or -inf,
                                    or any float bias the caller gives)
    P = softmax(A, dim=-1)          attention weights, each row sums to 1
    P' = dropout(P)                 only when dropout_p > 0
    O = P' V                        output (..., L, Ev)

Backward, with ``G = dL/dO`` (and ``G_w = dL/dP'`` when the weights are an output too)::

    dV = P'^T G
    dP' = G V^T (+ G_w);  dP = dP' * dropout mask / (1 - p)
    dA = P * (dP - rowsum(dP * P))  (the softmax Jacobian applied row by row)
    dQ = dA K * scale,  dK = dA^T Q * scale,  dB = dA

A row whose every score is masked (all ``-inf``) has no softmax. PyTorch 2.x's
``scaled_dot_product_attention`` gives such a row zero weights, so a zero output and zero
gradients; lamina does the same. ``nn.MultiheadAttention`` with ``need_weights=True`` follows
PyTorch's explicit softmax instead, which gives NaN there (``safe=False`` below).
"""

from __future__ import annotations

import math

import numpy as np

from lamina import backend
from lamina.autograd.function import Function
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor

__all__ = ["scaled_dot_product_attention"]


def _softmax_rows(a, safe: bool):
    """Softmax over the last axis. ``safe``: an all ``-inf`` row gives zeros, not NaN."""
    m = a.max(axis=-1, keepdims=True)
    if safe:
        m = np.where(np.isneginf(m), 0.0, m)
    with np.errstate(invalid="ignore"):
        e = np.exp(a - m)
    z = e.sum(axis=-1, keepdims=True)
    if safe:
        z = np.where(z == 0.0, 1.0, z)
    e /= z
    return e


def _repeat_heads(x, groups: int):
    """Grouped-query attention: each key/value head serves ``groups`` query heads (dim -3)."""
    return x if groups == 1 else np.repeat(x, groups, axis=-3)


def _sum_heads(g, groups: int):
    """Backward of ``_repeat_heads``: add the gradients of each head's copies."""
    if groups == 1:
        return g
    *lead, h, s, e = g.shape
    return g.reshape(*lead, h // groups, groups, s, e).sum(axis=-3)


class ScaledDotProductAttention(Function):
    """``softmax(Q K^T * scale + B) V`` (see the module docstring for the math).

    Arguments after ``q, k, v``: ``bias`` (a float array broadcastable to (..., L, S), or
    None), ``keep`` (a boolean array, False where a score is masked out, or None), ``scale``,
    ``dropout_p``, ``groups`` (query heads per key/value head, 1 without GQA), ``safe``
    (all-masked rows give zeros) and ``return_weights`` (also return ``P'``).
    """

    @staticmethod
    def forward(ctx, q, k, v, bias, keep, scale, dropout_p, groups, safe, return_weights):
        kr, vr = _repeat_heads(k, groups), _repeat_heads(v, groups)
        a = q @ np.swapaxes(kr, -1, -2)
        a *= scale
        if bias is not None:
            a = a + bias
        if keep is not None:
            # masked out as PyTorch does, by adding -inf: an overflowed +inf score becomes NaN
            with np.errstate(invalid="ignore"):
                a = np.where(keep, a, a - np.inf)
        p = _softmax_rows(a, safe)
        pd, drop = p, None
        if dropout_p > 0.0:
            q_keep = 1.0 - dropout_p
            if q_keep == 0.0:
                drop = np.zeros_like(p)
            else:
                # floor(u + q) is 1 with probability q (u ~ U[0, 1)); survivors scaled by 1/q
                drop = np.floor(backend.rng().random(p.shape, dtype=p.dtype) + q_keep)
                drop *= 1.0 / q_keep
            pd = p * drop
        out = pd @ vr
        if ctx.needs_input_grad is not None:
            ctx.save_for_backward(q, kr, vr, p, pd, drop)
            ctx.scale, ctx.groups = scale, groups
        return (out, pd) if return_weights else out

    @staticmethod
    def backward(ctx, g, gw=None):
        q, kr, vr, p, pd, drop = ctx.saved
        nq, nk, nv, nb = ctx.needs_input_grad[:4]
        scale, groups = ctx.scale, ctx.groups
        gq = gk = gv = gb = None
        if g is None:   # only the weights were used downstream
            g = np.zeros(pd.shape[:-1] + vr.shape[-1:], dtype=pd.dtype)
        if nv:
            gv = _sum_heads(np.swapaxes(pd, -1, -2) @ g, groups)
        if nq or nk or nb:
            gp = g @ np.swapaxes(vr, -1, -2)
            if gw is not None:
                gp += gw
            if drop is not None:
                gp *= drop
            ga = gp - (gp * p).sum(axis=-1, keepdims=True)
            ga *= p
            if nb:
                gb = ga.copy()
            ga *= scale
            if nq:
                gq = ga @ kr
            if nk:
                gk = _sum_heads(np.swapaxes(ga, -1, -2) @ q, groups)
        return gq, gk, gv, gb, None, None, None, None, None, None


def _shape(t) -> tuple:
    return tuple(t.shape)


def _broadcast_batch(shapes, op: str, what: str):
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise LaminaValueError(f"{op}: the batch dims of {what} cannot be broadcast together: "
                               f"{' and '.join(map(str, shapes))}") from None


def _check_qkv(query, key, value, enable_gqa: bool, op: str):
    """Validate shapes and dtypes; return (batch shape, groups)."""
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise LaminaTypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
        if t._data.dtype.kind != "f":
            raise LaminaValueError(f"{op}: expected a floating point {name}, got dtype {t.dtype}")
        if t.ndim < 2:
            raise LaminaValueError(f"{op}: {name} must have at least 2 dims (..., seq, features), "
                                   f"got shape {_shape(t)}")
    if not query.dtype == key.dtype == value.dtype:
        raise LaminaValueError(f"{op}: expected query, key and value to have the same dtype, got "
                               f"{query.dtype}, {key.dtype} and {value.dtype}")
    if query.shape[-1] != key.shape[-1]:
        raise LaminaValueError(f"{op}: query {_shape(query)} and key {_shape(key)} must have the "
                               f"same last dim (embedding size), got {query.shape[-1]} and "
                               f"{key.shape[-1]}")
    if key.shape[-2] != value.shape[-2]:
        raise LaminaValueError(f"{op}: key {_shape(key)} and value {_shape(value)} must have the "
                               f"same sequence length (dim -2), got {key.shape[-2]} and "
                               f"{value.shape[-2]}")
    groups = 1
    if enable_gqa:
        if query.ndim < 3 or key.ndim < 3 or value.ndim < 3:
            raise LaminaValueError(f"{op}: enable_gqa needs a heads dim (-3) in query, key and "
                                   f"value, got shapes {_shape(query)}, {_shape(key)} and "
                                   f"{_shape(value)}")
        hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
        if hk != hv or hk == 0 or hq % hk:
            raise LaminaValueError(f"{op}: enable_gqa expects key and value to have the same "
                                   f"number of heads dividing the query's, got {hq} query, {hk} "
                                   f"key and {hv} value heads")
        groups = hq // hk
        k_batch = (*key.shape[:-3], hq)
        v_batch = (*value.shape[:-3], hq)
    else:
        k_batch, v_batch = key.shape[:-2], value.shape[:-2]
    batch = _broadcast_batch([tuple(query.shape[:-2]), tuple(k_batch), tuple(v_batch)], op,
                             "query, key and value")
    return batch, groups


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """``softmax(query @ key^T * scale + mask) @ value``, one fused op (PyTorch's
    ``torch.nn.functional.scaled_dot_product_attention``).

    Args:
        query: (..., L, E); key: (..., S, E); value: (..., S, Ev). Batch dims broadcast.
        attn_mask: broadcastable to (..., L, S). Boolean: True where a query may attend (a
            False score becomes ``-inf``); floating (the query's dtype): added to the scores,
            and it gets a gradient when it requires one.
        dropout_p: drop attention weights with this probability (always, as in PyTorch:
            pass 0.0 in evaluation), drawn from lamina's random state.
        is_causal: query ``i`` attends to keys ``j <= i`` (a lower-triangular mask aligned
            top-left, as PyTorch's); not together with ``attn_mask``.
        scale: multiplies the scores; ``1 / sqrt(E)`` when None.
        enable_gqa: grouped-query attention: key and value have fewer heads (dim -3), each
            shared by ``H_q / H_kv`` query heads.

    Returns:
        (..., L, Ev). A query whose every key is masked out gets a zero row (PyTorch 2.x).

    >>> q = lamina.randn(2, 4, 5, 8)
    >>> scaled_dot_product_attention(q, q, q, is_causal=True).shape
    (2, 4, 5, 8)
    """
    out, _ = _attention(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa,
                        op="scaled_dot_product_attention", safe=True, return_weights=False)
    return out


def _attention(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa, op,
               safe, return_weights, mask_is_keep=True):
    """Validate, build the bias and keep masks, and run the fused op. ``mask_is_keep=False``
    reads a boolean mask the other way round (True = masked out, nn.MultiheadAttention's)."""
    batch, groups = _check_qkv(query, key, value, enable_gqa, op)
    if isinstance(dropout_p, bool) or not isinstance(dropout_p, (int, float)) \
            or not 0.0 <= dropout_p <= 1.0:
        raise LaminaValueError(f"{op}: dropout_p must be a probability in [0, 1], got "
                               f"{dropout_p!r}")
    L, S, E = query.shape[-2], key.shape[-2], query.shape[-1]
    if scale is None:
        scale = 1.0 / math.sqrt(E) if E else 1.0
    bias = keep = None
    if attn_mask is not None:
        if is_causal:
            raise LaminaValueError(f"{op}: Explicit attn_mask should not be set when "
                                   "is_causal=True")
        if not isinstance(attn_mask, Tensor):
            raise LaminaTypeError(f"{op}: attn_mask must be a Tensor, got "
                                  f"{type(attn_mask).__name__}")
        try:
            ok = np.broadcast_shapes(tuple(attn_mask.shape), (*batch, L, S)) == (*batch, L, S)
        except ValueError:
            ok = False
        if not ok:
            raise LaminaValueError(f"{op}: attn_mask of shape {_shape(attn_mask)} cannot be "
                                   f"broadcast to the scores' shape {(*batch, L, S)} "
                                   "(..., L, S)")
        kind = attn_mask._data.dtype.kind
        if kind == "b":
            keep = attn_mask._data if mask_is_keep else ~attn_mask._data
        elif attn_mask.dtype == query.dtype:
            bias = attn_mask
        else:
            raise LaminaValueError(f"{op}: expected attn_mask dtype to be bool or to match the "
                                   f"query dtype {query.dtype}, got {attn_mask.dtype}")
    if is_causal:
        keep = np.tril(np.ones((L, S), dtype=bool))
    res = ScaledDotProductAttention.apply(query, key, value, bias, keep, float(scale),
                                          float(dropout_p), groups, safe, return_weights)
    return res if return_weights else (res, None)
