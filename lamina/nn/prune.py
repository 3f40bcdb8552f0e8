"""Pruning: zero out entries or whole channels of a parameter through a mask
(``torch.nn.utils.prune``'s interface and semantics; reached as ``lamina.nn.utils.prune``).

Pruning parameter ``name`` of a module re-parametrizes it: the original values move to the
parameter ``name + "_orig"``, a 0/1 mask of the same shape and dtype is stored as the buffer
``name + "_mask"``, and the attribute ``name`` becomes the plain tensor
``name_mask * name_orig``, recomputed by a forward pre-hook before every call (so gradients
reach ``name_orig`` only where the mask is 1). ``state_dict`` keys are PyTorch's
(``weight_orig``, ``weight_mask``), so a pruned model's weights move between the two
libraries. ``remove`` makes the pruning permanent (``name`` is a Parameter again).

Pruning the same parameter again combines masks in a ``PruningContainer``: the new amount
applies to the entries (or, for structured methods, the channels) that are still unpruned,
and the new mask is the product of the old one and the new one.

>>> from lamina.nn.utils import prune
>>> m = nn.Linear(4, 3)
>>> prune.l1_unstructured(m, "weight", amount=0.5)   # the 6 smallest |w| become 0
>>> sorted(k for k in m.state_dict())
['bias', 'weight_mask', 'weight_orig']
>>> prune.remove(m, "weight")                         # weight is a Parameter again

Which layers: any parameter can be pruned, but the forward must read it by attribute.
``Linear``, ``Conv*``, ``ConvTranspose*`` and ``Embedding`` do (they fall back from their
parameter registry to the attribute); the RNNs, the normalization layers and ``PReLU`` read
the registry directly for speed, so their forward raises ``KeyError`` once pruned.

Ties: the entries to prune are the ``k`` smallest by a stable sort (the first occurrence of
equal values goes first). PyTorch uses ``torch.topk``, whose choice among equal values is
not documented; masks agree whenever the importance scores are distinct.
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from lamina.backend import rng
from lamina.errors import LaminaIndexError, LaminaTypeError, LaminaValueError
from lamina.nn.module import Module
from lamina.nn.parameter import Parameter
from lamina.tensor import Tensor, _make

__all__ = ["BasePruningMethod", "PruningContainer", "Identity", "RandomUnstructured",
           "L1Unstructured", "RandomStructured", "LnStructured", "CustomFromMask",
           "identity", "random_unstructured", "l1_unstructured", "random_structured",
           "ln_structured", "global_unstructured", "custom_from_mask", "remove", "is_pruned",
           "SparsityReport", "sparsity_report"]


def _arr(t) -> np.ndarray:
    return t._data if isinstance(t, Tensor) else np.asarray(t)


class BasePruningMethod(ABC):
    """A pruning method: ``compute_mask(t, default_mask)`` returns the new 0/1 mask (an
    array shaped like ``t``) given the importance scores ``t`` and the mask so far.

    An instance is also the forward pre-hook that recomputes ``module.<name>`` from
    ``<name>_orig`` and ``<name>_mask`` before each forward. Subclasses set
    ``PRUNING_TYPE`` to ``"unstructured"``, ``"structured"`` (with a ``dim`` attribute) or
    ``"global"``, which tells ``PruningContainer`` which entries a repeated pruning sees.
    """

    PRUNING_TYPE: str = "unstructured"
    _tensor_name: str | None = None

    def __call__(self, module: Module, inputs) -> None:
        setattr(module, self._tensor_name, self.apply_mask(module))

    @abstractmethod
    def compute_mask(self, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
        """The mask to apply to ``t`` given the mask ``default_mask`` so far."""

    def apply_mask(self, module: Module) -> Tensor:
        """``<name>_mask * <name>_orig`` as a lamina tensor (differentiable in ``_orig``)."""
        if self._tensor_name is None:
            raise LaminaValueError(f"{type(self).__name__}.apply_mask: the pruning method has no "
                                   "tensor name; was it applied to a module?")
        mask = getattr(module, self._tensor_name + "_mask")
        orig = getattr(module, self._tensor_name + "_orig")
        return _make(mask._data.astype(orig._data.dtype, copy=False)) * orig

    @classmethod
    def apply(cls, module: Module, name: str, *args, importance_scores=None, **kwargs):
        """Prune ``module.<name>`` with a new ``cls(*args, **kwargs)`` (combined with any
        earlier pruning of the same parameter); returns the method now hooked on the
        module."""
        if not isinstance(module, Module):
            raise LaminaTypeError(f"{cls.__name__}.apply: expected a lamina.nn.Module, got "
                                  f"{type(module).__name__}")
        if not isinstance(name, str):
            raise LaminaTypeError(f"{cls.__name__}.apply: expected the parameter name as a str, "
                                  f"got {type(name).__name__}")
        old, old_keys = None, []
        for k, hook in module._forward_pre_hooks.items():
            if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
                old = hook
                old_keys.append(k)
        if len(old_keys) > 1:
            raise LaminaValueError(f"{cls.__name__}.apply: parameter {name!r} has "
                                   f"{len(old_keys)} pruning hooks; expected at most one")
        if old is None and name not in module._parameters:
            raise AttributeError(f"{cls.__name__}.apply: {type(module).__name__} has no "
                                 f"parameter {name!r} (its parameters: "
                                 f"{[k for k, v in module._parameters.items() if v is not None]})")
        orig = getattr(module, name)
        if importance_scores is not None:
            if tuple(importance_scores.shape) != tuple(orig.shape):
                raise LaminaValueError(f"{cls.__name__}.apply: importance_scores should have the "
                                       f"same shape as parameter {name} of {type(module).__name__}"
                                       f", got {tuple(importance_scores.shape)}, expected "
                                       f"{tuple(orig.shape)}")
            scores = _arr(importance_scores)
        else:
            scores = orig._data

        method = cls(*args, **kwargs)
        method._tensor_name = name
        if old is not None:
            if isinstance(old, PruningContainer):
                old.add_pruning_method(method)
                method = old
            else:
                container = PruningContainer(old)
                container.add_pruning_method(method)
                method = container

        if not isinstance(method, PruningContainer):
            module.register_parameter(name + "_orig", orig)
            del module._parameters[name]
            default_mask = np.ones_like(orig._data)
        else:
            default_mask = getattr(module, name + "_mask")._data.copy()
        try:
            mask = method.compute_mask(scores, default_mask=default_mask)
            module.register_buffer(name + "_mask", _make(np.ascontiguousarray(mask)))
            setattr(module, name, method.apply_mask(module))
        except Exception:
            if not isinstance(method, PruningContainer):   # undo the re-parametrization
                p = module._parameters.pop(name + "_orig")
                module.__dict__.pop(name, None)
                module._buffers.pop(name + "_mask", None)
                module.register_parameter(name, p)
            elif old is not None and method is old:
                old._pruning_methods = old._pruning_methods[:-1]
            raise
        for k in old_keys:
            del module._forward_pre_hooks[k]
        module.register_forward_pre_hook(method)
        return method

    def prune(self, t):
        """``t`` times this method's mask computed on ``t`` itself (no module involved)."""
        a = _arr(t)
        return _make(a * self.compute_mask(a, default_mask=np.ones_like(a)))

    def remove(self, module: Module) -> None:
        """Make the pruning permanent: ``<name>`` becomes a Parameter holding the pruned
        values; ``<name>_orig`` and ``<name>_mask`` are deleted."""
        name = self._tensor_name
        weight = self.apply_mask(module)
        module.__dict__.pop(name, None)
        orig = module._parameters[name + "_orig"]
        orig._data = weight._data
        del module._parameters[name + "_orig"]
        del module._buffers[name + "_mask"]
        setattr(module, name, orig)


