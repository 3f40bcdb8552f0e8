"""Module, Parameter and containers: registration, traversal, modes, dtype conversion, repr,
state_dict / load_state_dict (and weights moving between PyTorch and lamina)."""

import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import lamina
import lamina.nn as nn
from tests.helpers import requires_torch, torch


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(3, 2, bias=False)
        self.scale = nn.Parameter(lamina.ones(2))
        self.register_buffer("steps", lamina.zeros(1))
        self.register_buffer("cache", lamina.zeros(2), persistent=False)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))) * self.scale


# --- Parameter -------------------------------------------------------------------------------

def test_parameter_basics():
    t = lamina.tensor([1.0, 2.0])
    p = nn.Parameter(t)
    assert isinstance(p, lamina.Tensor) and p.requires_grad and p.is_leaf
    assert np.shares_memory(p._data, t._data)
    assert repr(p).startswith("Parameter containing:\ntensor([1., 2.]")
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    q = p * 2
    assert type(q) is lamina.Tensor and q.requires_grad
    assert nn.Parameter().shape == (0,)
    pc = copy.deepcopy(p)
    assert isinstance(pc, nn.Parameter) and not np.shares_memory(pc._data, p._data)
    pp = pickle.loads(pickle.dumps(p))
    assert isinstance(pp, nn.Parameter) and np.array_equal(pp._data, p._data)


# --- registration and traversal --------------------------------------------------------------

def test_registration_and_named_members():
    m = Net()
    assert [n for n, _ in m.named_parameters()] == ["scale", "fc1.weight", "fc1.bias",
                                                    "fc2.weight"]
    assert [n for n, _ in m.named_buffers()] == ["steps", "cache"]
    assert [n for n, _ in m.named_children()] == ["fc1", "act", "fc2"]
    assert [n for n, _ in m.named_modules()] == ["", "fc1", "act", "fc2"]
    assert len(list(m.parameters(recurse=False))) == 1
    assert m.fc2.bias is None and "bias" in m.fc2._parameters
    assert m.get_submodule("fc1") is m.fc1
    assert m.get_parameter("fc1.weight") is m.fc1.weight
    # reassigning a registered name
    m.fc1 = nn.Linear(4, 3)
    assert [n for n, _ in m.named_children()] == ["fc1", "act", "fc2"]
    with pytest.raises(TypeError):
        m.scale = lamina.ones(2)          # a plain tensor can't replace a Parameter
    m.scale = None
    assert m.scale is None
    m.steps = lamina.ones(1)             # buffers accept plain tensors
    assert m._buffers["steps"] is m.steps
    del m.act
    assert not hasattr(m, "act")
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = m.nope
    assert "fc1" in dir(m)


def test_shared_parameters_are_deduplicated():
    lin = nn.Linear(3, 3)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(list(seq.modules())) == 3


