"""lamina.distributions against torch.distributions on the same float64 parameters: values and
parameter gradients of log_prob, entropy, cdf/icdf, mean/variance and KL; sample moments
against the formulas; rsample's pathwise gradients on the same noise; validation errors."""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina import distributions as D
from tests.helpers import requires_torch, torch

pytestmark = requires_torch
TOL = dict(rtol=1e-7, atol=1e-10)
R = np.random.default_rng(0)
B = (3, 4)


def _pos(shape, lo=0.5, hi=3.0):
    return R.uniform(lo, hi, shape)


def _pd(shape, n):
    a = R.normal(size=shape + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


# name -> (param arrays, lamina ctor, torch ctor, value sampler, has cdf, has icdf)
CASES = {
    "Normal": (dict(loc=R.normal(size=B), scale=_pos(B)), None, None,
               lambda: R.normal(size=(2,) + B), True, True),
    "Bernoulli-probs": (dict(probs=R.uniform(0.05, 0.95, B)), "Bernoulli", None,
                        lambda: R.integers(0, 2, (2,) + B).astype(float), False, False),
    "Bernoulli-logits": (dict(logits=R.normal(size=B) * 3), "Bernoulli", None,
                         lambda: R.integers(0, 2, (2,) + B).astype(float), False, False),
    "Categorical-probs": (dict(probs=R.uniform(0.1, 1, B + (5,))), "Categorical", None,
                          lambda: R.integers(0, 5, (2,) + B), False, False),
    "Categorical-logits": (dict(logits=R.normal(size=B + (5,))), "Categorical", None,
                           lambda: R.integers(0, 5, (2,) + B), False, False),
    "OneHotCategorical": (dict(logits=R.normal(size=B + (5,))), None, None,
                          lambda: np.eye(5)[R.integers(0, 5, (2,) + B)], False, False),
    "Uniform": (dict(low=R.uniform(-1, 0.9, B), high=R.uniform(2, 4, B)), None, None,
                lambda: R.uniform(1.0, 1.9, (2,) + B), True, True),
    "Beta": (dict(concentration1=_pos(B), concentration0=_pos(B)), None, None,
             lambda: R.uniform(0.05, 0.95, (2,) + B), False, False),
    "Gamma": (dict(concentration=_pos(B), rate=_pos(B)), None, None,
              lambda: _pos((2,) + B, 0.1, 4), False, False),
    "Exponential": (dict(rate=_pos(B)), None, None, lambda: _pos((2,) + B, 0.1, 4), True, True),
    "Laplace": (dict(loc=R.normal(size=B), scale=_pos(B)), None, None,
                lambda: R.normal(size=(2,) + B) * 2, True, True),
    "MVN-cov": (dict(loc=R.normal(size=(3, 4)), covariance_matrix=_pd((3,), 4)),
                "MultivariateNormal", None, lambda: R.normal(size=(2, 3, 4)), False, False),
    "MVN-tril": (dict(loc=R.normal(size=(3, 4)),
                      scale_tril=np.linalg.cholesky(_pd((3,), 4))),
                 "MultivariateNormal", None, lambda: R.normal(size=(2, 3, 4)), False, False),
    "MVN-prec": (dict(loc=R.normal(size=(4,)), precision_matrix=_pd((3,), 4)),
                 "MultivariateNormal", None, lambda: R.normal(size=(2, 3, 4)), False, False),
}


def _make(case, requires_grad=True):
    params, cls_name, _, value_fn, *_ = CASES[case]
    cls_name = cls_name or case
    lp = {k: lamina.tensor(v, requires_grad=requires_grad) for k, v in params.items()}
    tp = {k: torch.tensor(v, requires_grad=requires_grad) for k, v in params.items()}
    ld = getattr(D, cls_name)(**lp)
    td = getattr(torch.distributions, cls_name)(**tp)
    return ld, td, lp, tp


def _close(a, b, msg="", **tol):
    a = a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    assert a.shape == b.shape, f"{msg}: shape {a.shape}, PyTorch {b.shape}"
    np.testing.assert_allclose(a, b, err_msg=msg, equal_nan=True, **(tol or TOL))


def _grads(lp, tp, msg, **tol):
    for k in lp:
        if tp[k].grad is None:
            assert lp[k].grad is None or np.allclose(lp[k].grad.numpy(), 0), f"{msg} {k}"
            continue
        assert lp[k].grad is not None, f"{msg}: no gradient for {k}"
        _close(lp[k].grad, tp[k].grad, f"{msg}: gradient of {k}", **tol)


@pytest.mark.parametrize("case", list(CASES))
def test_log_prob_and_its_gradient_match_pytorch(case):
    ld, td, lp, tp = _make(case)
    value = CASES[case][3]()
    lv = ld.log_prob(lamina.tensor(value))
    tv = td.log_prob(torch.tensor(value))
    _close(lv, tv, f"{case}.log_prob")
    lv.sum().backward()
    tv.sum().backward()
    _grads(lp, tp, f"{case}.log_prob", rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("case", list(CASES))
def test_entropy_and_its_gradient_match_pytorch(case):
    ld, td, lp, tp = _make(case)
    le, te = ld.entropy(), td.entropy()
    _close(le, te, f"{case}.entropy")
    le.sum().backward()
    te.sum().backward()
    _grads(lp, tp, f"{case}.entropy", rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("case", list(CASES))
def test_shapes_mean_variance_stddev_match_pytorch(case):
    ld, td, _, _ = _make(case, requires_grad=False)
    assert ld.batch_shape == tuple(td.batch_shape)
    assert ld.event_shape == tuple(td.event_shape)
    assert ld.has_rsample == td.has_rsample
    for stat in ("mean", "variance", "stddev"):
        _close(getattr(ld, stat), getattr(td, stat), f"{case}.{stat}")
    _close(ld.mode, td.mode, f"{case}.mode")


def test_beta_mode_matches_pytorch_at_the_edges():
    a = np.array([0.5, 0.5, 2.0, 1.0, 3.0])
    b = np.array([0.5, 2.0, 0.5, 1.0, 2.0])
    _close(D.Beta(lamina.tensor(a), lamina.tensor(b)).mode,
           torch.distributions.Beta(torch.tensor(a), torch.tensor(b)).mode, "Beta.mode")


@pytest.mark.parametrize("case", [c for c in CASES if CASES[c][4]])
def test_cdf_icdf_and_gradients_match_pytorch(case):
    ld, td, lp, tp = _make(case)
    value = CASES[case][3]()
    lc, tc = ld.cdf(lamina.tensor(value)), td.cdf(torch.tensor(value))
    _close(lc, tc, f"{case}.cdf")
    p = R.uniform(0.02, 0.98, (2,) + B)
    li, ti = ld.icdf(lamina.tensor(p)), td.icdf(torch.tensor(p))
    _close(li, ti, f"{case}.icdf", rtol=1e-9, atol=1e-9)
    (lc.sum() + li.sum()).backward()
    (tc.sum() + ti.sum()).backward()
    _grads(lp, tp, f"{case}.cdf+icdf", rtol=1e-6, atol=1e-9)
    _close(ld.cdf(li), lamina.tensor(p), f"{case}: cdf(icdf(p)) != p", rtol=1e-9, atol=1e-9)


KL_PAIRS = ["Normal", "Bernoulli-probs", "Bernoulli-logits", "Categorical-probs",
            "Categorical-logits", "OneHotCategorical", "Beta", "Gamma", "Exponential",
            "Laplace", "MVN-cov", "MVN-tril", "MVN-prec"]


@pytest.mark.parametrize("case", KL_PAIRS)
def test_kl_divergence_and_its_gradient_match_pytorch(case):
    p, tp_, lpp, tpp = _make(case)
    q, tq, lqp, tqp = _make(case)
    # a second, different parameter set for q: perturb within the support
    for k in lqp:
        arr = lqp[k]._data
        new = arr * 1.3 + 0.1 if "matrix" not in k and k != "scale_tril" else arr * 1.5
        if k == "probs":
            new = np.clip(arr[::-1].copy(), 0.05, 0.95)
        lqp[k] = lamina.tensor(new, requires_grad=True)
        tqp[k] = torch.tensor(new, requires_grad=True)
    cls = CASES[case][1] or case
    q = getattr(D, cls)(**lqp)
    tq = getattr(torch.distributions, cls)(**tqp)
    lk = D.kl_divergence(p, q)
    tk = torch.distributions.kl_divergence(tp_, tq)
    _close(lk, tk, f"KL({case})", rtol=1e-7, atol=1e-9)
    lk.sum().backward()
    tk.sum().backward()
    _grads(lpp, tpp, f"KL({case}) p", rtol=1e-6, atol=1e-9)
    _grads(lqp, tqp, f"KL({case}) q", rtol=1e-6, atol=1e-9)


def test_kl_uniform_and_independent_match_pytorch():
    lo, hi = R.normal(size=B), R.normal(size=B) + 3
    p = D.Uniform(lamina.tensor(lo), lamina.tensor(hi))
    q = D.Uniform(lamina.tensor(lo - 1), lamina.tensor(hi + 0.5))
    tp_ = torch.distributions.Uniform(torch.tensor(lo), torch.tensor(hi))
    tq = torch.distributions.Uniform(torch.tensor(lo - 1), torch.tensor(hi + 0.5))
    _close(D.kl_divergence(p, q), torch.distributions.kl_divergence(tp_, tq), "KL(Uniform)")
    assert np.isinf(D.kl_divergence(q, p).numpy()).all()
    ld, td, _, _ = _make("Normal")
    ld2 = D.Normal(ld.loc + 1, ld.scale * 2)
    td2 = torch.distributions.Normal(td.loc + 1, td.scale * 2)
    lk = D.kl_divergence(D.Independent(ld, 1), D.Independent(ld2, 1))
    tk = torch.distributions.kl_divergence(torch.distributions.Independent(td, 1),
                                           torch.distributions.Independent(td2, 1))
    _close(lk, tk, "KL(Independent)")


def test_register_kl_picks_the_most_specific_and_rejects_unknown_pairs():
    class MyNormal(D.Normal):
        pass

    assert float(D.kl_divergence(MyNormal(0.0, 1.0), D.Normal(0.0, 1.0))) == 0.0

    @D.register_kl(MyNormal, D.Normal)
    def _kl(p, q):
        return lamina.tensor(42.0)

    assert float(D.kl_divergence(MyNormal(0.0, 1.0), D.Normal(0.0, 1.0))) == 42.0
    assert float(D.kl_divergence(D.Normal(0.0, 1.0), D.Normal(0.0, 1.0))) == 0.0
    with pytest.raises(NotImplementedError, match="Normal.*Gamma"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Gamma(1.0, 1.0))
    with pytest.raises(TypeError, match="register_kl"):
        D.register_kl(int, D.Normal)


def test_independent_matches_pytorch():
    ld, td, lp, tp = _make("Normal")
    li, ti = D.Independent(ld, 1), torch.distributions.Independent(td, 1)
    assert li.batch_shape == (3,) and li.event_shape == (4,)
    v = R.normal(size=(2, 3, 4))
    lv, tv = li.log_prob(lamina.tensor(v)), ti.log_prob(torch.tensor(v))
    _close(lv, tv, "Independent.log_prob")
    _close(li.entropy(), ti.entropy(), "Independent.entropy")
    (lv.sum() + li.entropy().sum()).backward()
    (tv.sum() + ti.entropy().sum()).backward()
    _grads(lp, tp, "Independent")
    assert li.expand((5, 3)).batch_shape == (5, 3)


@pytest.mark.parametrize("case", ["Normal", "Bernoulli-logits", "Categorical-logits", "Gamma",
                                  "Laplace", "MVN-cov", "Exponential", "Beta"])
def test_expand_matches_pytorch(case):
    ld, td, _, _ = _make(case, requires_grad=False)
    le, te = ld.expand((2,) + ld.batch_shape), td.expand((2,) + td.batch_shape)
    assert le.batch_shape == tuple(te.batch_shape)
    _close(le.entropy(), te.entropy(), f"{case}.expand().entropy")
    value = CASES[case][3]()
    _close(le.log_prob(lamina.tensor(value)), te.log_prob(torch.tensor(value)),
           f"{case}.expand().log_prob")
    with pytest.raises(ValueError, match="expand"):
        ld.expand((7,))


# --- sampling ----------------------------------------------------------------------------

MOMENT_CASES = ["Normal", "Bernoulli-probs", "Uniform", "Beta", "Gamma", "Exponential",
                "Laplace", "MVN-cov", "OneHotCategorical"]


@pytest.mark.parametrize("case", MOMENT_CASES)
def test_sample_moments_match_the_formulas(case):
    ld, _, _, _ = _make(case, requires_grad=False)
    n = 20000
    x = ld.sample((n,), generator=lamina.Generator(1)).numpy()
    assert x.shape == (n,) + ld.batch_shape + ld.event_shape
    mean, var = ld.mean.numpy(), ld.variance.numpy()
    # the sample mean's standard error is sqrt(var / n); allow 5 of them (and the variance's
    # a looser relative bound: its standard error depends on the fourth moment)
    assert np.all(np.abs(x.mean(0) - mean) < 5 * np.sqrt(var / n) + 1e-12), case
    np.testing.assert_allclose(x.var(0), var, rtol=0.1, atol=1e-12, err_msg=case)
    assert np.all(ld.support.check(lamina.tensor(x))) if ld.support is not None else True


def test_categorical_sample_frequencies_match_probs():
    probs = np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]])
    d = D.Categorical(probs=lamina.tensor(probs))
    x = d.sample((20000,), generator=lamina.Generator(0)).numpy()
    assert x.dtype == np.int64 and x.shape == (20000, 2)
    freq = np.stack([(x == k).mean(0) for k in range(3)], -1)
    assert np.all(np.abs(freq - probs) < 5 * np.sqrt(probs * (1 - probs) / 20000))


