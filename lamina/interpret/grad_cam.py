"""``LayerGradCam`` (Selvaraju et al., 2017) and ``LayerAttribution.interpolate``, with
Captum's semantics.

For a layer's output ``A`` (``(N, C, ...)``) and the target output ``F``::

    GradCAM = sum_c mean_{spatial}(dF/dA_c) * A_c        (shape (N, 1, ...))

``relu_attributions=True`` applies a ReLU to the result (the paper's map; Captum's default
is False); ``attr_dim_summation=False`` keeps the per-channel terms. A 2-D layer output
``(N, C)`` uses the gradient itself (no spatial mean).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lamina.autograd import enable_grad, grad
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.interpret._common import _output, format_args, format_inputs, target_mask
from lamina.nn.module import Module
from lamina.ops.pool import interpolate
from lamina.tensor import Tensor, _make

__all__ = ["LayerGradCam", "LayerAttribution"]


class LayerAttribution:
    """Helpers for layer attributions."""

    @staticmethod
    def interpolate(layer_attribution: Tensor, interpolate_dims, interpolate_mode: str =
                    "nearest") -> Tensor:
        """Resize a layer attribution ``(N, C, ...)`` to ``interpolate_dims`` (e.g. the
        input's height and width), with ``lamina.nn.functional.interpolate``'s modes
        (``"nearest"``, ``"bilinear"`` for 4-D, ``"linear"`` for 3-D)."""
        if not isinstance(layer_attribution, Tensor):
            layer_attribution = _make(np.asarray(layer_attribution))
        return interpolate(layer_attribution, interpolate_dims, mode=interpolate_mode)


class LayerGradCam(LayerAttribution):
    """Grad-CAM for the output (or input) of ``layer``, a submodule of the model.

    >>> cam = LayerGradCam(model, model.conv2).attribute(x, target=3)        # (N, 1, h, w)
    >>> LayerAttribution.interpolate(cam, x.shape[-2:], "bilinear")
    """

    def __init__(self, forward_func: Callable, layer: Module, device_ids=None):
        if not isinstance(layer, Module):
            raise LaminaTypeError(f"LayerGradCam: layer must be a lamina.nn.Module, got "
                                  f"{type(layer).__name__}")
        self.forward_func = forward_func
        self.layer = layer

    def attribute(self, inputs, target=None, additional_forward_args=None,
                  attribute_to_layer_input: bool = False, relu_attributions: bool = False,
                  attr_dim_summation: bool = True):
        op = "LayerGradCam.attribute"
        arrays, _ = format_inputs(inputs, op)
        args = format_args(additional_forward_args)
        seen = []

        # The layer's output (or first input) is replaced by a leaf copy of itself: the
        # gradient of F with respect to that leaf is dF/dA, and the forward is unchanged.
        def leaf(t):
            if not isinstance(t, Tensor):
                where = "input" if attribute_to_layer_input else "output"
                raise LaminaTypeError(f"{op}: the layer's {where} must be a single Tensor, got "
                                      f"{type(t).__name__}")
            a = _make(t._data, requires_grad=True)
            seen.append(a)
            return a

        if attribute_to_layer_input:
            handle = self.layer.register_forward_pre_hook(
                lambda m, a: (leaf(a[0]),) + tuple(a[1:]))
        else:
            handle = self.layer.register_forward_hook(lambda m, a, out: leaf(out))
        try:
            with enable_grad():
                out = _output(self.forward_func(*[_make(a) for a in arrays], *args), op)
                mask = target_mask(out.shape, target, op)
                if not seen:
                    raise LaminaValueError(f"{op}: the layer {type(self.layer).__name__} was not "
                                           "called by the model's forward")
                if len(seen) > 1:
                    raise LaminaValueError(f"{op}: the layer was called {len(seen)} times in one "
                                           "forward; expected once")
                selected = (out * _make(mask.astype(out._data.dtype))).sum()
                (g,) = grad(selected, [seen[0]], allow_unused=True)
        finally:
            handle.remove()
        acts = seen[0]._data
        g = np.zeros_like(acts) if g is None else g._data
        if g.ndim > 2:
            g = g.mean(axis=tuple(range(2, g.ndim)), keepdims=True)
        cam = g * acts
        if attr_dim_summation:
            cam = cam.sum(axis=1, keepdims=True)
        if relu_attributions:
            cam = np.maximum(cam, 0)
        return _make(np.ascontiguousarray(cam))
