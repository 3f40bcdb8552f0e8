"""conv2d's streamed forward (``Conv2dStreamed``), taken when no backward will run: blocks of
output rows whose columns are consumed by the GEMM while in cache, nothing saved."""

import numpy as np
import pytest

import lamina
from lamina import dispatch
from lamina.kernels.conv import Conv2dDirect, Conv2dStreamed
from lamina.ops import conv
from tests.helpers import assert_sum_order_close, requires_torch, torch
from tests.kernels.conv_check import abs_sums, batch_last

# (input shape, out channels, kernel, stride, padding, dilation, bias, batch-last input)
CASES = [
    ((4, 3, 9, 9), 12, 3, 1, 1, 1, True, False),
    ((3, 5, 10, 8), 10, 3, 2, 1, 1, True, True),
    ((2, 4, 11, 7), 9, (3, 2), (2, 1), (2, 0), 1, False, True),
    ((2, 3, 12, 12), 10, 3, 1, 2, 2, True, False),
    ((3, 2, 8, 9), 16, 1, 2, 0, 1, True, True),
    ((2, 3, 6, 6), 10, 5, 3, 1, 1, False, False),
]


def _case(case, dtype, seed):
    shape, cout, k, stride, padding, dilation, bias, last = case
    rng = np.random.default_rng(seed)
    kk = (k, k) if isinstance(k, int) else k
    xa = rng.standard_normal(shape).astype(dtype)
    if last:
        xa = batch_last(xa)
    wa = rng.standard_normal((cout, shape[1]) + kk).astype(dtype)
    ba = rng.standard_normal(cout).astype(dtype) if bias else None
    return xa, wa, ba, dict(stride=stride, padding=padding, dilation=dilation)


def _inference(fast, xa, wa, ba, kw):
    with dispatch.fast_paths(fast), lamina.no_grad():
        y = conv.conv2d(lamina.tensor(xa), lamina.tensor(wa),
                        None if ba is None else lamina.tensor(ba), **kw)
    return y._data.copy()


def _streamed_node(xa, wa, ba, kw):
    """The Function conv2d picks for this inference call (asked the way conv2d asks)."""
    stride = kw["stride"] if isinstance(kw["stride"], tuple) else (kw["stride"],) * 2
    return dispatch.select("conv2d", conv.Conv2dFn, xa, wa, stride, (kw["dilation"],) * 2, 1,
                           False)


@pytest.mark.parametrize("chunk", [64, 0, 1 << 20], ids=["row-blocks", "whole", "default"])
@pytest.mark.parametrize("case", CASES)
def test_streamed_forward_matches_reference(fast_conv, monkeypatch, case, chunk):
    """Blocks of any size give the reference's output up to the summation-order bound (the
    GEMM sums of each block, the bias as an extra GEMM term)."""
    monkeypatch.setattr(fast_conv, "_DIRECT_MAX_OUT", 0)
    monkeypatch.setattr(fast_conv, "_CHUNK_BYTES", chunk)
    xa, wa, ba, kw = _case(case, np.float32, sum(case[0]) + case[1])
    assert _streamed_node(xa, wa, ba, kw) is Conv2dStreamed
    fast = _inference(True, xa, wa, ba, kw)
    ref = _inference(False, xa, wa, ba, kw)
    ga = np.ones(ref.shape, np.float32)
    sums, terms = abs_sums(xa, wa, ba, ga, **kw)
    assert_sum_order_close(fast, ref, sums[0], terms[0], np.float32)


@requires_torch
@pytest.mark.parametrize("case", CASES)
def test_streamed_forward_matches_torch_float64(conv_floor, monkeypatch, case):
    from lamina.kernels import conv as kconv

    monkeypatch.setattr(kconv, "_CHUNK_BYTES", 256)       # several blocks
    xa, wa, ba, kw = _case(case, np.float64, 7)
    y = _inference(conv_floor, xa, wa, ba, kw)
    with torch.no_grad():
        yt = torch.nn.functional.conv2d(torch.tensor(xa), torch.tensor(wa),
                                        None if ba is None else torch.tensor(ba), **kw)
    assert y.shape == tuple(yt.shape)
    np.testing.assert_allclose(y, yt.numpy(), rtol=1e-7, atol=1e-10)


def test_streamed_forward_saves_nothing_and_is_not_recorded(conv_floor):
    """Under no_grad the output has no graph node and holds no column matrix."""
    x = lamina.tensor(np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(
        np.float32), requires_grad=True)
    w = lamina.tensor(np.ones((12, 3, 3, 3), np.float32), requires_grad=True)
    with lamina.no_grad():
        y = conv.conv2d(x, w, padding=1)
    assert not y.requires_grad and y.grad_fn is None
    assert y.shape == (2, 12, 8, 8)


def test_inference_picks_the_streamed_path(fast_conv):
    """Which Function runs: the streamed one without a graph, others when training; the
    direct convolution (few output channels) in both cases."""
    x = np.zeros((2, 3, 8, 8), np.float32)
    w = np.zeros((12, 3, 3, 3), np.float32)
    sel = dispatch.select
    assert sel("conv2d", conv.Conv2dFn, x, w, (1, 1), (1, 1), 1, False) is Conv2dStreamed
    assert sel("conv2d", conv.Conv2dFn, x, w, (1, 1), (1, 1), 1, True) is not Conv2dStreamed
    assert sel("conv2d", conv.Conv2dFn, x, w[:4], (1, 1), (1, 1), 1, False) is Conv2dDirect