def test_sampling_is_seeded():
    lamina.manual_seed(3)
    a = D.Normal(0.0, 1.0).sample((5,)).numpy()
    lamina.manual_seed(3)
    b = D.Normal(0.0, 1.0).sample((5,)).numpy()
    c = D.Normal(0.0, 1.0).sample((5,), generator=lamina.Generator(3)).numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    s = D.Normal(lamina.zeros(2, requires_grad=True), 1.0).sample((3,))
    assert not s.requires_grad


@pytest.mark.parametrize("case,noise", [
    ("Normal", lambda d, x: (x - d.loc) / d.scale),
    ("Uniform", lambda d, x: (x - d.low) / (d.high - d.low)),
    ("Exponential", lambda d, x: x * d.rate),
    ("Laplace", lambda d, x: (x - d.loc) / d.scale),
])
def test_rsample_pathwise_gradient_matches_pytorch_on_the_same_noise(case, noise):
    ld, td, lp, tp = _make(case)
    x = ld.rsample((6,), generator=lamina.Generator(0))
    assert x.requires_grad
    with lamina.no_grad():
        eps = torch.tensor(noise(ld, x).numpy())
    fn = {"Normal": lambda d: d.loc + eps * d.scale,
          "Uniform": lambda d: d.low + eps * (d.high - d.low),
          "Exponential": lambda d: eps / d.rate,
          "Laplace": lambda d: d.loc + eps * d.scale}[case]
    tx = fn(td)
    _close(x, tx, f"{case}.rsample")
    (x.square().sum()).backward()
    (tx.square().sum()).backward()
    _grads(lp, tp, f"{case}.rsample", rtol=1e-6, atol=1e-9)


