"""nn.utils.prune against torch.nn.utils.prune on the same weights: masks, pruned values,
state_dict keys, repeated pruning (PruningContainer), remove, and gradients through the mask.

Weights are drawn from a continuous distribution, so all |w| and all channel norms are
distinct: torch.topk's choice among ties is undocumented, and lamina's stable sort would be
free to differ there."""

import math

import numpy as np
import pytest

import lamina
import lamina.nn as nn
from lamina.nn.utils import prune
from tests.helpers import requires_torch, torch

if torch is not None:
    import torch.nn.utils.prune as tprune


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 5, 3)
        self.fc = nn.Linear(20, 6)

    def forward(self, x):
        return self.fc(self.conv(x).relu().reshape(x.shape[0], -1))


def _tnet():
    class TNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(2, 5, 3)
            self.fc = torch.nn.Linear(20, 6)

        def forward(self, x):
            return self.fc(self.conv(x).relu().reshape(x.shape[0], -1))
    return TNet()


def _pair(seed=0):
    lm, tm = Net().double(), _tnet().double()
    rng = np.random.default_rng(seed)
    sd = {k: rng.normal(size=tuple(v.shape)) for k, v in tm.state_dict().items()}
    tm.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
    lm.load_state_dict(sd)
    return lm, tm


def _same_masks(lm, tm):
    lsd, tsd = lm.state_dict(), tm.state_dict()
    assert list(lsd) == list(tsd)
    for k in tsd:
        np.testing.assert_array_equal(lsd[k]._data, tsd[k].numpy(), err_msg=k)
    for name in ("conv", "fc"):
        lmod, tmod = getattr(lm, name), getattr(tm, name)
        np.testing.assert_array_equal(lmod.weight._data, tmod.weight.detach().numpy())


def _forward_equal(lm, tm):
    x = np.random.default_rng(1).normal(size=(3, 2, 4, 4))
    np.testing.assert_allclose(lm(lamina.tensor(x))._data, tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-12, atol=1e-12)


DETERMINISTIC = [
    ("l1_unstructured", dict(amount=0.3)),
    ("l1_unstructured", dict(amount=7)),
    ("l1_unstructured", dict(amount=0.0)),
    ("l1_unstructured", dict(amount=1.0)),
    ("ln_structured", dict(amount=0.4, n=1, dim=0)),
    ("ln_structured", dict(amount=2, n=2, dim=0)),
    ("ln_structured", dict(amount=0.5, n=math.inf, dim=1)),
    ("ln_structured", dict(amount=1, n=2, dim=-1)),
    ("ln_structured", dict(amount=0.5, n=-math.inf, dim=0)),
    ("ln_structured", dict(amount=0.5, n=3, dim=0)),
    ("identity", dict()),
]


@requires_torch
@pytest.mark.parametrize("fn,kw", DETERMINISTIC)
def test_masks_match_torch(fn, kw):
    lm, tm = _pair()
    for name in ("conv", "fc"):
        getattr(prune, fn)(getattr(lm, name), "weight", **kw)
        getattr(tprune, fn)(getattr(tm, name), "weight", **kw)
    _same_masks(lm, tm)
    _forward_equal(lm, tm)
    assert prune.is_pruned(lm) and not prune.is_pruned(Net())


@requires_torch
@pytest.mark.parametrize("steps", [
    [("l1_unstructured", dict(amount=0.3)), ("l1_unstructured", dict(amount=0.5))],
    [("l1_unstructured", dict(amount=3)), ("ln_structured", dict(amount=1, n=2, dim=0)),
     ("l1_unstructured", dict(amount=0.25))],
    [("ln_structured", dict(amount=0.4, n=1, dim=0)),
     ("ln_structured", dict(amount=0.5, n=1, dim=0)),
     ("ln_structured", dict(amount=1, n=math.inf, dim=1))],
    [("identity", dict()), ("l1_unstructured", dict(amount=0.2))],
])
def test_repeated_pruning_matches_torch(steps):
    """Later amounts apply to what is still unpruned; masks multiply."""
    lm, tm = _pair(seed=3)
    for fn, kw in steps:
        for name in ("conv", "fc"):
            getattr(prune, fn)(getattr(lm, name), "weight", **kw)
            getattr(tprune, fn)(getattr(tm, name), "weight", **kw)
        _same_masks(lm, tm)
    hook = next(iter(lm.fc._forward_pre_hooks.values()))
    assert isinstance(hook, prune.PruningContainer) and len(hook) == len(steps)
    _forward_equal(lm, tm)


