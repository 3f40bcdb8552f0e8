"""The special functions and matrix ops behind lamina.distributions against PyTorch: values and
gradients in float64. The public ops the distributions use (lamina.ops.special, lamina.linalg)
are checked here too, over the parameter ranges the distributions feed them."""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina.distributions import _special as S
from tests.helpers import check_op, requires_torch, torch

pytestmark = requires_torch


@pytest.mark.parametrize("name", ["lgamma", "digamma"])
def test_gamma_functions_match_pytorch(name):
    x = np.concatenate([np.linspace(0.01, 0.99, 23), np.linspace(1.0, 40.0, 31),
                        [-0.5, -1.3, -2.7]])
    # digamma's gradient (trigamma) is what the Gamma/Beta entropy and KL gradients need
    check_op([x], lambda t: getattr(torch, name)(t), lambda t: getattr(lamina, name)(t),
             rtol=1e-9, atol=1e-11, grad_rtol=1e-8, grad_atol=1e-8)


def test_erf_and_erfinv_match_pytorch():
    check_op([(5, 7)], torch.erf, lamina.erf, rtol=1e-12, atol=1e-14, low=-3, high=3)
    check_op([(5, 7)], torch.erfinv, lamina.erfinv, rtol=1e-9, atol=1e-12, low=-0.99, high=0.99)


def _spd(n, batch=()):
    a = np.random.default_rng(1).normal(size=batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def test_cholesky_inverse_and_solve_triangular_match_pytorch():
    a = _spd(4, (2,))
    check_op([a], lambda t: torch.linalg.cholesky(t), lambda t: lamina.linalg.cholesky(t),
             rtol=1e-9, atol=1e-12, grad_rtol=1e-7, grad_atol=1e-9)
    check_op([a], lambda t: torch.linalg.inv(t), lambda t: lamina.linalg.inv(t),
             rtol=1e-9, atol=1e-12, grad_rtol=1e-7, grad_atol=1e-9)
    lo = np.linalg.cholesky(a)
    check_op([lo, (2, 4, 3)],
             lambda l_, b: torch.linalg.solve_triangular(l_.tril(), b, upper=False),
             lambda l_, b: S.solve_triangular(l_, b), rtol=1e-9, atol=1e-11,
             grad_rtol=1e-7, grad_atol=1e-9)
    check_op([a], lambda t: torch.diagonal(t, dim1=-2, dim2=-1), lambda t: S.diagonal(t))
    check_op([(3, 4)], torch.nn.functional.softplus, S.softplus, low=-30, high=30)


def test_xlogy_matches_pytorch_where_the_distributions_use_it():
    # Gamma/Beta log_prob: xlogy(a - 1, value), a = 1 included (its x-gradient is log y there)
    x = np.array([0.0, 0.0, 0.5, 2.0, -1.5])
    y = np.array([0.3, 2.0, 0.7, 1.5, 4.0])
    check_op([x, y], torch.xlogy, lamina.xlogy, rtol=1e-12, atol=1e-14)


def test_bad_inputs_name_the_function():
    with pytest.raises(ValueError, match=r"diagonal: expected a \(batch of\) square"):
        S.diagonal(lamina.zeros(2, 3))
    with pytest.raises(TypeError, match="solve_triangular: expected a Tensor, got float"):
        S.solve_triangular(1.0, lamina.zeros(3, 1))
    with pytest.raises(ValueError, match="solve_triangular: B of shape"):
        S.solve_triangular(lamina.eye(2), lamina.zeros(3, 1))


def test_gammainc_and_the_implicit_gamma_gradient_match_pytorch():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.1, 30.0, 500)
    x = rng.standard_gamma(a) + 1e-12
    # PyTorch's gammainc (Cephes) is off by up to ~2e-9 relative for a near x > 20 (mpmath
    # agrees with lamina's to 1e-14 there)
    np.testing.assert_allclose(S._gammainc(a, x), torch.special.gammainc(
        torch.tensor(a), torch.tensor(x)).numpy(), rtol=1e-8, atol=1e-13)
    # PyTorch's _standard_gamma_grad is an approximation (about 1e-3 relative at worst)
    np.testing.assert_allclose(S.standard_gamma_grad(a, x), torch._standard_gamma_grad(
        torch.tensor(a), torch.tensor(x)).numpy(), rtol=2e-3)
    # and the quantile's own derivative: x(a) at fixed u = P(a, x), by bisection
    u = S._gammainc(a[:5], x[:5])

    def quantile(aa):
        lo, hi = np.zeros(5), np.full(5, 200.0)
        for _ in range(200):
            mid = (lo + hi) / 2
            below = S._gammainc(aa, mid) < u
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        return (lo + hi) / 2

    h = 1e-5
    fd = (quantile(a[:5] + h) - quantile(a[:5] - h)) / (2 * h)
    np.testing.assert_allclose(S.standard_gamma_grad(a[:5], x[:5]), fd, rtol=1e-6)