class PruningContainer(BasePruningMethod):
    """The sequence of pruning methods applied to one parameter; its mask is the last
    method's mask computed on the still-unpruned part and multiplied into the old mask."""

    def __init__(self, *args):
        self._pruning_methods: tuple = ()
        if len(args) == 1:
            self._tensor_name = args[0]._tensor_name
        for method in args:
            self.add_pruning_method(method)

    def add_pruning_method(self, method: BasePruningMethod) -> None:
        if not isinstance(method, BasePruningMethod) and method is not None:
            raise LaminaTypeError(f"PruningContainer.add_pruning_method: {type(method).__name__} "
                                  "is not a BasePruningMethod subclass")
        if method is not None and self._tensor_name != method._tensor_name:
            raise LaminaValueError(f"PruningContainer.add_pruning_method: can only add pruning "
                                   f"methods acting on the parameter named '{self._tensor_name}' "
                                   f"to this container, got '{method._tensor_name}'")
        self._pruning_methods += (method,)

    def __len__(self) -> int:
        return len(self._pruning_methods)

    def __iter__(self):
        return iter(self._pruning_methods)

    def __getitem__(self, idx):
        return self._pruning_methods[idx]

    def compute_mask(self, t, default_mask):
        method = self._pruning_methods[-1]
        t = _arr(t)
        mask = np.asarray(default_mask).astype(t.dtype)
        if method.PRUNING_TYPE == "unstructured":
            slc = mask == 1
        elif method.PRUNING_TYPE == "structured":
            if not hasattr(method, "dim"):
                raise AttributeError("PruningContainer.compute_mask: a structured pruning "
                                     "method must have the attribute `dim`")
            dim = method.dim + t.ndim if method.dim < 0 else method.dim
            if not 0 <= dim < t.ndim:
                raise LaminaIndexError(f"PruningContainer.compute_mask: dim {method.dim} is out of "
                                       f"range for a tensor with {t.ndim} dims")
            other = tuple(d for d in range(t.ndim) if d != dim)
            keep = mask.sum(axis=other) != 0
            slc = tuple(keep if d == dim else slice(None) for d in range(t.ndim))
        elif method.PRUNING_TYPE == "global":
            slc = (slice(None),) * t.ndim
        else:
            raise LaminaValueError(f"PruningContainer.compute_mask: unrecognized PRUNING_TYPE "
                                   f"{method.PRUNING_TYPE!r}")
        mask[slc] = method.compute_mask(t[slc], default_mask=mask[slc])
        return mask


