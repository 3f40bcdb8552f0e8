"""Element-wise math from ops/special.py: values and gradients against PyTorch (float64,
rtol 1e-7), hypothesis shapes with broadcasting, gradcheck, extremes, NaN/Inf and errors."""

import numpy as np
import pytest
from hypothesis import given

import lamina
from tests.helpers import check_grad, check_op, check_raises_like, requires_torch, torch
from tests.strategies import broadcastable_pair, shapes

# name -> (the lambda, the input range)
UNARY = {
    "tan": (lambda x: x.tan(), dict(low=-1.2, high=1.2)),
    "asin": (lambda x: x.asin(), dict(low=-0.95, high=0.95)),
    "acos": (lambda x: x.acos(), dict(low=-0.95, high=0.95)),
    "atan": (lambda x: x.atan(), {}),
    "sinh": (lambda x: x.sinh(), {}),
    "cosh": (lambda x: x.cosh(), {}),
    "asinh": (lambda x: x.asinh(), {}),
    "acosh": (lambda x: x.acosh(), dict(low=1.1, high=5.0)),
    "atanh": (lambda x: x.atanh(), dict(low=-0.95, high=0.95)),
    "exp2": (lambda x: x.exp2(), {}),
    "expm1": (lambda x: x.expm1(), {}),
    "log2": (lambda x: x.log2(), dict(positive=True)),
    "log10": (lambda x: x.log10(), dict(positive=True)),
    "erf": (lambda x: x.erf(), dict(low=-4.0, high=4.0)),
    "erfc": (lambda x: x.erfc(), dict(low=-4.0, high=8.0)),
    "erfinv": (lambda x: x.erfinv(), dict(low=-0.999, high=0.999)),
    "lgamma": (lambda x: x.lgamma(), dict(low=-4.5, high=20.0)),
    "digamma": (lambda x: x.digamma(), dict(low=0.1, high=20.0)),
    "trunc": (lambda x: x.trunc(), dict(low=-5.0, high=5.0)),
    "frac": (lambda x: x.frac(), dict(low=-5.0, high=5.0)),
    "sinc": (lambda x: x.sinc(), dict(low=-3.0, high=3.0)),
    "square": (lambda x: x.square(), {}),
    "nan_to_num": (lambda x: x.nan_to_num(), {}),
}

BINARY = {
    "atan2": (lambda a, b: a.atan2(b), {}),
    "logaddexp": (lambda a, b: a.logaddexp(b), {}),
    "logaddexp2": (lambda a, b: a.logaddexp2(b), {}),
    "fmod": (lambda a, b: a.fmod(b), dict(low=0.3, high=3.0)),
    "remainder": (lambda a, b: a.remainder(b), dict(low=0.3, high=3.0)),
    "mod_operator": (lambda a, b: a % b, dict(low=0.3, high=3.0)),
    "copysign": (lambda a, b: a.copysign(b), {}),
    "hypot": (lambda a, b: a.hypot(b), {}),
    "xlogy": (lambda a, b: a.xlogy(b), dict(positive=True)),
    "lerp": (lambda a, b: a.lerp(b, 0.3), {}),
    "float_power": (lambda a, b: a.float_power(b), dict(positive=True)),
}


@requires_torch
@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes())
def test_unary(name, shape):
    fn, kw = UNARY[name]
    check_op([shape], fn, **kw)


@requires_torch
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_noncontiguous_float32(name):
    fn, kw = UNARY[name]
    check_op([(3, 4)], fn, noncontiguous=True, **kw)
    check_op([(3, 4)], fn, dtype=np.float32, grad_rtol=1e-3, **kw)


@requires_torch
@pytest.mark.parametrize("name", sorted(BINARY))
@given(pair=broadcastable_pair())
def test_binary_broadcast(name, pair):
    fn, kw = BINARY[name]
    check_op(list(pair), fn, **kw)


@requires_torch
@pytest.mark.parametrize("name", ["fmod", "copysign", "xlogy"])
def test_binary_with_scalars(name):
    fn = getattr(torch, name)
    lfn = getattr(lamina, name)
    check_op([(3, 4)], lambda a: fn(a, 1.5), lambda a: lfn(a, 1.5), low=0.2)


