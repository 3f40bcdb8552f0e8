"""lamina.models.GPT: it overfits a tiny sequence, the output head and the token embedding
share one Parameter, it is causal, and generation is seeded and respects top_k."""

from __future__ import annotations

import numpy as np
import pytest

import lamina
import lamina.nn.functional as F
from lamina import optim
from lamina.models import GPT

V = 6


def _model(**kw):
    lamina.manual_seed(0)
    return GPT(vocab_size=V, block_size=12, n_layer=2, n_head=2, n_embd=32, **kw)


def test_overfits_a_tiny_sequence():
    model = _model()
    seq = np.array([[0, 1, 2, 3, 4, 5, 4, 3, 2, 1, 0, 1, 2]])
    x, y = lamina.tensor(seq[:, :-1]), lamina.tensor(seq[:, 1:])
    opt = optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        loss = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    # greedy generation (top_k=1) replays the memorized sequence
    assert model.generate(lamina.tensor(seq[:, :1]), 11, top_k=1).tolist()[0] == \
        seq[0, :12].tolist()


def test_weight_tying_shares_the_parameter():
    model = _model()
    assert model.head.weight is model.tok_emb.weight
    names = [n for n, _ in model.named_parameters()]
    assert "tok_emb.weight" in names and "head.weight" not in names
    n_unique = sum(p.numel() for p in model.parameters())
    assert n_unique == sum(p.numel() for n, p in model.named_parameters())
    # both uses contribute to the one gradient, and a step moves both
    x = lamina.tensor([[1, 2, 3]])
    F.cross_entropy(model(x).reshape(-1, V), lamina.tensor([2, 3, 4])).backward()
    before = model.tok_emb.weight._data.copy()
    optim.SGD(model.parameters(), lr=0.1).step()
    assert not np.allclose(before, model.head.weight._data)
    assert model.head.weight._data is model.tok_emb.weight._data


def test_is_causal():
    model = _model()
    model.eval()
    a = np.array([[1, 2, 3, 4, 5]])
    b = a.copy()
    b[0, 3:] = [0, 0]
    la, lb = model(lamina.tensor(a))._data, model(lamina.tensor(b))._data
    np.testing.assert_allclose(la[:, :3], lb[:, :3], rtol=1e-6, atol=1e-7)
    assert not np.allclose(la[:, 3:], lb[:, 3:])


@pytest.mark.parametrize("top_k", [1, 2, 3])
def test_generation_respects_top_k_and_is_seeded(top_k):
    model = _model()
    start = lamina.tensor([[0, 1], [2, 3]])
    lamina.manual_seed(5)
    out = model.generate(start, 15, temperature=2.0, top_k=top_k)._data
    lamina.manual_seed(5)
    np.testing.assert_array_equal(model.generate(start, 15, temperature=2.0,
                                                 top_k=top_k)._data, out)
    assert out.shape == (2, 17)
    np.testing.assert_array_equal(out[:, :2], start._data)
    # each new token is among the top_k most likely given what came before (the context
    # cropped to block_size)
    model.eval()
    for t in range(2, out.shape[1]):
        ctx = out[:, max(0, t - model.block_size):t]
        logits = model(lamina.tensor(ctx))._data[:, -1]
        kth = np.sort(logits, axis=-1)[:, -top_k]
        assert np.all(logits[np.arange(2), out[:, t]] >= kth)


def test_errors():
    with pytest.raises(ValueError, match="GPT: n_embd must be divisible by n_head"):
        GPT(10, 8, n_head=3, n_embd=16)
    model = _model()
    with pytest.raises(ValueError, match="GPT: sequence length 13 exceeds block_size 12"):
        model(lamina.zeros(1, 13, dtype=lamina.int64))
    with pytest.raises(ValueError, match=r"GPT: expected int64 token indices of shape \(B, T\)"):
        model(lamina.zeros(2, 3))
