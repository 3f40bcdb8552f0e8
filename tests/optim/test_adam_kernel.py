"""Adam's compiled update (``lamina.kernels.optim``) against its NumPy reference update, bit
for bit: the kernel does the reference's ufuncs in the same order and precision."""

import numpy as np
import pytest

import lamina
from lamina import dispatch
from lamina.kernels.optim import adam_kernels
from lamina.optim import adam


def _adam_run(monkeypatch, enabled, dtype, shapes, steps=4, transpose_grad=False, **kw):
    with dispatch.fast_paths(enabled):
        return _steps(dtype, shapes, steps, transpose_grad, **kw)


def _steps(dtype, shapes, steps, transpose_grad, **kw):
    rng = np.random.default_rng(3)
    ps = [lamina.nn.Parameter(lamina.tensor(rng.standard_normal(s).astype(dtype)))
          for s in shapes]
    opt = adam.Adam(ps, lr=0.01, **kw)
    for _ in range(steps):
        for p in ps:
            g = rng.standard_normal(p.shape[::-1] if transpose_grad else p.shape)
            p.grad = lamina.tensor(g.astype(dtype).T if transpose_grad else g.astype(dtype))
        opt.step()
    out = []
    for p in ps:
        st = opt.state[p]
        out += [p.data, st["exp_avg"].data, st["exp_avg_sq"].data]
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", [dict(), dict(betas=(0.3, 0.5)), dict(weight_decay=0.1),
                                dict(maximize=True), dict(amsgrad=True),
                                dict(weight_decay=0.1, decoupled_weight_decay=True),
                                dict(eps=0.0)])
def test_adam_kernel_matches_numpy_path(monkeypatch, dtype, kw):
    """The compiled Adam update gives the NumPy path's bits (both forms of the m lerp,
    1-D and 2-D parameters, weight decay, maximize; amsgrad keeps the NumPy path)."""
    if adam_kernels(dtype) is None:
        pytest.skip("numba is not available (or LAMINA_NUMBA=0)")
    shapes = [(7, 5), (33,), (1,)]
    fast = _adam_run(monkeypatch, True, dtype, shapes, **kw)
    ref = _adam_run(monkeypatch, False, dtype, shapes, **kw)
    for a, b in zip(fast, ref):
        np.testing.assert_array_equal(a, b)


def test_adam_non_contiguous_grad_takes_numpy_path(monkeypatch):
    """A transposed (non-contiguous) gradient is still handled, with the same results."""
    fast = _adam_run(monkeypatch, True, np.float32, [(4, 6)], transpose_grad=True)
    ref = _adam_run(monkeypatch, False, np.float32, [(4, 6)], transpose_grad=True)
    for a, b in zip(fast, ref):
        np.testing.assert_array_equal(a, b)
