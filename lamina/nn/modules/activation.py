"""Activation layers; each wraps the op of the same name in ``lamina.nn.functional``.
``MultiheadAttention`` lives here too, as in PyTorch (``torch.nn.modules.activation``).

``inplace=True`` is accepted where PyTorch takes it, for compatibility; lamina always
computes out of place (a new tensor), which gives the same values and gradients.
"""

from __future__ import annotations

import numbers

import numpy as np

from lamina import creation
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn import functional as F
from lamina.nn import init
from lamina.nn.modules.linear import Linear
from lamina.nn.modules.module import Module
from lamina.nn.parameter import Parameter
from lamina.ops import elementwise as _ew
from lamina.ops import movement
from lamina.ops.attention import _attention
from lamina.ops.nn import linear
from lamina.tensor import Tensor, _make

__all__ = ["Step", "Heaviside", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "GELU", "SiLU",
           "Softplus", "Softmax", "LogSoftmax", "Hardtanh", "ReLU6", "Hardsigmoid",
           "Hardswish", "LogSigmoid", "Softsign", "SELU", "CELU", "Mish", "Tanhshrink",
           "Threshold", "PReLU", "Softmin", "MultiheadAttention"]


def _number(value, owner: str, name: str):
    """``value`` if it is a real number, else a ``LaminaTypeError`` naming the layer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise LaminaTypeError(f"{owner}: {name} must be a number, got "
                              f"{type(value).__name__} {value!r}")
    return value


class Step(Module):
    """The Heaviside step of the perceptron: 1 where ``x >= 0`` and 0 where ``x < 0``.

    ``value_at_zero`` sets the output at exactly 0 (1 by default, the perceptron convention
    ``predict 1 if w.x + b >= 0``; ``torch.heaviside(x, values)`` takes it as ``values``).
    The gradient is zero everywhere (PyTorch's heaviside has none and raises).
    """

    def __init__(self, value_at_zero: float = 1.0):
        super().__init__()
        self.value_at_zero = value_at_zero

    def forward(self, input: Tensor) -> Tensor:
        return F.heaviside(input, self.value_at_zero)

    def extra_repr(self) -> str:
        return f"value_at_zero={self.value_at_zero}"


Heaviside = Step


class Sigmoid(Module):
    """``1 / (1 + exp(-x))``."""

    def forward(self, input: Tensor) -> Tensor:
        return _ew.sigmoid(input)


class Tanh(Module):
    """``tanh(x)``."""

    def forward(self, input: Tensor) -> Tensor:
        return _ew.tanh(input)


class ReLU(Module):
    """``max(x, 0)``; ``inplace`` is accepted and ignored (lamina computes out of place)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return _ew.relu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """``x`` where positive, ``negative_slope * x`` elsewhere."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = _number(negative_slope, "LeakyReLU", "negative_slope")
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return _ew.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace
                                                          else "")


class ELU(Module):
    """``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = _number(alpha, "ELU", "alpha")
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.elu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """``x * Phi(x)`` (``approximate='tanh'`` for the tanh formula)."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise LaminaValueError(f"GELU: approximate must be 'none' or 'tanh', got "
                                   f"{approximate!r}")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """``x * sigmoid(x)``."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.silu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Softplus(Module):
    """``log(1 + exp(beta x)) / beta``, linear where ``beta x > threshold``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta = _number(beta, "Softplus", "beta")
        self.threshold = _number(threshold, "Softplus", "threshold")

    def forward(self, input: Tensor) -> Tensor:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    """``exp(x) / sum(exp(x))`` along ``dim``."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """``x - logsumexp(x)`` along ``dim``."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


def _inplace_repr(m) -> str:
    return "inplace=True" if m.inplace else ""


class Hardtanh(Module):
    """``clamp(x, min_val, max_val)``."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__()
        _number(min_val, "Hardtanh", "min_val"), _number(max_val, "Hardtanh", "max_val")
        if not max_val > min_val:  # PyTorch asserts max_val > min_val
            raise LaminaValueError(f"Hardtanh: max_val ({max_val}) must be greater than min_val "
                                   f"({min_val})")
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.hardtanh(input, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (
            ", inplace=True" if self.inplace else "")


class ReLU6(Hardtanh):
    """``min(max(x, 0), 6)``."""

    def __init__(self, inplace: bool = False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self)


class _Simple(Module):
    """An activation with no options (``inplace`` accepted where PyTorch takes it)."""

    _fn = None

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._fn(input)


class Hardsigmoid(_Simple):
    """``clamp(x / 6 + 1/2, 0, 1)``."""

    _fn = staticmethod(F.hardsigmoid)


class Hardswish(_Simple):
    """``x * hardsigmoid(x)``."""

    _fn = staticmethod(F.hardswish)


class Mish(_Simple):
    """``x * tanh(softplus(x))``."""

    _fn = staticmethod(F.mish)


class SELU(_Simple):
    """Scaled ELU with the self-normalizing constants."""

    _fn = staticmethod(F.selu)

    def extra_repr(self) -> str:
        return _inplace_repr(self)


class LogSigmoid(Module):
    """``log(sigmoid(x))``."""

    def forward(self, input: Tensor) -> Tensor:
        return F.logsigmoid(input)


class Softsign(Module):
    """``x / (1 + |x|)``."""

    def forward(self, input: Tensor) -> Tensor:
        return F.softsign(input)


class Tanhshrink(Module):
    """``x - tanh(x)``."""

    def forward(self, input: Tensor) -> Tensor:
        return F.tanhshrink(input)


class CELU(Module):
    """``x`` where positive, ``alpha * (exp(x / alpha) - 1)`` elsewhere."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = _number(alpha, "CELU", "alpha")
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.celu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Threshold(Module):
    """``x`` where ``x > threshold``, else ``value``."""

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        self.threshold = _number(threshold, "Threshold", "threshold")
        self.value = _number(value, "Threshold", "value")
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.threshold(input, self.threshold, self.value)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}" + (
            ", inplace=True" if self.inplace else "")


