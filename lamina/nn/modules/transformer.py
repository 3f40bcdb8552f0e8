"""The Transformer (Vaswani et al., 2017): ``TransformerEncoderLayer``,
``TransformerEncoder``, ``TransformerDecoderLayer``, ``TransformerDecoder`` and
``Transformer``, PyTorch's modules with the same submodule names, so a PyTorch
``state_dict`` loads unchanged.

lamina differs from PyTorch in one place, on purpose: PyTorch's inference fast path (eval
mode without gradients) packs padded batches into nested tensors and returns zeros at the
padded positions; lamina has no fast path, computes those positions like any other, and
accepts ``enable_nested_tensor`` only for compatibility. Every non-padded position agrees.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

from lamina import ops
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn.modules.activation import MultiheadAttention
from lamina.nn.modules.container import ModuleList
from lamina.nn.modules.dropout import Dropout
from lamina.nn.modules.linear import Linear
from lamina.nn.modules.module import Module
from lamina.nn.modules.normalization import LayerNorm
from lamina.ops.nn import gelu
from lamina.tensor import Tensor, _make

__all__ = ["TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer",
           "TransformerDecoder", "Transformer"]


def _relu(x: Tensor) -> Tensor:
    return ops.relu(x)


def _activation(activation, cls: str) -> Callable:
    """"relu" and "gelu" name the functions, as in PyTorch; anything callable is used as is."""
    if isinstance(activation, str):
        if activation == "relu":
            return _relu
        if activation == "gelu":
            return gelu
        raise LaminaValueError(f"{cls}: activation should be relu/gelu, not {activation!r}")
    if not callable(activation):
        raise LaminaTypeError(f"{cls}: activation must be 'relu', 'gelu' or a callable, got "
                              f"{type(activation).__name__}")
    return activation


def _check_dims(d_model, nhead, cls: str) -> None:
    for name, v in (("d_model", d_model), ("nhead", nhead)):
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise LaminaValueError(f"{cls}: {name} must be a positive int, got {v!r}")
    if d_model % nhead:
        raise LaminaValueError(f"{cls}: d_model must be divisible by nhead, got d_model={d_model} "
                               f"and nhead={nhead}")


def _clones(module: Module, n: int) -> ModuleList:
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


def _is_causal_mask(mask: Tensor | None, is_causal: bool | None, size: int) -> bool:
    """PyTorch's ``_detect_is_causal_mask``: an explicit hint wins; otherwise a square mask
    equal to ``generate_square_subsequent_mask`` counts as causal."""
    if is_causal is not None or mask is None:
        return bool(is_causal)
    if tuple(mask.shape) != (size, size):
        return False
    causal = np.triu(np.ones((size, size), dtype=bool), 1)
    m = mask._data
    return bool(np.array_equal(m, causal) if m.dtype.kind == "b"
                else np.array_equal(np.isneginf(m), causal) and not m[~causal].any())


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward network, each in a residual branch::

        post-norm (default): x = norm1(x + SA(x));        x = norm2(x + FF(x))
        norm_first=True:     x = x + SA(norm1(x));        x = x + FF(norm2(x))

    with ``FF(x) = linear2(dropout(activation(linear1(x))))``. Submodules (PyTorch's names):
    ``self_attn``, ``linear1``, ``dropout``, ``linear2``, ``norm1``, ``norm2``,
    ``dropout1``, ``dropout2``.

    Shapes: (S, N, E), (N, S, E) with ``batch_first``, or unbatched (S, E). ``src_mask``
    and ``src_key_padding_mask`` follow ``MultiheadAttention`` (True = may not attend).

    >>> layer = nn.TransformerEncoderLayer(d_model=16, nhead=4, batch_first=True)
    >>> layer(lamina.randn(2, 5, 16)).shape
    (2, 5, 16)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable = "relu",
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        _check_dims(d_model, nhead, type(self).__name__)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation, type(self).__name__)

    def forward(self, src: Tensor, src_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout2(x)


class TransformerDecoderLayer(Module):
    """Self-attention over the target, attention to the encoder's output (``memory``) and a
    feed-forward network, each in a residual branch (post-norm, or pre-norm with
    ``norm_first``)::

        x = norm1(x + SA(x));  x = norm2(x + MHA(x, memory));  x = norm3(x + FF(x))

    Submodules (PyTorch's names): ``self_attn``, ``multihead_attn``, ``linear1``,
    ``dropout``, ``linear2``, ``norm1``-``norm3``, ``dropout1``-``dropout3``.

    >>> layer = nn.TransformerDecoderLayer(d_model=16, nhead=4, batch_first=True)
    >>> layer(lamina.randn(2, 3, 16), lamina.randn(2, 5, 16)).shape
    (2, 3, 16)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable = "relu",
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        _check_dims(d_model, nhead, type(self).__name__)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(activation, type(self).__name__)

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> Tensor:
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask,
                                   tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask,
                                    memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask,
                                              tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask,
                                               memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           is_causal=is_causal, need_weights=False)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask,
                                key_padding_mask=key_padding_mask, is_causal=is_causal,
                                need_weights=False)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout3(x)


