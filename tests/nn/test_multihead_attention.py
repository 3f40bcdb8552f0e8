"""nn.MultiheadAttention against torch.nn.MultiheadAttention: a PyTorch state_dict loads
(strict) and gives the same outputs, weights and gradients in float64, over the options
(kdim/vdim, bias_k/v, add_zero_attn, batch_first, unbatched, masks of both kinds, key
padding, need_weights, average_attn_weights, is_causal), in eval and train mode."""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina import nn
from tests.helpers import requires_torch, torch
from tests.nn.module_parity import check_module

pytestmark = requires_torch

E, H, L, S, N = 8, 2, 4, 5, 3


def _pair(**kw):
    torch.manual_seed(0)
    return torch.nn.MultiheadAttention(E, H, **kw), nn.MultiheadAttention(E, H, **kw)


def _inputs(batch_first, kdim=E, vdim=E, unbatched=False, seed=0):
    rng = np.random.default_rng(seed)
    shape = (lambda s, d: (s, d)) if unbatched else (
        (lambda s, d: (N, s, d)) if batch_first else (lambda s, d: (s, N, d)))
    return [rng.normal(size=shape(L, E)), rng.normal(size=shape(S, kdim)),
            rng.normal(size=shape(S, vdim))]


def _mask(lib, m):
    return None if m is None else lib.tensor(m)


OPTIONS = [
    {},
    {"batch_first": True},
    {"bias": False},
    {"kdim": 3, "vdim": 6},
    {"add_bias_kv": True},
    {"add_zero_attn": True},
    {"add_bias_kv": True, "add_zero_attn": True, "batch_first": True},
    {"kdim": 5, "vdim": 7, "bias": False, "add_bias_kv": True},
]


@pytest.mark.parametrize("kw", OPTIONS, ids=lambda kw: ",".join(kw) or "default")
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("train", [False, True])
def test_matches_torch(kw, need_weights, average, train):
    tm, lm = _pair(**kw)
    arrays = _inputs(kw.get("batch_first", False), kw.get("kdim", E), kw.get("vdim", E))

    def call(m, lib, q, k, v):
        return m(q, k, v, need_weights=need_weights, average_attn_weights=average)

    check_module(tm, lm, call, arrays, train=train)


@pytest.mark.parametrize("boolean", [True, False])
@pytest.mark.parametrize("mask3d", [False, True])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("kw", [{}, {"add_bias_kv": True, "add_zero_attn": True}],
                         ids=["default", "bias_kv,zero_attn"])
def test_masks_match_torch(boolean, mask3d, need_weights, kw):
    tm, lm = _pair(batch_first=True, **kw)
    rng = np.random.default_rng(1)
    am_shape = (N * H, L, S) if mask3d else (L, S)
    if boolean:
        am = rng.random(am_shape) < 0.3           # True: may not attend
        kpm = np.zeros((N, S), dtype=bool)
        kpm[0, -2:] = True
    else:
        am = rng.normal(size=am_shape)
        am[rng.random(am_shape) < 0.3] = -np.inf
        kpm = np.zeros((N, S))
        kpm[0, -2:] = -np.inf

    def call(m, lib, q, k, v):
        return m(q, k, v, key_padding_mask=lib.tensor(kpm), attn_mask=lib.tensor(am),
                 need_weights=need_weights)

    check_module(tm, lm, call, _inputs(True))


def test_fully_masked_rows_match_torch():
    """A query that may attend nowhere: NaN with need_weights (explicit softmax), zeros
    without (the fused attention), as in PyTorch."""
    kpm = np.zeros((N, S), dtype=bool)
    kpm[1] = True
    for need_weights in (True, False):
        tm, lm = _pair(batch_first=True)

        def call(m, lib, q, k, v, need_weights=need_weights):
            return m(q, k, v, key_padding_mask=lib.tensor(kpm), need_weights=need_weights)

        out = check_module(tm, lm, call, _inputs(True))
        assert np.isnan(out[0]._data[1]).all() == need_weights