def test_mvn_rsample_pathwise_gradient_matches_pytorch():
    ld, td, lp, tp = _make("MVN-cov")
    x = ld.rsample((5,), generator=lamina.Generator(0))
    with lamina.no_grad():
        lo = np.linalg.cholesky(lp["covariance_matrix"].detach().numpy())
        eps = np.linalg.solve(lo, (x - ld.loc).numpy()[..., None])
    tx = td.loc + (td.scale_tril @ torch.tensor(eps)).squeeze(-1)
    _close(x, tx, "MVN.rsample")
    x.square().sum().backward()
    tx.square().sum().backward()
    _grads(lp, tp, "MVN.rsample", rtol=1e-6, atol=1e-9)


def test_mvn_matrices_agree_with_pytorch():
    ld, td, _, _ = _make("MVN-prec", requires_grad=False)
    for name in ("covariance_matrix", "precision_matrix", "scale_tril"):
        _close(getattr(ld, name), getattr(td, name), f"MVN.{name}", rtol=1e-9, atol=1e-12)


def test_gamma_rsample_gradient_matches_pytorch_on_the_same_draws():
    # PyTorch's d(draw)/d(concentration) is an approximation good to about 1e-3 relative
    # (torch._standard_gamma_grad); lamina's is the implicit gradient to about 1e-9
    ld, td, lp, tp = _make("Gamma")
    x = ld.rsample((50,), generator=lamina.Generator(0))
    std = torch.tensor((x * ld.rate).detach().numpy())        # the standard Gamma draws
    conc = tp["concentration"].expand(std.shape)
    dxda = torch._standard_gamma_grad(conc.detach(), std)
    # rebuild the draw in PyTorch with that gradient attached: x = (s + (a - a.detach()) s') / b
    tx = (std + (conc - conc.detach()) * dxda) / tp["rate"]
    _close(x, tx, "Gamma.rsample")
    x.sum().backward()
    tx.sum().backward()
    _grads(lp, tp, "Gamma.rsample", rtol=2e-3, atol=1e-9)


