"""U-Net (Ronneberger, Fischer and Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", 2015), small: an encoder-decoder with skip connections for per-pixel
classification."""

from __future__ import annotations

import lamina
from lamina import nn
from lamina.errors import LaminaValueError
from lamina.tensor import Tensor

__all__ = ["UNet", "DoubleConv"]


class DoubleConv(nn.Sequential):
    """Two ``3x3 conv (padding 1, no bias) -> BatchNorm2d -> ReLU`` layers: the U-Net's unit
    (the original uses unpadded convolutions; padding keeps the skip connections aligned)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU())


class UNet(nn.Module):
    """A small U-Net returning per-pixel class logits ``(N, num_classes, H, W)``.

    With ``depth=2`` and ``base_channels=c``::

        input                                  (N, in, H, W)
        enc0  DoubleConv(in, c)                (N, c, H, W) ---------------------- skip 0
        down  MaxPool2d(2), DoubleConv(c, 2c)  (N, 2c, H/2, W/2) ----------------- skip 1
        down  MaxPool2d(2), DoubleConv(2c, 4c) (N, 4c, H/4, W/4)   bottleneck
        up    ConvTranspose2d(4c, 2c, 2, 2), cat skip 1, DoubleConv(4c, 2c)
        up    ConvTranspose2d(2c, c, 2, 2), cat skip 0, DoubleConv(2c, c)
        head  Conv2d(c, num_classes, 1)        (N, num_classes, H, W) logits

    ``upsample="bilinear"`` replaces each transposed convolution by ``interpolate(scale 2)``
    followed by a 1x1 convolution. ``H`` and ``W`` must be divisible by ``2**depth``.

    >>> UNet(3, 4)(lamina.randn(2, 3, 32, 32)).shape
    (2, 4, 32, 32)
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 2, base_channels: int = 16,
                 depth: int = 2, upsample: str = "transpose"):
        super().__init__()
        for name, v in (("in_channels", in_channels), ("num_classes", num_classes),
                        ("base_channels", base_channels), ("depth", depth)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise LaminaValueError(f"UNet: {name} must be a positive int, got {v!r}")
        if upsample not in ("transpose", "bilinear"):
            raise LaminaValueError(f"UNet: upsample must be 'transpose' or 'bilinear', got "
                                   f"{upsample!r}")
        self.depth = depth
        self.upsample = upsample
        widths = [base_channels * 2 ** i for i in range(depth + 1)]
        self.enc = nn.ModuleList([DoubleConv(in_channels, widths[0])]
                                 + [DoubleConv(widths[i], widths[i + 1]) for i in range(depth)])
        self.pool = nn.MaxPool2d(2)
        if upsample == "transpose":
            self.up = nn.ModuleList([nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2)
                                     for i in reversed(range(depth))])
        else:
            self.up = nn.ModuleList([nn.Conv2d(widths[i + 1], widths[i], 1)
                                     for i in reversed(range(depth))])
        self.dec = nn.ModuleList([DoubleConv(2 * widths[i], widths[i])
                                  for i in reversed(range(depth))])
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[2] % 2 ** self.depth or x.shape[3] % 2 ** self.depth:
            raise LaminaValueError(f"UNet: expected (N, C, H, W) input with H and W divisible by "
                                   f"{2 ** self.depth}, got shape {tuple(x.shape)}")
        skips = []
        for i, block in enumerate(self.enc):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, block in zip(self.up, self.dec):
            if self.upsample == "bilinear":
                x = nn.functional.interpolate(x, scale_factor=2, mode="bilinear",
                                              align_corners=False)
            x = block(lamina.cat([up(x), skips.pop()], dim=1))
        return self.head(x)
