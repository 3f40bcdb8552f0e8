"""Fast reduction paths give exactly what NumPy's plain reductions give."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.ops.reduce import keepdim_max


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 80), cols=st.integers(1, 20), lead=st.integers(0, 3),
       transpose=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
       specials=st.booleans())
def test_keepdim_max_matches_numpy(rows, cols, lead, transpose, dtype, specials):
    rng = np.random.default_rng(rows * 100 + cols)
    shape = ((lead,) if lead else ()) + (rows, cols)
    a = rng.standard_normal(shape).astype(dtype)
    if transpose:                      # a non-contiguous input
        a = np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2)
    if specials and a.size >= 4:
        a.flat[:4] = [np.nan, -np.inf, np.inf, -0.0]
    for axis in range(a.ndim):
        want = a.max(axis=axis, keepdims=True)
        got = keepdim_max(a, axis)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape", [(128, 10), (64, 3, 16), (300, 2)])
def test_keepdim_max_fast_path_all_nan_rows(shape):
    a = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    a[..., 0, :] = np.nan
    np.testing.assert_array_equal(keepdim_max(a, a.ndim - 1), a.max(axis=-1, keepdims=True))