def test_beta_rsample_is_differentiable_and_in_the_support():
    a = lamina.tensor([0.7, 2.0, 5.0], dtype=lamina.float64, requires_grad=True)
    b = lamina.tensor([1.5, 2.0, 0.4], dtype=lamina.float64, requires_grad=True)
    x = D.Beta(a, b).rsample((2000,), generator=lamina.Generator(0))
    assert ((x.detach().numpy() > 0) & (x.detach().numpy() < 1)).all()
    x.mean().backward()
    # d E[x] / da = b / (a + b)^2 > 0 and d E[x] / db = -a / (a + b)^2 < 0
    assert (a.grad.numpy() > 0).all() and (b.grad.numpy() < 0).all()
    an, bn = a.detach().numpy(), b.detach().numpy()
    np.testing.assert_allclose(a.grad.numpy() * 3, bn / (an + bn) ** 2, rtol=0.15)


# --- validation --------------------------------------------------------------------------

@pytest.mark.parametrize("make,match", [
    (lambda: D.Normal(0.0, -1.0), "Normal: expected parameter scale"),
    (lambda: D.Normal("a", 1.0), "Normal: loc must be a Tensor or a real number, got str"),
    (lambda: D.Normal(lamina.zeros(3), lamina.ones(2)), "Normal: the shapes of loc"),
    (lambda: D.Bernoulli(probs=1.5), "Bernoulli: expected parameter probs"),
    (lambda: D.Bernoulli(probs=0.5, logits=0.0), "Bernoulli: expected exactly one"),
    (lambda: D.Categorical(), "Categorical: expected exactly one of probs or logits"),
    (lambda: D.Categorical(probs=lamina.tensor([0.5, -0.1])), "Categorical: .*non-negative"),
    (lambda: D.Categorical(logits=lamina.tensor(1.0)), "Categorical: logits must have"),
    (lambda: D.Uniform(1.0, 0.0), "Uniform: expected low < high"),
    (lambda: D.Beta(0.0, 1.0), "Beta: expected parameter concentration1"),
    (lambda: D.Gamma(1.0, -2.0), "Gamma: expected parameter rate"),
    (lambda: D.Exponential(0.0), "Exponential: expected parameter rate"),
    (lambda: D.Laplace(0.0, 0.0), "Laplace: expected parameter scale"),
    (lambda: D.MultivariateNormal(lamina.zeros(2)), "MultivariateNormal: expected exactly"),
    (lambda: D.MultivariateNormal(lamina.zeros(2), lamina.eye(3)),
     "MultivariateNormal: covariance_matrix must be"),
    (lambda: D.MultivariateNormal(lamina.zeros(2), -lamina.eye(2)),
     "MultivariateNormal: expected parameter covariance_matrix"),
    (lambda: D.Independent(D.Normal(0.0, 1.0), 1), "Independent: expected reinterpreted"),
    (lambda: D.Normal(0.0, 1.0, validate_args=3), "Normal: validate_args must be"),
])
def test_bad_parameters_raise_naming_the_distribution(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_values_outside_the_support_raise():
    with pytest.raises(ValueError, match=r"Bernoulli.log_prob: expected value to lie in"):
        D.Bernoulli(probs=0.3).log_prob(lamina.tensor(0.5))
    with pytest.raises(ValueError, match=r"Categorical.log_prob: expected value"):
        D.Categorical(logits=lamina.zeros(3)).log_prob(lamina.tensor(3))
    with pytest.raises(ValueError, match=r"Gamma.log_prob: expected value"):
        D.Gamma(1.0, 1.0).log_prob(lamina.tensor(-1.0))
    with pytest.raises(ValueError, match=r"MultivariateNormal.log_prob: value of shape"):
        D.MultivariateNormal(lamina.zeros(2), lamina.eye(2)).log_prob(lamina.zeros(3))
    with pytest.raises(TypeError, match=r"Normal.log_prob: value must be a Tensor"):
        D.Normal(0.0, 1.0).log_prob("x")
    with pytest.raises(TypeError, match=r"Normal.rsample: generator"):
        D.Normal(0.0, 1.0).rsample(generator=3)
    # validate_args=False skips the checks, as in PyTorch
    d = D.Normal(0.0, -1.0, validate_args=False)
    assert d.scale.item() == -1.0


def test_float32_parameters_give_float32_results():
    loc = lamina.zeros(3)                                    # float32, the default
    for d in (D.Normal(loc, 1.0), D.Laplace(loc, 2.0), D.Gamma(loc + 2, 1.0),
              D.Categorical(logits=lamina.zeros(3, 4)), D.Bernoulli(logits=loc)):
        x = d.sample((2,))
        assert d.log_prob(x).dtype == lamina.float32, type(d).__name__
        assert d.entropy().dtype == lamina.float32, type(d).__name__
        if x.dtype.kind == "f":
            assert x.dtype == lamina.float32, type(d).__name__
    assert D.Normal(0.0, 1.0).log_prob(0.5).dtype == lamina.float32
