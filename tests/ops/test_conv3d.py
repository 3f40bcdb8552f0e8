"""conv3d / conv_transpose3d against PyTorch (values and gradients in float64, float32 within
the summation-order bound, errors) and gradcheck."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lamina
from lamina.ops.conv3d import conv3d, conv_transpose3d
from tests.helpers import (
    assert_sum_order_close,
    check_grad,
    check_op,
    check_raises_like,
    requires_torch,
    torch,
)

if torch is not None:
    import torch.nn.functional as TF


@st.composite
def conv3d_cases(draw, transposed=False):
    groups = draw(st.sampled_from([1, 1, 2]))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 3)) for _ in range(3))
    s = tuple(draw(st.integers(1, 2)) for _ in range(3))
    d = tuple(draw(st.integers(1, 2)) for _ in range(3))
    p = tuple(draw(st.integers(0, 1)) for _ in range(3))
    if transposed:
        q = tuple(draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, d))
        size = tuple(draw(st.integers(1, 4)) for _ in range(3))
        size = tuple(max(n, 1 + (2 * pi - di * (ki - 1) - qi) // si + 1)
                     for n, pi, di, ki, qi, si in zip(size, p, d, k, q, s))
    else:
        q = None
        size = tuple(draw(st.integers(max(1, di * (ki - 1) + 1 - 2 * pi), 5))
                     for ki, di, pi in zip(k, d, p))
    lead = draw(st.sampled_from([(1,), (2,), ()]))
    bias = draw(st.booleans())
    c, o = cg * groups, og * groups
    x = lead + (c,) + size
    w = (c, og) + k if transposed else (o, cg) + k
    shapes = [x, w] + ([(o,)] if bias else [])
    kw = dict(stride=s, padding=p, dilation=d, groups=groups)
    if transposed:
        kw["output_padding"] = q
    return shapes, kw


@requires_torch
@settings(max_examples=25)
@given(conv3d_cases(), st.booleans())
def test_conv3d_matches_torch(case, noncontiguous):
    shapes, kw = case
    check_op(shapes, lambda *a: TF.conv3d(*a, **kw), lambda *a: conv3d(*a, **kw),
             noncontiguous=noncontiguous)


@requires_torch
@settings(max_examples=25)
@given(conv3d_cases(transposed=True), st.booleans())
def test_conv_transpose3d_matches_torch(case, noncontiguous):
    shapes, kw = case
    check_op(shapes, lambda *a: TF.conv_transpose3d(*a, **kw),
             lambda *a: conv_transpose3d(*a, **kw), noncontiguous=noncontiguous)


@requires_torch
@pytest.mark.filterwarnings("ignore::UserWarning")     # PyTorch's note on even 'same' kernels
@pytest.mark.parametrize("padding", ["same", "valid", 0, (1, 0, 2)])
def test_conv3d_padding_forms(padding):
    check_op([(2, 3, 4, 5, 6), (2, 3, 3, 2, 3)],
             lambda x, w: TF.conv3d(x, w, padding=padding),
             lambda x, w: conv3d(x, w, padding=padding))


@requires_torch
def test_conv3d_empty_batch():
    check_op([(0, 2, 3, 3, 3), (2, 2, 2, 2, 2)], lambda x, w: TF.conv3d(x, w),
             lambda x, w: conv3d(x, w))
    check_op([(0, 2, 3, 3, 3), (2, 2, 2, 2, 2)], lambda x, w: TF.conv_transpose3d(x, w),
             lambda x, w: conv_transpose3d(x, w))


@requires_torch
@pytest.mark.parametrize("transposed", [False, True])
def test_conv3d_float32_within_sum_order_bound(transposed):
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (2, 4, 5, 6, 5)).astype(np.float32)
    w = rng.uniform(-2, 2, (4, 3, 3, 2, 3) if transposed else (3, 4, 3, 2, 3)).astype(
        np.float32)
    kw = dict(stride=(2, 1, 1), padding=1)
    tfn = TF.conv_transpose3d if transposed else TF.conv3d
    lfn = conv_transpose3d if transposed else conv3d

    def grads(lib, arrs, dtype):
        ts = [lib.tensor(a.astype(dtype), requires_grad=True) for a in arrs]
        y = (tfn if lib is torch else lfn)(*ts, **kw)
        y.sum().backward()
        return [y.detach().numpy()] + [t.grad.numpy() for t in ts]

    ours = grads(lamina, [x, w], np.float32)
    theirs = grads(torch, [x, w], np.float32)
    sums = grads(torch, [np.abs(x), np.abs(w)], np.float64)
    terms = [4 * 3 * 2 * 3, 4 * 3 * 2 * 3, ours[0].size]
    for a, b, s, k, name in zip(ours, theirs, sums, terms, ["out", "input grad", "weight grad"]):
        assert a.dtype == np.float32, name
        assert_sum_order_close(a, b, s, k, np.float32, err_msg=name)


def test_conv3d_gradcheck():
    kw = dict(stride=(1, 2, 1), padding=(1, 0, 1), dilation=(1, 1, 2), groups=2)
    check_grad(lambda x, w, b: conv3d(x, w, b, **kw), [(1, 4, 3, 4, 5), (2, 2, 2, 2, 2), (2,)])


def test_conv_transpose3d_gradcheck():
    kw = dict(stride=(2, 1, 2), padding=(1, 0, 0), output_padding=(1, 0, 1), groups=2)
    check_grad(lambda x, w, b: conv_transpose3d(x, w, b, **kw),
               [(1, 4, 2, 3, 2), (4, 1, 2, 2, 3), (2,)])


def test_conv_transpose3d_is_the_adjoint_of_conv3d():
    rng = np.random.default_rng(1)
    kw = dict(stride=(2, 1, 2), padding=(1, 0, 1), dilation=(1, 2, 1))
    x = rng.normal(size=(2, 3, 6, 7, 5))
    w = rng.normal(size=(4, 3, 3, 2, 3))
    cx = conv3d(lamina.tensor(x), lamina.tensor(w), **kw).numpy()
    y = rng.normal(size=cx.shape)
    ty = conv_transpose3d(lamina.tensor(y), lamina.tensor(w), output_padding=(1, 0, 0),
                          **kw).numpy()
    assert ty.shape == x.shape
    np.testing.assert_allclose((cx * y).sum(), (x * ty).sum(), rtol=1e-12)


@requires_torch
@pytest.mark.parametrize("f,shapes", [
    (lambda F, x, w: F.conv3d(x, w), [(1, 3, 4, 4, 4), (2, 2, 3, 3, 3)]),      # channels
    (lambda F, x, w: F.conv3d(x, w), [(1, 2, 2, 4, 4), (2, 2, 3, 3, 3)]),      # too small
    (lambda F, x, w: F.conv3d(x, w), [(1, 2, 4, 4), (2, 2, 3, 3)]),            # 4-D weight
    (lambda F, x, w: F.conv3d(x, w, stride=0), [(1, 2, 4, 4, 4), (2, 2, 3, 3, 3)]),
    (lambda F, x, w: F.conv3d(x, w, padding=-1), [(1, 2, 4, 4, 4), (2, 2, 3, 3, 3)]),
    (lambda F, x, w: F.conv3d(x, w, groups=2), [(1, 2, 4, 4, 4), (3, 1, 3, 3, 3)]),
    (lambda F, x, w: F.conv3d(x, w, padding="same", stride=2),
     [(1, 2, 4, 4, 4), (2, 2, 3, 3, 3)]),
    (lambda F, x, w: F.conv3d(x, w), [(4, 4, 4), (2, 1, 3, 3, 3)]),            # 3-D input
    (lambda F, x, w: F.conv_transpose3d(x, w), [(1, 3, 2, 2, 2), (2, 2, 3, 3, 3)]),
    (lambda F, x, w: F.conv_transpose3d(x, w, stride=2, output_padding=2),
     [(1, 2, 2, 2, 2), (2, 2, 3, 3, 3)]),
    (lambda F, x, w: F.conv_transpose3d(x, w, padding=3), [(1, 2, 1, 1, 1), (2, 2, 2, 2, 2)]),
])
def test_errors_like_torch(f, shapes):
    check_raises_like(lambda x, w: f(TF, x, w), lambda x, w: f(lamina.nn.functional, x, w),
                      shapes)


def test_error_messages_name_the_op():
    with pytest.raises(ValueError, match="^conv3d: expected input with 2 channels"):
        conv3d(lamina.zeros(1, 3, 4, 4, 4), lamina.zeros(2, 2, 3, 3, 3))
    with pytest.raises(ValueError, match="^conv_transpose3d: output padding"):
        conv_transpose3d(lamina.zeros(1, 2, 2, 2, 2), lamina.zeros(2, 2, 3, 3, 3), stride=2,
                         output_padding=2)
