"""``MultiheadAttention``: PyTorch's ``nn.MultiheadAttention``, parameter for parameter."""

from __future__ import annotations

import numpy as np

from lamina import creation
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn import init
from lamina.nn.module import Module
from lamina.nn.modules.linear import Linear
from lamina.nn.parameter import Parameter
from lamina.ops import movement
from lamina.ops.attention import _attention
from lamina.ops.nn import linear
from lamina.tensor import Tensor, _make

__all__ = ["MultiheadAttention"]

_OP = "MultiheadAttention"


def _float_mask(mask: Tensor | None, dtype, name: str) -> Tensor | None:
    """A boolean mask (True = may NOT attend, the module's convention) as an additive float
    mask of ``dtype`` (``-inf`` where True, 0 elsewhere); a float mask as it is."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise LaminaTypeError(f"{_OP}: {name} must be a Tensor, got {type(mask).__name__}")
    kind = mask._data.dtype.kind
    if kind == "b":
        return _make(np.where(mask._data, -np.inf, 0.0).astype(dtype))
    if kind != "f":
        raise LaminaValueError(f"{_OP}: only bool and floating types of {name} are supported, got "
                               f"{mask.dtype}")
    return mask if mask._data.dtype == dtype else mask.to(dtype)


def _pad_last(mask: Tensor | None) -> Tensor | None:
    """One more key column that every query may attend to (for bias_k/v and add_zero_attn)."""
    return None if mask is None else movement.pad(mask, (0, 1))


class MultiheadAttention(Module):
    """Multi-head attention (Vaswani et al., 2017), PyTorch's layout and semantics.

    ``MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W_O``, ``head_i = Attention(Q W_Q_i,
    K W_K_i, V W_V_i)``, each head scaled dot-product attention over ``embed_dim //
    num_heads`` features (``lamina.nn.functional.scaled_dot_product_attention``).

    Parameters, with PyTorch's names so a PyTorch ``state_dict`` loads unchanged:
    ``in_proj_weight`` (3E, E) holding ``W_Q, W_K, W_V`` stacked (or ``q_proj_weight`` (E, E),
    ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim) when ``kdim``/``vdim`` differ
    from ``embed_dim``), ``in_proj_bias`` (3E), ``out_proj`` (a ``Linear(E, E)``) and, with
    ``add_bias_kv``, ``bias_k``/``bias_v`` (1, 1, E) appended to the keys and values.
    ``add_zero_attn`` appends a zero key and value to each head.

    Shapes: query (L, N, E), key (S, N, kdim), value (S, N, vdim); (N, L, E) ... with
    ``batch_first``; (L, E) ... unbatched. Masks, True (boolean) meaning "may not attend",
    or floats added to the scores: ``key_padding_mask`` (N, S) or (S,); ``attn_mask`` (L, S)
    or (N * num_heads, L, S). Returns ``(output, weights)``; weights (N, L, S) averaged over
    heads, or (N, num_heads, L, S) with ``average_attn_weights=False``, None unless
    ``need_weights``. Dropout applies to the attention weights in training mode.

    >>> mha = nn.MultiheadAttention(16, 4, batch_first=True)
    >>> x = lamina.randn(2, 5, 16)
    >>> out, w = mha(x, x, x)
    >>> out.shape, w.shape
    ((2, 5, 16), (2, 5, 5))
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False,
                 kdim: int | None = None, vdim: int | None = None, batch_first: bool = False,
                 device=None, dtype=None):
        super().__init__()
        for name, v in (("embed_dim", embed_dim), ("num_heads", num_heads)):
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise LaminaValueError(f"{_OP}: {name} must be a positive int, got {v!r}")
        if embed_dim % num_heads:
            raise LaminaValueError(f"{_OP}: embed_dim must be divisible by num_heads, got "
                                   f"embed_dim={embed_dim} and num_heads={num_heads}")
        if isinstance(dropout, bool) or not 0.0 <= dropout <= 1.0:
            raise LaminaValueError(f"{_OP}: dropout must be a probability in [0, 1], got "
                                   f"{dropout!r}")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        E = embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(creation.empty(3 * E, E, dtype=dtype))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = Parameter(creation.empty(E, E, dtype=dtype))
            self.k_proj_weight = Parameter(creation.empty(E, self.kdim, dtype=dtype))
            self.v_proj_weight = Parameter(creation.empty(E, self.vdim, dtype=dtype))
        if bias:
            self.in_proj_bias = Parameter(creation.empty(3 * E, dtype=dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(E, E, bias=bias, dtype=dtype)
        if add_bias_kv:
            self.bias_k = Parameter(creation.empty(1, 1, E, dtype=dtype))
            self.bias_v = Parameter(creation.empty(1, 1, E, dtype=dtype))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """PyTorch's: Xavier-uniform projections, zero biases, Xavier-normal bias_k/v."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    # --- forward ---------------------------------------------------------------------------

    def _check_shapes(self, query, key, value, key_padding_mask, attn_mask):
        for name, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, Tensor):
                raise LaminaTypeError(f"{_OP}: {name} must be a Tensor, got {type(t).__name__}")
        batched = query.ndim == 3
        if query.ndim not in (2, 3):
            raise LaminaValueError(f"{_OP}: query should be unbatched 2D or batched 3D tensor but "
                                   f"received {query.ndim}-D query tensor")
        want = query.ndim
        for name, t in (("key", key), ("value", value)):
            if t.ndim != want:
                raise LaminaValueError(f"{_OP}: for {'batched' if batched else 'unbatched'} "
                                       f"({want}-D) query, expected {name} to be {want}-D, but "
                                       f"got {name} of shape {tuple(t.shape)}")
        E = self.embed_dim
        for name, t, d in (("query", query, E), ("key", key, self.kdim),
                           ("value", value, self.vdim)):
            if t.shape[-1] != d:
                raise LaminaValueError(f"{_OP}: was expecting {name} of embedding dimension {d}, "
                                       f"but got shape {tuple(t.shape)}")
        if key.shape[:-1] != value.shape[:-1]:
            raise LaminaValueError(f"{_OP}: key shape {tuple(key.shape)} does not match value "
                                   f"shape {tuple(value.shape)} (all but the last dim)")
        if key_padding_mask is not None and key_padding_mask.ndim != want - 1:
            raise LaminaValueError(f"{_OP}: for {want}-D query, expected key_padding_mask to be "
                                   f"{want - 1}-D, but got shape {tuple(key_padding_mask.shape)}")
        if attn_mask is not None and attn_mask.ndim not in (2, 3):
            raise LaminaValueError(f"{_OP}: expected attn_mask to be 2-D (L, S) or 3-D "
                                   f"(N * num_heads, L, S), but got shape "
                                   f"{tuple(attn_mask.shape)}")
        return batched

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                key_padding_mask: Tensor | None = None, need_weights: bool = True,
                attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False):
        """Attend from ``query`` to ``key``/``value``; see the class docstring for shapes.

        ``is_causal`` is PyTorch's hint that ``attn_mask`` is the causal mask: it needs
        ``attn_mask`` and the mask is applied as given."""
        batched = self._check_shapes(query, key, value, key_padding_mask, attn_mask)
        self_attention = query is key and key is value
        if is_causal and attn_mask is None:
            raise LaminaValueError(f"{_OP}: Need attn_mask if specifying the is_causal hint. You "
                                   "may use the Transformer module method "
                                   "`generate_square_subsequent_mask` to create this mask.")
        # work batch-first: (N, L, E)
        if not batched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        N, L, E = query.shape
        S = key.shape[1]
        H, D = self.num_heads, self.head_dim
        if key.shape[0] != N:
            raise LaminaValueError(f"{_OP}: query has batch size {N} but key and value have "
                                   f"{key.shape[0]}")
        dtype = query._data.dtype
        attn_mask = _float_mask(attn_mask, dtype, "attn_mask")
        key_padding_mask = _float_mask(key_padding_mask, dtype, "key_padding_mask")
        if attn_mask is not None:
            want = (L, S) if attn_mask.ndim == 2 else (N * H, L, S)
            if tuple(attn_mask.shape) != want:
                raise LaminaValueError(f"{_OP}: the shape of the {attn_mask.ndim}D attn_mask is "
                                       f"{tuple(attn_mask.shape)}, but should be {want}")
        if key_padding_mask is not None and tuple(key_padding_mask.shape) != (N, S):
            raise LaminaValueError(f"{_OP}: expecting key_padding_mask shape of {(N, S)}, but got "
                                   f"{tuple(key_padding_mask.shape)}")

        q, k, v = self._in_projection(query, key, value, self_attention)
        if self.bias_k is not None:
            k = movement.cat([k, self.bias_k.expand(N, 1, E)], dim=1)
            v = movement.cat([v, self.bias_v.expand(N, 1, E)], dim=1)
            attn_mask, key_padding_mask = _pad_last(attn_mask), _pad_last(key_padding_mask)
        # (N, L, E) -> (N, H, L, D)
        q = q.reshape(N, L, H, D).transpose(1, 2)
        k = k.reshape(N, -1, H, D).transpose(1, 2)
        v = v.reshape(N, -1, H, D).transpose(1, 2)
        if self.add_zero_attn:
            zeros = _make(np.zeros((N, H, 1, D), dtype=q._data.dtype))
            k = movement.cat([k, zeros], dim=2)
            v = movement.cat([v, zeros], dim=2)
            attn_mask, key_padding_mask = _pad_last(attn_mask), _pad_last(key_padding_mask)

        # one additive mask broadcastable to the scores (N, H, L, S')
        mask = None
        if attn_mask is not None:
            mask = (attn_mask.reshape(N, H, L, -1) if attn_mask.ndim == 3
                    else attn_mask.reshape(1, 1, L, -1))
        if key_padding_mask is not None:
            kpm = key_padding_mask.reshape(N, 1, 1, -1)
            mask = kpm if mask is None else mask + kpm
        dropout_p = self.dropout if self.training else 0.0
        # With need_weights PyTorch runs an explicit softmax (all-masked rows give NaN),
        # without it the fused SDPA (such rows give zeros): `safe` follows it.
        out, weights = _attention(q, k, v, mask, dropout_p, False, None, False, op=_OP,
                                  safe=not need_weights, return_weights=need_weights)
        out = out.transpose(1, 2).reshape(N, L, E)
        out = self.out_proj(out)
        if not batched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if not batched:
            weights = weights.squeeze(0)
        return out, weights

    def _in_projection(self, query, key, value, self_attention: bool):
        """``q, k, v`` = the inputs times ``W_Q, W_K, W_V`` (plus biases), all (N, *, E)."""
        E = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None,) * 3 if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        if not self._qkv_same_embed_dim:
            return (linear(query, self.q_proj_weight, bq), linear(key, self.k_proj_weight, bk),
                    linear(value, self.v_proj_weight, bv))
        w = self.in_proj_weight
        if self_attention:   # one GEMM for the three
            return movement.chunk(linear(query, w, b), 3, dim=-1)
        return (linear(query, w[:E], bq), linear(key, w[E:2 * E], bk),
                linear(value, w[2 * E:], bv))

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"dropout={self.dropout}, batch_first={self.batch_first}")