def _seq_len(x: Tensor, batch_first: bool) -> int:
    return x.shape[0] if x.ndim == 2 or not batch_first else x.shape[1]


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer`` (deep copies: separate weights) in
    ``layers``, then ``norm`` when given.

    ``enable_nested_tensor`` and ``mask_check`` are accepted for compatibility (see the
    module docstring). ``is_causal=None`` detects a causal ``mask`` as PyTorch does.

    >>> layer = nn.TransformerEncoderLayer(16, 4, batch_first=True)
    >>> nn.TransformerEncoder(layer, num_layers=2)(lamina.randn(2, 5, 16)).shape
    (2, 5, 16)
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int,
                 norm: Module | None = None, enable_nested_tensor: bool = True,
                 mask_check: bool = True):
        super().__init__()
        if not isinstance(encoder_layer, Module):
            raise LaminaTypeError(f"TransformerEncoder: encoder_layer must be a Module, got "
                                  f"{type(encoder_layer).__name__}")
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = False
        self.mask_check = mask_check

    def forward(self, src: Tensor, mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None,
                is_causal: bool | None = None) -> Tensor:
        first = self.layers[0] if len(self.layers) else None
        batch_first = getattr(getattr(first, "self_attn", None), "batch_first", False)
        is_causal = _is_causal_mask(mask, is_causal, _seq_len(src, batch_first))
        out = src
        for layer in self.layers:
            out = layer(out, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                        is_causal=is_causal)
        if self.norm is not None:
            out = self.norm(out)
        return out


class TransformerDecoder(Module):
    """``num_layers`` copies of ``decoder_layer`` in ``layers``, then ``norm`` when given.

    >>> layer = nn.TransformerDecoderLayer(16, 4, batch_first=True)
    >>> dec = nn.TransformerDecoder(layer, num_layers=2)
    >>> dec(lamina.randn(2, 3, 16), lamina.randn(2, 5, 16)).shape
    (2, 3, 16)
    """

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int,
                 norm: Module | None = None):
        super().__init__()
        if not isinstance(decoder_layer, Module):
            raise LaminaTypeError(f"TransformerDecoder: decoder_layer must be a Module, got "
                                  f"{type(decoder_layer).__name__}")
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        first = self.layers[0] if len(self.layers) else None
        batch_first = getattr(getattr(first, "self_attn", None), "batch_first", False)
        tgt_is_causal = _is_causal_mask(tgt_mask, tgt_is_causal, _seq_len(tgt, batch_first))
        out = tgt
        for layer in self.layers:
            out = layer(out, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                        tgt_key_padding_mask=tgt_key_padding_mask,
                        memory_key_padding_mask=memory_key_padding_mask,
                        tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        if self.norm is not None:
            out = self.norm(out)
        return out


class Transformer(Module):
    """The encoder-decoder Transformer of "Attention Is All You Need", PyTorch's
    ``nn.Transformer``: an encoder of ``num_encoder_layers`` layers and a decoder of
    ``num_decoder_layers``, each followed by a LayerNorm; every weight matrix
    Xavier-uniform initialized.

    ``forward(src, tgt, ...)`` returns the decoder's output (T, N, E) ((N, T, E) with
    ``batch_first``). Masks as in ``MultiheadAttention``; ``generate_square_subsequent_mask``
    gives the causal target mask.

    >>> model = nn.Transformer(d_model=16, nhead=4, num_encoder_layers=1,
    ...                        num_decoder_layers=1, dim_feedforward=32, batch_first=True)
    >>> tgt_mask = nn.Transformer.generate_square_subsequent_mask(3)
    >>> model(lamina.randn(2, 5, 16), lamina.randn(2, 3, 16), tgt_mask=tgt_mask).shape
    (2, 3, 16)
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable = "relu",
                 custom_encoder: Module | None = None, custom_decoder: Module | None = None,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        _check_dims(d_model, nhead, "Transformer")
        kw = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                  layer_norm_eps=layer_norm_eps, batch_first=batch_first,
                  norm_first=norm_first, bias=bias, dtype=dtype)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, **kw)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
            self.encoder = TransformerEncoder(layer, num_encoder_layers, norm)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, **kw)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
            self.decoder = TransformerDecoder(layer, num_decoder_layers, norm)
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def _reset_parameters(self) -> None:
        from lamina.nn import init

        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Tensor | None = None,
                tgt_mask: Tensor | None = None, memory_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None,
                tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None,
                src_is_causal: bool | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        batched = src.ndim == 3
        b = 0 if self.batch_first else 1
        if batched and (tgt.ndim != 3 or src.shape[b] != tgt.shape[b]):
            raise LaminaValueError(f"Transformer: the batch number of src and tgt must be equal, "
                                   f"got src {tuple(src.shape)} and tgt {tuple(tgt.shape)} "
                                   f"(batch_first={self.batch_first})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise LaminaValueError(f"Transformer: the feature number of src and tgt must be equal "
                                   f"to d_model={self.d_model}, got src {tuple(src.shape)} and "
                                   f"tgt {tuple(tgt.shape)}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
        """The causal mask for ``sz`` positions: ``-inf`` above the diagonal (position ``i``
        may not attend to ``j > i``), 0 elsewhere; float32 unless ``dtype`` is given."""
        dt = np.dtype(dtype) if dtype is not None else np.float32
        return _make(np.triu(np.full((sz, sz), -np.inf, dtype=dt), 1))
