"""conv2d's general fast path (``Conv2dCompiled``: compiled im2col and col2im, the bias as a
GEMM column, recycled buffers) and the blocked input gradient, against the reference op and
PyTorch; the registry's conv entries; what never reaches the kernels."""

import sys

import numpy as np
import pytest

import lamina
from lamina import dispatch
from lamina.kernels import memory
from lamina.kernels.conv import Conv2dCompiled, ConvTranspose2dCompiled
from lamina.ops.conv import Conv2dFn, ConvTranspose2dFn, _col2im, _im2col
from tests.helpers import requires_torch, torch
from tests.kernels.conv_check import assert_floors_agree, batch_last, laid_out, run


def test_conv_paths_are_registered_in_order():
    names = [p.name for p in dispatch.paths("conv2d")]
    assert names == ["Conv2dDirect", "Conv2dSmallChannels", "Conv2dStreamed", "Conv2dCompiled"]
    assert [p.name for p in dispatch.paths("conv_transpose2d")] == ["ConvTranspose2dCompiled"]


@pytest.mark.parametrize("c,n,h,w,kh,kw,stride,dilation", [
    (3, 2, 9, 8, 3, 3, (2, 2), (1, 1)), (2, 3, 7, 7, 3, 3, (3, 3), (1, 1)),
    (2, 2, 10, 9, 5, 2, (1, 2), (1, 1)), (2, 2, 9, 9, 2, 2, (3, 3), (1, 1)),
    (2, 2, 11, 11, 3, 3, (2, 1), (2, 2)), (1, 4, 6, 6, 1, 1, (1, 1), (1, 1))])
def test_col2im_is_the_adjoint_of_im2col(fast_conv, c, n, h, w, kh, kw, stride, dilation):
    """The reference col2im is im2col's adjoint: <im2col(x), y> == <x, col2im(y)>. The
    compiled col2im adds the same terms in the same order, so it gives the reference's
    values bit for bit, also into a recycled buffer full of stale values."""
    rng = np.random.default_rng(c + n + h)
    ho = (h - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (w - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    x = rng.standard_normal((c, h, w, n))
    y = rng.standard_normal((c * kh * kw, ho * wo * n))
    lhs = float(np.sum(_im2col(x, kh, kw, ho, wo, stride, dilation) * y))
    ref = _col2im(y, c, n, h, w, kh, kw, ho, wo, stride, dilation)
    np.testing.assert_allclose(float(np.sum(x * ref)), lhs, rtol=1e-12)
    for _ in range(2):       # the second call may get the first one's (dirtied) buffer
        back = fast_conv._col2im_into(fast_conv.compiled(y.dtype), y, c, n, kh, kw, ho, wo,
                                      stride, dilation, (0, 0, 0, 0), h, w)
        np.testing.assert_array_equal(back, ref)
        back[...] = np.nan
        del back


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel,stride,padding,dilation", [
    (3, 1, 1, 1), (3, 2, 1, 1), (5, 1, 0, 1), (3, 2, 2, 2), (4, 3, (2, 1), 1)])
@pytest.mark.parametrize("order", [None, (1, 2, 3, 0)])
def test_compiled_path_matches_reference(fast_conv, dtype, kernel, stride, padding, dilation,
                                         order):
    """The general fast path (batch-last inputs through the compiled im2col, the others
    through the strided view) against the reference, within the summation-order bound."""
    rng = np.random.default_rng(11)
    xa = laid_out(rng.standard_normal((3, 4, 11, 10)).astype(dtype), order)
    wa = rng.standard_normal((12, 4, kernel, kernel)).astype(dtype)
    ba = rng.standard_normal(12).astype(dtype)
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    with dispatch.fast_paths(False):
        shape = lamina.nn.functional.conv2d(lamina.tensor(xa), lamina.tensor(wa), **kw).shape
    ga = rng.standard_normal(shape).astype(dtype)
    node, fast = run(True, xa, wa, ba, ga, **kw)
    assert node is Conv2dCompiled
    node, ref = run(False, xa, wa, ba, ga, **kw)
    assert node is Conv2dFn
    assert_floors_agree(fast, ref, xa, wa, ba, ga, dtype, **kw)


