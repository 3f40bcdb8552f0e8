"""lamina.onnx.export against onnxruntime: every supported layer and the model zoo, exported
with a dynamic batch axis and run at another batch size; float32 tolerances."""

import io

import numpy as np
import pytest

import lamina
from lamina import nn
from lamina.models import LeNet5, ResNet, mlp

onnx = pytest.importorskip("onnx", reason="lamina.onnx needs the onnx package ([onnx] extra)")
ort = pytest.importorskip("onnxruntime", reason="the oracle is onnxruntime ([onnx] extra)")

from lamina.onnx import UnsupportedModuleError, export  # noqa: E402

DYN = {"input": {0: "batch"}}


def _randomize_stats(model):
    """Running statistics away from (0, 1), so BatchNorm's eval formula is exercised."""
    rng = np.random.default_rng(0)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.data[...] = rng.normal(0, 0.5, m.num_features)
            m.running_var.data[...] = rng.uniform(0.5, 2.0, m.num_features)
            m.weight.data[...] = rng.uniform(0.5, 1.5, m.num_features)
            m.bias.data[...] = rng.normal(0, 0.5, m.num_features)
    return model


def _outputs(y):
    if isinstance(y, lamina.Tensor):
        return [y.detach().numpy()]
    return [a for o in y if o is not None for a in _outputs(o)]


def check_export(model, shape, batch=5, opset=17, dtype=np.float32, high=None, tmp=None,
                 atol=1e-5, rtol=1e-4):
    """Export with ``shape``'s batch (axis 0), then compare onnxruntime with lamina on a
    fresh input of batch ``batch`` (the batch axis is dynamic)."""
    rng = np.random.default_rng(1)

    def make(n):
        s = (n,) + tuple(shape[1:])
        if high is not None:
            return rng.integers(0, high, s).astype(np.int64)
        return rng.standard_normal(s).astype(dtype)

    buf = io.BytesIO()
    n_out = len(_outputs(model(lamina.tensor(make(shape[0])))))
    dyn = dict(DYN)
    for i in range(n_out):
        dyn["output" if n_out == 1 else f"output_{i}"] = {}
    proto = export(model, lamina.tensor(make(shape[0])), buf, opset_version=opset,
                   dynamic_axes=dyn)
    onnx.checker.check_model(proto, full_check=True)
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    x = make(batch)
    got = sess.run(None, {"input": x})
    model.eval()
    with lamina.no_grad():
        want = _outputs(model(lamina.tensor(x)))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, atol=atol, rtol=rtol)
    return proto