def test_self_attention_and_causal_hint():
    tm, lm = _pair(batch_first=True)
    x = _inputs(True)[0]
    causal = np.triu(np.full((L, L), -np.inf), 1)

    def call(m, lib, x):
        return m(x, x, x, attn_mask=lib.tensor(causal), is_causal=True, need_weights=False)

    check_module(tm, lm, call, [x])
    with pytest.raises(RuntimeError, match="MultiheadAttention: Need attn_mask"):
        lm(lamina.tensor(x), lamina.tensor(x), lamina.tensor(x), is_causal=True)


@pytest.mark.parametrize("mask3d", [False, True])
def test_unbatched_matches_torch(mask3d):
    tm, lm = _pair(add_bias_kv=True)
    rng = np.random.default_rng(2)
    am = rng.random((H, L, S) if mask3d else (L, S)) < 0.3
    kpm = np.zeros(S, dtype=bool)
    kpm[-1] = True

    def call(m, lib, q, k, v):
        return m(q, k, v, key_padding_mask=lib.tensor(kpm), attn_mask=lib.tensor(am),
                 average_attn_weights=False)

    check_module(tm, lm, call, _inputs(False, unbatched=True))


def test_parameter_names_and_layout():
    tm, lm = _pair(kdim=3, vdim=6, add_bias_kv=True)
    t_shapes = {k: tuple(v.shape) for k, v in tm.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in lm.state_dict().items()} == t_shapes
    tm, lm = _pair()
    assert {k: tuple(v.shape) for k, v in lm.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in tm.state_dict().items()}
    assert lm.in_proj_weight.shape == (3 * E, E) and lm.q_proj_weight is None
    assert isinstance(lm.out_proj, nn.Linear)


def test_train_mode_dropout_is_seeded():
    lm = nn.MultiheadAttention(E, H, dropout=0.5, batch_first=True)
    x = lamina.randn(N, L, E)
    lamina.manual_seed(0)
    a, wa = lm(x, x, x)
    lamina.manual_seed(0)
    b, wb = lm(x, x, x)
    np.testing.assert_array_equal(a.data, b.data)
    assert (wa.data == 0).any()
    lm.eval()
    _, w = lm(x, x, x)
    np.testing.assert_allclose(w.data.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("make,match", [
    (lambda: nn.MultiheadAttention(10, 3), "embed_dim must be divisible by num_heads"),
    (lambda: nn.MultiheadAttention(0, 1), "embed_dim must be a positive int"),
])
def test_constructor_errors(make, match):
    with pytest.raises(ValueError, match="MultiheadAttention: " + match):
        make()


@pytest.mark.parametrize("shapes,kw,match", [
    ([(N, L, E, 1), (N, S, E), (N, S, E)], {}, "2D or batched 3D"),
    ([(L, N, E), (S, E), (S, E)], {}, "expected key to be 3-D"),
    ([(L, N, E), (S, N, E + 1), (S, N, E)], {}, "key of embedding dimension 8"),
    ([(L, N, E), (S, N, E), (S, N, E)], {"attn_mask": (L, L)}, "2D attn_mask"),
    ([(L, N, E), (S, N, E), (S, N, E)], {"attn_mask": (N, L, S)}, "3D attn_mask"),
    ([(L, N, E), (S, N, E), (S, N, E)], {"key_padding_mask": (N, L)}, "key_padding_mask"),
])
def test_forward_errors_name_the_module(shapes, kw, match):
    tm, lm = _pair()
    args = [np.zeros(s) for s in shapes]
    kws = {k: np.zeros(s, dtype=bool) for k, s in kw.items()}
    with pytest.raises(Exception):
        tm(*[torch.tensor(a, dtype=torch.float32) for a in args],
           **{k: torch.tensor(v) for k, v in kws.items()})
    with pytest.raises(RuntimeError, match="MultiheadAttention: .*" + match):
        lm(*[lamina.tensor(a, dtype=lamina.float32) for a in args],
           **{k: lamina.tensor(v) for k, v in kws.items()})
