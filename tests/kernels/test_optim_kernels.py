"""The optimizers' compiled updates (``lamina.kernels.optim``) apply exactly where they
should: they exist with numba, run on dense parameters of one dtype (so the bit-for-bit
comparisons in tests/optim/test_sgd_kernel.py and test_adam_kernel.py compare two different
paths) and decline everything else, leaving the arrays untouched for the reference update."""

import numpy as np
import pytest

from lamina import dispatch
from lamina.kernels.optim import adam_kernels, adam_update, sgd_kernels, sgd_update


@pytest.fixture
def compiled():
    pytest.importorskip("numba")
    if not dispatch.fast_paths_enabled():
        pytest.skip("LAMINA_NUMBA=0 turns the fast paths off")


def _arrays(n, shape, dtype=np.float32):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(shape).astype(dtype) for _ in range(n)]


def test_kernels_build(compiled):
    for k in (sgd_kernels, adam_kernels):
        assert k(np.float32) is not None and k(np.float64) is not None
        assert k(np.float16) is None and k(np.int64) is None
        with dispatch.fast_paths(False):
            assert k(np.float32) is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_updates_run_on_dense_arrays(compiled, dtype):
    d, g, b = _arrays(3, (4, 5), dtype)
    before = d.copy()
    assert sgd_update(d, g, b, 1, False, 0.9, 1.0, 0.1)
    assert not np.array_equal(d, before)
    d, g, m, v = _arrays(4, (4, 5), dtype)
    v = np.abs(v)
    assert adam_update(d, g, m, v, 0.1, 0.9, 0.999, 0.001, 0.5, 1e-8, 0.01)


@pytest.mark.parametrize("case", ["transposed grad", "fortran buffer", "other dtype",
                                  "fast paths off"])
def test_updates_decline_and_touch_nothing(compiled, case):
    d, g, b = _arrays(3, (4, 5))
    if case == "transposed grad":
        g = np.ascontiguousarray(g.T).T
    elif case == "fortran buffer":
        b = np.asfortranarray(b)
    elif case == "other dtype":
        g = g.astype(np.float64)
    saved = [a.copy() for a in (d, g, b)]
    with dispatch.fast_paths(case != "fast paths off"):
        assert not sgd_update(d, g, b, 1, False, 0.9, 1.0, 0.1)
        assert not adam_update(d, g, b, np.abs(b), 0.1, 0.9, 0.999, 0.001, 0.5, 1e-8, 0.01)
    for a, s in zip((d, g, b), saved):
        np.testing.assert_array_equal(a, s)