LAYERS = {
    "linear": (lambda: nn.Linear(6, 4), (2, 6)),
    "linear_no_bias": (lambda: nn.Linear(6, 4, bias=False), (2, 6)),
    "linear_3d": (lambda: nn.Linear(6, 4), (2, 3, 6)),
    "relu": (nn.ReLU, (2, 7)),
    "leaky_relu": (lambda: nn.LeakyReLU(0.2), (2, 7)),
    "sigmoid": (nn.Sigmoid, (2, 7)),
    "tanh": (nn.Tanh, (2, 7)),
    "elu": (lambda: nn.ELU(0.7), (2, 7)),
    "celu": (lambda: nn.CELU(0.7), (2, 7)),
    "selu": (nn.SELU, (2, 7)),
    "silu": (nn.SiLU, (2, 7)),
    "gelu": (nn.GELU, (2, 7)),
    "gelu_tanh": (lambda: nn.GELU(approximate="tanh"), (2, 7)),
    "softplus": (lambda: nn.Softplus(beta=2.0), (2, 7)),
    "hardtanh": (lambda: nn.Hardtanh(-0.5, 0.5), (2, 7)),
    "relu6": (nn.ReLU6, (2, 7)),
    "softsign": (nn.Softsign, (2, 7)),
    "softmax": (lambda: nn.Softmax(dim=-1), (2, 7)),
    "softmax_dim1": (lambda: nn.Softmax(dim=1), (2, 3, 4)),
    "log_softmax": (lambda: nn.LogSoftmax(dim=1), (2, 7)),
    "dropout": (lambda: nn.Dropout(0.5), (2, 7)),
    "identity": (nn.Identity, (2, 7)),
    "flatten": (nn.Flatten, (2, 3, 4, 5)),
    "flatten_tail": (lambda: nn.Flatten(2), (2, 3, 4, 5)),
    "unflatten": (lambda: nn.Unflatten(1, (3, 4)), (2, 12)),
    "conv1d": (lambda: nn.Conv1d(3, 4, 3, stride=2, padding=1), (2, 3, 11)),
    "conv2d": (lambda: nn.Conv2d(3, 4, 3, padding=1), (2, 3, 8, 8)),
    "conv2d_strided": (lambda: nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0),
                                         dilation=(1, 2), groups=2), (2, 4, 9, 8)),
    "conv2d_same": (lambda: nn.Conv2d(3, 4, 4, padding="same"), (2, 3, 7, 7)),
    "conv_transpose1d": (lambda: nn.ConvTranspose1d(3, 4, 3, stride=2, padding=1,
                                                    output_padding=1), (2, 3, 6)),
    "conv_transpose2d": (lambda: nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1,
                                                    output_padding=1, groups=2),
                         (2, 4, 5, 5)),
    "maxpool1d": (lambda: nn.MaxPool1d(3, 2, padding=1), (2, 3, 10)),
    "maxpool2d": (lambda: nn.MaxPool2d(2), (2, 3, 8, 8)),
    "maxpool2d_ceil": (lambda: nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), (2, 3, 9, 9)),
    "avgpool1d": (lambda: nn.AvgPool1d(2), (2, 3, 10)),
    "avgpool2d": (lambda: nn.AvgPool2d(3, 2, padding=1), (2, 3, 9, 9)),
    "avgpool2d_exclude_pad": (lambda: nn.AvgPool2d(3, 2, padding=1, count_include_pad=False),
                              (2, 3, 9, 9)),
    "adaptive_avgpool_global": (lambda: nn.AdaptiveAvgPool2d(1), (2, 3, 6, 6)),
    "adaptive_avgpool_2": (lambda: nn.AdaptiveAvgPool2d(2), (2, 3, 6, 6)),
    "adaptive_maxpool_1d": (lambda: nn.AdaptiveMaxPool1d(1), (2, 3, 6)),
    "batchnorm1d": (lambda: _randomize_stats(nn.BatchNorm1d(5)), (2, 5)),
    "batchnorm1d_3d": (lambda: _randomize_stats(nn.BatchNorm1d(5)), (2, 5, 4)),
    "batchnorm2d": (lambda: _randomize_stats(nn.BatchNorm2d(3)), (2, 3, 4, 4)),
    "layernorm": (lambda: nn.LayerNorm(6), (2, 3, 6)),
    "layernorm_2d_shape": (lambda: nn.LayerNorm((3, 6)), (2, 3, 6)),
    "conv3d": (lambda: nn.Conv3d(2, 4, (3, 2, 3), stride=(1, 2, 1), padding=1, groups=2),
               (2, 2, 5, 6, 5)),
    "conv_transpose3d": (lambda: nn.ConvTranspose3d(2, 3, 3, stride=2, padding=1,
                                                    output_padding=1), (1, 2, 3, 4, 3)),
    "maxpool3d": (lambda: nn.MaxPool3d(2, padding=1, ceil_mode=True), (2, 3, 5, 4, 5)),
    "avgpool3d": (lambda: nn.AvgPool3d(3, 2, padding=1, count_include_pad=False),
                  (2, 3, 5, 6, 5)),
    "adaptive_avgpool3d": (lambda: nn.AdaptiveAvgPool3d((2, 3, 1)), (2, 3, 4, 6, 5)),
    "adaptive_maxpool3d_global": (lambda: nn.AdaptiveMaxPool3d(1), (2, 3, 4, 6, 5)),
    "reflection_pad2d": (lambda: nn.ReflectionPad2d((1, 2, 0, 3)), (2, 3, 5, 5)),
    "replication_pad3d": (lambda: nn.ReplicationPad3d(1), (2, 3, 3, 4, 5)),
    "constant_pad1d": (lambda: nn.ConstantPad1d((2, 1), 1.5), (2, 3, 5)),
    "zero_pad2d": (lambda: nn.ZeroPad2d(1), (2, 3, 4, 4)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer(name):
    factory, shape = LAYERS[name]
    lamina.manual_seed(0)
    check_export(factory(), shape)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_opset20_is_one_node(approximate):
    proto = check_export(nn.GELU(approximate=approximate), (2, 7), opset=20)
    assert [n.op_type for n in proto.graph.node] == ["Gelu", "Identity"]


def test_embedding_gathers_rows():
    lamina.manual_seed(0)
    model = nn.Sequential(nn.Embedding(10, 4), nn.Flatten())
    check_export(model, (2, 3), high=10)


RNNS = {
    "lstm": lambda: nn.LSTM(3, 5),
    "lstm_2layer_bidirectional_batch_first": lambda: nn.LSTM(3, 5, num_layers=2,
                                                             bidirectional=True,
                                                             batch_first=True),
    "lstm_no_bias": lambda: nn.LSTM(3, 5, bias=False, batch_first=True),
    "gru": lambda: nn.GRU(3, 5, batch_first=True),
    "gru_2layer_bidirectional": lambda: nn.GRU(3, 5, num_layers=2, bidirectional=True),
    "rnn_tanh": lambda: nn.RNN(3, 5, batch_first=True),
    "rnn_relu_bidirectional": lambda: nn.RNN(3, 5, nonlinearity="relu", bidirectional=True,
                                             batch_first=True),
}


@pytest.mark.parametrize("name", sorted(RNNS))
def test_recurrent(name):
    """Outputs and final states (h_n, and c_n for LSTM) in PyTorch's layouts; the gates are
    reordered (PyTorch i,f,g,o / r,z,n; ONNX i,o,f,c / z,r,h). Axis 0 is dynamic: the batch
    with batch_first, else the sequence length (run longer than exported)."""
    lamina.manual_seed(0)
    model = RNNS[name]()
    if model.batch_first:
        check_export(model, (2, 4, 3), atol=1e-5)
    else:
        check_export(model, (4, 2, 3), batch=7, atol=1e-5)


def test_lstm_gate_order_matters():
    """A forget gate pushed open and an input gate pushed shut must survive the export."""
    lamina.manual_seed(0)
    m = nn.LSTM(2, 3, batch_first=True)
    h = 3
    m.bias_ih_l0.data[h:2 * h] = 5.0       # f
    m.bias_ih_l0.data[:h] = -5.0           # i
    check_export(m, (2, 6, 2))


def test_unbatched_rnn_input():
    lamina.manual_seed(0)
    m = nn.GRU(3, 4)
    x = lamina.randn(5, 3)
    buf = io.BytesIO()
    export(m, x, buf)
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x.numpy()})
    out, h = m(x)
    np.testing.assert_allclose(got[0], out.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(got[1], h.detach().numpy(), atol=1e-5)


# --- the model zoo -------------------------------------------------------------------------

def test_lenet5():
    lamina.manual_seed(0)
    check_export(LeNet5(), (2, 1, 28, 28), batch=3)


def test_lenet5_classic_tanh_avgpool():
    lamina.manual_seed(0)
    check_export(LeNet5(padding=0, activation="tanh", pool="avg"), (2, 1, 32, 32), batch=3)


def test_mlp_with_batch_norm_and_dropout():
    lamina.manual_seed(0)
    model = _randomize_stats(mlp(6, [16, 8], 3, activation="gelu", dropout=0.3,
                                 batch_norm=True))
    check_export(model, (4, 6))


def test_resnet_small_with_projection_shortcuts():
    lamina.manual_seed(0)
    model = _randomize_stats(ResNet(in_channels=3, widths=(4, 8), blocks=(2, 1)))
    proto = check_export(model, (2, 3, 12, 12), batch=3, atol=1e-4)
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("Add") == 3 and "GlobalAveragePool" in ops


def test_highway_and_residual_mlp():
    lamina.manual_seed(0)
    model = nn.Sequential(nn.Highway(6, activation="tanh"),
                          nn.ResidualMLPBlock(6, 10, batch_norm=True, dropout=0.1),
                          nn.Linear(6, 2))
    check_export(_randomize_stats(model), (3, 6))


# --- behaviour around the conversion -------------------------------------------------------

class Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return self.fc(x) * 2


class Doubled(nn.Linear):
    def forward(self, x):
        return super().forward(x) * 2


def test_unsupported_module_is_named():
    model = nn.Sequential(nn.Linear(3, 3), Custom())
    with pytest.raises(UnsupportedModuleError, match=r"Custom at '1'"):
        export(model, lamina.randn(2, 3), io.BytesIO())


def test_overridden_forward_is_not_mapped():
    with pytest.raises(UnsupportedModuleError, match="Doubled overrides Linear.forward"):
        export(Doubled(3, 3), lamina.randn(2, 3), io.BytesIO())


def test_unsupported_configuration_is_named():
    with pytest.raises(UnsupportedModuleError, match="MaxPool2d.*return_indices"):
        export(nn.MaxPool2d(2, return_indices=True), lamina.randn(1, 1, 4, 4), io.BytesIO())


def test_training_flags_restored_and_file_written(tmp_path):
    model = mlp(4, [8], 2, dropout=0.5)
    model.train()
    path = tmp_path / "m.onnx"
    export(model, lamina.randn(2, 4), str(path), input_names=["x"], output_names=["logits"],
           dynamic_axes={"x": [0], "logits": {0: "n"}})
    assert all(m.training for m in model.modules())
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["x"]
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "n"


def test_fixed_batch_without_dynamic_axes():
    model = nn.Linear(4, 2)
    buf = io.BytesIO()
    export(model, lamina.randn(2, 4), buf)
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape == [2, 4]


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"opset_version": 11}, ValueError, "opset_version"),
    ({"dynamic_axes": {"nope": [0]}}, ValueError, "neither an input nor an output"),
    ({"dynamic_axes": {"input": [5]}}, ValueError, "out of range"),
])
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        export(nn.Linear(4, 2), lamina.randn(2, 4), io.BytesIO(), **kwargs)