# --- amounts ---------------------------------------------------------------------------

def _validate_amount_init(amount, op: str) -> None:
    if not isinstance(amount, numbers.Real) or isinstance(amount, bool):
        raise LaminaTypeError(f"{op}: invalid type for amount: {type(amount).__name__}; expected "
                              "an int or a float")
    if (isinstance(amount, numbers.Integral) and amount < 0) or (
            not isinstance(amount, numbers.Integral) and not 0.0 <= float(amount) <= 1.0):
        raise LaminaValueError(f"{op}: amount={amount} should either be a float in the range "
                               "[0, 1] or a non-negative integer")


def _nparams_toprune(amount, size: int, op: str) -> int:
    """An int amount is a count; a float is a fraction, rounded half to even (Python's
    ``round``, as PyTorch)."""
    if isinstance(amount, numbers.Integral):
        if amount > size:
            raise LaminaValueError(f"{op}: amount={amount} should be smaller than the number of "
                                   f"parameters to prune={size}")
        return int(amount)
    return round(float(amount) * size)


def _validate_structured(t: np.ndarray, dim: int, op: str) -> None:
    if t.ndim <= 1:
        raise LaminaValueError(f"{op}: structured pruning can only be applied to "
                               f"multidimensional tensors; got a tensor of shape "
                               f"{tuple(t.shape)} with {t.ndim} dims")
    if not -t.ndim <= dim < t.ndim:
        raise LaminaIndexError(f"{op}: invalid dim {dim} for a tensor of shape {tuple(t.shape)}")


