"""nn.RMSNorm and F.rms_norm against PyTorch (values and gradients, float64; eps=None is the
dtype's finfo eps), lamina's gradcheck; nn.GELU (both approximations) and nn.SiLU against
PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lamina
import lamina.nn.functional as F
from lamina import nn
from tests.helpers import check_grad, check_op, requires_torch, torch
from tests.nn.module_parity import check_module

pytestmark = requires_torch


@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.data())
def test_rms_norm_functional_matches_torch(shape, data):
    k = data.draw(st.integers(1, len(shape)))
    ns = tuple(shape[len(shape) - k:])
    eps = data.draw(st.sampled_from([None, 1e-5, 0.5]))
    check_op([tuple(shape), ns], lambda x, w: torch.nn.functional.rms_norm(x, ns, w, eps),
             lambda x, w: F.rms_norm(x, ns, w, eps))
    check_op([tuple(shape)], lambda x: torch.nn.functional.rms_norm(x, ns, None, eps),
             lambda x: F.rms_norm(x, ns, None, eps))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_eps_none_is_finfo_eps(dtype):
    x = np.array([[1e-5, -2e-5, 0.0]], dtype=dtype)  # mean square near eps: eps matters
    out = check_op([x], lambda t: torch.nn.functional.rms_norm(t, (3,)),
                   lambda t: F.rms_norm(t, (3,)), dtype=dtype)
    ms = np.mean(x.astype(np.float64) ** 2)
    np.testing.assert_allclose(out[0].data, x / np.sqrt(ms + np.finfo(dtype).eps),
                               rtol=1e-5)


@pytest.mark.parametrize("kw", [{}, {"eps": 1e-6}, {"elementwise_affine": False}])
@pytest.mark.parametrize("ns", [6, (3, 6)])
def test_rms_norm_module_matches_torch(kw, ns):
    tm, lm = torch.nn.RMSNorm(ns, **kw), nn.RMSNorm(ns, **kw)
    with torch.no_grad():
        for p in tm.parameters():
            p.uniform_(0.5, 1.5)
    x = np.random.default_rng(0).normal(size=(2, 3, 6))
    check_module(tm, lm, lambda m, lib, x: m(x), [x])
    assert [k for k, _ in lm.named_parameters()] == [k for k, _ in tm.named_parameters()]


def test_rms_norm_gradcheck():
    check_grad(lambda x, w: F.rms_norm(x, (3, 4), w, 1e-3), [(2, 3, 4), (3, 4)])


def test_rms_norm_errors():
    with pytest.raises(RuntimeError, match=r"rms_norm: given normalized_shape=\[5\].*\(2, 4\)"):
        nn.RMSNorm(5)(lamina.zeros(2, 4))
    with pytest.raises(RuntimeError, match="rms_norm: weight must have shape"):
        F.rms_norm(lamina.zeros(2, 4), 4, lamina.ones(3))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_module_matches_torch(approximate):
    check_op([(3, 7)], lambda x: torch.nn.GELU(approximate)(x),
             lambda x: nn.GELU(approximate)(x), low=-6, high=6)


def test_silu_module_matches_torch():
    check_op([(3, 7)], lambda x: torch.nn.SiLU()(x), lambda x: nn.SiLU()(x), low=-30, high=30)
