"""conv2d speed paths, third set: layers with few input channels (an RGB first layer) that
keep the padded input and compute the weight gradient with the compiled ``gw_small`` while
the forward streams its columns; and the compiled global average pool of a batch-last
input. Both sum in their own order, so they are compared with PyTorch (float64 tightly,
float32 loosely) and with the NumPy path up to rounding; each test checks that the path it
is about was really taken."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lamina
from lamina.ops import conv, pool
from tests.helpers import TOL, requires_torch, torch


def _settings(n):
    """``n`` examples; the path fixtures are function-scoped but the same for every one."""
    return settings(max_examples=n, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _batch_last(a):
    """``a`` with the same values, laid out (C, H, W, N) in memory like a conv output."""
    return np.ascontiguousarray(a.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


def _takes_small_k(c, o, kh, kw, stride, dilation):
    """Whether conv2d with numba runs this training layer on the few-input-channel path
    (the direct convolution comes first for at most 8 output channels)."""
    direct = (o <= conv._DIRECT_MAX_OUT and kw in (3, 5) and stride == (1, 1)
              and dilation == (1, 1))
    return (not direct and stride[1] == 1 and c * kh * kw <= conv._SMALL_K_MAX
            and o <= conv._SMALL_K_MAX_OUT)


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
    grads = [None if t is None or t.grad is None else t.grad.data.copy() for t in (x, w, b)]
    return y.data.copy(), grads, ctx


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
def test_small_k_conv_matches_torch_float64(conv_path, case):
    """Output, input, weight and bias gradients against PyTorch in float64 (tight), on the
    compiled path and on the NumPy path; with numba the layers within the bounds really
    take the few-input-channel path, the others (and every layer without numba) not."""
    y, grads, ctx = _run_conv(case, np.float64, "lamina")
    yt, grads_t, _ = _run_conv(case, np.float64, "torch")
    n, c = case["shape"][:2]
    assert ctx.small_k is (conv_path and _takes_small_k(c, case["o"], *case["k"],
                                                        case["stride"], case["dilation"]))
    tol = TOL[np.float64]
    np.testing.assert_allclose(y, yt, **tol)
    for g, gt in zip(grads, grads_t):
        _assert_close(g, gt, tol["rtol"], tol["atol"])


@requires_torch
@_settings(20)
@given(case=small_k_cases())
def test_small_k_conv_matches_torch_float32(conv_path, case):
    """The same in float32, loosely (the kernel sums each output row in float32)."""
    y, grads, _ = _run_conv(case, np.float32, "lamina")
    yt, grads_t, _ = _run_conv(case, np.float32, "torch")
    np.testing.assert_allclose(y, yt, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(yt).max()))
    for g, gt in zip(grads, grads_t):
        _assert_close(g, gt, 1e-4, 1e-5)


@requires_torch
@pytest.mark.parametrize("c, kw, o, dw", [(1, 27, 5, 1), (1, 10, 3 * 4 + 1, 2), (3, 9, 9, 1),
                                          (2, 7, 32, 3)])
def test_small_k_wide_kernels_match_torch(conv_path, c, kw, o, dw):
    """Kernels wider than the strategy draws (up to 27 taps in a row, as a conv1d with one
    input channel has): the kernel's blocks of 3 columns, the last one clamped, against
    PyTorch in float64, through conv1d."""
    rng = np.random.default_rng(kw)
    xa = rng.standard_normal((3, c, 70))
    wa = rng.standard_normal((o, c, kw))
    ba = rng.standard_normal(o)
    x, w, b = (lamina.tensor(a, requires_grad=True) for a in (xa, wa, ba))
    y = conv.conv1d(x, w, b, padding=2, dilation=dw)
    node = y._ctx
    while not isinstance(node, conv.Conv2dFn):      # conv1d's reshape of the 2-D output
        node = node.inputs[0]._ctx
    assert node.small_k is conv_path
    ga = rng.standard_normal(y.shape)
    (y * lamina.tensor(ga)).sum().backward()
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (xa, wa, ba))
    yt = torch.nn.functional.conv1d(xt, wt, bt, padding=2, dilation=dw)
    (yt * torch.tensor(ga)).sum().backward()
    tol = TOL[np.float64]
    np.testing.assert_allclose(y.data, yt.detach().numpy(), **tol)
    for g, gt in ((x.grad, xt.grad), (w.grad, wt.grad), (b.grad, bt.grad)):
        _assert_close(g.data, gt.numpy(), tol["rtol"], tol["atol"])


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_k_conv_wide_first_layer(monkeypatch, dtype):
    """conv-wide's first layer (batch 32, 3 -> 32 channels, 3x3, padding 1, input in
    (N, C, H, W) order, no input gradient): the compiled path against PyTorch in float64 and
    against the NumPy path up to rounding."""
    case = dict(shape=(32, 3, 32, 32), o=32, k=(3, 3), stride=(1, 1), padding=(1, 1),
                dilation=(1, 1), bias=True, x_grad=False, batch_last=False, seed=3)
    monkeypatch.setattr(conv._kernels, "enabled", True)
    if conv._kernels(dtype) is None:
        pytest.skip("numba is not available (or LAMINA_NUMBA=0)")
    y, grads, ctx = _run_conv(case, dtype, "lamina")
    assert ctx.small_k
    monkeypatch.setattr(conv._kernels, "enabled", False)
    y_np, grads_np, ctx_np = _run_conv(case, dtype, "lamina")
    assert not ctx_np.small_k
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, y_np, rtol=rtol, atol=rtol * np.abs(y_np).max())
    for g, gn in zip(grads, grads_np):
        _assert_close(g, gn, rtol, rtol)
    c64 = dict(case, x_grad=False)
    yt, grads_t, _ = _run_conv(c64, np.float64, "torch")
    if dtype == np.float64:
        np.testing.assert_allclose(y, yt, **TOL[np.float64])
        for g, gt in zip(grads, grads_t):
            _assert_close(g, gt, TOL[np.float64]["rtol"], TOL[np.float64]["atol"])
    else:
        for g, gt in zip(grads, grads_t):
            _assert_close(g, gt, 1e-4, 1e-5)


@pytest.mark.parametrize("o", [1, 5, 16])
def test_small_k_weight_gradient_kernel(o):
    """``gw_small`` directly, against a float64 einsum over the padded input: kernels 1-5
    wide, row stride and dilation, output channels that leave a partial block of 4; the bias
    gradient only when asked for (an empty ``gb``)."""
    kern = conv._kernels(np.float64)
    if kern is None:
        pytest.skip("numba is not available (or LAMINA_NUMBA=0)")
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
        kern[4](xp, g, gw, gb, sh, dh, dw, 0.0)
        np.testing.assert_allclose(gw, ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gb, g.sum(axis=(1, 2, 3)), rtol=1e-12, atol=1e-12)
        kern[4](xp, g, gw, np.empty(0), sh, dh, dw, 0.0)
        np.testing.assert_allclose(gw, ref, rtol=1e-12, atol=1e-12)


def test_small_k_conv_detects_in_place_change(monkeypatch):
    """The few-input-channel path keeps a padded copy of its input, and the input itself for
    the version check: changing the input in place before backward raises, as in PyTorch."""
    monkeypatch.setattr(conv._kernels, "enabled", True)
    if conv._kernels(np.float64) is None:
        pytest.skip("numba is not available (or LAMINA_NUMBA=0)")
    x0 = lamina.tensor(np.random.default_rng(0).standard_normal((2, 3, 6, 6)),
                       requires_grad=True)
    x = x0 * 1.0
    w = lamina.tensor(np.ones((12, 3, 3, 3)), requires_grad=True)
    y = conv.conv2d(x, w, padding=1)
    assert y._ctx.small_k
    with lamina.no_grad():
        x.mul_(2.0)
    with pytest.raises(RuntimeError):
        y.sum().backward()


@pytest.mark.parametrize("grad", [True, False])
def test_conv_with_empty_batch(conv_path, grad):
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
    assert y._ctx.small_k is conv_path
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.data, 0)
    np.testing.assert_array_equal(b.grad.data, 0)


# --- global average pooling ------------------------------------------------------------------

@pytest.fixture(params=[True, False], ids=["numba", "numpy"])
def gap_path(request, monkeypatch):
    """The global average pool's compiled kernels, then its NumPy path."""
    if request.param:
        pytest.importorskip("numba")
    monkeypatch.setattr(pool._gap_kernels, "enabled", request.param)
    return request.param