def _channel_mask(shape, dim: int, keep) -> np.ndarray:
    mask = np.zeros(shape)
    slc = [slice(None)] * len(shape)
    slc[dim] = keep
    mask[tuple(slc)] = 1
    return mask


def _norm(t: np.ndarray, n, dim: int) -> np.ndarray:
    """The ``n``-norm of each slice of ``t`` along ``dim`` (``torch.norm(t, p=n, dim=rest)``)."""
    moved = np.moveaxis(t, dim, 0).reshape(t.shape[dim], -1)
    a = np.abs(moved)
    if n == "fro" or n == 2:
        return np.sqrt((a * a).sum(axis=1))
    if n == np.inf:
        return a.max(axis=1)
    if n == -np.inf:
        return a.min(axis=1)
    if n == 0:
        return (a != 0).sum(axis=1).astype(t.dtype)
    if n == 1:
        return a.sum(axis=1)
    return (a ** n).sum(axis=1) ** (1.0 / n)


# --- methods ---------------------------------------------------------------------------

class Identity(BasePruningMethod):
    """Prunes nothing: the mask is all ones (useful to re-parametrize uniformly)."""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t, default_mask):
        return default_mask

    @classmethod
    def apply(cls, module, name):
        return super().apply(module, name)


class RandomUnstructured(BasePruningMethod):
    """Prune ``amount`` entries (a count, or a fraction of the unpruned ones) chosen
    uniformly at random, from lamina's global generator (``lamina.manual_seed``)."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        _validate_amount_init(amount, "random_unstructured")
        self.amount = amount

    def compute_mask(self, t, default_mask):
        k = _nparams_toprune(self.amount, t.size, "random_unstructured")
        mask = np.array(default_mask, copy=True)
        if k:
            idx = rng().permutation(t.size)[:k]
            mask.reshape(-1)[idx] = 0
        return mask

    @classmethod
    def apply(cls, module, name, amount):
        return super().apply(module, name, amount=amount)


class L1Unstructured(BasePruningMethod):
    """Prune the ``amount`` entries of smallest absolute value (a count, or a fraction of
    the unpruned ones)."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        _validate_amount_init(amount, "l1_unstructured")
        self.amount = amount

    def compute_mask(self, t, default_mask):
        k = _nparams_toprune(self.amount, t.size, "l1_unstructured")
        mask = np.array(default_mask, copy=True)
        if k:
            idx = np.argsort(np.abs(t).reshape(-1), kind="stable")[:k]
            mask.reshape(-1)[idx] = 0
        return mask

    @classmethod
    def apply(cls, module, name, amount, importance_scores=None):
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


