"""Every lamina.linalg function on size-0 batch dims, 0 x 0 matrices, size-1 batches,
non-contiguous and float32 inputs: the same shapes, dtypes and values as torch.linalg."""

import math

import numpy as np
import pytest

import lamina
from tests.helpers import requires_torch, torch
from tests.linalg.helpers import compare, well_conditioned

pytestmark = requires_torch
L = lamina.linalg

FUNCTIONS = {
    "inv": lambda M, a: M.inv(a),
    "det": lambda M, a: M.det(a),
    "slogdet": lambda M, a: tuple(M.slogdet(a)),
    "cholesky": lambda M, a: M.cholesky(a),
    "cholesky_upper": lambda M, a: M.cholesky(a, upper=True),
    "solve": lambda M, a: M.solve(a, a),
    "svdvals": lambda M, a: M.svdvals(a),
    "eigvalsh": lambda M, a: M.eigvalsh(a),
    "pinv": lambda M, a: M.pinv(a),
    "pinv_hermitian": lambda M, a: M.pinv(a, hermitian=True),
    "matrix_norm_fro": lambda M, a: M.matrix_norm(a),
    "matrix_norm_nuc": lambda M, a: M.matrix_norm(a, "nuc"),
    "matrix_norm_2": lambda M, a: M.matrix_norm(a, 2),
    "matrix_norm_1": lambda M, a: M.matrix_norm(a, 1),
    "matrix_norm_inf": lambda M, a: M.matrix_norm(a, math.inf),
    "matrix_power_3": lambda M, a: M.matrix_power(a, 3),
    "matrix_power_-2": lambda M, a: M.matrix_power(a, -2),
    "matrix_rank": lambda M, a: M.matrix_rank(a),
    "cond": lambda M, a: M.cond(a),
    "vector_norm": lambda M, a: M.vector_norm(a, dim=-1),
    "norm": lambda M, a: M.norm(a),
    "lstsq_solution": lambda M, a: M.lstsq(a, a).solution,
}
# factors unique up to signs: compared by absolute value
SIGNED = {
    "qr": lambda M, a: tuple(x.abs() for x in M.qr(a)),
    "qr_complete": lambda M, a: tuple(x.abs() for x in M.qr(a, mode="complete")),
    "svd": lambda M, a: tuple(x.abs() for x in M.svd(a)),
    "eigh": lambda M, a: tuple(x.abs() for x in M.eigh(a)),
}
ALL = {**FUNCTIONS, **SIGNED}


def _spd(batch, n):
    return well_conditioned(batch, n, symmetric=True, pd=True) if n else np.zeros(batch + (n, n))


@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize("batch,n", [((0,), 3), ((2, 0), 3), ((), 0), ((2,), 0), ((1,), 3),
                                     ((1, 1), 2)])
def test_empty_and_unit_shapes(name, batch, n):
    A = _spd(batch, n) if 0 not in batch else np.zeros(batch + (n, n))
    f = ALL[name]
    compare([A], lambda a: f(torch.linalg if isinstance(a, torch.Tensor) else L, a),
            grad=False)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_noncontiguous_input(name):
    A = np.swapaxes(_spd((2,), 3), -1, -2)          # a transposed (non-contiguous) view
    assert not A.flags.c_contiguous
    f = FUNCTIONS[name]
    compare([A], lambda a: f(torch.linalg if isinstance(a, torch.Tensor) else L, a))


@pytest.mark.parametrize("name", sorted(ALL))
def test_float32(name):
    A = _spd((2,), 3).astype(np.float32)
    f = ALL[name]
    compare([A], lambda a: f(torch.linalg if isinstance(a, torch.Tensor) else L, a),
            rtol=1e-4, atol=1e-5)


BAD_CALLS = [
    ("cholesky", lambda M, f, i: M.cholesky(f(2, 3))),
    ("qr", lambda M, f, i: M.qr(f(3))),
    ("svd", lambda M, f, i: M.svd(i(3, 3))),
    ("solve", lambda M, f, i: M.solve(f(3, 3), f(3, 3).double())),
    ("matrix_power", lambda M, f, i: M.matrix_power(f(2, 3), 2)),
    ("eigvalsh", lambda M, f, i: M.eigvalsh(f(2, 3))),
    ("pinv", lambda M, f, i: M.pinv(f(3))),
    ("lstsq", lambda M, f, i: M.lstsq(f(3, 2), f(3, 1).double())),
    ("vector_norm", lambda M, f, i: M.vector_norm(i(3))),
    ("matrix_norm", lambda M, f, i: M.matrix_norm(f(3))),
    ("det", lambda M, f, i: M.det(f(2, 3))),
    ("inv", lambda M, f, i: M.inv(f(0, 2))),
]


@pytest.mark.parametrize("name,call", BAD_CALLS, ids=[b[0] for b in BAD_CALLS])
def test_errors_like_torch(name, call):
    """The same bad call raises RuntimeError in both, the message naming the op."""
    with pytest.raises(RuntimeError):
        call(torch.linalg, torch.ones, lambda *s: torch.ones(*s, dtype=torch.int64))
    with pytest.raises(RuntimeError) as le:
        call(L, lamina.ones, lambda *s: lamina.ones(*s, dtype=lamina.int64))
    op = str(le.value).split(":")[0]
    assert name.split("_")[0] in op, str(le.value)
