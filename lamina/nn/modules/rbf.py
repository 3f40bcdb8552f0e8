"""``RBF``: a layer of Gaussian radial basis functions (Broomhead and Lowe, 1988)."""

from __future__ import annotations

from lamina import creation
from lamina.errors import LaminaValueError
from lamina.nn.modules.module import Module
from lamina.nn.parameter import Parameter
from lamina.tensor import Tensor

__all__ = ["RBF"]


class RBF(Module):
    """``y_j = exp(-||x - c_j||^2 / (2 sigma_j^2))`` for ``out_features`` centres ``c_j``.

    ``centres`` (out_features, in_features) and ``widths`` ``sigma`` (out_features,) are
    Parameters, so both train by gradient descent (an ``RBFNetwork`` usually places the
    centres by k-means first). Written in lamina ops: the gradient is autograd's
    (``d y_j / d sigma_j = y_j ||x - c_j||^2 / sigma_j^3``). ``sigma`` enters squared, so
    gradient descent may flip its sign, harmlessly. PyTorch has no such layer.

    Args:
        in_features: the input size.
        out_features: the number of centres.
        width: the initial width of every basis function (> 0).

    Shape: input (N, in_features), output (N, out_features).

    >>> layer = nn.RBF(2, 10)
    >>> layer(lamina.randn(5, 2)).shape
    (5, 10)
    """

    def __init__(self, in_features: int, out_features: int, width: float = 1.0,
                 dtype=None):
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise LaminaValueError(f"RBF: {name} must be a positive int, got {v!r}")
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
            raise LaminaValueError(f"RBF: width must be a positive number, got {width!r}")
        self.in_features = in_features
        self.out_features = out_features
        self.centres = Parameter(creation.randn(out_features, in_features, dtype=dtype))
        self.widths = Parameter(creation.full((out_features,), float(width),
                                              dtype=self.centres.dtype))

    def forward(self, input: Tensor) -> Tensor:
        if not isinstance(input, Tensor) or input.ndim != 2 or \
                input.shape[1] != self.in_features:
            shape = tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__
            raise LaminaValueError(f"RBF: input must be a Tensor of shape (N, {self.in_features}), "
                                   f"got {shape}")
        diff = input.unsqueeze(1) - self.centres                 # (N, K, D)
        dist2 = (diff * diff).sum(dim=2)                         # (N, K)
        return (-dist2 / (2.0 * self.widths * self.widths)).exp()

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"
