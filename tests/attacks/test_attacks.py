"""FGSM and PGD against hand-computed formulas and against the same attacks written in
PyTorch on a copy of the model (same weights, float64); the model's parameters, their
.grad and its train/eval modes are left as they were; adversarial training with fit."""

import numpy as np
import pytest

import lamina
import lamina.nn as nn
from lamina import attacks
from lamina.data import DataLoader, TensorDataset
from lamina.train import fit
from tests.helpers import requires_torch, torch


def _cnn():
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Dropout(0.5), nn.Linear(3 * 3 * 3, 4))


def _torch_cnn():
    return torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                               torch.nn.Flatten(), torch.nn.Dropout(0.5),
                               torch.nn.Linear(3 * 3 * 3, 4))


def _pair(seed=0):
    lamina.manual_seed(seed)
    lm = _cnn().double()
    tm = _torch_cnn().double()
    tm.load_state_dict({k: torch.tensor(v._data.copy()) for k, v in lm.state_dict().items()})
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(6, 1, 8, 8))
    y = rng.integers(0, 4, size=6)
    return lm, tm.eval(), x, y


def _torch_grad(tm, x, y, targeted=False):
    xt = torch.tensor(x, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(tm(xt), torch.tensor(y), reduction="sum")
    (g,) = torch.autograd.grad(loss, [xt])
    return g.numpy()


def _torch_pgd(tm, x, y, eps, alpha, steps, norm, targeted=False, clamp=(0.0, 1.0)):
    adv = x.copy()
    s = -1.0 if targeted else 1.0
    for _ in range(steps):
        g = _torch_grad(tm, adv, y)
        if norm == "inf":
            adv = adv + s * alpha * np.sign(g)
            delta = np.clip(adv - x, -eps, eps)
        else:
            gn = torch.linalg.vector_norm(torch.tensor(g), dim=(1, 2, 3), keepdim=True)
            adv = adv + s * alpha * (torch.tensor(g) / gn).numpy()
            d = torch.tensor(adv - x)
            dn = torch.linalg.vector_norm(d, dim=(1, 2, 3), keepdim=True)
            delta = (d * torch.clamp(eps / dn, max=1.0)).numpy()
        adv = np.clip(x + delta, *clamp)
    return adv


def test_fgsm_is_the_hand_formula_on_softmax_regression():
    """For logits W x + b, d CE / dx = W^T (softmax(z) - onehot(y)) per example."""
    rng = np.random.default_rng(0)
    m = nn.Linear(5, 3).double()
    x = rng.uniform(0, 1, size=(4, 5))
    y = np.array([0, 2, 1, 2])
    z = x @ m.weight._data.T + m.bias._data
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = (p - np.eye(3)[y]) @ m.weight._data
    for targeted, sign in ((False, 1), (True, -1)):
        adv = attacks.fgsm(m, lamina.tensor(x), lamina.tensor(y), eps=0.2, clamp=(0, 1),
                           targeted=targeted)
        np.testing.assert_allclose(adv._data, np.clip(x + sign * 0.2 * np.sign(g), 0, 1),
                                   rtol=0, atol=1e-15)
    free = attacks.fgsm(m, x, y, eps=0.2)                       # no clamp
    np.testing.assert_allclose(free._data, x + 0.2 * np.sign(g), atol=1e-15)


@requires_torch
@pytest.mark.parametrize("targeted", [False, True])
def test_fgsm_matches_torch(targeted):
    lm, tm, x, y = _pair()
    adv = attacks.fgsm(lm, x, y, eps=0.1, clamp=(0, 1), targeted=targeted)
    g = _torch_grad(tm, x, y)
    s = -1 if targeted else 1
    np.testing.assert_allclose(adv._data, np.clip(x + s * 0.1 * np.sign(g), 0, 1), atol=1e-15)
    assert adv.dtype == np.float64 and not adv.requires_grad


@requires_torch
@pytest.mark.parametrize("norm,eps,alpha", [("inf", 0.1, 0.03), (2, 0.5, 0.2)])
@pytest.mark.parametrize("targeted", [False, True])
def test_pgd_matches_torch(norm, eps, alpha, targeted):
    lm, tm, x, y = _pair(seed=1)
    adv = attacks.pgd(lm, x, y, eps=eps, alpha=alpha, steps=7, norm=norm, targeted=targeted,
                      clamp=(0, 1))
    ref = _torch_pgd(tm, x, y, eps, alpha, 7, norm, targeted)
    np.testing.assert_allclose(adv._data, ref, rtol=1e-10, atol=1e-12)
    d = (adv._data - x).reshape(len(x), -1)
    if norm == "inf":
        assert np.abs(d).max() <= eps + 1e-12
    else:
        assert np.linalg.norm(d, axis=1).max() <= eps + 1e-12
    assert adv._data.min() >= 0 and adv._data.max() <= 1


def test_attacks_leave_parameters_grads_and_modes_alone():
    lm = _cnn().double()
    x = np.random.default_rng(0).uniform(size=(6, 1, 8, 8))
    y = np.arange(6) % 4
    lm.train()
    lm[4].eval()                                 # a submodule in its own mode
    out = lm(lamina.tensor(x)).sum()
    out.backward()
    before = {k: v._data.copy() for k, v in lm.state_dict().items()}
    grads = {k: p.grad._data.copy() for k, p in lm.named_parameters()}
    modes = [m.training for m in lm.modules()]
    attacks.fgsm(lm, x, y, eps=0.1)
    attacks.pgd(lm, x, y, eps=0.1, alpha=0.02, steps=3, random_start=True)
    attacks.pgd(lm, x, y, eps=0.5, alpha=0.1, steps=2, norm=2, random_start=True)
    for k, v in lm.state_dict().items():
        np.testing.assert_array_equal(v._data, before[k])
    for k, p in lm.named_parameters():
        np.testing.assert_array_equal(p.grad._data, grads[k])
    assert [m.training for m in lm.modules()] == modes


def test_attack_runs_the_model_in_eval_mode():
    """Dropout(0.5) in eval mode is the identity: two attacks give the same result."""
    lm = _cnn().double().train()
    x = np.random.default_rng(0).uniform(size=(6, 1, 8, 8))
    y = np.arange(6) % 4
    a = attacks.pgd(lm, x, y, eps=0.1, alpha=0.02, steps=3)
    b = attacks.pgd(lm, x, y, eps=0.1, alpha=0.02, steps=3)
    np.testing.assert_array_equal(a._data, b._data)
    assert lm.training


@pytest.mark.parametrize("norm,eps", [("inf", 0.05), (2, 0.3)])
def test_pgd_random_start_is_seeded_and_in_the_ball(norm, eps):
    lm = _cnn().double()
    x = np.random.default_rng(0).uniform(size=(6, 1, 8, 8))
    y = np.arange(6) % 4
    runs = [attacks.pgd(lm, x, y, eps=eps, alpha=0.0, steps=1, norm=norm, random_start=True,
                        generator=lamina.Generator(s), clamp=(0, 1))._data for s in (3, 3, 4)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    d = (runs[0] - x).reshape(6, -1)
    size = np.abs(d).max(1) if norm == "inf" else np.linalg.norm(d, axis=1)
    assert (size <= eps + 1e-12).all() and (size > 0).all()
    assert runs[0].min() >= 0 and runs[0].max() <= 1
    zero = attacks.pgd(lm, x, y, eps=eps, alpha=0.1, steps=0)          # no steps: x itself
    np.testing.assert_array_equal(zero._data, x)


def test_attack_objects_bind_settings():
    lm = _cnn().double()
    x = np.random.default_rng(0).uniform(size=(6, 1, 8, 8))
    y = np.arange(6) % 4
    np.testing.assert_array_equal(attacks.FGSM(lm, 0.1, clamp=(0, 1))(x, y)._data,
                                  attacks.fgsm(lm, x, y, 0.1, clamp=(0, 1))._data)
    np.testing.assert_array_equal(attacks.PGD(lm, 0.1, 0.02, 3, norm=2)(x, y)._data,
                                  attacks.pgd(lm, x, y, 0.1, 0.02, 3, norm=2)._data)
    assert "eps=0.1" in repr(attacks.PGD(lm, 0.1, 0.02, 3))


def test_adversarial_loader_with_fit():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(40, 1, 8, 8)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype(np.int64)
    lamina.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    loader = DataLoader(TensorDataset(lamina.tensor(x), lamina.tensor(y)), batch_size=10)
    adv = attacks.AdversarialLoader(loader, attacks.FGSM(model, 0.05, clamp=(0, 1)))
    assert len(adv) == 4
    xb, yb = next(iter(adv))
    assert xb.shape == (20, 1, 8, 8) and yb.shape == (20,) and xb.dtype == np.float32
    np.testing.assert_array_equal(yb._data[:10], yb._data[10:])
    rep = attacks.AdversarialLoader(loader, attacks.FGSM(model, 0.05), mix="replace")
    assert next(iter(rep))[0].shape == (10, 1, 8, 8)
    opt = lamina.optim.SGD(model.parameters(), lr=0.1)
    hist = fit(model, nn.CrossEntropyLoss(), opt, adv, epochs=2, verbose=0)
    assert len(hist["loss"]) == 2 and model.training


def test_bad_input_names_the_function():
    lm = _cnn()
    x = np.zeros((2, 1, 8, 8), dtype=np.float32)
    with pytest.raises(ValueError, match="fgsm: eps must be a non-negative number"):
        attacks.fgsm(lm, x, [0, 1], eps=-1)
    with pytest.raises(TypeError, match="fgsm: x must be a lamina Tensor or a NumPy array"):
        attacks.fgsm(lm, [[0.0]], [0], eps=0.1)
    with pytest.raises(ValueError, match="pgd: norm must be 'inf' or 2, got 1"):
        attacks.pgd(lm, x, [0, 1], eps=0.1, alpha=0.1, steps=1, norm=1)
    with pytest.raises(ValueError, match="pgd: y must have one label per example"):
        attacks.pgd(lm, x, [0, 1, 2], eps=0.1, alpha=0.1, steps=1)
    with pytest.raises(ValueError, match=r"clamp=\(1, 0\) has min > max"):
        attacks.fgsm(lm, x, [0, 1], eps=0.1, clamp=(1, 0))
    with pytest.raises(ValueError, match="AdversarialLoader: mix must be"):
        attacks.AdversarialLoader([], attacks.FGSM(lm, 0.1), mix="half")
