"""SGD's compiled update (``lamina.kernels.optim``) against its NumPy reference update (bit for
bit: the same operations in the same order, no fused multiply-adds), the fallbacks for
layouts the kernel does not take, and both against PyTorch's trajectory."""

import numpy as np
import pytest

import lamina
from lamina import dispatch
from lamina.kernels.optim import sgd_kernels
from tests.helpers import requires_torch, torch

CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.8, nesterov=True),
    dict(lr=0.05, momentum=0.9, weight_decay=0.01),
    dict(lr=0.05, momentum=0.5, maximize=True),
    dict(lr=0.1, weight_decay=0.1, maximize=True),
]


def _grads(rng, shapes, steps, dtype):
    return [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]


def _run(monkeypatch, enabled, dtype, shapes, grads, transpose=False, **kw):
    with dispatch.fast_paths(enabled):
        return _steps(dtype, shapes, grads, transpose, **kw)


def _steps(dtype, shapes, grads, transpose=False, **kw):
    rng = np.random.default_rng(0)
    params = [lamina.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True)
              for s in shapes]
    opt = lamina.optim.SGD(params, **kw)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = lamina.tensor(g.T.copy().T if transpose else g)
        opt.step()
    bufs = [opt.state[p]["momentum_buffer"]._data for p in params] if kw.get("momentum") else []
    return [p._data.copy() for p in params] + bufs


@pytest.mark.parametrize("kw", CONFIGS, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_matches_numpy_bit_for_bit(monkeypatch, kw, dtype):
    if sgd_kernels(dtype) is None:
        pytest.skip("numba is not available (or LAMINA_NUMBA=0)")
    shapes = [(7, 5), (5,), (3, 4, 2), ()]
    grads = _grads(np.random.default_rng(1), shapes, 4, dtype)
    fast = _run(monkeypatch, True, dtype, shapes, grads, **kw)
    slow = _run(monkeypatch, False, dtype, shapes, grads, **kw)
    for a, b in zip(fast, slow):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("enabled", [True, False])
def test_non_contiguous_grads_take_the_numpy_path_with_the_same_result(monkeypatch, enabled):
    shapes = [(6, 4), (4, 3)]
    grads = _grads(np.random.default_rng(2), shapes, 3, np.float32)
    kw = dict(lr=0.05, momentum=0.9, nesterov=True)
    plain = _run(monkeypatch, enabled, np.float32, shapes, grads, **kw)
    strided = _run(monkeypatch, enabled, np.float32, shapes, grads, transpose=True, **kw)
    for a, b in zip(plain, strided):
        np.testing.assert_array_equal(a, b)


def test_loaded_buffer_of_another_layout_is_used_as_it_is(monkeypatch):
    """A momentum buffer that is not contiguous (say, loaded from elsewhere) falls back to the
    NumPy update instead of being read in the wrong order."""
    rng = np.random.default_rng(3)
    p = lamina.tensor(rng.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    q = lamina.tensor(p._data.copy(), requires_grad=True)
    opts = [lamina.optim.SGD([t], lr=0.1, momentum=0.9) for t in (p, q)]
    buf = rng.standard_normal((4, 3)).astype(np.float32)
    opts[0].state[p]["momentum_buffer"] = lamina.tensor(np.asfortranarray(buf))
    opts[1].state[q]["momentum_buffer"] = lamina.tensor(buf.copy())
    g = rng.standard_normal((4, 3)).astype(np.float32)
    for t, opt in zip((p, q), opts):
        t.grad = lamina.tensor(g)
        opt.step()
    np.testing.assert_array_equal(p._data, q._data)
    np.testing.assert_array_equal(opts[0].state[p]["momentum_buffer"]._data,
                                  opts[1].state[q]["momentum_buffer"]._data)


@requires_torch
@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("kw", CONFIGS, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_trajectory_matches_torch(monkeypatch, enabled, kw):
    shapes = [(5, 3), (3,)]
    grads = _grads(np.random.default_rng(4), shapes, 5, np.float64)
    ours = _run(monkeypatch, enabled, np.float64, shapes, grads, **kw)
    rng = np.random.default_rng(0)
    tp = [torch.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    opt = torch.optim.SGD(tp, **kw)
    for gs in grads:
        for p, g in zip(tp, gs):
            p.grad = torch.tensor(g)
        opt.step()
    for a, b in zip(ours, tp):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-12, atol=1e-14)
