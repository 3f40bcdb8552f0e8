"""lamina.nn.functional against torch.nn.functional: values and gradients, float64 tight and
float32 loose, plus numerical gradchecks of the fused ops."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lamina
import lamina.nn.functional as F
from tests.helpers import check_grad, check_op, requires_torch, torch

TF = torch.nn.functional if torch is not None else None


# --- linear ----------------------------------------------------------------------------------

@pytest.mark.parametrize("xshape", [(5, 4), (4,), (2, 3, 4), (2, 1, 3, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(xshape, bias):
    shapes = [xshape, (3, 4)] + ([(3,)] if bias else [])
    check_op(shapes, lambda x, w, *b: TF.linear(x, w, *b),
             lambda x, w, *b: F.linear(x, w, *b))


def test_linear_float32():
    check_op([(8, 6), (5, 6), (5,)], lambda x, w, b: TF.linear(x, w, b),
             lambda x, w, b: F.linear(x, w, b), dtype=np.float32)


@given(n=st.integers(1, 6), i=st.integers(1, 5), o=st.integers(1, 5))
def test_linear_shapes_hypothesis(n, i, o):
    check_op([(n, i), (o, i), (o,)], lambda x, w, b: TF.linear(x, w, b),
             lambda x, w, b: F.linear(x, w, b))


@pytest.mark.parametrize("xshape,wshape", [((5, 0), (3, 0)), ((2, 1, 0), (3, 0)), ((0,), (3, 0)),
                                           ((2, 3, 4), (0, 4)), ((0, 4), (3, 4))])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_with_zero_features_matches_torch(xshape, wshape, bias):
    # 0 in_features: the output is the bias broadcast (or zeros); 0 out_features: empty
    shapes = [xshape, wshape] + ([wshape[:1]] if bias else [])
    check_op(shapes, lambda x, w, *b: TF.linear(x, w, *b),
             lambda x, w, *b: F.linear(x, w, *b))


def test_linear_module_with_zero_in_features():
    m = lamina.nn.Linear(0, 3)
    y = m(lamina.zeros(4, 2, 0))
    assert y.shape == (4, 2, 3)
    np.testing.assert_array_equal(y.detach().numpy(), np.broadcast_to(m.bias.detach().numpy(),
                                                                      (4, 2, 3)))


def test_linear_gradcheck():
    check_grad(lambda x, w, b: F.linear(x, w, b), [(3, 2, 4), (3, 4), (3,)])


def test_linear_errors():
    x, w = lamina.zeros(2, 3), lamina.zeros(4, 5)
    with pytest.raises(RuntimeError, match="linear"):
        F.linear(x, w)
    with pytest.raises(RuntimeError, match="bias"):
        F.linear(x, lamina.zeros(4, 3), lamina.zeros(5))
    with pytest.raises(RuntimeError, match="dtype"):
        F.linear(x, lamina.zeros(4, 3, dtype=lamina.float64))


# --- activations -----------------------------------------------------------------------------

ACTS = [
    ("relu", lambda m, x: m.relu(x)),
    ("leaky_relu", lambda m, x: m.leaky_relu(x, 0.2)),
    ("elu", lambda m, x: m.elu(x)),
    ("elu_alpha", lambda m, x: m.elu(x, alpha=0.7)),
    ("gelu", lambda m, x: m.gelu(x)),
    ("gelu_tanh", lambda m, x: m.gelu(x, approximate="tanh")),
    ("silu", lambda m, x: m.silu(x)),
    ("softplus", lambda m, x: m.softplus(x)),
    ("softplus_beta", lambda m, x: m.softplus(x, beta=3.0, threshold=4.0)),
    ("sigmoid", lambda m, x: m.sigmoid(x)),
    ("tanh", lambda m, x: m.tanh(x)),
    ("softmax", lambda m, x: m.softmax(x, dim=1)),
    ("softmax_neg", lambda m, x: m.softmax(x, dim=-1)),
    ("log_softmax", lambda m, x: m.log_softmax(x, dim=1)),
    ("log_softmax0", lambda m, x: m.log_softmax(x, dim=0)),
    ("hardtanh", lambda m, x: m.hardtanh(x, -1.5, 2.5)),
    ("relu6", lambda m, x: m.relu6(x * 3)),
    ("hardsigmoid", lambda m, x: m.hardsigmoid(x * 2)),
    ("hardswish", lambda m, x: m.hardswish(x * 2)),
    ("logsigmoid", lambda m, x: m.logsigmoid(x)),
    ("softsign", lambda m, x: m.softsign(x)),
    ("selu", lambda m, x: m.selu(x)),
    # alpha = 0.5: PyTorch rounds 1/alpha to float32 in its backward, so other alphas differ
    # from the exact derivative by ~1e-7 relative
    ("celu", lambda m, x: m.celu(x, alpha=0.5)),
    ("mish", lambda m, x: m.mish(x)),
    ("tanhshrink", lambda m, x: m.tanhshrink(x)),
    ("threshold", lambda m, x: m.threshold(x, 0.3, -2.0)),
    ("softmin", lambda m, x: m.softmin(x, dim=2)),
]


@requires_torch
@pytest.mark.parametrize("name,fn", ACTS, ids=[a[0] for a in ACTS])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_activation_matches_torch(name, fn, dtype):
    check_op([(4, 5, 3)], lambda x: fn(TF, x), lambda x: fn(F, x), dtype=dtype,
             low=-4.0, high=4.0)


@requires_torch
def test_gelu_wide_range():
    # both series and continued-fraction branches of the erf, and the far tails
    x = np.concatenate([np.linspace(-12, 12, 481), [-40.0, 40.0, 0.0]])
    check_op([x], lambda t: TF.gelu(t), lambda t: F.gelu(t))


@requires_torch
def test_softplus_threshold_and_extremes():
    x = np.array([-100.0, -30.0, -1.0, 0.0, 1.0, 19.9, 20.0, 20.1, 50.0, 1000.0])
    check_op([x], lambda t: TF.softplus(t), lambda t: F.softplus(t))


def test_relu_inplace_flag_is_accepted():
    x = lamina.tensor([-1.0, 2.0])
    np.testing.assert_array_equal(F.relu(x, inplace=True).data, [0.0, 2.0])
    np.testing.assert_array_equal(x._data, [-1.0, 2.0])     # lamina computes out of place
    np.testing.assert_allclose(F.leaky_relu(x, 0.1, inplace=True).data, [-0.1, 2.0])


@requires_torch
@pytest.mark.parametrize("wshape", [(1,), (5,)])
def test_prelu_matches_torch(wshape):
    rng = np.random.default_rng(0)
    w = rng.uniform(0.1, 0.5, size=wshape)
    for xshape in [(4, 5), (2, 5, 3)]:
        check_op([xshape, w], lambda x, w: TF.prelu(x, w), lambda x, w: F.prelu(x, w))
    with pytest.raises(RuntimeError, match="prelu"):
        F.prelu(lamina.randn(2, 4), lamina.ones(3))


def test_activation_gradcheck():
    for fn in (F.elu, F.gelu, F.silu, F.softplus, lambda x: F.gelu(x, approximate="tanh"),
               lambda x: F.softmax(x, 1), lambda x: F.log_softmax(x, 0), F.selu, F.mish,
               F.logsigmoid, F.softsign, F.hardswish, lambda x: F.celu(x, 0.5)):
        check_grad(fn, [(3, 4)])


@requires_torch
def test_heaviside_matches_torch_and_has_zero_grad():
    x = np.array([-2.0, -0.0, 0.0, 0.5, 3.0])
    for v in (0.0, 0.5, 1.0):
        want = torch.heaviside(torch.tensor(x), torch.tensor(v, dtype=torch.float64)).numpy()
        np.testing.assert_array_equal(F.heaviside(lamina.tensor(x), v).data, want)
    t = lamina.tensor(x, requires_grad=True)
    F.heaviside(t).sum().backward()
    np.testing.assert_array_equal(t.grad._data, np.zeros(5))
    step = lamina.nn.Step()
    np.testing.assert_array_equal(step(lamina.tensor(x)).data, [0, 1, 1, 1, 1])


def test_softmax_implicit_dim():
    x = lamina.randn(3, 4, dtype=lamina.float64)
    np.testing.assert_allclose(F.softmax(x).data.sum(1), np.ones(3))
    np.testing.assert_allclose(F.softmax(x, 1).data, lamina.softmax(x, 1).data, rtol=1e-12)
    np.testing.assert_allclose(np.exp(F.log_softmax(x, -1).data), F.softmax(x, 1).data,
                               rtol=1e-12)


# --- dropout ---------------------------------------------------------------------------------

def test_dropout_scaling_mask_and_grad():
    lamina.manual_seed(0)
    x = lamina.ones(200, 300, requires_grad=True)
    y = F.dropout(x, 0.3)
    vals = np.unique(y._data)
    np.testing.assert_allclose(vals, [0.0, 1 / 0.7], rtol=1e-6)
    keep = (y._data != 0).mean()
    assert abs(keep - 0.7) < 0.01
    y.sum().backward()
    np.testing.assert_array_equal(x.grad._data, y._data)  # grad is the scaled mask
    assert y.dtype == lamina.float32


def test_dropout_eval_edges_and_seed():
    x = lamina.randn(10, 10)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).data, np.zeros((10, 10)))
    lamina.manual_seed(3)
    a = F.dropout(x, 0.5).data
    lamina.manual_seed(3)
    b = F.dropout(x, 0.5).data
    np.testing.assert_array_equal(a, b)
    for p in (-0.1, 1.5, True):
        with pytest.raises(ValueError, match="between 0 and 1"):
            F.dropout(x, p)
        with pytest.raises(ValueError, match="between 0 and 1"):
            lamina.nn.Dropout(p)


# --- batch_norm / layer_norm -----------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 5)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_matches_torch(shape, training, affine):
    c = shape[1]
    rng = np.random.default_rng(1)
    rm, rv = rng.normal(size=c), rng.uniform(0.5, 2, size=c)
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    lrm, lrv = lamina.tensor(rm), lamina.tensor(rv)
    shapes = [shape] + ([(c,), (c,)] if affine else [])

    def tf(x, *wb):
        return TF.batch_norm(x, trm, trv, *wb, training=training, momentum=0.3, eps=1e-4)

    def lf(x, *wb):
        return F.batch_norm(x, lrm, lrv, *wb, training=training, momentum=0.3, eps=1e-4)

    check_op(shapes, tf, lf)
    np.testing.assert_allclose(lrm._data, trm.numpy(), rtol=1e-10)
    np.testing.assert_allclose(lrv._data, trv.numpy(), rtol=1e-10)


@requires_torch
def test_batch_norm_float32_and_no_running_stats():
    check_op([(8, 4, 3), (4,), (4,)],
             lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True),
             lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
             dtype=np.float32, grad_atol=1e-4)


def test_batch_norm_gradcheck():
    rm, rv = lamina.zeros(3, dtype=lamina.float64), lamina.ones(3, dtype=lamina.float64)
    check_grad(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
               [(4, 3, 2), (3,), (3,)])
    check_grad(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False),
               [(4, 3), (3,), (3,)])


def test_batch_norm_errors():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(lamina.randn(1, 3), None, None, training=True)
    with pytest.raises(RuntimeError, match="running_mean"):
        F.batch_norm(lamina.randn(4, 3), lamina.zeros(4), lamina.ones(3), training=True)


@requires_torch
@pytest.mark.parametrize("shape,ns", [((4, 5), (5,)), ((2, 3, 4), (3, 4)), ((3, 6), 6)])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layer_norm_matches_torch(shape, ns, affine, dtype):
    nshape = (ns,) if isinstance(ns, int) else ns
    shapes = [shape] + ([nshape, nshape] if affine else [])
    check_op(shapes, lambda x, *wb: TF.layer_norm(x, nshape, *wb, eps=1e-5),
             lambda x, *wb: F.layer_norm(x, ns, *wb, eps=1e-5), dtype=dtype,
             grad_atol=1e-4 if dtype == np.float32 else None)


def test_layer_norm_gradcheck_and_errors():
    check_grad(lambda x, w, b: F.layer_norm(x, (3, 2), w, b), [(2, 3, 2), (3, 2), (3, 2)])
    with pytest.raises(RuntimeError, match="normalized_shape"):
        F.layer_norm(lamina.randn(2, 3), (4,))


# --- one_hot ---------------------------------------------------------------------------------

@requires_torch
def test_one_hot():
    t = np.array([[0, 2], [1, 3]])
    np.testing.assert_array_equal(F.one_hot(lamina.tensor(t)).data,
                                  TF.one_hot(torch.tensor(t)).numpy())
    out = F.one_hot(lamina.tensor(t), num_classes=6)
    assert out.shape == (2, 2, 6) and out.dtype == lamina.int64
    with pytest.raises(RuntimeError):
        F.one_hot(lamina.tensor([0, 5]), num_classes=3)
    with pytest.raises(RuntimeError):
        F.one_hot(lamina.tensor([0.0, 1.0]))


def test_internal_erf_is_double_precision():
    import math

    from lamina.ops.nn import _erf
    x = np.concatenate([np.linspace(-7, 7, 20001), [0.0, 1e-300, 1e-9, 0.0625, 6.0, 50.0]])
    ref = np.array([math.erf(v) for v in x])
    got = _erf(x)
    np.testing.assert_allclose(got, ref, rtol=1e-14, atol=1e-300)
