"""rnn_layer (one RNN/LSTM/GRU layer over a sequence as one op) against torch.nn layers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lamina
from lamina.ops.rnn import rnn_layer
from tests.helpers import check_grad, requires_torch, torch

MODES = ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"]
NAMES = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]


def _torch_layer(mode, isz, hid, bidir, bf, bias):
    cls = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}.get(mode, torch.nn.RNN)
    kw = {"nonlinearity": mode[4:].lower()} if mode.startswith("RNN") else {}
    return cls(isz, hid, batch_first=bf, bidirectional=bidir, bias=bias, **kw).double()


def _compare(mode, t_len, bsz, isz, hid, bidir, bf, init, bias, dtype, seed):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    m = _torch_layer(mode, isz, hid, bidir, bf, bias).to(
        torch.float64 if dtype == np.float64 else torch.float32)
    ndir = 2 if bidir else 1
    x = rng.standard_normal((bsz, t_len, isz) if bf else (t_len, bsz, isz)).astype(dtype)
    h0 = rng.standard_normal((ndir, bsz, hid)).astype(dtype)
    c0 = rng.standard_normal((ndir, bsz, hid)).astype(dtype)
    tx, th, tc = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    lx, lh, lc = (lamina.tensor(a, requires_grad=True) for a in (x, h0, c0))
    if mode == "LSTM":
        out, (hn, cn) = m(tx, (th, tc)) if init else m(tx)
        touts = [out, hn, cn]
    else:
        out, hn = m(tx, th) if init else m(tx)
        touts = [out, hn]
    params = {n: lamina.tensor(p.detach().numpy().copy(), requires_grad=True)
              for n, p in m.named_parameters()}
    ws = [tuple(params.get(f"{n}_l0{sfx}") for n in NAMES)
          for sfx in ([""] + (["_reverse"] if bidir else []))]
    louts = rnn_layer(mode, lx, ws, lh if init else None, lc if init else None,
                      batch_first=bf)
    tol = dict(rtol=1e-7, atol=1e-10) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)
    assert len(louts) == len(touts)
    for lo, to in zip(louts, touts):
        assert lo.shape == tuple(to.shape) and lo.dtype == np.dtype(dtype)
        np.testing.assert_allclose(lo.data, to.detach().numpy(), **tol)
    gs = [rng.standard_normal(tuple(o.shape)).astype(dtype) for o in touts]
    sum((o * torch.tensor(g)).sum() for o, g in zip(touts, gs)).backward()
    sum((o * lamina.tensor(g)).sum() for o, g in zip(louts, gs)).backward()
    pairs = [(lx, tx)] + ([(lh, th)] if init else [])
    pairs += [(lc, tc)] if init and mode == "LSTM" else []
    pairs += [(params[n], p) for n, p in m.named_parameters()]
    for la, ta in pairs:
        np.testing.assert_allclose(la.grad.data, ta.grad.numpy(), **tol)


@requires_torch
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bidir, bf, init", [(False, False, True), (True, True, False),
                                             (True, False, True)])
def test_rnn_layer_matches_torch(mode, bidir, bf, init):
    _compare(mode, 5, 3, 4, 6, bidir, bf, init, True, np.float64, 0)


@requires_torch
@settings(max_examples=12)
@given(st.sampled_from(MODES), st.integers(1, 6), st.integers(1, 4), st.integers(1, 5),
       st.integers(1, 5), st.booleans(), st.booleans(), st.booleans(), st.booleans(),
       st.sampled_from([np.float64, np.float32]))
def test_rnn_layer_hypothesis(mode, t_len, bsz, isz, hid, bidir, bf, init, bias, dtype):
    _compare(mode, t_len, bsz, isz, hid, bidir, bf, init, bias, dtype, 1)


@requires_torch
def test_rnn_layer_only_final_state_used():
    """Backward with no gradient on the output sequence (only h_n), as a classifier does."""
    rng = np.random.default_rng(3)
    m = _torch_layer("LSTM", 3, 4, False, True, True)
    x = rng.standard_normal((2, 6, 3))
    tx = torch.tensor(x, requires_grad=True)
    _, (hn, _) = m(tx)
    hn.sum().backward()
    params = {n: lamina.tensor(p.detach().numpy(), requires_grad=True)
              for n, p in m.named_parameters()}
    lx = lamina.tensor(x, requires_grad=True)
    _, lh, _ = rnn_layer("LSTM", lx, [tuple(params[f"{n}_l0"] for n in NAMES)],
                         batch_first=True)
    lh.sum().backward()
    np.testing.assert_allclose(lx.grad.data, tx.grad.numpy(), rtol=1e-7, atol=1e-10)
    for n, p in m.named_parameters():
        np.testing.assert_allclose(params[n].grad.data, p.grad.numpy(), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("mode", MODES)
def test_rnn_layer_gradcheck(mode):
    g = {"LSTM": 4, "GRU": 3}.get(mode, 1)
    hid, isz = 3, 2

    def f(x, h0, wi, wh, bi, bh, wir, whr):
        outs = rnn_layer(mode, x, [(wi, wh, bi, bh), (wir, whr, None, None)], h0)
        return outs[0], outs[1]

    check_grad(f, [(4, 2, isz), (2, 2, hid), (g * hid, isz), (g * hid, hid), (g * hid,),
                   (g * hid,), (g * hid, isz), (g * hid, hid)], low=-1, high=1)


def test_lstm_layer_gradcheck_cell_state_fast_mode():
    def f(x, h0, c0, wi, wh):
        return rnn_layer("LSTM", x, [(wi, wh, None, None)], h0, c0, batch_first=True)

    check_grad(f, [(3, 7, 4), (1, 3, 5), (1, 3, 5), (20, 4), (20, 5)], fast_mode=True)


@pytest.mark.parametrize("call", [
    lambda w: rnn_layer("LSTMX", lamina.randn(3, 2, 4), [w]),
    lambda w: rnn_layer("LSTM", lamina.randn(3, 2, 5), [w]),
    lambda w: rnn_layer("LSTM", lamina.randn(3, 4), [w]),
    lambda w: rnn_layer("LSTM", lamina.randn(3, 2, 4), [w], lamina.randn(2, 2, 6)),
    lambda w: rnn_layer("GRU", lamina.randn(3, 2, 4), [w]),
])
def test_rnn_layer_errors(call):
    w = (lamina.randn(24, 4), lamina.randn(24, 6), lamina.randn(24), lamina.randn(24))
    with pytest.raises((ValueError, RuntimeError, TypeError)):
        call(w)
