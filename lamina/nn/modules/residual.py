"""Layers with a shortcut around their transformation: ``Highway``, ``ResidualBlock`` (for
convolutional nets) and ``ResidualMLPBlock``.

A shortcut lets the signal and its gradient pass a layer unchanged, so stacks of 20 and more
layers train with plain SGD where the same stack without shortcuts stalls (the gradient
reaching the first layers vanishes).

* Highway (Srivastava, Greff and Schmidhuber, "Training Very Deep Networks", 2015): a learned
  gate mixes the layer's output with its input.
* Residual (He, Zhang, Ren and Sun, "Deep Residual Learning for Image Recognition", 2016):
  the layer adds a correction to its input, ``y = x + F(x)``.
"""

from __future__ import annotations

from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn.modules.activation import (
    ELU,
    GELU,
    LeakyReLU,
    ReLU,
    Sigmoid,
    SiLU,
    Tanh,
)
from lamina.nn.modules.batchnorm import BatchNorm1d, BatchNorm2d
from lamina.nn.modules.container import Sequential
from lamina.nn.modules.conv import Conv2d
from lamina.nn.modules.dropout import Dropout
from lamina.nn.modules.fused import BatchNormReLU2d
from lamina.nn.modules.linear import Identity, Linear
from lamina.nn.modules.module import Module
from lamina.ops import elementwise as _ew
from lamina.tensor import Tensor

__all__ = ["Highway", "ResidualBlock", "ResidualMLPBlock"]

_ACTIVATIONS = {
    "relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "gelu": GELU, "silu": SiLU,
    "leaky_relu": LeakyReLU, "elu": ELU, "identity": Identity, "linear": Identity,
}


def make_activation(activation, owner: str) -> Module:
    """A fresh activation module from a name (``'relu'``, ``'tanh'``, ``'sigmoid'``,
    ``'gelu'``, ``'silu'``, ``'leaky_relu'``, ``'elu'``, ``'identity'``), a Module class, or a
    zero-argument callable returning a Module."""
    if isinstance(activation, str):
        key = activation.strip().lower().replace("-", "_")
        if key not in _ACTIVATIONS:
            raise LaminaValueError(f"{owner}: unknown activation {activation!r}; expected one of "
                                   f"{', '.join(sorted(_ACTIVATIONS))}, or a Module class")
        return _ACTIVATIONS[key]()
    if isinstance(activation, Module):
        raise LaminaTypeError(f"{owner}: pass the activation's name or class (each layer needs its "
                              f"own instance), got the instance {activation!r}")
    if callable(activation):
        m = activation()
        if not isinstance(m, Module):
            raise LaminaTypeError(f"{owner}: activation() must return a Module, got "
                                  f"{type(m).__name__}")
        return m
    raise LaminaTypeError(f"{owner}: activation must be a str or a Module class, got "
                          f"{type(activation).__name__}")


