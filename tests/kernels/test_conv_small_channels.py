"""conv2d's path for layers with few input channels (``Conv2dSmallChannels``: an RGB first
layer) that keeps the padded input and computes the weight gradient with the compiled
``small_k_weight_grad`` while the forward streams its columns. It sums in its own order, so
it is compared with PyTorch (float64 tightly, float32 loosely) and with the reference op up
to the summation-order bound; each test checks which path ran."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lamina
from lamina.kernels import conv as kconv
from lamina.kernels.conv import Conv2dSmallChannels
from lamina.ops import conv
from tests.helpers import TOL, requires_torch, torch
from tests.kernels.conv_check import assert_floors_agree, run


def _settings(n):
    """``n`` examples; the path fixtures are function-scoped but the same for every one."""
    return settings(max_examples=n, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _batch_last(a):
    """``a`` with the same values, laid out (C, H, W, N) in memory like a conv output."""
    return np.ascontiguousarray(a.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


def _small_k(ctx):
    """Whether the node ``ctx`` (or, for conv1d, the conv node under its reshape) ran the
    few-input-channel path."""
    while not isinstance(ctx, conv.Conv2dFn):
        ctx = ctx.inputs[0]._ctx
    return type(ctx) is Conv2dSmallChannels


def _takes_small_k(c, o, kh, kw, stride, dilation):
    """Whether conv2d with numba runs this training layer on the few-input-channel path
    (the direct convolution comes first for at most 8 output channels)."""
    direct = (o <= kconv._DIRECT_MAX_OUT and kw in (3, 5) and stride == (1, 1)
              and dilation == (1, 1))
    return (not direct and stride[1] == 1 and c * kh * kw <= kconv._SMALL_K_MAX
            and o <= kconv._SMALL_K_MAX_OUT)


@st.composite
def small_k_cases(draw):
    """Layers around the few-input-channel bound: 1-3 input channels, kernels 1-5 wide
    (4 and 5 wide take the kernel's clamped second block of 3 columns), output channels
    not a multiple of 4 (its clamped last block), row strides and dilations, now and then a
    column stride of 2 (the GEMM path, for contrast)."""
    c = draw(st.integers(1, 3))
    kh = draw(st.integers(1, 3))
    kw = draw(st.integers(1, min(5, 27 // (c * kh))))
    o = draw(st.integers(1, 20))
    sh = draw(st.integers(1, 3))
    sw = draw(st.sampled_from([1, 1, 1, 2]))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 11))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), 11))
    n = draw(st.integers(1, 5))
    return dict(shape=(n, c, h, w), o=o, k=(kh, kw), stride=(sh, sw), padding=(ph, pw),
                dilation=(dh, dw), bias=draw(st.booleans()), x_grad=draw(st.booleans()),
                batch_last=draw(st.booleans()), seed=draw(st.integers(0, 2 ** 16)))


def _run_conv(case, dtype, lib):
    """conv2d forward and backward of ``sum(y * ga)`` in lamina or PyTorch; returns the
    output, the input, weight and bias gradients (None where not asked) and lamina's ctx."""
    rng = np.random.default_rng(case["seed"])
    xa = rng.standard_normal(case["shape"]).astype(dtype)
    if case["batch_last"]:
        xa = _batch_last(xa)
    wa = rng.standard_normal((case["o"], case["shape"][1]) + case["k"]).astype(dtype)
    ba = rng.standard_normal(case["o"]).astype(dtype) if case["bias"] else None
    args = (case["stride"], case["padding"], case["dilation"])
    if lib == "torch":
        x = torch.tensor(np.ascontiguousarray(xa), requires_grad=case["x_grad"])
        w = torch.tensor(wa, requires_grad=True)
        b = None if ba is None else torch.tensor(ba, requires_grad=True)
        y = torch.nn.functional.conv2d(x, w, b, *args)
        (y * torch.tensor(_grad_out(y.shape, dtype, case["seed"]))).sum().backward()
        grads = [None if t is None or t.grad is None else t.grad.numpy() for t in (x, w, b)]
        return y.detach().numpy(), grads, None
    x = lamina.tensor(xa, requires_grad=case["x_grad"])
    w = lamina.tensor(wa, requires_grad=True)
    b = None if ba is None else lamina.tensor(ba, requires_grad=True)
    y = conv.conv2d(x, w, b, *args)
    ctx = y._ctx
    (y * lamina.tensor(_grad_out(y.shape, dtype, case["seed"]))).sum().backward()
    grads = [None if t is None or t.grad is None else t.grad._data.copy() for t in (x, w, b)]
    return y._data.copy(), grads, ctx


def _grad_out(shape, dtype, seed):
    return np.random.default_rng(seed + 1).standard_normal(tuple(shape)).astype(dtype)


def _assert_close(a, b, rtol, atol_scale):
    assert (a is None) == (b is None)
    if a is not None:
        np.testing.assert_allclose(a, b, rtol=rtol,
                                   atol=atol_scale * max(1.0, float(np.abs(b).max())))


@requires_torch
@_settings(40)
@given(case=small_k_cases())
def test_small_k_conv_matches_torch_float64(conv_floor, case):
    """Output, input, weight and bias gradients against PyTorch in float64 (tight), on the
    compiled path and on the NumPy path; with numba the layers within the bounds really
    take the few-input-channel path, the others (and every layer without numba) not."""
    y, grads, ctx = _run_conv(case, np.float64, "lamina")
    yt, grads_t, _ = _run_conv(case, np.float64, "torch")
    n, c = case["shape"][:2]
    assert _small_k(ctx) is (conv_floor and _takes_small_k(c, case["o"], *case["k"],
                                                        case["stride"], case["dilation"]))
    tol = TOL[np.float64]
    np.testing.assert_allclose(y, yt, **tol)
    for g, gt in zip(grads, grads_t):
        _assert_close(g, gt, tol["rtol"], tol["atol"])


@requires_torch
@_settings(20)
@given(case=small_k_cases())
def test_small_k_conv_matches_torch_float32(conv_floor, case):
    """The same in float32, loosely (the kernel sums each output row in float32)."""
    y, grads, _ = _run_conv(case, np.float32, "lamina")
    yt, grads_t, _ = _run_conv(case, np.float32, "torch")
    np.testing.assert_allclose(y, yt, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(yt).max()))
    for g, gt in zip(grads, grads_t):
        _assert_close(g, gt, 1e-4, 1e-5)


