"""The vision models: shapes, gradients and input checks."""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina.models import UNet


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


def test_unet_rejects_bad_arguments():
    with pytest.raises(ValueError, match="UNet: base_channels must be a positive int, got 0"):
        UNet(3, 2, base_channels=0)
    with pytest.raises(ValueError, match="UNet: upsample must be 'transpose' or 'bilinear'"):
        UNet(3, 2, upsample="nearest")
    with pytest.raises(ValueError, match=r"UNet: expected \(N, C, H, W\) input with H and W "
                                         r"divisible by 4, got shape \(1, 3, 10, 8\)"):
        UNet(3, 2)(lamina.randn(1, 3, 10, 8))


# --- CenterNet ----------------------------------------------------------------------------

def test_centernet_shapes_loss_and_gradients():
    from lamina.models import CenterNet
    from lamina.vision.datasets import Shapes

    lamina.manual_seed(0)
    ds = Shapes(4, seed=0)
    model = CenterNet(3, 3, width=4, stride=4)
    heat, box = model(lamina.tensor(ds.images))
    assert heat.shape == (4, 3, 8, 8) and box.shape == (4, 4, 8, 8)
    # RetinaNet's prior: every score starts near 0.01
    assert np.allclose(1 / (1 + np.exp(-model.heatmap.bias._data)), 0.01)
    parts = model.loss((heat, box), ds.targets)
    assert set(parts) == {"loss", "focal", "giou", "l1"}
    parts["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())
    # an image without objects: only the focal term
    empty = [{"boxes": np.zeros((0, 4)), "labels": np.zeros(0, int)}] * 4
    assert float(model.loss(model(lamina.tensor(ds.images)), empty)["giou"].data) == 0.0


def test_centernet_encode_decode_round_trip():
    from lamina.models import CenterNet

    model = CenterNet(3, 3, width=4, stride=4)
    targets = [{"boxes": np.array([[2.0, 3.0, 9.0, 15.0], [20.0, 18.0, 31.0, 31.0]]),
                "labels": np.array([0, 2])},
               {"boxes": np.array([[0.0, 0.0, 30.0, 30.0]]), "labels": np.array([1])}]
    heat, cells, boxes, offsets = model._encode(targets, (2, 3, 8, 8))
    assert heat.sum() == 3 and heat[0, 0, 2, 1] == 1 and heat[0, 2, 6, 6] == 1
    assert heat[1, 1, 3, 3] == 1
    # box terms that encode the targets exactly: logit of the offset, log of the size
    terms = np.zeros((2 * 8 * 8, 4))
    terms[cells, :2] = np.log(offsets[:, :2] / (1 - offsets[:, :2]))
    terms[cells, 2:] = offsets[:, 2:]
    box = lamina.tensor(terms.reshape(2, 8, 8, 4).transpose(0, 3, 1, 2).copy())
    decoded, _ = model._decode_cells(box, cells, 8, 8)
    np.testing.assert_allclose(decoded.data, boxes, atol=1e-9)


def test_centernet_predict_format_and_errors():
    from lamina.models import CenterNet

    lamina.manual_seed(0)
    model = CenterNet(3, 3, width=4)
    out = model.predict(lamina.randn(2, 3, 16, 16), score_threshold=0.0, max_detections=5)
    assert len(out) == 2
    for p in out:
        assert p["boxes"].shape[1] == 4 and len(p["boxes"]) == len(p["scores"]) <= 5
        assert (np.diff(p["scores"]) <= 0).all()
        assert (p["boxes"] >= 0).all() and (p["boxes"] <= 16).all()
    with pytest.raises(ValueError, match="CenterNet: stride must be 1, 2, 4 or 8, got 3"):
        CenterNet(stride=3)
    with pytest.raises(ValueError, match=r"CenterNet: expected \(N, C, H, W\) input with H "
                                         r"and W divisible by the stride 4"):
        model(lamina.randn(1, 3, 10, 16))
    with pytest.raises(ValueError, match=r"CenterNet.loss: labels must be in \[0, 2\]"):
        model.loss(model(lamina.randn(1, 3, 16, 16)),
                   [{"boxes": np.array([[0.0, 0, 4, 4]]), "labels": np.array([5])}])
    with pytest.raises(ValueError, match="CenterNet.predict: score_threshold must be in"):
        model.predict(lamina.randn(1, 3, 16, 16), score_threshold=1.5)
