"""Devices: lamina.device against torch.device; Tensor.to / Module.to forms; CPU-only errors."""

import pickle

import numpy as np
import pytest
import torch

import lamina
from lamina import nn


@pytest.mark.parametrize("spec", ["cpu", "cpu:0", "cuda", "cuda:1", "mps"])
def test_device_object_matches_torch(spec):
    d, td = lamina.device(spec), torch.device(spec)
    assert (d.type, d.index, str(d)) == (td.type, td.index, str(td))
    assert repr(d) == repr(td)
    assert pickle.loads(pickle.dumps(d)) == d


def test_device_equality_and_index_argument():
    assert lamina.device("cuda", 1) == lamina.device("cuda:1")
    assert lamina.device("cpu") != lamina.device("cpu:0")
    assert (lamina.device("cpu") == "cpu") == (torch.device("cpu") == "cpu")
    assert hash(lamina.device("cpu")) == hash(lamina.device("cpu"))


@pytest.mark.parametrize("bad", ["foo", "cuda:x"])
def test_bad_device_strings_raise_like_torch(bad):
    with pytest.raises(RuntimeError):
        torch.device(bad)
    with pytest.raises(RuntimeError):
        lamina.device(bad)


def test_tensor_device_is_one_shared_object():
    a, b = lamina.zeros(2), lamina.ones(3)
    assert a.device is b.device
    assert a.device == lamina.device("cpu")
    assert repr(a.device) == repr(torch.zeros(2).device)
    assert a.is_cuda is False and torch.zeros(2).is_cuda is False


def test_to_forms():
    x = lamina.tensor([1.0, 2.0])
    assert x.to("cpu") is x
    assert x.to(lamina.device("cpu")) is x
    assert x.to(lamina.float32) is x
    assert x.to("cpu", copy=True) is not x
    assert x.to("cpu", lamina.float64).dtype == lamina.float64
    assert x.to(device="cpu", dtype=lamina.float64).dtype == lamina.float64
    assert x.to(lamina.float64, non_blocking=True).dtype == lamina.float64
    assert x.to(lamina.zeros(1, dtype=lamina.float64)).dtype == lamina.float64
    assert x.to("cpu:0").device == lamina.device("cpu")
    assert x.cpu() is x


@pytest.mark.parametrize("dev", ["cuda", "mps", "cuda:1", lamina.device("cuda")])
def test_other_devices_raise_one_clear_error(dev):
    x = lamina.zeros(2)
    with pytest.raises(RuntimeError, match=r"device '(cuda|mps)(:1)?' is not available: "
                                           r"lamina runs on the CPU only"):
        x.to(dev)
    with pytest.raises(RuntimeError, match="is not available"):
        lamina.zeros(2, device=dev)
    with pytest.raises(RuntimeError, match="is not available"):
        nn.Linear(2, 2).to(dev)


def test_cuda_methods_raise():
    with pytest.raises(RuntimeError, match="Tensor.cuda: device 'cuda' is not available"):
        lamina.zeros(2).cuda()
    with pytest.raises(RuntimeError, match="Module.cuda: device 'cuda:1' is not available"):
        nn.Linear(2, 2).cuda(1)


@pytest.mark.parametrize("fn", [
    lambda d: lamina.zeros(2, device=d), lambda d: lamina.ones(2, device=d),
    lambda d: lamina.tensor([1.0], device=d), lambda d: lamina.arange(3, device=d),
    lambda d: lamina.randn(2, device=d), lambda d: lamina.full((2,), 1.0, device=d),
    lambda d: lamina.eye(2, device=d), lambda d: lamina.zeros_like(lamina.zeros(2), device=d),
])
def test_creation_accepts_device(fn):
    assert fn("cpu").device == lamina.device("cpu")
    assert fn(lamina.device("cpu")).device == lamina.device("cpu")
    with pytest.raises(RuntimeError, match="device 'cuda' is not available"):
        fn("cuda")


def test_module_to_device_and_dtype():
    m = nn.Linear(3, 2)
    w = m.weight
    assert m.to("cpu") is m and m.cpu() is m
    m.to(lamina.device("cpu"), lamina.float64)
    assert m.weight is w and w.dtype == lamina.float64
    m.to(device="cpu", dtype=lamina.float32)
    assert w.dtype == lamina.float32


def test_availability_queries_match_a_cpu_only_torch():
    assert lamina.cuda.is_available() is False and lamina.cuda.device_count() == 0
    assert lamina.backends.mps.is_available() is False
    assert lamina.accelerator.is_available() is False
    assert lamina.accelerator.current_accelerator() is None
    if not torch.cuda.is_available():
        assert torch.accelerator.current_accelerator() is None


def test_portable_device_idiom_runs():
    dev = lamina.device("cuda" if lamina.cuda.is_available() else "cpu")
    x = lamina.randn(4, 3, device=dev)
    m = nn.Linear(3, 1).to(dev)
    assert np.isfinite(m(x.to(dev)).detach().numpy()).all()
