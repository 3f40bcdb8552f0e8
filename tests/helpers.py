"""Test oracles: ``check_op`` runs one lambda in lamina and in PyTorch and compares them;
``check_grad`` runs lamina's numerical gradcheck."""

from __future__ import annotations

import numpy as np
import pytest

import lamina

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # the PyTorch comparisons skip, visibly, where torch is absent
    torch = None

requires_torch = pytest.mark.skipif(torch is None, reason="torch not installed: "
                                    "PyTorch parity checks skipped")

TOL = {np.float64: dict(rtol=1e-7, atol=1e-10), np.float32: dict(rtol=1e-4, atol=1e-5)}


def torch_dtype(np_dtype):
    return {np.dtype("float32"): torch.float32, np.dtype("float64"): torch.float64,
            np.dtype("int64"): torch.int64, np.dtype("bool"): torch.bool}[np.dtype(np_dtype)]


def make_arrays(shapes, dtype=np.float64, seed=0, low=-2.0, high=2.0, positive=False,
                noncontiguous=False):
    """Random arrays for ``shapes``; each entry may also be a ready array."""
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes:
        if isinstance(s, np.ndarray):
            out.append(s)
            continue
        a = rng.uniform(0.1 if positive else low, high, size=s).astype(dtype)
        if noncontiguous and a.ndim >= 2:
            a = np.ascontiguousarray(a.swapaxes(-1, -2)).swapaxes(-1, -2)
        out.append(a)
    return out


def _float_outputs(out):
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return outs


def check_op(shapes, torch_fn, lamina_fn=None, dtype=np.float64, rtol=None, atol=None,
             grad_rtol=None, grad_atol=None, grad=True, seed=0, low=-2.0, high=2.0,
             positive=False, noncontiguous=False, requires_grad=None):
    """Run ``torch_fn`` in PyTorch and ``lamina_fn`` (default: the same lambda) in lamina on the
    same random inputs; compare shapes, dtypes, values, then the gradients of the sum of
    every floating output."""
    if torch is None:
        pytest.skip("torch not installed: PyTorch parity checks skipped")
    lamina_fn = lamina_fn or torch_fn
    arrays = make_arrays(shapes, dtype, seed, low, high, positive, noncontiguous)
    tol = TOL[np.dtype(dtype).type]
    rtol = tol["rtol"] if rtol is None else rtol
    atol = tol["atol"] if atol is None else atol
    grad_rtol = rtol if grad_rtol is None else grad_rtol
    grad_atol = atol if grad_atol is None else grad_atol
    if requires_grad is None:
        requires_grad = [a.dtype.kind == "f" for a in arrays]
    tt = [torch.tensor(a, requires_grad=bool(rg and grad)) for a, rg in
          zip(arrays, requires_grad)]
    lt = [lamina.tensor(a, requires_grad=bool(rg and grad)) for a, rg in
          zip(arrays, requires_grad)]
    tout = _float_outputs(torch_fn(*tt))
    lout = _float_outputs(lamina_fn(*lt))
    assert len(tout) == len(lout), f"{len(lout)} outputs, PyTorch gives {len(tout)}"
    for i, (t, lo) in enumerate(zip(tout, lout)):
        tn = t.detach().numpy()
        ln = np.asarray(lo._data)
        assert ln.shape == tn.shape, f"output {i}: shape {ln.shape}, PyTorch {tn.shape}"
        assert ln.dtype == tn.dtype, f"output {i}: dtype {ln.dtype}, PyTorch {tn.dtype}"
        np.testing.assert_allclose(ln, tn, rtol=rtol, atol=atol, equal_nan=True,
                                   err_msg=f"output {i} values differ from PyTorch")
    if not grad:
        return lout
    tsum = sum(t.sum() for t in tout if t.dtype.is_floating_point and t.requires_grad)
    lsum = sum(lo.sum() for lo in lout if lo.dtype.kind == "f" and lo.requires_grad)
    if isinstance(tsum, int):
        return lout
    tsum.backward()
    lsum.backward()
    for i, (t, lo) in enumerate(zip(tt, lt)):
        if not t.requires_grad:
            continue
        if t.grad is None:
            assert lo.grad is None or np.all(lo.grad._data == 0), f"input {i}: unexpected grad"
            continue
        assert lo.grad is not None, f"input {i}: lamina produced no gradient"
        assert lo.grad.shape == tuple(t.grad.shape), \
            f"input {i}: grad shape {lo.grad.shape}, PyTorch {tuple(t.grad.shape)}"
        assert lo.grad.dtype == t.grad.numpy().dtype, \
            f"input {i}: grad dtype {lo.grad.dtype}, PyTorch {t.grad.numpy().dtype}"
        np.testing.assert_allclose(lo.grad._data, t.grad.numpy(), rtol=grad_rtol,
                                   atol=grad_atol, equal_nan=True,
                                   err_msg=f"gradient of input {i} differs from PyTorch")
    return lout