@requires_torch
@pytest.mark.parametrize("c, kw, o, dw", [(1, 27, 5, 1), (1, 10, 3 * 4 + 1, 2), (3, 9, 9, 1),
                                          (2, 7, 32, 3)])
def test_small_k_wide_kernels_match_torch(conv_floor, c, kw, o, dw):
    """Kernels wider than the strategy draws (up to 27 taps in a row, as a conv1d with one
    input channel has): the kernel's blocks of 3 columns, the last one clamped, against
    PyTorch in float64, through conv1d."""
    rng = np.random.default_rng(kw)
    xa = rng.standard_normal((3, c, 70))
    wa = rng.standard_normal((o, c, kw))
    ba = rng.standard_normal(o)
    x, w, b = (lamina.tensor(a, requires_grad=True) for a in (xa, wa, ba))
    y = conv.conv1d(x, w, b, padding=2, dilation=dw)
    assert _small_k(y._ctx) is conv_floor
    ga = rng.standard_normal(y.shape)
    (y * lamina.tensor(ga)).sum().backward()
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (xa, wa, ba))
    yt = torch.nn.functional.conv1d(xt, wt, bt, padding=2, dilation=dw)
    (yt * torch.tensor(ga)).sum().backward()
    tol = TOL[np.float64]
    np.testing.assert_allclose(y._data, yt.detach().numpy(), **tol)
    for g, gt in ((x.grad, xt.grad), (w.grad, wt.grad), (b.grad, bt.grad)):
        _assert_close(g._data, gt.numpy(), tol["rtol"], tol["atol"])


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_k_conv_wide_first_layer(fast_conv, dtype):
    """conv-wide's first layer (batch 32, 3 -> 32 channels, 3x3, padding 1, input in
    (N, C, H, W) order, no input gradient): the fast path against the reference up to the
    summation-order bound, and against PyTorch in float64."""
    rng = np.random.default_rng(3)
    xa = rng.standard_normal((32, 3, 32, 32)).astype(dtype)
    wa = rng.standard_normal((32, 3, 3, 3)).astype(dtype)
    ba = rng.standard_normal(32).astype(dtype)
    ga = rng.standard_normal((32, 32, 32, 32)).astype(dtype)
    node, fast = run(True, xa, wa, ba, ga, x_grad=False, padding=1)
    assert node is Conv2dSmallChannels
    node, ref = run(False, xa, wa, ba, ga, x_grad=False, padding=1)
    assert node is conv.Conv2dFn
    assert_floors_agree(fast, ref, xa, wa, ba, ga, dtype, padding=1)
    if dtype == np.float64:
        wt, bt = torch.tensor(wa, requires_grad=True), torch.tensor(ba, requires_grad=True)
        yt = torch.nn.functional.conv2d(torch.tensor(xa), wt, bt, padding=1)
        yt.backward(torch.tensor(ga))
        for a, t in zip([fast[0], fast[2], fast[3]], [yt.detach(), wt.grad, bt.grad]):
            np.testing.assert_allclose(a, t.numpy(), **TOL[np.float64])


