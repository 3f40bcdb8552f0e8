"""``quantize_dynamic``: swap float layers for dynamically quantized ones; model size."""

from __future__ import annotations

import copy

from lamina import nn
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn.module import Module
from lamina.quantization.dtypes import QDtype, qint8
from lamina.quantization.modules import DynamicQuantizedConv2d, DynamicQuantizedLinear
from lamina.quantization.qconfig import QConfig, default_dynamic_qconfig

DEFAULT_MAPPING = {nn.Linear: DynamicQuantizedLinear, nn.Conv2d: DynamicQuantizedConv2d}


def _spec(qconfig_spec, op: str) -> tuple[dict, dict]:
    """``(by_type, by_name)`` qconfig tables from a set of types or a dict keyed by types or
    submodule names (PyTorch's two forms)."""
    if qconfig_spec is None:
        qconfig_spec = {nn.Linear}
    if isinstance(qconfig_spec, (set, frozenset, list, tuple)):
        qconfig_spec = dict.fromkeys(qconfig_spec, default_dynamic_qconfig)
    if not isinstance(qconfig_spec, dict):
        raise LaminaTypeError(f"{op}: qconfig_spec must be a set of module types or a dict, got "
                              f"{type(qconfig_spec).__name__}")
    by_type, by_name = {}, {}
    for key, qc in qconfig_spec.items():
        if qc is not None and not isinstance(qc, QConfig):
            raise LaminaTypeError(f"{op}: qconfig for {key!r} must be a QConfig or None, got "
                                  f"{type(qc).__name__}")
        if isinstance(key, type) and issubclass(key, Module):
            by_type[key] = qc
        elif isinstance(key, str):
            by_name[key] = qc
        else:
            raise LaminaTypeError(f"{op}: qconfig_spec keys must be Module types or submodule "
                                  f"names, got {key!r}")
    return by_type, by_name


def quantize_dynamic(model: Module, qconfig_spec=None, dtype: QDtype = qint8,
                     mapping: dict | None = None, inplace: bool = False) -> Module:
    """Replace the listed layers of ``model`` by dynamically quantized int8 versions
    (``torch.ao.quantization.quantize_dynamic``).

    Args:
        model: the float model (typically in eval mode).
        qconfig_spec: a set of layer types (each gets ``default_dynamic_qconfig``, per-tensor
            weights), or a dict from types or submodule names (``"classifier.0"``) to a
            ``QConfig`` (``per_channel_dynamic_qconfig``...) or ``None`` to skip. Default:
            ``{nn.Linear}``. A name's entry applies to that submodule and those below it.
        dtype: ``lamina.qint8`` (the only weight dtype supported, as PyTorch's default).
        mapping: float type -> quantized type with ``from_float(mod, qconfig)``; default
            ``{nn.Linear: DynamicQuantizedLinear, nn.Conv2d: DynamicQuantizedConv2d}``.
        inplace: modify ``model`` itself instead of a deep copy.

    Returns:
        The quantized model (``model`` itself with ``inplace=True``). Where lamina differs
        from PyTorch on purpose: a bare layer passed as ``model`` (``quantize_dynamic(
        nn.Linear(4, 2))``) is replaced too and the quantized layer is returned (PyTorch's
        ``convert`` only swaps children, so it returns the float layer unchanged).

    >>> q = quantize_dynamic(mlp, {nn.Linear: per_channel_dynamic_qconfig})
    """
    op = "quantize_dynamic"
    if not isinstance(model, Module):
        raise LaminaTypeError(f"{op}: model must be an nn.Module, got {type(model).__name__}")
    if dtype is not qint8:
        raise LaminaValueError(f"{op}: dtype must be lamina.qint8, got {dtype!r}")
    if not isinstance(inplace, bool):
        raise LaminaTypeError(f"{op}: inplace must be a bool, got {type(inplace).__name__}")
    mapping = DEFAULT_MAPPING if mapping is None else mapping
    if not isinstance(mapping, dict):
        raise LaminaTypeError(f"{op}: mapping must be a dict, got {type(mapping).__name__}")
    by_type, by_name = _spec(qconfig_spec, op)
    if not inplace:
        model = copy.deepcopy(model)

    def swap(mod: Module, prefix: str, inherited) -> Module:
        qc = by_name.get(prefix, inherited) if prefix in by_name else by_type.get(
            type(mod), inherited)
        if qc is not None and type(mod) in mapping and (
                type(mod) in by_type or prefix in by_name or inherited is not None):
            return mapping[type(mod)].from_float(mod, qc)
        child_inherited = by_name[prefix] if prefix in by_name else inherited
        for name, child in list(mod._modules.items()):
            if child is not None:
                mod._modules[name] = swap(child, f"{prefix}.{name}" if prefix else name,
                                          child_inherited)
        return mod

    return swap(model, "", None)


def model_size(model: Module) -> int:
    """Bytes of ``model``'s parameters and buffers (what ``state_dict`` stores)."""
    if not isinstance(model, Module):
        raise LaminaTypeError(f"model_size: model must be an nn.Module, got {type(model).__name__}")
    return int(sum(t._data.nbytes for t in model.state_dict().values()))


def size_report(before: Module, after: Module) -> dict:
    """``{"before_bytes", "after_bytes", "ratio"}``: ``model_size`` of two models and the
    compression ratio ``before / after``."""
    b, a = model_size(before), model_size(after)
    return {"before_bytes": b, "after_bytes": a, "ratio": b / a if a else float("inf")}
