"""Module parity with PyTorch: load a torch module's ``state_dict`` into the lamina module
(strict), run both on the same inputs, compare the outputs, the input gradients and every
parameter's gradient (float64)."""

from __future__ import annotations

import numpy as np

import lamina
from tests.helpers import torch


def state_dict_numpy(tm) -> dict:
    return {k: v.detach().numpy().copy() for k, v in tm.state_dict().items()}


def _outputs(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def check_module(tm, lm, call, arrays, train=False, rtol=1e-9, atol=1e-11, grad=True,
                 seed=0):
    """``call(module, lib, *tensors)`` runs a module (``lib`` is ``torch`` or ``lamina``,
    for making masks); ``arrays`` are its inputs: float arrays get gradients, the rest
    (integer or boolean) don't. Returns the lamina outputs."""
    tm, lm = tm.double(), lm.double()
    lm.load_state_dict(state_dict_numpy(tm))
    tm.train(train)
    lm.train(train)
    tin = [torch.tensor(a, requires_grad=bool(grad and a.dtype.kind == "f")) for a in arrays]
    lin = [lamina.tensor(a, requires_grad=bool(grad and a.dtype.kind == "f")) for a in arrays]
    tout, lout = _outputs(call(tm, torch, *tin)), _outputs(call(lm, lamina, *lin))
    assert len(tout) == len(lout)
    rng = np.random.default_rng(seed)
    tsum = lsum = 0
    for i, (t, lo) in enumerate(zip(tout, lout)):
        if t is None:
            assert lo is None, f"output {i}: PyTorch gives None"
            continue
        tn = t.detach().numpy()
        assert tuple(lo.shape) == tn.shape, f"output {i}: shape {lo.shape}, PyTorch {tn.shape}"
        np.testing.assert_allclose(lo.data, tn, rtol=rtol, atol=atol, equal_nan=True,
                                   err_msg=f"output {i} differs from PyTorch")
        if grad:
            g = rng.normal(size=tn.shape)
            tsum = tsum + (torch.nan_to_num(t) * torch.tensor(g)).sum()
            lsum = lsum + (_nan_to_zero(lo) * lamina.tensor(g)).sum()
    if not grad:
        return lout
    tsum.backward()
    lsum.backward()
    for i, (t, lo) in enumerate(zip(tin, lin)):
        if t.requires_grad:
            np.testing.assert_allclose(lo.grad.data, t.grad.numpy(), rtol=rtol, atol=atol,
                                       equal_nan=True,
                                       err_msg=f"gradient of input {i} differs from PyTorch")
    lparams = dict(lm.named_parameters())
    for name, p in tm.named_parameters():
        lp = lparams[name]
        if p.grad is None:
            assert lp.grad is None or not np.any(lp.grad._data), f"{name}: unexpected grad"
            continue
        np.testing.assert_allclose(lp.grad.data, p.grad.numpy(), rtol=rtol, atol=atol,
                                   equal_nan=True,
                                   err_msg=f"gradient of {name} differs from PyTorch")
    return lout


def _nan_to_zero(t):
    """NaN outputs (fully masked rows) out of the loss, as ``torch.nan_to_num`` does."""
    bad = np.isnan(t._data)
    return t.masked_fill(lamina.tensor(bad), 0.0) if bad.any() else t
