"""``F.batch_norm_relu`` and the ``nn.Sequential`` fusion of a BatchNorm module with the ReLU
that follows it: the same values and gradients as the two ops apart (bit for bit on the
NumPy path, to summation-order rounding on the compiled one), and as PyTorch's BatchNorm2d +
ReLU; the fusion steps aside for hooks and replaced ``forward`` methods."""

import numpy as np
import pytest

import lamina
from lamina import nn
from lamina.nn import functional as F
from lamina.nn.modules import container
from lamina.ops.nn import BatchNorm
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


def _run(m, x, fuse, monkeypatch):
    if not fuse:
        monkeypatch.setattr(container, "_fuses_relu", lambda a, b: False)
    else:
        monkeypatch.setattr(container, "_fuses_relu", _real_fuses)
    xt = lamina.tensor(x, requires_grad=True)
    y = m(xt)
    (y * y).sum().backward()
    out = [y.data.copy(), xt.grad.data.copy()]
    out += [p.grad.data.copy() for p in m.parameters()]
    out += [b.data.copy() for b in m.buffers()]
    m.zero_grad()
    return out


_real_fuses = container._fuses_relu


@pytest.mark.parametrize("numba", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False])
def test_fused_equals_unfused_bit_for_bit(monkeypatch, numba, dtype, training):
    monkeypatch.setattr(BatchNorm._kernels, "enabled", numba)
    x = np.random.default_rng(1).standard_normal((4, 3, 6, 6)).astype(dtype)
    ma, mb = _model(dtype), _model(dtype)
    ma.train(training)
    mb.train(training)
    for _ in range(2):        # twice: the running statistics move in training
        fused = _run(ma, x, True, monkeypatch)
        plain = _run(mb, x, False, monkeypatch)
        _assert_same_sums(fused, plain, numba, 4 * 6 * 6, dtype)


def _assert_same_sums(ours, theirs, compiled, m, dtype):
    """Bit for bit where both sides run the same NumPy operations in the same order. The
    compiled kernels add each channel's ``m`` terms (sum g, sum g*xhat) in an order the
    compiler picks by SIMD width (AVX2 and AVX-512 differ), with and without the ReLU mask
    in the loop; each such sum may differ by 2*gamma_m*sum|t| (Higham sec. 3.1). Every term
    here is at most the largest value of the run times O(1) factors (unit-scale inputs and
    weights), so sum|t| <= m * that; later values are linear in those sums with O(1) weights.
    (A value that cancels to zero, such as the gradient of a conv bias under BatchNorm, is
    then compared at the scale of its terms, not its own.)"""
    if not compiled:
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a, b)
        return
    scale = m * max(np.abs(b).max(initial=0.0) for b in theirs)
    atol = float(sum_order_bound(scale, m, dtype))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=0, atol=atol)


@pytest.mark.parametrize("numba", [True, False])
def test_batchnorm1d_on_rows_of_features(monkeypatch, numba):
    """(N, C) input: channels are columns, the other layout of every path."""
    monkeypatch.setattr(BatchNorm._kernels, "enabled", numba)
    x = np.random.default_rng(2).standard_normal((7, 5))
    ma = _model(np.float64, bn=nn.BatchNorm1d, conv=False)
    mb = _model(np.float64, bn=nn.BatchNorm1d, conv=False)
    _assert_same_sums(_run(ma, x, True, monkeypatch), _run(mb, x, False, monkeypatch), numba, 7,
                      np.float64)


def test_the_pair_runs_as_one_op():
    m = _model(np.float32)
    y = m[:3](lamina.randn(2, 3, 6, 6))
    assert type(y._ctx).__name__ == "BatchNorm" and y._ctx.relu


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
        outs.append((y.data.copy(), xt.grad.data.copy(), w.grad.data.copy(),
                     b.grad.data.copy()))
        w.grad = b.grad = None
    for a, c in zip(*outs):
        np.testing.assert_array_equal(a, c)
        assert (np.signbit(a) == np.signbit(c)).all()