def test_assignment_before_init_and_bad_names():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(lamina.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()
    m = nn.Module()
    with pytest.raises(KeyError):
        m.register_buffer("a.b", lamina.ones(1))
    with pytest.raises(TypeError):
        m.register_parameter("w", lamina.ones(1))
    with pytest.raises(TypeError):
        m.add_module("x", "not a module")
    with pytest.raises(NotImplementedError):
        m(1)


def test_train_eval_zero_grad_requires_grad_apply():
    m = Net()
    assert all(x.training for x in m.modules())
    assert m.eval() is m
    assert not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    m.fc1.eval()
    assert m.training and not m.fc1.training
    m(lamina.randn(5, 4)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(np.all(p.grad._data == 0) for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "ReLU", "Linear", "Net"]


def test_to_dtype_keeps_parameter_identity():
    m = Net()
    w = m.fc1.weight
    m.double()
    assert m.fc1.weight is w and w.dtype == lamina.float64
    assert m.steps.dtype == lamina.float64
    assert m(lamina.randn(2, 4, dtype=lamina.float64)).dtype == lamina.float64
    m.to(lamina.float32)
    assert w.dtype == lamina.float32
    bn = nn.BatchNorm1d(3).to(dtype=lamina.float64)
    assert bn.running_mean.dtype == lamina.float64
    assert bn.num_batches_tracked.dtype == lamina.int64
    m.to("cpu")
    with pytest.raises(TypeError):
        m.to(lamina.int64)


def test_forward_hooks():
    m = nn.Linear(2, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: calls.append("pre"))
    h2 = m.register_forward_hook(lambda mod, args, out: out * 0)
    out = m(lamina.ones(1, 2))
    assert calls == ["pre"] and np.all(out._data == 0)
    h1.remove()
    h2.remove()
    x = lamina.ones(1, 2)
    np.testing.assert_allclose(m(x)._data, x._data @ m.weight._data.T + m.bias._data, rtol=1e-6)
    assert not m._forward_hooks and not m._forward_pre_hooks


def test_deepcopy_module():
    m = Net()
    c = copy.deepcopy(m)
    assert c.fc1.weight is not m.fc1.weight
    np.testing.assert_array_equal(c.fc1.weight._data, m.fc1.weight._data)
    c.fc1.weight._data[...] = 0
    assert np.any(m.fc1.weight._data != 0)
    p = pickle.loads(pickle.dumps(m))
    assert isinstance(p.fc1.weight, nn.Parameter)
    x = lamina.randn(2, 4)
    np.testing.assert_array_equal(p(x)._data, m(x)._data)


# --- repr ------------------------------------------------------------------------------------

@requires_torch
def test_repr_matches_torch():
    lm = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2),
                       nn.BatchNorm1d(256), nn.Linear(256, 10, bias=False), nn.Flatten(),
                       nn.LeakyReLU(0.1), nn.LayerNorm(10), nn.Tanh(), nn.Sigmoid(),
                       nn.Softmax(dim=1), nn.GELU(), nn.ELU(), nn.Identity())
    tm = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                             torch.nn.Dropout(0.2), torch.nn.BatchNorm1d(256),
                             torch.nn.Linear(256, 10, bias=False), torch.nn.Flatten(),
                             torch.nn.LeakyReLU(0.1), torch.nn.LayerNorm(10),
                             torch.nn.Tanh(), torch.nn.Sigmoid(), torch.nn.Softmax(dim=1),
                             torch.nn.GELU(), torch.nn.ELU(), torch.nn.Identity())
    assert repr(lm) == repr(tm)
    nested = nn.Sequential(nn.Sequential(nn.Linear(2, 2)), nn.ModuleList([nn.ReLU()]))
    tnested = torch.nn.Sequential(torch.nn.Sequential(torch.nn.Linear(2, 2)),
                                  torch.nn.ModuleList([torch.nn.ReLU()]))
    assert repr(nested) == repr(tnested)
    rep = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2)])
    trep = torch.nn.ModuleList([torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), torch.nn.ReLU(),
                                torch.nn.Linear(2, 2)])
    assert repr(rep) == repr(trep)
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())


# --- containers ------------------------------------------------------------------------------

def test_sequential_container_ops():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    s = nn.Sequential(a, b, c)
    assert len(s) == 3 and s[0] is a and s[-1] is c and list(s) == [a, b, c]
    sub = s[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c]
    assert list(sub._modules) == ["1", "2"]
    assert s(lamina.ones(4, 2)).shape == (4, 1)
    s.append(nn.Sigmoid())
    assert len(s) == 4
    del s[1]
    assert list(s._modules) == ["0", "1", "2"] and s[1] is c
    s.insert(1, nn.Tanh())
    assert isinstance(s[1], nn.Tanh)
    with pytest.raises(IndexError):
        s[10]
    od = nn.Sequential(OrderedDict([("enc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(od.state_dict()) == ["enc.weight", "enc.bias"]
    assert od.enc is od[0]
    assert len(s + od) == len(s) + 2


def test_modulelist_and_moduledict():
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(ml) == 3 and len(list(ml.parameters())) == 6
    ml.append(nn.ReLU())
    ml.extend([nn.Tanh()])
    ml += [nn.Sigmoid()]
    assert len(ml) == 6 and isinstance(ml[-1], nn.Sigmoid)
    assert isinstance(ml[1:3], nn.ModuleList) and len(ml[1:3]) == 2
    del ml[0]
    assert list(ml._modules) == [str(i) for i in range(5)]
    ml.insert(0, nn.Identity())
    assert isinstance(ml[0], nn.Identity)
    md = nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.ReLU()})
    assert list(md.keys()) == ["a", "b"] and "a" in md and len(md) == 2
    md["c"] = nn.Tanh()
    assert [k for k, _ in md.items()] == ["a", "b", "c"]
    assert list(md.state_dict()) == ["a.weight", "a.bias"]
    md.pop("a")
    assert list(md) == ["b", "c"]

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])

    assert list(Holder().state_dict()) == ["layers.0.weight", "layers.0.bias",
                                           "layers.1.weight", "layers.1.bias"]


def test_parameterlist_and_parameterdict():
    pl = nn.ParameterList([nn.Parameter(lamina.ones(3)), lamina.zeros(2, 2)])
    assert len(pl) == 2 and isinstance(pl[1], nn.Parameter) and pl[1].requires_grad
    pl.append(lamina.ones(1))
    assert list(pl.state_dict()) == ["0", "1", "2"] and pl[-1].shape == (1,)
    assert "(1): Parameter containing: [lamina.float32 of size 2x2]" in repr(pl)
    pd = nn.ParameterDict({"a": lamina.ones(3)})
    pd["b"] = nn.Parameter(lamina.zeros(1))
    assert list(pd) == ["a", "b"] and "a" in pd and len(pd) == 2

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.pl = nn.ParameterList([lamina.ones(2), lamina.ones(2)])
            self.pd = nn.ParameterDict({"w": lamina.ones(3)})

        def forward(self, x):
            return x * self.pl[0] * self.pl[1]

    h = Holder()
    assert [n for n, _ in h.named_parameters()] == ["pl.0", "pl.1", "pd.w"]
    h(lamina.ones(2)).sum().backward()
    assert h.pl[0].grad is not None
    with pytest.raises(TypeError):
        nn.ParameterList([1.0])