def _gap(xa, ga):
    from lamina.nn import functional as F

    x = lamina.tensor(xa, requires_grad=True)
    y = F.adaptive_avg_pool2d(x, 1)
    ctx = y._ctx
    (y * lamina.tensor(ga)).sum().backward()
    return y.data, x.grad.data, ctx


@requires_torch
@_settings(30)
@given(shape=st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 9),
                       st.integers(1, 9)),
       batch_last=st.booleans(), dtype=st.sampled_from([np.float64, np.float32]),
       seed=st.integers(0, 2 ** 16))
def test_global_avg_pool_matches_torch(gap_path, shape, batch_last, dtype, seed):
    """adaptive_avg_pool2d(x, 1) on (N, C, H, W) and batch-last inputs against PyTorch;
    with numba a batch-last input is pooled by the kernels, and its output and gradient
    keep the batch-last memory order."""
    rng = np.random.default_rng(seed)
    xa = rng.standard_normal(shape).astype(dtype)
    if batch_last:
        xa = _batch_last(xa)
    ga = rng.standard_normal(shape[:2] + (1, 1)).astype(dtype)
    y, gx, ctx = _gap(xa, ga)
    kernel = gap_path and xa.transpose(1, 2, 3, 0).flags.c_contiguous
    assert ctx.geom[2] is kernel
    xt = torch.tensor(np.ascontiguousarray(xa), requires_grad=True)
    yt = torch.nn.functional.adaptive_avg_pool2d(xt, 1)
    (yt * torch.tensor(ga)).sum().backward()
    tol = TOL[np.float64] if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    assert y.shape == tuple(yt.shape) and y.dtype == dtype
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    np.testing.assert_allclose(gx, xt.grad.numpy(), **tol)
    if kernel:
        from lamina.ops.pool import GlobalAvgPoolFn

        c = GlobalAvgPoolFn.__new__(GlobalAvgPoolFn)
        out = GlobalAvgPoolFn.forward(c, xa)
        assert out.transpose(1, 2, 3, 0).flags.c_contiguous
        assert GlobalAvgPoolFn.backward(c, ga).transpose(1, 2, 3, 0).flags.c_contiguous


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_avg_pool_kernels_match_numpy(monkeypatch, dtype):
    """conv-wide's pool (32 x 128 x 8 x 8, batch-last): the kernels' mean equals the BLAS
    path's up to rounding (sums in another order) and their gradient equals it exactly."""
    pytest.importorskip("numba")
    rng = np.random.default_rng(4)
    xa = _batch_last(rng.standard_normal((32, 128, 8, 8)).astype(dtype))
    ga = rng.standard_normal((32, 128, 1, 1)).astype(dtype)
    monkeypatch.setattr(pool._gap_kernels, "enabled", True)
    y, gx, ctx = _gap(xa, ga)
    assert ctx.geom[2]
    monkeypatch.setattr(pool._gap_kernels, "enabled", False)
    y_np, gx_np, ctx_np = _gap(xa, ga)
    assert not ctx_np.geom[2]
    np.testing.assert_allclose(y, y_np, rtol=1e-5 if dtype == np.float32 else 1e-13,
                               atol=1e-6 if dtype == np.float32 else 1e-15)
    np.testing.assert_array_equal(gx, gx_np)
