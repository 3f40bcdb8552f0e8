"""Gradient attributions: ``Saliency``, ``InputXGradient`` and ``GuidedBackprop`` (Captum's
classes and semantics)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lamina.autograd.function import Function
from lamina.errors import LaminaTypeError
from lamina.interpret._common import compute_gradients, format_args, format_inputs, format_output
from lamina.nn.module import Module
from lamina.nn.modules.activation import ReLU

__all__ = ["Saliency", "InputXGradient", "GuidedBackprop"]


class Saliency:
    """The gradient of the target output with respect to each input feature (Simonyan et
    al., 2014), by default its absolute value.

    >>> Saliency(model).attribute(x, target=3)          # |d model(x)[:, 3] / dx|
    """

    def __init__(self, forward_func: Callable):
        self.forward_func = forward_func

    def attribute(self, inputs, target=None, abs: bool = True,  # noqa: A002 (Captum's name)
                  additional_forward_args=None):
        arrays, is_tuple = format_inputs(inputs, "Saliency.attribute")
        grads = compute_gradients(self.forward_func, arrays, target,
                                  format_args(additional_forward_args), "Saliency.attribute")
        return format_output([np.abs(g) if abs else g for g in grads], is_tuple)


class InputXGradient:
    """``input * d output[target] / d input``, feature by feature."""

    def __init__(self, forward_func: Callable):
        self.forward_func = forward_func

    def attribute(self, inputs, target=None, additional_forward_args=None):
        arrays, is_tuple = format_inputs(inputs, "InputXGradient.attribute")
        grads = compute_gradients(self.forward_func, arrays, target,
                                  format_args(additional_forward_args),
                                  "InputXGradient.attribute")
        return format_output([a * g for a, g in zip(arrays, grads)], is_tuple)


class _GuidedReLUFunction(Function):
    """ReLU forward; backward passes only positive gradients where the input was positive:
    ``g_in = g_out * (x > 0) * (g_out > 0)`` (Springenberg et al., 2015)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.maximum(x, 0)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return np.where((x > 0) & (g > 0), g, np.zeros((), dtype=g.dtype))


class _GuidedReLU(Module):
    def forward(self, input):
        return _GuidedReLUFunction.apply(input)


class GuidedBackprop:
    """Guided backpropagation: the input gradient with every ``nn.ReLU`` module's backward
    replaced by the guided rule ``g_in = relu(g_out * (x > 0))``.

    How: for the duration of ``attribute`` each ``nn.ReLU`` submodule of ``model`` is swapped,
    in its parent's registry, for a module running ``_GuidedReLUFunction`` (same forward,
    guided backward); the originals are put back afterwards, even on error. As in Captum,
    only ``nn.ReLU`` modules are affected: a functional ``x.relu()`` inside ``forward`` keeps
    its ordinary gradient.
    """

    def __init__(self, model: Module):
        if not isinstance(model, Module):
            raise LaminaTypeError(f"GuidedBackprop: model must be a lamina.nn.Module, got "
                                  f"{type(model).__name__}")
        self.model = model

    def attribute(self, inputs, target=None, additional_forward_args=None):
        op = "GuidedBackprop.attribute"
        arrays, is_tuple = format_inputs(inputs, op)
        swapped = []
        try:
            for parent in list(self.model.modules()):
                for name, child in list(parent._modules.items()):
                    if isinstance(child, ReLU):
                        parent._modules[name] = _GuidedReLU()
                        swapped.append((parent, name, child))
            grads = compute_gradients(self.model, arrays, target,
                                      format_args(additional_forward_args), op)
        finally:
            for parent, name, child in swapped:
                parent._modules[name] = child
        return format_output(grads, is_tuple)
