"""The LSTM layer on both floors: the reference ``LSTM`` of ``lamina.ops.rnn`` (batch-major,
NumPy) and the feature-major compiled path of ``lamina.kernels.lstm``: against each other to
summation-order rounding in every variant of the layer, against PyTorch on each floor, and
the compiled passes one by one against the NumPy expressions they replace (bit for bit: the
same operations in the same order). Every layer test asserts which path ran."""

import numpy as np
import pytest

import lamina
from lamina import dispatch
from lamina.kernels.lstm import LSTMCompiled, lstm_kernels
from lamina.ops import rnn
from tests.helpers import requires_torch, sum_order_bound, torch


def _kernels(dtype=np.float32):
    k = lstm_kernels(np.dtype(dtype))
    if k is None:
        pytest.skip("numba is not available (or LAMINA_NUMBA=0)")
    return k


def _expect(y, fast, dtype):
    compiled = fast and lstm_kernels(np.dtype(dtype)) is not None
    assert type(y._ctx) is (LSTMCompiled if compiled else rnn.LSTM)


@pytest.fixture(params=[True, False], ids=["fast", "reference"])
def fast(request):
    """Run the test with fast paths on, then on the reference ops alone."""
    with dispatch.fast_paths(request.param):
        yield request.param


def _lstm_case(fast, dtype, *, bias=True, init=True, batch_first=True, bidir=False,
               use_y=True, use_c=True, x_grad=True, seed=0):
    rng = np.random.default_rng(seed)
    t_len, bsz, isz, hid = 5, 6, 3, 11
    nd = 2 if bidir else 1

    def t(*shape, grad=True):
        return lamina.tensor((0.5 * rng.standard_normal(shape)).astype(dtype),
                             requires_grad=grad)

    ws = [(t(4 * hid, isz), t(4 * hid, hid)) + ((t(4 * hid), t(4 * hid)) if bias else
                                                (None, None)) for _ in range(nd)]
    x = t(bsz, t_len, isz, grad=x_grad) if batch_first else t(t_len, bsz, isz, grad=x_grad)
    h0, c0 = (t(nd, bsz, hid), t(nd, bsz, hid)) if init else (None, None)
    with dispatch.fast_paths(fast):
        y, h, c = rnn.rnn_layer("LSTM", x, ws, h0, c0, batch_first=batch_first)
        _expect(y, fast, dtype)
        loss = (h * t(*h.shape, grad=False)).sum()
        if use_y:
            loss = loss + (y * t(*y.shape, grad=False)).sum()
        if use_c:
            loss = loss + (c * c).sum()
        loss.backward()
    out = [y._data, h._data, c._data] + [p.grad._data for w in ws for p in w if p is not None]
    out += [a.grad._data for a in (x, h0, c0) if a is not None and a.requires_grad]
    return out, t_len * (hid + 3 + 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", [dict(), dict(bias=False), dict(init=False, use_y=False),
                                dict(batch_first=False, use_c=False, x_grad=False),
                                dict(bidir=True, init=False), dict(bidir=True)])
def test_compiled_layer_matches_reference(dtype, kw):
    """Outputs and every gradient agree to summation order. The compiled step is one GEMM
    over K = H + I + 1 terms where the reference adds two GEMMs and the bias, so each
    pre-activation may differ by 2 gamma_K sum|t| (Higham sec. 3.1); the element-wise work
    is the same function (sigmoid through tanh on both floors). Through the recurrence a
    value depends on the sums of every step before it, T * K terms in all, each at most
    the run's largest value times O(1) factors (half-unit weights, tanh and sigmoid slopes
    at most 1), so the bound is that of T * K terms of that size."""
    _kernels(dtype)
    fast, m = _lstm_case(True, dtype, **kw)
    ref, _ = _lstm_case(False, dtype, **kw)
    atol = float(sum_order_bound(m * max(np.abs(r).max() for r in ref), m, dtype))
    assert len(fast) == len(ref)
    for a, b in zip(fast, ref):
        np.testing.assert_allclose(a, b, rtol=0, atol=atol)


@requires_torch
@pytest.mark.parametrize("bias", [True, False])
def test_lstm_benchmark_shape_matches_torch(fast, bias):
    """The benchmark's use: zero initial state (the first step skips the h0 columns), only
    h_n feeds the loss (no output or cell gradient, no dh0 GEMM), float32, T=32."""
    rng = np.random.default_rng(1)
    t_len, bsz, isz, hid = 32, 8, 16, 24
    m = torch.nn.LSTM(isz, hid, batch_first=True, bias=bias)
    x = rng.standard_normal((bsz, t_len, isz)).astype(np.float32)
    g = rng.standard_normal((bsz, hid)).astype(np.float32)
    _, (th, _) = m(torch.tensor(x))
    (th[0] * torch.tensor(g)).sum().backward()
    lm = lamina.nn.LSTM(isz, hid, batch_first=True, bias=bias)
    for name, p in m.named_parameters():
        getattr(lm, name)._data[...] = p.detach().numpy()
    _, (lh, _) = lm(lamina.tensor(x))
    _expect(lh, fast, np.float32)
    (lh[0] * lamina.tensor(g)).sum().backward()
    np.testing.assert_allclose(lh._data, th.detach().numpy(), rtol=1e-4, atol=1e-5)
    for name, p in m.named_parameters():
        np.testing.assert_allclose(getattr(lm, name).grad._data, p.grad.numpy(), rtol=1e-4,
                                   atol=1e-5, err_msg=name)


