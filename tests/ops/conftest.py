"""Fixtures shared by the op tests: run a test on an op's compiled kernels (when numba is
there) and again on its NumPy path."""

import pytest


def _kernel_path(request, monkeypatch, loader):
    if request.param:
        pytest.importorskip("numba")
    monkeypatch.setattr(loader, "enabled", request.param)
    return request.param


@pytest.fixture(params=[True, False], ids=["numba", "numpy"])
def bn_path(request, monkeypatch):
    """batch_norm's compiled kernels, then its NumPy path."""
    from lamina.ops.nn import BatchNorm

    return _kernel_path(request, monkeypatch, BatchNorm._kernels)
