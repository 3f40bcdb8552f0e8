"""lamina.quantization against torch.ao.quantization.quantize_dynamic on the same weights."""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina import nn
from lamina.quantization import (
    DynamicQuantizedConv2d,
    DynamicQuantizedLinear,
    choose_activation_qparams,
    max_accumulation_length,
    model_size,
    per_channel_dynamic_qconfig,
    quantize_dynamic,
    quantize_weight,
    size_report,
)

torch = pytest.importorskip("torch")
tq = pytest.importorskip("torch.ao.quantization")


def _pair(in_f=48, hidden=32, out_f=10, seed=0, scale=1.0):
    lamina.manual_seed(seed)
    m = nn.Sequential(nn.Linear(in_f, hidden), nn.ReLU(), nn.Linear(hidden, out_f))
    for p in m.parameters():
        p._data = (p._data * scale).astype(np.float32)
    t = torch.nn.Sequential(torch.nn.Linear(in_f, hidden), torch.nn.ReLU(),
                            torch.nn.Linear(hidden, out_f))
    with torch.no_grad():
        for (_, pl), (_, pt) in zip(m.named_parameters(), t.named_parameters()):
            pt.copy_(torch.from_numpy(pl._data.copy()))
    return m, t


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_int8_weights_and_scales_equal_pytorch(per_channel, seed):
    m, t = _pair(seed=seed, scale=[1.0, 0.01, 30.0][seed])
    if per_channel:
        qm = quantize_dynamic(m, {nn.Linear: per_channel_dynamic_qconfig})
        qt = tq.quantize_dynamic(t, {torch.nn.Linear: tq.per_channel_dynamic_qconfig})
    else:
        qm = quantize_dynamic(m, {nn.Linear}, dtype=lamina.qint8)
        qt = tq.quantize_dynamic(t, {torch.nn.Linear}, dtype=torch.qint8)
    for i in (0, 2):
        w = qt[i].weight()
        np.testing.assert_array_equal(qm[i].weight_int8._data, w.int_repr().numpy())
        ref = (w.q_per_channel_scales().numpy() if per_channel else np.asarray(w.q_scale()))
        np.testing.assert_array_equal(qm[i].weight_scale._data.astype(np.float64), ref)
        if per_channel:
            assert not w.q_per_channel_zero_points().numpy().any()
        else:
            assert w.q_zero_point() == 0
        np.testing.assert_array_equal(qm[i].bias._data, qt[i].bias().detach().numpy())


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("shift", [0.0, 1.5, -3.0])
def test_outputs_match_pytorch_within_one_quantization_step(per_channel, shift):
    m, t = _pair(in_f=64, hidden=40)
    spec_l = {nn.Linear: per_channel_dynamic_qconfig} if per_channel else {nn.Linear}
    spec_t = ({torch.nn.Linear: tq.per_channel_dynamic_qconfig} if per_channel
              else {torch.nn.Linear})
    q = quantize_dynamic(m[0], spec_l)
    qt = tq.quantize_dynamic(torch.nn.Sequential(t[0]), spec_t)[0]
    x = (np.random.default_rng(1).standard_normal((16, 64)) + shift).astype(np.float32)
    got = q(lamina.tensor(x))._data
    want = qt(torch.from_numpy(x)).numpy()
    x_scale, _ = choose_activation_qparams(x.min(), x.max(), reduce_range=True)
    w_s = q.weight_scale._data
    # one activation rounding differently moves an output by x_scale * w_scale * |w_q| at most
    step = x_scale * np.broadcast_to(w_s, (40,)) * np.abs(q.weight_int8._data).max(1)
    assert np.all(np.abs(got - want) <= step + 1e-5 * np.abs(want) + 1e-6)
    # and the quantized model is close to the float one
    np.testing.assert_allclose(got, m[0](lamina.tensor(x))._data, atol=0.05 * np.abs(want).max())


def test_activation_qparams_are_fbgemms():
    # hand-computed: range [-1, 3] over 0..127 gives scale 4/127, zp from the min end 31.75 -> 32
    s, zp = choose_activation_qparams(-1.0, 3.0, reduce_range=True)
    assert s == pytest.approx(4 / 127, rel=1e-7) and zp == 32
    s, zp = choose_activation_qparams(0.5, 2.0, reduce_range=False)   # min clipped up to 0
    assert s == pytest.approx(2 / 255, rel=1e-7) and zp == 0
    s, zp = choose_activation_qparams(0.0, 0.0)
    assert s == pytest.approx(0.1) and zp == 0
    obs = tq.MinMaxObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine,
                            reduce_range=True)
    x = torch.from_numpy(np.random.default_rng(0).standard_normal(100).astype(np.float32))
    obs(x)
    ts, tzp = obs.calculate_qparams()
    s, zp = choose_activation_qparams(float(x.min()), float(x.max()), reduce_range=True)
    assert s == pytest.approx(float(ts), rel=1e-6) and abs(zp - int(tzp)) <= 1


