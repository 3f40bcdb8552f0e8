"""``nn.ReLUMaxPool1d/2d``, what ``nn.utils.fuse`` makes of ``nn.ReLU`` then a max pool: the pool
runs first and the ReLU on the smaller array, with the same values and gradients as the
written order (bit for bit, NaN and ties included) and as PyTorch."""

import numpy as np
import pytest

import lamina
from lamina import dispatch, nn
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


def _run(model, x):
    xt = lamina.tensor(x, requires_grad=True)
    y = model(xt)
    g = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(lamina.tensor(g))
    return y, xt.grad.data


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("cls,kw,shape", POOLS)
def test_pool_first_gives_the_same_values_and_gradients(compiled, cls, kw, shape):
    x = _input(shape)
    written = nn.Sequential(nn.ReLU(), cls(**kw))
    fused = nn.utils.fuse(written)
    assert type(fused[0]).__name__ == "ReLUMaxPool" + cls.__name__[-2:]
    assert type(fused[1]) is nn.Identity
    with dispatch.fast_paths(compiled):
        ys, gs = _run(fused, x)
        yw, gw = _run(written, x)
    assert type(ys._ctx).__name__ == "Relu"     # the ReLU ran last
    assert type(yw._ctx).__name__ != "Relu"
    np.testing.assert_array_equal(ys.data, yw.data)
    np.testing.assert_array_equal(gs, gw)


def test_the_fused_module_takes_max_pool_arguments_and_no_indices():
    m = nn.ReLUMaxPool2d(3, stride=2, padding=1, ceil_mode=True)
    assert repr(m) == repr(nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)).replace(
        "MaxPool2d", "ReLUMaxPool2d")
    with pytest.raises(ValueError, match="return_indices"):
        nn.ReLUMaxPool2d(2, return_indices=True)
    with pytest.raises(TypeError, match="without return_indices"):
        nn.ReLUMaxPool2d.from_max_pool(nn.MaxPool2d(2, return_indices=True))


@requires_torch
@pytest.mark.parametrize("cls,kw,shape", POOLS[:2] + POOLS[4:])
def test_matches_torch(cls, kw, shape):
    x = _input(shape)
    x[np.isnan(x)] = 0.5
    y, g = _run(nn.utils.fuse(nn.Sequential(nn.ReLU(), cls(**kw))), x)
    tcls = getattr(torch.nn, cls.__name__)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.Sequential(torch.nn.ReLU(), tcls(**kw))(xt)
    yt.backward(torch.tensor(np.random.default_rng(1).standard_normal(tuple(yt.shape))))
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-12)
