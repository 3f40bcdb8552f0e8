"""Reverse-mode automatic differentiation: ``Function``, ``backward``, ``grad``, grad modes and
``gradcheck``, ``gradgradcheck``."""

from lamina.autograd.engine import backward, grad  # noqa: I001
from lamina.autograd.function import Function
from lamina.autograd.grad_mode import (
    enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad,
    set_grad_enabled,
)
from lamina.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck

__all__ = ["Function", "backward", "grad", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "inference_mode", "is_inference_mode_enabled", "gradcheck",
           "GradcheckError", "gradgradcheck"]