@requires_torch
def test_custom_from_mask_and_importance_scores_match_torch():
    lm, tm = _pair(seed=5)
    mask = (np.random.default_rng(2).uniform(size=(6, 20)) > 0.4).astype(np.float64)
    prune.custom_from_mask(lm.fc, "weight", mask=lamina.tensor(mask))
    tprune.custom_from_mask(tm.fc, "weight", mask=torch.tensor(mask))
    scores = np.random.default_rng(3).normal(size=(5, 2, 3, 3))
    prune.l1_unstructured(lm.conv, "weight", 0.5, importance_scores=lamina.tensor(scores))
    tprune.l1_unstructured(tm.conv, "weight", 0.5, importance_scores=torch.tensor(scores))
    prune.l1_unstructured(lm.fc, "weight", 0.5)      # after a custom mask
    tprune.l1_unstructured(tm.fc, "weight", 0.5)
    _same_masks(lm, tm)


@requires_torch
@pytest.mark.parametrize("amount", [0.35, 40])
def test_global_unstructured_matches_torch(amount):
    lm, tm = _pair(seed=7)
    prune.l1_unstructured(lm.fc, "weight", 0.2)     # one already pruned: its zeros not recounted
    tprune.l1_unstructured(tm.fc, "weight", 0.2)
    lp = [(lm.conv, "weight"), (lm.fc, "weight"), (lm.fc, "bias")]
    tp = [(tm.conv, "weight"), (tm.fc, "weight"), (tm.fc, "bias")]
    prune.global_unstructured(lp, pruning_method=prune.L1Unstructured, amount=amount)
    tprune.global_unstructured(tp, pruning_method=tprune.L1Unstructured, amount=amount)
    _same_masks(lm, tm)
    _forward_equal(lm, tm)


@requires_torch
def test_state_dict_moves_between_libraries_and_remove():
    lm, tm = _pair(seed=9)
    tprune.l1_unstructured(tm.fc, "weight", 0.5)
    tprune.ln_structured(tm.conv, "weight", 2, n=2, dim=0)
    prune.identity(lm.fc, "weight")
    prune.identity(lm.conv, "weight")
    lm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    _forward_equal(lm, tm)                       # the hook recomputed weight from the masks
    back = _tnet().double()
    tprune.identity(back.fc, "weight")
    tprune.identity(back.conv, "weight")
    back.load_state_dict({k: torch.tensor(v._data) for k, v in lm.state_dict().items()})
    _forward_equal(lm, back)
    for mod in ("fc", "conv"):
        prune.remove(getattr(lm, mod), "weight")
        tprune.remove(getattr(tm, mod), "weight")
    assert not prune.is_pruned(lm)
    assert isinstance(lm.fc.weight, nn.Parameter)
    _same_masks(lm, tm)
    with pytest.raises(ValueError, match="has to be pruned"):
        prune.remove(lm.fc, "weight")


def test_gradient_flows_to_orig_through_mask_only():
    lamina.manual_seed(0)
    m = nn.Linear(4, 3).double()
    w0 = m.weight._data.copy()
    prune.l1_unstructured(m, "weight", amount=5)
    mask = m.weight_mask._data
    x = lamina.tensor(np.random.default_rng(0).normal(size=(2, 4)))
    m(x).sum().backward()
    g = m.weight_orig.grad._data
    np.testing.assert_array_equal(g[mask == 0], 0.0)
    np.testing.assert_allclose(g, np.broadcast_to(x._data.sum(0), (3, 4)) * mask)
    np.testing.assert_array_equal(m.weight_orig._data, w0)     # orig untouched
    # an optimizer step changes weight_orig; the next forward re-applies the mask
    with lamina.no_grad():
        m.weight_orig._data -= 1.0
    m(x)
    np.testing.assert_array_equal(m.weight._data[mask == 0], 0.0)