class RandomStructured(BasePruningMethod):
    """Prune ``amount`` whole channels along ``dim`` chosen at random (lamina's global
    generator)."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount, dim: int = -1):
        _validate_amount_init(amount, "random_structured")
        self.amount = amount
        self.dim = dim

    def compute_mask(self, t, default_mask):
        _validate_structured(t, self.dim, "random_structured")
        size = t.shape[self.dim]
        k = _nparams_toprune(self.amount, size, "random_structured")
        if k == 0:
            return default_mask
        keep = np.ones(size, dtype=bool)
        keep[rng().permutation(size)[:k]] = False
        return _channel_mask(t.shape, self.dim, keep).astype(t.dtype) * default_mask

    @classmethod
    def apply(cls, module, name, amount, dim=-1):
        return super().apply(module, name, amount=amount, dim=dim)


class LnStructured(BasePruningMethod):
    """Prune the ``amount`` channels along ``dim`` of smallest ``n``-norm (``n`` as
    ``torch.norm``'s ``p``: 1, 2, ``inf``, ``-inf``, 0, any float, or ``'fro'``)."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount, n, dim: int = -1):
        _validate_amount_init(amount, "ln_structured")
        if not (n == "fro" or (isinstance(n, numbers.Real) and not isinstance(n, bool))):
            raise LaminaTypeError(f"ln_structured: n must be a number (1, 2, inf, ...) or 'fro', "
                                  f"got {n!r}")
        self.amount = amount
        self.n = n
        self.dim = dim

    def compute_mask(self, t, default_mask):
        _validate_structured(t, self.dim, "ln_structured")
        size = t.shape[self.dim]
        k = _nparams_toprune(self.amount, size, "ln_structured")
        if k == 0:
            return default_mask
        norm = _norm(t, self.n, self.dim % t.ndim)
        keep = np.ones(size, dtype=bool)
        keep[np.argsort(norm, kind="stable")[:k]] = False
        return _channel_mask(t.shape, self.dim, keep).astype(t.dtype) * default_mask

    @classmethod
    def apply(cls, module, name, amount, n, dim, importance_scores=None):
        return super().apply(module, name, amount=amount, n=n, dim=dim,
                             importance_scores=importance_scores)


class CustomFromMask(BasePruningMethod):
    """Prune with a given mask (multiplied into any earlier one)."""

    PRUNING_TYPE = "global"

    def __init__(self, mask):
        self.mask = _arr(mask)

    def compute_mask(self, t, default_mask):
        if default_mask.shape != self.mask.shape:
            raise LaminaValueError(f"custom_from_mask: the mask has shape "
                                   f"{tuple(self.mask.shape)}, "
                                   f"expected the parameter's shape {tuple(default_mask.shape)}")
        return default_mask * self.mask.astype(default_mask.dtype)

    @classmethod
    def apply(cls, module, name, mask):
        return super().apply(module, name, mask=mask)


# --- functional interface --------------------------------------------------------------

def identity(module: Module, name: str) -> Module:
    """Re-parametrize ``module.<name>`` with an all-ones mask; returns ``module``."""
    Identity.apply(module, name)
    return module


def random_unstructured(module: Module, name: str, amount) -> Module:
    """Prune ``amount`` random entries of ``module.<name>`` (int: a count; float in [0, 1]:
    a fraction of the unpruned entries, rounded half to even); returns ``module``."""
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module: Module, name: str, amount, importance_scores=None) -> Module:
    """Prune the ``amount`` entries of ``module.<name>`` with the smallest ``|score|``
    (scores default to the parameter itself); returns ``module``."""
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module: Module, name: str, amount, dim: int) -> Module:
    """Prune ``amount`` random channels of ``module.<name>`` along ``dim``."""
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(module: Module, name: str, amount, n, dim: int,
                  importance_scores=None) -> Module:
    """Prune the ``amount`` channels along ``dim`` with the smallest ``n``-norm; e.g.
    ``ln_structured(conv, "weight", 0.5, n=2, dim=0)`` removes half the output filters."""
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def custom_from_mask(module: Module, name: str, mask) -> Module:
    """Prune ``module.<name>`` where ``mask`` (a tensor or array of its shape) is 0."""
    CustomFromMask.apply(module, name, mask=mask)
    return module


