"""BatchNorm followed by ReLU as one op: ``F.batch_norm_relu``, the ``nn.BatchNormReLU1d/2d``
modules and what ``nn.utils.fuse`` makes of a ``BatchNorm`` + ``nn.ReLU`` pair. The same values
and gradients as the two ops apart (bit for bit on the NumPy path, to summation-order rounding
with the compiled kernels), and as PyTorch's BatchNorm2d + ReLU; the same state_dict."""

import numpy as np
import pytest

import lamina
from lamina import dispatch, nn
from lamina.nn import functional as F
from tests.helpers import requires_torch, sum_order_bound, torch


def _model(dtype, seed=0, bn=nn.BatchNorm2d, conv=True):
    lamina.manual_seed(seed)
    layers = [nn.Conv2d(3, 5, 3, padding=1, dtype=dtype)] if conv else []
    layers += [bn(5, dtype=dtype), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 36 if conv else 5, 2,
                                                                       dtype=dtype)]
    m = nn.Sequential(*layers)
    rng = np.random.default_rng(seed)
    with lamina.no_grad():
        bnm = m[1] if conv else m[0]
        bnm.weight.copy_(lamina.tensor(rng.uniform(-1.5, 1.5, 5).astype(dtype)))
        bnm.bias.copy_(lamina.tensor(rng.uniform(-0.5, 0.5, 5).astype(dtype)))
    return m


def _run(m, x):
    """Output, input gradient, parameter gradients and buffers after backward of sum(y^2)."""
    xt = lamina.tensor(x, requires_grad=True)
    y = m(xt)
    (y * y).sum().backward()
    out = [y._data.copy(), xt.grad._data.copy()]
    out += [p.grad._data.copy() for p in m.parameters()]
    out += [b._data.copy() for b in m.buffers()]
    m.zero_grad()
    return out


def _assert_same_sums(ours, theirs, compiled, m, dtype):
    """Bit for bit where both sides run the same NumPy operations in the same order. The
    compiled kernels add each channel's ``m`` terms (sum g, sum g*xhat) in an order the
    compiler picks by SIMD width (AVX2 and AVX-512 differ), with and without the ReLU mask
    in the loop; each such sum may differ by 2*gamma_m*sum|t| (Higham sec. 3.1). Every term
    here is at most the largest value of the run times O(1) factors (unit-scale inputs and
    weights), so sum|t| <= m * that; later values are linear in those sums with O(1) weights.
    (A value that cancels to zero, such as the gradient of a conv bias under BatchNorm, is
    then compared at the scale of its terms, not its own.)"""
    assert len(ours) == len(theirs)
    if not compiled:
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a, b)
        return
    scale = m * max(np.abs(b).max(initial=0.0) for b in theirs)
    atol = float(sum_order_bound(scale, m, dtype))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=0, atol=atol)


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False])
def test_fused_model_equals_unfused(compiled, dtype, training):
    x = np.random.default_rng(1).standard_normal((4, 3, 6, 6)).astype(dtype)
    plain = _model(dtype).train(training)
    fused = nn.utils.fuse(_model(dtype)).train(training)
    assert type(fused[1]) is nn.BatchNormReLU2d and type(fused[2]) is nn.Identity
    with dispatch.fast_paths(compiled):
        for _ in range(2):        # twice: the running statistics move in training
            _assert_same_sums(_run(fused, x), _run(plain, x), compiled, 4 * 6 * 6, dtype)


@pytest.mark.parametrize("compiled", [True, False])
def test_batchnorm1d_on_rows_of_features(compiled):
    """(N, C) input: channels are columns, the other layout of every path."""
    x = np.random.default_rng(2).standard_normal((7, 5))
    plain = _model(np.float64, bn=nn.BatchNorm1d, conv=False)
    fused = nn.utils.fuse(_model(np.float64, bn=nn.BatchNorm1d, conv=False))
    assert type(fused[0]) is nn.BatchNormReLU1d
    with dispatch.fast_paths(compiled):
        _assert_same_sums(_run(fused, x), _run(plain, x), compiled, 7, np.float64)


def test_the_fused_module_runs_one_op():
    from lamina.ops.nn import BatchNormReLU

    y = nn.BatchNormReLU2d(3)(lamina.randn(2, 3, 6, 6))
    assert isinstance(y._ctx, BatchNormReLU)     # the reference op or its compiled path


def test_fused_module_is_a_batch_norm_with_its_keys_and_shared_tensors():
    bn = nn.BatchNorm2d(4, momentum=None, eps=1e-3)
    fused = nn.BatchNormReLU2d.from_batch_norm(bn)
    assert isinstance(fused, nn.BatchNorm2d)
    assert list(fused.state_dict()) == list(bn.state_dict())
    assert fused.weight is bn.weight and fused.running_var is bn.running_var
    assert (fused.eps, fused.momentum) == (1e-3, None)
    assert repr(fused) == repr(bn).replace("BatchNorm2d", "BatchNormReLU2d")
    with pytest.raises(TypeError, match="expected a BatchNorm2d"):
        nn.BatchNormReLU2d.from_batch_norm(nn.BatchNorm1d(4))


