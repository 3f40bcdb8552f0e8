"""vector_norm, matrix_norm and norm against torch.linalg: every ord, dims, keepdim, batches,
the zero-vector subgradient, and gradcheck."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lamina
from tests.helpers import requires_torch, torch
from tests.linalg.helpers import compare, gradcheck, well_conditioned

pytestmark = requires_torch
L = lamina.linalg


def _mod(t):
    return torch.linalg if isinstance(t, torch.Tensor) else L


ORDS = [2, 1, 3, 0.5, math.inf, -math.inf, -1, 0]


@pytest.mark.parametrize("ord", ORDS)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
       keepdim=st.booleans(), data=st.data())
def test_vector_norm(ord, shape, keepdim, data):
    dim = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1),
                              st.just(tuple(range(len(shape))))))
    x = np.random.default_rng(len(shape)).standard_normal(shape)
    compare([x], lambda a: _mod(a).vector_norm(a, ord, dim=dim, keepdim=keepdim),
            grad=ord != 0)


def test_vector_norm_zero_and_empty():
    compare([np.zeros((2, 3))], lambda a: _mod(a).vector_norm(a, dim=1))      # subgradient 0
    compare([np.zeros((2, 3))], lambda a: _mod(a).vector_norm(a, 3.0, dim=1))
    compare([np.zeros((0, 3))], lambda a: _mod(a).vector_norm(a, dim=1))
    compare([np.zeros((0, 3))], lambda a: _mod(a).vector_norm(a))
    compare([np.zeros((2, 3), np.float32)], lambda a: _mod(a).vector_norm(a, dim=1))


MATRIX_ORDS = ["fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf]


@pytest.mark.parametrize("ord", MATRIX_ORDS)
@pytest.mark.parametrize("shape,dim", [((3, 4), (-2, -1)), ((2, 4, 3), (-2, -1)),
                                       ((3, 2, 4), (0, 2)), ((2, 3, 4), (2, 1))])
@pytest.mark.parametrize("keepdim", [False, True])
def test_matrix_norm(ord, shape, dim, keepdim):
    A = np.random.default_rng(0).standard_normal(shape)
    compare([A], lambda a: _mod(a).matrix_norm(a, ord, dim=dim, keepdim=keepdim))


@pytest.mark.parametrize("ord,dim", [(None, None), (None, 1), (None, (0, 1)), ("fro", None),
                                     ("nuc", None), (2, None), (math.inf, None), (1, 0),
                                     (-2, (0, 1))])
def test_norm(ord, dim):
    A = np.random.default_rng(1).standard_normal((3, 4))
    compare([A], lambda a: _mod(a).norm(a, ord, dim))
    compare([A[0]], lambda a: _mod(a).norm(a, ord if not isinstance(ord, str) and
                                           dim in (None, 0, 1) else None))


def test_norm_errors():
    x = lamina.ones(2, 2, 2)
    with pytest.raises(RuntimeError, match="1D or 2D"):
        L.norm(x, 2)
    with pytest.raises(RuntimeError):
        torch.linalg.norm(torch.ones(2, 2, 2), 2)
    with pytest.raises(RuntimeError, match="not supported"):
        L.matrix_norm(lamina.ones(2, 2), 3)


def test_norms_gradcheck():
    A = well_conditioned((2,), 3, 4)
    for ord in ("fro", "nuc", 2, -2, 1, math.inf):
        gradcheck(lambda a, o=ord: L.matrix_norm(a, o), [A])
    for ord in (2, 1, 3, -1):
        gradcheck(lambda a, o=ord: L.vector_norm(a, o, dim=-1), [A])