@pytest.mark.parametrize("amount", [0.3, 5])
def test_random_unstructured_count_and_seed(amount):
    def masks(seed):
        lamina.manual_seed(seed)
        m = nn.Linear(6, 5)
        prune.random_unstructured(m, "weight", amount=amount)
        prune.random_unstructured(m, "weight", amount=amount)
        return m.weight_mask._data.copy()
    a, b, c = masks(0), masks(0), masks(1)
    k1 = amount if isinstance(amount, int) else round(amount * 30)
    k2 = amount if isinstance(amount, int) else round(amount * (30 - k1))
    assert (a == 0).sum() == k1 + k2
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_random_structured_prunes_whole_channels():
    lamina.manual_seed(0)
    conv = nn.Conv2d(3, 8, 3)
    prune.random_structured(conv, "weight", amount=0.25, dim=0)
    prune.random_structured(conv, "weight", amount=2, dim=0)
    per_channel = conv.weight_mask._data.reshape(8, -1)
    assert set(per_channel.min(1)) <= {0.0, 1.0}
    assert (per_channel.max(1) == per_channel.min(1)).all()       # all-or-nothing per channel
    assert int((per_channel[:, 0] == 0).sum()) == 2 + 2


def test_sparsity_report():
    lamina.manual_seed(0)
    m = nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 5))
    prune.l1_unstructured(m[0], "weight", amount=30)
    prune.l1_unstructured(m[2], "weight", amount=0.5)
    rep = prune.sparsity_report(m)
    assert rep.layers == {"0.weight": (30, 100), "2.weight": (25, 50)}
    assert rep.global_sparsity == pytest.approx(55 / 150)
    assert "| global | 55 | 150 |" in str(rep)
    assert prune.sparsity_report(m, names=("weight", "bias")).total == 150 + 15


def test_bad_input_names_the_function():
    m = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="l1_unstructured: amount=7 should be smaller"):
        prune.l1_unstructured(m, "weight", amount=7)
    assert not prune.is_pruned(m) and isinstance(m.weight, nn.Parameter)   # rolled back
    assert list(m.state_dict()) == ["bias", "weight"]
    with pytest.raises(ValueError, match=r"l1_unstructured: amount=1.5"):
        prune.l1_unstructured(m, "weight", amount=1.5)
    with pytest.raises(TypeError, match="invalid type for amount"):
        prune.l1_unstructured(m, "weight", amount="half")
    with pytest.raises(ValueError, match="structured pruning can only be applied to multi"):
        prune.ln_structured(m, "bias", amount=1, n=2, dim=0)
    with pytest.raises(IndexError, match="ln_structured: invalid dim 2"):
        prune.ln_structured(m, "weight", amount=1, n=2, dim=2)
    with pytest.raises(AttributeError, match="has no parameter 'kernel'"):
        prune.l1_unstructured(m, "kernel", amount=1)
    with pytest.raises(TypeError, match="only \"unstructured\""):
        prune.global_unstructured([(m, "weight")], pruning_method=prune.LnStructured,
                                  amount=1, n=2, dim=0)


def test_import_path_deepcopy_and_dtype_change():
    import copy

    import lamina.nn.utils.prune as prune_by_path
    assert prune_by_path is prune
    lamina.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    prune.l1_unstructured(m[0], "weight", amount=6)
    c = copy.deepcopy(m)
    x = lamina.randn(5, 4)
    np.testing.assert_array_equal(c(x)._data, m(x)._data)
    prune.remove(c[0], "weight")
    assert prune.is_pruned(m) and not prune.is_pruned(c)
    m.double()                                  # orig and mask convert; the hook recomputes
    assert m(x.double()).dtype == np.float64 and m[0].weight.dtype == np.float64
