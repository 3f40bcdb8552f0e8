"""Well-conditioned test matrices and a torch-vs-lamina comparison for ``lamina.linalg``.

Matrices are built as Q diag(s) W^T from random orthogonal Q, W and chosen, separated
singular values (or eigenvalues), so the conditioning, and hence the tolerance, is known:
kappa <= 4 here, and float64 results of two LAPACK builds agree to ~kappa * n * eps.
"""

from __future__ import annotations

import numpy as np

import lamina
from tests.helpers import torch

RTOL, ATOL = 1e-9, 1e-11      # float64, kappa <= 4, n <= 6: far above kappa * n * eps


def orthogonal(rng, batch, n):
    q, r = np.linalg.qr(rng.standard_normal(batch + (n, n)))
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


def spectrum(n, low=1.0, high=4.0):
    """Distinct values spread over [low, high] (gaps >= (high - low) / n)."""
    return np.linspace(high, low, n) if n > 1 else np.full(n, high)


def well_conditioned(batch, m, n=None, seed=0, symmetric=False, pd=False):
    """A (*batch, m, n) float64 array with singular values in [1, 4], distinct; symmetric
    ones get eigenvalues of both signs unless ``pd``."""
    n = m if n is None else n
    rng = np.random.default_rng(seed)
    batch = tuple(batch)
    k = min(m, n)
    s = spectrum(k)
    if symmetric:
        if not pd:
            s = s * np.where(np.arange(k) % 2, -1.0, 1.0)
        q = orthogonal(rng, batch, m)
        return (q * s) @ np.swapaxes(q, -1, -2)
    u = orthogonal(rng, batch, m)[..., :, :k]
    v = orthogonal(rng, batch, n)[..., :, :k]
    return (u * s) @ np.swapaxes(v, -1, -2)


def compare(arrays, fn, loss=None, rtol=RTOL, atol=ATOL, grad_rtol=None, grad_atol=None,
            lamina_fn=None, grad=True, outputs=None):
    """Run ``fn`` on the arrays as torch and as lamina tensors; compare the outputs (those
    indexed by ``outputs``, default all), then the gradients of ``loss(outputs)`` (default the
    sum of every floating output)."""
    lamina_fn = lamina_fn or fn
    tt = [torch.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    lt = [lamina.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    tout, lout = fn(*tt), lamina_fn(*lt)
    tseq = tout if isinstance(tout, (tuple, list)) else (tout,)
    lseq = lout if isinstance(lout, (tuple, list)) else (lout,)
    assert len(tseq) == len(lseq)
    for i, (t, o) in enumerate(zip(tseq, lseq)):
        if outputs is not None and i not in outputs:
            continue
        tn, ln = t.detach().numpy(), np.asarray(o._data)
        assert ln.shape == tn.shape, f"output {i}: shape {ln.shape}, torch {tn.shape}"
        assert ln.dtype == tn.dtype, f"output {i}: dtype {ln.dtype}, torch {tn.dtype}"
        np.testing.assert_allclose(ln, tn, rtol=rtol, atol=atol,
                                   err_msg=f"output {i} differs from torch")
    if not grad:
        return lout
    loss = loss or (lambda outs: sum(o.sum() for o in (outs if isinstance(outs, (tuple, list))
                                                      else (outs,))
                                     if o.dtype in (torch.float64, torch.float32)
                                     or getattr(o, "dtype", None) in (lamina.float64,
                                                                      lamina.float32)))
    tloss, lloss = loss(tout), loss(lout)
    if isinstance(tloss, int):        # no floating output (matrix_rank): nothing to compare
        return lout
    tloss.backward()
    lloss.backward()
    for i, (t, o) in enumerate(zip(tt, lt)):
        if not t.requires_grad:
            continue
        tg = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
        lg = np.zeros(o.shape) if o.grad is None else o.grad._data
        np.testing.assert_allclose(lg, tg, rtol=grad_rtol or rtol, atol=grad_atol or atol,
                                   err_msg=f"gradient of input {i} differs from torch")
    return lout


def gradcheck(fn, arrays, **kw):
    xs = [lamina.tensor(a.copy(), requires_grad=True) for a in arrays]
    assert lamina.autograd.gradcheck(fn, xs, **kw)