def test_quantize_weight_extremes_round_half_to_even():
    w_q, s = quantize_weight(np.array([[1.0, -1.0, 0.0, 0.5]], np.float32))
    ref = torch.quantize_per_tensor(torch.tensor([[1.0, -1.0, 0.0, 0.5]]), float(s), 0,
                                    torch.qint8).int_repr().numpy()
    np.testing.assert_array_equal(w_q, ref)


def test_integer_product_is_exact_int32():
    m, _ = _pair(in_f=30, hidden=7)
    q = quantize_dynamic(m[0])
    x = np.random.default_rng(3).standard_normal((5, 30)).astype(np.float32)
    s, zp = choose_activation_qparams(x.min(), x.max())
    from lamina.quantization import quantize_activation
    x_q = quantize_activation(x, s, zp).astype(np.int64) - zp
    acc = x_q @ q.weight_int8._data.astype(np.int64).T            # exact in int64
    want = acc * (s * q.weight_scale._data.astype(np.float64)) + q.bias._data
    np.testing.assert_allclose(q(lamina.tensor(x))._data, want, rtol=1e-6, atol=1e-6)


def test_int32_accumulator_guard():
    k = max_accumulation_length(reduce_range=True)
    assert k * 128 * 128 <= 2**31 - 1 < (k + 1) * 128 * 128
    assert max_accumulation_length(False) * 255 * 128 <= 2**31 - 1
    big = nn.Linear(k + 1, 1, bias=False)
    with pytest.raises(ValueError, match="DynamicQuantizedLinear: dot products of length"):
        DynamicQuantizedLinear.from_float(big)
    # worst case at the bound: every |x_q - zp| = 128, every w_q = -128, no wrap-around
    x_q = np.full((1, 4096), 128, np.uint8)
    from lamina.quantization.modules import _int_matmul
    acc = _int_matmul(x_q, 0, np.full((1, 4096), -128, np.int8))
    assert acc.dtype == np.int32 and acc[0, 0] == -128 * 128 * 4096


def test_copy_by_default_and_inplace():
    m, _ = _pair()
    q = quantize_dynamic(m)
    assert isinstance(m[0], nn.Linear) and isinstance(q[0], DynamicQuantizedLinear)
    r = quantize_dynamic(m, inplace=True)
    assert r is m and isinstance(m[2], DynamicQuantizedLinear)


def test_by_name_spec_and_skip():
    m, _ = _pair()
    q = quantize_dynamic(m, {"2": per_channel_dynamic_qconfig})
    assert isinstance(q[0], nn.Linear) and isinstance(q[2], DynamicQuantizedLinear)
    assert q[2].weight_scale._data.shape == (10,)
    q = quantize_dynamic(m, {nn.Linear: per_channel_dynamic_qconfig, "0": None})
    assert isinstance(q[0], nn.Linear) and isinstance(q[2], DynamicQuantizedLinear)


def test_size_report_shrinks_about_fourfold():
    m, _ = _pair(in_f=256, hidden=128)
    q = quantize_dynamic(m)
    rep = size_report(m, q)
    assert rep["before_bytes"] == model_size(m) == 4 * sum(p._data.size for p in m.parameters())
    assert 3.5 < rep["ratio"] < 4.0


def test_conv2d_close_to_float_conv_and_lenet():
    lamina.manual_seed(0)
    conv = nn.Conv2d(3, 6, 3, stride=2, padding=1, dilation=1)
    x = lamina.randn(2, 3, 9, 9)
    for qc in (None, per_channel_dynamic_qconfig):
        spec = {nn.Conv2d} if qc is None else {nn.Conv2d: qc}
        q = quantize_dynamic(nn.Sequential(conv), spec)[0]
        assert isinstance(q, DynamicQuantizedConv2d)
        got, want = q(x)._data, conv(x)._data
        assert got.shape == want.shape
        assert np.abs(got - want).max() < 0.05 * np.abs(want).max()
    # integer path equals a float conv with the dequantized weight and input, exactly in int
    from lamina.models import LeNet5
    net = LeNet5().eval()
    qnet = quantize_dynamic(net, {nn.Linear, nn.Conv2d})
    xi = lamina.rand(3, 1, 28, 28)
    assert np.abs(qnet(xi)._data - net(xi)._data).max() < 0.1 * np.abs(net(xi)._data).max() + 1e-3


@pytest.mark.parametrize("call,match", [
    (lambda: quantize_dynamic("m"), "quantize_dynamic: model must be an nn.Module"),
    (lambda: quantize_dynamic(nn.Linear(2, 2), dtype="int8"), "dtype must be lamina.qint8"),
    (lambda: quantize_dynamic(nn.Linear(2, 2), 5), "qconfig_spec must be"),
    (lambda: quantize_weight(np.arange(3)), "quantize_weight: expected a floating"),
    (lambda: quantize_weight(np.ones(3, np.float32), "affine"), "scheme must be one of"),
    (lambda: choose_activation_qparams(2.0, 1.0), "expected finite x_min <= x_max"),
    (lambda: quantize_dynamic(nn.Linear(3, 2))(lamina.randn(2, 4)), "last dim 3"),
])
def test_bad_input(call, match):
    with pytest.raises((TypeError, ValueError), match=match):
        call()
