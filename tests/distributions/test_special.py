"""The special functions and matrix ops behind lamina.distributions against PyTorch: values and
gradients in float64."""

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
    check_op([x], lambda t: getattr(torch, name)(t), lambda t: getattr(S, name)(t),
             rtol=1e-9, atol=1e-11, grad_rtol=1e-8, grad_atol=1e-8)


def test_erf_and_erfinv_match_pytorch():
    check_op([(5, 7)], torch.erf, S.erf, rtol=1e-12, atol=1e-14, low=-3, high=3)
    check_op([(5, 7)], torch.erfinv, S.erfinv, rtol=1e-9, atol=1e-12, low=-0.99, high=0.99)


def _spd(n, batch=()):
    a = np.random.default_rng(1).normal(size=batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def test_cholesky_inverse_and_solve_triangular_match_pytorch():
    a = _spd(4, (2,))
    check_op([a], lambda t: torch.linalg.cholesky(t), lambda t: S.cholesky(t),
             rtol=1e-9, atol=1e-12, grad_rtol=1e-7, grad_atol=1e-9)
    check_op([a], lambda t: torch.linalg.inv(t), lambda t: S.inverse(t),
             rtol=1e-9, atol=1e-12, grad_rtol=1e-7, grad_atol=1e-9)
    lo = np.linalg.cholesky(a)
    check_op([lo, (2, 4, 3)],
             lambda l_, b: torch.linalg.solve_triangular(l_.tril(), b, upper=False),
             lambda l_, b: S.solve_triangular(l_, b), rtol=1e-9, atol=1e-11,
             grad_rtol=1e-7, grad_atol=1e-9)
    check_op([a], lambda t: torch.diagonal(t, dim1=-2, dim2=-1), lambda t: S.diagonal(t))
    check_op([(3, 4)], torch.nn.functional.softplus, S.softplus, low=-30, high=30)


def test_bad_inputs_name_the_function():
    with pytest.raises(ValueError, match="cholesky: the input is not positive-definite"):
        S.cholesky(-lamina.eye(2, dtype=lamina.float64))
    with pytest.raises(ValueError, match=r"inverse: expected a \(batch of\) square"):
        S.inverse(lamina.zeros(2, 3))
    with pytest.raises(TypeError, match="lgamma: expected a Tensor, got float"):
        S.lgamma(1.0)
    with pytest.raises(ValueError, match="solve_triangular: B of shape"):
        S.solve_triangular(lamina.eye(2), lamina.zeros(3, 1))
