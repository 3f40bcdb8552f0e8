"""Static quantization: calibrated activation qparams equal PyTorch's MinMaxObserver."""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina import nn
from lamina.quantization import (
    StaticQuantizedLinear,
    calibrated_qparams,
    quantize_activation,
    quantize_dynamic,
    quantize_static,
)

torch = pytest.importorskip("torch")
tq = pytest.importorskip("torch.ao.quantization")


@pytest.mark.parametrize("reduce_range", [True, False])
@pytest.mark.parametrize("shift", [0.0, 2.0, -5.0, 0.3])
def test_calibrated_qparams_equal_minmax_observer(reduce_range, shift):
    rng = np.random.default_rng(int(10 * abs(shift)))
    x = (rng.standard_normal((3, 50)) * 1.7 + shift).astype(np.float32)
    obs = tq.MinMaxObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine,
                            reduce_range=reduce_range)
    for row in x:
        obs(torch.from_numpy(row))
    ts, tzp = obs.calculate_qparams()
    s, zp = calibrated_qparams(float(x.min()), float(x.max()), reduce_range)
    assert s == float(ts) and zp == int(tzp)


def test_static_layers_use_the_calibrated_range():
    lamina.manual_seed(0)
    m = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))
    rng = np.random.default_rng(0)
    calib = [rng.standard_normal((16, 12)).astype(np.float32) for _ in range(3)]
    q = quantize_static(m, calib)
    assert isinstance(q[0], StaticQuantizedLinear) and isinstance(m[0], nn.Linear)
    lo, hi = min(c.min() for c in calib), max(c.max() for c in calib)
    assert (q[0].act_scale, q[0].act_zero_point) == calibrated_qparams(lo, hi)
    x = rng.standard_normal((5, 12)).astype(np.float32)
    got = q[0](lamina.tensor(x))._data
    x_q = np.minimum(quantize_activation(x, q[0].act_scale, q[0].act_zero_point), 127)
    acc = (x_q.astype(np.int64) - q[0].act_zero_point) @ q[0].weight_int8._data.T.astype(
        np.int64)
    want = acc * (q[0].act_scale * q[0].weight_scale._data.astype(np.float64)) + q[0].bias._data
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    dyn = quantize_dynamic(m)(lamina.tensor(x))._data
    np.testing.assert_allclose(q(lamina.tensor(x))._data, dyn, atol=0.05)
    with pytest.raises(ValueError, match="quantize_static: calibration_data gave no batches"):
        quantize_static(m, [])
    with pytest.raises(ValueError, match="calibrated_qparams: expected finite"):
        calibrated_qparams(1.0, 0.0)
