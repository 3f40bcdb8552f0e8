"""scaled_dot_product_attention: values and gradients against PyTorch in float64 (many shapes,
both mask kinds, broadcast masks, causal, fully masked rows, GQA), lamina's gradcheck,
dropout statistics and the errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lamina
import lamina.nn.functional as F
from tests.helpers import check_grad, check_op, requires_torch, torch

if torch is not None:
    import torch.nn.functional as TF

pytestmark = requires_torch


def _sdpa(lib_f, **kw):
    return lambda q, k, v: lib_f.scaled_dot_product_attention(q, k, v, **kw)


@st.composite
def qkv_shapes(draw):
    batch = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=3)))
    L, S = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    E, Ev = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    # drop or set batch dims to 1 in key/value: the batch dims broadcast
    kb = tuple(1 if draw(st.booleans()) else b for b in batch)
    return (*batch, L, E), (*kb, S, E), (*kb, S, Ev)


@given(qkv_shapes(), st.booleans(), st.sampled_from([None, 0.3, 2.0]))
def test_sdpa_matches_torch(shapes, causal, scale):
    check_op(list(shapes), _sdpa(TF, is_causal=causal, scale=scale),
             _sdpa(F, is_causal=causal, scale=scale))


@given(qkv_shapes(), st.data())
def test_sdpa_masks_match_torch(shapes, data):
    qs, ks, _ = shapes
    full = (*np.broadcast_shapes(qs[:-2], ks[:-2]), qs[-2], ks[-2])
    # a mask shape that broadcasts to the scores: drop leading dims, set some to 1
    cut = data.draw(st.integers(0, len(full) - 2))  # PyTorch wants a mask of >= 2 dims
    mshape = tuple(1 if data.draw(st.booleans()) else d for d in full[cut:])
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    boolean = data.draw(st.booleans())
    if boolean:
        m = rng.random(mshape) < 0.7
    else:
        m = rng.normal(size=mshape)
        m[rng.random(mshape) < 0.2] = -np.inf
    check_op(list(shapes), lambda q, k, v: TF.scaled_dot_product_attention(
        q, k, v, attn_mask=torch.tensor(m)),
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=lamina.tensor(m)))


@pytest.mark.parametrize("boolean", [True, False])
def test_fully_masked_rows_give_zeros_like_torch(boolean):
    m = np.ones((4, 6), dtype=bool)
    m[1] = False
    m[3, :5] = False
    if not boolean:
        m = np.where(m, 0.0, -np.inf)
    out = check_op([(2, 4, 3), (2, 6, 3), (2, 6, 5)],
                   lambda q, k, v: TF.scaled_dot_product_attention(
                       q, k, v, attn_mask=torch.tensor(m)),
                   lambda q, k, v: F.scaled_dot_product_attention(
                       q, k, v, attn_mask=lamina.tensor(m)))
    assert np.all(out[0]._data[:, 1] == 0.0)


def test_float_mask_gradient_matches_torch():
    check_op([(2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 2), (3, 1, 6)],
             lambda q, k, v, m: TF.scaled_dot_product_attention(q, k, v, attn_mask=m),
             lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m))


def test_causal_with_l_different_from_s():
    for L, S in [(3, 7), (7, 3)]:
        check_op([(2, L, 4), (2, S, 4), (2, S, 3)], _sdpa(TF, is_causal=True),
                 _sdpa(F, is_causal=True))


@pytest.mark.parametrize("hq,hk", [(4, 2), (6, 1), (3, 3)])
def test_grouped_query_attention(hq, hk):
    check_op([(2, hq, 5, 4), (2, hk, 6, 4), (2, hk, 6, 3)], _sdpa(TF, enable_gqa=True),
             _sdpa(F, enable_gqa=True))


def test_gradcheck():
    mask = lamina.tensor(np.random.default_rng(1).random((3, 4)) < 0.8)
    check_grad(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
               [(2, 3, 5), (2, 4, 5), (2, 4, 2)])
    check_grad(lambda q, k, v, b: F.scaled_dot_product_attention(q, k, v, attn_mask=b,
                                                                 scale=0.7),
               [(2, 3, 5), (1, 4, 5), (2, 4, 2), (3, 4)])
    check_grad(_sdpa(F, is_causal=True, enable_gqa=True), [(1, 4, 3, 2), (1, 2, 5, 2),
                                                            (1, 2, 5, 3)])


def test_dropout_is_seeded_and_unbiased():
    q = lamina.randn(4, 8, 16, dtype=lamina.float64)
    k = lamina.randn(4, 8, 16, dtype=lamina.float64)
    v = lamina.randn(4, 8, 16, dtype=lamina.float64)
    lamina.manual_seed(3)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)
    lamina.manual_seed(3)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)
    np.testing.assert_array_equal(a._data, b._data)
    # weights: dropout keeps 60% of them, scaled by 1/0.6 (so the mean is preserved)
    eye = lamina.tensor(np.broadcast_to(np.eye(8), (4, 8, 8)).copy())
    w = F.scaled_dot_product_attention(q, k, eye, dropout_p=0.4)._data
    p = F.scaled_dot_product_attention(q, k, eye)._data
    kept = w != 0
    assert 0.5 < kept.mean() < 0.7
    np.testing.assert_allclose(w[kept], p[kept] / 0.6, rtol=1e-12)
    assert np.all(F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).data == 0)


def test_dropout_gradient_uses_the_same_mask():
    q, k, v = (lamina.randn(2, 5, 4, dtype=lamina.float64, requires_grad=True)
               for _ in range(3))
    lamina.manual_seed(0)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    out.sum().backward()
    # v's gradient is the column sums of the dropped weights, recomputed from the output
    eye = lamina.tensor(np.broadcast_to(np.eye(5), (2, 5, 5)).copy())
    lamina.manual_seed(0)
    w = F.scaled_dot_product_attention(q.detach(), k.detach(), eye, dropout_p=0.5).data
    np.testing.assert_allclose(v.grad._data, np.swapaxes(w, -1, -2).sum(-1, keepdims=True)
                               * np.ones((1, 1, 4)), rtol=1e-12)


@pytest.mark.parametrize("shapes,kw,match", [
    ([(2, 3, 4), (2, 5, 3), (2, 5, 3)], {}, "same last dim"),
    ([(2, 3, 4), (2, 5, 4), (2, 6, 3)], {}, "same sequence length"),
    ([(4,), (5, 4), (5, 4)], {}, "at least 2 dims"),
    ([(3, 3, 4), (2, 5, 4), (2, 5, 4)], {}, "cannot be broadcast"),
    ([(2, 3, 4), (2, 5, 4), (2, 5, 4)], {"attn_mask": (4, 5)}, "attn_mask of shape"),
    ([(2, 3, 4), (2, 5, 4), (2, 5, 4)], {"attn_mask": (3, 5), "is_causal": True},
     "is_causal"),
    ([(1, 3, 5, 4), (1, 2, 5, 4), (1, 2, 5, 4)], {"enable_gqa": True}, "heads"),
])
def test_errors_name_the_op(shapes, kw, match):
    q, k, v = (lamina.zeros(*s, dtype=lamina.float64) for s in shapes)
    if "attn_mask" in kw:
        kw = dict(kw, attn_mask=lamina.zeros(*kw["attn_mask"], dtype=lamina.float64))
    with pytest.raises(RuntimeError, match="scaled_dot_product_attention.*" + match):
        F.scaled_dot_product_attention(q, k, v, **kw)
    tq, tk, tv = (torch.zeros(*s, dtype=torch.float64) for s in shapes)
    tkw = {n: (torch.zeros(*a.shape, dtype=torch.float64) if n == "attn_mask" else a)
           for n, a in kw.items()}
    with pytest.raises(Exception):
        TF.scaled_dot_product_attention(tq, tk, tv, **tkw)


def test_mask_dtype_error():
    q = lamina.zeros(2, 3, 4, dtype=lamina.float64)
    with pytest.raises(RuntimeError, match="attn_mask dtype"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=lamina.zeros(3, 3))


@requires_torch
def test_masked_overflowed_score_gives_nan_like_pytorch():
    # a masked-out score that overflowed to +inf: PyTorch masks by adding -inf, so it is NaN
    q = np.array([[[1e30]], [[0.0]]], np.float32)
    k = np.array([[[0.0], [0.0], [1e30]], [[0.0], [0.0], [0.0]]], np.float32)
    v = np.zeros((2, 3, 1), np.float32)
    got = F.scaled_dot_product_attention(lamina.tensor(q), lamina.tensor(k), lamina.tensor(v),
                                         is_causal=True).numpy()
    want = torch.nn.functional.scaled_dot_product_attention(
        torch.tensor(q), torch.tensor(k), torch.tensor(v), is_causal=True).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
