"""Transformer layers, stacks and nn.Transformer against PyTorch: a PyTorch state_dict loads
(strict) and gives the same outputs and gradients (float64, eval mode and train mode with
dropout=0), with masks, padding masks, norm_first, activations, batch_first, unbatched."""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina import nn
from tests.helpers import requires_torch, torch
from tests.nn.module_parity import check_module

# PyTorch's own warnings about its fast path and mixed mask types, not about lamina
pytestmark = [requires_torch, pytest.mark.filterwarnings("ignore::UserWarning:torch")]

D, H, FF, S, T, N = 8, 2, 12, 5, 4, 3


def _act(name, lib):
    if name == "silu":   # a callable
        return lib.nn.functional.silu
    return name


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


def _masks(lib, boolean, batch=N, s=S):
    causal = np.triu(np.ones((s, s), dtype=bool), 1)
    kpm = np.zeros((batch, s), dtype=bool)
    kpm[0, -2:] = True
    if not boolean:
        causal = np.where(causal, -np.inf, 0.0)
        kpm = np.where(kpm, -np.inf, 0.0)
    return lib.tensor(causal), lib.tensor(kpm)


LAYER_OPTS = [
    dict(),
    dict(norm_first=True),
    dict(activation="gelu", batch_first=True),
    dict(activation="silu", norm_first=True, batch_first=True),
    dict(bias=False),
]


def _layer_kw(kw, lib):
    kw = dict(kw)
    if "activation" in kw:
        kw["activation"] = _act(kw["activation"], lib)
    return dict(dim_feedforward=FF, dropout=0.0, **kw)


def _seq(batch_first, s):
    return (N, s, D) if batch_first else (s, N, D)


@pytest.mark.parametrize("kw", LAYER_OPTS, ids=lambda kw: ",".join(kw) or "default")
@pytest.mark.parametrize("train", [False, True])
@pytest.mark.parametrize("boolean", [True, False])
def test_encoder_layer_matches_torch(kw, train, boolean):
    torch.manual_seed(0)
    tm = torch.nn.TransformerEncoderLayer(D, H, **_layer_kw(kw, torch))
    lm = nn.TransformerEncoderLayer(D, H, **_layer_kw(kw, lamina))

    def call(m, lib, x):
        mask, kpm = _masks(lib, boolean)
        return m(x, src_mask=mask, src_key_padding_mask=kpm)

    check_module(tm, lm, call, [_x(_seq(kw.get("batch_first", False), S))], train=train)


@pytest.mark.parametrize("kw", LAYER_OPTS, ids=lambda kw: ",".join(kw) or "default")
@pytest.mark.parametrize("train", [False, True])
def test_decoder_layer_matches_torch(kw, train):
    torch.manual_seed(0)
    tm = torch.nn.TransformerDecoderLayer(D, H, **_layer_kw(kw, torch))
    lm = nn.TransformerDecoderLayer(D, H, **_layer_kw(kw, lamina))
    bf = kw.get("batch_first", False)

    def call(m, lib, tgt, mem):
        tmask, tkpm = _masks(lib, True, s=T)
        _, mkpm = _masks(lib, False, s=S)
        mmask = lib.tensor(np.random.default_rng(3).random((T, S)) < 0.2)
        return m(tgt, mem, tgt_mask=tmask, memory_mask=mmask, tgt_key_padding_mask=tkpm,
                 memory_key_padding_mask=mkpm)

    check_module(tm, lm, call, [_x(_seq(bf, T)), _x(_seq(bf, S), 1)], train=train)


@pytest.mark.parametrize("norm", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_and_decoder_stacks_match_torch(norm, batch_first):
    torch.manual_seed(0)
    kw = dict(dim_feedforward=FF, dropout=0.0, batch_first=batch_first)
    tnorm = torch.nn.LayerNorm(D) if norm else None
    lnorm = nn.LayerNorm(D) if norm else None
    te = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(D, H, **kw), 2, tnorm,
                                     enable_nested_tensor=False)
    le = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, H, **kw), 2, lnorm,
                               enable_nested_tensor=False)

    def enc(m, lib, x):
        mask, kpm = _masks(lib, True)
        return m(x, mask=mask, src_key_padding_mask=kpm)

    check_module(te, le, enc, [_x(_seq(batch_first, S))], train=True)
    td = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(D, H, **kw), 2,
                                     torch.nn.LayerNorm(D) if norm else None)
    ld = nn.TransformerDecoder(nn.TransformerDecoderLayer(D, H, **kw), 2,
                               nn.LayerNorm(D) if norm else None)

    def dec(m, lib, tgt, mem):
        mask = lib.nn.Transformer.generate_square_subsequent_mask(T, dtype=lib.float64)
        _, kpm = _masks(lib, True)
        return m(tgt, mem, tgt_mask=mask, memory_key_padding_mask=kpm)

    check_module(td, ld, dec, [_x(_seq(batch_first, T)), _x(_seq(batch_first, S), 1)])


