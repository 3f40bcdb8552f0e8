"""Tensor creation, dtypes, conversion and seeding."""

import numpy as np
import pytest

import lamina
from tests.helpers import requires_torch, torch


def test_default_dtypes_follow_torch():
    assert lamina.tensor([1.0, 2.0]).dtype == lamina.float32
    assert lamina.tensor([1, 2]).dtype == lamina.int64
    assert lamina.tensor([True]).dtype == lamina.bool
    assert lamina.tensor(np.zeros(2)).dtype == lamina.float64
    assert lamina.tensor(np.zeros(2, np.int32)).dtype == lamina.int32   # kept, as in PyTorch
    assert lamina.zeros(2).dtype == lamina.float32
    assert lamina.arange(3).dtype == lamina.int64
    assert lamina.arange(0, 1, 0.25).dtype == lamina.float32


def test_casts():
    x = lamina.tensor([1.5, -2.5])
    assert x.double().dtype == lamina.float64
    assert x.long().tolist() == [1, -2]
    assert x.to(lamina.float64).dtype == lamina.float64
    assert x.to("cpu") is x
    assert x.bool().tolist() == [True, True]
    y = lamina.ones(2, requires_grad=True)
    y.double().sum().backward()
    assert y.grad.dtype == lamina.float32


def test_from_numpy_shares_memory_and_tensor_copies():
    a = np.zeros(3, np.float32)
    t = lamina.from_numpy(a)
    a[0] = 5
    assert t[0].item() == 5
    c = lamina.tensor(a)
    a[1] = 7
    assert c[1].item() == 0
    with pytest.raises(TypeError, match="from_numpy"):
        lamina.from_numpy(np.zeros(2, np.complex64))


def test_conversions():
    x = lamina.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert np.asarray(x).shape == (2, 2)
    assert np.concatenate([x, x]).shape == (4, 2) and np.linalg.norm(x) > 5
    assert x[1, 0].item() == 3.0
    assert float(x.sum()) == 10.0
    with pytest.raises(ValueError, match="item"):
        x.item()
    with pytest.raises(RuntimeError, match="numpy"):
        lamina.ones(2, requires_grad=True).numpy()
    assert x.shape == (2, 2) and x.ndim == 2 and x.numel() == 4 and x.size(1) == 2
    assert len(x) == 2


@requires_torch
def test_creation_functions_match_torch():
    assert lamina.arange(2, 11, 3).tolist() == torch.arange(2, 11, 3).tolist()
    np.testing.assert_allclose(lamina.linspace(0, 1, 5).numpy(), torch.linspace(0, 1, 5))
    assert lamina.eye(3, 2).tolist() == torch.eye(3, 2).tolist()
    assert lamina.full((2,), 7).dtype == lamina.int64
    assert lamina.full((2,), 7.0).dtype == lamina.float32
    x = lamina.ones(2, 3)
    for f in ("zeros_like", "ones_like", "rand_like", "randn_like"):
        y = getattr(lamina, f)(x)
        assert y.shape == (2, 3) and y.dtype == lamina.float32


def test_manual_seed_reproducible():
    lamina.manual_seed(3)
    a = (lamina.randn(4), lamina.rand(2), lamina.randint(0, 10, (5,)), lamina.randperm(6))
    lamina.manual_seed(3)
    b = (lamina.randn(4), lamina.rand(2), lamina.randint(0, 10, (5,)), lamina.randperm(6))
    for u, v in zip(a, b):
        assert u.tolist() == v.tolist()
    g = lamina.Generator().manual_seed(1)
    assert lamina.randn(3, generator=g).tolist() == \
        lamina.randn(3, generator=lamina.Generator().manual_seed(1)).tolist()
    r = lamina.rand(1000).numpy()
    assert r.min() >= 0 and r.max() < 1


def test_bad_creation_arguments():
    with pytest.raises(TypeError, match="dtype"):
        lamina.zeros(2, dtype="complex64")
    with pytest.raises(ValueError, match="zeros"):
        lamina.zeros(-1)
    with pytest.raises(RuntimeError, match="randint"):
        lamina.randint(5, 2, (3,))
    with pytest.raises(RuntimeError, match="arange"):
        lamina.arange(0, 10, -1)


def test_every_operator_is_defined_once_and_is_what_runs():
    """An operator is either a method in ``Tensor``'s class body or an op function attached
    after it (``tensor._OPERATORS``), never both: a class-body method that the attachment
    replaces would be dead code that reads as if it ran."""
    import ast
    import inspect
    import sys

    from lamina import ops

    tensor_module = sys.modules["lamina.tensor"]    # lamina.tensor is also the factory
    tree = ast.parse(inspect.getsource(tensor_module))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Tensor")
    in_body = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    for name in in_body:                    # still the method written in the class body
        attr = lamina.Tensor.__dict__[name]
        fn = attr.fget if isinstance(attr, property) else attr
        assert fn.__qualname__ == f"Tensor.{name}", (name, fn)
    assert in_body.isdisjoint(tensor_module._OPERATORS), \
        in_body & set(tensor_module._OPERATORS)
    for name, op in tensor_module._OPERATORS.items():
        assert lamina.Tensor.__dict__[name] is getattr(ops, op), name
