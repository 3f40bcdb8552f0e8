"""cumprod, cummax/cummin, logcumsumexp: values, indices and gradients against PyTorch."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lamina
from tests.helpers import check_grad, check_op, check_raises_like, requires_torch, torch
from tests.strategies import shapes


@st.composite
def shape_and_dim(draw):
    shape = draw(shapes(min_dims=1, max_dims=4))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    return shape, dim


OPS = {
    "cumprod": lambda x, d: x.cumprod(d),
    "cummax": lambda x, d: x.cummax(d),
    "cummin": lambda x, d: x.cummin(dim=d),
    "logcumsumexp": lambda x, d: x.logcumsumexp(d),
    "cumsum": lambda x, d: x.cumsum(d),
}


@requires_torch
@pytest.mark.parametrize("name", sorted(OPS))
@given(sd=shape_and_dim())
def test_cumulative(name, sd):
    shape, dim = sd
    check_op([shape], lambda x: OPS[name](x, dim))


@requires_torch
@pytest.mark.parametrize("name", sorted(OPS))
def test_cumulative_noncontiguous_and_0d(name):
    check_op([(3, 4, 2)], lambda x: OPS[name](x, 1), noncontiguous=True)
    check_op([()], lambda x: OPS[name](x, 0))
    check_op([()], lambda x: OPS[name](x, -1))


@requires_torch
def test_cumprod_zeros_gradient():
    a = np.array([[1.0, 0.0, 2.0, 3.0, 0.0], [2.0, 3.0, 0.0, 1.0, 4.0],
                  [0.0, 0.0, 1.0, 2.0, 3.0], [0.0, 2.0, 3.0, 1.5, -1.0]])
    check_op([a], lambda x: x.cumprod(1))
    check_op([a], lambda x: (x.cumprod(0) * torch.arange(5.0, dtype=x.dtype)
                             if isinstance(x, torch.Tensor) else
                             x.cumprod(0) * lamina.arange(5.0, dtype=x.dtype)))


@requires_torch
def test_cummax_ties_and_nan():
    a = np.array([1.0, 1.0, 0.0, 1.0, np.nan, 2.0, np.nan])
    for name in ("cummax", "cummin"):
        check_op([a], lambda x, n=name: getattr(x, n)(0))
    ints = np.array([[3, 1, 1, 4, 4, 0]])
    for name in ("cummax", "cummin"):
        check_op([ints], lambda x, n=name: getattr(x, n)(1))


@requires_torch
def test_int_dtypes():
    a = np.array([[1, 2, 0], [3, -1, 2]])
    check_op([a], lambda x: x.cumprod(1))
    check_op([a.astype(bool)], lambda x: x.cumprod(0))
    check_op([a], lambda x: torch.cumprod(x, 1, dtype=torch.float64),
             lambda x: lamina.cumprod(x, 1, dtype=lamina.float64))


@requires_torch
def test_logcumsumexp_extremes():
    a = np.array([[-np.inf, -np.inf, 0.0, 800.0, -800.0], [1e3, -np.inf, 1e3, 2.0, 1e-3]])
    check_op([a], lambda x: x.logcumsumexp(1))
    check_op([a[:, ::-1].copy()], lambda x: x.logcumsumexp(1))


def test_gradcheck():
    check_grad(lambda x: lamina.cumprod(x, 1), [(3, 5)])
    check_grad(lambda x: lamina.logcumsumexp(x, -1), [(3, 5)])
    check_grad(lambda x: lamina.cummax(x, 0).values, [(4, 3)])


@requires_torch
def test_errors_like_torch():
    for name in OPS:
        check_raises_like(lambda x, n=name: OPS[n](x, 2), lambda x, n=name: OPS[n](x, 2),
                          [(3, 4)])
    check_raises_like(lambda x: x.long().logcumsumexp(0), lambda x: x.long().logcumsumexp(0),
                      [(3,)])
