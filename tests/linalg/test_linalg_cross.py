"""``lamina.linalg.cross``: torch.linalg.cross's default dim (the last), values and gradients."""

import numpy as np
import pytest

import lamina
from tests.helpers import requires_torch, torch


@requires_torch
@pytest.mark.parametrize("sa, sb", [((3,), (3,)), ((4, 3), (4, 3)), ((2, 1, 3), (1, 4, 3)),
                                    ((5, 2, 3), (5, 1, 3))])
def test_linalg_cross_matches_pytorch(sa, sb):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    la, lb = lamina.tensor(a, requires_grad=True), lamina.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    lo, to = lamina.linalg.cross(la, lb), torch.linalg.cross(ta, tb)
    np.testing.assert_allclose(lo.detach().numpy(), to.detach().numpy(), rtol=1e-12)
    w = rng.standard_normal(to.shape)
    (lo * lamina.tensor(w)).sum().backward()
    (to * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(la.grad.numpy(), ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(lb.grad.numpy(), tb.grad.numpy(), rtol=1e-12)


def test_linalg_cross_refuses_different_numbers_of_dims_like_pytorch():
    with pytest.raises(lamina.LaminaValueError, match="same number of dimensions"):
        lamina.linalg.cross(lamina.rand(2, 3), lamina.rand(3))


def test_linalg_cross_needs_size_3_in_the_last_dim():
    # lamina.cross(dim=None) would pick dim 0 here; linalg.cross uses the last dim
    with pytest.raises(lamina.LaminaValueError, match="cross"):
        lamina.linalg.cross(lamina.rand(3, 4), lamina.rand(3, 4))