class PReLU(Module):
    """Leaky ReLU with a learned slope: one shared (``num_parameters=1``) or one per channel
    (dim 1), initialized to ``init``; the parameter is ``weight`` as in PyTorch."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(creation.full((num_parameters,), init, dtype=dtype))

    def reset_parameters(self) -> None:
        self.weight._data[...] = self.init

    def forward(self, input: Tensor) -> Tensor:
        return F.prelu(input, self._parameters["weight"])

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class Softmin(Module):
    """``softmax(-x)`` along ``dim``."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.softmin(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


# --- MultiheadAttention (PyTorch keeps it in activation.py too) --------------------

_MHA = "MultiheadAttention"


def _float_mask(mask: Tensor | None, dtype, name: str) -> Tensor | None:
    """A boolean mask (True = may NOT attend, the module's convention) as an additive float
    mask of ``dtype`` (``-inf`` where True, 0 elsewhere); a float mask as it is."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise LaminaTypeError(f"{_MHA}: {name} must be a Tensor, got {type(mask).__name__}")
    kind = mask._data.dtype.kind
    if kind == "b":
        return _make(np.where(mask._data, -np.inf, 0.0).astype(dtype))
    if kind != "f":
        raise LaminaValueError(f"{_MHA}: only bool and floating types of {name} are supported, got "
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
                raise LaminaValueError(f"{_MHA}: {name} must be a positive int, got {v!r}")
        if embed_dim % num_heads:
            raise LaminaValueError(f"{_MHA}: embed_dim must be divisible by num_heads, got "
                                   f"embed_dim={embed_dim} and num_heads={num_heads}")
        if isinstance(dropout, bool) or not 0.0 <= dropout <= 1.0:
            raise LaminaValueError(f"{_MHA}: dropout must be a probability in [0, 1], got "
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
                raise LaminaTypeError(f"{_MHA}: {name} must be a Tensor, got {type(t).__name__}")
        batched = query.ndim == 3
        if query.ndim not in (2, 3):
            raise LaminaValueError(f"{_MHA}: query should be unbatched 2D or batched 3D tensor but "
                                   f"received {query.ndim}-D query tensor")
        want = query.ndim
        for name, t in (("key", key), ("value", value)):
            if t.ndim != want:
                raise LaminaValueError(f"{_MHA}: for {'batched' if batched else 'unbatched'} "
                                       f"({want}-D) query, expected {name} to be {want}-D, but "
                                       f"got {name} of shape {tuple(t.shape)}")
        E = self.embed_dim
        for name, t, d in (("query", query, E), ("key", key, self.kdim),
                           ("value", value, self.vdim)):
            if t.shape[-1] != d:
                raise LaminaValueError(f"{_MHA}: was expecting {name} of embedding dimension {d}, "
                                       f"but got shape {tuple(t.shape)}")
        if key.shape[:-1] != value.shape[:-1]:
            raise LaminaValueError(f"{_MHA}: key shape {tuple(key.shape)} does not match value "
                                   f"shape {tuple(value.shape)} (all but the last dim)")
        if key_padding_mask is not None and key_padding_mask.ndim != want - 1:
            raise LaminaValueError(f"{_MHA}: for {want}-D query, expected key_padding_mask to be "
                                   f"{want - 1}-D, but got shape {tuple(key_padding_mask.shape)}")
        if attn_mask is not None and attn_mask.ndim not in (2, 3):
            raise LaminaValueError(f"{_MHA}: expected attn_mask to be 2-D (L, S) or 3-D "
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
            raise LaminaValueError(f"{_MHA}: Need attn_mask if specifying the is_causal hint. You "
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
            raise LaminaValueError(f"{_MHA}: query has batch size {N} but key and value have "
                                   f"{key.shape[0]}")
        dtype = query._data.dtype
        attn_mask = _float_mask(attn_mask, dtype, "attn_mask")
        key_padding_mask = _float_mask(key_padding_mask, dtype, "key_padding_mask")
        if attn_mask is not None:
            want = (L, S) if attn_mask.ndim == 2 else (N * H, L, S)
            if tuple(attn_mask.shape) != want:
                raise LaminaValueError(f"{_MHA}: the shape of the {attn_mask.ndim}D attn_mask is "
                                       f"{tuple(attn_mask.shape)}, but should be {want}")
        if key_padding_mask is not None and tuple(key_padding_mask.shape) != (N, S):
            raise LaminaValueError(f"{_MHA}: expecting key_padding_mask shape of {(N, S)}, but got "
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
        out, weights = _attention(q, k, v, mask, dropout_p, False, None, False, op=_MHA,
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