def test_bad_args_type():
    with pytest.raises(TypeError, match="args must be a Tensor"):
        export(nn.Linear(4, 2), np.zeros((2, 4), np.float32), io.BytesIO())


@pytest.mark.parametrize("batch_first, norm_first, activation", [
    (True, False, "relu"), (False, True, "gelu"), (True, True, nn.GELU(approximate="tanh")),
])
def test_transformer_encoder(batch_first, norm_first, activation):
    """Self-attention (one in-projection, heads by Reshape/Transpose, softmax(q k^T / sqrt d)
    v), the feed-forward block and both LayerNorm placements; no masks."""
    lamina.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.1,
                                       activation=activation, batch_first=batch_first,
                                       norm_first=norm_first)
    model = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8))
    shape = (2, 5, 8) if batch_first else (5, 2, 8)
    check_export(model, shape, batch=3, atol=1e-4)


def test_fused_pairs_export_as_the_pair_they_replace():
    """``nn.utils.fuse``'s modules run the pair's ops: BatchNorm then Relu, MaxPool then Relu
    (the same values as Relu then MaxPool)."""
    lamina.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Conv2d(4, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    fused = nn.utils.fuse(_randomize_stats(model))
    assert type(fused[1]) is nn.BatchNormReLU2d and type(fused[4]) is nn.ReLUMaxPool2d
    proto = check_export(fused, (2, 1, 10, 10), batch=3, atol=1e-4)
    ops = [n.op_type for n in proto.graph.node]
    assert ops[:2] == ["Conv", "BatchNormalization"] and ops.count("Relu") == 2


def test_circular_padding_is_wrap_from_opset_19():
    check_export(nn.CircularPad2d((1, 2, 2, 0)), (2, 3, 4, 5), opset=19)
    with pytest.raises(UnsupportedModuleError, match="CircularPad1d.*opset 19"):
        export(nn.CircularPad1d(1), lamina.randn(1, 2, 4), io.BytesIO())