@pytest.mark.parametrize("o", [1, 5, 16])
def test_small_k_weight_gradient_kernel(fast_conv, o):
    """``small_k_weight_grad`` directly, against a float64 einsum over the padded input: kernels 1-5
    wide, row stride and dilation, output channels that leave a partial block of 4; the bias
    gradient only when asked for (an empty ``gb``)."""
    kern = fast_conv.compiled(np.float64)
    rng = np.random.default_rng(o)
    for kh, kw, sh, dh, dw in [(3, 3, 1, 1, 1), (2, 5, 2, 1, 1), (3, 4, 1, 2, 2),
                               (1, 1, 3, 1, 1), (3, 2, 2, 2, 1)]:
        c, n, ho, wo = 2, 3, 4, 5
        hp, wp = (ho - 1) * sh + (kh - 1) * dh + 1 + 1, wo + (kw - 1) * dw + 2
        xp = rng.standard_normal((c, hp, wp, n))
        g = rng.standard_normal((o, ho, wo, n))
        ref = np.zeros((o, c, kh, kw))
        for i in range(kh):
            for j in range(kw):
                win = xp[:, i * dh:i * dh + (ho - 1) * sh + 1:sh, j * dw:j * dw + wo]
                ref[:, :, i, j] = np.einsum("oyxn,cyxn->oc", g, win)
        gw, gb = np.full((o, c, kh, kw), np.nan), np.full(o, np.nan)
        kern.small_k_weight_grad(xp, g, gw, gb, sh, dh, dw, 0.0)
        np.testing.assert_allclose(gw, ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gb, g.sum(axis=(1, 2, 3)), rtol=1e-12, atol=1e-12)
        kern.small_k_weight_grad(xp, g, gw, np.empty(0), sh, dh, dw, 0.0)
        np.testing.assert_allclose(gw, ref, rtol=1e-12, atol=1e-12)


def test_small_k_conv_detects_in_place_change(fast_conv):
    """The few-input-channel path keeps a padded copy of its input, and the input itself for
    the version check: changing the input in place before backward raises, as in PyTorch."""
    x0 = lamina.tensor(np.random.default_rng(0).standard_normal((2, 3, 6, 6)),
                       requires_grad=True)
    x = x0 * 1.0
    w = lamina.tensor(np.ones((12, 3, 3, 3)), requires_grad=True)
    y = conv.conv2d(x, w, padding=1)
    assert type(y._ctx) is Conv2dSmallChannels
    with lamina.no_grad():
        x.mul_(2.0)
    with pytest.raises(RuntimeError):
        y.sum().backward()


@pytest.mark.parametrize("grad", [True, False])
def test_conv_with_empty_batch(conv_floor, grad):
    """An empty batch gives an empty output and zero weight and bias gradients (the
    streamed forward's block size used to divide by the batch size)."""
    x = lamina.tensor(np.zeros((0, 3, 8, 8), np.float32))
    w = lamina.tensor(np.ones((16, 3, 3, 3), np.float32), requires_grad=grad)
    b = lamina.tensor(np.ones(16, np.float32), requires_grad=grad)
    if not grad:
        with lamina.no_grad():
            assert conv.conv2d(x, w, b, padding=1).shape == (0, 16, 8, 8)
        return
    y = conv.conv2d(x, w, b, padding=1)
    assert y.shape == (0, 16, 8, 8)
    assert _small_k(y._ctx) is conv_floor
    y.sum().backward()
    np.testing.assert_array_equal(w.grad._data, 0)
    np.testing.assert_array_equal(b.grad._data, 0)
