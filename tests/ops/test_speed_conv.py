"""The speed paths of conv2d, pooling and batch_norm (issue #4): compiled kernels against the
NumPy fallback and against PyTorch, in the memory layouts the conv benchmarks produce."""

import numpy as np
import pytest

import lamina
from lamina.ops.nn import batch_norm
from tests.helpers import requires_torch, torch


def _laid_out(a, order):
    """``a`` with the same values, its memory ordered by the axes ``order``."""
    if order is None:
        return a
    return np.ascontiguousarray(a.transpose(order)).transpose(np.argsort(order))


@requires_torch
@pytest.mark.parametrize("order", [(1, 2, 3, 0), None])
def test_batch_norm_float32_large_mean(bn_path, order):
    """A mean far from zero (1000 +- 1) keeps float32 accuracy in the statistics and both
    gradients (the sums are of centred values)."""
    rng = np.random.default_rng(3)
    xa = (rng.standard_normal((6, 4, 5, 3)) + 1000).astype(np.float32)
    ga = rng.standard_normal(xa.shape).astype(np.float32)
    x = lamina.tensor(_laid_out(xa, order), requires_grad=True)
    w = lamina.tensor(np.linspace(0.5, 2, 4).astype(np.float32), requires_grad=True)
    b = lamina.tensor(np.zeros(4, np.float32), requires_grad=True)
    rm, rv = lamina.zeros(4), lamina.ones(4)
    y = batch_norm(x, rm, rv, w, b, training=True)
    (y * lamina.tensor(_laid_out(ga, order))).sum().backward()

    xt = torch.tensor(xa.astype(np.float64), requires_grad=True)
    wt = torch.tensor(w.data.astype(np.float64), requires_grad=True)
    bt = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    rmt, rvt = torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
    yt = torch.nn.functional.batch_norm(xt, rmt, rvt, wt, bt, training=True)
    (yt * torch.tensor(ga.astype(np.float64))).sum().backward()
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-3, atol=2e-3)
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), rtol=1e-3, atol=2e-3)
    np.testing.assert_allclose(w.grad.data, wt.grad.numpy(), rtol=1e-3, atol=2e-2)
    np.testing.assert_allclose(b.grad.data, bt.grad.numpy(), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(rm.data, rmt.numpy(), rtol=1e-6)
    np.testing.assert_allclose(rv.data, rvt.numpy(), rtol=1e-3)


@requires_torch
def test_batch_norm_eval_uses_forward_time_statistics(bn_path):
    """In eval mode the running statistics read by forward are the ones backward uses, even
    when they change in place in between (as the next training step would)."""
    rng = np.random.default_rng(4)
    xa = rng.standard_normal((5, 3, 4))
    rma, rva = rng.standard_normal(3), rng.random(3) + 0.5
    x = lamina.tensor(xa, requires_grad=True)
    rm, rv = lamina.tensor(rma.copy()), lamina.tensor(rva.copy())
    y = batch_norm(x, rm, rv, training=False)
    rm.data[...] = 100.0
    rv.data[...] = 100.0
    (y * y).sum().backward()
    xt = torch.tensor(xa, requires_grad=True)
    yt = torch.nn.functional.batch_norm(xt, torch.tensor(rma), torch.tensor(rva))
    (yt * yt).sum().backward()
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), rtol=1e-10)


def test_batch_norm_detects_in_place_change_of_its_input(bn_path):
    """batch_norm saves its input for backward: changing it in place afterwards is an error
    at backward time, as in PyTorch."""
    x = lamina.tensor(np.random.default_rng(0).standard_normal((4, 3, 2, 2)),
                      requires_grad=True)
    h = x * 1.0
    y = batch_norm(h, None, None, training=True)
    with lamina.no_grad():
        h.add_(1.0)
    with pytest.raises(RuntimeError):
        y.sum().backward()