def check_grad(fn, shapes, seed=0, positive=False, low=-2.0, high=2.0, fast_mode=False,
               **kw):
    """lamina's own numerical gradcheck in float64 on random inputs of ``shapes``."""
    arrays = make_arrays(shapes, np.float64, seed, low, high, positive)
    xs = [lamina.tensor(a, requires_grad=True) for a in arrays]
    assert lamina.autograd.gradcheck(fn, xs, fast_mode=fast_mode, **kw)


def check_raises_like(torch_fn, lamina_fn, shapes, exc=(RuntimeError, ValueError, TypeError,
                                                         IndexError)):
    """Error parity: the bad call raises in PyTorch and in lamina."""
    if torch is None:
        pytest.skip("torch not installed: PyTorch parity checks skipped")
    arrays = make_arrays(shapes)
    with pytest.raises(Exception):
        torch_fn(*[torch.tensor(a) for a in arrays])
    with pytest.raises(exc):
        lamina_fn(*[lamina.tensor(a) for a in arrays])


def sum_order_bound(abs_sum, terms: int, dtype) -> np.ndarray:
    """How far two computations of the same sums may differ when they add in different orders.

    A sum of ``terms`` products (or terms) computed in floating point, in ANY order or tree
    (sequential, pairwise, SIMD lanes of any width, BLAS blocking), differs from the exact sum
    by at most ``gamma_n * sum(|t_i|)`` with ``gamma_n = n*u / (1 - n*u)``, ``u`` the unit
    roundoff and ``n = terms + 1`` (the products' own rounding counted too) (Higham, *Accuracy
    and Stability of Numerical Algorithms*, 2nd ed., sec. 3.1). Two such computations, on two
    code paths or two machines, therefore differ by at most twice that. ``abs_sum`` is
    ``sum(|t_i|)`` for each output element, computed by the caller in float64 (for a matrix
    product ``|A| @ |B|``; for a convolution the same convolution of ``|x|`` and ``|w|``).
    This is the worst case: typical differences are ``sqrt(n)`` times smaller.
    """
    u = np.finfo(dtype).eps / 2
    n = terms + 1
    gamma = n * u / (1 - n * u)
    return 2 * gamma * np.asarray(abs_sum, dtype=np.float64)


def assert_sum_order_close(actual, desired, abs_sum, terms: int, dtype, err_msg=""):
    """Assert ``actual`` and ``desired`` (the same sums, added in different orders) agree within
    ``sum_order_bound``; a wrong value is off by far more than that bound."""
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    assert actual.shape == desired.shape, (actual.shape, desired.shape)
    bound = sum_order_bound(abs_sum, terms, dtype) + np.finfo(dtype).tiny
    err = np.abs(actual - desired)
    bad = ~(err <= bound)
    if bad.any():
        i = tuple(np.argwhere(bad)[0])
        raise AssertionError(
            f"{err_msg} {int(bad.sum())} of {bad.size} elements differ by more than the "
            f"summation-order bound ({terms} terms, {np.dtype(dtype).name}); first at {i}: "
            f"{actual[i]!r} vs {desired[i]!r}, |diff| {err[i]:.3g} > bound {bound[i]:.3g}")


def both(shapes, f, **kw):
    """``check_op`` for an op spelled ``f(lib, *xs)``, ``lib`` being torch or lamina."""
    return check_op(shapes, lambda *a: f(torch, *a), lambda *a: f(lamina, *a), **kw)


def raises_both(f, *arrays, exc=(RuntimeError, ValueError, TypeError, IndexError)):
    """The call raises in PyTorch and in lamina, lamina's error a ``LaminaError``."""
    if torch is None:
        pytest.skip("torch not installed")
    with pytest.raises(Exception):
        f(torch, *[torch.tensor(a) for a in arrays])
    with pytest.raises(exc) as info:
        f(lamina, *[lamina.tensor(a) for a in arrays])
    assert isinstance(info.value, lamina.LaminaError), info.value