def global_unstructured(parameters, pruning_method, importance_scores=None, **kwargs) -> None:
    """Prune the ``(module, name)`` pairs in ``parameters`` together, as one vector: e.g.
    ``global_unstructured(pairs, pruning_method=L1Unstructured, amount=20)`` removes the 20
    smallest weights over all of them. Entries already pruned are not counted again;
    ``importance_scores`` maps ``(module, name)`` to a score tensor."""
    if isinstance(parameters, (str, bytes)) or not isinstance(parameters, Iterable):
        raise LaminaTypeError(f"global_unstructured: parameters must be an iterable of "
                              f"(module, name) pairs, got {type(parameters).__name__}")
    parameters = list(parameters)
    importance_scores = {} if importance_scores is None else importance_scores
    if not isinstance(importance_scores, dict):
        raise LaminaTypeError(f"global_unstructured: importance_scores must be a dict, got "
                              f"{type(importance_scores).__name__}")
    for pair in parameters:
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], Module)):
            raise LaminaTypeError(f"global_unstructured: expected (module, name) pairs, got "
                                  f"{pair!r}")
    scores = np.concatenate([
        _arr(importance_scores.get((m, n), getattr(m, n))).reshape(-1)
        for m, n in parameters])
    default_mask = np.concatenate([
        _arr(getattr(m, n + "_mask")).reshape(-1) if hasattr(m, n + "_mask")
        else np.ones(getattr(m, n)._data.size, dtype=getattr(m, n)._data.dtype)
        for m, n in parameters])
    method = pruning_method(**kwargs)
    method._tensor_name = "temp"
    if method.PRUNING_TYPE != "unstructured":
        raise LaminaTypeError(f'global_unstructured: only "unstructured" PRUNING_TYPE is '
                              f"supported for the pruning_method; got {pruning_method.__name__} of "
                              f"type {method.PRUNING_TYPE!r}")
    container = PruningContainer()
    container._tensor_name = "temp"
    container.add_pruning_method(method)
    final = container.compute_mask(scores, default_mask)
    i = 0
    for m, n in parameters:
        size = getattr(m, n)._data.size
        custom_from_mask(m, n, mask=final[i:i + size].reshape(getattr(m, n).shape))
        i += size


def remove(module: Module, name: str) -> Module:
    """Make the pruning of ``module.<name>`` permanent (see ``BasePruningMethod.remove``)."""
    for k, hook in module._forward_pre_hooks.items():
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            return module
    raise LaminaValueError(f"remove: parameter '{name}' of module {type(module).__name__} has to "
                           "be pruned before pruning can be removed")


def is_pruned(module: Module) -> bool:
    """Whether ``module`` or any submodule has a pruning hook."""
    return any(isinstance(h, BasePruningMethod)
               for _, m in module.named_modules() for h in m._forward_pre_hooks.values())


# --- reporting -------------------------------------------------------------------------

@dataclass
class SparsityReport:
    """Zeros per parameter (``layers``: dotted name -> (zeros, total)) and over all of
    them; ``str(report)`` is a small Markdown table."""

    layers: dict = field(default_factory=dict)

    @property
    def zeros(self) -> int:
        return sum(z for z, _ in self.layers.values())

    @property
    def total(self) -> int:
        return sum(n for _, n in self.layers.values())

    @property
    def global_sparsity(self) -> float:
        """Fraction of zero entries over every reported parameter."""
        return self.zeros / self.total if self.total else 0.0

    def sparsity(self, name: str) -> float:
        z, n = self.layers[name]
        return z / n if n else 0.0

    def __str__(self) -> str:
        rows = ["| parameter | zeros | total | sparsity |", "|---|---:|---:|---:|"]
        rows += [f"| {k} | {z} | {n} | {self.sparsity(k):.2%} |"
                 for k, (z, n) in self.layers.items()]
        rows.append(f"| global | {self.zeros} | {self.total} | {self.global_sparsity:.2%} |")
        return "\n".join(rows)


def sparsity_report(model: Module, names: Iterable[str] = ("weight",)) -> SparsityReport:
    """Count the zeros of each module's effective (masked) tensors named in ``names``
    (``("weight",)`` by default; ``("weight", "bias")`` for both), per layer and globally.

    >>> print(prune.sparsity_report(model))
    | parameter | zeros | total | sparsity |
    ...
    """
    if not isinstance(model, Module):
        raise LaminaTypeError(f"sparsity_report: expected a lamina.nn.Module, got "
                              f"{type(model).__name__}")
    names = (names,) if isinstance(names, str) else tuple(names)
    report = SparsityReport()
    for mname, m in model.named_modules():
        for n in names:
            if n + "_mask" in m._buffers and n + "_orig" in m._parameters:
                a = m._buffers[n + "_mask"]._data * m._parameters[n + "_orig"]._data
            elif isinstance(m._parameters.get(n), Parameter):
                a = m._parameters[n]._data
            else:
                continue
            key = f"{mname}.{n}" if mname else n
            report.layers[key] = (int(a.size - np.count_nonzero(a)), int(a.size))
    return report
