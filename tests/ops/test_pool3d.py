"""3-D pooling against PyTorch: values, indices, gradients (ties and NaN included), errors;
gradcheck."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lamina
from lamina.ops import pool3d as P
from tests.helpers import check_grad, check_op, check_raises_like, requires_torch, torch

if torch is not None:
    import torch.nn.functional as TF


def _ties(shape, seed=0):
    """Small integers: many equal values inside each window."""
    return np.random.default_rng(seed).integers(-2, 3, size=shape).astype(np.float64)


@st.composite
def pool_cases(draw, dilation=True):
    k = tuple(draw(st.integers(1, 3)) for _ in range(3))
    s = tuple(draw(st.integers(1, 3)) for _ in range(3))
    p = tuple(draw(st.integers(0, ki // 2)) for ki in k)
    d = tuple(draw(st.integers(1, 2)) if dilation else 1 for _ in range(3))
    size = tuple(draw(st.integers(di * (ki - 1) + 1, 6)) for ki, di in zip(k, d))
    lead = draw(st.sampled_from([(1, 2), (2, 1), (2,)]))
    return dict(kernel_size=k, stride=s, padding=p, ceil_mode=draw(st.booleans())), d, \
        lead + size


@requires_torch
@settings(max_examples=30)
@given(pool_cases(), st.integers(0, 100), st.booleans())
def test_max_pool3d_matches_torch_with_ties(case, seed, noncontiguous):
    kw, d, shape = case
    kw = dict(kw, dilation=d, return_indices=True)
    x = _ties(shape, seed)
    if noncontiguous:
        x = np.ascontiguousarray(x.swapaxes(-1, -2)).swapaxes(-1, -2)
    check_op([x], lambda t: TF.max_pool3d(t, **kw), lambda t: P.max_pool3d(t, **kw))


@requires_torch
@settings(max_examples=30)
@given(pool_cases(dilation=False), st.booleans(), st.sampled_from([None, 3]),
       st.booleans())
def test_avg_pool3d_matches_torch(case, count_include_pad, divisor, noncontiguous):
    kw, _, shape = case
    kw = dict(kw, count_include_pad=count_include_pad, divisor_override=divisor)
    check_op([shape], lambda t: TF.avg_pool3d(t, **kw), lambda t: P.avg_pool3d(t, **kw),
             noncontiguous=noncontiguous)


@st.composite
def adaptive_cases(draw):
    size = tuple(draw(st.integers(1, 7)) for _ in range(3))
    out = tuple(draw(st.integers(1, 8)) for _ in range(3))
    if draw(st.booleans()):
        out = tuple(None if draw(st.booleans()) else o for o in out)
    lead = draw(st.sampled_from([(1, 2), (2, 1), (3,)]))
    return lead + size, out


@requires_torch
@settings(max_examples=30)
@given(adaptive_cases(), st.booleans())
def test_adaptive_avg_pool3d_matches_torch(case, noncontiguous):
    shape, out = case
    check_op([shape], lambda t: TF.adaptive_avg_pool3d(t, out),
             lambda t: P.adaptive_avg_pool3d(t, out), noncontiguous=noncontiguous)


@requires_torch
@settings(max_examples=30)
@given(adaptive_cases(), st.integers(0, 100))
def test_adaptive_max_pool3d_matches_torch_with_ties(case, seed):
    shape, out = case
    check_op([_ties(shape, seed)], lambda t: TF.adaptive_max_pool3d(t, out, True),
             lambda t: P.adaptive_max_pool3d(t, out, True))


@requires_torch
@pytest.mark.parametrize("fn,kw", [
    ("max_pool3d", dict(kernel_size=2, stride=1, return_indices=True)),
    ("adaptive_max_pool3d", dict(output_size=2, return_indices=True)),
    ("avg_pool3d", dict(kernel_size=2, stride=1)),
    ("adaptive_avg_pool3d", dict(output_size=(2, 1, 2))),
])
def test_nan_and_inf_like_torch(fn, kw):
    x = np.random.default_rng(0).normal(size=(1, 2, 3, 3, 3))
    x[0, 0, 1, 1, 1] = np.nan
    x[0, 0, 0, 0, 2] = np.nan
    x[0, 1, 2, 0, 0] = np.inf
    x[0, 1, 0, 2, 2] = -np.inf
    check_op([x], lambda t: getattr(TF, fn)(t, **kw), lambda t: getattr(P, fn)(t, **kw),
             grad=False)


@requires_torch
@pytest.mark.parametrize("fn,kw", [("max_pool3d", dict(kernel_size=2)),
                                   ("avg_pool3d", dict(kernel_size=3, padding=1)),
                                   ("adaptive_avg_pool3d", dict(output_size=(3, 2, 4)))])
def test_float32(fn, kw):
    check_op([(2, 3, 5, 4, 6)], lambda t: getattr(TF, fn)(t, **kw),
             lambda t: getattr(P, fn)(t, **kw), dtype=np.float32)


def test_gradcheck():
    check_grad(lambda x: P.max_pool3d(x, (2, 2, 3), stride=(1, 2, 1), padding=(1, 0, 1)),
               [(1, 2, 3, 4, 5)])
    check_grad(lambda x: P.avg_pool3d(x, 2, stride=1, padding=1, count_include_pad=False,
                                      ceil_mode=True), [(1, 2, 3, 4, 3)])
    check_grad(lambda x: P.adaptive_avg_pool3d(x, (2, 3, 4)), [(2, 3, 5, 4, 7)])
    check_grad(lambda x: P.adaptive_max_pool3d(x, (2, 3, 2)), [(2, 5, 4, 5)])


@requires_torch
@pytest.mark.parametrize("f,shape", [
    (lambda F, x: F.max_pool3d(x, 4), (1, 1, 3, 3, 3)),              # output too small
    (lambda F, x: F.max_pool3d(x, 2, padding=2), (1, 1, 4, 4, 4)),   # pad > kernel / 2
    (lambda F, x: F.max_pool3d(x, 0), (1, 1, 4, 4, 4)),
    (lambda F, x: F.max_pool3d(x, 2, stride=0), (1, 1, 4, 4, 4)),
    (lambda F, x: F.max_pool3d(x, 2), (4, 4, 4)),                    # 3-D input
    (lambda F, x: F.max_pool3d(x, 2), (1, 1, 0, 4, 4)),
    (lambda F, x: F.avg_pool3d(x, 2, divisor_override=0), (1, 1, 4, 4, 4)),
    (lambda F, x: F.avg_pool3d(x, (2, 2)), (1, 1, 4, 4, 4)),
    (lambda F, x: F.adaptive_avg_pool3d(x, (2, 2)), (1, 1, 4, 4, 4)),
    (lambda F, x: F.adaptive_max_pool3d(x, 2), (1, 4, 4)),
    (lambda F, x: F.adaptive_avg_pool3d(x, 2), (1, 1, 4, 0, 4)),
])
def test_errors_like_torch(f, shape):
    check_raises_like(lambda x: f(TF, x), lambda x: f(lamina.nn.functional, x), [shape])


def test_error_messages_name_the_op():
    with pytest.raises(ValueError, match="^max_pool3d: output size"):
        P.max_pool3d(lamina.zeros(1, 1, 3, 3, 3), 4)
    with pytest.raises(ValueError, match="^avg_pool3d: divisor"):
        P.avg_pool3d(lamina.zeros(1, 1, 3, 3, 3), 2, divisor_override=0)
