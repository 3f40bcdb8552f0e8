"""Layers against their PyTorch twins: same weights (copied through state_dict as NumPy
arrays), same inputs, compare outputs, input gradients and parameter gradients, in train and
eval modes; BatchNorm running statistics over several steps; Dropout; default inits."""

import math

import numpy as np
import pytest

import lamina
import lamina.nn as nn
from tests.helpers import requires_torch, torch


def _sync(lm, tm):
    """Copy PyTorch's weights into the lamina module (and check the keys agree)."""
    tsd = tm.state_dict()
    assert list(lm.state_dict()) == list(tsd)
    lm.load_state_dict({k: v.numpy() for k, v in tsd.items()})


def _run_both(lm, tm, x, rtol, atol, seed_grad=True):
    tx = torch.tensor(x, requires_grad=True)
    lx = lamina.tensor(x, requires_grad=True)
    ty, ly = tm(tx), lm(lx)
    np.testing.assert_allclose(ly._data, ty.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(7).normal(size=ty.shape).astype(x.dtype)
    ty.backward(torch.tensor(g))
    ly.backward(lamina.tensor(g))
    np.testing.assert_allclose(lx.grad._data, tx.grad.numpy(), rtol=rtol, atol=atol)
    tparams = dict(tm.named_parameters())
    for name, p in lm.named_parameters():
        np.testing.assert_allclose(p.grad._data, tparams[name].grad.numpy(), rtol=rtol,
                                   atol=atol, err_msg=name)


TOLS = {np.float64: (1e-7, 1e-10), np.float32: (1e-4, 1e-5)}


@requires_torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mlp_matches_torch(dtype):
    tm = torch.nn.Sequential(torch.nn.Linear(12, 8), torch.nn.ReLU(), torch.nn.Linear(8, 5),
                             torch.nn.Tanh(), torch.nn.Linear(5, 3, bias=False))
    lm = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 5), nn.Tanh(),
                       nn.Linear(5, 3, bias=False))
    if dtype == np.float64:
        tm.double()
        lm.double()
    _sync(lm, tm)
    x = np.random.default_rng(0).normal(size=(6, 12)).astype(dtype)
    _run_both(lm, tm, x, *TOLS[dtype])


@requires_torch
@pytest.mark.parametrize("pair", [
    ("ReLU", {}), ("LeakyReLU", {"negative_slope": 0.2}), ("ELU", {"alpha": 0.5}),
    ("GELU", {}), ("GELU", {"approximate": "tanh"}), ("SiLU", {}),
    ("Softplus", {"beta": 2.0}), ("Sigmoid", {}), ("Tanh", {}), ("Softmax", {"dim": 1}),
    ("LogSoftmax", {"dim": -1}), ("Identity", {}), ("Flatten", {}),
    ("Hardtanh", {"min_val": -0.5, "max_val": 2.0}), ("ReLU6", {}), ("Hardsigmoid", {}),
    ("Hardswish", {}), ("LogSigmoid", {}), ("Softsign", {}), ("SELU", {}),
    ("CELU", {"alpha": 0.5}), ("Mish", {}), ("Tanhshrink", {}),
    ("Threshold", {"threshold": 0.2, "value": -1.0}), ("PReLU", {}),
    ("PReLU", {"num_parameters": 4, "init": 0.1}), ("Softmin", {"dim": 1}),
], ids=lambda p: p[0] + str(p[1]))
def test_activation_modules_match_torch(pair):
    name, kw = pair
    lm, tm = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    assert repr(lm) == repr(tm)
    lm.double()
    tm.double()
    _sync(lm, tm)
    x = np.random.default_rng(1).normal(0, 2, size=(3, 4, 2))
    _run_both(lm, tm, x, *TOLS[np.float64])


@requires_torch
@pytest.mark.parametrize("shape", [(8, 4), (5, 4, 6)])
@pytest.mark.parametrize("kw", [
    {}, {"momentum": None}, {"momentum": 0.5, "eps": 1e-3}, {"affine": False},
    {"track_running_stats": False}, {"bias": False},
], ids=str)
def test_batchnorm1d_matches_torch_over_steps(shape, kw):
    tm = torch.nn.BatchNorm1d(4, **kw).double()
    lm = nn.BatchNorm1d(4, **kw).double()
    if lm.affine:
        with torch.no_grad():
            tm.weight.uniform_(0.5, 1.5)
            if tm.bias is not None:
                tm.bias.uniform_(-0.5, 0.5)
    _sync(lm, tm)
    rng = np.random.default_rng(2)
    for step in range(4):
        x = rng.normal(1.0, 2.0, size=shape)
        tm.zero_grad()
        lm.zero_grad()
        _run_both(lm, tm, x, *TOLS[np.float64])
        for name, buf in tm.named_buffers():
            np.testing.assert_allclose(lm.state_dict()[name].data, buf.numpy(), rtol=1e-10,
                                       err_msg=f"{name} after step {step}")
    tm.eval()
    lm.eval()
    tm.zero_grad()
    lm.zero_grad()
    _run_both(lm, tm, rng.normal(size=shape), *TOLS[np.float64])


