"""lamina.models and the shortcut layers: shapes, structure, registry, errors, gradcheck."""

import numpy as np
import pytest

import lamina
from lamina import models, nn
from lamina.autograd import gradcheck


def _shape(model, *shape, train=False):
    model.train(train)
    with lamina.no_grad():
        return tuple(model(lamina.randn(*shape)).shape)


# --- shapes layer by layer --------------------------------------------------------------

@pytest.mark.parametrize("padding,size", [(2, 28), (0, 32)])
def test_lenet5_shapes_layer_by_layer(padding, size):
    model = models.LeNet5(padding=padding)
    x = lamina.randn(3, 1, size, size)
    want = [(3, 6, 28, 28), (3, 6, 28, 28), (3, 6, 14, 14), (3, 16, 10, 10),
            (3, 16, 10, 10), (3, 16, 5, 5), (3, 400), (3, 120), (3, 120), (3, 84), (3, 84),
            (3, 10)]
    assert len(model) == len(want)
    for layer, shape in zip(model, want):
        x = layer(x)
        assert tuple(x.shape) == shape, layer


@pytest.mark.parametrize("activation,pool,act_cls,pool_cls", [
    ("relu", "max", nn.ReLU, nn.MaxPool2d), ("tanh", "avg", nn.Tanh, nn.AvgPool2d)])
def test_lenet5_options(activation, pool, act_cls, pool_cls):
    model = models.LeNet5(num_classes=7, in_channels=3, padding=0, activation=activation,
                          pool=pool)
    assert [type(model[i]) for i in (1, 4, 8, 10)] == [act_cls] * 4
    assert isinstance(model[2], pool_cls) and isinstance(model[5], pool_cls)
    assert model[0].padding == (0, 0) and model[0].in_channels == 3
    assert _shape(model, 2, 3, 32, 32) == (2, 7)
    # a slice is a plain Sequential of the same layers
    head = model[:3]
    assert type(head) is nn.Sequential and head[0] is model[0]
    # 61,706 weights for 10 classes: the classic LeNet-5 count with full C3 connections
    assert sum(p.numel() for p in models.LeNet5().parameters()) == 61706


