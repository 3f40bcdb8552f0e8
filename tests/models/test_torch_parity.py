"""lamina.models and the shortcut layers against PyTorch (the oracle), in float64: the same
architecture built in torch, its state_dict exported as NumPy arrays and loaded into lamina,
must give the same outputs, gradients and running statistics."""

from collections import OrderedDict

import numpy as np
import pytest

import lamina
from lamina import models, nn

torch = pytest.importorskip("torch")
tnn = torch.nn

TIGHT = dict(rtol=1e-7, atol=1e-10)


def _to_numpy(sd):
    return OrderedDict((k, v.detach().numpy().copy()) for k, v in sd.items())


def _load_from_torch(model, tmodel):
    """Copy tmodel's state into model (keys must match exactly: strict loading)."""
    result = model.load_state_dict(_to_numpy(tmodel.state_dict()))
    assert not result.missing_keys and not result.unexpected_keys


def _compare(model, tmodel, x, train, grads=True):
    """Forward in both (same mode), compare outputs, then parameter and input gradients of
    a weighted sum of the outputs, then buffers (running statistics)."""
    model.train(train)
    tmodel.train(train)
    w = np.random.default_rng(1).normal(size=model(lamina.tensor(x)).shape)
    # the call above updated lamina's running stats once more: reload both to start equal
    lx = lamina.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    sd = _to_numpy(tmodel.state_dict())
    model.load_state_dict(sd)
    lout = model(lx)
    tout = tmodel(tx)
    np.testing.assert_allclose(lout.detach().numpy(), tout.detach().numpy(), **TIGHT)
    if grads:
        (lout * lamina.tensor(w)).sum().backward()
        (tout * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(lx.grad.numpy(), tx.grad.numpy(), **TIGHT)
        tparams = dict(tmodel.named_parameters())
        for name, p in model.named_parameters():
            np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), **TIGHT,
                                       err_msg=name)
    tbuf = dict(tmodel.named_buffers())
    for name, b in model.named_buffers():
        np.testing.assert_allclose(b.numpy(), tbuf[name].numpy(), **TIGHT, err_msg=name)


def _torch_act(name):
    return {"relu": tnn.ReLU, "tanh": tnn.Tanh}[name]()


def torch_lenet5(padding, activation, pool, num_classes=10, in_channels=1):
    pool_cls = tnn.MaxPool2d if pool == "max" else tnn.AvgPool2d
    return tnn.Sequential(
        tnn.Conv2d(in_channels, 6, 5, padding=padding), _torch_act(activation), pool_cls(2, 2),
        tnn.Conv2d(6, 16, 5), _torch_act(activation), pool_cls(2, 2),
        tnn.Flatten(),
        tnn.Linear(400, 120), _torch_act(activation),
        tnn.Linear(120, 84), _torch_act(activation),
        tnn.Linear(84, num_classes))


@pytest.mark.parametrize("padding,size,activation,pool", [
    (2, 28, "relu", "max"), (0, 32, "tanh", "avg"), (2, 28, "tanh", "max")])
def test_lenet5_loads_pytorch_weights_and_matches(padding, size, activation, pool):
    torch.manual_seed(0)
    tmodel = torch_lenet5(padding, activation, pool).double()
    model = models.LeNet5(padding=padding, activation=activation, pool=pool).double()
    assert list(model.state_dict()) == list(tmodel.state_dict())
    _load_from_torch(model, tmodel)
    x = np.random.default_rng(0).normal(size=(4, 1, size, size))
    _compare(model, tmodel, x, train=False)


def test_lenet5_float32_weights_from_pytorch():
    torch.manual_seed(1)
    tmodel = torch_lenet5(2, "relu", "max", num_classes=5, in_channels=3)
    model = models.LeNet5(num_classes=5, in_channels=3)
    _load_from_torch(model, tmodel)
    x = np.random.default_rng(0).normal(size=(2, 3, 28, 28)).astype(np.float32)
    out = model(lamina.tensor(x)).detach().numpy()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, tmodel(torch.tensor(x)).detach().numpy(), rtol=1e-4,
                               atol=1e-5)


def test_mlp_state_dict_keys_equal_pytorch_sequential():
    model = models.mlp(10, [8, 6], 3, activation="tanh", dropout=0.1, batch_norm=True)
    tmodel = tnn.Sequential(
        tnn.Linear(10, 8), tnn.BatchNorm1d(8), tnn.Tanh(), tnn.Dropout(0.1),
        tnn.Linear(8, 6), tnn.BatchNorm1d(6), tnn.Tanh(), tnn.Dropout(0.1),
        tnn.Linear(6, 3)).double()
    assert list(model.state_dict()) == list(tmodel.state_dict())
    model.double()
    _load_from_torch(model, tmodel)
    x = np.random.default_rng(0).normal(size=(6, 10))
    _compare(model, tmodel, x, train=False)
    plain = models.mlp(10, [8], 3)
    assert list(plain.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


# --- PyTorch re-implementations of the shortcut layers -------------------------------------

class TorchHighway(tnn.Module):
    def __init__(self, features, activation, gate_bias=-2.0):
        super().__init__()
        self.linear = tnn.Linear(features, features)
        self.gate = tnn.Linear(features, features)
        self.activation = _torch_act(activation)
        with torch.no_grad():
            self.gate.bias.fill_(gate_bias)

    def forward(self, x):
        t = torch.sigmoid(self.gate(x))
        return t * self.activation(self.linear(x)) + (1 - t) * x


class TorchResidualBlock(tnn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(cout)
        self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, bias=False),
                                             tnn.BatchNorm2d(cout))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


