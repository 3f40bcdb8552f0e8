"""rotate / affine and RandomRotation / RandomAffine against torchvision's definitions:
tensors against ``torch.nn.functional.grid_sample`` on the grid torchvision builds
(``_gen_affine_grid``) and against ``torch.rot90`` / shifts by hand; PIL images against
Pillow's own ``Image.rotate`` and ``Image.transform``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as tF
from PIL import Image

import lamina
from lamina.vision import transforms as T
from lamina.vision.transforms import functional as F
from lamina.vision.transforms.functional import InterpolationMode as IM


def img_array(c=3, h=9, w=12, seed=0):
    return np.random.default_rng(seed).random((c, h, w), dtype=np.float32)


def torch_affine(x, angle, translate, scale, shear, mode, fill=None):
    """torchvision's tensor affine, written here with torch ops from its source: the
    inverse matrix about the image centre, the centred pixel grid, grid_sample."""
    rot, sx, sy = math.radians(angle), math.radians(shear[0]), math.radians(shear[1])
    tx, ty = translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    m = torch.tensor([d, -b, 0.0, -c, a, 0.0], dtype=torch.float64) / scale
    m[2] += m[0] * (-tx) + m[1] * (-ty)
    m[5] += m[3] * (-tx) + m[4] * (-ty)
    theta = m.reshape(2, 3).float()
    h, w = x.shape[-2:]
    xs = torch.linspace(-w * 0.5 + 0.5, w * 0.5 - 0.5, w)
    ys = torch.linspace(-h * 0.5 + 0.5, h * 0.5 - 0.5, h)
    base = torch.stack([xs.expand(h, w), ys[:, None].expand(h, w), torch.ones(h, w)], -1)
    grid = (base.reshape(-1, 3) @ (theta.T / torch.tensor([0.5 * w, 0.5 * h]))).reshape(
        1, h, w, 2)
    t = torch.from_numpy(x)[None]
    if fill is not None:
        t = torch.cat([t, torch.ones(1, 1, h, w)], 1)
    out = tF.grid_sample(t, grid, mode=mode, padding_mode="zeros", align_corners=False)
    if fill is not None:
        out, mask = out[:, :-1], out[:, -1:].expand(-1, x.shape[0], -1, -1)
        f = torch.tensor(fill).view(1, -1, 1, 1).expand_as(out)
        out = torch.where(mask < 0.5, f, out) if mode == "nearest" else out * mask + (
            1 - mask) * f
    return out[0].numpy()


def test_rotate_90_is_rot90():
    x = img_array(h=8, w=8)
    t = lamina.tensor(x)
    ref = torch.rot90(torch.from_numpy(x), 1, dims=(-2, -1)).numpy()   # counter-clockwise
    np.testing.assert_array_equal(F.rotate(t, 90.0).numpy(), ref)
    np.testing.assert_array_equal(F.affine(t, -90.0, [0, 0], 1.0, 0.0).numpy(), ref)
    # expand, by torchvision's _compute_affine_output_size: the corners of a 12x9 image
    # turned a quarter span x in [-4.5, 4.5] + 6 = [1.5, 10.5], so the width is
    # ceil(10.5) - floor(1.5) = 10, and y in [-6, 6] + 4.5 = [-1.5, 10.5], so the height
    # is ceil(10.5) - floor(-1.5) = 13; torchvision's tensor path has this size, where
    # Pillow special-cases right angles
    out = F.rotate(lamina.tensor(img_array(h=9, w=12)), 90.0, expand=True)
    assert out.shape == (3, 13, 10)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("angle,translate,scale,shear", [
    (30.0, (0, 0), 1.0, (0.0, 0.0)), (-17.0, (2, -1), 0.8, (10.0, 0.0)),
    (45.0, (1, 3), 1.3, (-5.0, 12.0))])
def test_affine_tensor_matches_grid_sample(mode, angle, translate, scale, shear):
    x = img_array()
    out = F.affine(lamina.tensor(x), angle, list(translate), scale, list(shear), IM(mode))
    ref = torch_affine(x, angle, translate, scale, shear, mode)
    if mode == "nearest":    # a sample point within float error of a pixel edge may flip
        assert np.mean(out.numpy() != ref) < 0.01
    else:
        np.testing.assert_allclose(out.numpy(), ref, atol=1e-5)
    out = F.affine(lamina.tensor(x), angle, list(translate), scale, list(shear), IM(mode),
                   fill=[0.5, 0.25, 1.0])
    ref = torch_affine(x, angle, translate, scale, shear, mode, fill=[0.5, 0.25, 1.0])
    if mode == "bilinear":
        np.testing.assert_allclose(out.numpy(), ref, atol=1e-5)


def test_rotate_tensor_matches_grid_sample_and_integer_images():
    x = img_array()
    out = F.rotate(lamina.tensor(x), 25.0, IM.BILINEAR)
    np.testing.assert_allclose(out.numpy(), torch_affine(x, -25.0, (0, 0), 1.0, (0, 0),
                                                         "bilinear"), atol=1e-5)
    a = (x * 255).astype(np.int64)
    out = F.rotate(lamina.tensor(a), 25.0, IM.BILINEAR)
    ref = np.round(torch_affine(a.astype(np.float32), -25.0, (0, 0), 1.0, (0, 0), "bilinear"))
    assert out.dtype == lamina.int64 and np.abs(out.numpy() - ref).max() <= 1


def test_translation_by_hand_tensor_and_pil():
    a = np.random.default_rng(2).integers(1, 256, (6, 7), dtype=np.uint8)
    ref = np.zeros_like(a)
    ref[1:, 2:] = a[:-1, :-2]                  # moved 2 right, 1 down; zeros come in
    out = F.affine(lamina.tensor(a[None]), 0.0, [2, 1], 1.0, 0.0).numpy()[0]
    np.testing.assert_array_equal(out, ref)
    out = F.affine(Image.fromarray(a), 0.0, [2, 1], 1.0, 0.0)
    np.testing.assert_array_equal(np.asarray(out), ref)


def test_pil_rotate_and_affine_use_pillow():
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (9, 12, 3),
                                                             dtype=np.uint8))
    out = F.rotate(img, 33.0, IM.BILINEAR, expand=True, fill=(1, 2, 3))
    ref = img.rotate(33.0, Image.Resampling.BILINEAR, expand=True, fillcolor=(1, 2, 3))
    np.testing.assert_array_equal(np.asarray(out), np.asarray(ref))
    out = F.rotate(img, 20.0, center=(2, 3))
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img.rotate(20.0, center=(2, 3))))
    # tensor expand size agrees with Pillow's (torchvision's _compute_affine_output_size)
    t = F.rotate(lamina.tensor(img_array()), 33.0, expand=True)
    assert t.shape[-1:-3:-1] == ref.size
    # PIL affine: Image.transform with torchvision's inverse matrix about the centre
    out = F.affine(img, 15.0, [1, -2], 1.1, [5.0, 3.0], IM.BILINEAR)
    m = F._inverse_affine_matrix([6.0, 4.5], 15.0, [1.0, -2.0], 1.1, [5.0, 3.0])
    ref = img.transform((12, 9), Image.Transform.AFFINE, m, Image.Resampling.BILINEAR,
                        fillcolor=(0, 0, 0))
    np.testing.assert_array_equal(np.asarray(out), np.asarray(ref))


def test_random_rotation_and_affine_are_get_params_then_functional():
    t = lamina.tensor(img_array())
    tr = T.RandomRotation((-40, 10), interpolation=IM.BILINEAR, fill=0.5)
    lamina.manual_seed(3)
    out = tr(t)
    lamina.manual_seed(3)
    angle = T.RandomRotation.get_params(tr.degrees)
    assert -40 <= angle <= 10
    np.testing.assert_array_equal(out.numpy(), F.rotate(t, angle, IM.BILINEAR,
                                                        fill=[0.5] * 3).numpy())
    ta = T.RandomAffine(20, translate=(0.1, 0.2), scale=(0.8, 1.2), shear=(-5, 5, -3, 3))
    lamina.manual_seed(4)
    out = ta(t)
    lamina.manual_seed(4)
    angle, tr_, scale, shear = T.RandomAffine.get_params(ta.degrees, ta.translate, ta.scale,
                                                         ta.shear, [12, 9])
    assert abs(tr_[0]) <= 1 and abs(tr_[1]) <= 2 and 0.8 <= scale <= 1.2
    assert -5 <= shear[0] <= 5 and -3 <= shear[1] <= 3
    np.testing.assert_array_equal(out.numpy(), F.affine(t, angle, list(tr_), scale,
                                                        list(shear), fill=[0.0] * 3).numpy())
    img = Image.fromarray((img_array()[0] * 255).astype(np.uint8))
    assert T.RandomRotation(10)(img).size == img.size
    assert T.RandomAffine(10, shear=4)(img).size == img.size


def test_rotation_affine_errors():
    t = lamina.tensor(img_array())
    with pytest.raises(ValueError, match="RandomRotation: if degrees is a single number, it "
                                         "must be positive"):
        T.RandomRotation(-3)
    with pytest.raises(ValueError, match="RandomAffine: translation values should be between"):
        T.RandomAffine(0, translate=(0.5, 1.5))
    with pytest.raises(ValueError, match="RandomAffine: scale values should be positive"):
        T.RandomAffine(0, scale=(0, 1))
    with pytest.raises(ValueError, match="RandomAffine: shear must be a number or a sequence"):
        T.RandomAffine(0, shear=(1, 2, 3))
    with pytest.raises(ValueError, match="affine: scale must be positive, got -1.0"):
        F.affine(t, 0, [0, 0], -1, 0)
    with pytest.raises(ValueError, match="affine: translate must be a sequence of 2"):
        F.affine(t, 0, [0], 1, 0)
    with pytest.raises(TypeError, match="rotate: angle must be a number, got str"):
        F.rotate(t, "90")
    with pytest.raises(ValueError, match="interpolation 'bicubic' is not supported for tensor"):
        F.rotate(t, 10, IM.BICUBIC)
    with pytest.raises(ValueError, match="fill must be a number or one value per channel"):
        F.rotate(t, 10, fill=[1, 2])
    img = Image.new("RGB", (5, 4))
    with pytest.raises(ValueError, match="rotate: interpolation 'lanczos' is not supported for "
                                         "PIL"):
        F.rotate(img, 10, IM.LANCZOS)
    with pytest.raises(ValueError, match=r"affine: the number of elements in fill \(2\)"):
        F.affine(img, 10, [0, 0], 1.0, 0.0, fill=(1, 2))
