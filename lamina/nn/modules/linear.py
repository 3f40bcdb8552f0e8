"""``Identity`` and ``Linear``."""

from __future__ import annotations

import math

from lamina import creation
from lamina.errors import LaminaValueError
from lamina.nn import init
from lamina.nn.modules.module import Module
from lamina.nn.parameter import Parameter
from lamina.ops.nn import linear
from lamina.tensor import Tensor

__all__ = ["Identity", "Linear"]


class Identity(Module):
    """Returns its input unchanged; any constructor arguments are accepted and ignored."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """``y = x @ weight.T + bias``, one fused op (see ``lamina.ops.nn.linear``).

    ``weight`` has shape (out_features, in_features) and ``bias`` (out_features,), PyTorch's
    layout, so weights copy between the two libraries unchanged. Initialization is
    PyTorch's: ``kaiming_uniform_(weight, a=sqrt(5))``, i.e. U(-1/sqrt(in), 1/sqrt(in)),
    and bias U(-1/sqrt(in), 1/sqrt(in)).

    >>> fc = nn.Linear(784, 256)
    >>> fc(lamina.zeros(128, 784)).shape
    (128, 256)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise LaminaValueError(f"Linear: {name} must be a non-negative int, got {v!r}")
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(creation.empty(out_features, in_features, dtype=dtype))
        if bias:
            self.bias = Parameter(creation.empty(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        p = self._parameters
        if "weight" in p and "bias" in p:
            return linear(input, p["weight"], p["bias"])
        return linear(input, self.weight, self.bias)   # pruned: nn.utils.prune's attributes

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
