"""Tensor hooks and module backward hooks, against PyTorch on the same values and weights."""

import numpy as np
import pytest
import torch

import lamina
from lamina import nn

RNG = np.random.default_rng(0)


def _pair(a, requires_grad=True):
    return (lamina.tensor(a, requires_grad=requires_grad),
            torch.tensor(a, requires_grad=requires_grad))


def _close(x, y):
    np.testing.assert_allclose(np.asarray(x.detach().numpy() if hasattr(x, "detach") else x),
                               y.detach().numpy(), rtol=1e-12, atol=1e-12)


def _run_both(program):
    """Run ``program(lib, log)`` in both libraries; return the two logs."""
    logs = []
    for lib in (lamina, torch):
        log = []
        program(lib, log)
        logs.append(log)
    return logs


def _compare_logs(a, b):
    assert [n for n, _ in a] == [n for n, _ in b]
    for (_, x), (_, y) in zip(a, b):
        if x is None or y is None:
            assert x is None and y is None
        else:
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-12, atol=1e-12)


A = RNG.standard_normal((3, 4))
B = RNG.standard_normal((3, 4))


def test_leaf_hook_sees_summed_gradient_and_replaces_it():
    def program(lib, log):
        x = lib.tensor(A, requires_grad=True)
        x.register_hook(lambda g: log.append(("x", g.numpy().copy())) or g * 3)
        y = (x * x).sum() + (x.exp()).sum()      # two contributions to x
        y.backward()
        log.append(("x.grad", x.grad.numpy().copy()))
    _compare_logs(*_run_both(program))


def test_intermediate_hooks_in_order_and_replacement_flows_down():
    def program(lib, log):
        x = lib.tensor(A, requires_grad=True)
        w = lib.tensor(B, requires_grad=True)
        h = (x * w).tanh()
        h.register_hook(lambda g: log.append(("h1", g.numpy().copy())))
        h.register_hook(lambda g: g * 2 + 1)
        h.register_hook(lambda g: log.append(("h3", g.numpy().copy())))
        (h * h).sum().backward()
        log.append(("x.grad", x.grad.numpy().copy()))
        log.append(("w.grad", w.grad.numpy().copy()))
    _compare_logs(*_run_both(program))


@pytest.mark.parametrize("retain_first", [True, False])
def test_retain_grad_sees_the_hooked_gradient(retain_first):
    def program(lib, log):
        x = lib.tensor(A, requires_grad=True)
        h = x * 2
        if retain_first:
            h.retain_grad()
        h.register_hook(lambda g: g * 10)
        if not retain_first:
            h.retain_grad()
        h.sum().backward()
        log.append(("h.grad", h.grad.numpy().copy()))
        log.append(("x.grad", x.grad.numpy().copy()))
    _compare_logs(*_run_both(program))


def test_handle_remove_and_hook_on_root():
    def program(lib, log):
        x = lib.tensor(A, requires_grad=True)
        y = (x ** 2).sum()
        y.register_hook(lambda g: g * 5)
        handle = x.register_hook(lambda g: g * 100)
        handle.remove()
        y.backward()
        log.append(("x.grad", x.grad.numpy().copy()))
    _compare_logs(*_run_both(program))


def test_hook_on_one_output_of_a_multi_output_op():
    def program(lib, log):
        x = lib.tensor(A, requires_grad=True)
        a, b = x.split(2, dim=0)
        b.register_hook(lambda g: g * -1)
        (a.sum() + (b * b).sum()).backward()
        log.append(("x.grad", x.grad.numpy().copy()))
    _compare_logs(*_run_both(program))


def test_autograd_grad_runs_hooks_on_inputs():
    def program(lib, log):
        x = lib.tensor(A, requires_grad=True)
        h = x.sin()
        h.register_hook(lambda g: g * 2)
        (gh,) = lib.autograd.grad((h * h).sum(), [h], retain_graph=True)
        log.append(("gh", gh.numpy().copy()))
        (gx,) = lib.autograd.grad((h * h).sum(), [x])
        log.append(("gx", gx.numpy().copy()))
    _compare_logs(*_run_both(program))


