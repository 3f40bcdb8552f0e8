"""``nn.utils.fuse``, the explicit fusion pass, and ``nn.Sequential`` as a plain loop: the pass
finds its pairs in every Sequential, leaves ``state_dict`` keys and values as they were,
skips pairs whose modules have hooks, and copies unless ``inplace``; a Sequential never
rearranges its modules by itself."""

import numpy as np
import pytest

import lamina
from lamina import nn


def _net():
    lamina.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
        nn.Flatten(), nn.Linear(16, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


def _names(seq):
    return [type(m).__name__ for m in seq]


def test_sequential_forward_is_a_plain_loop():
    """Each module runs once, in order, with its hooks: no pair is fused or reordered."""
    net = _net()
    calls = []
    for name, m in net.named_modules():
        if name and not isinstance(m, nn.Sequential):
            m.register_forward_hook(lambda mod, args, out, name=name: calls.append(name))
    y = net(lamina.randn(3, 2, 8, 8))
    assert calls == ["0", "1", "2", "3", "4.0", "4.1", "4.2", "5", "6", "7", "8", "9"]
    assert y.shape == (3, 2)


def test_sequential_runs_batch_norm_then_relu_and_relu_then_pool_as_written():
    """Without hooks too: the last op of each pair is the second module's (Sequential used to
    run BatchNorm + ReLU as one BatchNorm op, and ReLU + max pool with the ReLU last)."""
    y = nn.Sequential(nn.BatchNorm2d(3), nn.ReLU())(lamina.randn(2, 3, 4, 4))
    assert type(y._ctx).__name__ == "Relu"
    y = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))(lamina.randn(2, 3, 4, 4, requires_grad=True))
    assert type(y._ctx).__name__ != "Relu"


def test_fuse_replaces_pairs_recursively_and_keeps_state_dict():
    net = _net()
    fused = nn.utils.fuse(net)
    assert _names(fused) == ["Conv2d", "BatchNormReLU2d", "Identity", "MaxPool2d", "Sequential",
                             "Flatten", "Linear", "BatchNormReLU1d", "Identity", "Linear"]
    assert _names(fused[4]) == ["Conv2d", "ReLUMaxPool2d", "Identity"]
    assert _names(net)[1:3] == ["BatchNorm2d", "ReLU"]          # the original is untouched
    a, b = net.state_dict(), fused.state_dict()
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k].data, b[k].data)
        assert a[k] is not b[k]                                  # a deep copy
    x = lamina.randn(3, 2, 8, 8)
    with lamina.dispatch.fast_paths(False):
        np.testing.assert_array_equal(fused(x).data, net(x).data)
        np.testing.assert_array_equal(net.state_dict()["1.running_mean"].data,
                                      fused.state_dict()["1.running_mean"].data)


def test_fuse_inplace_keeps_the_parameters_an_optimizer_holds():
    net = _net()
    params = list(net.parameters())
    assert nn.utils.fuse(net, inplace=True) is net
    assert _names(net)[1:3] == ["BatchNormReLU2d", "Identity"]
    assert all(p is q for p, q in zip(params, net.parameters(), strict=True))
    opt = lamina.optim.SGD(params, lr=0.1)
    net(lamina.randn(3, 2, 8, 8)).sum().backward()
    opt.step()            # the shared BatchNorm weight received its gradient
    assert net[1].weight.grad is not None


@pytest.mark.parametrize("how", ["forward_hook", "pre_hook", "second_hook", "instance_forward",
                                 "subclass", "indices"])
def test_pairs_with_hooks_or_own_code_are_skipped(how):
    seen = []
    bn, relu, pool = nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2)
    if how == "forward_hook":
        bn.register_forward_hook(lambda mod, args, out: seen.append(out))
    elif how == "pre_hook":
        bn.register_forward_pre_hook(lambda mod, args: seen.append(args))
    elif how == "second_hook":
        relu.register_forward_hook(lambda mod, args, out: seen.append(out))
    elif how == "instance_forward":
        orig = bn.forward
        bn.forward = lambda input: (seen.append(1), orig(input))[1]
    elif how == "subclass":
        class Scaled(nn.BatchNorm2d):
            def forward(self, input):
                seen.append(1)
                return super().forward(input) * 2.0

        bn = Scaled(3)
    else:
        pool = nn.MaxPool2d(2, return_indices=True)
    fused = nn.utils.fuse(nn.Sequential(bn, relu, pool))
    if how == "indices":
        assert _names(fused) == ["BatchNormReLU2d", "Identity", "MaxPool2d"]
        return
    if how == "second_hook":
        # the BatchNorm pair is skipped; the hooked ReLU stays, and so does its pool
        assert _names(fused) == ["BatchNorm2d", "ReLU", "MaxPool2d"]
    else:
        # the BatchNorm stays; the (unhooked) ReLU and pool behind it may still fuse
        assert _names(fused)[0] != "BatchNormReLU2d"
    fused(lamina.randn(2, 3, 4, 4))
    assert seen, "the module's own code did not run"


def test_fused_modules_refuse_modules_with_hooks():
    bn = nn.BatchNorm2d(3)
    bn.register_forward_hook(lambda *a: None)
    with pytest.raises(ValueError, match="hooks"):
        nn.BatchNormReLU2d.from_batch_norm(bn)


def test_fuse_a_model_zoo_lenet_gives_the_same_training_step():
    from lamina.models import LeNet5

    lamina.manual_seed(0)
    plain = LeNet5()
    fused = nn.utils.fuse(plain)
    assert isinstance(fused, LeNet5)
    assert _names(fused)[1:3] == ["ReLUMaxPool2d", "Identity"]
    x = lamina.randn(4, 1, 28, 28)
    for m in (plain, fused):
        m(x).square().mean().backward()
    for p, q in zip(plain.parameters(), fused.parameters(), strict=True):
        np.testing.assert_array_equal(p.grad.data, q.grad.data)
