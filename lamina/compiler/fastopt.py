"""Replaying an optimizer step as one kernel call per parameter.

At replay an optimizer step is normally called as it is (``opt.step()``), which spends most
of its time in Python bookkeeping around the kernels: the generator over parameters with a
gradient, scratch-buffer lookups, the kernel table, contiguity checks, scalar casts (measured
on the tiny workload's replay: about 30% of it, for four parameters). For plain SGD (with
momentum or Nesterov) and Adam, when the fused kernel of ``lamina.kernels.optim`` applies, the
replay instead calls a function made here, which calls that same kernel with the same
arguments for each parameter: the same bits, with the bookkeeping worked out once.

Each made function first checks, for the whole group, everything the shortcut assumed
(hyper-parameters other than ``lr``, each parameter's array, gradient layout and state
tensors); if anything differs it runs the optimizer's own ``_step_group`` instead, before
touching any parameter.
"""

from __future__ import annotations

from lamina.kernels.optim import adam_kernels, sgd_kernels
from lamina.optim.adam import Adam
from lamina.optim.sgd import SGD

__all__ = ["group_step"]


def group_step(opt, group):
    """A function replaying ``opt._step_group(group)`` with one kernel call per parameter, or
    None where the shortcut does not apply (then the step is replayed as it is)."""
    if type(opt) is SGD:
        return _sgd(opt, group)
    if type(opt) is Adam:
        return _adam(opt, group)
    return None


def _dense(d, arrays) -> bool:
    return d.flags.c_contiguous and all(
        a.dtype is d.dtype and a.flags.c_contiguous and a.shape == d.shape for a in arrays)


def _entries(opt, group, names, kernels):
    """Per parameter ``(p, array, state tensors)``, or None if a kernel or the state is
    missing; every parameter must share one dtype."""
    out, dtype = [], None
    for p in group["params"]:
        d = p._data
        st = opt.state.get(p)
        tensors = tuple(st.get(n) for n in names) if st else ()
        if any(t is None for t in tensors) or len(tensors) != len(names):
            return None, None              # a parameter without state: its first step differs
        if kernels(d.dtype) is None or not _dense(d, [t._data for t in tensors]):
            return None, None
        if dtype is not None and d.dtype is not dtype:
            return None, None
        dtype = d.dtype
        out.append((p, d, tensors))
    return out, dtype


def _ready(opt, entries, names):
    """The arrays of the parameters that have a gradient, each ``(p, d, g, *state)``, or None
    when anything differs from what the shortcut assumed."""
    todo = []
    state = opt.state
    for p, d, tensors in entries:
        gt = p.grad
        if gt is None:
            continue
        g = gt._data
        if p._data is not d or g.dtype is not d.dtype or g.shape != d.shape \
                or not g.flags.c_contiguous:
            return None
        arrays = []
        if names:
            st = state.get(p)
            if st is None:
                return None
            for n, t in zip(names, tensors):
                if st.get(n) is not t:
                    return None
                arrays.append(t._data)
        todo.append((p, d, g, *arrays))
    return todo


def _sgd(opt, group):
    if group["weight_decay"] or group["maximize"]:
        return None
    momentum = group["momentum"]
    names = ("momentum_buffer",) if momentum else ()
    entries, dtype = _entries(opt, group, names, sgd_kernels)
    if not entries:
        return None
    fixed = (momentum, group["dampening"], group["weight_decay"], group["nesterov"],
             group["maximize"], len(group["params"]))
    mode = (2 if group["nesterov"] else 1) if momentum else 0
    c = dtype.type
    cm, cd = c(momentum), c(1.0 - group["dampening"])
    kstep = sgd_kernels(dtype).step

    def sgd_group_step():
        if (group["momentum"], group["dampening"], group["weight_decay"], group["nesterov"],
                group["maximize"], len(group["params"])) != fixed:
            return opt._step_group(group)
        todo = _ready(opt, entries, names)
        if todo is None:
            return opt._step_group(group)
        lr = c(group["lr"])
        for item in todo:
            p, d, g = item[0], item[1], item[2]
            kstep(d, g, item[3] if mode else g, mode, False, cm, cd, lr)
            if p._vc is not None:
                p._vc[0] += 1

    return sgd_group_step


def _adam(opt, group):
    if group["weight_decay"] or group["maximize"] or group["amsgrad"]:
        return None
    names = ("exp_avg", "exp_avg_sq")
    entries, dtype = _entries(opt, group, names, adam_kernels)
    if not entries:
        return None
    beta1, beta2 = group["betas"]
    fixed = (group["betas"], group["eps"], group["weight_decay"], group["amsgrad"],
             group["maximize"], group["decoupled_weight_decay"], len(group["params"]))
    c = dtype.type
    w1, w2 = 1.0 - beta1, 1.0 - beta2
    small = w1 < 0.5
    cw1, cb1, cb2, cw2, ceps = c(w1), c(beta1), c(beta2), c(w2), c(group["eps"])
    kstep = adam_kernels(dtype).step
    state = opt.state

    def adam_group_step():
        if (group["betas"], group["eps"], group["weight_decay"], group["amsgrad"],
                group["maximize"], group["decoupled_weight_decay"],
                len(group["params"])) != fixed:
            return opt._step_group(group)
        todo = _ready(opt, entries, names)
        if todo is None:
            return opt._step_group(group)
        lr = group["lr"]
        for p, d, g, m, v in todo:
            st = state[p]
            step = st["step"] = st["step"] + 1          # Adam._step_group's arithmetic
            c2 = (1.0 - beta2 ** step) ** 0.5
            c1 = lr / (1.0 - beta1 ** step)
            kstep(d, g, m, v, small, cw1, cb1, cb2, cw2, c(c2), ceps, c(c1))
            if p._vc is not None:
                p._vc[0] += 1

    return adam_group_step
