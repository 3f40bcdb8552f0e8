"""NaN and infinities propagate as in PyTorch (issue #12): GELU on 0-d and NaN inputs, the
reductions and losses on NaN/Inf, and var/std of values whose squares overflow."""

import warnings

import numpy as np
import pytest

import lamina
import lamina.nn.functional as F
from tests.helpers import requires_torch, torch

NAN, INF = float("nan"), float("inf")


def _compare(lam, ref, rtol=1e-12, atol=0.0):
    lam = np.asarray(lam.detach().numpy() if hasattr(lam, "detach") else lam, dtype=float)
    ref = np.asarray(ref.detach().numpy(), dtype=float)
    assert lam.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(lam), np.isnan(ref))
    np.testing.assert_allclose(lam, ref, rtol=rtol, atol=atol, equal_nan=True)


@requires_torch
@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("value", [0.01, -0.3, 1.5, NAN, INF, -INF, 1e300, -1e300, -40.0])
def test_gelu_0d_and_nonfinite_match_pytorch(value, approximate):
    x = lamina.tensor(value, dtype=lamina.float64, requires_grad=True)
    t = torch.tensor(value, dtype=torch.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's overflow notes
        y = F.gelu(x, approximate=approximate)
        y.backward()
    yt = torch.nn.functional.gelu(t, approximate=approximate)
    yt.backward()
    _compare(y, yt)
    _compare(x.grad, t.grad)


@requires_torch
def test_gelu_nan_inside_a_batch():
    a = np.array([[NAN, 0.02, -0.01], [2.0, NAN, -INF]])
    for approximate in ("none", "tanh"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            y = F.gelu(lamina.tensor(a), approximate=approximate)
        _compare(y, torch.nn.functional.gelu(torch.tensor(a), approximate=approximate))


_ARRAYS = {
    "nan": [[1.0, NAN, 3.0], [4.0, 5.0, 6.0]],
    "inf": [[1.0, INF, 3.0], [-INF, 5.0, 6.0]],
    "naninf": [[NAN, INF], [-INF, 2.0]],
    "allinf": [[INF, INF], [-INF, -INF]],
}

_REDUCTIONS = {
    "sum": lambda m, x: x.sum(1), "mean": lambda m, x: x.mean(0), "prod": lambda m, x: x.prod(1),
    "max": lambda m, x: x.max(), "max_dim": lambda m, x: x.max(1)[0],
    "argmax_dim": lambda m, x: x.max(1)[1], "min_dim": lambda m, x: x.min(0)[1],
    "argmax": lambda m, x: m.argmax(x), "argmin": lambda m, x: m.argmin(x, 1),
    "amax": lambda m, x: m.amax(x, 1), "var": lambda m, x: x.var(1), "std": lambda m, x: x.std(),
    "logsumexp": lambda m, x: m.logsumexp(x, 1), "norm": lambda m, x: m.norm(x, dim=1),
    "cumsum": lambda m, x: m.cumsum(x, 1),
    "softmax": lambda m, x: m.nn.functional.softmax(x, 1),
    "log_softmax": lambda m, x: m.nn.functional.log_softmax(x, 1),
    "mse": lambda m, x: m.nn.functional.mse_loss(x, x * 0 + 1),
    "cross_entropy": lambda m, x: m.nn.functional.cross_entropy(x, m.tensor([0, 1])),
    "bce_logits": lambda m, x: m.nn.functional.binary_cross_entropy_with_logits(x, x * 0 + 0.5),
}


@requires_torch
@pytest.mark.parametrize("arr", list(_ARRAYS))
@pytest.mark.parametrize("op", list(_REDUCTIONS))
def test_reductions_and_losses_propagate_nan_inf_like_pytorch(op, arr):
    a = np.array(_ARRAYS[arr])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = _REDUCTIONS[op](lamina, lamina.tensor(a))
    _compare(got, _REDUCTIONS[op](torch, torch.tensor(a)))


@requires_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_std_var_of_values_whose_squares_overflow(dtype):
    a = np.array([1e30, 0, 0, 0, 0], dtype=dtype)
    x = lamina.tensor(a, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    s = x.std()
    s.backward()
    st = t.std()
    st.backward()
    rtol = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(s.item(), st.item(), rtol=rtol)     # 4.47e29, not inf
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=rtol)
    assert np.isinf(x.var().item()) == np.isinf(t.var().item())  # 2e59: inf only in float32
    # one overflowing row among ordinary ones: each row keeps its own value
    b = np.array([[1e30, 0, 0, 0, 0], [1, 2, 3, 4, 5]], dtype=dtype)
    np.testing.assert_allclose(lamina.tensor(b).std(1).numpy(),
                               torch.tensor(b).std(1).numpy(), rtol=rtol)


def test_std_keeps_nan_for_nan_and_inf_inputs():
    got = lamina.tensor([[NAN, 1.0], [INF, 1.0], [1e300, -1e300]], dtype=lamina.float64).std(1)
    assert np.isnan(got.numpy()[:2]).all()
    np.testing.assert_allclose(got.numpy()[2], np.sqrt(2) * 1e300, rtol=1e-12)


@requires_torch
def test_sign_of_nan_is_zero_like_pytorch():
    a = np.array([NAN, -INF, -2.0, -0.0, 0.0, 3.0, INF])
    x = lamina.tensor(a, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    y, yt = lamina.sign(x), torch.sign(t)
    y.sum().backward()
    yt.sum().backward()
    _compare(y, yt)
    _compare(x.grad, t.grad)                                # zero, not NaN, at the NaN
    _compare(lamina.sign(lamina.tensor(NAN)), torch.sign(torch.tensor(NAN)))


@requires_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_of_minus_inf_is_exactly_zero_without_warnings(dtype):
    a = np.array([-INF, -1e30, -800.0, -100.0, 0.0, 100.0, INF, NAN], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = lamina.sigmoid(lamina.tensor(a))
    assert y.numpy()[0] == 0.0 and y.numpy()[1] == 0.0
    _compare(y, torch.sigmoid(torch.tensor(a)), rtol=1e-6, atol=1e-30)


@requires_torch
def test_threshold_keeps_nan_like_pytorch():
    a = np.array([NAN, -1.0, 0.5, 2.0, INF, -INF])
    x = lamina.tensor(a, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    y, yt = F.threshold(x, 0.5, -7.0), torch.nn.functional.threshold(t, 0.5, -7.0)
    y.sum().backward()
    yt.sum().backward()
    _compare(y, yt)
    _compare(x.grad, t.grad)


@requires_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_layer_and_group_norm_rows_with_inf_or_overflowing_mean_are_nan(dtype):
    # an inf makes its row NaN; in float32 so does a mean whose square overflows (PyTorch's
    # variance is E[x^2] - E[x]^2); other rows are untouched
    a = np.array([[1.0, INF, 2.0, 0.0], [0.0, 0.0, 1e30, 0.0], [1.0, 2.0, 3.0, 4.0],
                  [0.0, 0.0, 3e19, 0.0]], dtype=dtype)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        y = F.layer_norm(lamina.tensor(a), (4,))
        g = F.group_norm(lamina.tensor(a.reshape(2, 4, 2)), 2)
    _compare(y, torch.nn.functional.layer_norm(torch.tensor(a), (4,)), rtol=rtol, atol=1e-6)
    _compare(g, torch.nn.functional.group_norm(torch.tensor(a.reshape(2, 4, 2)), 2),
             rtol=rtol, atol=1e-6)


@requires_torch
@pytest.mark.parametrize("fast", [True, False])
def test_adaptive_avg_pool_spreads_nan_only_to_its_windows(fast):
    a = np.arange(2 * 3 * 7 * 9, dtype=np.float32).reshape(2, 3, 7, 9) / 50
    a[0, 1, 3, 4], a[1, 2, 0, 0], a[1, 0, 6, 8] = NAN, INF, -INF
    x = lamina.tensor(a, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    with lamina.dispatch.fast_paths(fast):
        for size in [(2, 3), (3, 4), 5, (7, 9)]:
            _compare(F.adaptive_avg_pool2d(x, size),
                     torch.nn.functional.adaptive_avg_pool2d(t, size), rtol=1e-5, atol=1e-6)
        _compare(F.adaptive_avg_pool1d(x[0], 4),
                 torch.nn.functional.adaptive_avg_pool1d(t[0], 4), rtol=1e-5, atol=1e-6)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)     # the sum of inf and -inf
            F.adaptive_avg_pool2d(x, (3, 4)).sum().backward()
    torch.nn.functional.adaptive_avg_pool2d(t, (3, 4)).sum().backward()
    _compare(x.grad, t.grad, rtol=1e-6)


@requires_torch
@pytest.mark.parametrize("fast", [True, False])
def test_max_pool_propagates_nan_like_pytorch(fast):
    a = np.arange(2 * 6 * 6, dtype=np.float64).reshape(1, 2, 6, 6) % 7
    a[0, 0, 1, 1], a[0, 1, 4, 5] = NAN, -INF
    with lamina.dispatch.fast_paths(fast):
        _compare(F.max_pool2d(lamina.tensor(a), 2),
                 torch.nn.functional.max_pool2d(torch.tensor(a), 2))
        _compare(F.max_pool1d(lamina.tensor(a[0]), 3),
                 torch.nn.functional.max_pool1d(torch.tensor(a[0]), 3))