@pytest.mark.parametrize("groups", [2, 4])
def test_compiled_path_with_groups(fast_conv, groups):
    rng = np.random.default_rng(groups)
    xa = batch_last(rng.standard_normal((2, 8, 7, 6)))
    wa = rng.standard_normal((12, 8 // groups, 3, 3))
    ba = rng.standard_normal(12)
    ga = rng.standard_normal((2, 12, 7, 6))
    node, fast = run(True, xa, wa, ba, ga, padding=1, groups=groups)
    assert node is Conv2dCompiled
    _, ref = run(False, xa, wa, ba, ga, padding=1, groups=groups)
    assert_floors_agree(fast, ref, xa, wa, ba, ga, np.float64, padding=1, groups=groups)


@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 1), (2, 0), (1, (2, 0))])
def test_input_gradient_is_dense_batch_last(fast_conv, stride, padding):
    """The fast input gradient comes back as a dense (C, H, W, N) array, the layout of a
    conv output (so ReLU/BatchNorm backward passes read it without a copy)."""
    rng = np.random.default_rng(5)
    xa = batch_last(rng.standard_normal((4, 3, 9, 8)).astype(np.float32))
    wa = rng.standard_normal((40, 3, 3, 3)).astype(np.float32)
    with dispatch.fast_paths(False):
        shape = lamina.nn.functional.conv2d(lamina.tensor(xa), lamina.tensor(wa),
                                            stride=stride, padding=padding).shape
    ga = batch_last(rng.standard_normal(shape).astype(np.float32))
    x = lamina.tensor(xa, requires_grad=True)
    y = lamina.nn.functional.conv2d(x, lamina.tensor(wa), stride=stride, padding=padding)
    assert type(y._ctx) is Conv2dCompiled
    gx = Conv2dCompiled.backward(y._ctx, ga)[0]
    assert gx.transpose(1, 2, 3, 0).flags.c_contiguous


# (input shape, out channels, kernel, stride, padding, dilation, bias, batch-last input)
CASES = [
    ((4, 3, 9, 9), 12, 3, 1, 1, 1, True, False),
    ((3, 5, 10, 8), 10, 3, 2, 1, 1, True, True),
    ((2, 4, 11, 7), 9, (3, 2), (2, 1), (2, 0), 1, False, True),
    ((2, 3, 12, 12), 10, 3, 1, 2, 2, True, False),
    ((3, 2, 8, 9), 16, 1, 2, 0, 1, True, True),      # rows no output row reaches
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
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    with dispatch.fast_paths(False):
        shape = lamina.nn.functional.conv2d(lamina.tensor(xa), lamina.tensor(wa), **kw).shape
    ga = rng.standard_normal(shape).astype(dtype)
    return xa, wa, ba, ga, kw


def _poison_free_buffers():
    """Fill the recycled buffers nobody holds with NaN (stale values a path must overwrite)."""
    for lst in memory._POOL.values():
        for buf in lst:
            if sys.getrefcount(buf) == memory._FREE_RC and buf.dtype.kind == "f":
                buf.fill(np.nan)


@pytest.mark.parametrize("chunk", [64, 1 << 20], ids=["row-blocks", "default"])
@pytest.mark.parametrize("case", CASES)
def test_blocked_input_gradient_zeroes_rows_lazily(fast_conv, monkeypatch, case, chunk):
    """The input gradient in blocks of output rows (``_input_grad_blocked``; tiny blocks
    forced here) zeroes each gradient row when a block first reaches it, and the rows no
    block reaches at the end: into recycled buffers full of stale NaNs it gives the same
    values twice (the same operations in the same order) and the reference's up to the
    summation-order bound."""
    monkeypatch.setattr(fast_conv, "_DIRECT_MAX_OUT", 0)
    monkeypatch.setattr(fast_conv, "_SMALL_K_MAX", 0)
    monkeypatch.setattr(fast_conv, "_CHUNK_BYTES", chunk)
    xa, wa, ba, ga, kw = _case(case, np.float32, 11)
    outs = []
    for _ in range(2):                 # the second run gets the first one's buffers
        _poison_free_buffers()
        node, out = run(True, xa, wa, ba, ga, **kw)
        assert node is Conv2dCompiled
        outs.append(out)
    np.testing.assert_array_equal(outs[1][1], outs[0][1])
    assert np.isfinite(outs[0][1]).all()
    _, ref = run(False, xa, wa, ba, ga, **kw)
    assert_floors_agree(outs[0], ref, xa, wa, ba, ga, np.float32, **kw)


@requires_torch
@pytest.mark.parametrize("case", CASES[:3])
def test_blocked_input_gradient_float64(fast_conv, monkeypatch, case):
    monkeypatch.setattr(fast_conv, "_CHUNK_BYTES", 512)
    xa, wa, ba, ga, kw = _case(case, np.float64, 3)
    _, out = run(True, xa, wa, ba, ga, **kw)
    xt = torch.tensor(np.ascontiguousarray(xa), requires_grad=True)
    yt = torch.nn.functional.conv2d(xt, torch.tensor(wa),
                                    None if ba is None else torch.tensor(ba), **kw)
    yt.backward(torch.tensor(ga))
    np.testing.assert_allclose(out[1], xt.grad.numpy(), rtol=1e-10, atol=1e-10)


@requires_torch
@pytest.mark.parametrize("stride,padding,output_padding,groups", [
    (2, 1, 1, 1), (1, 0, 0, 2), (3, 2, 1, 1)])
def test_conv_transpose_floors_match_torch(conv_floor, stride, padding, output_padding,
                                           groups):
    rng = np.random.default_rng(stride + groups)
    xa = rng.standard_normal((2, 4, 5, 6))
    wa = rng.standard_normal((4, 3, 3, 3))
    ba = rng.standard_normal(3 * groups)
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups)
    x, w, b = (lamina.tensor(a, requires_grad=True) for a in (xa, wa, ba))
    y = lamina.nn.functional.conv_transpose2d(x, w, b, **kw)
    assert type(y._ctx) is (ConvTranspose2dCompiled if conv_floor else ConvTranspose2dFn)
    ga = rng.standard_normal(y.shape)
    y.backward(lamina.tensor(ga))
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (xa, wa, ba))
    yt = torch.nn.functional.conv_transpose2d(xt, wt, bt, **kw)
    yt.backward(torch.tensor(ga))
    for a, t in zip([y, x.grad, w.grad, b.grad], [yt.detach(), xt.grad, wt.grad, bt.grad]):
        np.testing.assert_allclose(a.data, t.numpy(), rtol=1e-10, atol=1e-12)


