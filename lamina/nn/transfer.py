"""Transfer learning: freeze and unfreeze by name, replace a head, and per-layer learning
rates through optimizer parameter groups (``from lamina.nn.utils import freeze, ...``).

Names are ``named_parameters()`` names (``"features.0.weight"``); a pattern is a glob
(``fnmatch``: ``"features.*"``, ``"*.bias"``) or, with ``regex=True``, a regular expression
searched in the name (``r"^features\\.[0-3]\\."``). A pattern also matches a parameter when
it matches the name of a module that owns it (``"features"`` freezes all of
``features.*``).

BatchNorm while frozen: freezing a BatchNorm's weight and bias stops their updates, but in
train mode the layer would still normalize with the batch's statistics and overwrite its
running mean and variance. ``freeze(..., bn_eval=True)`` (the default) therefore keeps every
BatchNorm whose parameters are all frozen in eval mode: a forward pre-hook sets
``training = False`` before each call, so a later ``model.train()`` cannot undo it, and
``unfreeze`` removes the hook. (A BatchNorm without affine parameters counts as frozen when a
pattern matches its module name.)

>>> freeze(model, "features.*")                  # a fixed feature extractor
>>> replace_head(model, nn.Linear(84, 5))        # a new classifier for 5 classes
>>> groups = param_groups(model, [("features.*", {"lr": 1e-4})], default={"lr": 1e-3})
>>> opt = optim.Adam(groups)
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn.module import Module

__all__ = ["freeze", "unfreeze", "trainable_parameter_names", "count_parameters",
           "replace_module", "replace_head", "param_groups", "layerwise_lr_groups"]

_BN_HOOK = "_transfer_bn_eval_handle"


def _patterns(patterns, op: str) -> list[str] | None:
    if patterns is None:
        return None
    if isinstance(patterns, str):
        return [patterns]
    if isinstance(patterns, Iterable):
        out = list(patterns)
        if all(isinstance(p, str) for p in out):
            return out
    raise LaminaTypeError(f"{op}: patterns must be a str or a list of str (globs or regexes), got "
                          f"{patterns!r}")


def _match(name: str, patterns: list[str] | None, regex: bool) -> bool:
    """``name`` (or one of its dotted prefixes, the modules that own it) matches."""
    if patterns is None:
        return True
    parts = name.split(".")
    prefixes = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for p in patterns:
        if regex:
            if re.search(p, name):
                return True
        elif any(fnmatch.fnmatchcase(q, p) for q in prefixes):
            return True
    return False


def _check(module, op: str) -> None:
    if not isinstance(module, Module):
        raise LaminaTypeError(f"{op}: module must be an nn.Module, got {type(module).__name__}")


def _bn_eval_hook(mod, args):
    mod.training = False


def _sync_batchnorm(module: Module, patterns, regex: bool, freezing: bool,
                    bn_eval: bool) -> None:
    from lamina.nn.modules.batchnorm import _BatchNorm
    for name, m in module.named_modules():
        if not isinstance(m, _BatchNorm):
            continue
        params = list(m.parameters())
        handle = m.__dict__.get(_BN_HOOK)
        if params:
            frozen = all(not p.requires_grad for p in params)
        elif _match(name, patterns, regex):       # no affine parameters: by its name
            frozen = freezing
        else:
            frozen = handle is not None
        if frozen and bn_eval and handle is None:
            m.__dict__[_BN_HOOK] = m.register_forward_pre_hook(_bn_eval_hook)
            m.training = False
        elif not frozen and handle is not None:
            handle.remove()
            del m.__dict__[_BN_HOOK]
            m.training = module.training


def _set(module, patterns, regex, requires_grad, bn_eval, op) -> list[str]:
    _check(module, op)
    pats = _patterns(patterns, op)
    if regex and pats:
        for p in pats:
            try:
                re.compile(p)
            except re.error as e:
                raise LaminaValueError(f"{op}: invalid regex {p!r}: {e}") from None
    names = []
    for name, p in module.named_parameters():
        if _match(name, pats, regex):
            p.requires_grad_(requires_grad)
            names.append(name)
    if pats is not None and not names and not any(
            _match(n, pats, regex) for n, _ in module.named_modules() if n):
        raise LaminaValueError(f"{op}: no parameter or module name matches {pats}; names are "
                               f"e.g. {[n for n, _ in module.named_parameters()][:6]}")
    _sync_batchnorm(module, pats, regex, not requires_grad, bn_eval)
    return names


def freeze(module: Module, patterns: str | list[str] | None = None, *, regex: bool = False,
           bn_eval: bool = True) -> list[str]:
    """Set ``requires_grad=False`` on the parameters whose names match ``patterns`` (all
    parameters when ``None``); returns the names frozen. With ``bn_eval`` the fully frozen
    BatchNorm layers stay in eval mode (see the module docstring).

    Raises:
        ValueError: when no parameter or module name matches (a likely typo).
    """
    return _set(module, patterns, regex, False, bn_eval, "freeze")


def unfreeze(module: Module, patterns: str | list[str] | None = None, *,
             regex: bool = False) -> list[str]:
    """Set ``requires_grad=True`` on the matching parameters (all when ``None``); BatchNorm
    layers with trainable parameters again follow ``train()``/``eval()``."""
    return _set(module, patterns, regex, True, True, "unfreeze")


def trainable_parameter_names(module: Module) -> list[str]:
    """Names of the parameters with ``requires_grad=True``."""
    _check(module, "trainable_parameter_names")
    return [n for n, p in module.named_parameters() if p.requires_grad]


def count_parameters(module: Module, trainable_only: bool = False) -> int:
    """The number of parameter elements (only trainable ones with ``trainable_only``)."""
    _check(module, "count_parameters")
    return int(sum(p._data.size for p in module.parameters()
                   if p.requires_grad or not trainable_only))


def replace_module(model: Module, target: str, new: Module) -> Module:
    """Put ``new`` at the dotted submodule path ``target`` (``"classifier.6"``, ``"fc"``);
    returns the module it replaces."""
    op = "replace_module"
    _check(model, op)
    if not isinstance(new, Module):
        raise LaminaTypeError(f"{op}: new must be an nn.Module, got {type(new).__name__}")
    if not isinstance(target, str) or not target:
        raise LaminaValueError(f"{op}: target must be a non-empty dotted module name, got "
                               f"{target!r}")
    parent_name, _, leaf = target.rpartition(".")
    try:
        parent = model.get_submodule(parent_name) if parent_name else model
    except (AttributeError, KeyError, ValueError) as e:
        raise LaminaValueError(f"{op}: no submodule {parent_name!r} in the model ({e})") from None
    if leaf not in parent._modules:
        raise LaminaValueError(f"{op}: {type(parent).__name__} {parent_name or '(root)'!r} has no "
                               f"child {leaf!r}; children: {list(parent._modules)}")
    old = parent._modules[leaf]
    parent._modules[leaf] = new
    return old


def replace_head(model: Module, new: Module | int, target: str | None = None) -> Module:
    """Replace the classifier head: the submodule ``target``, by default the *last*
    ``nn.Linear`` in ``named_modules()`` order. ``new`` is a module, or an int ``k`` for a
    fresh ``nn.Linear(old.in_features, k)``. Returns the new head.

    >>> replace_head(lenet, 5)        # LeNet-5 for 5 classes
    """
    from lamina.nn.modules.linear import Linear
    op = "replace_head"
    _check(model, op)
    if target is None:
        linears = [n for n, m in model.named_modules() if isinstance(m, Linear) and n]
        if not linears:
            raise LaminaValueError(f"{op}: the model has no nn.Linear submodule; pass target=")
        target = linears[-1]
    if isinstance(new, int) and not isinstance(new, bool):
        old = model.get_submodule(target)
        if not isinstance(old, Linear):
            raise LaminaValueError(f"{op}: an int head needs a Linear at {target!r}, found "
                                   f"{type(old).__name__}")
        if new < 1:
            raise LaminaValueError(f"{op}: the number of outputs must be >= 1, got {new}")
        new = Linear(old.in_features, new, bias=old.bias is not None,
                     dtype=old.weight._data.dtype)
    replace_module(model, target, new)
    return new


def param_groups(module: Module, rules, default: dict | None = None, *, regex: bool = False,
                 include_frozen: bool = False) -> list[dict]:
    """Optimizer parameter groups by name pattern, for per-layer hyper-parameters.

    Args:
        module: the model.
        rules: a list of ``(pattern_or_patterns, options)``, e.g.
            ``[("features.*", {"lr": 1e-4}), ("*.bias", {"weight_decay": 0})]``; each
            parameter joins the group of the *first* rule it matches.
        default: options for the parameters no rule matches (``{}``: the optimizer's
            defaults); ``None`` leaves them out of the optimizer.
        regex: patterns are regular expressions instead of globs.
        include_frozen: also list parameters with ``requires_grad=False``.

    Returns:
        ``[{"params": [...], "param_names": [...], **options}, ...]``, empty groups left out,
        ready for ``optim.SGD(groups, lr=...)``.
    """
    op = "param_groups"
    _check(module, op)
    if not isinstance(rules, (list, tuple)) or not all(
            isinstance(r, (list, tuple)) and len(r) == 2 and isinstance(r[1], dict)
            for r in rules):
        raise LaminaTypeError(f"{op}: rules must be a list of (pattern, options dict) pairs, got "
                              f"{rules!r}")
    if default is not None and not isinstance(default, dict):
        raise LaminaTypeError(f"{op}: default must be a dict or None, got {type(default).__name__}")
    compiled = [(_patterns(p, op), opts) for p, opts in rules]
    groups = [{"params": [], "param_names": [], **opts} for _, opts in compiled]
    rest = {"params": [], "param_names": [], **(default or {})}
    for name, p in module.named_parameters():
        if not (p.requires_grad or include_frozen):
            continue
        g = next((grp for (pats, _), grp in zip(compiled, groups)
                  if _match(name, pats, regex)), rest if default is not None else None)
        if g is not None:
            g["params"].append(p)
            g["param_names"].append(name)
    return [g for g in groups + [rest] if g["params"]]


def layerwise_lr_groups(module: Module, layers: list, base_lr: float, decay: float = 2.6,
                        *, regex: bool = False) -> list[dict]:
    """Discriminative learning rates (Howard and Ruder, ULMFiT, 2018): ``layers`` lists
    patterns from the input side to the output side; the last gets ``base_lr``, each one
    before it ``decay`` times less (``base_lr / decay**k``). Unlisted parameters are left
    out."""
    op = "layerwise_lr_groups"
    if not isinstance(base_lr, (int, float)) or isinstance(base_lr, bool) or base_lr <= 0:
        raise LaminaValueError(f"{op}: base_lr must be a positive number, got {base_lr!r}")
    if not isinstance(decay, (int, float)) or isinstance(decay, bool) or decay <= 0:
        raise LaminaValueError(f"{op}: decay must be a positive number, got {decay!r}")
    if not isinstance(layers, (list, tuple)) or not layers:
        raise LaminaValueError(f"{op}: layers must be a non-empty list of patterns, got {layers!r}")
    n = len(layers)
    rules = [(p, {"lr": base_lr / decay ** (n - 1 - i)}) for i, p in enumerate(layers)]
    return param_groups(module, rules, None, regex=regex)
