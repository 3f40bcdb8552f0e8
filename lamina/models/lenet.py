"""LeNet-5 (LeCun, Bottou, Bengio and Haffner, "Gradient-Based Learning Applied to Document
Recognition", 1998), as lectures draw it."""

from __future__ import annotations

from collections import OrderedDict

from lamina import nn
from lamina.errors import LaminaValueError
from lamina.nn.modules.residual import make_activation
from lamina.tensor import Tensor

__all__ = ["LeNet5"]


def _pooled_twice(n: int, padding: int) -> int:
    """Side of the feature map after conv 5x5 (padded), pool 2, conv 5x5, pool 2."""
    return ((n + 2 * padding - 4) // 2 - 4) // 2


class LeNet5(nn.Sequential):
    """LeNet-5: conv 6@5x5, pool, conv 16@5x5, pool, fully connected 120, 84, ``num_classes``.

    A flat ``nn.Sequential`` (children ``'0'`` .. ``'11'``), so its state_dict keys are those
    of the same ``torch.nn.Sequential`` (``0.weight``, ``3.weight``, ``7.weight``,
    ``9.weight``, ``11.weight`` and their biases) and PyTorch weights load unchanged. It
    runs as written; ``nn.utils.fuse(model)`` returns a copy that runs each ReLU after its
    max pool, on the 4x smaller map (same values, gradients and keys).

    Layer by layer for ``padding=2`` and a 28x28 input (MNIST), or ``padding=0`` and a 32x32
    input (the paper's; both give the same shapes from layer 1 on), batch N::

        input                                  (N, in_channels, 28, 28)  or 32x32
        0  Conv2d(in_channels, 6, 5, padding)  (N, 6, 28, 28)
        1  activation
        2  pool 2x2, stride 2                  (N, 6, 14, 14)
        3  Conv2d(6, 16, 5)                    (N, 16, 10, 10)
        4  activation
        5  pool 2x2, stride 2                  (N, 16, 5, 5)
        6  Flatten                             (N, 400)
        7  Linear(400, 120)                    (N, 120)
        8  activation
        9  Linear(120, 84)                     (N, 84)
        10 activation
        11 Linear(84, num_classes)             (N, num_classes)   logits

    The output is logits (no softmax): train with ``nn.CrossEntropyLoss``. The paper's
    details that modern courses drop are dropped here too: its C3 layer connects each map to
    only some of S2's maps (here: all), its S2/S4 subsampling has trainable coefficients
    (here: plain pooling) and its output layer is RBF units (here: linear).

    Args:
        num_classes: outputs of the last layer (10 for digits).
        in_channels: input channels (1 for grayscale, 3 for colour).
        padding: zero padding of the first convolution: 2 for 28x28 inputs, 0 for 32x32.
            Other inputs work when the first pooled map comes out 14x14 (the classifier
            expects 16x5x5 features).
        activation: ``'relu'`` (default) or ``'tanh'`` (the paper's squashing function;
            any name ``nn.Highway`` accepts works, or a Module class).
        pool: ``'max'`` (default) or ``'avg'`` (the paper's subsampling).

    >>> model = LeNet5()                                  # 1x28x28 input, ReLU, max pool
    >>> model(lamina.randn(64, 1, 28, 28)).shape
    (64, 10)
    >>> classic = LeNet5(padding=0, activation="tanh", pool="avg")   # 1x32x32
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, padding: int = 2,
                 activation="relu", pool: str = "max"):
        for name, v, low in (("num_classes", num_classes, 1), ("in_channels", in_channels, 1),
                             ("padding", padding, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise LaminaValueError(f"LeNet5: {name} must be an int >= {low}, got {v!r}")
        if pool not in ("max", "avg"):
            raise LaminaValueError(f"LeNet5: pool must be 'max' or 'avg', got {pool!r}")
        pool_cls = nn.MaxPool2d if pool == "max" else nn.AvgPool2d

        def act():
            return make_activation(activation, "LeNet5")

        layers = [
            nn.Conv2d(in_channels, 6, 5, padding=padding), act(), pool_cls(2, 2),
            nn.Conv2d(6, 16, 5), act(), pool_cls(2, 2),
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), act(),
            nn.Linear(120, 84), act(),
            nn.Linear(84, num_classes),
        ]
        super().__init__(OrderedDict((str(i), m) for i, m in enumerate(layers)))
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.padding = padding
        self.pool = pool

    def forward(self, input: Tensor) -> Tensor:
        shape = tuple(input.shape)
        if len(shape) != 4 or shape[1] != self.in_channels or \
                any(_pooled_twice(n, self.padding) != 5 for n in shape[2:]):
            side = 32 - 2 * self.padding
            raise LaminaValueError(f"LeNet5: expected input of shape (N, {self.in_channels}, "
                                   f"{side}, "
                                   f"{side}) for padding={self.padding} (the classifier takes "
                                   f"16x5x5 features), got {shape}")
        return super().forward(input)

    def __getitem__(self, idx):
        if isinstance(idx, slice):  # a slice is a plain Sequential of those layers
            return nn.Sequential(OrderedDict(list(self._modules.items())[idx]))
        return super().__getitem__(idx)