def _check_positive(value, name: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise LaminaValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    return value


class Highway(Module):
    """One highway layer (Srivastava et al., 2015) on ``(N, features)`` (or ``(*, features)``)
    input::

        H = activation(linear(x))      # the transformation, module ``linear``
        T = sigmoid(gate(x))           # the transform gate, module ``gate``
        y = T * H + (1 - T) * x        # 1 - T is the carry gate

    (``linear`` and ``gate`` are ``Linear(features, features)``), computed as
    ``y = x + T * (H - x)``. Shapes: ``x`` (N, features) -> ``H``, ``T``, ``y``
    (N, features).

    The gate bias starts at ``gate_bias`` (default -2; the weights keep ``Linear``'s default
    initialization). A negative bias makes ``T`` small (sigmoid(-2) = 0.12), so each new
    layer starts close to the identity and carries its input through. The paper proposes
    exactly this, a negative transform-gate bias (such as -1 or -3) whatever ``H`` is, and
    with it trains highway networks of 50 and 100 layers with plain SGD; lamina's
    20-layer test (tests/test_learning.py) trains with -2 where the plain net stalls.

    Args:
        features: input and output size (a highway layer keeps the width).
        activation: the nonlinearity of ``H``: a name (``'relu'``, ``'tanh'``, ...) or a
            Module class.
        gate_bias: initial value of every element of ``gate.bias``.
        bias: whether ``linear`` has a bias (``gate`` always has one).

    >>> layer = nn.Highway(64, activation="tanh")
    >>> layer(lamina.randn(8, 64)).shape
    (8, 64)
    """

    def __init__(self, features: int, activation="relu", gate_bias: float = -2.0,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.features = _check_positive(features, "features", "Highway")
        self.gate_bias = float(gate_bias)
        self.linear = Linear(features, features, bias=bias, dtype=dtype)
        self.gate = Linear(features, features, dtype=dtype)
        self.activation = make_activation(activation, "Highway")
        self.gate.bias._data[...] = self.gate_bias

    def reset_parameters(self) -> None:
        self.linear.reset_parameters()
        self.gate.reset_parameters()
        self.gate.bias._data[...] = self.gate_bias

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim == 0 or input.shape[-1] != self.features:
            raise LaminaValueError(f"Highway: expected input of shape (*, {self.features}), got "
                                   f"{tuple(input.shape)}")
        h = self.activation(self.linear(input))
        t = _ew.sigmoid(self.gate(input))
        return input + t * (h - input)    # = t * h + (1 - t) * input

    def extra_repr(self) -> str:
        return f"features={self.features}, gate_bias={self.gate_bias}"


class ResidualBlock(Module):
    """The basic residual block of ResNet-18/34 (He et al., 2016) on ``(N, C, H, W)``::

        out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))

    ``conv1`` is 3x3 with ``stride`` and padding 1, ``conv2`` 3x3 with stride 1 and padding 1,
    both without bias (the BatchNorm after each supplies it). The shortcut is the identity
    when the shape is kept, and a projection (module ``downsample``: a 1x1 convolution with
    ``stride`` and no bias, then BatchNorm2d) when ``out_channels != in_channels`` or
    ``stride != 1``. The names are torchvision's ``BasicBlock``'s, so its state_dict keys
    (``conv1.weight``, ``bn1.running_mean``, ``downsample.0.weight``, ...) match.

    ``bn1`` is a ``BatchNormReLU2d``: ``bn1`` and the ReLU after it run as one op,
    ``F.batch_norm_relu``, with the same values and gradients. It is a ``BatchNorm2d``
    (same parameters, buffers and keys); a forward hook on it sees the rectified output.

    Shapes: ``(N, in_channels, H, W)`` -> ``(N, out_channels, H', W')`` with
    ``H' = (H - 1) // stride + 1`` (likewise ``W'``).

    >>> block = nn.ResidualBlock(16, 32, stride=2)
    >>> block(lamina.randn(4, 16, 28, 28)).shape
    (4, 32, 14, 14)
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, stride: int = 1,
                 device=None, dtype=None):
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        _check_positive(in_channels, "in_channels", "ResidualBlock")
        _check_positive(out_channels, "out_channels", "ResidualBlock")
        _check_positive(stride, "stride", "ResidualBlock")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride
        self.conv1 = Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False,
                            dtype=dtype)
        self.bn1 = BatchNormReLU2d(out_channels, dtype=dtype)    # relu(bn1(.)), one op
        self.conv2 = Conv2d(out_channels, out_channels, 3, padding=1, bias=False, dtype=dtype)
        self.bn2 = BatchNorm2d(out_channels, dtype=dtype)
        if stride != 1 or in_channels != out_channels:
            self.downsample = Sequential(
                Conv2d(in_channels, out_channels, 1, stride=stride, bias=False, dtype=dtype),
                BatchNorm2d(out_channels, dtype=dtype))
        else:
            self.downsample = None

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim != 4 or input.shape[1] != self.in_channels:
            raise LaminaValueError(f"ResidualBlock: expected input of shape (N, "
                                   f"{self.in_channels}, "
                                   f"H, W), got {tuple(input.shape)}")
        out = self.bn1(self.conv1(input))                 # includes the ReLU
        out = self.bn2(self.conv2(out))
        shortcut = input if self.downsample is None else self.downsample(input)
        return _ew.relu(out + shortcut)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, stride={self.stride}, "
                f"projection={self.downsample is not None}")


class ResidualMLPBlock(Module):
    """A residual block for MLPs on ``(N, features)``::

        y = x + fc2(dropout(activation(norm(fc1(x)))))

    ``fc1``: features -> hidden_features, ``norm``: ``BatchNorm1d(hidden_features)`` when
    ``batch_norm`` (else the identity), ``fc2``: hidden_features -> features. There is no
    activation after the addition (the "identity mapping" of He et al., 2016b), so a stack of
    blocks keeps an unobstructed path from its output to its input.

    Shapes: ``(N, features)`` -> hidden ``(N, hidden_features)`` -> ``(N, features)``.

    Args:
        features: input and output size.
        hidden_features: the inner width (default ``features``).
        activation: a name (``'relu'``, ``'tanh'``, ...) or a Module class.
        dropout: dropout probability after the activation (0: none).
        batch_norm: BatchNorm1d after ``fc1``.

    >>> nn.ResidualMLPBlock(32, 64)(lamina.randn(8, 32)).shape
    (8, 32)
    """

    def __init__(self, features: int, hidden_features: int | None = None, activation="relu",
                 dropout: float = 0.0, batch_norm: bool = False, device=None, dtype=None):
        super().__init__()
        hidden_features = features if hidden_features is None else hidden_features
        _check_positive(features, "features", "ResidualMLPBlock")
        _check_positive(hidden_features, "hidden_features", "ResidualMLPBlock")
        if not 0.0 <= dropout < 1.0:
            raise LaminaValueError(f"ResidualMLPBlock: dropout must be in [0, 1), got {dropout!r}")
        self.features = features
        self.hidden_features = hidden_features
        self.fc1 = Linear(features, hidden_features, dtype=dtype)
        self.norm = BatchNorm1d(hidden_features, dtype=dtype) if batch_norm else Identity()
        self.activation = make_activation(activation, "ResidualMLPBlock")
        self.dropout = Dropout(dropout) if dropout else Identity()
        self.fc2 = Linear(hidden_features, features, dtype=dtype)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim == 0 or input.shape[-1] != self.features:
            raise LaminaValueError(f"ResidualMLPBlock: expected input of shape (*, "
                                   f"{self.features}),"
                                   f" got {tuple(input.shape)}")
        h = self.dropout(self.activation(self.norm(self.fc1(input))))
        return input + self.fc2(h)

    def extra_repr(self) -> str:
        return f"features={self.features}, hidden_features={self.hidden_features}"
