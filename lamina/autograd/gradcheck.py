"""Numerical gradient checking: the analytical Jacobian (from backward) against central
differences, in float64, the way ``torch.autograd.gradcheck`` does it."""

from __future__ import annotations

import warnings

import numpy as np

from lamina.autograd.grad_mode import enable_grad, no_grad
from lamina.errors import LaminaValueError


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck`` when the analytical and numerical gradients disagree."""


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _outputs(fn, inputs):
    from lamina.tensor import Tensor

    outs = _as_tuple(fn(*inputs))
    return [o for o in outs if isinstance(o, Tensor) and o._data.dtype.kind == "f"]


def _numerical_jacobians(fn, inputs, diff_idx, eps):
    """J[o][i] of shape (outputs[o].size, inputs[i].size) by central differences."""
    with no_grad():
        n_outs = [o._data.size for o in _outputs(fn, inputs)]
        jac = [[np.zeros((no, inputs[i]._data.size)) for i in diff_idx] for no in n_outs]
        for k, i in enumerate(diff_idx):
            flat = inputs[i]._data.reshape(-1)   # a view: perturb in place
            if flat.size and not np.shares_memory(flat, inputs[i]._data):
                raise GradcheckError(f"gradcheck: input {i} must be contiguous")
            for j in range(flat.size):
                orig = flat[j]
                flat[j] = orig + eps
                plus = [o._data.astype(np.float64).reshape(-1).copy()
                        for o in _outputs(fn, inputs)]
                flat[j] = orig - eps
                minus = [o._data.astype(np.float64).reshape(-1).copy()
                         for o in _outputs(fn, inputs)]
                flat[j] = orig
                for o, (p, m) in enumerate(zip(plus, minus)):
                    jac[o][k][:, j] = (p - m) / (2 * eps)
    return jac


def _analytical_jacobians(fn, inputs, diff_idx):
    from lamina.autograd.engine import grad

    outs = _outputs(fn, inputs)
    targets = [inputs[i] for i in diff_idx]
    jac = [[np.zeros((o._data.size, inputs[i]._data.size)) for i in diff_idx] for o in outs]
    for o, out in enumerate(outs):
        if not out.requires_grad:
            continue
        for r in range(out._data.size):
            seed = np.zeros(out._data.size, out._data.dtype)
            seed[r] = 1
            gs = grad(out, targets, grad_outputs=seed.reshape(out._data.shape),
                      retain_graph=True, allow_unused=True)
            for k, g in enumerate(gs):
                if g is not None:
                    jac[o][k][r] = g._data.reshape(-1)
    return jac


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, fast_mode: bool = False,
              seed: int = 0) -> bool:
    """Check ``fn``'s gradients against finite differences.

    Every input tensor that requires grad is differentiated; use float64 inputs (float32
    differences are too coarse, and a warning says so). With ``fast_mode`` only ``v^T J u``
    for random unit vectors ``u``, ``v`` is compared, which is cheap for big inputs.

    Returns True when they agree; otherwise raises ``GradcheckError`` with a readable report
    (or returns False when ``raise_exception=False``).

    >>> x = lamina.randn(3, 4, dtype=lamina.float64, requires_grad=True)
    >>> gradcheck(lambda t: (t * t).sum(dim=1), (x,))
    True
    """
    from lamina.tensor import Tensor

    inputs = _as_tuple(inputs)
    diff_idx = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not diff_idx:
        raise LaminaValueError("gradcheck: at least one input tensor must require grad")
    for i in diff_idx:
        if inputs[i]._data.dtype != np.float64:
            warnings.warn(
                f"gradcheck: input {i} requires grad but is {inputs[i].dtype}, not float64; "
                "the check may fail for lack of precision", stacklevel=2)
    if fast_mode:
        ok, msg = _fast_check(fn, inputs, diff_idx, eps, atol, rtol, seed)
    else:
        ok, msg = _full_check(fn, inputs, diff_idx, eps, atol, rtol)
    if not ok and raise_exception:
        raise GradcheckError(msg)
    return ok


def _full_check(fn, inputs, diff_idx, eps, atol, rtol):
    num = _numerical_jacobians(fn, inputs, diff_idx, eps)
    ana = _analytical_jacobians(fn, inputs, diff_idx)
    for o in range(len(num)):
        for k, i in enumerate(diff_idx):
            n, a = num[o][k], ana[o][k]
            if not np.allclose(a, n, rtol=rtol, atol=atol, equal_nan=True):
                diff = np.abs(a - n)
                r, c = np.unravel_index(np.nanargmax(diff), diff.shape)
                with np.printoptions(precision=6, threshold=200, linewidth=100):
                    msg = (
                        f"Jacobian mismatch for output {o} with respect to input {i}:\n"
                        f"numerical:\n{n}\nanalytical:\n{a}\n"
                        f"largest difference {diff[r, c]:.3g} at output element {r}, input "
                        f"element {c} (numerical {n[r, c]:.6g}, analytical {a[r, c]:.6g}; "
                        f"atol={atol}, rtol={rtol})"
                    )
                return False, msg
    return True, ""


def _fast_check(fn, inputs, diff_idx, eps, atol, rtol, seed):
    from lamina.autograd.engine import grad

    g = np.random.default_rng(seed)
    us = {}
    for i in diff_idx:
        u = g.standard_normal(inputs[i]._data.shape)
        us[i] = u / max(np.linalg.norm(u), 1e-12)
    # numerical directional derivative J u, for each output
    with no_grad():
        saved = {i: inputs[i]._data.copy() for i in diff_idx}
        for i in diff_idx:
            inputs[i]._data[...] = saved[i] + eps * us[i]
        plus = [o._data.astype(np.float64).copy() for o in _outputs(fn, inputs)]
        for i in diff_idx:
            inputs[i]._data[...] = saved[i] - eps * us[i]
        minus = [o._data.astype(np.float64).copy() for o in _outputs(fn, inputs)]
        for i in diff_idx:
            inputs[i]._data[...] = saved[i]
    outs = _outputs(fn, inputs)
    for o, out in enumerate(outs):
        v = g.standard_normal(out._data.shape)
        numerical = float(np.sum(v * (plus[o] - minus[o]) / (2 * eps)))
        analytical = 0.0
        if out.requires_grad:
            gs = grad(out, [inputs[i] for i in diff_idx], grad_outputs=v.astype(out.dtype),
                      retain_graph=True, allow_unused=True)
            analytical = float(sum(np.sum(gi._data * us[i]) for gi, i in zip(gs, diff_idx)
                                   if gi is not None))
        if not np.isclose(analytical, numerical, rtol=rtol, atol=atol):
            return False, (
                f"Jacobian mismatch for output {o} (fast mode, v^T J u along random "
                f"directions): numerical {numerical:.8g}, analytical {analytical:.8g} "
                f"(atol={atol}, rtol={rtol})"
            )
    return True, ""


def gradgradcheck(fn, inputs, grad_outputs=None, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, gen_non_contig_grad_outputs: bool = False,
                  raise_exception: bool = True, fast_mode: bool = False,
                  seed: int = 0) -> bool:
    """Check ``fn``'s second derivatives against finite differences of its first ones.

    As ``torch.autograd.gradgradcheck``: the function ``(inputs, grad_outputs) ->
    autograd.grad(fn(inputs), inputs, grad_outputs, create_graph=True)`` is given to
    ``gradcheck``, so the backward of the backward is compared with central differences of
    the backward, in float64. ``grad_outputs`` defaults to random float64 tensors (one per
    floating output of ``fn``), drawn from ``seed``. ``gen_non_contig_grad_outputs`` is
    accepted for PyTorch's signature; lamina's backward does not depend on memory layout.

    >>> x = lamina.randn(3, dtype=lamina.float64, requires_grad=True)
    >>> gradgradcheck(lambda t: t.tanh(), (x,))
    True
    """
    from lamina.autograd.engine import grad
    from lamina.tensor import Tensor, _make

    inputs = _as_tuple(inputs)
    diff_idx = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not diff_idx:
        raise LaminaValueError("gradgradcheck: at least one input tensor must require grad")
    outs = _outputs(fn, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        grad_outputs = tuple(
            _make(rng.standard_normal(o._data.shape).astype(o._data.dtype)).requires_grad_()
            for o in outs)
    else:
        grad_outputs = _as_tuple(grad_outputs)
        if len(grad_outputs) != len(outs):
            raise LaminaValueError(f"gradgradcheck: got {len(grad_outputs)} grad_outputs for "
                                   f"{len(outs)} floating outputs")
    n = len(inputs)

    def first_derivatives(*args):
        xs, gos = args[:n], args[n:]
        with enable_grad():     # gradcheck's finite differences run under no_grad
            ys = _outputs(fn, xs)
            pairs = [(y, go) for y, go in zip(ys, gos) if y.requires_grad]
            if not pairs:
                return ()
            gs = grad([y for y, _ in pairs], [xs[i] for i in diff_idx],
                      grad_outputs=[go for _, go in pairs], create_graph=True,
                      allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first_derivatives, (*inputs, *grad_outputs), eps=eps, atol=atol,
                     rtol=rtol, raise_exception=raise_exception, fast_mode=fast_mode,
                     seed=seed)
