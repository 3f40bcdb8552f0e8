"""Losses against PyTorch: every reduction and target form, values and gradients (input and,
where PyTorch has one, target), modules and functionals, plus gradchecks of the fused ops."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lamina
import lamina.nn as nn
import lamina.nn.functional as F
from tests.helpers import check_grad, check_op, requires_torch, torch

TF = torch.nn.functional if torch is not None else None
REDS = ["mean", "sum", "none"]


def _t(a, grad=False):
    return torch.tensor(a, requires_grad=grad)


def _l(a, grad=False):
    return lamina.tensor(a, requires_grad=grad)


# --- regression losses -----------------------------------------------------------------------

REG = [
    ("mse_loss", {}), ("l1_loss", {}), ("huber_loss", {"delta": 0.7}),
    ("smooth_l1_loss", {"beta": 0.5}), ("smooth_l1_loss", {"beta": 0.0}),
]


@requires_torch
@pytest.mark.parametrize("name,kw", REG, ids=[f"{n}{kw}" for n, kw in REG])
@pytest.mark.parametrize("reduction", REDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_regression_losses_match_torch(name, kw, reduction, dtype):
    check_op([(4, 5), (4, 5)], lambda x, t: getattr(TF, name)(x, t, reduction=reduction, **kw),
             lambda x, t: getattr(F, name)(x, t, reduction=reduction, **kw), dtype=dtype)


@requires_torch
def test_regression_loss_modules_and_broadcast():
    pairs = [(torch.nn.MSELoss, nn.MSELoss, {}), (torch.nn.L1Loss, nn.L1Loss, {}),
             (torch.nn.HuberLoss, nn.HuberLoss, {"delta": 2.0}),
             (torch.nn.SmoothL1Loss, nn.SmoothL1Loss, {"beta": 0.3})]
    for tcls, lcls, kw in pairs:
        for red in REDS:
            check_op([(3, 4), (3, 4)], tcls(reduction=red, **kw), lcls(reduction=red, **kw))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_op([(3, 4), (4,)], lambda x, t: TF.mse_loss(x, t), lambda x, t: F.mse_loss(x, t))


def test_regression_gradcheck():
    for fn in (F.mse_loss, F.l1_loss, lambda x, t: F.huber_loss(x, t, delta=0.5),
               lambda x, t: F.smooth_l1_loss(x, t, beta=0.5)):
        check_grad(fn, [(3, 4), (3, 4)])


def test_bad_reduction():
    x = lamina.zeros(3)
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        nn.CrossEntropyLoss(reduction="batchmean")


# --- binary cross-entropy --------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("reduction", REDS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_matches_torch(reduction, weighted, dtype):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.02, 0.98, size=(4, 3)).astype(dtype)
    t = rng.uniform(0, 1, size=(4, 3)).astype(dtype)
    w = rng.uniform(0.5, 2, size=(3,)).astype(dtype)
    extra = [w] if weighted else []
    check_op([x, t] + extra,
             lambda x, t, *w: TF.binary_cross_entropy(x, t, *w, reduction=reduction),
             lambda x, t, *w: F.binary_cross_entropy(x, t, *w, reduction=reduction),
             dtype=dtype, requires_grad=[True, True, False])


@requires_torch
def test_bce_log_clamp_at_extremes():
    x = np.array([0.0, 1.0, 1e-50, 0.5])
    t = np.array([1.0, 0.0, 1.0, 1.0])
    check_op([x, t], lambda x, t: TF.binary_cross_entropy(x, t, reduction="none"),
             lambda x, t: F.binary_cross_entropy(x, t, reduction="none"),
             requires_grad=[False, False])
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(lamina.tensor([1.5]), lamina.tensor([1.0]))
    with pytest.raises(ValueError, match="size"):
        F.binary_cross_entropy(lamina.tensor([0.5, 0.5]), lamina.tensor([1.0]))


@requires_torch
@pytest.mark.parametrize("reduction", REDS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos", [False, True])
def test_bce_with_logits_matches_torch(reduction, weighted, pos):
    rng = np.random.default_rng(1)
    x = rng.normal(0, 3, size=(5, 3))
    t = rng.uniform(0, 1, size=(5, 3))
    w = rng.uniform(0.5, 2, size=(5, 1)) if weighted else None
    pw = rng.uniform(0.5, 3, size=(3,)) if pos else None
    tx, tt = _t(x, True), _t(t, True)
    lx, lt = _l(x, True), _l(t, True)
    want = TF.binary_cross_entropy_with_logits(
        tx, tt, None if w is None else _t(w), reduction=reduction,
        pos_weight=None if pw is None else _t(pw))
    got = F.binary_cross_entropy_with_logits(
        lx, lt, None if w is None else _l(w), reduction=reduction,
        pos_weight=None if pw is None else _l(pw))
    np.testing.assert_allclose(got.data, want.detach().numpy(), rtol=1e-7, atol=1e-10)
    want.sum().backward()
    got.sum().backward()
    np.testing.assert_allclose(lx.grad.data, tx.grad.numpy(), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(lt.grad.data, tt.grad.numpy(), rtol=1e-7, atol=1e-10)
    # the module form
    m = nn.BCEWithLogitsLoss(None if w is None else _l(w), reduction=reduction,
                             pos_weight=None if pw is None else _l(pw))
    np.testing.assert_allclose(m(_l(x), _l(t)).data, want.detach().numpy(), rtol=1e-7)


@requires_torch
def test_bce_with_logits_is_stable_for_large_logits():
    x = np.array([-800.0, -50.0, 0.0, 50.0, 800.0])
    t = np.array([1.0, 0.0, 0.5, 1.0, 0.0])
    check_op([x, t], lambda x, t: TF.binary_cross_entropy_with_logits(x, t, reduction="none"),
             lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="none"))


def test_bce_gradcheck():
    check_grad(lambda x, t: F.binary_cross_entropy(x, t), [(3, 2), (3, 2)], low=0.1,
               high=0.9)
    check_grad(lambda x, t: F.binary_cross_entropy_with_logits(
        x, t, pos_weight=lamina.tensor([2.0, 0.5], dtype=lamina.float64)), [(3, 2), (3, 2)])


# --- cross-entropy ---------------------------------------------------------------------------

def _ce_case(shape, dtype=np.float64, seed=0, ignore=False):
    rng = np.random.default_rng(seed)
    c = shape[1] if len(shape) > 1 else shape[0]
    x = rng.normal(0, 2, size=shape).astype(dtype)
    tshape = (shape[0], *shape[2:]) if len(shape) > 1 else ()
    t = rng.integers(0, c, size=tshape)
    if ignore and t.size > 1:
        t.flat[::3] = -100 if ignore is True else ignore
    return x, t, c


def _compare_ce(x, t, tkw, lkw=None, tfn=None, lfn=None, rtol=1e-7, atol=1e-10):
    tfn = tfn or TF.cross_entropy
    lfn = lfn or F.cross_entropy
    lkw = tkw if lkw is None else lkw
    tx, lx = _t(x, True), _l(x, True)
    soft = np.asarray(t).dtype.kind == "f"   # probability targets are differentiable too
    tt = torch.tensor(t, requires_grad=soft)
    lt = lamina.tensor(t, requires_grad=soft)
    want = tfn(tx, tt, **{k: (_t(v) if isinstance(v, np.ndarray) else v)
                          for k, v in tkw.items()})
    got = lfn(lx, lt, **{k: (_l(v) if isinstance(v, np.ndarray) else v)
                         for k, v in lkw.items()})
    assert got.shape == tuple(want.shape)
    assert got.dtype == want.detach().numpy().dtype
    np.testing.assert_allclose(got.data, want.detach().numpy(), rtol=rtol, atol=atol,
                               equal_nan=True)
    gseed = np.random.default_rng(5).normal(size=want.shape)
    want.backward(torch.tensor(gseed, dtype=want.dtype))
    got.backward(lamina.tensor(gseed, dtype=got.dtype))
    np.testing.assert_allclose(lx.grad.data, tx.grad.numpy(), rtol=rtol, atol=atol,
                               equal_nan=True)
    return tt, lt


@requires_torch
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5), (2, 3, 2, 2), (5,)])
@pytest.mark.parametrize("reduction", REDS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_class_indices(shape, reduction, weighted, ignore, smoothing):
    x, t, c = _ce_case(shape, ignore=ignore)
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    if weighted:
        kw["weight"] = np.random.default_rng(2).uniform(0.2, 2.0, size=c)
    _compare_ce(x, t, kw)


@requires_torch
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5), (4,)])
@pytest.mark.parametrize("reduction", REDS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_probability_targets(shape, reduction, weighted, smoothing):
    rng = np.random.default_rng(3)
    x = rng.normal(size=shape)
    cdim = 1 if len(shape) > 1 else 0
    p = rng.uniform(size=shape)
    p = p / p.sum(axis=cdim, keepdims=True)
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    if weighted:
        kw["weight"] = rng.uniform(0.2, 2.0, size=shape[cdim])
    tt, lt = _compare_ce(x, p, kw)
    np.testing.assert_allclose(lt.grad.data, tt.grad.numpy(), rtol=1e-7, atol=1e-10)


@requires_torch
def test_cross_entropy_one_hot_float_target_and_custom_ignore_index():
    x, t, c = _ce_case((8, 5))
    onehot = np.eye(c)[t]
    _compare_ce(x, onehot, {})
    x, t, c = _ce_case((9, 5), ignore=2)
    _compare_ce(x, t, dict(ignore_index=2, weight=np.arange(1.0, 6.0)))


@requires_torch
def test_cross_entropy_all_ignored_is_nan_like_torch():
    x = np.random.default_rng(0).normal(size=(3, 4))
    t = np.full(3, -100)
    _compare_ce(x, t, {})


@requires_torch
def test_cross_entropy_float32_and_module():
    x, t, c = _ce_case((128, 10), dtype=np.float32)
    _compare_ce(x, t, {}, rtol=1e-5, atol=1e-6)
    w = np.linspace(0.5, 1.5, 10).astype(np.float32)
    _compare_ce(x, t, dict(weight=w, label_smoothing=0.1), rtol=1e-5, atol=1e-6,
                tfn=lambda a, b, **k: torch.nn.CrossEntropyLoss(**k)(a, b),
                lfn=lambda a, b, **k: nn.CrossEntropyLoss(**k)(a, b))
    m = nn.CrossEntropyLoss(weight=lamina.tensor(w))
    assert list(m.state_dict()) == list(torch.nn.CrossEntropyLoss(torch.tensor(w))
                                        .state_dict())


def test_cross_entropy_gradcheck():
    t = lamina.tensor([0, 2, -100, 1])
    w = lamina.tensor([0.5, 2.0, 1.5], dtype=lamina.float64)
    check_grad(lambda x: F.cross_entropy(x, t), [(4, 3)])
    check_grad(lambda x: F.cross_entropy(x, t, weight=w, label_smoothing=0.25), [(4, 3)])
    check_grad(lambda x: F.cross_entropy(x, t, weight=w, reduction="none"), [(4, 3)])
    t2 = lamina.tensor([[0, 2], [1, 1]])
    check_grad(lambda x: F.cross_entropy(x, t2, label_smoothing=0.1, reduction="sum"),
               [(2, 3, 2)])
    p = lamina.tensor([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]], dtype=lamina.float64)
    check_grad(lambda x: F.cross_entropy(x, p, weight=w, label_smoothing=0.2), [(2, 3)])
    check_grad(lambda x, q: F.cross_entropy(x, q, weight=w, label_smoothing=0.2,
                                            reduction="none"), [(2, 3, 2), (2, 3, 2)])


@requires_torch
def test_cross_entropy_errors():
    x = lamina.randn(4, 3)
    with pytest.raises(IndexError, match="out of bounds"):
        F.cross_entropy(x, lamina.tensor([0, 1, 3, 0]))
    with pytest.raises(ValueError, match="batch_size"):
        F.cross_entropy(x, lamina.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="weight"):
        F.cross_entropy(x, lamina.tensor([0, 1, 2, 0]), weight=lamina.ones(4))
    with pytest.raises(RuntimeError, match="shape"):
        F.cross_entropy(x, lamina.randn(4, 2))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, lamina.tensor([0, 1, 2, 0]), label_smoothing=1.5)


# --- NLL and KL ------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5), (4,)])
@pytest.mark.parametrize("reduction", REDS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [False, True])
def test_nll_loss_matches_torch(shape, reduction, weighted, ignore):
    x, t, c = _ce_case(shape, ignore=ignore)
    kw = dict(reduction=reduction)
    if weighted:
        kw["weight"] = np.random.default_rng(2).uniform(0.2, 2.0, size=c)
    _compare_ce(x, t, kw, tfn=TF.nll_loss, lfn=F.nll_loss)


@requires_torch
def test_nll_of_log_softmax_equals_cross_entropy():
    x, t, c = _ce_case((7, 5))
    a = F.nll_loss(F.log_softmax(lamina.tensor(x), 1), lamina.tensor(t))
    b = F.cross_entropy(lamina.tensor(x), lamina.tensor(t))
    np.testing.assert_allclose(a.data, b.data, rtol=1e-12)
    check_grad(lambda z: F.nll_loss(z, lamina.tensor(t[:3]), reduction="sum"), [(3, 5)])


@requires_torch
@pytest.mark.filterwarnings("ignore:reduction. .mean. divides")
@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(reduction, log_target):
    rng = np.random.default_rng(4)
    x = np.log(rng.dirichlet(np.ones(5), size=4))
    t = rng.dirichlet(np.ones(5), size=4)
    if log_target:
        t = np.log(t)
    check_op([x, t], lambda x, t: TF.kl_div(x, t, reduction=reduction, log_target=log_target),
             lambda x, t: F.kl_div(x, t, reduction=reduction, log_target=log_target))
    m = nn.KLDivLoss(reduction=reduction, log_target=log_target)
    want = torch.nn.KLDivLoss(reduction=reduction, log_target=log_target)(_t(x), _t(t))
    np.testing.assert_allclose(m(_l(x), _l(t)).data, want.numpy(), rtol=1e-7)


@requires_torch
def test_kl_div_zero_target():
    x = np.log(np.array([[0.2, 0.3, 0.5]]))
    t = np.array([[0.0, 0.4, 0.6]])
    check_op([x, t], lambda x, t: TF.kl_div(x, t, reduction="sum"),
             lambda x, t: F.kl_div(x, t, reduction="sum"), requires_grad=[True, False])


@requires_torch
def test_loss_module_reprs_and_legacy_flags():
    assert repr(nn.MSELoss()) == repr(torch.nn.MSELoss())
    assert nn.MSELoss(size_average=False).reduction == "sum"
    assert nn.L1Loss(reduce=False).reduction == "none"
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"


@requires_torch
@given(n=st.integers(1, 5), c=st.integers(1, 6), extra=st.integers(0, 3),
       smoothing=st.sampled_from([0.0, 0.15]), reduction=st.sampled_from(REDS),
       seed=st.integers(0, 1000))
def test_cross_entropy_shapes_hypothesis(n, c, extra, smoothing, reduction, seed):
    shape = (n, c) + ((extra,) if extra else ())
    x, t, _ = _ce_case(shape, seed=seed, ignore=seed % 2 == 0)
    _compare_ce(x, t, dict(reduction=reduction, label_smoothing=smoothing))
