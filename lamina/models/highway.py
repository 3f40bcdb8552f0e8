"""A highway MLP (Srivastava, Greff and Schmidhuber, "Training Very Deep Networks", 2015)."""

from __future__ import annotations

from lamina import nn
from lamina.errors import LaminaValueError
from lamina.nn.modules.residual import make_activation
from lamina.tensor import Tensor

__all__ = ["HighwayMLP"]


class HighwayMLP(nn.Module):
    """A deep fully connected network of ``depth`` ``nn.Highway`` layers between an input
    projection and an output layer.

    Layer by layer, batch N::

        input                                     (N, in_features)
        inp     Linear(in_features, width), act   (N, width)
        layers  depth x Highway(width)            (N, width)   each y = T*H(x) + (1-T)*x
        out     Linear(width, out_features)       (N, out_features)   logits / values

    Every highway layer's gate bias starts at ``gate_bias`` (negative: the layers start near
    the identity, so a 20- or 50-layer stack trains where the plain stack of the same depth
    stalls; see ``nn.Highway``).

    Args:
        in_features, out_features: input and output sizes.
        width: the width of the highway layers.
        depth: the number of highway layers.
        activation: of the input projection and of every ``H`` (name or Module class).
        gate_bias: the initial transform-gate bias of every highway layer.

    >>> model = HighwayMLP(64, 10, width=32, depth=20)
    >>> model(lamina.randn(16, 64)).shape
    (16, 10)
    """

    def __init__(self, in_features: int, out_features: int, width: int = 64, depth: int = 10,
                 activation="relu", gate_bias: float = -2.0):
        super().__init__()
        for name, v, low in (("in_features", in_features, 1),
                             ("out_features", out_features, 1), ("width", width, 1),
                             ("depth", depth, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise LaminaValueError(f"HighwayMLP: {name} must be an int >= {low}, got {v!r}")
        self.in_features = in_features
        self.out_features = out_features
        self.depth = depth
        self.inp = nn.Sequential(nn.Linear(in_features, width),
                                 make_activation(activation, "HighwayMLP"))
        self.layers = nn.Sequential(*[nn.Highway(width, activation, gate_bias)
                                      for _ in range(depth)])
        self.out = nn.Linear(width, out_features)

    def forward(self, input: Tensor) -> Tensor:
        return self.out(self.layers(self.inp(input)))
