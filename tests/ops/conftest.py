"""Fixtures shared by the op tests: run a test on an op's compiled kernels (when numba is
there) and again on its NumPy path."""

import pytest


def _kernel_path(request, monkeypatch, loader):
    if request.param:
        pytest.importorskip("numba")
    monkeypatch.setattr(loader, "enabled", request.param)
    return request.param


@pytest.fixture(params=[True, False], ids=["numba", "numpy"])
def conv_path(request, monkeypatch):
    """conv's compiled kernels, then its NumPy path."""
    from lamina.ops import conv

    return _kernel_path(request, monkeypatch, conv._kernels)