class TorchResNet(tnn.Module):
    def __init__(self, cin, num_classes, widths, blocks):
        super().__init__()
        self.conv1 = tnn.Conv2d(cin, widths[0], 3, padding=1, bias=False)
        self.bn1 = tnn.BatchNorm2d(widths[0])
        prev = widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks)):
            stage = [TorchResidualBlock(prev, w, 1 if i == 0 else 2)]
            stage += [TorchResidualBlock(w, w, 1) for _ in range(n - 1)]
            self.add_module(f"layer{i + 1}", tnn.Sequential(*stage))
            prev = w
        self.n = len(widths)
        self.avgpool = tnn.AdaptiveAvgPool2d(1)
        self.fc = tnn.Linear(prev, num_classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        for i in range(1, self.n + 1):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _randomize_bn(tmodel, seed=0):
    """Non-trivial affine parameters and running statistics in every BatchNorm."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in tmodel.modules():
            if isinstance(m, (tnn.BatchNorm1d, tnn.BatchNorm2d)):
                n = m.num_features
                m.weight.copy_(0.5 + torch.rand(n, generator=g, dtype=m.weight.dtype))
                m.bias.copy_(torch.randn(n, generator=g, dtype=m.bias.dtype) * 0.1)
                m.running_mean.copy_(torch.randn(n, generator=g, dtype=m.bias.dtype) * 0.1)
                m.running_var.copy_(0.5 + torch.rand(n, generator=g, dtype=m.bias.dtype))


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_highway_matches_pytorch(activation):
    torch.manual_seed(0)
    tlayer = TorchHighway(7, activation).double()
    layer = nn.Highway(7, activation=activation).double()
    assert list(layer.state_dict()) == list(tlayer.state_dict())
    assert np.all(layer.gate.bias.detach().numpy() == tlayer.gate.bias.detach().numpy())
    _load_from_torch(layer, tlayer)
    x = np.random.default_rng(0).normal(size=(5, 7))
    _compare(layer, tlayer, x, train=True)
    x3 = np.random.default_rng(1).normal(size=(2, 3, 7))   # any leading dims
    _compare(layer, tlayer, x3, train=True)


@pytest.mark.parametrize("cin,cout,stride", [(4, 4, 1), (3, 6, 1), (4, 4, 2), (3, 5, 2)])
@pytest.mark.parametrize("train", [True, False])
def test_residual_block_matches_pytorch(cin, cout, stride, train):
    torch.manual_seed(0)
    tblock = TorchResidualBlock(cin, cout, stride).double()
    _randomize_bn(tblock)
    block = nn.ResidualBlock(cin, cout, stride=stride).double()
    assert list(block.state_dict()) == list(tblock.state_dict())
    _load_from_torch(block, tblock)
    x = np.random.default_rng(0).normal(size=(3, cin, 7, 6))
    _compare(block, tblock, x, train=train)


def test_residual_mlp_block_matches_pytorch():
    torch.manual_seed(0)
    t = tnn.ModuleDict(dict(fc1=tnn.Linear(5, 9), norm=tnn.BatchNorm1d(9),
                            fc2=tnn.Linear(9, 5))).double()
    _randomize_bn(t)

    class TorchBlock(tnn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.norm, self.fc2 = t["fc1"], t["norm"], t["fc2"]

        def forward(self, x):
            return x + self.fc2(torch.tanh(self.norm(self.fc1(x))))

    tblock = TorchBlock()
    block = nn.ResidualMLPBlock(5, 9, activation="tanh", batch_norm=True).double()
    assert list(block.state_dict()) == list(tblock.state_dict())
    _load_from_torch(block, tblock)
    x = np.random.default_rng(0).normal(size=(6, 5))
    for train in (True, False):
        _compare(block, tblock, x, train=train)


@pytest.mark.parametrize("cin,size", [(1, 28), (3, 32)])
def test_resnet_small_matches_pytorch(cin, size):
    torch.manual_seed(0)
    tmodel = TorchResNet(cin, 10, (4, 6, 8), (2, 1, 1)).double()
    _randomize_bn(tmodel)
    model = models.ResNet(cin, 10, widths=(4, 6, 8), blocks=(2, 1, 1)).double()
    assert list(model.state_dict()) == list(tmodel.state_dict())
    _load_from_torch(model, tmodel)
    x = np.random.default_rng(0).normal(size=(2, cin, size, size))
    _compare(model, tmodel, x, train=True)
    _compare(model, tmodel, x, train=False)


def test_highway_mlp_matches_pytorch():
    torch.manual_seed(0)
    tmodel = tnn.Module()
    tmodel.inp = tnn.Sequential(tnn.Linear(6, 5), tnn.Tanh())
    tmodel.layers = tnn.Sequential(*[TorchHighway(5, "tanh") for _ in range(4)])
    tmodel.out = tnn.Linear(5, 3)
    tmodel.forward = lambda x: tmodel.out(tmodel.layers(tmodel.inp(x)))
    tmodel.double()
    model = models.HighwayMLP(6, 3, width=5, depth=4, activation="tanh").double()
    assert list(model.state_dict()) == list(tmodel.state_dict())
    _load_from_torch(model, tmodel)
    x = np.random.default_rng(0).normal(size=(4, 6))
    _compare(model, tmodel, x, train=True)