@requires_torch
def test_fmod_remainder_gradients_and_int():
    for name in ("fmod", "remainder"):
        check_op([(4, 5), (5,)], lambda a, b, n=name: getattr(torch, n)(a, b),
                 lambda a, b, n=name: getattr(lamina, n)(a, b), low=-3.0, high=3.0)
    check_op([(4, 5)], lambda a: 2.5 % a, low=0.5, grad=False)  # torch: no derivative here
    a = np.array([-7, -3, 5, 7])
    for fn in ("fmod", "remainder"):
        r = getattr(lamina, fn)(lamina.tensor(a), 3).numpy()
        np.testing.assert_array_equal(r, getattr(torch, fn)(torch.tensor(a), 3).numpy())


@requires_torch
def test_lerp_tensor_weight():
    check_op([(3, 4), (4,), (3, 1)], lambda a, b, w: torch.lerp(a, b, w),
             lambda a, b, w: lamina.lerp(a, b, w))


@requires_torch
def test_reflected_mod_floordiv():
    for a in ([3.0, -2.0, 0.7], [3, -2, 7]):
        t, lt = torch.tensor(a), lamina.tensor(a)
        np.testing.assert_array_equal((5 % lt).numpy(), (5 % t).numpy())
        np.testing.assert_array_equal((5 // lt).numpy(), (5 // t).numpy())
        np.testing.assert_array_equal((-5.5 % lt).numpy(), (-5.5 % t).numpy())


@pytest.mark.parametrize("name", ["tan", "atan", "asinh", "erf", "erfc", "sinc", "expm1",
                                  "exp2", "sinh"])
def test_gradcheck_unary(name):
    check_grad(lambda x: getattr(lamina, name)(x), [(3, 4)])


def test_gradcheck_special():
    check_grad(lambda x: lamina.erfinv(x), [(3, 4)], low=-0.9, high=0.9)
    check_grad(lambda x: lamina.lgamma(x), [(3, 4)], low=0.3, high=6.0)
    check_grad(lambda x: lamina.digamma(x), [(3, 4)], low=0.3, high=6.0)
    check_grad(lambda a, b: lamina.atan2(a, b), [(3, 4), (4,)])
    check_grad(lambda a, b: lamina.hypot(a, b), [(3, 4), (3, 1)])
    check_grad(lambda a, b: lamina.logaddexp2(a, b), [(3, 4), (4,)])
    check_grad(lambda a, b, w: lamina.lerp(a, b, w), [(3, 4), (4,), (3, 4)])


# --- special functions over wide ranges, with extremes ---------------------------------------

def _wide():
    return np.concatenate([np.linspace(-30, 30, 20001), -np.logspace(-10, 2, 300),
                           np.logspace(-300, 300, 300),
                           [0.0, -0.0, np.inf, -np.inf, np.nan, 1e308, -1e308, 5e-324]])


def _compare_wide(name, x, rtol=1e-12, floor=1e-3):
    lo = getattr(lamina, name)(lamina.tensor(x)).numpy()
    to = getattr(torch, name)(torch.tensor(x)).numpy()
    special = ~np.isfinite(to)
    np.testing.assert_array_equal(lo[special], to[special], err_msg=f"{name}: inf/nan")
    assert np.all(np.isfinite(lo[~special])), name
    # relative where the value is not near a root (where both lose relative accuracy)
    ok = ~special & (np.abs(to) > floor)
    np.testing.assert_allclose(lo[ok], to[ok], rtol=rtol, err_msg=name)
    np.testing.assert_allclose(lo[~special], to[~special], rtol=rtol, atol=1e-12, err_msg=name)


@requires_torch
@pytest.mark.parametrize("name", ["erf", "erfc", "lgamma"])
def test_special_wide_range(name):
    x = _wide()
    if name == "erfc":
        x = x[(x < 26) | ~np.isfinite(x)]           # erfc underflows past 26.5
    _compare_wide(name, x)


@requires_torch
def test_digamma_wide_range():
    x = _wide()
    with np.errstate(invalid="ignore"):
        near_pole = (x < 0) & (np.abs(x - np.round(x)) < 1e-6)
    _compare_wide("digamma", x[~near_pole | ~np.isfinite(x)], rtol=1e-12)
    # the poles: -inf at 0, +inf at -0.0, NaN at negative integers, as PyTorch
    _compare_wide("digamma", np.array([0.0, -0.0, -1.0, -7.0, -np.inf, np.inf, np.nan]))


@requires_torch
def test_erfinv_wide_range():
    x = np.concatenate([np.linspace(-1, 1, 20001), 1 - np.logspace(-16, -1, 300),
                        -1 + np.logspace(-16, -1, 300), np.logspace(-300, -1, 100),
                        [1.0, -1.0, 1.5, -2.0, np.inf, np.nan, 0.0, -0.0]])
    _compare_wide("erfinv", x, floor=0.0)


@requires_torch
def test_trigamma_through_digamma_grad():
    x = np.concatenate([np.linspace(0.05, 40, 500), np.linspace(-9.9, -0.1, 300) + 1e-3])
    lt, tt = lamina.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    lamina.digamma(lt).sum().backward()
    torch.digamma(tt).sum().backward()
    np.testing.assert_allclose(lt.grad.numpy(), tt.grad.numpy(), rtol=1e-9)


@requires_torch
def test_nan_inf_propagation():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0])
    for name in ["tan", "atan", "sinh", "cosh", "asinh", "exp2", "expm1", "log10", "trunc",
                 "frac", "sinc", "erf", "erfc", "lgamma", "isposinf", "isneginf"]:
        lo = getattr(lamina, name)(lamina.tensor(x)).numpy()
        to = getattr(torch, name)(torch.tensor(x)).numpy()
        np.testing.assert_allclose(lo, to, rtol=1e-15, atol=0, err_msg=name)
    for kw in ({}, dict(nan=1.0, posinf=2.0, neginf=-3.0)):
        np.testing.assert_array_equal(lamina.nan_to_num(lamina.tensor(x), **kw).numpy(),
                                      torch.nan_to_num(torch.tensor(x), **kw).numpy())