def test_batchnorm_input_checks_and_2d():
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        nn.BatchNorm1d(3)(lamina.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(lamina.randn(1, 3))
    bn = nn.BatchNorm2d(3)
    y = bn(lamina.randn(4, 3, 5, 5, dtype=lamina.float32))
    np.testing.assert_allclose(y._data.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    assert int(bn.num_batches_tracked.item()) == 1


@requires_torch
def test_batchnorm2d_matches_torch():
    tm, lm = torch.nn.BatchNorm2d(3).double(), nn.BatchNorm2d(3).double()
    _sync(lm, tm)
    x = np.random.default_rng(3).normal(size=(2, 3, 4, 4))
    _run_both(lm, tm, x, *TOLS[np.float64])
    np.testing.assert_allclose(lm.running_var._data, tm.running_var.numpy(), rtol=1e-10)


@requires_torch
@pytest.mark.parametrize("kw", [{}, {"elementwise_affine": False}, {"bias": False},
                                {"eps": 1e-3}], ids=str)
def test_layernorm_matches_torch(kw):
    tm, lm = torch.nn.LayerNorm((3, 4), **kw).double(), nn.LayerNorm((3, 4), **kw).double()
    assert repr(lm) == repr(tm)
    if tm.weight is not None:
        with torch.no_grad():
            tm.weight.uniform_(0.5, 1.5)
    _sync(lm, tm)
    x = np.random.default_rng(4).normal(size=(2, 5, 3, 4))
    _run_both(lm, tm, x, *TOLS[np.float64])


@requires_torch
@pytest.mark.parametrize("kw", [{}, {"affine": False}, {"bias": False}, {"eps": 1e-3}],
                         ids=str)
@pytest.mark.parametrize("shape", [(3, 6), (2, 6, 5), (2, 6, 3, 2)])
def test_groupnorm_matches_torch(kw, shape):
    tm, lm = torch.nn.GroupNorm(3, 6, **kw).double(), nn.GroupNorm(3, 6, **kw).double()
    assert repr(lm) == repr(tm)
    if tm.weight is not None:
        with torch.no_grad():
            tm.weight.uniform_(0.5, 1.5)
    _sync(lm, tm)
    x = np.random.default_rng(5).normal(size=shape)
    _run_both(lm, tm, x, *TOLS[np.float64])
    with pytest.raises(ValueError):
        nn.GroupNorm(4, 6)


def test_dropout_module_train_eval():
    lamina.manual_seed(0)
    d = nn.Dropout(0.25)
    x = lamina.ones(100, 100)
    y = d(x)
    assert abs((y._data == 0).mean() - 0.25) < 0.02
    np.testing.assert_allclose(y._data.mean(), 1.0, atol=0.03)
    np.testing.assert_allclose(np.unique(y._data), [0.0, 1 / 0.75], rtol=1e-6)
    d.eval()
    assert d(x) is x
    assert repr(d) == "Dropout(p=0.25, inplace=False)"


# --- default initialization ------------------------------------------------------------------

def test_linear_default_init_distribution():
    lamina.manual_seed(0)
    fc = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = fc.weight._data, fc.bias._data
    assert w.shape == (300, 400) and b.shape == (300,) and w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.99 * bound
    np.testing.assert_allclose(w.var(), bound ** 2 / 3, rtol=0.02)  # U(-b, b) has var b^2/3
    assert abs(w.mean()) < 0.01 * bound * 10
    lamina.manual_seed(0)
    np.testing.assert_array_equal(nn.Linear(400, 300).weight._data, w)   # seeded
    assert nn.Linear(3, 2, dtype=lamina.float64).weight.dtype == lamina.float64


@requires_torch
def test_calculate_gain_matches_torch():
    for nl in ["linear", "conv1d", "conv2d", "conv_transpose2d", "sigmoid", "tanh", "relu",
               "selu"]:
        assert nn.init.calculate_gain(nl) == pytest.approx(torch.nn.init.calculate_gain(nl))
    for p in [None, 0.2, 0, 1, math.sqrt(5)]:
        assert nn.init.calculate_gain("leaky_relu", p) == pytest.approx(
            torch.nn.init.calculate_gain("leaky_relu", p))
    with pytest.raises(ValueError):
        nn.init.calculate_gain("leaky_relu", True)
    with pytest.raises(ValueError):
        nn.init.calculate_gain("swish")


@requires_torch
def test_fan_in_fan_out_matches_torch():
    for shape in [(5, 3), (8, 4, 3, 3), (2, 6, 5)]:
        assert nn.init._calculate_fan_in_and_fan_out(lamina.empty(*shape)) == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init._calculate_fan_in_and_fan_out(lamina.empty(3))


INITS = [
    ("uniform_", {"a": -2.0, "b": 3.0}, lambda s: (0.5, 25 / 12)),
    ("normal_", {"mean": 1.0, "std": 0.5}, lambda s: (1.0, 0.25)),
    ("xavier_uniform_", {"gain": 2.0}, lambda s: (0, 4 * 2 / (s[0] + s[1]))),
    ("xavier_normal_", {}, lambda s: (0, 2 / (s[0] + s[1]))),
    ("kaiming_uniform_", {"nonlinearity": "relu"}, lambda s: (0, 2 / s[1])),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}, lambda s: (0, 2 / s[0])),
    ("kaiming_normal_", {"a": 0.3}, lambda s: (0, 2 / (1 + 0.09) / s[1])),
    ("trunc_normal_", {"std": 1.0}, lambda s: (0, 0.7737)),
]


