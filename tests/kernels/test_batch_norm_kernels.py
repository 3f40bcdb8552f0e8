"""batch_norm and batch_norm_relu on both floors: the reference ``BatchNorm`` of
``lamina.ops.nn`` and the compiled passes of ``lamina.kernels.batchnorm``, each against
PyTorch in every memory layout the compiled path takes without a copy (and the copying
fallback), and against each other to summation-order rounding. Every test asserts which path
ran, so none can pass by running the reference twice."""

import numpy as np
import pytest

import lamina
from lamina import dispatch
from lamina.kernels.batchnorm import BatchNormCompiled, BatchNormReLUCompiled, batch_norm_kernels
from lamina.nn import functional as F
from lamina.ops.nn import BatchNorm, BatchNormReLU, batch_norm
from tests.helpers import requires_torch, sum_order_bound, torch

# (shape, memory order of the axes): conv outputs are (C, H, W, N) in memory, dense
# layers (N, C), channels-last (N, H, W, C); (2, 0, 3, 1) has no contiguous 2-D view
LAYOUTS = [((5, 3), None), ((5, 3), (1, 0)), ((4, 3, 6), None), ((2, 3, 4, 5), None),
           ((2, 3, 4, 5), (1, 2, 3, 0)), ((2, 3, 4, 5), (1, 0, 2, 3)),
           ((2, 3, 4, 5), (0, 2, 3, 1)), ((2, 3, 4, 5), (2, 0, 3, 1)),
           ((2, 3, 1, 4), (1, 2, 3, 0))]


def _laid_out(a, order):
    """``a`` with the same values, its memory ordered by the axes ``order``."""
    if order is None:
        return a
    return np.ascontiguousarray(a.transpose(order)).transpose(np.argsort(order))


@pytest.fixture(params=[True, False], ids=["fast", "reference"])
def fast(request):
    """Run the test with fast paths on, then on the reference ops alone."""
    with dispatch.fast_paths(request.param):
        yield request.param


def _takes_compiled(x, fast):
    """The compiled passes run when they exist for the dtype and read ``x`` without a copy
    (some order of its axes with channels first or last is C-contiguous)."""
    views = any(x.transpose(p).flags.c_contiguous for p in (
        (1, *range(2, x.ndim), 0), (1, 0, *range(2, x.ndim)), (0, *range(2, x.ndim), 1)))
    return fast and batch_norm_kernels(x.dtype) is not None and views


def _expect(y, x, fast, relu=False):
    """Assert the node that made ``y`` from ``x``: the compiled path wherever it applies."""
    compiled = _takes_compiled(x._data, fast)
    want = ((BatchNormReLUCompiled if compiled else BatchNormReLU) if relu else
            (BatchNormCompiled if compiled else BatchNorm))
    assert type(y._ctx) is want


