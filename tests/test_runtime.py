"""Runtime: BLAS threads, inference_mode (against PyTorch), compile's argument checks."""

import builtins

import pytest
import torch

import lamina
from lamina import nn, runtime


@pytest.fixture
def restore_threads():
    n = lamina.get_num_threads()
    yield
    lamina.set_num_threads(n)


def test_set_num_threads_reaches_the_blas(restore_threads):
    import threadpoolctl
    lamina.set_num_threads(1)
    assert lamina.get_num_threads() == 1
    blas = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    assert blas and set(blas) == {1}


def test_set_num_threads_without_threadpoolctl_uses_openblas(restore_threads, monkeypatch):
    if runtime._openblas("set") is None:
        pytest.skip("NumPy's BLAS here is not a bundled OpenBLAS")
    real_import = builtins.__import__

    def no_threadpoolctl(name, *args, **kwargs):
        if name == "threadpoolctl":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_threadpoolctl)
    lamina.set_num_threads(1)
    assert lamina.get_num_threads() == 1
    assert runtime._openblas("get")() == 1


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_set_num_threads_rejects_non_positive_ints(bad):
    with pytest.raises(RuntimeError, match="positive integer"):
        lamina.set_num_threads(bad)


def _inference_program(lib):
    m = torch.nn.Linear(3, 2) if lib is torch else nn.Linear(3, 2)
    x = lib.ones(4, 3)
    out = {}
    with lib.inference_mode():
        y = m(x)
        out["inside"] = (lib.is_grad_enabled(), lib.is_inference_mode_enabled(),
                         y.requires_grad, y.grad_fn is None)
    out["after"] = (lib.is_grad_enabled(), lib.is_inference_mode_enabled())
    with lib.inference_mode(False):
        out["off"] = (lib.is_grad_enabled(), lib.is_inference_mode_enabled(),
                      m(x).requires_grad)

    @lib.inference_mode()
    def f(z):
        return m(z)

    @lib.inference_mode
    def g(z):
        return m(z)

    out["decorated"] = (f(x).requires_grad, g(x).requires_grad, lib.is_grad_enabled())
    with lib.no_grad():
        with lib.inference_mode(False):
            out["nested"] = lib.is_grad_enabled()
    return out


def test_inference_mode_matches_torch():
    assert _inference_program(lamina) == _inference_program(torch)


def test_compile_rejects_what_torch_rejects():
    with pytest.raises(RuntimeError, match="Unrecognized mode"):
        lamina.compile(lambda x: x, mode="fastest")
    with pytest.raises(RuntimeError, match="Either mode or options"):
        lamina.compile(lambda x: x, mode="default", options={})