def test_register_hook_errors_like_torch():
    for lib in (lamina, torch):
        with pytest.raises(RuntimeError, match="doesn't require gradient"):
            lib.tensor(A).register_hook(lambda g: g)


def test_hook_changing_shape_raises():
    x = lamina.tensor(A, requires_grad=True)
    x.register_hook(lambda g: g.sum())
    with pytest.raises(RuntimeError, match="changed the size"):
        (x * 2).sum().backward()


# --- module backward hooks ----------------------------------------------------------------

def _mlp(lib):
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    tm = tm.double()
    if lib is torch:
        return tm
    m = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    m.load_state_dict({k: lamina.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return m


def _grads(gs):
    return None if gs is None else [None if g is None else g.detach().numpy().copy() for g in gs]


def _compare_module_logs(a, b):
    assert [n for n, *_ in a] == [n for n, *_ in b]
    for (_, *xs), (_, *ys) in zip(a, b):
        for x, y in zip(xs, ys):
            assert (x is None) == (y is None)
            if x is not None:
                assert len(x) == len(y)
                for u, v in zip(x, y):
                    assert (u is None) == (v is None)
                    if u is not None:
                        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("input_grad", [True, False])
def test_full_backward_hooks_match_torch(input_grad):
    def program(lib, log):
        m = _mlp(lib)
        x = lib.tensor(A, requires_grad=input_grad)
        m[0].register_full_backward_pre_hook(
            lambda mod, go: log.append(("pre0", _grads(go), None)))
        m[2].register_full_backward_pre_hook(
            lambda mod, go: log.append(("pre2", _grads(go), None)))
        m[0].register_full_backward_hook(
            lambda mod, gi, go: log.append(("full0", _grads(gi), _grads(go))))
        m[2].register_full_backward_hook(
            lambda mod, gi, go: log.append(("full2", _grads(gi), _grads(go))))
        (m(x) ** 2).sum().backward()
        log.append(("w", _grads([p.grad for p in m.parameters()]), None))
        if input_grad:
            log.append(("x", _grads([x.grad]), None))
    _compare_module_logs(*_run_both(program))


def test_backward_hook_replacements_change_grads_like_torch():
    def program(lib, log):
        m = _mlp(lib)
        x = lib.tensor(A, requires_grad=True)
        m[2].register_full_backward_pre_hook(lambda mod, go: (go[0] * 3,))
        m[1].register_full_backward_hook(lambda mod, gi, go: (gi[0] * 0.5,))
        handle = m[0].register_full_backward_hook(lambda mod, gi, go: (gi[0] * 100,))
        handle.remove()
        (m(x) ** 2).sum().backward()
        log.append(("grads", _grads([p.grad for p in m.parameters()] + [x.grad]), None))
    _compare_module_logs(*_run_both(program))


def test_backward_hook_with_two_inputs_and_a_non_tensor_argument():
    class Mix(torch.nn.Module):
        def forward(self, a, b, scale):
            return a * b * scale, a + b

    class LMix(nn.Module):
        def forward(self, a, b, scale):
            return a * b * scale, a + b

    def program(lib, log):
        m = Mix() if lib is torch else LMix()
        a = lib.tensor(A, requires_grad=True)
        b = lib.tensor(B)                       # needs no gradient: None in grad_input
        m.register_full_backward_hook(
            lambda mod, gi, go: log.append(("full", _grads(gi), _grads(go))))
        p, s = m(a, b, 2.0)
        (p.sum() * 3).backward()                # s gets no gradient: None in grad_output
        log.append(("a", _grads([a.grad]), None))
    _compare_module_logs(*_run_both(program))


def test_full_backward_hook_without_input_grad_must_return_none():
    for lib in (torch, lamina):
        m = _mlp(lib)
        m.register_full_backward_hook(lambda mod, gi, go, lib=lib: (lib.ones(3, 4),))
        with pytest.raises(RuntimeError, match="no input requires gradient"):
            m(lib.tensor(A)).sum().backward()