def test_flatten_unflatten_identity():
    x = lamina.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Unflatten(1, (3, 20))(nn.Flatten()(x)).shape == (2, 3, 20)
    assert nn.Identity(54, foo=1)(x) is x


# --- state_dict ------------------------------------------------------------------------------

def test_state_dict_contents():
    m = Net()
    sd = m.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == ["scale", "steps", "fc1.weight", "fc1.bias", "fc2.weight"]
    assert not sd["fc1.weight"].requires_grad
    assert np.shares_memory(sd["fc1.weight"]._data, m.fc1.weight._data)
    assert m.state_dict(keep_vars=True)["fc1.weight"] is m.fc1.weight
    assert list(m.state_dict(prefix="model."))[0] == "model.scale"


def test_load_state_dict_roundtrip_in_place():
    a, b = Net(), Net()
    w = b.fc1.weight
    res = b.load_state_dict({k: v._data.copy() for k, v in a.state_dict().items()})
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert repr(res) == "<All keys matched successfully>"
    assert b.fc1.weight is w
    np.testing.assert_array_equal(b.fc1.weight._data, a.fc1.weight._data)
    x = lamina.randn(3, 4)
    np.testing.assert_array_equal(a(x)._data, b(x)._data)


def test_load_state_dict_strict_errors():
    m = Net()
    sd = m.state_dict()
    bad = dict(sd)
    del bad["fc1.bias"]
    bad["fc3.weight"] = np.zeros((2, 2))
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict(bad)
    msg = str(e.value)
    assert "Error(s) in loading state_dict for Net" in msg
    assert 'Missing key(s) in state_dict: "fc1.bias"' in msg
    assert 'Unexpected key(s) in state_dict: "fc3.weight"' in msg
    res = m.load_state_dict(bad, strict=False)
    assert res.missing_keys == ["fc1.bias"] and res.unexpected_keys == ["fc3.weight"]
    shape_bad = dict(sd)
    shape_bad["fc1.weight"] = np.zeros((4, 4))
    for strict in (True, False):
        with pytest.raises(RuntimeError, match=r"size mismatch for fc1.weight: copying a param "
                           r"with shape \(4, 4\) from checkpoint, the shape in current model "
                           r"is \(3, 4\)"):
            m.load_state_dict(shape_bad, strict=strict)
    with pytest.raises(TypeError):
        m.load_state_dict([1, 2])


def _mlp_pair():
    lm = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                       nn.Linear(128, 10))
    tm = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                             torch.nn.Linear(256, 128), torch.nn.ReLU(),
                             torch.nn.Linear(128, 10))
    return lm, tm


@requires_torch
def test_state_dict_keys_and_shapes_match_torch_and_weights_port():
    lm, tm = _mlp_pair()
    lsd, tsd = lm.state_dict(), tm.state_dict()
    assert list(lsd) == list(tsd)
    assert [tuple(v.shape) for v in lsd.values()] == [tuple(v.shape) for v in tsd.values()]
    # PyTorch -> lamina (numpy arrays), same outputs
    lm.load_state_dict({k: v.numpy() for k, v in tsd.items()})
    x = np.random.default_rng(0).normal(size=(16, 784)).astype(np.float32)
    np.testing.assert_allclose(lm(lamina.tensor(x))._data, tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)
    # lamina -> PyTorch
    lm2, tm2 = _mlp_pair()
    tm2.load_state_dict({k: torch.tensor(v.numpy()) for k, v in lm2.state_dict().items()})
    np.testing.assert_allclose(lm2(lamina.tensor(x))._data,
                               tm2(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


@requires_torch
def test_batchnorm_state_dict_ports_with_running_stats():
    tm = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.BatchNorm1d(4))
    lm = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4))
    for _ in range(3):
        tm(torch.randn(8, 5))
    tsd = tm.state_dict()
    assert list(lm.state_dict()) == list(tsd)
    lm.load_state_dict({k: v.numpy() for k, v in tsd.items()})
    assert int(lm[1].num_batches_tracked.item()) == 3
    tm.eval()
    lm.eval()
    x = np.random.default_rng(1).normal(size=(6, 5)).astype(np.float32)
    np.testing.assert_allclose(lm(lamina.tensor(x))._data, tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)