def test_kernels_build_only_for_float32_and_float64(fast_conv):
    """With numba present the compiled kernels exist (so the comparisons above compare two
    different paths); float16 and a disabled loader get None. (A float16 conv cannot be
    asked for: ``lamina.tensor`` stores float16 data as float32.)"""
    assert fast_conv.compiled(np.float32) is not None
    assert fast_conv.compiled(np.float16) is None
    with dispatch.fast_paths(False):
        assert fast_conv.compiled(np.float32) is None



def _direct_conv_transpose1d(x, w, stride, padding):
    """conv_transpose1d by its definition, one term at a time (float64): out[n, o, y] sums
    x[n, c, i] * w[c, o, k] over the (c, i, k) with y = i * stride + k - padding."""
    n, c, length = x.shape
    o, k = w.shape[1:]
    out = np.zeros((n, o, (length - 1) * stride + k - 2 * padding))
    for i in range(length):
        for j in range(k):
            y = i * stride + j - padding
            if 0 <= y < out.shape[2]:
                out[:, :, y] += np.einsum("nc,co->no", x[:, :, i].astype(np.float64),
                                          w[:, :, j].astype(np.float64))
    return out


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stride,padding", [(2, 0), (2, 1), (3, 0), (1, 1)])
@pytest.mark.parametrize("where", ["weight", "input"])
def test_conv_transpose_nan_reaches_exactly_its_outputs(conv_floor, dtype, stride, padding,
                                                        where):
    """A NaN or inf in the weight or input reaches the outputs whose sum includes its term
    (inf * 0 = NaN too), and no others, on both floors. PyTorch's float32 oneDNN path for a
    batch of 2 or more puts a NaN at output 0 in the first case below (a NaN weight tap
    k = 2, stride 2), which no NaN term reaches; its float64 and batch-1 paths agree with
    lamina (the fuzz found this difference)."""
    rng = np.random.default_rng(stride + padding)
    x = rng.choice([0.0, 1.0, -2.0], size=(2, 2, 4)).astype(dtype)
    w = rng.choice([0.0, 1.0, 3.0], size=(2, 1, 3)).astype(dtype)
    for bad in (np.nan, np.inf):
        xb, wb = x.copy(), w.copy()
        if where == "weight":
            wb[1, 0, 2] = bad
        else:
            xb[0, 1, 1] = bad
        want = _direct_conv_transpose1d(xb, wb, stride, padding)
        got = lamina.nn.functional.conv_transpose1d(lamina.tensor(xb), lamina.tensor(wb),
                                                    stride=stride, padding=padding).numpy()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