def test_layers_are_independent_copies():
    layer = nn.TransformerEncoderLayer(D, H, dim_feedforward=FF)
    enc = nn.TransformerEncoder(layer, 3)
    ws = [m.linear1.weight for m in enc.layers]
    assert len({id(w) for w in ws}) == 3 and ws[0] is not layer.linear1.weight


@pytest.mark.parametrize("kw", [dict(), dict(norm_first=True, activation="gelu",
                                             batch_first=True)],
                         ids=["default", "norm_first,gelu,batch_first"])
@pytest.mark.parametrize("train", [False, True])
def test_transformer_matches_torch(kw, train):
    torch.manual_seed(0)
    args = dict(d_model=D, nhead=H, num_encoder_layers=2, num_decoder_layers=2,
                dim_feedforward=FF, dropout=0.0, **kw)
    tm, lm = torch.nn.Transformer(**args), nn.Transformer(**args)
    bf = kw.get("batch_first", False)

    def call(m, lib, src, tgt):
        tgt_mask = lib.nn.Transformer.generate_square_subsequent_mask(T, dtype=lib.float64)
        _, skpm = _masks(lib, True)
        return m(src, tgt, tgt_mask=tgt_mask, src_key_padding_mask=skpm,
                 memory_key_padding_mask=skpm)

    check_module(tm, lm, call, [_x(_seq(bf, S)), _x(_seq(bf, T), 1)], train=train)


def test_transformer_unbatched_matches_torch():
    torch.manual_seed(0)
    args = dict(d_model=D, nhead=H, num_encoder_layers=1, num_decoder_layers=1,
                dim_feedforward=FF, dropout=0.0)
    tm, lm = torch.nn.Transformer(**args), nn.Transformer(**args)

    def call(m, lib, src, tgt):
        mask = lib.nn.Transformer.generate_square_subsequent_mask(T, dtype=lib.float64)
        return m(src, tgt, tgt_mask=mask)

    check_module(tm, lm, call, [_x((S, D)), _x((T, D), 1)])


def test_state_dict_keys_match_torch():
    args = dict(d_model=D, nhead=H, num_encoder_layers=2, num_decoder_layers=1,
                dim_feedforward=FF)
    tk = {k: tuple(v.shape) for k, v in torch.nn.Transformer(**args).state_dict().items()}
    lk = {k: tuple(v.shape) for k, v in nn.Transformer(**args).state_dict().items()}
    assert lk == tk


def test_generate_square_subsequent_mask():
    m = nn.Transformer.generate_square_subsequent_mask(4)
    t = torch.nn.Transformer.generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(m.data, t.numpy())
    assert m.dtype == lamina.float32


def test_encoder_layer_dropout_is_seeded():
    layer = nn.TransformerEncoderLayer(D, H, dim_feedforward=FF, dropout=0.5)
    x = lamina.randn(S, N, D)
    lamina.manual_seed(1)
    a = layer(x)
    lamina.manual_seed(1)
    b = layer(x)
    np.testing.assert_array_equal(a.data, b.data)
    layer.eval()
    np.testing.assert_array_equal(layer(x).data, layer(x).data)


def test_errors_name_the_module():
    with pytest.raises(ValueError, match="TransformerEncoderLayer: d_model must be divisible"):
        nn.TransformerEncoderLayer(10, 3)
    with pytest.raises(RuntimeError, match="TransformerDecoderLayer: activation should be"):
        nn.TransformerDecoderLayer(D, H, activation="tanh")
    model = nn.Transformer(D, H, 1, 1, FF)
    with pytest.raises(RuntimeError, match="Transformer: the batch number of src and tgt"):
        model(lamina.randn(S, 2, D), lamina.randn(T, 3, D))
    with pytest.raises(RuntimeError, match="Transformer: the feature number"):
        model(lamina.randn(S, 2, D), lamina.randn(T, 2, D + 1))
