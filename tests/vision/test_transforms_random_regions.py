"""RandomErasing and RandomResizedCrop: seeded ``get_params`` then the functional form
reproduces the transform, and the parameter draws follow torchvision's rules (checked by
hand: bounds, the 10-try loop and its fallbacks)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as tF
from PIL import Image

import lamina
from lamina.vision import transforms as T
from lamina.vision.transforms import functional as F


def img_array(c=3, h=20, w=24, seed=0):
    return np.random.default_rng(seed).random((c, h, w), dtype=np.float32)


def test_erase_by_hand():
    x = img_array()
    t = lamina.tensor(x)
    out = F.erase(t, 2, 3, 4, 5, np.array([1.0, 2.0, 3.0], np.float32)[:, None, None])
    ref = x.copy()
    ref[:, 2:6, 3:8] = np.array([1.0, 2.0, 3.0])[:, None, None]
    np.testing.assert_array_equal(out.numpy(), ref)
    np.testing.assert_array_equal(t.numpy(), x)                  # not in place
    assert F.erase(t, 0, 0, 1, 1, 0.0, inplace=True) is t and t.numpy()[0, 0, 0] == 0
    with pytest.raises(TypeError, match="erase: img should be a lamina Tensor, got Image"):
        F.erase(Image.new("RGB", (4, 4)), 0, 0, 1, 1, 0)
    with pytest.raises(ValueError, match=r"erase: v of shape \(3,\) cannot fill"):
        F.erase(t, 0, 0, 2, 2, np.zeros(3))


@pytest.mark.parametrize("value", [0, (0.1, 0.2, 0.3), "random"])
def test_random_erasing_is_get_params_then_erase(value):
    t = lamina.tensor(img_array())
    re = T.RandomErasing(p=1.0, value=value)
    lamina.manual_seed(5)
    out = re(t)
    lamina.manual_seed(5)
    lamina.backend.rng().random()                               # the p draw
    v = None if value == "random" else ([float(value)] if not isinstance(value, tuple)
                                        else list(value))
    i, j, h, w, vals = T.RandomErasing.get_params(t, re.scale, re.ratio, v)
    assert 0.02 * 480 - 24 <= h * w <= 0.33 * 480 + 24 and h < 20 and w < 24
    np.testing.assert_array_equal(out.numpy(), F.erase(t, i, j, h, w, vals).numpy())
    assert (out.numpy() != t.numpy()).any()
    if value == "random":
        assert vals.shape == (3, h, w)


def test_random_erasing_p_fallback_and_errors():
    t = lamina.tensor(img_array())
    assert T.RandomErasing(p=0.0)(t) is t
    # scale 1.0 of the area never fits strictly inside: the whole image comes back unchanged
    i, j, h, w, v = T.RandomErasing.get_params(t, (1.0, 1.0), (1.0, 1.0))
    assert (i, j, h, w) == (0, 0, 20, 24) and v is t
    with pytest.raises(ValueError, match="RandomErasing: p must be a probability in"):
        T.RandomErasing(p=1.2)
    with pytest.raises(ValueError, match="RandomErasing: if value is a str, it should be"):
        T.RandomErasing(value="noise")
    with pytest.raises(ValueError, match=r"RandomErasing: scale should be \(min, max\) within"):
        T.RandomErasing(scale=(0.5, 0.1))
    with pytest.raises(ValueError, match="RandomErasing: if value is a sequence, it should "
                                         "have either a single value or 3"):
        T.RandomErasing(p=1.0, value=(1, 2))(t)
    with pytest.raises(TypeError, match="RandomErasing: img should be a lamina Tensor"):
        T.RandomErasing()(Image.new("RGB", (4, 4)))


def test_random_resized_crop_is_get_params_then_resized_crop():
    x = img_array()
    t = lamina.tensor(x)
    rrc = T.RandomResizedCrop(8)
    lamina.manual_seed(11)
    out = rrc(t)
    lamina.manual_seed(11)
    i, j, h, w = T.RandomResizedCrop.get_params(t, rrc.scale, rrc.ratio)
    assert 0 <= i <= 20 - h and 0 <= j <= 24 - w
    assert out.shape == (3, 8, 8)
    # reference: crop by slicing, then torch's antialiased bilinear interpolate
    ref = tF.interpolate(torch.from_numpy(x[:, i:i + h, j:j + w])[None], size=(8, 8),
                         mode="bilinear", align_corners=False, antialias=True)[0]
    np.testing.assert_allclose(out.numpy(), ref.numpy(), atol=2e-6)
    img = Image.fromarray((x[0] * 255).astype(np.uint8))
    lamina.manual_seed(12)
    out = T.RandomResizedCrop((5, 6), interpolation=F.InterpolationMode.BICUBIC)(img)
    lamina.manual_seed(12)
    i, j, h, w = T.RandomResizedCrop.get_params(img, (0.08, 1.0), (3 / 4, 4 / 3))
    ref = img.crop((j, i, j + w, i + h)).resize((6, 5), Image.Resampling.BICUBIC)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(ref))


def test_random_resized_crop_params_follow_the_rules():
    t = lamina.tensor(img_array(h=20, w=24))
    lamina.manual_seed(0)
    for _ in range(200):
        i, j, h, w = T.RandomResizedCrop.get_params(t, (0.08, 1.0), (3 / 4, 4 / 3))
        assert 0 < h <= 20 and 0 < w <= 24 and i + h <= 20 and j + w <= 24
    # no draw fits (area > 1): the fallback, a central crop clamped to the ratio range:
    # in_ratio 24 / 20 = 1.2 lies inside (3/4, 4/3) -> the whole image
    assert T.RandomResizedCrop.get_params(t, (2.0, 3.0), (3 / 4, 4 / 3)) == (0, 0, 20, 24)
    # in_ratio 1.2 > max ratio 1.0: h = 20, w = round(20 * 1.0) = 20, j = (24 - 20) // 2 = 2
    assert T.RandomResizedCrop.get_params(t, (2.0, 3.0), (0.5, 1.0)) == (0, 2, 20, 20)
    # in_ratio 1.2 < min ratio 2: w = 24, h = round(24 / 2) = 12, i = (20 - 12) // 2 = 4
    assert T.RandomResizedCrop.get_params(t, (2.0, 3.0), (2.0, 3.0)) == (4, 0, 12, 24)
    with pytest.raises(ValueError, match=r"RandomResizedCrop: scale and ratio should be of "
                                         r"kind \(min, max\)"):
        T.RandomResizedCrop(8, scale=(1.0, 0.5))
    with pytest.raises(TypeError, match="RandomResizedCrop: ratio should be a sequence of "
                                        "length 2"):
        T.RandomResizedCrop(8, ratio=0.5)