@requires_torch
def test_xlogy_zero_and_nan():
    a = np.array([0.0, 0.0, 1.0, 2.0, 0.0])
    b = np.array([0.0, 3.0, 0.0, np.nan, np.nan])
    check_op([a, b], lambda x, y: torch.xlogy(x, y), lambda x, y: lamina.xlogy(x, y))


@requires_torch
def test_sinc_and_copysign_at_zero():
    check_op([np.array([0.0, 1.0, -0.5])], lambda x: x.sinc())
    check_op([np.array([0.0, -0.0, 1.0, -2.0]), np.array([-1.0, 1.0, -0.0, 3.0])],
             lambda a, b: a.copysign(b))


@requires_torch
def test_integer_inputs_promote():
    a = np.arange(1, 5)
    for name in ["tan", "atan", "erf", "lgamma", "digamma", "exp2", "log10"]:
        check_op([a], lambda x, n=name: getattr(torch, n)(x),
                 lambda x, n=name: getattr(lamina, n)(x), grad=False, rtol=1e-6)
    check_op([a, a[::-1].copy()], lambda x, y: torch.atan2(x, y),
             lambda x, y: lamina.atan2(x, y), grad=False)
    check_op([a], lambda x: torch.float_power(x, 2), lambda x: lamina.float_power(x, 2),
             grad=False)


# --- predicates ------------------------------------------------------------------------------

@requires_torch
@given(pair=broadcastable_pair())
def test_isclose_broadcast(pair):
    check_op(list(pair), lambda a, b: torch.isclose(a, b * 1.0, rtol=0.5, atol=0.1),
             lambda a, b: lamina.isclose(a, b * 1.0, rtol=0.5, atol=0.1), grad=False)


@requires_torch
def test_isclose_special_values():
    a = np.array([np.nan, np.inf, -np.inf, 1.0, 1.0 + 1e-6, np.inf])
    b = np.array([np.nan, np.inf, np.inf, 1.0, 1.0, 1e308])
    for eq in (False, True):
        np.testing.assert_array_equal(
            lamina.isclose(lamina.tensor(a), lamina.tensor(b), equal_nan=eq).numpy(),
            torch.isclose(torch.tensor(a), torch.tensor(b), equal_nan=eq).numpy())
    assert lamina.allclose(lamina.tensor(a[3:5]), lamina.tensor(b[3:5])) is True
    assert lamina.allclose(lamina.tensor(a), lamina.tensor(b)) is False
    assert lamina.tensor([1.0]).allclose(lamina.tensor([1.0]))


