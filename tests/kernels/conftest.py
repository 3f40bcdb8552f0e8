"""Fixtures of the fast-path tests: run a test on the fast floor (``lamina/kernels``, when
its compiled kernels exist) and again on the reference floor (``lamina/ops`` alone)."""

import numpy as np
import pytest

from lamina import dispatch


def _floor(request, loader):
    """Turn the fast paths on or off for one test; skip the fast run where ``loader``'s
    kernels are unavailable (no numba, ``LAMINA_NUMBA=0``), so it cannot pass vacuously."""
    with dispatch.fast_paths(request.param):
        if request.param and loader(np.float64) is None:
            pytest.skip("compiled kernels unavailable (numba missing or LAMINA_NUMBA=0)")
        yield request.param


@pytest.fixture(params=[True, False], ids=["fast", "reference"])
def conv_floor(request):
    """conv2d on its fast paths, then on the reference op."""
    from lamina.kernels import conv

    yield from _floor(request, conv.compiled)


@pytest.fixture(params=[True, False], ids=["fast", "reference"])
def pool_floor(request):
    """Pooling on its fast paths, then on the reference ops."""
    from lamina.kernels import pool

    yield from _floor(request, pool.compiled)


@pytest.fixture
def fast_conv():
    """The conv fast paths on, their compiled kernels required (skips without numba)."""
    from lamina.kernels import conv

    with dispatch.fast_paths(True):
        if conv.compiled(np.float64) is None:
            pytest.skip("compiled kernels unavailable (numba missing or LAMINA_NUMBA=0)")
        yield conv


@pytest.fixture
def fast_pool():
    """The pooling fast paths on, their compiled kernels required (skips without numba)."""
    from lamina.kernels import pool

    with dispatch.fast_paths(True):
        if pool.compiled(np.float64) is None:
            pytest.skip("compiled kernels unavailable (numba missing or LAMINA_NUMBA=0)")
        yield pool