@pytest.mark.parametrize("how", ["forward_hook", "pre_hook", "relu_hook", "subclass",
                                 "instance_forward"])
def test_fusion_steps_aside_when_something_would_be_skipped(how):
    seen = []
    m = _model(np.float32)
    bn, relu = m[1], m[2]
    if how == "forward_hook":
        bn.register_forward_hook(lambda mod, args, out: seen.append(out))
    elif how == "pre_hook":
        bn.register_forward_pre_hook(lambda mod, args: seen.append(args))
    elif how == "relu_hook":
        relu.register_forward_hook(lambda mod, args, out: seen.append(out))
    elif how == "subclass":
        class Scaled(nn.BatchNorm2d):
            def forward(self, input):
                seen.append(1)
                return super().forward(input) * 2.0

        m[1] = Scaled(5)
    else:
        orig = bn.forward
        bn.forward = lambda input: (seen.append(1), orig(input))[1]
    y = m[:3](lamina.randn(2, 3, 6, 6))
    assert seen, "the module's own code did not run"
    assert type(y._ctx).__name__ != "BatchNorm"


def test_changing_the_output_in_place_before_backward_raises():
    """The fused op's backward needs its output (off the compiled path) or the bias: like
    PyTorch's relu, a later in-place change is caught."""
    m = _model(np.float32)
    xt = lamina.tensor(np.random.default_rng(4).standard_normal((2, 3, 6, 6)).astype(
        np.float32), requires_grad=True)
    y = m[:3](xt)
    with lamina.no_grad():
        y.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@requires_torch
@pytest.mark.parametrize("numba", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_matches_torch_batchnorm2d_then_relu(monkeypatch, numba, training):
    monkeypatch.setattr(BatchNorm._kernels, "enabled", numba)
    m = _model(np.float64)
    m.train(training)
    tm = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3, padding=1), torch.nn.BatchNorm2d(5),
                             torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(180, 2))
    tm.double().train(training)
    with torch.no_grad():
        for (_, p), (_, q) in zip(m.named_parameters(), tm.named_parameters()):
            q.copy_(torch.from_numpy(p.data.copy()))
    x = np.random.default_rng(5).standard_normal((4, 3, 6, 6))
    for _ in range(2):
        ours = _run(m, x, True, monkeypatch)
        xt = torch.tensor(x, requires_grad=True)
        y = tm(xt)
        (y * y).sum().backward()
        theirs = [y.detach().numpy(), xt.grad.numpy()]
        theirs += [p.grad.numpy().copy() for p in tm.parameters()]
        theirs += [b.numpy().copy() for b in tm.buffers()]
        tm.zero_grad()
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("hooked", [False, True])
def test_residual_block_fuses_its_first_pair_unless_hooked(monkeypatch, hooked):
    from lamina.nn.modules import normalization

    x = np.random.default_rng(6).standard_normal((2, 4, 5, 5))
    outs = []
    seen = []
    for fuse in (True, False):
        lamina.manual_seed(0)
        block = nn.ResidualBlock(4, 6, stride=2, dtype=np.float64)
        if hooked:
            block.bn1.register_forward_hook(lambda mod, args, out: seen.append(out))
        monkeypatch.setattr(normalization, "_fuses_relu",
                            _real_fuses if fuse else (lambda m, r=None: False))
        xt = lamina.tensor(x, requires_grad=True)
        y = block(xt)
        y.sum().backward()
        outs.append([y.data, xt.grad.data] + [p.grad.data for p in block.parameters()])
    # fused (a compiled kernel) vs unfused, unless hooked
    _assert_same_sums(outs[0], outs[1], not hooked and BatchNorm._kernels(np.float64) is not None,
                      2 * 3 * 3, np.float64)
    assert len(seen) == (2 if hooked else 0)
