"""ToTensor, PILToTensor, ToPILImage, Normalize, Compose and Lambda against torchvision's
definitions (``torchvision.transforms.functional`` v1), checked by hand and against Pillow's
and PyTorch's own operations (torchvision itself does not import beside this torch build).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import lamina
from lamina.vision import transforms as T
from lamina.vision.transforms import functional as F


def rgb(h=5, w=7, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_to_tensor_uint8_pil_scales_and_moves_channels_first():
    # reference: the definition, HWC uint8 -> CHW float32 / 255
    a = rgb()
    t = T.ToTensor()(Image.fromarray(a))
    assert isinstance(t, lamina.Tensor) and t.dtype == lamina.float32 and t.shape == (3, 5, 7)
    np.testing.assert_array_equal(t.numpy(), a.transpose(2, 0, 1).astype(np.float32) / 255)
    # torch computes the same quotient in float32: bit for bit
    ref = torch.from_numpy(a).permute(2, 0, 1).float().div(255)
    np.testing.assert_array_equal(t.numpy(), ref.numpy())


def test_to_tensor_modes_and_arrays():
    g = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(F.to_tensor(Image.fromarray(g)).numpy(),
                                  g[None].astype(np.float32) / 255)
    one = Image.fromarray(g > 5)                       # mode "1" is 0/255 before scaling
    assert one.mode == "1"
    np.testing.assert_array_equal(F.to_tensor(one).numpy()[0], (g > 5).astype(np.float32))
    f = np.linspace(0, 3, 12, dtype=np.float32).reshape(3, 4)
    t = F.to_tensor(Image.fromarray(f))                # mode "F": values kept
    np.testing.assert_array_equal(t.numpy()[0], f)
    i32 = np.arange(12, dtype=np.int32).reshape(3, 4) * 1000
    t = F.to_tensor(Image.fromarray(i32))              # mode "I": values kept, as int64
    assert t.dtype == lamina.int64
    np.testing.assert_array_equal(t.numpy()[0], i32)
    # NumPy arrays: HWC to CHW, only uint8 scaled
    a = rgb()
    np.testing.assert_array_equal(F.to_tensor(a).numpy(), a.transpose(2, 0, 1) / np.float32(255))
    d = np.ones((2, 3), np.float64)
    assert F.to_tensor(d).shape == (1, 2, 3) and F.to_tensor(d).dtype == lamina.float64


def test_pil_to_tensor_keeps_8bit_values():
    # lamina has no uint8: the values 0..255 come as int64 (torchvision: uint8)
    a = rgb()
    t = T.PILToTensor()(Image.fromarray(a))
    assert t.dtype == lamina.int64
    np.testing.assert_array_equal(t.numpy(), a.transpose(2, 0, 1))


def test_to_pil_image_roundtrip_and_modes():
    a = rgb()
    img = T.ToPILImage()(lamina.tensor(a.transpose(2, 0, 1).copy()))
    assert img.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(img), a)
    # float tensors: x * 255 truncated (torchvision's pic.mul(255).byte())
    x = np.array([[[0.0, 0.5, 1.0, 0.999]]], np.float32)
    img = F.to_pil_image(lamina.tensor(x))
    assert img.mode == "L"
    np.testing.assert_array_equal(np.asarray(img), [[0, 127, 255, 254]])
    assert F.to_pil_image(lamina.tensor(x), mode="F").mode == "F"
    rgba = np.zeros((4, 2, 2), np.uint8)
    assert F.to_pil_image(lamina.tensor(rgba)).mode == "RGBA"
    assert F.to_pil_image(np.zeros((2, 2, 2), np.uint8)).mode == "LA"
    assert F.to_pil_image(lamina.tensor([[[70000]]])).mode == "I"      # beyond 8 bits
    with pytest.raises(ValueError, match="to_pil_image: an integer image with 3 channels"):
        F.to_pil_image(lamina.tensor(np.full((3, 2, 2), 256)))
    i16 = F.to_pil_image(np.full((2, 3), 300, np.int16))
    assert i16.mode == "I;16" and np.asarray(i16).max() == 300
    # a PIL image through ToTensor and back is the same image
    back = F.to_pil_image(F.to_tensor(Image.fromarray(a)))
    np.testing.assert_array_equal(np.asarray(back), a)


def test_to_pil_image_errors():
    with pytest.raises(ValueError, match="to_pil_image: .*> 4 channels"):
        F.to_pil_image(lamina.zeros(5, 2, 2))
    with pytest.raises(ValueError, match="to_pil_image: incorrect mode"):
        F.to_pil_image(np.zeros((2, 2), np.uint8), mode="F")
    with pytest.raises(ValueError, match="to_pil_image: only modes"):
        F.to_pil_image(np.zeros((2, 2, 3), np.uint8), mode="RGBA")
    with pytest.raises(TypeError, match="to_pil_image: pic should be"):
        F.to_pil_image([1, 2])
    with pytest.raises(TypeError, match="to_pil_image: input type float64"):
        F.to_pil_image(np.zeros((2, 2, 3)))


def test_normalize_per_channel_matches_torch():
    x = np.random.default_rng(1).random((3, 4, 5), dtype=np.float32)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    out = T.Normalize(mean, std)(lamina.tensor(x))
    # reference: torchvision's tensor.sub_(mean[:, None, None]).div_(std[:, None, None])
    ref = (torch.from_numpy(x) - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None,
                                                                                          None]
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-6, atol=1e-6)
    # one value broadcasts to every channel; a batch (N, C, H, W) works too
    b = lamina.tensor(np.stack([x, x]))
    np.testing.assert_allclose(F.normalize(b, (0.5,), (0.25,)).numpy()[1], (x - 0.5) / 0.25,
                               rtol=1e-6)
    t = lamina.tensor(x.copy())
    assert F.normalize(t, mean, std, inplace=True) is t
    np.testing.assert_allclose(t.numpy(), ref.numpy(), rtol=1e-6, atol=1e-6)


def test_normalize_is_differentiable():
    # reference: torch autograd through torchvision's (x - mean) / std
    x = np.random.default_rng(2).random((2, 3, 4, 4))
    t = lamina.tensor(x, requires_grad=True)
    out = F.normalize(t, (0.1, 0.2, 0.3), (0.5, 0.25, 2.0))
    (out * out).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    ref = (tx - torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)[:, None, None]) \
        / torch.tensor([0.5, 0.25, 2.0], dtype=torch.float64)[:, None, None]
    (ref * ref).sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(t.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_normalize_errors():
    with pytest.raises(TypeError, match="normalize: input tensor should be a float tensor"):
        F.normalize(lamina.tensor(np.zeros((1, 2, 2), np.uint8)), (0.0,), (1.0,))
    with pytest.raises(ValueError, match=r"normalize: expected .*\(\.\.\., C, H, W\)"):
        F.normalize(lamina.zeros(2, 2), (0.0,), (1.0,))
    with pytest.raises(ValueError, match="normalize: std evaluated to zero"):
        F.normalize(lamina.zeros(1, 2, 2), (0.0,), (0.0,))
    with pytest.raises(ValueError, match="normalize: mean must have 1 or 3 values"):
        F.normalize(lamina.zeros(3, 2, 2), (0.0, 1.0), (1.0,))
    with pytest.raises(TypeError, match="normalize: tensor should be a lamina Tensor"):
        F.normalize(np.zeros((1, 2, 2)), (0.0,), (1.0,))


def test_compose_and_lambda():
    pipeline = T.Compose([T.ToTensor(), T.Lambda(lambda t: t * 2), T.Normalize((0.5,), (0.5,))])
    g = np.array([[0, 255]], np.uint8)
    np.testing.assert_allclose(pipeline(Image.fromarray(g)).numpy(), [[[-1.0, 3.0]]])
    assert "ToTensor()" in repr(pipeline)
    with pytest.raises(TypeError, match="Lambda: argument should be callable, got int"):
        T.Lambda(3)
    with pytest.raises(TypeError, match=r"Compose: transforms\[1\] is not callable"):
        T.Compose([T.ToTensor(), 5])
    with pytest.raises(TypeError, match="to_tensor: pic should be a PIL Image or a NumPy"):
        T.ToTensor()([1, 2, 3])
    with pytest.raises(TypeError, match="pil_to_tensor: pic should be a PIL Image"):
        T.PILToTensor()(lamina.zeros(1, 2, 2))
