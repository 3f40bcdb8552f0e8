"""A small ResNet (He, Zhang, Ren and Sun, "Deep Residual Learning for Image Recognition",
2016) for 1x28x28 (MNIST) and 3x32x32 (CIFAR) images."""

from __future__ import annotations

from collections.abc import Sequence

from lamina import nn
from lamina.errors import LaminaValueError
from lamina.tensor import Tensor

__all__ = ["ResNet", "resnet_small"]


class ResNet(nn.Module):
    """A CIFAR-style ResNet: a 3x3 stem, stages of ``nn.ResidualBlock`` (the first block of
    every stage after the first halves the resolution with stride 2 and a projection
    shortcut), global average pooling and a linear classifier.

    Layer by layer with the defaults (``widths=(16, 32, 64)``, ``blocks=(1, 1, 1)``: 8
    layers with weights, "ResNet-8"), batch N, for a 1x28x28 input (3x32x32 in brackets)::

        input                                       (N, 1, 28, 28)   [(N, 3, 32, 32)]
        conv1  Conv2d(in, 16, 3, padding=1), no bias (N, 16, 28, 28)  [(N, 16, 32, 32)]
        bn1    BatchNormReLU2d(16): BN, then ReLU    (N, 16, 28, 28)  [(N, 16, 32, 32)]
        layer1 ResidualBlock(16, 16)                 (N, 16, 28, 28)  [(N, 16, 32, 32)]
        layer2 ResidualBlock(16, 32, stride=2)       (N, 32, 14, 14)  [(N, 32, 16, 16)]
        layer3 ResidualBlock(32, 64, stride=2)       (N, 64, 7, 7)    [(N, 64, 8, 8)]
        avgpool AdaptiveAvgPool2d(1), flatten        (N, 64)
        fc     Linear(64, num_classes)               (N, num_classes) logits

    ``blocks=(3, 3, 3)`` gives ResNet-20 of the paper's CIFAR experiments. Module names
    follow torchvision's ResNet (``conv1``, ``bn1``, ``layer1`` .., ``fc``), and so do the
    state_dict keys: ``bn1`` is a ``BatchNormReLU2d``, a ``BatchNorm2d`` whose ReLU runs in
    the same op (``F.batch_norm_relu``), as in each block.

    Args:
        in_channels: image channels (1 or 3).
        num_classes: outputs of the classifier.
        widths: channels of each stage.
        blocks: residual blocks in each stage (same length as ``widths``).

    >>> model = ResNet(in_channels=3)
    >>> model(lamina.randn(8, 3, 32, 32)).shape
    (8, 10)
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10,
                 widths: Sequence[int] = (16, 32, 64), blocks: Sequence[int] = (1, 1, 1)):
        super().__init__()
        widths, blocks = list(widths), list(blocks)
        for name, v in (("in_channels", in_channels), ("num_classes", num_classes)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise LaminaValueError(f"ResNet: {name} must be a positive int, got {v!r}")
        if not widths or len(widths) != len(blocks):
            raise LaminaValueError(f"ResNet: widths and blocks must be non-empty and of the same "
                                   f"length, got {len(widths)} widths and {len(blocks)} blocks")
        for name, seq in (("widths", widths), ("blocks", blocks)):
            if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in seq):
                raise LaminaValueError(f"ResNet: {name} must be positive ints, got {seq}")
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNormReLU2d(widths[0])      # relu(bn1(.)), one op
        prev = widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks)):
            stage = [nn.ResidualBlock(prev, w, stride=1 if i == 0 else 2)]
            stage += [nn.ResidualBlock(w, w) for _ in range(n - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*stage))
            prev = w
        self.num_stages = len(widths)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(prev, num_classes)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim != 4 or input.shape[1] != self.in_channels:
            raise LaminaValueError(f"ResNet: expected input of shape (N, {self.in_channels}, H, "
                                   f"W), "
                                   f"got {tuple(input.shape)}")
        x = self.bn1(self.conv1(input))                  # includes the ReLU
        for i in range(1, self.num_stages + 1):
            x = self._modules[f"layer{i}"](x)
        return self.fc(self.avgpool(x).flatten(1))


def resnet_small(in_channels: int = 1, num_classes: int = 10,
                 widths: Sequence[int] = (16, 32, 64),
                 blocks: Sequence[int] = (1, 1, 1)) -> ResNet:
    """``ResNet(in_channels, num_classes, widths, blocks)``: the 8-layer ResNet for 1x28x28
    or 3x32x32 images (see ``ResNet`` for the shapes)."""
    return ResNet(in_channels, num_classes, widths, blocks)
