"""Backend details: dtype normalization and the allocator tuning switch."""

import subprocess
import sys

import numpy as np
import pytest

import lamina
from lamina import backend


def test_as_dtype_accepts_names_and_types():
    assert backend.as_dtype("float") == lamina.float32
    assert backend.as_dtype(float) == lamina.float32
    assert backend.as_dtype(int) == lamina.int64
    assert backend.as_dtype(np.float64) == lamina.float64
    with pytest.raises(TypeError, match="unsupported dtype"):
        backend.as_dtype("complex64")


def test_default_dtype_switch():
    try:
        lamina.set_default_dtype(lamina.float64)
        assert lamina.tensor([1.5]).dtype == lamina.float64
        assert (lamina.tensor([1, 2]) * 0.5).dtype == lamina.float64
    finally:
        lamina.set_default_dtype(lamina.float32)
    with pytest.raises(TypeError):
        lamina.set_default_dtype(lamina.int64)


def test_allocator_tuning_can_be_switched_off():
    code = "import lamina.backend as b; print(b.ALLOCATOR_TUNED)"
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"LAMINA_NO_MALLOPT": "1", "PATH": ""})
    assert off.stdout.strip() == "False"
    if sys.platform.startswith("linux"):
        assert on.stdout.strip() in ("True", "False")   # False on non-glibc Linux


def test_rng_state_round_trip_and_fork():
    lamina.manual_seed(5)
    state = lamina.get_rng_state()
    a = lamina.randn(4).tolist()
    lamina.set_rng_state(state)
    assert lamina.randn(4).tolist() == a
    lamina.set_rng_state(state)
    with lamina.fork_rng(seed=0):
        inside = lamina.randn(2).tolist()
    with lamina.fork_rng(seed=0):
        assert lamina.randn(2).tolist() == inside
    assert lamina.randn(4).tolist() == a        # the outer stream was not disturbed
