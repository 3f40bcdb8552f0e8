"""Resize, crops, flips and padding against torchvision's definitions: tensors against
``torch.nn.functional.interpolate`` / ``torch.nn.functional.pad`` / ``torch.flip``, PIL images
against Pillow's own ``Image.resize``, ``Image.crop``, ``Image.transpose`` and
``ImageOps.expand``, and the crop arithmetic by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as tF
from PIL import Image, ImageOps

import lamina
from lamina.vision import transforms as T
from lamina.vision.transforms import functional as F
from lamina.vision.transforms.functional import InterpolationMode as IM


def img_array(c=3, h=9, w=12, seed=0):
    return np.random.default_rng(seed).random((c, h, w), dtype=np.float32)


def pil_rgb(h=9, w=12, seed=0):
    a = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return Image.fromarray(a)


# --- Resize -----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("antialias", [True, False])
@pytest.mark.parametrize("size", [(5, 7), (20, 31), (9, 5), (4, 30)])
def test_resize_tensor_matches_torch_interpolate(mode, antialias, size):
    x = img_array()
    out = F.resize(lamina.tensor(x), list(size), IM(mode), antialias=antialias)
    ref = tF.interpolate(torch.from_numpy(x)[None], size=size, mode=mode, align_corners=False,
                         antialias=antialias)[0]
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("size", [(5, 7), (20, 31), (9, 5), (13, 12)])
def test_resize_nearest_matches_torch(size):
    x = img_array()
    out = F.resize(lamina.tensor(x), list(size), IM.NEAREST)
    ref = tF.interpolate(torch.from_numpy(x)[None], size=size, mode="nearest")[0]
    np.testing.assert_array_equal(out.numpy(), ref.numpy())      # a gather: exact
    out = F.resize(lamina.tensor(x), list(size), IM.NEAREST_EXACT)
    ref = tF.interpolate(torch.from_numpy(x)[None], size=size, mode="nearest-exact")[0]
    np.testing.assert_array_equal(out.numpy(), ref.numpy())


def test_resize_integer_tensor_rounds_like_torchvision():
    # reference: torchvision computes uint8 in float, then rounds (and clamps bicubic)
    a = np.random.default_rng(3).integers(0, 256, (3, 9, 12)).astype(np.uint8)
    out = F.resize(lamina.tensor(a), [5, 7], IM.BICUBIC)
    ref = tF.interpolate(torch.from_numpy(a).float()[None], size=(5, 7), mode="bicubic",
                         align_corners=False, antialias=True)[0].clamp(0, 255).round()
    assert out.dtype == lamina.int64
    assert np.abs(out.numpy() - ref.numpy()).max() <= 1        # ties may round either way


@pytest.mark.parametrize("mode,flt", [("nearest", Image.Resampling.NEAREST),
                                      ("bilinear", Image.Resampling.BILINEAR),
                                      ("bicubic", Image.Resampling.BICUBIC),
                                      ("lanczos", Image.Resampling.LANCZOS)])
def test_resize_pil_is_pillow_resize(mode, flt):
    img = pil_rgb()
    out = T.Resize((5, 7), interpolation=IM(mode))(img)
    assert isinstance(out, Image.Image) and out.size == (7, 5)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img.resize((7, 5), flt)))


def test_resize_int_matches_smaller_edge_and_max_size():
    img = pil_rgb(h=9, w=12)
    assert T.Resize(6)(img).size == (8, 6)                # long = int(6 * 12 / 9) = 8
    assert T.Resize(6, max_size=7)(img).size == (7, 5)    # capped: int(7 * 6 / 8) = 5
    t = lamina.tensor(img_array(h=12, w=9))
    assert F.resize(t, 6).shape == (3, 8, 6)
    assert F.resize(t, [9]).shape == (3, 12, 9)
    assert F.resize(t, 9) is t                            # already that size: unchanged
    with pytest.raises(ValueError, match="resize: max_size = 6 must be strictly greater"):
        F.resize(t, 6, max_size=6)
    with pytest.raises(ValueError, match="Resize: size must be an int or a sequence"):
        T.Resize((1, 2, 3))
    with pytest.raises(ValueError, match="resize: size must be >= 1, got 0"):
        F.resize(t, [0, 3])
    with pytest.raises(ValueError, match="resize: interpolation must be an InterpolationMode"):
        F.resize(t, 4, interpolation="cubic")
    with pytest.raises(TypeError, match="resize: img should be a PIL Image or a lamina Tensor"):
        F.resize(np.zeros((3, 4, 4)), 2)


# --- crops ------------------------------------------------------------------------------------

def test_center_crop_offsets_by_hand():
    x = np.arange(9 * 12, dtype=np.float32).reshape(1, 9, 12)
    out = T.CenterCrop((4, 5))(lamina.tensor(x))
    # top = round((9 - 4) / 2) = round(2.5) = 2 (Python rounds half to even),
    # left = round((12 - 5) / 2) = round(3.5) = 4
    np.testing.assert_array_equal(out.numpy(), x[:, 2:6, 4:9])
    img = pil_rgb()
    np.testing.assert_array_equal(np.asarray(T.CenterCrop((4, 5))(img)),
                                  np.asarray(img.crop((4, 2, 9, 6))))


def test_center_crop_larger_than_image_pads_with_zeros():
    x = np.ones((1, 2, 3), np.float32)
    out = F.center_crop(lamina.tensor(x), [5, 6]).numpy()
    # padding (left, top, right, bottom) = (3 // 2, 3 // 2, 4 // 2, 4 // 2) = (1, 1, 2, 2)
    ref = np.zeros((1, 5, 6), np.float32)
    ref[:, 1:3, 1:4] = 1
    np.testing.assert_array_equal(out, ref)
    img = Image.fromarray(np.full((2, 3), 200, np.uint8))       # PIL: the same placement
    np.testing.assert_array_equal(np.asarray(F.center_crop(img, [5, 6])), ref[0] * 200)


def test_crop_outside_is_zero_like_pil():
    a = np.random.default_rng(0).integers(1, 256, (6, 7), dtype=np.uint8)
    img = Image.fromarray(a)
    for box in [(-2, -1, 4, 5), (3, 4, 5, 6), (0, 0, 6, 7), (-1, 5, 9, 3)]:
        top, left, h, w = box
        ref = np.asarray(img.crop((left, top, left + w, top + h)))   # Pillow fills with 0
        np.testing.assert_array_equal(np.asarray(F.crop(img, *box)), ref)
        out = F.crop(lamina.tensor(a[None]), *box).numpy()[0]
        np.testing.assert_array_equal(out, ref)


def test_random_crop_get_params_then_functional():
    img = lamina.tensor(img_array())
    lamina.manual_seed(0)
    out = T.RandomCrop((4, 5))(img)
    lamina.manual_seed(0)
    i, j, h, w = T.RandomCrop.get_params(img, (4, 5))
    assert 0 <= i <= 9 - 4 and 0 <= j <= 12 - 5 and (h, w) == (4, 5)
    np.testing.assert_array_equal(out.numpy(), F.crop(img, i, j, h, w).numpy())
    # seeded draws cover every position over many calls
    seen = {T.RandomCrop.get_params(img, (8, 12))[0] for _ in range(200)}
    assert seen == {0, 1}
    assert T.RandomCrop.get_params(img, (9, 12)) == (0, 0, 9, 12)
    with pytest.raises(ValueError, match=r"required crop size \(10, 5\) is larger"):
        T.RandomCrop.get_params(img, (10, 5))


def test_random_crop_padding_and_pad_if_needed():
    x = np.ones((1, 3, 3), np.float32)
    lamina.manual_seed(1)
    out = T.RandomCrop(7, padding=2)(lamina.tensor(x)).numpy()
    ref = np.zeros((1, 7, 7), np.float32)
    ref[:, 2:5, 2:5] = 1
    np.testing.assert_array_equal(out, ref)
    # pad_if_needed: torchvision pads the width by 4 - 3 = 1 on both sides, then the height
    # by 5 - 3 = 2 on both sides, giving 7x5, then crops (5, 4) at get_params' position
    padded = np.pad(x, ((0, 0), (2, 2), (1, 1)), constant_values=7)
    lamina.manual_seed(2)
    out = T.RandomCrop((5, 4), pad_if_needed=True, fill=7)(lamina.tensor(x)).numpy()
    lamina.manual_seed(2)
    i, j, h, w = T.RandomCrop.get_params(lamina.tensor(padded), (5, 4))
    np.testing.assert_array_equal(out, padded[:, i:i + 5, j:j + 4])
    with pytest.raises(ValueError, match="RandomCrop: size must be >= 1"):
        T.RandomCrop(0)


# --- flips ------------------------------------------------------------------------------------

def test_flips_match_torch_and_pillow():
    x = img_array()
    t = lamina.tensor(x)
    np.testing.assert_array_equal(F.hflip(t).numpy(), torch.flip(torch.from_numpy(x), [-1]))
    np.testing.assert_array_equal(F.vflip(t).numpy(), torch.flip(torch.from_numpy(x), [-2]))
    img = pil_rgb()
    np.testing.assert_array_equal(np.asarray(F.hflip(img)),
                                  np.asarray(ImageOps.mirror(img)))
    np.testing.assert_array_equal(np.asarray(F.vflip(img)), np.asarray(ImageOps.flip(img)))


def test_random_flips_follow_p_and_the_seed():
    t = lamina.tensor(img_array())
    assert T.RandomHorizontalFlip(p=0.0)(t) is t
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(t).numpy(), F.hflip(t).numpy())
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1.0)(t).numpy(), F.vflip(t).numpy())
    lamina.manual_seed(0)
    a = [T.RandomHorizontalFlip()(t) is t for _ in range(50)]
    lamina.manual_seed(0)
    b = [T.RandomHorizontalFlip()(t) is t for _ in range(50)]
    assert a == b and 10 < sum(a) < 40
    for bad in (-0.1, 1.5, "0.5"):
        with pytest.raises(ValueError, match="RandomHorizontalFlip: p must be a probability"):
            T.RandomHorizontalFlip(p=bad)
        with pytest.raises(ValueError, match="RandomVerticalFlip: p must be a probability"):
            T.RandomVerticalFlip(p=bad)
    with pytest.raises(TypeError, match="RandomHorizontalFlip: img should be"):
        T.RandomHorizontalFlip()([1, 2])


# --- Pad --------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode,torch_mode", [("constant", "constant"), ("edge", "replicate"),
                                             ("reflect", "reflect")])
@pytest.mark.parametrize("padding", [2, (1, 3), (1, 2, 3, 0), (2, -1, 0, 1)])
def test_pad_tensor_matches_torch_pad(mode, torch_mode, padding):
    x = img_array(h=5, w=6)
    out = T.Pad(padding, padding_mode=mode)(lamina.tensor(x))
    p = F._parse_padding(padding, "test")               # (left, top, right, bottom)
    ref = tF.pad(torch.from_numpy(x)[None], (p[0], p[2], p[1], p[3]), mode=torch_mode)[0]
    np.testing.assert_array_equal(out.numpy(), ref.numpy())


def test_pad_symmetric_and_fill():
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    out = F.pad(lamina.tensor(x), (2, 1), padding_mode="symmetric").numpy()
    np.testing.assert_array_equal(out[0], np.pad(x[0], ((1, 1), (2, 2)), mode="symmetric"))
    out = F.pad(lamina.tensor(np.zeros((3, 1, 1), np.float32)), 1, fill=(1, 2, 3)).numpy()
    np.testing.assert_array_equal(out[:, 0, 0], [1, 2, 3])
    np.testing.assert_array_equal(out[:, 1, 1], [0, 0, 0])


def test_pad_pil_matches_imageops_and_numpy():
    img = pil_rgb(5, 6)
    out = F.pad(img, (1, 2, 3, 4), fill=(10, 20, 30))
    ref = ImageOps.expand(img, border=(1, 2, 3, 4), fill=(10, 20, 30))
    np.testing.assert_array_equal(np.asarray(out), np.asarray(ref))
    out = F.pad(img, 2, padding_mode="reflect")
    np.testing.assert_array_equal(np.asarray(out),
                                  np.pad(np.asarray(img), ((2, 2), (2, 2), (0, 0)), "reflect"))
    assert out.mode == "RGB"


def test_pad_errors():
    t = lamina.tensor(img_array(h=3, w=3))
    with pytest.raises(ValueError, match="Pad: padding must be an int or a sequence of 1, 2 or"):
        T.Pad((1, 2, 3))
    with pytest.raises(ValueError, match="pad: padding_mode must be one of"):
        F.pad(t, 1, padding_mode="wrap")
    with pytest.raises(ValueError, match="pad: reflect padding must be smaller"):
        F.pad(t, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match=r"pad: fill must be a number or one value per channel"):
        F.pad(t, 1, fill=(1, 2))
    with pytest.raises(ValueError, match=r"pad: the number of elements in fill \(2\)"):
        F.pad(pil_rgb(), 1, fill=(1, 2))
