"""lamina.onnx.import_model: a chain graph back to an nn.Sequential; export then import gives
the same function (same weights, same layers)."""

import io

import numpy as np
import pytest

import lamina
from lamina import nn
from lamina.models import LeNet5, mlp

onnx = pytest.importorskip("onnx", reason="lamina.onnx needs the onnx package ([onnx] extra)")

from lamina.onnx import UnsupportedModuleError, export, import_model  # noqa: E402
from tests.onnx.test_export import _randomize_stats  # noqa: E402


def roundtrip(model, shape):
    buf = io.BytesIO()
    x = lamina.randn(*shape)
    export(model, x, buf, opset_version=20, dynamic_axes={"input": [0]})   # one Gelu node
    buf.seek(0)
    back = import_model(buf)
    model.eval()
    with lamina.no_grad():
        np.testing.assert_allclose(back(x).numpy(), model(x).detach().numpy(), atol=1e-5,
                                   rtol=1e-5)
    return back


def test_mlp_roundtrip():
    lamina.manual_seed(0)
    back = roundtrip(_randomize_stats(mlp(5, [8, 6], 3, activation="gelu", dropout=0.2,
                                          batch_norm=True)), (4, 5))
    assert [type(m).__name__ for m in back] == ["Linear", "BatchNorm1d", "GELU", "Linear",
                                               "BatchNorm1d", "GELU", "Linear"]


def test_lenet5_roundtrip():
    lamina.manual_seed(0)
    back = roundtrip(LeNet5(), (2, 1, 28, 28))
    assert sum(isinstance(m, nn.Conv2d) for m in back) == 2


def test_conv_stack_roundtrip():
    lamina.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
                          nn.AvgPool2d(2), _randomize_stats(nn.BatchNorm2d(4)),
                          nn.ConvTranspose2d(4, 2, 2, stride=2), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(2, 3), nn.LayerNorm(3), nn.LogSoftmax(1))
    roundtrip(model, (2, 3, 8, 8))


def test_branching_graph_is_refused():
    from lamina.models import ResNet
    buf = io.BytesIO()
    export(ResNet(widths=(4,), blocks=(1,)), lamina.randn(1, 1, 8, 8), buf)
    buf.seek(0)
    with pytest.raises(UnsupportedModuleError, match="does not continue the chain"):
        import_model(buf)


def test_unknown_operator_is_named():
    h = onnx.helper
    node = h.make_node("Cos", ["x"], ["y"], name="cosine")
    graph = h.make_graph([node], "g", [h.make_tensor_value_info("x", 1, [2])],
                         [h.make_tensor_value_info("y", 1, [2])])
    with pytest.raises(UnsupportedModuleError, match=r"cosine \(Cos\) has no lamina module"):
        import_model(h.make_model(graph))