@pytest.mark.parametrize("name,kw,moments", INITS, ids=[f"{a}{b}" for a, b, _ in INITS])
def test_init_moments(name, kw, moments):
    lamina.manual_seed(1)
    shape = (300, 500)
    t = nn.Parameter(lamina.empty(*shape))
    with lamina.no_grad():
        out = getattr(nn.init, name)(t, **kw)
    assert out is t and t.dtype == lamina.float32
    mean, var = moments(shape)
    np.testing.assert_allclose(t.data.mean(), mean, atol=0.01 * max(1, math.sqrt(var) * 10))
    np.testing.assert_allclose(t.data.var(), var, rtol=0.03)


def test_init_bounds_aliases_and_constant():
    t = lamina.empty(64, 32)
    nn.init.kaiming_uniform_(t, a=math.sqrt(5))
    assert np.abs(t._data).max() <= 1 / math.sqrt(32) + 1e-7
    nn.init.xavier_uniform_(t)
    assert np.abs(t._data).max() <= math.sqrt(6 / 96) + 1e-7
    nn.init.trunc_normal_(t, std=3.0, a=-1.0, b=1.0)
    assert np.abs(t._data).max() <= 1.0
    assert nn.init.glorot_uniform_ is nn.init.xavier_uniform_
    assert nn.init.he_normal_ is nn.init.kaiming_normal_
    nn.init.constant_(t, 0.3)
    assert np.all(t._data == np.float32(0.3))
    nn.init.zeros_(t)
    assert not t.data.any()
    nn.init.ones_(t)
    assert np.all(t._data == 1)
    nn.init.eye_(t)
    np.testing.assert_array_equal(t.data, np.eye(64, 32))
    with pytest.raises(ValueError):
        nn.init.kaiming_uniform_(t, mode="fan_avg")


def test_orthogonal_init():
    for shape in [(6, 4), (4, 6), (3, 2, 2)]:
        t = lamina.empty(*shape, dtype=lamina.float64)
        nn.init.orthogonal_(t, gain=2.0)
        m = t.data.reshape(shape[0], -1)
        g = m @ m.T if shape[0] <= m.shape[1] else m.T @ m
        np.testing.assert_allclose(g, 4 * np.eye(g.shape[0]), atol=1e-10)


def test_init_uses_generator_and_bumps_version():
    g1, g2 = lamina.Generator(5), lamina.Generator(5)
    a, b = lamina.empty(3, 3), lamina.empty(3, 3)
    nn.init.normal_(a, generator=g1)
    nn.init.normal_(b, generator=g2)
    np.testing.assert_array_equal(a._data, b._data)
    p = nn.Parameter(lamina.ones(2))
    y = (p * p).sum()
    with lamina.no_grad():
        nn.init.zeros_(p)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


@requires_torch
def test_training_steps_track_torch():
    """Several manual-SGD steps of Linear-BatchNorm-ReLU-Linear with cross-entropy (float64)
    follow PyTorch step for step: losses, weights and running statistics."""
    tm = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                             torch.nn.Linear(8, 3)).double()
    lm = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).double()
    _sync(lm, tm)
    rng = np.random.default_rng(8)
    tcrit, lcrit = torch.nn.CrossEntropyLoss(label_smoothing=0.1), \
        nn.CrossEntropyLoss(label_smoothing=0.1)
    for _ in range(5):
        x, y = rng.normal(size=(16, 6)), rng.integers(0, 3, size=16)
        tl = tcrit(tm(torch.tensor(x)), torch.tensor(y))
        ll = lcrit(lm(lamina.tensor(x)), lamina.tensor(y))
        np.testing.assert_allclose(ll.item(), tl.item(), rtol=1e-10)
        tm.zero_grad()
        lm.zero_grad()
        tl.backward()
        ll.backward()
        with torch.no_grad():
            for p in tm.parameters():
                p -= 0.5 * p.grad
        with lamina.no_grad():
            for p in lm.parameters():
                p -= 0.5 * p.grad
    for k, v in tm.state_dict().items():
        np.testing.assert_allclose(lm.state_dict()[k].data, v.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=k)
