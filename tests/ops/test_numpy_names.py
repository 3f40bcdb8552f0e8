"""NumPy's keyword spellings ``axis=``/``keepdims=`` on reductions and dim-wise ops, which
PyTorch accepts in place of ``dim=``/``keepdim=``."""

import pytest

import lamina
from tests.helpers import check_op, requires_torch, torch

KEEP = ["sum", "mean", "max", "min", "amax", "amin", "argmax", "argmin", "var", "std", "prod",
        "logsumexp", "all", "any", "median", "mode"]
DIM_ONLY = ["cumsum", "cumprod", "cummax", "cummin", "logcumsumexp", "sort", "argsort"]


@requires_torch
@pytest.mark.parametrize("name", KEEP)
@pytest.mark.parametrize("method", [True, False])
def test_axis_keepdims(name, method):
    def fn(x, lib):
        x = x > 0 if name in ("all", "any") else x
        f = getattr(x, name) if method else (lambda **kw: getattr(lib, name)(x, **kw))
        return f(axis=-1, keepdims=True)

    check_op([(3, 4)], lambda x: fn(x, torch), lambda x: fn(x, lamina))


@requires_torch
@pytest.mark.parametrize("name", DIM_ONLY)
def test_axis(name):
    check_op([(3, 4)], lambda x: getattr(x, name)(axis=0))


def test_both_spellings_raise():
    x = lamina.ones(2, 3)
    with pytest.raises(TypeError):
        x.sum(dim=0, axis=1)
    with pytest.raises(TypeError):
        lamina.mean(x, keepdim=True, keepdims=True)
    with pytest.raises(TypeError):
        x.cumprod(0, axis=0)
