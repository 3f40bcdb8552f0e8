"""The fast paths of the performance-tuned ops: every memory layout batch_norm takes without
a copy (and the copying fallback) against PyTorch."""

import numpy as np
import pytest

import lamina
from lamina.ops.nn import batch_norm
from tests.helpers import requires_torch, torch

# (shape, memory order of the axes): conv outputs are (C, H, W, N) in memory, dense
# layers (N, C), channels-last (N, H, W, C); (2, 0, 3, 1) has no contiguous 2-D view
LAYOUTS = [((5, 3), None), ((5, 3), (1, 0)), ((4, 3, 6), None), ((2, 3, 4, 5), None),
           ((2, 3, 4, 5), (1, 2, 3, 0)), ((2, 3, 4, 5), (1, 0, 2, 3)),
           ((2, 3, 4, 5), (0, 2, 3, 1)), ((2, 3, 4, 5), (2, 0, 3, 1)),
           ((2, 3, 1, 4), (1, 2, 3, 0))]


def _laid_out(a, order):
    if order is None:
        return a
    return np.ascontiguousarray(a.transpose(order)).transpose(np.argsort(order))


@requires_torch
@pytest.mark.parametrize("shape,order", LAYOUTS)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_layouts(shape, order, training, affine):
    rng = np.random.default_rng(sum(shape))
    c = shape[1]
    xa = _laid_out(rng.standard_normal(shape) * 3 + 1, order)
    ga = _laid_out(rng.standard_normal(shape), order[::-1] if order else (1, 0) + tuple(
        range(2, len(shape))))                  # the gradient in another layout
    wa, ba = rng.standard_normal(c), rng.standard_normal(c)
    rma, rva = rng.standard_normal(c), rng.random(c) + 0.5
    x = lamina.tensor(xa, requires_grad=True)
    w = lamina.tensor(wa, requires_grad=True) if affine else None
    b = lamina.tensor(ba, requires_grad=True) if affine else None
    rm, rv = lamina.tensor(rma.copy()), lamina.tensor(rva.copy())
    y = batch_norm(x, rm, rv, w, b, training=training, momentum=0.3)
    (y * lamina.tensor(ga)).sum().backward()
    xt = torch.tensor(xa, requires_grad=True)
    wt = torch.tensor(wa, requires_grad=True) if affine else None
    bt = torch.tensor(ba, requires_grad=True) if affine else None
    rmt, rvt = torch.tensor(rma.copy()), torch.tensor(rva.copy())
    yt = torch.nn.functional.batch_norm(xt, rmt, rvt, wt, bt, training=training,
                                        momentum=0.3)
    (yt * torch.tensor(ga)).sum().backward()
    tol = dict(rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), **tol)
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), **tol)
    np.testing.assert_allclose(rm.data, rmt.numpy(), **tol)
    np.testing.assert_allclose(rv.data, rvt.numpy(), **tol)
    if affine:
        np.testing.assert_allclose(w.grad.data, wt.grad.numpy(), **tol)
        np.testing.assert_allclose(b.grad.data, bt.grad.numpy(), **tol)


@requires_torch
def test_batch_norm_float32_conv_layout():
    rng = np.random.default_rng(0)
    xa = _laid_out((rng.standard_normal((8, 4, 6, 6)) * 2 + 5).astype(np.float32),
                   (1, 2, 3, 0))
    x = lamina.tensor(xa, requires_grad=True)
    y = batch_norm(x, None, None, training=True)
    y.sum().backward()
    xt = torch.tensor(xa, requires_grad=True)
    yt = torch.nn.functional.batch_norm(xt, None, None, training=True)
    yt.sum().backward()
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), rtol=1e-4, atol=1e-4)
