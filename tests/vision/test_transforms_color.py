"""Colour adjustments, Grayscale and GaussianBlur against torchvision's definitions: tensors
against the formulas computed with torch ops (``_blend``, ``rgb_to_grayscale``), Python's
``colorsys`` for hue and ``torch.nn.functional.conv2d`` with torchvision's kernel formula for
the blur; PIL images against Pillow's ``ImageEnhance``, ``convert("L")`` and ``HSV`` bands."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
import torch
import torch.nn.functional as tF
from PIL import Image, ImageEnhance

import lamina
from lamina.vision import transforms as T
from lamina.vision.transforms import functional as F


def img_array(c=3, h=6, w=7, seed=0):
    return np.random.default_rng(seed).random((c, h, w), dtype=np.float32)


def pil_rgb(h=6, w=7, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3),
                                                                dtype=np.uint8))


def torch_gray(x):
    r, g, b = x.unbind(-3)
    return (0.2989 * r + 0.587 * g + 0.114 * b).unsqueeze(-3)


def test_grayscale_tensor_and_pil():
    x = img_array()
    out = T.Grayscale()(lamina.tensor(x))
    np.testing.assert_allclose(out.numpy(), torch_gray(torch.from_numpy(x)).numpy(),
                               rtol=1e-6)
    out3 = T.Grayscale(num_output_channels=3)(lamina.tensor(x)).numpy()
    assert out3.shape == (3, 6, 7) and (out3 == out3[:1]).all()
    img = pil_rgb()
    np.testing.assert_array_equal(np.asarray(T.Grayscale()(img)), np.asarray(img.convert("L")))
    g3 = T.Grayscale(3)(img)
    assert g3.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(g3)[..., 2], np.asarray(img.convert("L")))
    # integer images truncate, as torchvision's .to(uint8)
    a = np.array([[[200]], [[100]], [[50]]])
    assert F.rgb_to_grayscale(lamina.tensor(a)).numpy().item() == int(
        0.2989 * 200 + 0.587 * 100 + 0.114 * 50)
    with pytest.raises(ValueError, match="Grayscale: num_output_channels should be either 1"):
        T.Grayscale(2)
    with pytest.raises(ValueError, match=r"rgb_to_grayscale: expected a \(\.\.\., C, H, W\) "
                                         r"image with C in \[1, 3\], got shape \(2, 6, 7\)"):
        F.rgb_to_grayscale(lamina.tensor(img_array(c=2)))


@pytest.mark.parametrize("factor", [0.0, 0.6, 1.0, 1.7])
def test_brightness_contrast_saturation_tensor(factor):
    x = img_array()
    t, tx = lamina.tensor(x), torch.from_numpy(x)

    def blend(a, b):       # torchvision's _blend for float images
        return (factor * a + (1.0 - factor) * b).clamp(0, 1.0)

    np.testing.assert_allclose(F.adjust_brightness(t, factor).numpy(),
                               blend(tx, torch.zeros_like(tx)).numpy(), atol=1e-6)
    mean = torch_gray(tx).mean(dim=(-3, -2, -1), keepdim=True)
    np.testing.assert_allclose(F.adjust_contrast(t, factor).numpy(), blend(tx, mean).numpy(),
                               atol=1e-6)
    np.testing.assert_allclose(F.adjust_saturation(t, factor).numpy(),
                               blend(tx, torch_gray(tx)).numpy(), atol=1e-6)


def test_brightness_integer_truncates_and_saturates():
    a = np.array([[[100, 101, 200]]])
    np.testing.assert_array_equal(F.adjust_brightness(lamina.tensor(a), 0.5).numpy(),
                                  [[[50, 50, 100]]])
    np.testing.assert_array_equal(F.adjust_brightness(lamina.tensor(a), 1.5).numpy(),
                                  [[[150, 151, 255]]])


@pytest.mark.parametrize("factor", [0.3, 1.0, 1.8])
def test_pil_enhancers_are_pillows(factor):
    img = pil_rgb()
    for fn, enh in ((F.adjust_brightness, ImageEnhance.Brightness),
                    (F.adjust_contrast, ImageEnhance.Contrast),
                    (F.adjust_saturation, ImageEnhance.Color)):
        np.testing.assert_array_equal(np.asarray(fn(img, factor)),
                                      np.asarray(enh(img).enhance(factor)))


@pytest.mark.parametrize("hue", [-0.5, -0.2, 0.0, 0.1, 0.45])
def test_adjust_hue_tensor_against_colorsys(hue):
    x = img_array()
    out = F.adjust_hue(lamina.tensor(x), hue).numpy()
    ref = np.empty_like(x)
    for i in range(x.shape[1]):
        for j in range(x.shape[2]):
            h, s, v = colorsys.rgb_to_hsv(*x[:, i, j].astype(np.float64))
            ref[:, i, j] = colorsys.hsv_to_rgb((h + hue) % 1.0, s, v)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    # gray pixels have no hue to turn
    g = np.full((3, 2, 2), 0.4, np.float32)
    np.testing.assert_allclose(F.adjust_hue(lamina.tensor(g), hue).numpy(), g, atol=1e-6)


def test_adjust_hue_pil_shifts_the_h_band():
    img = pil_rgb()
    out = F.adjust_hue(img, 0.25)
    h, s, v = (np.asarray(b, np.int64) for b in img.convert("HSV").split())
    ref = Image.merge("HSV", [Image.fromarray(((h + int(0.25 * 255)) % 256).astype(np.uint8)),
                              Image.fromarray(s.astype(np.uint8)),
                              Image.fromarray(v.astype(np.uint8))]).convert("RGB")
    np.testing.assert_array_equal(np.asarray(out), np.asarray(ref))
    gray = img.convert("L")
    assert F.adjust_hue(gray, 0.3) is gray
    with pytest.raises(ValueError, match=r"adjust_hue: hue_factor must be in \[-0.5, 0.5\], "
                                         "got 0.7"):
        F.adjust_hue(img, 0.7)
    with pytest.raises(ValueError, match="adjust_contrast: PIL image mode 'F' is not supported"):
        F.adjust_contrast(Image.new("F", (3, 3)), 1.5)
    with pytest.raises(ValueError, match="gaussian_blur: PIL image mode 'P' is not supported"):
        F.gaussian_blur(Image.new("P", (5, 5)), 3)
    with pytest.raises(ValueError, match="adjust_brightness: brightness_factor must be "
                                         "non-negative, got -1.0"):
        F.adjust_brightness(img, -1)


def test_color_jitter_is_get_params_then_functional():
    cj = T.ColorJitter(brightness=0.4, contrast=(0.5, 1.5), saturation=0.3, hue=0.1)
    assert cj.brightness == (0.6, 1.4) and cj.hue == (-0.1, 0.1)
    t = lamina.tensor(img_array())
    lamina.manual_seed(7)
    out = cj(t)
    lamina.manual_seed(7)
    order, b, c, s, h = T.ColorJitter.get_params(cj.brightness, cj.contrast, cj.saturation,
                                                 cj.hue)
    assert sorted(order) == [0, 1, 2, 3] and 0.6 <= b <= 1.4 and -0.1 <= h <= 0.1
    ref = t
    for k in order:
        ref = [lambda x: F.adjust_brightness(x, b), lambda x: F.adjust_contrast(x, c),
               lambda x: F.adjust_saturation(x, s), lambda x: F.adjust_hue(x, h)][k](ref)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    assert T.ColorJitter().get_params(None, None, None, None)[1:] == (None, None, None, None)
    img = pil_rgb()
    assert T.ColorJitter(0.5, 0.5, 0.5, 0.5)(img).size == img.size
    with pytest.raises(ValueError, match="ColorJitter: if brightness is a single number, it "
                                         "must be non-negative"):
        T.ColorJitter(brightness=-0.1)
    with pytest.raises(ValueError, match=r"ColorJitter: hue values should be between \[-0.5, "):
        T.ColorJitter(hue=(-0.6, 0.1))
    with pytest.raises(TypeError, match="ColorJitter: contrast should be a single number or"):
        T.ColorJitter(contrast=(1, 2, 3))


def torch_blur(x, ksize, sigma):
    """torchvision's tensor gaussian_blur, with torch ops: the 1-D kernels
    exp(-x^2 / (2 sigma^2)) normalized, their outer product, reflect padding, conv2d."""
    def k1(n, s):
        half = (n - 1) * 0.5
        pdf = torch.exp(-0.5 * (torch.linspace(-half, half, n) / s) ** 2)
        return pdf / pdf.sum()

    kx, ky = k1(ksize[0], sigma[0]), k1(ksize[1], sigma[1])
    k2 = (ky[:, None] @ kx[None, :]).expand(x.shape[0], 1, ksize[1], ksize[0])
    p = tF.pad(x[None], [ksize[0] // 2, ksize[0] // 2, ksize[1] // 2, ksize[1] // 2],
               mode="reflect")
    return tF.conv2d(p, k2, groups=x.shape[0])[0]


@pytest.mark.parametrize("ksize,sigma", [((3, 3), (1.0, 1.0)), ((5, 3), (0.7, 1.6)),
                                         ((1, 5), (2.0, 0.5))])
def test_gaussian_blur_tensor_matches_conv2d(ksize, sigma):
    x = img_array(h=8, w=9)
    out = F.gaussian_blur(lamina.tensor(x), list(ksize), list(sigma))
    np.testing.assert_allclose(out.numpy(), torch_blur(torch.from_numpy(x), ksize, sigma),
                               atol=1e-6)


def test_gaussian_blur_default_sigma_pil_and_transform():
    x = img_array(h=8, w=9)
    out = F.gaussian_blur(lamina.tensor(x), 5)          # sigma = 5 * 0.15 + 0.35 = 1.1
    np.testing.assert_allclose(out.numpy(), torch_blur(torch.from_numpy(x), (5, 5),
                                                       (1.1, 1.1)), atol=1e-6)
    img = pil_rgb(8, 9)
    a = np.asarray(img).transpose(2, 0, 1).astype(np.float32)
    ref = torch_blur(torch.from_numpy(a), (3, 3), (0.9, 0.9)).round().numpy()
    got = np.asarray(F.gaussian_blur(img, 3, 0.9)).transpose(2, 0, 1)
    assert np.abs(got - ref).max() <= 1                 # ties may round either way
    blur = T.GaussianBlur(3, sigma=(0.2, 1.5))
    lamina.manual_seed(0)
    out = blur(lamina.tensor(x))
    lamina.manual_seed(0)
    s = T.GaussianBlur.get_params(0.2, 1.5)
    assert 0.2 <= s <= 1.5
    np.testing.assert_array_equal(out.numpy(), F.gaussian_blur(lamina.tensor(x), [3, 3],
                                                               [s, s]).numpy())
    with pytest.raises(ValueError, match="GaussianBlur: kernel size value should be an odd"):
        T.GaussianBlur(4)
    with pytest.raises(ValueError, match="GaussianBlur: sigma values should be positive"):
        T.GaussianBlur(3, sigma=(0.0, 1.0))
    with pytest.raises(ValueError, match="gaussian_blur: kernel_size should have odd and "
                                         "positive integers"):
        F.gaussian_blur(lamina.tensor(x), [3, 2])
    with pytest.raises(ValueError, match="gaussian_blur: sigma should have positive values"):
        F.gaussian_blur(lamina.tensor(x), 3, -1.0)
