"""Tensor API parity with PyTorch: t(), new_*, type_as, apply_, __format__, Size, grad_fn
introspection."""

import numpy as np
import pytest
import torch

import lamina
from tests.helpers import check_op


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_t_matches_torch(shape):
    check_op([shape], lambda x: x.t() * 2)


def test_t_rejects_3d_like_torch():
    with pytest.raises(RuntimeError, match="t\\(\\) expects a tensor with <= 2 dimensions"):
        torch.zeros(2, 3, 4).t()
    with pytest.raises(RuntimeError, match="t\\(\\) expects a tensor with <= 2 dimensions"):
        lamina.zeros(2, 3, 4).t()


def test_T_matches_torch():
    check_op([(2, 3)], lambda x: x.T)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_new_factories_match_torch(dtype):
    a = np.arange(6).reshape(2, 3).astype(dtype)
    x, tx = lamina.tensor(a), torch.tensor(a)
    for name, args in [("new_zeros", ((2, 2),)), ("new_ones", (2, 2)),
                       ("new_full", ((2,), 7)), ("new_tensor", ([1, 2],))]:
        got, want = getattr(x, name)(*args), getattr(tx, name)(*args)
        assert str(got.dtype) == str(want.dtype).replace("torch.", "")
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert x.new_empty(4, 1).shape == tuple(tx.new_empty(4, 1).shape)
    assert x.new_zeros(2, dtype=lamina.float64).dtype == lamina.float64
    if dtype != "int64":
        assert x.new_ones(3, requires_grad=True).requires_grad
    with pytest.raises(RuntimeError, match="device 'cuda' is not available"):
        x.new_zeros(2, device="cuda")


def test_type_as():
    x, y = lamina.tensor([1.5, 2.5]), lamina.tensor([1, 2])
    assert x.type_as(y).dtype == lamina.int64
    np.testing.assert_array_equal(x.type_as(y).numpy(),
                                  torch.tensor([1.5, 2.5]).type_as(torch.tensor([1, 2])).numpy())
    assert x.type_as(x) is x


def test_apply_in_place():
    a = np.array([[1.0, -2.0], [3.0, 0.5]])
    x, tx = lamina.tensor(a), torch.tensor(a)
    assert x.apply_(lambda v: v * v + 1) is x
    tx.apply_(lambda v: v * v + 1)
    np.testing.assert_array_equal(x.numpy(), tx.numpy())
    with pytest.raises(RuntimeError):
        lamina.ones(2, requires_grad=True).apply_(abs)


@pytest.mark.parametrize("spec", [".3f", "", ">10.2e", "g"])
def test_format_of_0d_tensor(spec):
    assert format(lamina.tensor(1.23456), spec) == format(torch.tensor(1.23456), spec)
    assert f"{lamina.tensor(3):{spec}}" == f"{torch.tensor(3):{spec}}"


def test_format_with_spec_on_nd_tensor_raises_like_torch():
    with pytest.raises(TypeError):
        format(torch.zeros(2), ".3f")
    with pytest.raises(TypeError):
        format(lamina.zeros(2), ".3f")
    assert format(lamina.zeros(2), "") == str(lamina.zeros(2))


def test_size_is_a_tuple_like_torch_size():
    s, ts = lamina.zeros(2, 3).size(), torch.zeros(2, 3).size()
    assert repr(s) == repr(ts).replace("torch", "lamina")
    assert s == (2, 3) and isinstance(s, tuple) and isinstance(s, lamina.Size)
    assert s.numel() == ts.numel() == 6
    assert lamina.Size([]).numel() == torch.Size([]).numel() == 1
    assert repr(s[1:]) == "lamina.Size([3])" and s[0] == 2
    assert isinstance(lamina.zeros(4).shape, lamina.Size)
    assert lamina.zeros(2, 3).size(1) == 3


def test_next_functions_follow_torch_structure():
    def build(lib):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = lib.tensor([3.0, 4.0])
        return a, ((a * b).exp() + a).sum()

    a, y = build(lamina)
    ta, ty = build(torch)

    def walk(fn, depth=0):
        if fn is None or depth > 5:
            return None
        return [(type(n).__name__ if n is not None else None, i, walk(n, depth + 1))
                for n, i in fn.next_functions]

    def shape(tree):   # structure only: node present / leaf / none
        if tree is None:
            return None
        return [(n is None, n == "AccumulateGrad", i, shape(sub)) for n, i, sub in tree]

    assert shape(walk(y.grad_fn)) == shape(walk(ty.grad_fn))
    leaf = y.grad_fn.next_functions[0][0].next_functions[1][0]
    assert leaf.name() == "AccumulateGrad" and leaf.variable is a
    assert y.grad_fn.name() == "SumBackward"


def test_repr_names_dtype_like_torch():
    assert repr(lamina.tensor([1.0, 2.0], dtype=lamina.float64)) == \
        repr(torch.tensor([1.0, 2.0], dtype=torch.float64)).replace("torch", "lamina")