@requires_torch
@pytest.mark.parametrize("bidir", [False, True])
def test_output_sequence_matches_torch(fast, bidir):
    """The output sequence and its gradients against PyTorch in float64, batch_first, two
    layers."""
    rng = np.random.default_rng(4)
    m = torch.nn.LSTM(5, 8, num_layers=2, batch_first=True, bidirectional=bidir).double()
    lm = lamina.nn.LSTM(5, 8, num_layers=2, batch_first=True, bidirectional=bidir,
                        dtype=lamina.float64)
    for name, p in m.named_parameters():
        getattr(lm, name)._data[...] = p.detach().numpy()
    x = rng.standard_normal((3, 7, 5))
    g = rng.standard_normal((3, 7, 16 if bidir else 8))
    tx = torch.tensor(x, requires_grad=True)
    ty, _ = m(tx)
    (ty * torch.tensor(g)).sum().backward()
    lx = lamina.tensor(x, requires_grad=True)
    ly, _ = lm(lx)
    _expect(ly, fast, np.float64)
    (ly * lamina.tensor(g)).sum().backward()
    np.testing.assert_allclose(ly._data, ty.detach().numpy(), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(lx.grad._data, tx.grad.numpy(), rtol=1e-7, atol=1e-10)
    for name, p in m.named_parameters():
        np.testing.assert_allclose(getattr(lm, name).grad._data, p.grad.numpy(), rtol=1e-7,
                                   atol=1e-10, err_msg=name)


def test_recycled_buffers_do_not_leak_between_calls():
    """The compiled layer's work arrays come from a buffer pool: a second call (getting the
    first call's dirty buffers) gives the same results, and outputs that are still alive
    keep their values."""
    _kernels()
    rng = np.random.default_rng(2)
    w = [lamina.tensor(rng.standard_normal(s).astype(np.float32)) for s in
         ((20, 3), (20, 5), (20,), (20,))]
    x1 = lamina.tensor(rng.standard_normal((4, 2, 3)).astype(np.float32), requires_grad=True)
    x2 = lamina.tensor(rng.standard_normal((4, 2, 3)).astype(np.float32), requires_grad=True)
    y1, h1, _ = rnn.rnn_layer("LSTM", x1, [tuple(w)])
    _expect(y1, True, np.float32)
    keep = y1._data.copy(), h1._data.copy()
    y2, h2, _ = rnn.rnn_layer("LSTM", x2, [tuple(w)])
    np.testing.assert_array_equal(y1._data, keep[0])
    np.testing.assert_array_equal(h1._data, keep[1])
    del y1, h1
    y3, h3, _ = rnn.rnn_layer("LSTM", x2, [tuple(w)])
    np.testing.assert_array_equal(y3._data, y2._data)
    np.testing.assert_array_equal(h3._data, h2._data)


# --- the compiled passes, one by one, against the NumPy expressions they replace -------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("so", [0, 3, 5])
def test_hidden_kernel_writes_only_its_column(dtype, so):
    """``hidden`` gives np.multiply's bits in column ``so`` of rows ``:H`` and leaves every
    other element of hx (inputs, bias row, other steps) untouched."""
    k = _kernels(dtype)
    rng = np.random.default_rng(so)
    t_len, hid, bsz, isz = 5, 7, 3, 2
    kdim = hid + isz + 1
    gates = rng.standard_normal((t_len, 4 * hid, bsz)).astype(dtype)
    tanh_c = np.tanh(rng.standard_normal((t_len, hid, bsz))).astype(dtype)
    hx = rng.standard_normal((kdim, t_len + 1, bsz)).astype(dtype)
    want = hx.copy()
    t = min(so, t_len - 1)
    k.hidden(gates, tanh_c, hx, t, so, hid)
    np.multiply(gates[t, 3 * hid:], tanh_c[t], out=want[:hid, so])
    np.testing.assert_array_equal(hx, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gate_kernels_match_numpy(dtype):
    """``forward_gates`` and ``backward_step`` do the NumPy steps' operations in the same
    order: the same bits."""
    k = _kernels(dtype)
    rng = np.random.default_rng(9)
    t_len, hid, bsz = 3, 37, 9            # rows long enough for the SIMD loop body
    one, half = dtype(1.0), dtype(0.5)
    gates = np.tanh(rng.standard_normal((t_len, 4 * hid, bsz))).astype(dtype)
    cells = rng.standard_normal((t_len + 1, hid, bsz)).astype(dtype)
    want_a, want_c = gates[1].copy(), cells.copy()
    k.forward_gates(gates, cells, 1, 1, 2, hid, half)
    for s in (want_a[:2 * hid], want_a[3 * hid:]):      # sigmoid = (1 + tanh(z/2)) / 2
        s *= half
        s += half
    want_c[2] = want_a[hid:2 * hid] * cells[1] + want_a[:hid] * want_a[2 * hid:3 * hid]
    np.testing.assert_array_equal(gates[1], want_a)
    np.testing.assert_array_equal(cells, want_c)

    tanh_c = np.tanh(cells[1:]).astype(dtype)
    dh, dc = (rng.standard_normal((hid, bsz)).astype(dtype) for _ in range(2))
    dys = rng.standard_normal((t_len, hid, bsz)).astype(dtype)
    dgs = np.empty((t_len, 4 * hid, bsz), dtype)
    wdh, wdc = dh + dys[1], dc.copy()
    k.backward_step(gates, tanh_c, cells, 1, 1, dh, dc, dgs, dys, True, hid, one)
    i, f, g, o = np.split(gates[1], 4)
    tc, cp = tanh_c[1], cells[1]
    x = wdc + (one - tc * tc) * o * wdh
    want = np.concatenate([x * g * ((one - i) * i), x * cp * ((one - f) * f),
                           x * ((one - g * g) * i), wdh * tc * ((one - o) * o)])
    np.testing.assert_array_equal(dgs[1], want)
    np.testing.assert_array_equal(dc, x * f)
    np.testing.assert_array_equal(dh, wdh)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("rd", [0, 1])
def test_setup_kernel_matches_numpy(dtype, bias, rd):
    """``setup``: the stacked step weights (sigmoid rows halved, bias sum) and the inputs
    gathered from a batch_first (non-contiguous) view into hx, the ones row, and nothing
    else of hx touched; the same bits as the NumPy expressions."""
    k = _kernels(dtype)
    rng = np.random.default_rng(7)
    t_len, bsz, isz, hid = 4, 3, 5, 6
    w_ih = rng.standard_normal((4 * hid, isz)).astype(dtype)
    w_hh = rng.standard_normal((4 * hid, hid + 2)).astype(dtype)[:, 1:-1]   # a view
    b_ih = rng.standard_normal(4 * hid).astype(dtype)
    b_hh = rng.standard_normal(4 * hid).astype(dtype)
    x3 = rng.standard_normal((bsz, t_len, isz)).astype(dtype).transpose(1, 0, 2)
    kdim = hid + isz + bias
    wcat = np.full((4 * hid, kdim), np.nan, dtype)
    hx = rng.standard_normal((kdim, t_len + 1, bsz)).astype(dtype)
    want_hx = hx.copy()
    k.setup(w_ih, w_hh, b_ih if bias else w_hh[0], b_hh if bias else w_hh[0], bias, x3, wcat,
            hx, rd, dtype(0.5), dtype(1.0))
    want = np.concatenate([w_hh, w_ih] + ([(b_ih + b_hh)[:, None]] if bias else []), axis=1)
    want[:2 * hid] *= dtype(0.5)
    want[3 * hid:] *= dtype(0.5)
    np.testing.assert_array_equal(wcat, want)
    want_hx[hid:hid + isz, rd:rd + t_len] = x3.transpose(2, 0, 1)
    if bias:
        want_hx[-1] = 1
    np.testing.assert_array_equal(hx, want_hx)


@pytest.mark.parametrize("shape", [(16, 4), (20, 7), (3, 40), (512, 128)])
def test_transpose_kernels_match_numpy(shape):
    """The blocked transpose (rows not a multiple of the block too) and the step-to-row
    copy of the gate gradients."""
    k = _kernels()
    rng = np.random.default_rng(8)
    w = rng.standard_normal(shape).astype(np.float32)
    out = np.empty(shape[::-1], np.float32)
    k.transpose(w, out)
    np.testing.assert_array_equal(out, w.T)
    src = rng.standard_normal((5,) + shape).astype(np.float32)
    dst = np.empty((shape[0], 5, shape[1]), np.float32)
    k.steps_to_rows(src, dst)
    np.testing.assert_array_equal(dst, src.transpose(1, 0, 2))


def test_kernels_build_when_numba_is_installed(monkeypatch):
    """With numba present the compiled path really exists (so the comparisons above compare
    two different paths); float16 and LAMINA_NUMBA=0 get None, and then the reference
    runs."""
    pytest.importorskip("numba")
    if not dispatch.fast_paths_enabled():
        pytest.skip("LAMINA_NUMBA=0 turns the fast paths off")
    monkeypatch.setattr(lstm_kernels, "enabled", True)
    assert lstm_kernels(np.float32) is not None and lstm_kernels(np.float64) is not None
    assert lstm_kernels(np.float16) is None
    monkeypatch.setattr(lstm_kernels, "enabled", False)
    assert lstm_kernels(np.float32) is None
    w = [lamina.randn(*s) for s in ((8, 3), (8, 2), (8,), (8,))]
    y = rnn.rnn_layer("LSTM", lamina.randn(4, 2, 3, requires_grad=True), [tuple(w)])[0]
    _expect(y, False, np.float32)
