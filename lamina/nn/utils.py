"""Utilities over a model's parameters: gradient clipping, flattening to a vector, and the
L1/L2 weight penalties of a regularized loss; ``fuse``, the explicit layer-fusion pass.

``clip_grad_norm_``, ``clip_grad_value_``, ``parameters_to_vector`` and
``vector_to_parameters`` follow ``torch.nn.utils``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable

import numpy as np

from lamina.autograd.function import Function
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn.module import Module
from lamina.nn.modules.container import Sequential
from lamina.nn.modules.fused import FUSIONS
from lamina.nn.modules.linear import Identity
from lamina.tensor import Tensor, _make

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector",
           "vector_to_parameters", "l1_penalty", "l2_penalty", "fuse"]


def _param_list(parameters, op: str) -> list:
    if isinstance(parameters, Module):
        return list(parameters.parameters())
    if isinstance(parameters, Tensor):
        return [parameters]
    try:
        params = list(parameters)
    except TypeError:
        raise LaminaTypeError(f"{op}: expected a Module, a Tensor or an iterable of Tensors, got "
                              f"{type(parameters).__name__}") from None
    for p in params:
        if not isinstance(p, Tensor):
            raise LaminaTypeError(f"{op}: expected Tensors, got {type(p).__name__}")
    return params


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Scale all gradients together so that their joint ``norm_type``-norm is at most
    ``max_norm``; returns the total norm before clipping (a 0-d tensor).

    The norm is over all gradients as if concatenated into one vector. Gradients are scaled
    in place by ``max_norm / (total_norm + 1e-6)`` when that is below 1 (PyTorch's rule).

    >>> loss.backward()
    >>> nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    """
    grads = [p.grad for p in _param_list(parameters, "clip_grad_norm_")
             if p.grad is not None]
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if not grads:
        return _make(np.array(0.0, dtype=np.float32))
    dt = grads[0]._data.dtype
    if norm_type == math.inf:
        total = max(float(np.max(np.abs(g._data))) if g._data.size else 0.0 for g in grads)
    elif norm_type == 2.0:
        total = math.sqrt(sum(float(np.dot(g._data.ravel(), g._data.ravel())) for g in grads))
    else:
        s = sum(float(np.sum(np.abs(g._data) ** norm_type)) for g in grads)
        total = s ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise LaminaValueError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the "
            "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    coef = max_norm / (total + 1e-6)
    if coef < 1.0 or math.isnan(coef):
        for g in grads:
            np.multiply(g._data, g._data.dtype.type(coef), out=g._data)
    return _make(np.array(total, dtype=dt))


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float,
                     foreach=None) -> None:
    """Clamp every gradient element to ``[-clip_value, clip_value]`` in place."""
    clip_value = float(clip_value)
    for p in _param_list(parameters, "clip_grad_value_"):
        if p.grad is not None:
            np.clip(p.grad._data, -clip_value, clip_value, out=p.grad._data)


