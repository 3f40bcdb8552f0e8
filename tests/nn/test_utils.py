"""nn.utils against torch.nn.utils: gradient clipping (returned norm and clipped grads),
parameter/vector conversion, and the L1/L2 penalties."""

import math

import numpy as np
import pytest

import lamina
import lamina.nn as nn
from tests.helpers import check_grad, requires_torch, torch


def _pair_with_grads(scale=1.0):
    lm = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3))
    tm = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3))
    lm.double()
    tm.double()
    lm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    x = np.random.default_rng(0).normal(size=(7, 5)) * scale
    (tm(torch.tensor(x)) ** 2).sum().backward()
    (lm(lamina.tensor(x)) ** 2).sum().backward()
    return lm, tm


@requires_torch
@pytest.mark.parametrize("max_norm,norm_type", [(0.5, 2.0), (1e6, 2.0), (0.3, 1.0),
                                                (0.1, math.inf), (0.7, 3.0)])
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
    lm, tm = _pair_with_grads()
    tn = torch.nn.utils.clip_grad_norm_(tm.parameters(), max_norm, norm_type)
    ln = nn.utils.clip_grad_norm_(lm.parameters(), max_norm, norm_type)
    assert isinstance(ln, lamina.Tensor) and ln.ndim == 0
    np.testing.assert_allclose(ln.item(), tn.item(), rtol=1e-10)
    for (name, p), tp in zip(lm.named_parameters(), tm.parameters()):
        np.testing.assert_allclose(p.grad._data, tp.grad.numpy(), rtol=1e-10, err_msg=name)


@requires_torch
def test_clip_grad_norm_edge_cases():
    p = nn.Parameter(lamina.ones(3))
    assert nn.utils.clip_grad_norm_([p], 1.0).item() == 0.0          # no grads at all
    p.grad = lamina.tensor([float("inf"), 1.0, 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    q = nn.Parameter(lamina.ones(2))
    q.grad = lamina.tensor([3.0, 4.0])
    assert nn.utils.clip_grad_norm_(q, 10.0).item() == pytest.approx(5.0)
    np.testing.assert_allclose(q.grad._data, [3.0, 4.0])             # below max: untouched


@requires_torch
def test_clip_grad_value_matches_torch():
    lm, tm = _pair_with_grads(scale=3.0)
    torch.nn.utils.clip_grad_value_(tm.parameters(), 0.2)
    assert nn.utils.clip_grad_value_(lm.parameters(), 0.2) is None
    for p, tp in zip(lm.parameters(), tm.parameters()):
        np.testing.assert_allclose(p.grad._data, tp.grad.numpy(), rtol=1e-12)
    assert max(np.abs(p.grad._data).max() for p in lm.parameters()) <= 0.2


@requires_torch
def test_parameters_to_vector_and_back():
    lm, tm = _pair_with_grads()
    v = nn.utils.parameters_to_vector(lm.parameters())
    tv = torch.nn.utils.parameters_to_vector(tm.parameters())
    np.testing.assert_array_equal(v._data, tv.detach().numpy())
    assert v.requires_grad
    (v * v).sum().backward()      # differentiable: grads flow back to every parameter
    w = lm[0].weight
    new = lamina.tensor(np.arange(v.numel(), dtype=np.float64))
    nn.utils.vector_to_parameters(new, lm.parameters())
    assert lm[0].weight is w
    np.testing.assert_array_equal(w._data.ravel(), np.arange(20))
    np.testing.assert_array_equal(nn.utils.parameters_to_vector(lm.parameters())._data,
                                  new._data)
    with pytest.raises(RuntimeError):
        nn.utils.vector_to_parameters(lamina.zeros(3, dtype=lamina.float64), lm.parameters())


def test_penalties_values_and_grads():
    m = nn.Linear(3, 2).double()
    w, b = m.weight._data, m.bias._data
    l1 = nn.utils.l1_penalty(m, weight=0.1)
    l2 = nn.utils.l2_penalty(m.parameters(), weight=0.01)
    np.testing.assert_allclose(l1.item(), 0.1 * (np.abs(w).sum() + np.abs(b).sum()))
    np.testing.assert_allclose(l2.item(), 0.01 * ((w ** 2).sum() + (b ** 2).sum()))
    (l1 + l2).backward()
    np.testing.assert_allclose(m.weight.grad._data, 0.1 * np.sign(w) + 0.02 * w)
    # weights only: the caller filters
    only_w = [p for n, p in m.named_parameters() if n.endswith("weight")]
    np.testing.assert_allclose(nn.utils.l2_penalty(only_w).item(), (w ** 2).sum())
    check_grad(lambda a, c: nn.utils.l2_penalty([a, c], weight=0.3) +
               nn.utils.l1_penalty([a], weight=0.2), [(3, 2), (4,)])
