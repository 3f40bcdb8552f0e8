"""Attributions: which input features (or layer units) a model's output depends on, with
Captum's classes, arguments and semantics (``captum.attr``).

* ``Saliency``, ``InputXGradient``, ``GuidedBackprop``: input gradients, plain or modified;
* ``IntegratedGradients``: the path integral of the gradient from a baseline;
* ``NoiseTunnel``: SmoothGrad, SmoothGrad-squared and VarGrad around any of the above;
* ``Occlusion``: the drop of the output when a sliding window is replaced by a baseline;
* ``LayerGradCam`` and ``LayerAttribution.interpolate``: Grad-CAM maps of a layer.

Each has ``attribute(inputs, target=..., additional_forward_args=None, ...)``; ``inputs`` is
a tensor or a tuple of tensors, and the attributions come back in the same form as lamina
tensors. ``target`` selects the explained output (see ``lamina/interpret/_common.py``).

>>> from lamina.interpret import IntegratedGradients
>>> model.eval()
>>> attr = IntegratedGradients(model).attribute(x, baselines=0.0, target=7)
"""

from lamina.interpret.grad_cam import LayerAttribution, LayerGradCam
from lamina.interpret.gradient import GuidedBackprop, InputXGradient, Saliency
from lamina.interpret.integrated_gradients import IntegratedGradients
from lamina.interpret.noise_tunnel import NoiseTunnel
from lamina.interpret.occlusion import Occlusion

__all__ = ["Saliency", "InputXGradient", "GuidedBackprop", "IntegratedGradients",
           "NoiseTunnel", "Occlusion", "LayerGradCam", "LayerAttribution"]
