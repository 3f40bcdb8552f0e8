"""The vision models: shapes, gradients and input checks."""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina.models import UNet, get_model


@pytest.mark.parametrize("upsample", ["transpose", "bilinear"])
def test_unet_shapes_and_backward(upsample):
    lamina.manual_seed(0)
    model = UNet(3, 4, base_channels=4, depth=2, upsample=upsample)
    x = lamina.randn(2, 3, 16, 12)
    out = model(x)
    assert out.shape == (2, 4, 16, 12)
    y = lamina.tensor(np.random.default_rng(0).integers(0, 4, (2, 16, 12)))
    lamina.nn.functional.cross_entropy(out, y).backward()
    assert all(p.grad is not None for p in model.parameters())
    assert isinstance(get_model("unet", in_channels=1, num_classes=2, base_channels=4), UNet)


def test_unet_rejects_bad_arguments():
    with pytest.raises(ValueError, match="UNet: base_channels must be a positive int, got 0"):
        UNet(3, 2, base_channels=0)
    with pytest.raises(ValueError, match="UNet: upsample must be 'transpose' or 'bilinear'"):
        UNet(3, 2, upsample="nearest")
    with pytest.raises(ValueError, match=r"UNet: expected \(N, C, H, W\) input with H and W "
                                         r"divisible by 4, got shape \(1, 3, 10, 8\)"):
        UNet(3, 2)(lamina.randn(1, 3, 10, 8))
