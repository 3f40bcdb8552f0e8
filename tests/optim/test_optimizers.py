"""Optimizers against PyTorch: the same weights, data and hyper-parameters, 100 steps, the
parameters compared after every step (float64), over every option combination."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest

import lamina
from lamina import optim
from tests.helpers import requires_torch, torch

STEPS = 100
RTOL = 1e-7
ATOL = 1e-10

NAMES = ["SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW"]


def _grid(**options):
    keys = list(options)
    return [dict(zip(keys, vals)) for vals in itertools.product(*options.values())]


def _sgd_cases():
    out = []
    for kw in _grid(momentum=[0, 0.9], dampening=[0, 0.3], weight_decay=[0, 0.1],
                    nesterov=[False, True], maximize=[False, True]):
        if kw["nesterov"] and (kw["momentum"] == 0 or kw["dampening"] != 0):
            continue
        out.append(("SGD", dict(lr=0.1, **kw)))
    return out


CASES = (
    _sgd_cases()
    + [("Adagrad", dict(lr=0.1, **kw)) for kw in _grid(
        lr_decay=[0, 0.05], weight_decay=[0, 0.1], initial_accumulator_value=[0, 0.5],
        maximize=[False, True])]
    + [("Adagrad", dict(lr=0.1, eps=1e-3))]
    + [("RMSprop", dict(lr=0.003, **kw)) for kw in _grid(
        alpha=[0.99, 0.9], momentum=[0, 0.5], centered=[False, True], weight_decay=[0, 0.1],
        maximize=[False, True])]
    + [("RMSprop", dict(lr=0.01, eps=1e-3))]
    + [("Adadelta", dict(**kw)) for kw in _grid(
        rho=[0.9, 0.5], weight_decay=[0, 0.1], maximize=[False, True])]
    + [("Adadelta", dict(lr=0.5, eps=1e-4))]
    + [(name, dict(lr=0.05, **kw)) for name in ("Adam", "AdamW") for kw in _grid(
        betas=[(0.9, 0.999), (0.8, 0.99)], weight_decay=[0, 0.1], amsgrad=[False, True],
        maximize=[False, True])]
    + [("Adam", dict(lr=0.05, eps=1e-3)), ("AdamW", dict()), ("Adam", dict())]
)


def _case_id(case):
    name, kw = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in kw.items())


class _Problem:
    """Logistic regression on separable data, ``mean(log(1 + exp(-s * (X @ W + b))))``, two
    outputs, with an unused parameter ``u`` (its grad stays ``None``: optimizers skip it).

    Separable data keep the gradient away from zero for the 100 steps: where an optimizer
    divides a vanishing gradient by its own running magnitude (RMSprop, Adam near a minimum),
    rounding differences between PyTorch's fused kernels and NumPy decide the sign of the
    step, and the two trajectories part for reasons that have nothing to do with the update.
    """

    def __init__(self, lib, seed=0, dtype=np.float64):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(16, 3))
        S = np.sign(X @ rng.normal(size=(3, 2)) + 0.1)
        self.arrays = dict(W=0.5 * rng.normal(size=(3, 2)), b=0.1 * rng.normal(size=(2,)),
                           u=rng.normal(size=(4,)))
        self.lib = lib
        if lib == "torch":
            make = lambda a, rg=False: torch.tensor(a.astype(dtype), requires_grad=rg)
        else:
            make = lambda a, rg=False: lamina.tensor(a.astype(dtype), requires_grad=rg)
        self.W, self.b, self.u = (make(self.arrays[k], True) for k in ("W", "b", "u"))
        self.X, self.S = make(X), make(S)

    @property
    def params(self):
        return [self.W, self.b, self.u]

    def loss(self):
        return (1 + (-(self.S * (self.X @ self.W + self.b))).exp()).log().mean()

    def values(self):
        if self.lib == "torch":
            return [p.detach().numpy().copy() for p in self.params]
        return [p._data.copy() for p in self.params]


def _step(prob, opt, set_to_none=True):
    opt.zero_grad(set_to_none=set_to_none)
    loss = prob.loss()
    loss.backward()
    opt.step()
    return loss


def _assert_close(got, want, what, rtol=RTOL, atol=ATOL):
    for i, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol,
                                   err_msg=f"{what}: parameter {i} differs from PyTorch")


@requires_torch
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_matches_pytorch_every_step(case):
    name, kw = case
    tp, lp = _Problem("torch"), _Problem("lamina")
    topt = getattr(torch.optim, name)(tp.params, **kw)
    lopt = getattr(optim, name)(lp.params, **kw)
    u0 = lp.u._data.copy()
    for i in range(STEPS):
        set_to_none = i % 2 == 0
        tl = _step(tp, topt, set_to_none)
        ll = _step(lp, lopt, set_to_none)
        np.testing.assert_allclose(ll.item(), tl.item(), rtol=RTOL, atol=ATOL,
                                   err_msg=f"loss at step {i}")
        _assert_close(lp.values(), tp.values(), f"{name}{kw} step {i}")
    np.testing.assert_array_equal(lp.u._data, u0)      # grad None: never touched
    if name != "Adagrad":                            # Adagrad makes its state eagerly
        assert lp.u not in lopt.state and tp.u not in topt.state
    # the state matches too
    for tpar, lpar in zip(tp.params[:2], lp.params[:2]):
        ts, ls = topt.state[tpar], lopt.state[lpar]
        assert set(ls) == set(ts), f"state keys {sorted(ls)}, PyTorch {sorted(ts)}"
        for key, tv in ts.items():
            if key == "step":
                assert ls[key] == int(tv.item())
            else:
                np.testing.assert_allclose(ls[key]._data, tv.numpy(), rtol=1e-6, atol=1e-9,
                                           err_msg=f"state {key}")


@requires_torch
@pytest.mark.parametrize("name", NAMES)
def test_param_groups_with_their_own_options(name):
    overrides = {"SGD": dict(momentum=0.5), "Adagrad": dict(lr_decay=0.1),
                 "RMSprop": dict(momentum=0.3, centered=True), "Adadelta": dict(rho=0.5),
                 "Adam": dict(amsgrad=True, betas=(0.5, 0.9)), "AdamW": dict(weight_decay=0.3)}
    tp, lp = _Problem("torch", seed=1), _Problem("lamina", seed=1)

    def groups(p):
        return [{"params": [p.W]}, {"params": [p.b, p.u], "lr": 0.003, **overrides[name]}]

    topt = getattr(torch.optim, name)(groups(tp), lr=0.03)
    lopt = getattr(optim, name)(groups(lp), lr=0.03)
    assert lopt.param_groups[1]["lr"] == 0.003 and lopt.param_groups[0]["lr"] == 0.03
    for i in range(30):
        _step(tp, topt)
        _step(lp, lopt)
        _assert_close(lp.values(), tp.values(), f"{name} step {i}")


@requires_torch
@pytest.mark.parametrize("name", NAMES)
def test_float32_close_to_pytorch(name):
    tp, lp = _Problem("torch", dtype=np.float32), _Problem("lamina", dtype=np.float32)
    topt = getattr(torch.optim, name)(tp.params, lr=0.01)
    lopt = getattr(optim, name)(lp.params, lr=0.01)
    for _ in range(20):
        _step(tp, topt)
        _step(lp, lopt)
    for p in lp.params:
        assert p._data.dtype == np.float32
    for s in lopt.state.values():
        for k, v in s.items():
            if k != "step":
                assert v.dtype == np.float32
    _assert_close(lp.values(), tp.values(), name, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_updates_in_place_and_bumps_version(name):
    p = lamina.tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
    p.detach()                      # gives p a version counter
    data = p._data
    opt = getattr(optim, name)([p], lr=0.1)
    for i in range(3):
        opt.zero_grad()
        (p * p).sum().backward()
        before = p._data.copy()
        opt.step()
        assert p._data is data, "the update must write into p._data"
        assert p._version == i + 1
        assert not np.array_equal(p._data, before)
        assert p.grad is not None and p.grad.requires_grad is False
    arrays = {k: v._data for k, v in opt.state[p].items() if k != "step"}
    opt.zero_grad()
    (p * p).sum().backward()
    opt.step()
    for k, v in opt.state[p].items():
        if k != "step":
            assert v._data is arrays[k], f"state {k} was reallocated"


def test_update_records_no_graph():
    p = lamina.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    (p * p).sum().backward()
    opt.step()
    assert p.is_leaf and p.grad_fn is None and p.requires_grad


# --- zero_grad, closure, groups -----------------------------------------------------------

def test_zero_grad_both_modes():
    p = lamina.tensor([1.0, -2.0, 3.0], requires_grad=True)
    q = lamina.tensor([0.5], requires_grad=True)       # never gets a grad
    opt = optim.SGD([p, q], lr=0.1)
    (p * p).sum().backward()
    g = p.grad
    arr = g._data
    opt.zero_grad(set_to_none=False)
    assert p.grad is g and p.grad._data is arr
    np.testing.assert_array_equal(arr, 0)
    assert q.grad is None
    (p * p).sum().backward()                           # accumulates onto the zeros
    np.testing.assert_allclose(p.grad._data, [2.0, -4.0, 6.0])
    opt.zero_grad()
    assert p.grad is None and q.grad is None


def test_zero_grad_then_step_still_decays():
    # a zero gradient is stepped (weight decay acts); a None gradient is skipped
    p = lamina.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.5, weight_decay=0.1)
    (p * p).sum().backward()
    opt.zero_grad(set_to_none=False)
    opt.step()
    np.testing.assert_allclose(p._data, [1.0 - 0.05, 2.0 - 0.1])
    opt.zero_grad()
    opt.step()
    np.testing.assert_allclose(p._data, [1.0 - 0.05, 2.0 - 0.1])


@requires_torch
def test_closure_returns_loss_and_runs_with_grad():
    tp, lp = _Problem("torch"), _Problem("lamina")
    topt = torch.optim.SGD(tp.params, lr=0.1, momentum=0.9)
    lopt = optim.SGD(lp.params, lr=0.1, momentum=0.9)
    calls = []

    def closure(prob, opt):
        def f():
            if prob.lib == "lamina":
                calls.append(lamina.is_grad_enabled())
            opt.zero_grad()
            loss = prob.loss()
            loss.backward()
            return loss
        return f

    for _ in range(5):
        with torch.no_grad():
            tl = topt.step(closure(tp, topt))
        with lamina.no_grad():
            ll = lopt.step(closure(lp, lopt))
        assert isinstance(ll, lamina.Tensor)
        np.testing.assert_allclose(ll.item(), tl.item(), rtol=RTOL)
    assert calls == [True] * 5
    _assert_close(lp.values(), tp.values(), "closure")
    assert lopt.step() is None


def test_closure_restores_grad_mode_on_error():
    p = lamina.tensor([1.0], requires_grad=True)
    opt = optim.Adam([p])

    def bad():
        raise KeyError("boom")

    with lamina.no_grad():
        with pytest.raises(KeyError):
            opt.step(bad)
        assert not lamina.is_grad_enabled()
    assert lamina.is_grad_enabled()


@requires_torch
def test_add_param_group_later():
    tp, lp = _Problem("torch"), _Problem("lamina")
    topt = torch.optim.Adam([tp.W], lr=0.02)
    lopt = optim.Adam([lp.W], lr=0.02)
    for i in range(20):
        if i == 5:
            topt.add_param_group({"params": tp.b, "lr": 0.1, "amsgrad": True})
            lopt.add_param_group({"params": lp.b, "lr": 0.1, "amsgrad": True})
            assert lopt.param_groups[1]["betas"] == (0.9, 0.999)
        _step(tp, topt)
        _step(lp, lopt)
        _assert_close(lp.values(), tp.values(), f"step {i}")


def test_params_from_generator_and_names():
    w = lamina.tensor([1.0], requires_grad=True)
    b = lamina.tensor([2.0], requires_grad=True)
    opt = optim.SGD((t for t in [w, b]), lr=0.1)
    ps = opt.param_groups[0]["params"]
    assert len(ps) == 2 and ps[0] is w and ps[1] is b
    named = optim.SGD([("w", w), ("b", b)], lr=0.1)
    assert named.param_groups[0]["param_names"] == ["w", "b"]
    assert named.param_groups[0]["params"][0] is w
    assert named.state_dict()["param_groups"][0]["param_names"] == ["w", "b"]


def test_repr_lists_groups():
    w = lamina.tensor([1.0], requires_grad=True)
    text = repr(optim.SGD([w], lr=0.25, momentum=0.5))
    assert text.startswith("SGD (") and "Parameter Group 0" in text and "lr: 0.25" in text


# --- state_dict ----------------------------------------------------------------------------

_SD_KW = {"SGD": dict(lr=0.1, momentum=0.9, nesterov=True),
          "Adagrad": dict(lr=0.1, lr_decay=0.01), "RMSprop": dict(momentum=0.5, centered=True),
          "Adadelta": dict(), "Adam": dict(lr=0.05, amsgrad=True), "AdamW": dict(lr=0.05)}


def _roundtrip_via_file(sd, tmp_path):
    try:
        from lamina.serialization import load, save
    except ImportError:                     # no lamina.save yet: a deep copy stands in
        return copy.deepcopy(sd)
    path = tmp_path / "opt.safetensors"
    save(sd, str(path))
    return load(str(path))


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_continues_identically(name, tmp_path):
    a = _Problem("lamina", seed=3)
    opt_a = getattr(optim, name)([{"params": [a.W]}, {"params": [a.b, a.u], "lr": 0.02}],
                                 **_SD_KW[name])
    for _ in range(40):
        _step(a, opt_a)
    sd = opt_a.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1, 2]]
    for s in sd["state"].values():
        assert isinstance(s["step"], int) if "step" in s else True
        for k, v in s.items():
            assert k == "step" or isinstance(v, lamina.Tensor)
    loaded = _roundtrip_via_file(sd, tmp_path)
    b = _Problem("lamina", seed=3)
    for pa, pb in zip(a.params, b.params):
        pb._data[...] = pa._data
    opt_b = getattr(optim, name)([{"params": [b.W]}, {"params": [b.b, b.u]}], lr=0.7)
    opt_b.load_state_dict(loaded)
    assert opt_b.param_groups[1]["lr"] == 0.02 and opt_b.param_groups[0]["params"][0] is b.W
    for _ in range(40):
        _step(a, opt_a)
        _step(b, opt_b)
        for x, y in zip(a.values(), b.values()):
            np.testing.assert_array_equal(x, y)
    # the loaded state is a copy: stepping b did not touch the saved arrays
    for i, s in loaded["state"].items():
        for k, v in s.items():
            if k != "step":
                assert v._data is not opt_b.state[b.params[i]][k]._data


@requires_torch
@pytest.mark.parametrize("name", NAMES)
def test_load_pytorch_state_dict(name):
    tp, lp = _Problem("torch", seed=4), _Problem("lamina", seed=4)
    topt = getattr(torch.optim, name)(tp.params, **_SD_KW[name])
    for _ in range(30):
        _step(tp, topt)
    for t, p in zip(tp.params, lp.params):
        p._data[...] = t.detach().numpy()
    lopt = getattr(optim, name)(lp.params, **_SD_KW[name])
    lopt.load_state_dict(topt.state_dict())
    for i in range(30):
        _step(tp, topt)
        _step(lp, lopt)
        _assert_close(lp.values(), tp.values(), f"{name} step {i} after loading")


def test_load_state_dict_checks_structure():
    w = lamina.tensor(np.ones((2, 2)), requires_grad=True)
    b = lamina.tensor(np.ones(2), requires_grad=True)
    opt = optim.Adam([w, b])
    (w.sum() + b.sum()).backward()
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.Adam([{"params": [w]}, {"params": [b]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.Adam([w]).load_state_dict(sd)
    with pytest.raises(ValueError, match="has shape"):
        optim.Adam([b, w]).load_state_dict(sd)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})
    # arrays are cast to the parameter's dtype
    w32 = lamina.tensor(np.ones((2, 2), np.float32), requires_grad=True)
    b32 = lamina.tensor(np.ones(2, np.float32), requires_grad=True)
    opt32 = optim.Adam([w32, b32])
    opt32.load_state_dict(sd)
    assert opt32.state[w32]["exp_avg"].dtype == np.float32


# --- errors ---------------------------------------------------------------------------------

BAD = [
    ("SGD", dict(lr=-1)), ("SGD", dict(momentum=-0.5)), ("SGD", dict(weight_decay=-1e-3)),
    ("SGD", dict(nesterov=True)), ("SGD", dict(momentum=0.9, dampening=0.1, nesterov=True)),
    ("Adagrad", dict(lr=-1)), ("Adagrad", dict(lr_decay=-1)), ("Adagrad", dict(eps=-1)),
    ("Adagrad", dict(weight_decay=-1)), ("Adagrad", dict(initial_accumulator_value=-1)),
    ("RMSprop", dict(lr=-1)), ("RMSprop", dict(alpha=-1)), ("RMSprop", dict(eps=-1)),
    ("RMSprop", dict(momentum=-1)), ("RMSprop", dict(weight_decay=-1)),
    ("Adadelta", dict(lr=-1)), ("Adadelta", dict(rho=1.5)), ("Adadelta", dict(eps=-1)),
    ("Adadelta", dict(weight_decay=-1)),
    ("Adam", dict(lr=-1)), ("Adam", dict(eps=-1)), ("Adam", dict(betas=(1.0, 0.9))),
    ("Adam", dict(betas=(0.9, -0.1))), ("Adam", dict(weight_decay=-1)),
    ("AdamW", dict(lr=-0.5)), ("AdamW", dict(betas=(0.9, 1.0))),
]


@requires_torch
@pytest.mark.parametrize("case", BAD, ids=_case_id)
def test_invalid_hyperparameters_match_pytorch(case):
    name, kw = case
    with pytest.raises(ValueError) as terr:
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kw)
    with pytest.raises(ValueError) as lerr:
        getattr(optim, name)([lamina.zeros(2, requires_grad=True)], **kw)
    assert str(lerr.value) == f"{name}: {terr.value}"  # PyTorch's text, led by the optimizer


def test_invalid_learning_rate_message():
    with pytest.raises(ValueError, match=r"^SGD: Invalid learning rate: -1$"):
        optim.SGD([lamina.zeros(2, requires_grad=True)], lr=-1)
    p = lamina.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match=r"Invalid learning rate: -0.1"):
        optim.Adam([{"params": [p], "lr": -0.1}])


def test_bad_params():
    w = lamina.tensor([1.0], requires_grad=True)
    v = lamina.tensor([2.0], requires_grad=True)
    with pytest.raises(ValueError, match="duplicate parameters"):
        optim.SGD([w, v, w], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [w]}, {"params": [v, w]}], lr=0.1)
    opt = optim.SGD([w], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [w]})
    with pytest.raises(ValueError, match="non-leaf"):
        optim.Adam([w * 2])
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        optim.Adam(w)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.Adam([np.ones(2)])
    with pytest.raises(TypeError, match="ordered collections"):
        optim.Adam({w, v})
    with pytest.raises(TypeError, match="must be a dict"):
        opt.add_param_group([v])


@requires_torch
def test_bad_params_match_pytorch():
    for make, lib in ((lambda: torch.zeros(2, requires_grad=True), torch.optim),
                      (lambda: lamina.zeros(2, requires_grad=True), optim)):
        w, v = make(), make()
        with pytest.raises(ValueError, match="some parameters appear in more than one"):
            lib.SGD([{"params": [w]}, {"params": [v, w]}], lr=0.1)
        with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
            lib.SGD([w * 2], lr=0.1)
        with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
            lib.SGD([], lr=0.1)


# --- the documented momentum forms ---------------------------------------------------------

def _lecture_run(beta, lr, m0_is_first_grad, steps=30):
    prob = _Problem("lamina", seed=5)
    m = None
    for _ in range(steps):
        for p in prob.params[:2]:
            p.grad = None
        prob.loss().backward()
        if m is None:
            m = [p.grad._data.copy() if m0_is_first_grad else np.zeros_like(p._data)
                 for p in prob.params[:2]]
        for mi, p in zip(m, prob.params[:2]):
            mi[...] = beta * mi + (1 - beta) * p.grad._data
            p._data -= lr * mi
    return prob.values()[:2]


def _sgd_run(steps=30, **kw):
    prob = _Problem("lamina", seed=5)
    opt = optim.SGD(prob.params[:2], **kw)
    for _ in range(steps):
        _step(prob, opt)
    return prob.values()[:2]


def test_momentum_with_dampening_is_the_moving_average_form():
    beta, lr = 0.8, 0.3
    # exact when the lecture's m starts at the first gradient...
    _assert_close(_sgd_run(lr=lr, momentum=beta, dampening=beta),
                  _lecture_run(beta, lr, m0_is_first_grad=True), "m0 = g1", rtol=1e-12)
    # ...and different on the first step when m starts at zero: (1 - beta) * g vs g
    first_sgd = _sgd_run(steps=1, lr=lr, momentum=beta, dampening=beta)
    first_lec = _lecture_run(beta, lr, m0_is_first_grad=False, steps=1)
    start = _Problem("lamina", seed=5).values()[:2]
    for s, l, w0 in zip(first_sgd, first_lec, start):
        np.testing.assert_allclose((l - w0), (1 - beta) * (s - w0), rtol=1e-12)


def test_momentum_without_dampening_is_the_velocity_form():
    beta, lr = 0.7, 0.05
    prob = _Problem("lamina", seed=5)
    v = [np.zeros_like(p._data) for p in prob.params[:2]]
    for _ in range(30):
        for p in prob.params[:2]:
            p.grad = None
        prob.loss().backward()
        for vi, p in zip(v, prob.params[:2]):
            vi *= beta
            vi += p.grad._data
            p._data -= lr * vi
    _assert_close(_sgd_run(lr=lr, momentum=beta), prob.values()[:2], "velocity", rtol=1e-12)


def test_group_dicts_are_kept_as_given():
    w = lamina.tensor([1.0], requires_grad=True)
    group = {"params": [w], "lr": 0.5}
    opt = optim.SGD([group], lr=0.1, momentum=0.9)
    assert opt.param_groups[0] is group and group["momentum"] == 0.9
    group["lr"] = 0.25                      # an edit to the dict reaches the optimizer
    (w * 2).sum().backward()
    opt.step()
    np.testing.assert_allclose(w._data, [1.0 - 0.25 * 2])


@requires_torch
@pytest.mark.parametrize("name", NAMES)
def test_odd_shapes_and_layouts(name):
    # 0-d, empty, Fortran-ordered (non-contiguous) and 3-d parameters, gradients set by hand
    rng = np.random.default_rng(7)
    arrays = [np.array(0.7), np.zeros((0,)), np.asfortranarray(rng.normal(size=(3, 4))),
              rng.normal(size=(2, 1, 3))]
    lp = [lamina.tensor(a, requires_grad=True) for a in arrays]
    assert not lp[2]._data.flags.c_contiguous
    tp = [torch.tensor(a, requires_grad=True) for a in arrays]
    kw = {**_SD_KW[name], "weight_decay": 0.01}
    lopt, topt = getattr(optim, name)(lp, **kw), getattr(torch.optim, name)(tp, **kw)
    for i in range(10):
        for lt, tt in zip(lp, tp):
            g = rng.normal(size=lt.shape)
            lt.grad = lamina.tensor(g)
            tt.grad = torch.tensor(g)
        lopt.step()
        topt.step()
        _assert_close([p._data for p in lp], [p.detach().numpy() for p in tp], f"step {i}")
    assert lp[2]._data.flags.f_contiguous