@requires_torch
@pytest.mark.parametrize("shape,order", LAYOUTS)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_layouts_match_torch(fast, shape, order, training, affine):
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
    _expect(y, x, fast)
    (y * lamina.tensor(ga)).sum().backward()
    xt = torch.tensor(xa, requires_grad=True)
    wt = torch.tensor(wa, requires_grad=True) if affine else None
    bt = torch.tensor(ba, requires_grad=True) if affine else None
    rmt, rvt = torch.tensor(rma.copy()), torch.tensor(rva.copy())
    yt = torch.nn.functional.batch_norm(xt, rmt, rvt, wt, bt, training=training,
                                        momentum=0.3)
    (yt * torch.tensor(ga)).sum().backward()
    tol = dict(rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(y._data, yt.detach().numpy(), **tol)
    np.testing.assert_allclose(x.grad._data, xt.grad.numpy(), **tol)
    np.testing.assert_allclose(rm._data, rmt.numpy(), **tol)
    np.testing.assert_allclose(rv._data, rvt.numpy(), **tol)
    if affine:
        np.testing.assert_allclose(w.grad._data, wt.grad.numpy(), **tol)
        np.testing.assert_allclose(b.grad._data, bt.grad.numpy(), **tol)


@requires_torch
@pytest.mark.parametrize("order", [(1, 2, 3, 0), None])
def test_batch_norm_float32_large_mean(fast, order):
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
    _expect(y, x, fast)
    (y * lamina.tensor(_laid_out(ga, order))).sum().backward()

    xt = torch.tensor(xa.astype(np.float64), requires_grad=True)
    wt = torch.tensor(w._data.astype(np.float64), requires_grad=True)
    bt = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    rmt, rvt = torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
    yt = torch.nn.functional.batch_norm(xt, rmt, rvt, wt, bt, training=True)
    (yt * torch.tensor(ga.astype(np.float64))).sum().backward()
    np.testing.assert_allclose(y._data, yt.detach().numpy(), rtol=1e-3, atol=2e-3)
    np.testing.assert_allclose(x.grad._data, xt.grad.numpy(), rtol=1e-3, atol=2e-3)
    np.testing.assert_allclose(w.grad._data, wt.grad.numpy(), rtol=1e-3, atol=2e-2)
    np.testing.assert_allclose(b.grad._data, bt.grad.numpy(), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(rm._data, rmt.numpy(), rtol=1e-6)
    np.testing.assert_allclose(rv._data, rvt.numpy(), rtol=1e-3)


@requires_torch
def test_batch_norm_eval_uses_forward_time_statistics(fast):
    """In eval mode the running statistics read by forward are the ones backward uses, even
    when they change in place in between (as the next training step would)."""
    rng = np.random.default_rng(4)
    xa = rng.standard_normal((5, 3, 4))
    rma, rva = rng.standard_normal(3), rng.random(3) + 0.5
    x = lamina.tensor(xa, requires_grad=True)
    rm, rv = lamina.tensor(rma.copy()), lamina.tensor(rva.copy())
    y = batch_norm(x, rm, rv, training=False)
    _expect(y, x, fast)
    rm._data[...] = 100.0
    rv._data[...] = 100.0
    (y * y).sum().backward()
    xt = torch.tensor(xa, requires_grad=True)
    yt = torch.nn.functional.batch_norm(xt, torch.tensor(rma), torch.tensor(rva))
    (yt * yt).sum().backward()
    np.testing.assert_allclose(x.grad._data, xt.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("relu", [False, True])
def test_batch_norm_detects_in_place_change_of_its_input(fast, relu):
    """batch_norm saves its input for backward: changing it in place afterwards is an error
    at backward time, as in PyTorch."""
    x = lamina.tensor(np.random.default_rng(0).standard_normal((4, 3, 2, 2)),
                      requires_grad=True)
    h = x * 1.0
    y = (F.batch_norm_relu if relu else batch_norm)(h, None, None, training=True)
    _expect(y, h, fast, relu)
    with lamina.no_grad():
        h.add_(1.0)
    with pytest.raises(RuntimeError):
        y.sum().backward()


def _run(dtype, shape, order, training, relu, fast):
    rng = np.random.default_rng(5)
    xa = _laid_out(rng.standard_normal(shape).astype(dtype) * 2 + 1, order)
    ga = _laid_out(rng.standard_normal(shape).astype(dtype), order)
    wa, ba = (rng.standard_normal(shape[1]).astype(dtype) for _ in range(2))
    rva = (rng.random(shape[1]) + 0.5).astype(dtype)
    with dispatch.fast_paths(fast):
        x = lamina.tensor(xa, requires_grad=True)
        w, b = lamina.tensor(wa, requires_grad=True), lamina.tensor(ba, requires_grad=True)
        rm, rv = lamina.tensor(np.zeros_like(wa)), lamina.tensor(rva.copy())
        y = (F.batch_norm_relu if relu else batch_norm)(x, rm, rv, w, b, training=training)
        _expect(y, x, fast, relu)
        assert not fast or type(y._ctx) in (BatchNormCompiled, BatchNormReLUCompiled)
        (y * lamina.tensor(ga)).sum().backward()
    return [y._data.copy(), x.grad._data, w.grad._data, b.grad._data, rm._data, rv._data]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,order", [((8, 5, 6, 7), (1, 2, 3, 0)), ((40, 37), None),
                                         ((6, 33, 5), (0, 2, 1)), ((4, 3, 5, 5), (0, 2, 3, 1))])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("relu", [False, True])
def test_compiled_passes_match_reference(dtype, shape, order, training, relu):
    """The compiled passes give the reference's values up to summation order. Each channel's
    ``m`` terms (sum x, sum (x - mean)^2, sum g, sum g * xhat) are added in another order
    (SIMD lanes of a width the CPU decides, float64 accumulators; the reference uses NumPy's
    pairwise sums), and the affine products are associated differently; each sum may differ
    by 2 gamma_m sum|t| (Higham sec. 3.1). Every term here is at most the largest value of
    the run times O(1) factors (unit-scale inputs and weights), so sum|t| <= m * that; later
    values are linear in those sums with O(1) weights."""
    if batch_norm_kernels(np.dtype(dtype)) is None:
        pytest.skip("numba is not available (or LAMINA_NUMBA=0)")
    fast = _run(dtype, shape, order, training, relu, True)
    ref = _run(dtype, shape, order, training, relu, False)
    m = int(np.prod(shape)) // shape[1]
    atol = float(sum_order_bound(m * max(np.abs(r).max() for r in ref), m, dtype))
    for a, b in zip(fast, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=atol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False])
