"""Invalid values are rejected where PyTorch rejects them, with the op in the message, and a
loss shape mismatch warns as PyTorch does (issue #12)."""

import warnings

import numpy as np
import pytest

import lamina
import lamina.nn as nn
import lamina.nn.functional as F
from lamina.errors import LaminaValueError
from tests.helpers import requires_torch, torch

X4 = lamina.randn(1, 1, 4, 4)

REJECTED = [
    (lambda: nn.Conv2d(1, 1, 0), "Conv2d: kernel_size must be positive"),
    (lambda: nn.Conv1d(1, 1, 3, stride=0), "Conv1d: stride must be positive"),
    (lambda: nn.ConvTranspose2d(1, 1, (2, 0)), "ConvTranspose2d: kernel_size"),
    (lambda: F.conv2d(X4, lamina.randn(1, 1, 0, 0)), "conv2d: kernel size should be greater"),
    (lambda: F.conv1d(lamina.randn(1, 1, 4), lamina.randn(1, 1, 0)), "conv1d: kernel size"),
    (lambda: nn.MaxPool2d(0), "MaxPool2d: kernel_size must be positive"),
    (lambda: nn.MaxPool1d(2, stride=0), "MaxPool1d: stride must be positive"),
    (lambda: nn.AvgPool2d((2, 0)), "AvgPool2d: kernel_size must be positive"),
    (lambda: nn.AvgPool1d(0), "AvgPool1d: kernel_size"),
    (lambda: F.max_pool2d(X4, 0), "max_pool2d: "),
    (lambda: F.avg_pool2d(X4, 0), "avg_pool2d: "),
    (lambda: nn.BatchNorm1d(3, eps=-1.0), "BatchNorm1d: eps must be a non-negative"),
    (lambda: F.batch_norm(lamina.randn(4, 3), None, None, training=True, eps=-1.0),
     "batch_norm: eps must be positive during training"),
    (lambda: F.binary_cross_entropy(lamina.tensor([0.5]), lamina.tensor([2.0])),
     "binary_cross_entropy: all elements of target should be between 0 and 1"),
    (lambda: F.binary_cross_entropy(lamina.tensor([0.5]), lamina.tensor([-0.5])),
     "binary_cross_entropy: all elements of target"),
    (lambda: F.binary_cross_entropy(lamina.tensor([float("nan")]), lamina.tensor([0.5])),
     "binary_cross_entropy: all elements of input"),
    (lambda: lamina.tensor([1, 2]) // lamina.tensor([0, 1]), "floor_divide: ZeroDivisionError"),
    (lambda: lamina.tensor([1, 2]) % 0, "remainder: ZeroDivisionError"),
    (lambda: lamina.tensor([1, 2]).div(lamina.tensor([1, 0]), rounding_mode="trunc"),
     "div: ZeroDivisionError"),
    (lambda: lamina.randperm(-1), "randperm: n must be non-negative"),
    (lambda: lamina.tensor(np.array([2**63 + 5], dtype=np.uint64)), "tensor: value .* int64"),
    (lambda: lamina.tensor([2**63 + 5]), "tensor: value .* int64"),
    (lambda: lamina.as_tensor(np.array([1, 2**64 - 1], dtype=np.uint64)), "as_tensor: value"),
]


@pytest.mark.parametrize("fn,msg", REJECTED, ids=[m.split(":")[0] + str(i)
                                                  for i, (_, m) in enumerate(REJECTED)])
def test_invalid_value_is_rejected_naming_the_op(fn, msg):
    with pytest.raises(LaminaValueError, match="^" + msg):
        fn()


def test_uint64_that_fits_and_uint64_to_float_are_kept():
    assert lamina.tensor(np.array([7], dtype=np.uint64)).tolist() == [7]
    x = lamina.tensor(np.array([2**63 + 5], dtype=np.uint64), dtype=lamina.float64)
    assert x.item() == float(2**63 + 5)
    with pytest.raises(TypeError, match="^from_numpy:"):
        lamina.from_numpy(np.array([2**63 + 5], dtype=np.uint64))


def test_float_division_by_zero_stays_inf():
    assert lamina.tensor([1.0]).div(lamina.tensor([0.0])).item() == float("inf")
    assert (lamina.tensor([4, 7]) // lamina.tensor([2, 3])).tolist() == [2, 2]


def test_flatten_of_a_0d_tensor():
    with pytest.raises(IndexError, match="^flatten: "):
        nn.Flatten()(lamina.tensor(1.0))       # start_dim=1 is out of range, as in PyTorch
    assert nn.Flatten(0)(lamina.tensor(1.0)).shape == (1,)
    assert lamina.tensor(2.0).flatten().tolist() == [2.0]


@requires_torch
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"])
def test_loss_shape_mismatch_warns_like_pytorch(name):
    with pytest.warns(UserWarning) as lw:
        getattr(F, name)(lamina.zeros(4, 1), lamina.zeros(4))
    with pytest.warns(UserWarning) as tw:
        getattr(torch.nn.functional, name)(torch.zeros(4, 1), torch.zeros(4))
    want = str(tw[0].message).replace("torch.Size([4])", "(4,)").replace(
        "torch.Size([4, 1])", "(4, 1)")
    assert str(lw[0].message) == f"{name}: {want}"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(F, name)(lamina.zeros(4, 1), lamina.zeros(4, 1))  # same shape: silent


@requires_torch
def test_bce_shape_mismatch_raises_like_pytorch():
    with pytest.raises(ValueError, match="^binary_cross_entropy: Using a target size"):
        F.binary_cross_entropy(lamina.zeros(4, 1), lamina.zeros(4))
    with pytest.raises(ValueError, match="Using a target size"):
        torch.nn.functional.binary_cross_entropy(torch.zeros(4, 1), torch.zeros(4))


def test_bce_with_logits_accepts_any_target_like_pytorch():
    F.binary_cross_entropy_with_logits(lamina.tensor([0.5]), lamina.tensor([2.0]))
