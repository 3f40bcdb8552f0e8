"""conv2d's direct convolution (``Conv2dDirect``: at most 8 output channels, stride 1, 3- or
5-wide kernels) against PyTorch and against the reference im2col op."""

import numpy as np
import pytest

import lamina
from lamina.kernels.conv import Conv2dCompiled, Conv2dDirect, Conv2dSmallChannels
from lamina.ops.conv import Conv2dFn
from tests.helpers import requires_torch, torch
from tests.kernels.conv_check import assert_floors_agree, laid_out, run

# (in, out, kernel, padding, memory order of the input, the fast path it takes)
CASES = [(1, 6, 5, 2, None, Conv2dDirect), (3, 4, 3, 1, (1, 2, 3, 0), Conv2dDirect),
         (2, 8, 5, 0, (1, 2, 3, 0), Conv2dDirect),
         (2, 3, (3, 5), (1, 2), (0, 2, 3, 1), Conv2dDirect),
         (1, 2, 4, 1, None, Conv2dSmallChannels), (2, 9, 3, 1, None, Conv2dSmallChannels),
         (4, 9, 3, 1, (1, 2, 3, 0), Conv2dCompiled)]


@requires_torch
@pytest.mark.parametrize("cin,cout,k,pad,order,path", CASES)
def test_conv2d_few_output_channels_float64(conv_floor, cin, cout, k, pad, order, path):
    """Values and all three gradients against PyTorch in float64, on the direct path (few
    output channels; the others take the small-channel or im2col path) and on the reference."""
    rng = np.random.default_rng(cin * 10 + cout)
    kk = (k, k) if isinstance(k, int) else k
    xa = laid_out(rng.standard_normal((3, cin, 9, 8)), order)
    wa = rng.standard_normal((cout, cin) + kk)
    ba = rng.standard_normal(cout)
    ga = rng.standard_normal((3, cout, 9 + 2 * (pad if isinstance(pad, int) else pad[0])
                              - kk[0] + 1, 8 + 2 * (pad if isinstance(pad, int) else pad[1])
                              - kk[1] + 1))
    node, out = run(conv_floor, xa, wa, ba, ga, padding=pad)
    assert node is (path if conv_floor else Conv2dFn)
    xt = torch.tensor(xa, requires_grad=True)
    wt, bt = torch.tensor(wa, requires_grad=True), torch.tensor(ba, requires_grad=True)
    yt = torch.nn.functional.conv2d(xt, wt, bt, padding=pad)
    (yt * torch.tensor(ga)).sum().backward()
    for a, t in zip(out, [yt.detach(), xt.grad, wt.grad, bt.grad]):
        np.testing.assert_allclose(a, t.numpy(), rtol=1e-10, atol=1e-12)


def test_direct_path_matches_reference_float32(fast_conv):
    """LeNet's first layer (1 -> 6 channels, 5x5, padding 2) in float32: the direct path
    and the reference agree up to the summation-order bound (the direct loop adds by taps,
    the reference in BLAS's blocks, whose order depends on the CPU)."""
    rng = np.random.default_rng(9)
    xa = rng.standard_normal((16, 1, 12, 12)).astype(np.float32)
    wa = (rng.standard_normal((6, 1, 5, 5)) / 5).astype(np.float32)
    ba = rng.standard_normal(6).astype(np.float32)
    ga = rng.standard_normal((16, 6, 12, 12)).astype(np.float32)
    node, fast = run(True, xa, wa, ba, ga, padding=2)
    assert node is Conv2dDirect
    node, ref = run(False, xa, wa, ba, ga, padding=2)
    assert node is Conv2dFn
    assert_floors_agree(fast, ref, xa, wa, ba, ga, np.float32, padding=2)


def test_direct_path_detects_in_place_change(fast_conv):
    """The direct path keeps (a view of) its input for the weight gradient: changing the
    input in place before backward raises, as in PyTorch."""
    x0 = lamina.tensor(np.random.default_rng(0).standard_normal((2, 1, 6, 6)),
                       requires_grad=True)
    x = x0 * 1.0
    w = lamina.tensor(np.ones((2, 1, 3, 3)), requires_grad=True)
    y = lamina.nn.functional.conv2d(x, w)
    assert type(y._ctx) is Conv2dDirect
    with lamina.no_grad():
        x.mul_(2.0)
    with pytest.raises(RuntimeError):
        y.sum().backward()