def test_reference_batch_norm_relu_is_relu_of_batch_norm_bit_for_bit(dtype, training):
    """On the reference floor the fused node runs BatchNorm's operations, then ReLU's: the
    same bits as the two nodes apart (NaN and signed zeros included)."""
    x = np.random.default_rng(3).standard_normal((3, 4, 5)).astype(dtype)
    x[0, 1, 2] = np.nan
    w = lamina.tensor(np.array([1.0, -1.0, 0.0, 2.0], dtype), requires_grad=True)
    b = lamina.tensor(np.array([0.0, 0.5, -0.0, -1.0], dtype), requires_grad=True)
    rm, rv = lamina.zeros(4, dtype=dtype), lamina.ones(4, dtype=dtype)
    outs = []
    with dispatch.fast_paths(False):
        for fused in (True, False):
            xt = lamina.tensor(x, requires_grad=True)
            args = (rm, rv, w, b, training)
            y = F.batch_norm_relu(xt, *args) if fused else F.batch_norm(xt, *args).relu()
            y.backward(lamina.ones_like(y))
            outs.append((y._data.copy(), xt.grad._data.copy(), w.grad._data.copy(),
                         b.grad._data.copy()))
            w.grad = b.grad = None
    for a, c in zip(*outs):
        np.testing.assert_array_equal(a, c)
        assert (np.signbit(a) == np.signbit(c)).all()


def test_kernels_build_when_numba_is_installed(monkeypatch):
    """With numba present the compiled passes really exist (so the comparisons above compare
    two different paths); float16 and LAMINA_NUMBA=0 get None, and then the reference runs."""
    pytest.importorskip("numba")
    if not dispatch.fast_paths_enabled():
        pytest.skip("LAMINA_NUMBA=0 turns the fast paths off")
    monkeypatch.setattr(batch_norm_kernels, "enabled", True)
    k = batch_norm_kernels(np.float32)
    assert k is not None and callable(k.forward_rows) and callable(k.backward_rows)
    assert batch_norm_kernels(np.float16) is None
    x = lamina.tensor(np.ones((4, 3), np.float32), requires_grad=True)
    assert type(batch_norm(x, None, None, training=True)._ctx) is BatchNormCompiled
    monkeypatch.setattr(batch_norm_kernels, "enabled", False)
    assert batch_norm_kernels(np.float32) is None
    assert type(batch_norm(x, None, None, training=True)._ctx) is BatchNorm


def test_plain_nchw_input_takes_the_reference():
    """A C-order (N, C, H, W) input has no copy-free channel view: the reference's NumPy
    reductions beat a copy plus the compiled passes there, so the reference runs; the same
    values in a conv output's (C, H, W, N) memory order take the compiled passes."""
    xa = np.random.default_rng(0).standard_normal((4, 3, 5, 5)).astype(np.float32)
    y = batch_norm(lamina.tensor(xa, requires_grad=True), None, None, training=True)
    assert type(y._ctx) is BatchNorm
    x = lamina.tensor(_laid_out(xa, (1, 2, 3, 0)), requires_grad=True)
    y = batch_norm(x, None, None, training=True)
    _expect(y, x, True)
