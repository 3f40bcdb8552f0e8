"""conv1d / conv2d / conv_transpose1d / conv_transpose2d against PyTorch, plus gradcheck."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lamina
from lamina.ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d
from tests.helpers import assert_sum_order_close, check_grad, check_op, requires_torch, torch

if torch is not None:
    import torch.nn.functional as TF


@st.composite
def conv2d_cases(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cg = draw(st.integers(1, 2))
    og = draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 7))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), 7))
    n = draw(st.integers(1, 3))
    bias = draw(st.booleans())
    return dict(n=n, c=cg * groups, o=og * groups, groups=groups, k=(kh, kw), s=(sh, sw),
                d=(dh, dw), p=(ph, pw), hw=(h, w), bias=bias)


def _conv_shapes(c):
    shapes = [(c["n"], c["c"]) + c["hw"], (c["o"], c["c"] // c["groups"]) + c["k"]]
    if c["bias"]:
        shapes.append((c["o"],))
    return shapes


@requires_torch
@settings(max_examples=15)
@given(conv2d_cases(), st.sampled_from([np.float64, np.float32]))
def test_conv2d_matches_torch(c, dtype):
    kw = dict(stride=c["s"], padding=c["p"], dilation=c["d"], groups=c["groups"])
    if dtype == np.float64:
        check_op(_conv_shapes(c), lambda x, w, b=None: TF.conv2d(x, w, b, **kw),
                 lambda x, w, b=None: conv2d(x, w, b, **kw))
    else:
        _check_conv2d_float32(c, kw)


def _check_conv2d_float32(c, kw):
    """float32 values and gradients of ``sum(conv2d)`` against PyTorch's float32, within the
    summation-order bound (the two libraries add the same products in different orders,
    PyTorch's depending on the CPU), with the sums of |terms| from float64."""
    rng = np.random.default_rng(0)
    arrays = [rng.uniform(-2, 2, s).astype(np.float32) for s in _conv_shapes(c)]

    def grads(lib, arrs, dtype):
        ts = [lib.tensor(a.astype(dtype), requires_grad=True) for a in arrs]
        fn = TF.conv2d if lib is torch else conv2d
        y = fn(*ts, **kw)
        y.sum().backward()
        return [np.asarray(y.detach().numpy() if lib is torch else y.data)] + [
            t.grad.numpy() if lib is torch else t.grad.data for t in ts]

    ours = grads(lamina, arrays, np.float32)
    theirs = grads(torch, arrays, np.float32)
    abs_sums = grads(torch, [np.abs(a) for a in arrays], np.float64)
    o, cg, kh, kwd = arrays[1].shape
    n, _, ho, wo = ours[0].shape
    terms = [cg * kh * kwd + 1, o // c["groups"] * kh * kwd, n * ho * wo, n * ho * wo]
    names = ["output", "input grad", "weight grad", "bias grad"]
    for a, b, s, k, name in zip(ours, theirs, abs_sums, terms, names):
        assert a.dtype == np.float32, name
        assert_sum_order_close(a, b, s, k, np.float32, err_msg=name)


@requires_torch
@settings(max_examples=10)
@given(conv2d_cases())
def test_conv_transpose2d_matches_torch(c):
    # reuse the drawn geometry: input channels c, output channels o
    op = tuple(min(s, d) - 1 for s, d in zip(c["s"], c["d"]))
    p = tuple(min(pi, (k - 1) * d // 2) for pi, k, d in zip(c["p"], c["k"], c["d"]))
    kw = dict(stride=c["s"], padding=p, output_padding=op, dilation=c["d"],
              groups=c["groups"])
    shapes = [(c["n"], c["c"]) + c["hw"], (c["c"], c["o"] // c["groups"]) + c["k"]]
    if c["bias"]:
        shapes.append((c["o"],))
    check_op(shapes, lambda x, w, b=None: TF.conv_transpose2d(x, w, b, **kw),
             lambda x, w, b=None: conv_transpose2d(x, w, b, **kw))


@requires_torch
@pytest.mark.parametrize("kw", [dict(stride=2, padding=1), dict(padding="same", dilation=2),
                                dict(padding="valid", groups=3), dict(stride=3, dilation=2)])
def test_conv1d_matches_torch(kw):
    g = kw.get("groups", 1)
    check_op([(2, 3, 11), (6, 3 // g, 3), (6,)], lambda x, w, b: TF.conv1d(x, w, b, **kw),
             lambda x, w, b: conv1d(x, w, b, **kw))


@requires_torch
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_conv2d_same_padding_even_kernel_and_unbatched():
    check_op([(3, 6, 7), (4, 3, 4, 2), (4,)],
             lambda x, w, b: TF.conv2d(x, w, b, padding="same"),
             lambda x, w, b: conv2d(x, w, b, padding="same"))


@requires_torch
def test_conv_transpose1d_matches_torch():
    kw = dict(stride=3, padding=1, output_padding=2)
    check_op([(2, 4, 5), (4, 3, 4), (3,)], lambda x, w, b: TF.conv_transpose1d(x, w, b, **kw),
             lambda x, w, b: conv_transpose1d(x, w, b, **kw))


@requires_torch
def test_conv2d_chain_channels_first_memory():
    """conv output is a channels-first view; a second conv, a pool and a reshape see it."""
    def f(F, x, w1, w2):
        y = F["conv"](F["conv"](x, w1, padding=1).relu(), w2, stride=2)
        return F["pool"](y, 2).reshape(2, -1)

    tf = dict(conv=TF.conv2d, pool=TF.max_pool2d)
    from lamina.ops.pool import max_pool2d
    lf = dict(conv=conv2d, pool=max_pool2d)
    check_op([(2, 3, 9, 9), (4, 3, 3, 3), (5, 4, 3, 3)], lambda *a: f(tf, *a),
             lambda *a: f(lf, *a))


def test_conv2d_gradcheck():
    check_grad(lambda x, w, b: conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2),
                                      groups=2), [(2, 4, 5, 5), (4, 2, 2, 3), (4,)])


def test_conv_transpose2d_gradcheck():
    check_grad(lambda x, w, b: conv_transpose2d(x, w, b, stride=2, padding=1,
                                                output_padding=1, groups=2),
               [(1, 4, 3, 3), (4, 1, 3, 3), (2,)])


def test_conv1d_gradcheck_fast_mode():
    check_grad(lambda x, w: conv1d(x, w, stride=2, padding=2), [(3, 4, 20), (5, 4, 5)],
               fast_mode=True)


def test_conv_float32_stays_float32():
    x = lamina.randn(2, 3, 8, 8, requires_grad=True)
    w = lamina.randn(4, 3, 3, 3, requires_grad=True)
    y = conv2d(x, w, padding=1)
    assert y.dtype == lamina.float32
    y.sum().backward()
    assert x.grad.dtype == lamina.float32 and w.grad.dtype == lamina.float32


@pytest.mark.parametrize("call, exc", [
    (lambda: conv2d(lamina.randn(1, 3, 5, 5), lamina.randn(4, 2, 3, 3)), RuntimeError),
    (lambda: conv2d(lamina.randn(1, 3, 2, 2), lamina.randn(4, 3, 3, 3)), RuntimeError),
    (lambda: conv2d(lamina.randn(1, 3, 5, 5), lamina.randn(4, 3, 3, 3), stride=2,
                    padding="same"), ValueError),
    (lambda: conv2d(lamina.randn(1, 3, 5, 5), lamina.randn(4, 3, 3, 3), padding="full"),
     ValueError),
    (lambda: conv2d(lamina.randn(1, 3, 5, 5),
                    lamina.randn(4, 3, 3, 3, dtype=lamina.float64)), RuntimeError),
    (lambda: conv2d(lamina.randn(5, 5), lamina.randn(4, 3, 3, 3)), RuntimeError),
    (lambda: conv2d(lamina.randn(1, 4, 5, 5), lamina.randn(3, 2, 3, 3), groups=2),
     RuntimeError),
    (lambda: conv_transpose2d(lamina.randn(1, 3, 5, 5), lamina.randn(3, 2, 3, 3),
                              stride=2, output_padding=2), RuntimeError),
])
def test_conv_errors(call, exc):
    with pytest.raises(exc):
        call()


def test_conv_transpose1d_gradcheck():
    check_grad(lambda x, w, b: conv_transpose1d(x, w, b, stride=2, padding=1, dilation=2),
               [(2, 3, 4), (3, 2, 3), (2,)])
