"""L-BFGS: a quasi-Newton method that keeps the last few gradient differences (Nocedal, 1980)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from lamina.autograd.grad_mode import GradMode
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.optim.optimizer import Optimizer
from lamina.tensor import Tensor, _make

__all__ = ["LBFGS"]

_ARRAY_STATE = ("d", "prev_flat_grad")          # flat vectors
_LIST_STATE = ("old_dirs", "old_stps")          # lists of flat vectors
_SCALAR_STATE = ("t", "H_diag", "prev_loss")    # floats


class LBFGS(Optimizer):
    r"""Limited-memory BFGS, PyTorch's algorithm (after minFunc) step for step.

    Each ``step(closure)`` runs up to ``max_iter`` iterations on the flattened vector of all
    parameters. With ``g`` the gradient, ``s_i = t_i d_i`` the past steps and
    ``y_i = g_{i+1} - g_i`` the gradient changes (a pair is kept only when ``y.s > 1e-10``,
    at most ``history_size`` of them), the direction ``d = -H g`` comes from the two-loop
    recursion::

        q <- -g
        for i newest..oldest:  a_i = rho_i s_i.q;  q <- q - a_i y_i       (rho_i = 1 / y_i.s_i)
        r <- H_diag q                                            (H_diag = y.s / y.y, newest)
        for i oldest..newest:  b = rho_i y_i.r;    r <- r + (a_i - b) s_i
        d = r

    The first iteration ever takes ``d = -g`` with ``t = min(1, 1 / |g|_1) * lr``; later ones
    take ``t = lr``, or with ``line_search_fn="strong_wolfe"`` the step a line search finds
    (cubic interpolation, sufficient decrease ``c1 = 1e-4``, curvature ``c2 = 0.9``). An
    iteration stops the step early when ``max|g| <= tolerance_grad``, when the directional
    derivative ``g.d > -tolerance_change``, when ``max|t d| <= tolerance_change``, when the loss
    changed by less than ``tolerance_change``, or when ``max_eval`` closure calls were spent.

    Args:
        params: tensors to optimize (one group only, as in PyTorch).
        lr: learning rate, the step length along ``d`` (default 1).
        max_iter: iterations per ``step`` (default 20).
        max_eval: closure evaluations per ``step`` (default ``max_iter * 5 // 4``).
        tolerance_grad: stop when the largest gradient entry is at most this (default 1e-7).
        tolerance_change: stop when the loss or the parameters change less (default 1e-9).
        history_size: number of ``(s, y)`` pairs kept (default 100).
        line_search_fn: ``None`` (fixed step) or ``"strong_wolfe"``.

    ``step(closure)`` needs the closure: it zeroes the gradients, computes the loss, calls
    ``backward()`` and returns the loss; it runs with gradient recording on and the update
    itself under ``no_grad``. ``step`` returns the loss of the closure's first call.

    State, all on the first parameter (as PyTorch keeps it): ``func_evals``, ``n_iter``
    (ints), ``d``, ``prev_flat_grad`` (flat tensors), ``old_dirs``, ``old_stps`` (lists of flat
    tensors), ``ro``, ``al`` (lists of floats), ``t``, ``H_diag``, ``prev_loss`` (floats).

    Differences from PyTorch, on purpose: a bad ``line_search_fn``, ``max_iter``, ``max_eval``,
    ``history_size`` or tolerance is rejected when the optimizer is made (PyTorch fails on the
    first step or not at all); scalars in the state are Python floats, not 0-d tensors.

    >>> opt = lamina.optim.LBFGS([w], line_search_fn="strong_wolfe")
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = loss_fn(w)
    ...     loss.backward()
    ...     return loss
    >>> opt.step(closure)
    """

    _str_options = ("line_search_fn",)

    def __init__(self, params, lr: float = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 history_size: int = 100, line_search_fn: str | None = None) -> None:
        if max_eval is None and isinstance(max_iter, int):
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                        tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                        history_size=history_size, line_search_fn=line_search_fn)
        self._validate_group(defaults)
        super().__init__(params, defaults)
        self._params = self.param_groups[0]["params"]

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._params = self.param_groups[0]["params"]

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if self.param_groups:
            raise LaminaValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    def _validate_group(self, group):
        lr = group["lr"]
        if not lr >= 0.0:
            raise LaminaValueError(f"LBFGS: invalid learning rate: {lr}")
        for name in ("max_iter", "max_eval", "history_size"):
            v = group[name]
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise LaminaValueError(f"LBFGS: {name} must be a positive integer, got {v!r}")
        for name in ("tolerance_grad", "tolerance_change"):
            if not group[name] >= 0.0:
                raise LaminaValueError(f"LBFGS: invalid {name}: {group[name]}")
        if group["line_search_fn"] not in (None, "strong_wolfe"):
            raise LaminaValueError("LBFGS: line_search_fn must be None or 'strong_wolfe', got "
                                   f"{group['line_search_fn']!r}")

    # --- the flat parameter vector ---------------------------------------------------------
    def _gather_flat_grad(self) -> np.ndarray:
        """All gradients, flattened in C order and concatenated (zeros where ``.grad`` is
        ``None``); a fresh array."""
        return np.concatenate([
            np.zeros(p._data.size, p._data.dtype) if p.grad is None else p.grad._data.reshape(-1)
            for p in self._params])

    def _add_grad(self, t: float, d: np.ndarray) -> None:
        """``p <- p + t * d`` for the slice of ``d`` belonging to each parameter, in place."""
        offset = 0
        for p in self._params:
            data = p._data
            n = data.size
            step = np.multiply(d[offset:offset + n].reshape(data.shape), t)
            np.add(data, step, out=data)
            _bump(p)
            offset += n

    def _clone_param(self) -> list[np.ndarray]:
        return [p._data.copy() for p in self._params]

    def _set_param(self, values: list[np.ndarray]) -> None:
        for p, v in zip(self._params, values):
            np.copyto(p._data, v)
            _bump(p)

    def _directional_evaluate(self, closure, x, t, d):
        """The loss and flat gradient at ``x + t d``; the parameters are left at ``x``."""
        self._add_grad(t, d)
        loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # --- the step --------------------------------------------------------------------------
    def step(self, closure: Callable[[], Any] | None = None):
        """Run up to ``max_iter`` L-BFGS iterations; return the closure's first loss."""
        if closure is None or not callable(closure):
            raise LaminaTypeError("LBFGS.step: a closure that re-evaluates the loss is required, "
                                  f"got {closure!r}")
        prev_mode = GradMode.enabled
        try:
            return self._step(_with_grad(closure))
        finally:
            GradMode.enabled = prev_mode

    def _step(self, closure):
        GradMode.enabled = False
        group = self.param_groups[0]
        lr = float(group["lr"])
        max_iter = group["max_iter"]
        max_eval = group["max_eval"]
        tolerance_grad = group["tolerance_grad"]
        tolerance_change = group["tolerance_change"]
        line_search_fn = group["line_search_fn"]
        history_size = group["history_size"]

        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1

        flat_grad = self._gather_flat_grad()
        if np.abs(flat_grad).max(initial=0.0) <= tolerance_grad:
            return orig_loss

        d = _raw(state.get("d"))
        t = state.get("t")
        old_dirs = [_raw(v) for v in state.get("old_dirs", [])]
        old_stps = [_raw(v) for v in state.get("old_stps", [])]
        ro = list(state.get("ro", []))
        H_diag = state.get("H_diag")
        prev_flat_grad = _raw(state.get("prev_flat_grad"))
        prev_loss = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # --- direction -------------------------------------------------------------
            if state["n_iter"] == 1:
                d = np.negative(flat_grad)
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1.0
            else:
                y = np.subtract(flat_grad, prev_flat_grad)
                s = np.multiply(d, t)
                ys = float(np.dot(y, s))
                if ys > 1e-10:                      # keep the pair only if curvature is positive
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / float(np.dot(y, y))
                al = state.get("al")
                if al is None or len(al) != history_size:
                    al = state["al"] = [None] * history_size
                # two-loop recursion: d = -H g with H the L-BFGS inverse-Hessian estimate
                q = np.negative(flat_grad)
                tmp = np.empty_like(q)
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = float(np.dot(old_stps[i], q)) * ro[i]
                    np.subtract(q, np.multiply(old_dirs[i], al[i], out=tmp), out=q)
                d = np.multiply(q, H_diag, out=q)
                for i in range(len(old_dirs)):
                    be_i = float(np.dot(old_dirs[i], d)) * ro[i]
                    np.add(d, np.multiply(old_stps[i], al[i] - be_i, out=tmp), out=d)

            if prev_flat_grad is None or prev_flat_grad.shape != flat_grad.shape:
                prev_flat_grad = flat_grad.copy()
            else:
                np.copyto(prev_flat_grad, flat_grad)
            prev_loss = loss

            # --- step length -----------------------------------------------------------
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / float(np.abs(flat_grad).sum())) * lr
            else:
                t = lr
            gtd = float(np.dot(flat_grad, d))      # directional derivative
            if gtd > -tolerance_change:
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                x_init = self._clone_param()

                def obj_func(x, t, d):
                    return self._directional_evaluate(closure, x, t, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd,
                    tolerance_change=tolerance_change, max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = np.abs(flat_grad).max(initial=0.0) <= tolerance_grad
            else:
                self._add_grad(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    # re-evaluate only when another iteration follows (pointless otherwise in
                    # a stochastic setting)
                    loss = float(closure())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = np.abs(flat_grad).max(initial=0.0) <= tolerance_grad
                    ls_func_evals = 1

            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # --- stopping ----------------------------------------------------------------
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d).max(initial=0.0) * abs(t) <= tolerance_change:   # no progress
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state["d"] = None if d is None else _make(d)
        state["t"] = t
        state["old_dirs"] = [_make(v) for v in old_dirs]
        state["old_stps"] = [_make(v) for v in old_stps]
        state["ro"] = ro
        state["H_diag"] = H_diag
        state["prev_flat_grad"] = None if prev_flat_grad is None else _make(prev_flat_grad)
        state["prev_loss"] = prev_loss
        return orig_loss

    # --- saving and loading ----------------------------------------------------------------
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a dict made by ``state_dict`` (lamina's or PyTorch's LBFGS).

        The flat vectors are copied and cast to the parameters' dtype; 0-d tensors become
        floats.
        """
        if not isinstance(state_dict, dict) or "state" not in state_dict \
                or "param_groups" not in state_dict:
            raise LaminaValueError("LBFGS.load_state_dict: expected a dict with 'state' and "
                                   "'param_groups' entries, as made by Optimizer.state_dict()")
        super().load_state_dict({"state": {}, "param_groups": state_dict["param_groups"]})
        self._params = self.param_groups[0]["params"]
        saved = state_dict["state"]
        if not saved:
            return
        if len(saved) != 1 or 0 not in saved:
            raise LaminaValueError("LBFGS.load_state_dict: expected the state of parameter 0 only, "
                                   f"got the states of {sorted(saved)}")
        dtype = np.result_type(*[p._data.dtype for p in self._params])
        numel = sum(p._data.size for p in self._params)
        st = {}
        for name, value in saved[0].items():
            if name in _ARRAY_STATE:
                value = None if value is None else _make(_flat_copy(value, dtype, numel, name))
            elif name in _LIST_STATE:
                value = [_make(_flat_copy(v, dtype, numel, name)) for v in value]
            elif name in _SCALAR_STATE:
                value = None if value is None else _to_float(value)
            elif name in ("func_evals", "n_iter"):
                value = int(_to_float(value))
            elif name in ("ro", "al"):
                value = [None if v is None else _to_float(v) for v in value]
            else:
                value = copy.deepcopy(value)
            st[name] = value
        self.state[self._params[0]] = st


def _bump(p: Tensor) -> None:
    if p._vc is not None:
        p._vc[0] += 1


def _raw(v):
    return None if v is None else (v._data if isinstance(v, Tensor) else v)


def _with_grad(closure):
    """``closure`` run with gradient recording on (the update around it runs without)."""
    def wrapped():
        prev = GradMode.enabled
        GradMode.enabled = True
        try:
            return closure()
        finally:
            GradMode.enabled = prev
    return wrapped


def _to_float(v) -> float:
    if isinstance(v, Tensor):
        v = v._data
    elif hasattr(v, "detach"):                   # a PyTorch tensor
        v = v.detach().cpu().numpy()
    return float(np.asarray(v))


def _flat_copy(v, dtype, numel: int, name: str) -> np.ndarray:
    if isinstance(v, Tensor):
        v = v._data
    elif hasattr(v, "detach"):
        v = v.detach().cpu().numpy()
    arr = np.array(v, dtype=dtype, copy=True).reshape(-1)
    if arr.size != numel:
        raise LaminaValueError(f"LBFGS.load_state_dict: state '{name}' has {arr.size} entries, but "
                               f"the parameters have {numel}")
    return arr


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None) -> float:
    """The minimizer of the cubic through ``(x1, f1)``, ``(x2, f2)`` with slopes ``g1``,
    ``g2``, clamped to ``bounds`` (default: between the two points); the bounds' midpoint
    when the cubic has no minimizer."""
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square < 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(d2_square)
    if x1 <= x2:
        min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(min_pos, lo), hi)


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """A step length ``t`` along ``d`` meeting the strong Wolfe conditions
    ``f(x + t d) <= f + c1 t gtd`` and ``|g(x + t d).d| <= -c2 gtd`` (Nocedal and Wright,
    algorithms 3.5 and 3.6): first bracket an interval holding such a point, growing ``t``
    by cubic extrapolation, then shrink it by cubic interpolation ("zoom").

    Returns ``(f_new, g_new, t, evaluations)``.
    """
    d_norm = float(np.abs(d).max(initial=0.0))
    g = g.copy()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = float(np.dot(g_new, d))

    # bracketing phase
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    bracket_gtd: list[float] = []
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        # extrapolate to a longer step, between 1.01 t and 10 t
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                               bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new.copy(), gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = float(np.dot(g_new, d))
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]

    # zoom phase: shrink the bracket until a point meets the conditions
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                               bracket[1], bracket_f[1], bracket_gtd[1])
        # a trial point too close to an end of the bracket (twice running, or outside it)
        # is moved to 10% of the bracket's length from that end
        hi, lo = max(bracket), min(bracket)
        eps = 0.1 * (hi - lo)
        if min(hi - t, t - lo) < eps:
            if insuf_progress or t >= hi or t <= lo:
                t = hi - eps if abs(t - hi) < abs(t - lo) else lo + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = float(np.dot(g_new, d))
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # no sufficient decrease, or not below the low end: t becomes the high end
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new.copy(), gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True                          # strong Wolfe conditions hold
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # the old high end becomes the new low end
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new.copy(), gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals
