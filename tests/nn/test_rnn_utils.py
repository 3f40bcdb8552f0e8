"""nn.utils.rnn (padding and packing) and RNN/LSTM/GRU on PackedSequence, against PyTorch on
the same values and weights: outputs, final states and gradients."""

import lamina.nn.utils.rnn as lrnn
import numpy as np
import pytest
import torch
import torch.nn.utils.rnn as trnn

import lamina
from lamina import nn

RNG = np.random.default_rng(0)
TOL = dict(rtol=1e-10, atol=1e-12)


def _seqs(lengths, feat=(3,)):
    arrays = [RNG.standard_normal((n, *feat)) for n in lengths]
    return ([lamina.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


def _eq(x, y):
    np.testing.assert_allclose(x.detach().numpy(), y.detach().numpy(), **TOL)


def _same_packed(p, tp):
    _eq(p.data, tp.data)
    np.testing.assert_array_equal(p.batch_sizes.numpy(), tp.batch_sizes.numpy())
    for a, b in ((p.sorted_indices, tp.sorted_indices), (p.unsorted_indices, tp.unsorted_indices)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence(batch_first, side):
    ls, ts = _seqs([2, 4, 1])
    out = lrnn.pad_sequence(ls, batch_first=batch_first, padding_value=-1.5, padding_side=side)
    tout = trnn.pad_sequence(ts, batch_first=batch_first, padding_value=-1.5,
                             padding_side=side)
    _eq(out, tout)
    w = RNG.standard_normal(tuple(tout.shape))
    (out * lamina.tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    for a, b in zip(ls, ts):
        _eq(a.grad, b.grad)


@pytest.mark.parametrize("lengths,enforce", [([4, 3, 3, 1], True), ([2, 5, 1, 3], False),
                                             ([3], True)])
@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_and_pad_round_trip(lengths, enforce, batch_first):
    ls, ts = _seqs(lengths, feat=(2, 3))
    lp = lrnn.pad_sequence(ls, batch_first=batch_first)
    tp = trnn.pad_sequence(ts, batch_first=batch_first)
    packed = lrnn.pack_padded_sequence(lp, lengths, batch_first=batch_first,
                                       enforce_sorted=enforce)
    tpacked = trnn.pack_padded_sequence(tp, torch.tensor(lengths), batch_first=batch_first,
                                        enforce_sorted=enforce)
    _same_packed(packed, tpacked)
    total = max(lengths) + 2
    out, lens = lrnn.pad_packed_sequence(packed, batch_first=batch_first, padding_value=7.0,
                                         total_length=total)
    tout, tlens = trnn.pad_packed_sequence(tpacked, batch_first=batch_first,
                                           padding_value=7.0, total_length=total)
    _eq(out, tout)
    np.testing.assert_array_equal(lens.numpy(), tlens.numpy())
    w = RNG.standard_normal(tuple(tout.shape))
    (out * lamina.tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    for a, b in zip(ls, ts):
        _eq(a.grad, b.grad)


def test_pack_sequence_and_unpack():
    ls, ts = _seqs([3, 5, 2])
    p, tp = lrnn.pack_sequence(ls, enforce_sorted=False), trnn.pack_sequence(ts, False)
    _same_packed(p, tp)
    for a, b in zip(lrnn.unpack_sequence(p), trnn.unpack_sequence(tp)):
        _eq(a, b)


def test_errors_match_torch():
    ls, ts = _seqs([2, 3])
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        trnn.pack_sequence(ts)
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        lrnn.pack_sequence(ls)
    with pytest.raises(RuntimeError, match="greater than 0"):
        trnn.pack_padded_sequence(torch.zeros(3, 2, 1), torch.tensor([3, 0]))
    with pytest.raises(RuntimeError, match="greater than 0"):
        lrnn.pack_padded_sequence(lamina.zeros(3, 2, 1), [3, 0])
    tp, p = trnn.pack_sequence(ts, False), lrnn.pack_sequence(ls, False)
    with pytest.raises(ValueError, match="total_length"):
        trnn.pad_packed_sequence(tp, total_length=2)
    with pytest.raises(ValueError, match="total_length"):
        lrnn.pad_packed_sequence(p, total_length=2)


def _pair(mode, **kw):
    torch.manual_seed(0)
    tm = getattr(torch.nn, mode)(3, 4, **kw).double()
    m = getattr(nn, mode)(3, 4, **kw).double()
    m.load_state_dict({k: lamina.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return m, tm


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("kw", [{}, {"num_layers": 2, "bidirectional": True},
                                {"batch_first": True}])
@pytest.mark.parametrize("with_hx", [False, True])
def test_recurrent_layers_on_packed_sequences(mode, kw, with_hx):
    m, tm = _pair(mode, **kw)
    lengths = [2, 5, 1, 5, 3]
    ls, ts = _seqs(lengths)
    p, tp = lrnn.pack_sequence(ls, False), trnn.pack_sequence(ts, False)
    hx = thx = None
    if with_hx:
        ndir = 2 if kw.get("bidirectional") else 1
        shape = (kw.get("num_layers", 1) * ndir, len(lengths), 4)
        arrays = [RNG.standard_normal(shape) for _ in range(2 if mode == "LSTM" else 1)]
        hxs = [lamina.tensor(a, requires_grad=True) for a in arrays]
        thxs = [torch.tensor(a, requires_grad=True) for a in arrays]
        hx, thx = (tuple(hxs), tuple(thxs)) if mode == "LSTM" else (hxs[0], thxs[0])
    out, h = m(p, hx)
    tout, th = tm(tp, thx)
    assert isinstance(out, lrnn.PackedSequence)
    _same_packed(out, tout)
    states = h if mode == "LSTM" else (h,)
    tstates = th if mode == "LSTM" else (th,)
    for s, ts_ in zip(states, tstates):
        _eq(s, ts_)
    # gradients of a loss on every output and on the final states
    w = RNG.standard_normal(tuple(tout.data.shape))
    loss = (out.data * lamina.tensor(w)).sum() + sum((s * s).sum() for s in states)
    tloss = (tout.data * torch.tensor(w)).sum() + sum((s * s).sum() for s in tstates)
    loss.backward()
    tloss.backward()
    for a, b in zip(ls, ts):
        _eq(a.grad, b.grad)
    for (name, prm), (tname, tprm) in zip(m.named_parameters(), tm.named_parameters()):
        assert name == tname
        _eq(prm.grad, tprm.grad)
    if with_hx:
        for a, b in zip(hxs, thxs):
            _eq(a.grad, b.grad)
