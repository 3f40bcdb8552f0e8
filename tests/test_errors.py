"""The exception contract (lamina.errors): every error is a RuntimeError and the builtin naming
its kind, and its message starts with the operation that raised it."""

import numpy as np
import pytest

import lamina
import lamina.nn as nn
import lamina.nn.functional as F
from lamina.errors import LaminaError, LaminaIndexError, LaminaTypeError, LaminaValueError


def test_classes_are_runtime_errors_and_their_builtin():
    assert issubclass(LaminaError, RuntimeError)
    assert issubclass(LaminaValueError, ValueError) and issubclass(LaminaValueError, LaminaError)
    assert issubclass(LaminaTypeError, TypeError) and issubclass(LaminaTypeError, LaminaError)
    assert issubclass(LaminaIndexError, IndexError) and issubclass(LaminaIndexError, LaminaError)
    assert lamina.LaminaValueError is LaminaValueError
    from lamina.ops.indexing import IndexOutOfRangeError
    assert issubclass(IndexOutOfRangeError, LaminaIndexError)


def test_a_pytorch_runtime_error_is_also_a_value_error():
    # PyTorch raises RuntimeError here; Python code catching ValueError catches it too
    with pytest.raises(ValueError, match="^matmul:"):
        lamina.zeros(2, 3).mm(lamina.zeros(4, 5))
    with pytest.raises(RuntimeError, match="^matmul:"):
        lamina.zeros(2, 3).mm(lamina.zeros(4, 5))


_P = [nn.Parameter(lamina.zeros(2))]

NAMED = [
    (lambda: F.cross_entropy(lamina.randn(3, 4), lamina.tensor([0, 4, 1])),
     LaminaIndexError, "cross_entropy: Target 4 is out of bounds"),
    (lambda: F.cross_entropy(lamina.randn(3, 4), lamina.tensor([0, -5, 1])),
     LaminaIndexError, "cross_entropy: Target -5"),
    (lambda: F.nll_loss(lamina.randn(3, 4), lamina.tensor([0, 7, 1])),
     LaminaIndexError, "nll_loss: Target 7"),
    (lambda: lamina.tensor([[1, 2], [3]]), LaminaValueError, "tensor: .*ragged"),
    (lambda: lamina.as_tensor([[1.0], [2.0, 3.0]]), LaminaValueError, "as_tensor: .*ragged"),
    (lambda: lamina.tensor({1: 2}), LaminaTypeError, "tensor: could not convert"),
    (lambda: lamina.optim.SGD(_P, lr="0.1"), LaminaTypeError, "SGD: lr must be a number"),
    (lambda: lamina.optim.Adam(_P, lr=-1.0), LaminaValueError, "Adam: Invalid learning rate"),
    (lambda: lamina.optim.AdamW(_P, betas=("a", 0.9)), LaminaTypeError, "AdamW: "),
    (lambda: lamina.eye(-1), LaminaValueError, "eye: n must be greater or equal to 0"),
    (lambda: lamina.eye(2, -3), LaminaValueError, "eye: m must"),
    (lambda: nn.LeakyReLU("a"), LaminaTypeError, "LeakyReLU: negative_slope must be a number"),
    (lambda: nn.ELU("a"), LaminaTypeError, "ELU: alpha"),
    (lambda: nn.GELU("exact"), LaminaValueError, "GELU: approximate"),
    (lambda: lamina.manual_seed("a"), LaminaValueError, "manual_seed: seed must be an int"),
    (lambda: lamina.manual_seed(None), LaminaTypeError, "manual_seed: seed must be an int"),
    (lambda: lamina.zeros(2, "a"), LaminaTypeError, "zeros: size"),
]


@pytest.mark.parametrize("fn,exc,msg", NAMED, ids=[m.split(":")[0] + str(i)
                                                   for i, (_, _, m) in enumerate(NAMED)])
def test_message_names_the_operation(fn, exc, msg):
    with pytest.raises(exc, match="^" + msg):
        fn()


def test_manual_seed_accepts_negative_seeds_like_pytorch():
    lamina.manual_seed(-1)
    a = lamina.rand(3)
    lamina.manual_seed(-1)
    np.testing.assert_array_equal(a.numpy(), lamina.rand(3).numpy())
    lamina.manual_seed(0)
