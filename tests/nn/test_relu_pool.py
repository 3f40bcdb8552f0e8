"""``nn.Sequential`` runs ``ReLU`` then a max pool as the pool then the ReLU (on the smaller
array): the same values and gradients as the written order, and as PyTorch; it steps aside
for ``return_indices``, hooks and replaced ``forward`` methods."""

import numpy as np
import pytest

import lamina
from lamina import dispatch, nn
from lamina.nn.modules import container
from tests.helpers import requires_torch, torch

POOLS = [
    (nn.MaxPool2d, dict(kernel_size=2), (3, 4, 8, 8)),
    (nn.MaxPool2d, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), (2, 3, 7, 6)),
    (nn.MaxPool2d, dict(kernel_size=2, stride=1, dilation=2), (2, 2, 7, 7)),
    (nn.MaxPool2d, dict(kernel_size=2, ceil_mode=True), (2, 3, 5, 7)),
    (nn.MaxPool1d, dict(kernel_size=3, stride=2, padding=1), (2, 3, 11)),
]


def _input(shape, seed=0):
    """Small integers (ties), windows of only negative values, zeros and a NaN."""
    x = np.random.default_rng(seed).integers(-3, 3, size=shape).astype(np.float64)
    x[0, 0, ..., :2] = -1.0                     # whole windows with no positive value
    x.reshape(-1)[5] = np.nan
    return x


def _run(layers, x, swap, monkeypatch):
    monkeypatch.setattr(container, "_pool_first",
                        _real if swap else (lambda relu, pool: False))
    m = nn.Sequential(*layers)
    xt = lamina.tensor(x, requires_grad=True)
    y = m(xt)
    g = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(lamina.tensor(g))
    return y, xt.grad.data


_real = container._pool_first


@pytest.mark.parametrize("numba", [True, False])
@pytest.mark.parametrize("cls,kw,shape", POOLS)
def test_pool_first_gives_the_same_values_and_gradients(monkeypatch, numba, cls, kw, shape):
    x = _input(shape)
    layers = [nn.ReLU(), cls(**kw)]
    with dispatch.fast_paths(numba):
        ys, gs = _run(layers, x, True, monkeypatch)
        yw, gw = _run(layers, x, False, monkeypatch)
    assert type(ys._ctx).__name__ == "Relu"     # the swap did happen
    assert type(yw._ctx).__name__ != "Relu"
    np.testing.assert_array_equal(ys.data, yw.data)
    np.testing.assert_array_equal(gs, gw)


@pytest.mark.parametrize("how", ["indices", "relu_hook", "pool_pre_hook", "instance_forward",
                                 "subclass"])
def test_the_written_order_runs_when_something_would_be_skipped(how):
    seen = []
    relu, pool = nn.ReLU(), nn.MaxPool2d(2)
    if how == "indices":
        pool = nn.MaxPool2d(2, return_indices=True)
    elif how == "relu_hook":
        relu.register_forward_hook(lambda mod, args, out: seen.append(out))
    elif how == "pool_pre_hook":
        pool.register_forward_pre_hook(lambda mod, args: seen.append(args))
    elif how == "instance_forward":
        orig = relu.forward
        relu.forward = lambda input: (seen.append(1), orig(input))[1]
    else:
        class Pool(nn.MaxPool2d):
            pass

        pool = Pool(2)
    out = nn.Sequential(relu, pool)(lamina.randn(1, 2, 4, 4))
    y = out[0] if how == "indices" else out
    assert type(y._ctx).__name__ != "Relu"
    if how in ("relu_hook", "pool_pre_hook", "instance_forward"):
        assert seen


@requires_torch
@pytest.mark.parametrize("cls,kw,shape", POOLS[:2])
def test_matches_torch(monkeypatch, cls, kw, shape):
    x = _input(shape)
    x[np.isnan(x)] = 0.5
    y, g = _run([nn.ReLU(), cls(**kw)], x, True, monkeypatch)
    tcls = getattr(torch.nn, cls.__name__)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.Sequential(torch.nn.ReLU(), tcls(**kw))(xt)
    yt.backward(torch.tensor(np.random.default_rng(1).standard_normal(tuple(yt.shape))))
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-12)
