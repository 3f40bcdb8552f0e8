"""Specialised replay lines (``lamina.compiler.special``): linear, tanh, sigmoid and mse_loss
replay as direct NumPy calls, still bit-identical to eager mode, in the cases around them
(float64, a target that needs a gradient, a broadcast target, a retained graph run twice,
sigmoid saturation, a 3-D linear input that keeps the generic line)."""

import warnings

import numpy as np
import pytest

import lamina
from lamina import nn
from lamina.nn import functional as F


def _run_pair(make, inputs, steps=4, reset=True):
    """Run ``step`` eagerly and compiled on the same fresh state; compare every returned array
    and every gradient bit for bit. ``reset``: set the gradients to None before each call
    (else they accumulate over the calls). Returns the compiled function."""
    outs = []
    for compiled in (False, True):
        state, step = make()
        fn = lamina.compile(step) if compiled else step
        got = []
        for i in range(steps):
            for p in state:          # outside the step: attribute writes are not recorded
                if reset:
                    p.grad = None
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                r = fn(*inputs(i))
            got.append([np.array(t.numpy()) for t in (r if isinstance(r, tuple) else (r,))]
                       + [np.array(p.grad.numpy()) for p in state if p.grad is not None])
        outs.append((got, fn))
    (ge, _), (gc, fn) = outs
    for i, (a, b) in enumerate(zip(ge, gc)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(y, x, err_msg=f"step {i}")
    assert fn.stats["replays"] == steps - 1, fn.stats
    return fn


def _data(shape, dtype, n=4, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return [lamina.tensor((scale * rng.standard_normal(shape)).astype(dtype)) for _ in range(n)]


@pytest.mark.parametrize("reset", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_linear_activation_mse_replays_bitwise_as_numpy_lines(dtype, act, reset):
    xs, ys = _data((5, 3), dtype), _data((5, 2), dtype, seed=1)

    def make():
        lamina.manual_seed(0)
        lin = nn.Linear(3, 2).to(getattr(lamina, np.dtype(dtype).name))
        params = list(lin.parameters())

        def step(x, y):
            loss = F.mse_loss(getattr(lamina, act)(lin(x)), y)
            loss.backward()
            return loss.detach()
        return params, step

    fn = _run_pair(make, lambda i: (xs[i], ys[i]), reset=reset)
    src = fn.source()
    assert ".forward(" not in src and "backward" not in src    # no generic op line left
    assert "_add_reduce(" in src and " @ " in src
    assert ".grad = _make(" in src          # the gradients stored inline


def test_target_needing_grad_and_broadcast_target():
    xs = _data((4, 3), np.float64)

    def make():
        w = lamina.tensor(np.linspace(-1, 1, 9).reshape(3, 3), requires_grad=True)
        t = lamina.tensor(np.linspace(0, 1, 3).reshape(1, 3), requires_grad=True)
        state = [w, t]

        def step(x):
            loss = F.mse_loss(F.linear(x, w), t.expand(4, 3))
            loss.backward()
            return loss.detach()
        return state, step

    fn = _run_pair(make, lambda i: (xs[i],))
    assert "_add_reduce(" in fn.source()


def test_retained_graph_backward_twice_replays_bitwise():
    xs = _data((4, 2), np.float32)

    def make():
        lamina.manual_seed(0)
        lin = nn.Linear(2, 3)
        params = list(lin.parameters())

        def step(x):
            loss = lin(x).tanh().sigmoid().sum()
            loss.backward(retain_graph=True)
            loss.backward()                      # accumulates: twice the gradient
            return loss.detach()
        return params, step

    _run_pair(make, lambda i: (xs[i],))


def test_sigmoid_saturates_without_warning_and_equals_eager():
    xs = _data((3, 4), np.float32, scale=200.0)      # exp(-x) overflows for x < -88

    def make():
        w = lamina.tensor(np.eye(4, dtype=np.float32), requires_grad=True)

        def step(x):
            out = F.linear(x, w).sigmoid()
            out.sum().backward()
            return out.detach()
        return [w], step

    fn = _run_pair(make, lambda i: (xs[i],))
    assert "_errstate(over='ignore')" in fn.source()


def test_three_d_linear_keeps_the_generic_line_and_stays_bitwise():
    xs = _data((2, 5, 3), np.float32)

    def make():
        lamina.manual_seed(0)
        lin = nn.Linear(3, 4)
        params = list(lin.parameters())

        def step(x):
            loss = lin(x).tanh().mean()
            loss.backward()
            return loss.detach()
        return params, step

    fn = _run_pair(make, lambda i: (xs[i],))
    assert "Linear.forward" in _consts(fn) and "_tanh(" in fn.source()


def _consts(fn):
    """The qualified names of the functions a replay calls through its namespace."""
    replay = next(iter(fn.cache.values())).replays[0]
    return {getattr(v, "__qualname__", "") for v in replay.__globals__.values()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_raw_ops_add_sub_mul_matmul_with_broadcasting_replay_bitwise(dtype):
    xs = _data((4, 3), dtype)

    def make():
        rng = np.random.default_rng(3)
        w = lamina.tensor(rng.standard_normal((3, 5)).astype(dtype), requires_grad=True)
        b = lamina.tensor(rng.standard_normal(5).astype(dtype), requires_grad=True)
        s = lamina.tensor(rng.standard_normal((4, 1)).astype(dtype), requires_grad=True)

        def step(x):
            h = x @ w + b                    # broadcast bias: its gradient is summed
            h = h * s - b * 0.5              # (4, 1) factor, a scalar factor
            loss = ((h + h) - s).tanh().sum()    # the same tensor twice, a broadcast sub
            loss.backward()
            return loss.detach()
        return [w, b, s], step

    fn = _run_pair(make, lambda i: (xs[i % 4],), steps=5)
    consts = _consts(fn)
    assert not any(n.endswith((".forward", ".backward")) and n.split(".")[0] in
                   ("Add", "Sub", "Mul", "MatMul") for n in consts), consts