def test_functional_matches_relu_of_batch_norm_nan_and_signed_zero_included():
    x = np.random.default_rng(3).standard_normal((3, 4, 5)).astype(np.float32)
    x[0, 1, 2] = np.nan
    w = lamina.tensor(np.array([1.0, -1.0, 0.0, 2.0], np.float32), requires_grad=True)
    b = lamina.tensor(np.array([0.0, 0.5, -0.0, -1.0], np.float32), requires_grad=True)
    outs = []
    for fused in (True, False):
        xt = lamina.tensor(x, requires_grad=True)
        args = (None, None, w, b, True)
        y = F.batch_norm_relu(xt, *args) if fused else F.batch_norm(xt, *args).relu()
        y.backward(lamina.ones_like(y))
        outs.append((y._data.copy(), xt.grad._data.copy(), w.grad._data.copy(),
                     b.grad._data.copy()))
        w.grad = b.grad = None
    for a, c in zip(*outs):
        np.testing.assert_array_equal(a, c)
        assert (np.signbit(a) == np.signbit(c)).all()


def test_changing_the_output_in_place_before_backward_raises():
    """The fused op's backward needs its output (off the compiled path) or the bias: like
    PyTorch's relu, a later in-place change is caught."""
    m = nn.utils.fuse(_model(np.float32))
    xt = lamina.tensor(np.random.default_rng(4).standard_normal((2, 3, 6, 6)).astype(
        np.float32), requires_grad=True)
    y = m[:3](xt)
    with lamina.no_grad():
        y.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def _torch_model(training):
    tm = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3, padding=1), torch.nn.BatchNorm2d(5),
                             torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(180, 2))
    return tm.double().train(training)


@requires_torch
@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_fused_model_matches_torch_batchnorm2d_then_relu(compiled, training):
    m = nn.utils.fuse(_model(np.float64)).train(training)
    tm = _torch_model(training)
    tm.load_state_dict({k: torch.from_numpy(v._data.copy()) for k, v in
                        m.state_dict().items()})       # the fused model's keys are torch's
    x = np.random.default_rng(5).standard_normal((4, 3, 6, 6))
    with dispatch.fast_paths(compiled):
        for _ in range(2):
            ours = _run(m, x)
            xt = torch.tensor(x, requires_grad=True)
            y = tm(xt)
            (y * y).sum().backward()
            theirs = [y.detach().numpy(), xt.grad.numpy()]
            theirs += [p.grad.numpy().copy() for p in tm.parameters()]
            theirs += [b.numpy().copy() for b in tm.buffers()]
            tm.zero_grad()
            for a, b in zip(ours, theirs):
                np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)


@requires_torch
def test_torch_weights_load_into_the_fused_model():
    tm = _torch_model(training=False)
    torch.manual_seed(0)
    with torch.no_grad():
        tm[1].running_mean.uniform_(-1, 1)
        tm[1].running_var.uniform_(0.5, 2)
        tm[1].weight.uniform_(-1, 1)
    m = nn.utils.fuse(_model(np.float64)).eval()
    m.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    x = np.random.default_rng(6).standard_normal((2, 3, 6, 6))
    np.testing.assert_allclose(m(lamina.tensor(x))._data,
                               tm(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12)


def test_residual_block_runs_its_first_pair_as_one_op_and_its_hooks_see_the_relu():
    """``ResidualBlock.bn1`` is a ``BatchNormReLU2d``: the same values as ``relu(bn1(.))``
    written out, and a hook on it runs and sees the rectified output."""
    x = lamina.tensor(np.random.default_rng(6).standard_normal((2, 4, 5, 5)))
    lamina.manual_seed(0)
    block = nn.ResidualBlock(4, 6, stride=2, dtype=np.float64)
    assert type(block.bn1) is nn.BatchNormReLU2d
    seen = []
    block.bn1.register_forward_hook(lambda mod, args, out: seen.append(out))
    with dispatch.fast_paths(False):
        y = block(x)
        b = block
        h = F.batch_norm(b.conv1(x), b.bn1.running_mean.clone(), b.bn1.running_var.clone(),
                         b.bn1.weight, b.bn1.bias, True).relu()
        want = (b.bn2(b.conv2(h)) + b.downsample(x)).relu()
    np.testing.assert_array_equal(y._data, want._data)
    from lamina.ops.nn import BatchNormReLU

    assert len(seen) == 1 and isinstance(seen[0]._ctx, BatchNormReLU)
    assert (seen[0]._data >= 0).all()
