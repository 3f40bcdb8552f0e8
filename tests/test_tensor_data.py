"""``Tensor.data`` with PyTorch's meaning: a tensor sharing the storage, outside the graph.

The in-place update idioms of PyTorch code (``p.data.add_``, ``m.bias.data.fill_``,
``f.data.sub_(f.grad.data * lr)``) run unchanged and give PyTorch's numbers."""

import numpy as np
import pytest

import lamina
import lamina.nn as nn
from lamina.errors import LaminaTypeError


def test_data_is_a_detached_tensor_sharing_storage():
    x = lamina.tensor([1.0, 2.0, 3.0], requires_grad=True)
    d = x.data
    assert isinstance(d, lamina.Tensor)
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert np.shares_memory(d.numpy(), x.detach().numpy())
    d.mul_(2.0)
    np.testing.assert_array_equal(x.detach().numpy(), [2.0, 4.0, 6.0])


def test_parameter_data_is_a_plain_tensor():
    p = nn.Parameter(lamina.ones(2))
    assert type(p.data) is lamina.Tensor


def test_changes_through_data_are_not_seen_by_autograd():
    # PyTorch: .data has its own version counter, so this passes silently (and the gradient
    # uses the changed value); detach() would share the counter and raise.
    x = lamina.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    x.data.add_(1.0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 6.0])


def test_detach_shares_the_version_counter_and_catches_the_change():
    x = lamina.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    x.detach().add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_assigning_data_replaces_the_storage():
    p = nn.Parameter(lamina.zeros(3))
    p.data = lamina.arange(4, dtype=lamina.float32)
    assert p.shape == (4,) and p.requires_grad
    np.testing.assert_array_equal(p.detach().numpy(), [0, 1, 2, 3])
    with pytest.raises(LaminaTypeError, match="data: expected a Tensor"):
        p.data = np.zeros(3)


def test_numpy_refuses_a_tensor_that_requires_grad_unless_forced():
    x = lamina.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="numpy"):
        x.numpy()
    assert np.shares_memory(x.numpy(force=True), x.detach().numpy())


def _manual_sgd(lib, steps=5, lr=0.1):
    lib.manual_seed(0)
    w = np.random.default_rng(0).standard_normal((4, 3))
    x = np.random.default_rng(1).standard_normal((8, 4))
    lin = lib.nn.Linear(4, 3).double()
    with lib.no_grad():
        lin.weight.copy_(lib.tensor(w.T.copy()))
    lin.bias.data.fill_(0.01)                                    # the tutorials' init idiom
    xt = lib.tensor(x)
    losses = []
    for _ in range(steps):
        lin.zero_grad()
        loss = (lin(xt) ** 2).mean()
        loss.backward()
        for p in lin.parameters():
            p.data.add_(p.grad, alpha=-lr)                       # word-language-model style
        lin.weight.data.sub_(lin.weight.grad.data * 0.0)         # nn tutorial style
        losses.append(loss.item())
    return losses, lin.weight.detach().numpy().copy()


def test_pytorch_update_idioms_match_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for this test")
    ours, w_ours = _manual_sgd(lamina)
    theirs, w_theirs = _manual_sgd(torch)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    np.testing.assert_allclose(w_ours, w_theirs, rtol=1e-12)
    assert ours[-1] < ours[0]