def test_lenet5_bad_arguments():
    with pytest.raises(ValueError, match="pool"):
        models.LeNet5(pool="median")
    with pytest.raises(ValueError, match="activation"):
        models.LeNet5(activation="swishy")
    with pytest.raises(ValueError, match="padding"):
        models.LeNet5(padding=-1)
    with pytest.raises(ValueError, match=r"\(N, 1, 32, 32\) for padding=0"):
        models.LeNet5(padding=0)(lamina.randn(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"\(N, 3, 28, 28\)"):
        models.LeNet5(in_channels=3)(lamina.randn(2, 1, 28, 28))
    assert _shape(models.LeNet5(), 2, 1, 29, 29) == (2, 10)   # floor division in pooling


def test_mlp_structure_and_shapes():
    m = models.mlp(20, [16, 8], 3)
    assert [type(x) for x in m] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert _shape(m, 5, 20) == (5, 3)
    m = models.mlp(20, [16], 3, activation="tanh", dropout=0.25, batch_norm=True)
    assert [type(x) for x in m] == [nn.Linear, nn.BatchNorm1d, nn.Tanh, nn.Dropout, nn.Linear]
    assert m[3].p == 0.25
    assert _shape(m, 5, 20, train=True) == (5, 3)
    assert [type(x) for x in models.mlp(4, [], 2)] == [nn.Linear]
    assert len(models.mlp(4, 6, 2)) == 3        # an int is one hidden layer
    with pytest.raises(ValueError, match="dropout"):
        models.mlp(4, [4], 2, dropout=1.0)
    with pytest.raises(ValueError, match="hidden"):
        models.mlp(4, [4, 0], 2)


def test_regression_models():
    assert _shape(models.linear(5), 4, 5) == (4, 1)
    assert _shape(models.linear(5, 3), 4, 5) == (4, 3)
    assert _shape(models.logistic(5), 4, 5) == (4, 1)
    assert _shape(models.softmax(5, 10), 4, 5) == (4, 10)
    with pytest.raises(ValueError, match="num_classes"):
        models.softmax(5, 1)


@pytest.mark.parametrize("in_channels,size,out", [(1, 28, 7), (3, 32, 8)])
def test_resnet_small_shapes(in_channels, size, out):
    model = models.resnet_small(in_channels=in_channels)
    x = lamina.randn(2, in_channels, size, size)
    model.eval()
    with lamina.no_grad():
        h = model.bn1(model.conv1(x)).relu()
        assert tuple(h.shape) == (2, 16, size, size)
        h = model.layer1(h)
        assert tuple(h.shape) == (2, 16, size, size)
        h = model.layer2(h)
        assert tuple(h.shape) == (2, 32, size // 2, size // 2)
        h = model.layer3(h)
        assert tuple(h.shape) == (2, 64, out, out)
        assert tuple(model(x).shape) == (2, 10)
    # the first block of stages 2 and 3 projects; stage 1 keeps the identity shortcut
    assert model.layer1[0].downsample is None
    assert model.layer2[0].downsample is not None
    deeper = models.ResNet(widths=(8, 16), blocks=(3, 2), num_classes=4)
    assert [len(deeper.layer1), len(deeper.layer2)] == [3, 2]
    assert _shape(deeper, 2, 1, 28, 28, train=True) == (2, 4)
    with pytest.raises(ValueError, match="same length"):
        models.ResNet(widths=(8, 16), blocks=(1,))
    with pytest.raises(ValueError, match=r"shape \(N, 1, H, W\)"):
        models.resnet_small()(lamina.randn(2, 3, 28, 28))


def test_highway_mlp_shapes_and_gate_bias():
    model = models.HighwayMLP(64, 10, width=32, depth=20, activation="tanh", gate_bias=-3.0)
    assert len(model.layers) == 20
    assert all(isinstance(m, nn.Highway) for m in model.layers)
    assert all(np.all(m.gate.bias.detach().numpy() == -3.0) for m in model.layers)
    assert _shape(model, 4, 64) == (4, 10)


# --- registry ---------------------------------------------------------------------------

def test_available_models_and_get_model():
    assert models.available_models() == sorted(
        ["mlp", "lenet5", "resnet-small", "highway-mlp", "logistic", "linear", "softmax"])
    cases = {
        "mlp": (dict(in_features=8, hidden=[4], out_features=3), (2, 8), (2, 3)),
        "lenet5": ({}, (2, 1, 28, 28), (2, 10)),
        "resnet-small": (dict(in_channels=3), (2, 3, 32, 32), (2, 10)),
        "highway-mlp": (dict(in_features=8, out_features=3, depth=2), (2, 8), (2, 3)),
        "logistic": (dict(in_features=8), (2, 8), (2, 1)),
        "linear": (dict(in_features=8, out_features=2), (2, 8), (2, 2)),
        "softmax": (dict(in_features=8, num_classes=5), (2, 8), (2, 5)),
    }
    assert sorted(cases) == models.available_models()
    for name, (kw, in_shape, out_shape) in cases.items():
        assert _shape(models.get_model(name, **kw), *in_shape) == out_shape, name
    assert isinstance(models.get_model("LeNet-5", padding=0), models.LeNet5)
    assert isinstance(models.get_model("resnet_small"), models.ResNet)


def test_get_model_errors():
    with pytest.raises(ValueError) as e:
        models.get_model("vgg16")
    for name in models.available_models():
        assert name in str(e.value)
    with pytest.raises(TypeError, match="accepts: num_classes, in_channels, padding"):
        models.get_model("lenet5", kernel=3)
    with pytest.raises(TypeError):
        models.get_model(5)


def test_register_model():
    models.register_model("Tiny_Net", lambda width=3: nn.Linear(2, width))
    try:
        assert models.get_model("tiny-net", width=4).out_features == 4
        assert "tiny-net" in models.available_models()
    finally:
        models._REGISTRY.pop("tiny-net")
    with pytest.raises(TypeError):
        models.register_model("x", 3)


# --- the shortcut layers ------------------------------------------------------------------

def test_highway_starts_near_the_identity():
    """With the gate bias at -2 and small inputs, T ~ sigmoid(-2) = 0.12: y stays near x."""
    lamina.manual_seed(0)
    layer = nn.Highway(16)
    assert np.all(layer.gate.bias.detach().numpy() == -2.0)
    x = lamina.randn(64, 16) * 0.1
    y = layer(x).detach().numpy()
    sd = {k: v.numpy() for k, v in layer.state_dict().items()}
    t = 1 / (1 + np.exp(-(x.numpy() @ sd["gate.weight"].T - 2.0)))
    h = np.maximum(x.numpy() @ sd["linear.weight"].T + sd["linear.bias"], 0)
    np.testing.assert_allclose(y, t * h + (1 - t) * x.numpy(), rtol=1e-5, atol=1e-6)
    assert 0.08 < t.mean() < 0.16
    layer.gate.bias.data[...] = 5.0
    layer.reset_parameters()
    assert np.all(layer.gate.bias.detach().numpy() == -2.0)
    no_bias = nn.Highway(4, activation=nn.Tanh, bias=False, gate_bias=-1)
    assert list(no_bias.state_dict()) == ["linear.weight", "gate.weight", "gate.bias"]
    assert np.all(no_bias.gate.bias.detach().numpy() == -1.0)
    assert isinstance(no_bias.activation, nn.Tanh)


def test_residual_mlp_block_is_identity_plus_correction():
    lamina.manual_seed(0)
    block = nn.ResidualMLPBlock(6, 10, activation="tanh")
    x = lamina.randn(4, 6)
    with lamina.no_grad():
        block.fc2.weight.zero_()
        block.fc2.bias.zero_()
    np.testing.assert_array_equal(block(x).detach().numpy(), x.numpy())
    assert _shape(nn.ResidualMLPBlock(6, batch_norm=True, dropout=0.1), 4, 6,
                  train=True) == (4, 6)


def test_residual_block_projection_only_when_needed():
    assert nn.ResidualBlock(8).downsample is None
    assert nn.ResidualBlock(8, 8, stride=1).downsample is None
    assert nn.ResidualBlock(8, 16).downsample is not None
    assert nn.ResidualBlock(8, 8, stride=2).downsample is not None
    assert _shape(nn.ResidualBlock(8, 8, stride=2), 2, 8, 9, 9, train=True) == (2, 8, 5, 5)


def test_shortcut_layer_errors():
    with pytest.raises(ValueError, match="features"):
        nn.Highway(0)
    with pytest.raises(ValueError, match=r"\(\*, 4\)"):
        nn.Highway(4)(lamina.randn(2, 5))
    with pytest.raises(ValueError, match="stride"):
        nn.ResidualBlock(4, 4, stride=0)
    with pytest.raises(ValueError, match=r"\(N, 4, H, W\)"):
        nn.ResidualBlock(4)(lamina.randn(2, 3, 5, 5))
    with pytest.raises(ValueError, match="dropout"):
        nn.ResidualMLPBlock(4, dropout=1.5)
    with pytest.raises(TypeError, match="instance"):
        nn.Highway(4, activation=nn.ReLU())


def _params(module):
    return [p for p in module.parameters()]


def test_highway_gradcheck():
    lamina.manual_seed(0)
    layer = nn.Highway(5, activation="tanh").double()
    x = lamina.randn(3, 5, dtype=lamina.float64, requires_grad=True)
    w = _params(layer)

    def fn(x, *ps):  # the parameters enter as inputs so gradcheck perturbs them too
        return layer(x)

    assert gradcheck(fn, (x, *w))


@pytest.mark.parametrize("train", [True, False])
def test_residual_blocks_gradcheck(train):
    lamina.manual_seed(0)
    block = nn.ResidualBlock(2, 3, stride=2).double()
    # train: batch statistics (a smooth function of the batch); eval: running statistics
    block.train(train)
    with lamina.no_grad():
        for m in block.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.data[...] = np.linspace(-0.5, 0.5, 3)
                m.running_var.data[...] = np.linspace(0.5, 2.0, 3)
    x = lamina.randn(2, 2, 5, 5, dtype=lamina.float64, requires_grad=True)
    assert gradcheck(lambda x, *ps: block(x), (x, *_params(block)))
    mlp_block = nn.ResidualMLPBlock(4, 6, activation="tanh", batch_norm=True).double()
    mlp_block.train(train)
    x = lamina.randn(5, 4, dtype=lamina.float64, requires_grad=True)
    assert gradcheck(lambda x, *ps: mlp_block(x), (x, *_params(mlp_block)))
