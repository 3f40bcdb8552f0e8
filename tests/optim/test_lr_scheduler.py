"""Learning-rate schedulers against PyTorch: ``get_last_lr()`` and every group's ``lr`` after
each of 100 steps, for fixed schedules and for ReduceLROnPlateau on scripted metrics."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest

import lamina
from lamina import optim
from lamina.optim import lr_scheduler as sched
from tests.helpers import requires_torch, torch

STEPS = 100


def _optimizers(lrs=(0.1, 0.05)):
    """A PyTorch and a lamina SGD, one group per learning rate."""
    tgroups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    lgroups = [{"params": [lamina.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    return torch.optim.SGD(tgroups, lr=1.0), optim.SGD(lgroups, lr=1.0)


def _lrs(opt):
    return [g["lr"] for g in opt.param_groups]


def _close(a, b, what):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-12,
                               atol=1e-15, err_msg=what)


# Each builder gets the module (torch.optim.lr_scheduler or lamina's) and an optimizer.
SCHEDULES = {
    "StepLR": lambda m, o: m.StepLR(o, step_size=7, gamma=0.5),
    "StepLR-default-gamma": lambda m, o: m.StepLR(o, 10),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[10, 25, 25, 60], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.95),
    "LambdaLR-time-decay": lambda m, o: m.LambdaLR(o, lambda t: 1 / (1 + 0.1 * t)),
    "LambdaLR-per-group": lambda m, o: m.LambdaLR(
        o, [lambda t: 0.9 ** t, lambda t: 1.0 if t < 50 else 0.1]),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=100),
    "CosineAnnealingLR-past-T_max": lambda m, o: m.CosineAnnealingLR(o, T_max=30,
                                                                     eta_min=0.001),
    "LinearLR-warmup": lambda m, o: m.LinearLR(o, start_factor=0.1, total_iters=10),
    "LinearLR-default": lambda m, o: m.LinearLR(o),
    "LinearLR-decay": lambda m, o: m.LinearLR(o, start_factor=0.5, end_factor=0.1,
                                              total_iters=40),
    "SequentialLR-warmup-cosine": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.01, total_iters=10),
            m.CosineAnnealingLR(o, T_max=90, eta_min=1e-4)], milestones=[10]),
    "SequentialLR-three": lambda m, o: m.SequentialLR(
        o, [m.ExponentialLR(o, gamma=0.9), m.StepLR(o, step_size=5, gamma=0.5),
            m.LambdaLR(o, lambda t: 1 / (1 + t))], milestones=[20, 50]),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lambda t: 0.97 if t % 3 else 1.01),
    "ConstantLR": lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=12),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, total_iters=60, power=2.0),
    "CosineAnnealingWarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(
        o, T_0=10, T_mult=2, eta_min=0.001),
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 0.2], total_steps=100),
    "OneCycleLR-three-phase-linear": lambda m, o: m.OneCycleLR(
        o, max_lr=0.3, epochs=10, steps_per_epoch=10, pct_start=0.25,
        anneal_strategy="linear", three_phase=True, cycle_momentum=False),
    "CyclicLR": lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=[0.1, 0.2], step_size_up=7,
                                        step_size_down=13),
    "CyclicLR-triangular2": lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=10,
                                                    mode="triangular2"),
    "CyclicLR-exp_range": lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=6,
                                                  mode="exp_range", gamma=0.97),
    "CyclicLR-scale_fn": lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=5,
                                                 scale_fn=lambda x: 1 / (1 + x),
                                                 scale_mode="iterations",
                                                 cycle_momentum=False),
}


@requires_torch
@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_matches_pytorch(name):
    topt, lopt = _optimizers()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ts = SCHEDULES[name](torch.optim.lr_scheduler, topt)
    ls = SCHEDULES[name](sched, lopt)
    _close(ls.get_last_lr(), ts.get_last_lr(), f"{name}: after construction")
    _close(_lrs(lopt), _lrs(topt), f"{name}: group lrs after construction")
    if not isinstance(ls, (sched.SequentialLR, sched.OneCycleLR, sched.CyclicLR)):
        assert [g["initial_lr"] for g in lopt.param_groups] == [0.1, 0.05]
        assert ls.base_lrs == [0.1, 0.05]
    for i in range(STEPS):
        topt.step()
        lopt.step()
        ts.step()
        ls.step()
        assert ls.last_epoch == ts.last_epoch
        _close(ls.get_last_lr(), ts.get_last_lr(), f"{name}: get_last_lr at step {i}")
        _close(_lrs(lopt), _lrs(topt), f"{name}: group lrs at step {i}")
        for tg, lg in zip(topt.param_groups, lopt.param_groups):
            assert lg["momentum"] == tg["momentum"]


@requires_torch
def test_one_cycle_cycles_adam_beta1():
    tw, lw = torch.zeros(2, requires_grad=True), lamina.zeros(2, requires_grad=True)
    topt, lopt = torch.optim.Adam([tw], lr=1.0), optim.Adam([lw], lr=1.0)
    ts = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.01, total_steps=50)
    ls = sched.OneCycleLR(lopt, max_lr=0.01, total_steps=50)
    for i in range(50):
        for w, o in ((tw, topt), (lw, lopt)):
            o.zero_grad()
            (w * w + w).sum().backward()
            o.step()
        ts.step()
        ls.step()
        _close(ls.get_last_lr(), ts.get_last_lr(), f"step {i}")
        _close(lopt.param_groups[0]["betas"], topt.param_groups[0]["betas"], f"betas {i}")
        np.testing.assert_allclose(lw.data, tw.detach().numpy(), rtol=1e-7, atol=1e-12)
    with pytest.raises(ValueError, match="Tried to step 51 times"):
        ls.step()


@requires_torch
def test_warm_restarts_fractional_epochs():
    topt, lopt = _optimizers()
    ts = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, T_0=5, T_mult=2)
    ls = sched.CosineAnnealingWarmRestarts(lopt, T_0=5, T_mult=2)
    for epoch in range(30):
        for i in range(4):
            topt.step()
            lopt.step()
            ts.step(epoch + i / 4)
            ls.step(epoch + i / 4)
            _close(ls.get_last_lr(), ts.get_last_lr(), f"epoch {epoch} + {i}/4")
    with pytest.raises(ValueError, match="non-negative epoch"):
        ls.step(-1)


@requires_torch
def test_chained_scheduler_class():
    topt, lopt = _optimizers()
    tc = torch.optim.lr_scheduler.ChainedScheduler(
        [torch.optim.lr_scheduler.ConstantLR(topt, factor=0.1, total_iters=4),
         torch.optim.lr_scheduler.ExponentialLR(topt, gamma=0.9)])
    lc = sched.ChainedScheduler([sched.ConstantLR(lopt, factor=0.1, total_iters=4),
                                 sched.ExponentialLR(lopt, gamma=0.9)])
    _close(lc.get_last_lr(), tc.get_last_lr(), "start")
    for i in range(20):
        topt.step()
        lopt.step()
        tc.step()
        lc.step()
        _close(lc.get_last_lr(), tc.get_last_lr(), f"step {i}")
    sd = copy.deepcopy(lc.state_dict())
    assert len(sd["_schedulers"]) == 2
    with pytest.raises(ValueError, match="at least one scheduler"):
        sched.ChainedScheduler([])


@requires_torch
def test_chained_schedulers_compose_like_pytorch():
    topt, lopt = _optimizers()
    tsched = [torch.optim.lr_scheduler.StepLR(topt, 10, 0.5),
              torch.optim.lr_scheduler.ExponentialLR(topt, 0.97),
              torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=40)]
    lsched = [sched.StepLR(lopt, 10, 0.5), sched.ExponentialLR(lopt, 0.97),
              sched.CosineAnnealingLR(lopt, T_max=40)]
    for i in range(STEPS):
        topt.step()
        lopt.step()
        for t, s in zip(tsched, lsched):
            t.step()
            s.step()
        _close(_lrs(lopt), _lrs(topt), f"step {i}")


@requires_torch
@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR",
                                  "CosineAnnealingLR", "LinearLR-warmup"])
def test_deprecated_epoch_argument_uses_closed_form(name):
    topt, lopt = _optimizers()
    ts = SCHEDULES[name](torch.optim.lr_scheduler, topt)
    ls = SCHEDULES[name](sched, lopt)
    for epoch in (3, 17, 10, 45):
        topt.step()
        lopt.step()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ts.step(epoch)
        with pytest.warns(UserWarning, match="epoch parameter"):
            ls.step(epoch)
        _close(ls.get_last_lr(), ts.get_last_lr(), f"{name} epoch {epoch}")


@requires_torch
@pytest.mark.parametrize("name", ["StepLR", "ExponentialLR", "CosineAnnealingLR",
                                  "LinearLR-warmup", "LambdaLR-time-decay"])
def test_resume_with_last_epoch(name):
    build = {"StepLR": lambda m, o, e: m.StepLR(o, 7, 0.5, last_epoch=e),
             "ExponentialLR": lambda m, o, e: m.ExponentialLR(o, 0.9, last_epoch=e),
             "CosineAnnealingLR": lambda m, o, e: m.CosineAnnealingLR(o, 50, last_epoch=e),
             "LinearLR-warmup": lambda m, o, e: m.LinearLR(o, 0.1, total_iters=30,
                                                           last_epoch=e),
             "LambdaLR-time-decay": lambda m, o, e: m.LambdaLR(o, lambda t: 1 / (1 + 0.1 * t),
                                                               last_epoch=e)}[name]
    topt, lopt = _optimizers()
    for o in (topt, lopt):
        for g in o.param_groups:
            g["initial_lr"] = g["lr"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ts = build(torch.optim.lr_scheduler, topt, 12)
    ls = build(sched, lopt, 12)
    _close(ls.get_last_lr(), ts.get_last_lr(), "after construction")
    for i in range(30):
        topt.step()
        lopt.step()
        ts.step()
        ls.step()
        _close(ls.get_last_lr(), ts.get_last_lr(), f"{name} step {i}")


def test_resume_needs_initial_lr():
    lopt = optim.SGD([lamina.zeros(2, requires_grad=True)], lr=0.1)
    with pytest.raises(KeyError, match="initial_lr"):
        sched.StepLR(lopt, 5, last_epoch=3)


def _save_load(obj, tmp_path, name):
    """Through a lamina.save file where lamina has one, else a deep copy."""
    try:
        from lamina.serialization import load, save
    except ImportError:
        return copy.deepcopy(obj)
    path = str(tmp_path / f"{name}.safetensors")
    save(obj, path)
    return load(path)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_state_dict_round_trip(name, tmp_path):
    def build():
        o = optim.SGD([{"params": [lamina.zeros(2, requires_grad=True)], "lr": lr}
                       for lr in (0.1, 0.05)], lr=1.0)
        return o, SCHEDULES[name](sched, o)

    opt_a, sa = build()
    for _ in range(37):
        opt_a.step()
        sa.step()
    osd = _save_load(opt_a.state_dict(), tmp_path, "optimizer")
    ssd = _save_load(sa.state_dict(), tmp_path, "scheduler")
    assert "optimizer" not in ssd
    opt_b, sb = build()
    sb.load_state_dict(ssd)
    opt_b.load_state_dict(osd)
    for i in range(40):
        opt_a.step()
        opt_b.step()
        sa.step()
        sb.step()
        assert sb.get_last_lr() == sa.get_last_lr(), f"step {i}"
        assert _lrs(opt_b) == _lrs(opt_a)


def test_lambda_state_dict_saves_callable_objects_only():
    class Factor:
        def __init__(self):
            self.k = 0.5

        def __call__(self, t):
            return self.k ** t

    o = optim.SGD([lamina.zeros(1, requires_grad=True)], lr=1.0)
    f = Factor()
    s = sched.LambdaLR(o, f)
    sd = s.state_dict()
    assert sd["lr_lambdas"] == [{"k": 0.5}]
    f.k = 0.1
    s.load_state_dict(sd)
    assert f.k == 0.5
    s2 = sched.LambdaLR(o, lambda t: 1.0)
    assert s2.state_dict()["lr_lambdas"] == [None]


def test_time_based_decay_example():
    k, lr0 = 0.2, 0.5
    o = optim.SGD([lamina.zeros(1, requires_grad=True)], lr=lr0)
    s = sched.LambdaLR(o, lambda t: 1 / (1 + k * t))
    for t in range(1, 20):
        o.step()
        s.step()
        assert math.isclose(o.param_groups[0]["lr"], lr0 / (1 + k * t), rel_tol=1e-15)


def test_cosine_closed_form_within_T_max():
    o = optim.SGD([lamina.zeros(1, requires_grad=True)], lr=0.3)
    s = sched.CosineAnnealingLR(o, T_max=25, eta_min=0.01)
    for t in range(1, 26):
        o.step()
        s.step()
        want = 0.01 + (0.3 - 0.01) * (1 + math.cos(math.pi * t / 25)) / 2
        assert math.isclose(s.get_last_lr()[0], want, rel_tol=1e-9, abs_tol=1e-12)


def test_warns_when_scheduler_steps_before_optimizer():
    o = optim.SGD([lamina.zeros(1, requires_grad=True)], lr=0.3)
    s = sched.StepLR(o, 3)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        s.step()
    o2 = optim.SGD([lamina.zeros(1, requires_grad=True)], lr=0.3)
    s2 = sched.StepLR(o2, 3)
    o2.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s2.step()
        s2.get_last_lr()
    with pytest.warns(UserWarning, match="get_last_lr"):
        s2.get_lr()


def test_scheduler_errors():
    o = optim.SGD([lamina.zeros(1, requires_grad=True)], lr=0.3)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        sched.StepLR("sgd", 3)
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        sched.LinearLR(o, start_factor=0)
    with pytest.raises(ValueError, match="Ending multiplicative factor"):
        sched.LinearLR(o, end_factor=1.5)
    with pytest.raises(ValueError, match="Expected 1 lr_lambdas, but got 2"):
        sched.LambdaLR(o, [lambda t: 1, lambda t: 1])
    a = sched.StepLR(o, 3)
    with pytest.raises(ValueError, match="one more than the number of milestone"):
        sched.SequentialLR(o, [a], milestones=[3])
    with pytest.raises(ValueError, match="at least one scheduler"):
        sched.SequentialLR(o, [], milestones=[])
    other = optim.SGD([lamina.zeros(1, requires_grad=True)], lr=0.3)
    with pytest.raises(ValueError, match="same optimizer"):
        sched.SequentialLR(o, [a, sched.StepLR(other, 3)], milestones=[3])
    with pytest.raises(ValueError, match="does not support `ReduceLROnPlateau`"):
        sched.SequentialLR(o, [a, sched.ReduceLROnPlateau(o)], milestones=[3])
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        sched.ReduceLROnPlateau(o, factor=1.0)
    with pytest.raises(ValueError, match="mode middle is unknown"):
        sched.ReduceLROnPlateau(o, mode="middle")
    with pytest.raises(ValueError, match="threshold mode rol is unknown"):
        sched.ReduceLROnPlateau(o, threshold_mode="rol")
    with pytest.raises(ValueError, match="expected 1 min_lrs, got 2"):
        sched.ReduceLROnPlateau(o, min_lr=[0.1, 0.2])
    with pytest.raises(ValueError, match="total_steps OR"):
        sched.OneCycleLR(o, max_lr=0.1)
    with pytest.raises(ValueError, match="pct_start"):
        sched.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=1.5)
    with pytest.raises(ValueError, match="anneal_strategy"):
        sched.OneCycleLR(o, max_lr=0.1, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="max_lr must have the same length"):
        sched.OneCycleLR(o, max_lr=[0.1, 0.2], total_steps=10)
    with pytest.raises(ValueError, match="must support momentum or beta1"):
        sched.OneCycleLR(optim.Adagrad([lamina.zeros(1, requires_grad=True)]), max_lr=0.1,
                         total_steps=10)
    with pytest.raises(ValueError, match="positive integer T_0"):
        sched.CosineAnnealingWarmRestarts(o, T_0=0)
    with pytest.raises(ValueError, match="Constant multiplicative factor"):
        sched.ConstantLR(o, factor=2)
    with pytest.raises(TypeError, match="lr_lambda should be a function"):
        sched.MultiplicativeLR(o, 0.5)


# --- ReduceLROnPlateau -----------------------------------------------------------------------

def _metrics(seed=0, n=STEPS):
    """A loss-like series: falling, then plateaus and noisy stretches, some exact repeats."""
    rng = np.random.default_rng(seed)
    base = np.concatenate([np.linspace(1.0, 0.5, 20), np.full(15, 0.5),
                           0.5 - 0.001 * np.arange(10), np.full(10, 0.49),
                           0.49 + 0.02 * rng.standard_normal(25),
                           np.linspace(0.48, 0.3, 20)])
    return [float(v) for v in base[:n]]


PLATEAU = [
    dict(),
    dict(patience=0),
    dict(patience=3, factor=0.5),
    dict(patience=2, factor=0.5, cooldown=3),
    dict(patience=2, factor=0.5, threshold=0.01, threshold_mode="abs"),
    dict(patience=2, factor=0.5, threshold=0.05),
    dict(patience=1, factor=0.3, min_lr=0.004),
    dict(patience=1, factor=0.3, min_lr=[0.01, 0.0]),
    dict(patience=1, factor=0.9, eps=1e-3),
    dict(mode="max", patience=2, factor=0.5),
    dict(mode="max", patience=2, factor=0.5, threshold_mode="abs", threshold=0.02,
         cooldown=1),
]


@requires_torch
@pytest.mark.parametrize("kw", PLATEAU, ids=lambda kw: ",".join(f"{k}={v}" for k, v in
                                                                 kw.items()) or "defaults")
def test_reduce_lr_on_plateau_matches_pytorch(kw):
    topt, lopt = _optimizers()
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    ls = sched.ReduceLROnPlateau(lopt, **kw)
    series = _metrics()
    if kw.get("mode") == "max":
        series = [-v for v in series]
    changes = 0
    for i, metric in enumerate(series):
        before = _lrs(lopt)
        ts.step(metric)
        ls.step(lamina.tensor(metric, dtype=lamina.float64) if i % 2 else metric)
        changes += _lrs(lopt) != before
        _close(ls.get_last_lr(), ts.get_last_lr(), f"step {i}")
        _close(_lrs(lopt), _lrs(topt), f"group lrs at step {i}")
        assert (ls.num_bad_epochs, ls.cooldown_counter, ls.best, ls.last_epoch) == \
            (ts.num_bad_epochs, ts.cooldown_counter, ts.best, ts.last_epoch), f"step {i}"
    if kw:
        assert changes > 0, "the scripted series should trigger at least one reduction"


def test_reduce_lr_on_plateau_state_dict(tmp_path):
    o = optim.SGD([lamina.zeros(1, requires_grad=True)], lr=1.0)
    s = sched.ReduceLROnPlateau(o, mode="max", patience=1, factor=0.5)
    assert _save_load(s.state_dict(), tmp_path, "fresh")["best"] == -math.inf
    for m in (1.0, 0.5, 0.5, 2.0, 1.0):
        s.step(m)
    sd = _save_load(s.state_dict(), tmp_path, "plateau")
    o2 = optim.SGD([lamina.zeros(1, requires_grad=True)], lr=o.param_groups[0]["lr"])
    s2 = sched.ReduceLROnPlateau(o2)
    s2.load_state_dict(sd)
    assert s2.mode == "max" and s2.best == 2.0 and s2.mode_worse == -math.inf
    for m in (1.0, 1.0, 3.0, 1.0, 0.0):
        s.step(m)
        s2.step(m)
        assert s2.get_last_lr() == s.get_last_lr()


def test_reduce_lr_on_plateau_new_group():
    o = optim.SGD([lamina.zeros(1, requires_grad=True)], lr=1.0)
    s = sched.ReduceLROnPlateau(o, patience=0, min_lr=0.2)
    o.add_param_group({"params": [lamina.zeros(1, requires_grad=True)], "lr": 0.3})
    s.step(1.0)
    s.step(2.0)
    assert s.get_last_lr() == [0.2, 0.2]          # max(lr * factor, min_lr) for both groups
    o2 = optim.SGD([lamina.zeros(1, requires_grad=True)], lr=1.0)
    s2 = sched.ReduceLROnPlateau(o2, patience=0, min_lr=[0.2])
    o2.add_param_group({"params": [lamina.zeros(1, requires_grad=True)]})
    s2.step(1.0)
    with pytest.raises(RuntimeError, match="differs from when `ReduceLROnPlateau`"):
        s2.step(2.0)
