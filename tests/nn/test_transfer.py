"""Transfer-learning utilities: freezing by name, BatchNorm kept in eval while frozen, head
replacement and per-layer parameter groups."""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina import nn, optim
from lamina.nn.utils import (
    count_parameters,
    freeze,
    layerwise_lr_groups,
    param_groups,
    replace_head,
    replace_module,
    trainable_parameter_names,
    unfreeze,
)


def _net():
    lamina.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 8), nn.ReLU(), nn.Linear(8, 3))


def test_freeze_by_glob_module_name_and_regex():
    m = _net()
    assert freeze(m, "0.*") == ["0.weight", "0.bias"]
    assert freeze(m, ["1"]) == ["1.weight", "1.bias"]          # a module name
    assert trainable_parameter_names(m) == ["4.weight", "4.bias", "6.weight", "6.bias"]
    assert unfreeze(m, r"^\d\.bias$", regex=True) == ["0.bias", "1.bias", "4.bias", "6.bias"]
    freeze(m)
    assert trainable_parameter_names(m) == [] and count_parameters(m, True) == 0
    unfreeze(m, "*.bias")
    assert count_parameters(m, trainable_only=True) == 4 + 4 + 8 + 3
    assert count_parameters(m) == sum(p._data.size for p in m.parameters())


def test_frozen_parameters_get_no_gradient_and_do_not_move():
    m = _net()
    freeze(m, ["0", "1", "4"])
    w0 = m[0].weight._data.copy()
    opt = optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1)
    m(lamina.randn(5, 1, 6, 6)).sum().backward()
    assert m[0].weight.grad is None and m[6].weight.grad is not None
    opt.step()
    np.testing.assert_array_equal(m[0].weight._data, w0)


def test_frozen_batchnorm_stays_in_eval_mode_through_train():
    m = _net()
    bn = m[1]
    freeze(m, ["0", "1"])
    m.train()
    mean0 = bn.running_mean._data.copy()
    m(lamina.randn(6, 1, 6, 6) * 3 + 2)
    np.testing.assert_array_equal(bn.running_mean._data, mean0)   # stats not updated
    assert bn.training is False and m[4].training is True
    unfreeze(m, "1")
    m.train()
    m(lamina.randn(6, 1, 6, 6) * 3 + 2)
    assert bn.training is True and not np.array_equal(bn.running_mean._data, mean0)
    # an affine-free BatchNorm is frozen by its module name
    plain = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3, affine=False))
    freeze(plain, "1")
    plain.train()
    plain(lamina.randn(4, 3))
    assert plain[1].training is False
    freeze(m, "0", bn_eval=False)


def test_freeze_unknown_name_raises():
    with pytest.raises(ValueError, match="freeze: no parameter or module name matches"):
        freeze(_net(), "features.*")
    with pytest.raises(TypeError, match="freeze: patterns must be a str or a list"):
        freeze(_net(), 3)
    with pytest.raises(ValueError, match="unfreeze: invalid regex"):
        unfreeze(_net(), "(", regex=True)
    with pytest.raises(TypeError, match="freeze: module must be an nn.Module"):
        freeze("m")


def test_replace_head_and_module():
    m = _net()
    head = replace_head(m, 5)
    assert m[6] is head and (head.in_features, head.out_features) == (8, 5)
    assert m(lamina.randn(2, 1, 6, 6)).shape == (2, 5)
    from lamina.models import LeNet5
    net = LeNet5()
    last = [n for n, x in net.named_modules() if isinstance(x, nn.Linear)][-1]
    replace_head(net, 4)
    assert net(lamina.randn(2, 1, 28, 28)).shape == (2, 4)
    assert isinstance(net.get_submodule(last), nn.Linear)
    old = replace_module(m, "4", nn.Linear(64, 8))
    assert isinstance(old, nn.Linear) and m[4] is not old
    with pytest.raises(ValueError, match="replace_module: .* has no child '9'"):
        replace_module(m, "9", nn.ReLU())
    with pytest.raises(ValueError, match="replace_head: the model has no nn.Linear"):
        replace_head(nn.Sequential(nn.ReLU()), 3)


def test_param_groups_first_match_default_and_optimizer():
    m = _net()
    groups = param_groups(m, [("0.*", {"lr": 1e-4}), ("*.bias", {"lr": 0.0})],
                          default={"lr": 1e-2})
    assert groups[0]["param_names"] == ["0.weight", "0.bias"]
    assert groups[1]["param_names"] == ["1.bias", "4.bias", "6.bias"]
    assert groups[2]["param_names"] == ["1.weight", "4.weight", "6.weight"]
    opt = optim.SGD(groups, lr=1.0)
    assert [g["lr"] for g in opt.param_groups] == [1e-4, 0.0, 1e-2]
    freeze(m, "0")
    assert [g["param_names"] for g in param_groups(m, [("0.*", {})], None)] == []
    with pytest.raises(TypeError, match="param_groups: rules must be a list"):
        param_groups(m, {"0.*": 1})


def test_layerwise_lr_groups_decay_towards_the_input():
    m = _net()
    groups = layerwise_lr_groups(m, ["0", "4", "6"], base_lr=0.01, decay=2.0)
    assert [g["lr"] for g in groups] == pytest.approx([0.0025, 0.005, 0.01])
    assert "1.weight" not in sum((g["param_names"] for g in groups), [])
    with pytest.raises(ValueError, match="layerwise_lr_groups: base_lr must be a positive number"):
        layerwise_lr_groups(m, ["0"], base_lr=-1)


def test_module_requires_grad_():
    m = _net()
    assert m.requires_grad_(False) is m
    assert not any(p.requires_grad for p in m.parameters())