@requires_torch
def test_errors_like_torch():
    check_raises_like(lambda a, b: torch.isclose(a, b.float()),
                      lambda a, b: lamina.isclose(a, b.float()), [(3,), (3,)])
    check_raises_like(lambda a, b: torch.atan2(a, b), lambda a, b: lamina.atan2(a, b),
                      [(3,), (4,)])
    check_raises_like(lambda a, b: torch.hypot(a, b), lambda a, b: lamina.hypot(a, b),
                      [(2, 3), (3, 2)])
    check_raises_like(lambda a, b: torch.lerp(a, b.float(), 0.5),
                      lambda a, b: lamina.lerp(a, b.float(), 0.5), [(3,), (3,)])
    check_raises_like(lambda a: torch.fmod(a.long(), 0), lambda a: lamina.fmod(a.long(), 0),
                      [(3,)])


@requires_torch
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_noncontiguous(name):
    fn, kw = BINARY[name]
    check_op([(3, 4), (3, 4)], fn, noncontiguous=True, **kw)


def test_tensor_methods_exist():
    t = lamina.ones(2)
    for name in list(UNARY) + list(BINARY) + ["isposinf", "isneginf", "isclose", "allclose",
                                              "arcsin", "arctan2", "fix", "remainder"]:
        if name != "mod_operator":
            assert callable(getattr(t, name)), name


# --- regressions from the fuzz test (issue #12) ------------------------------------------------

def test_allclose_errors_name_allclose():
    a, b = lamina.zeros(2), lamina.zeros(2, dtype=lamina.float64)
    with pytest.raises(lamina.LaminaValueError, match="^allclose:"):
        lamina.allclose(a, b)
    with pytest.raises(lamina.LaminaTypeError, match="^allclose:"):
        lamina.allclose(a, a, rtol="a")


def test_broadcast_errors_name_the_op():
    a, b = lamina.zeros(2, 3), lamina.zeros(4)
    with pytest.raises(lamina.LaminaValueError, match="^logaddexp2:"):
        lamina.logaddexp2(a, b)
    with pytest.raises(lamina.LaminaValueError, match="^float_power:"):
        lamina.float_power(a, b)
    with pytest.raises(lamina.LaminaValueError, match="^fmod:"):
        lamina.fmod(lamina.zeros(2, 3, dtype=lamina.int64), lamina.ones(4, dtype=lamina.int64))


@pytest.mark.parametrize("bad", ["a", None])
def test_number_arguments_reject_wrong_types(bad):
    x = lamina.ones(2)
    for name, call in [("float_power", lambda: lamina.float_power(x, bad)),
                       ("lerp", lambda: lamina.lerp(x, x, bad)),
                       ("nan_to_num", lambda: lamina.nan_to_num(x, posinf="a"))]:
        with pytest.raises(lamina.LaminaTypeError, match=f"^{name}:"):
            call()


@requires_torch
def test_xlogy_number_other_keeps_float32():
    x = lamina.tensor(np.array([0.0, 3.0], np.float32))
    out = lamina.xlogy(x, 2)
    assert out.dtype == lamina.float32
    np.testing.assert_allclose(out.numpy(), torch.xlogy(torch.tensor([0.0, 3.0]), 2).numpy())


def test_nan_to_num_accepts_none_for_nan():
    out = lamina.nan_to_num(lamina.tensor([float("nan"), 1.0]), None)
    np.testing.assert_array_equal(out.numpy(), [0.0, 1.0])


@requires_torch
@pytest.mark.parametrize("w", [1.0, 0.75, -1.0, 0.25])
def test_lerp_uses_pytorchs_two_branch_formula(w):
    # weight >= 0.5 computes end - (end - start) * (1 - weight): lerp(0, inf, 1) is NaN
    a, b = np.array([0.0, 0.0, 1.0]), np.array([np.inf, 3.0, -2.0])
    got = lamina.lerp(lamina.tensor(a), lamina.tensor(b), w).numpy()
    want = torch.lerp(torch.tensor(a), torch.tensor(b), w).numpy()
    np.testing.assert_array_equal(got, want)
    wt = np.full(3, w)
    got = lamina.lerp(lamina.tensor(a), lamina.tensor(b), lamina.tensor(wt)).numpy()
    np.testing.assert_array_equal(got, torch.lerp(torch.tensor(a), torch.tensor(b),
                                                  torch.tensor(wt)).numpy())