class _Concat(Function):
    """Flatten and concatenate tensors; backward splits the gradient back."""

    @staticmethod
    def forward(ctx, *arrays):
        ctx.shapes = [a.shape for a in arrays]
        return np.concatenate([a.ravel() for a in arrays])

    @staticmethod
    def backward(ctx, g):
        out, i = [], 0
        for s in ctx.shapes:
            n = math.prod(s)
            out.append(g[i:i + n].reshape(s).copy())
            i += n
        return tuple(out)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    params = _param_list(parameters, "parameters_to_vector")
    if not params:
        raise LaminaValueError("parameters_to_vector: expected a non-empty list of Tensors")
    dts = {p._data.dtype for p in params}
    if len(dts) > 1:
        raise LaminaTypeError(f"parameters_to_vector: parameters have mixed dtypes "
                              f"{sorted(map(str, dts))}")
    return _Concat.apply(*params)


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters, in place.

    PyTorch rebinds each ``param._data`` to a view of ``vec``; lamina copies instead, so the
    parameters keep their own memory (and an optimizer holding them stays valid).
    """
    if not isinstance(vec, Tensor):
        raise LaminaTypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    if vec.ndim != 1:
        raise LaminaValueError(f"vector_to_parameters: expected a 1-D vector, got shape "
                               f"{tuple(vec.shape)}")
    params = _param_list(parameters, "vector_to_parameters")
    total = sum(p._data.size for p in params)
    if total != vec._data.size:
        raise LaminaValueError(f"vector_to_parameters: the vector has {vec._data.size} elements "
                               f"but the parameters need {total}")
    i = 0
    for p in params:
        n = p._data.size
        np.copyto(p._data, vec._data[i:i + n].reshape(p._data.shape), casting="unsafe")
        if p._vc is not None:
            p._vc[0] += 1
        i += n


class _Penalty(Function):
    """``weight * sum_p sum |p|`` (order 1) or ``weight * sum_p sum p^2`` (order 2)."""

    @staticmethod
    def forward(ctx, order, weight, *arrays):
        ctx.order, ctx.weight = order, weight
        ctx.save_for_backward(*arrays)
        dt = arrays[0].dtype
        if order == 1:
            s = sum(float(np.abs(a).sum()) for a in arrays)
        else:
            s = sum(float(np.dot(a.ravel(), a.ravel())) for a in arrays)
        return np.asarray(weight * s, dtype=dt)

    @staticmethod
    def backward(ctx, g):
        c = g * ctx.weight
        needs = ctx.needs_input_grad[2:]
        if ctx.order == 1:
            grads = [np.sign(a) * c if n else None for a, n in zip(ctx.saved, needs)]
        else:
            grads = [a * (2 * c) if n else None for a, n in zip(ctx.saved, needs)]
        return (None, None, *grads)


def _penalty(params, weight, order, op):
    params = _param_list(params, op)
    params = [p for p in params if p._data.dtype.kind == "f"]
    if not params:
        return _make(np.array(0.0, dtype=np.float32))
    return _Penalty.apply(order, float(weight), *params)


def l1_penalty(module_or_params, weight: float = 1.0) -> Tensor:
    """``weight * sum_i |w_i|`` over every parameter (lasso), differentiable, one graph node.

    Convention: *all* parameters given are penalized, biases included; to penalize weights
    only, pass them yourself::

        loss = criterion(out, y) + nn.utils.l1_penalty(
            [p for n, p in model.named_parameters() if n.endswith("weight")], weight=1e-4)
    """
    return _penalty(module_or_params, weight, 1, "l1_penalty")


def l2_penalty(module_or_params, weight: float = 1.0) -> Tensor:
    """``weight * sum_i w_i^2`` over every parameter (ridge / weight decay), without a 1/2
    factor, differentiable, one graph node. Its gradient is ``2 * weight * w``, so it equals
    SGD's ``weight_decay=2 * weight``. Convention: all parameters given, biases included;
    filter the list to exclude them (see ``l1_penalty``)."""
    return _penalty(module_or_params, weight, 2, "l2_penalty")


def fuse(model: Module, inplace: bool = False) -> Module:
    """Replace neighbouring layer pairs in every ``nn.Sequential`` of ``model`` (recursively)
    by one fused module with the same values and gradients, and return the model.

    The pairs, each two modules in a row of the same Sequential, of exactly these types:

    - ``BatchNorm1d/2d/3d`` then ``ReLU`` -> ``BatchNormReLU1d/2d/3d``, one op
      (``F.batch_norm_relu``): the ReLU rides in BatchNorm's passes over memory.
    - ``ReLU`` then ``MaxPool1d/2d`` (without ``return_indices``) -> ``ReLUMaxPool1d/2d``: the
      pool runs first and the ReLU on its smaller output (the two orders agree exactly).

    The first module of a pair is replaced by the fused module and the second by
    ``nn.Identity``, so positions, parameters, buffers and ``state_dict`` keys and values are
    unchanged: a checkpoint loads into the fused model (and into PyTorch) as before. This is
    lamina's counterpart of ``torch.ao.quantization.fuse_modules``, which finds the pairs
    itself instead of taking their names. Nothing else in lamina fuses a user's model.

    A pair where either module has a forward hook or pre-hook, or a ``forward`` assigned on
    the instance, is skipped (left as written): the fused module would not run that code.
    Subclasses of the listed types are skipped too. A ``Sequential`` subclass is assumed to
    run its modules in order (its ``forward`` may add checks around that).

    Values and gradients equal the unfused model's bit for bit on the NumPy path; with the
    compiled BatchNorm kernels, the fused and unfused kernels add a channel's terms in
    different orders (summation-order rounding).

    Args:
        model: the model (any Module).
        inplace: modify ``model`` itself; by default a deep copy is fused and returned.

    Returns:
        The fused model (``model`` itself when ``inplace``).

    >>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
    >>> fused = nn.utils.fuse(model)          # model itself is left as written
    >>> [type(m).__name__ for m in fused]
    ['Conv2d', 'BatchNormReLU2d', 'Identity']
    """
    if not inplace:
        model = copy.deepcopy(model)
    for m in list(model.modules()):
        if isinstance(m, Sequential):
            _fuse_pairs(m)
    return model


def _fuse_pairs(seq: Sequential) -> None:
    names = list(seq._modules)
    i = 0
    while i + 1 < len(names):
        first, second = seq._modules[names[i]], seq._modules[names[i + 1]]
        make = FUSIONS.get((type(first), type(second)))
        if make is not None and not _runs_own_code(first) and not _runs_own_code(second) \
                and not getattr(second, "return_indices", False):
            seq._modules[names[i]] = make(first, second)
            seq._modules[names[i + 1]] = Identity()
            i += 2
        else:
            i += 1


def _runs_own_code(m: Module) -> bool:
    """Hooks or an instance ``forward``: code the fused module would not run."""
    return bool(m._forward_hooks or m._forward_pre_hooks or "forward" in m.__dict__)


from lamina.nn import prune  # noqa: E402,F401,I001  (torch.nn.utils.prune; see nn/prune.py)
__import__("sys").modules[__name__ + ".prune"] = prune  # `import lamina.nn.utils.prune` works
from lamina.nn.transfer import (  # noqa: E402,F401,I001  (transfer learning; nn/transfer.py)
    count_parameters, freeze, layerwise_lr_groups, param_groups, replace_head,
    replace_module, trainable_parameter_names, unfreeze,
)

from lamina.nn import utils_rnn as rnn  # noqa: E402,F401,I001  (torch.nn.utils.rnn)
__import__("sys").modules[__name__ + ".rnn"] = rnn  # `import lamina.nn.utils.rnn` works
