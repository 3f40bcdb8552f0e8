"""matmul/mm/bmm/dot/outer against PyTorch: every rank combination and batch broadcasting."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lamina
from tests.helpers import check_grad, check_op, check_raises_like, requires_torch

RANK_CASES = [
    ((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((5, 2, 3), (5, 3, 4)),
    ((5, 1, 2, 3), (4, 3, 2)), ((3,), (5, 3, 4)), ((5, 2, 3), (3,)),
    ((0, 3), (3, 4)), ((2, 0), (0, 4)), ((1, 1), (1, 1)),
]


@requires_torch
@pytest.mark.parametrize("sa,sb", RANK_CASES)
def test_matmul_ranks(sa, sb):
    check_op([sa, sb], lambda a, b: a @ b)
    check_op([sa, sb], lambda a, b: a.matmul(b), dtype=np.float32)


@requires_torch
@given(b=st.integers(1, 3), m=st.integers(1, 4), k=st.integers(1, 4), n=st.integers(1, 4),
       bcast=st.booleans())
def test_matmul_batched_broadcast(b, m, k, n, bcast):
    check_op([(b, 1 if bcast else 2, m, k), (2, k, n)], lambda x, y: x @ y)


@requires_torch
def test_matmul_noncontiguous_and_transposed():
    check_op([(4, 3), (5, 3)], lambda a, b: a @ b.T)
    check_op([(4, 3), (5, 3)], lambda a, b: a @ b.mT, noncontiguous=True)


@requires_torch
def test_mm_bmm_dot_outer():
    check_op([(2, 3), (3, 4)], lambda a, b: a.mm(b))
    check_op([(2, 2, 3), (2, 3, 4)], lambda a, b: a.bmm(b))
    check_op([(5,), (5,)], lambda a, b: a.dot(b))
    check_op([(3,), (4,)], lambda a, b: a.outer(b))


@requires_torch
@pytest.mark.parametrize("sa,sb", [((4, 3), (4, 5)), ((3,), (4,)), ((2, 3, 4), (3, 4, 5))])
def test_matmul_shape_errors(sa, sb):
    check_raises_like(lambda a, b: a @ b, lambda a, b: a @ b, [sa, sb])


def test_matmul_error_message_names_shapes():
    with pytest.raises(RuntimeError, match=r"matmul: shapes \(4, 3\) and \(4, 5\).*3.*!= 4"):
        lamina.ones(4, 3) @ lamina.ones(4, 5)
    with pytest.raises(RuntimeError, match="same dtype"):
        lamina.ones(2, 2) @ lamina.ones(2, 2, dtype=lamina.float64)
    with pytest.raises(RuntimeError, match="1D"):
        lamina.ones(2, 2).dot(lamina.ones(2, 2))
    with pytest.raises(RuntimeError, match="bmm"):
        lamina.ones(2, 2, 3).bmm(lamina.ones(3, 3, 4))


@pytest.mark.parametrize("sa,sb", [((3,), (3, 4)), ((2, 3), (3,)), ((2, 2, 3), (3, 4)),
                                   ((3,), (3,))])
def test_matmul_gradcheck(sa, sb):
    check_grad(lambda a, b: a @ b, [sa, sb])
