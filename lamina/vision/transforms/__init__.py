"""Image transforms with torchvision's (``torchvision.transforms``, v1) classes and semantics.

Each transform is a callable object; ``Compose`` chains them. They take PIL images or lamina
tensor images ``(C, H, W)`` where torchvision takes both (``RandomErasing`` and ``Normalize``
take tensors only, ``ToTensor`` and ``PILToTensor`` PIL images or arrays). The random ones
draw from lamina's global generator (``lamina.manual_seed``) and have torchvision's static
``get_params`` where torchvision has one: drawing the parameters, then calling the
functional form (``lamina.vision.transforms.functional``) with them gives the same output.

>>> transform = Compose([ToTensor(), Normalize((0.1307,), (0.3081,))])
>>> x = transform(pil_image)            # float32 (1, 28, 28)
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from lamina.backend import rng
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor
from lamina.vision.transforms import functional as F
from lamina.vision.transforms.functional import InterpolationMode

__all__ = [
    "functional", "InterpolationMode", "Compose", "ToTensor", "PILToTensor", "ToPILImage",
    "Normalize", "Resize", "CenterCrop", "RandomCrop", "RandomResizedCrop",
    "RandomHorizontalFlip", "RandomVerticalFlip", "RandomRotation", "RandomAffine",
    "ColorJitter", "Grayscale", "Pad", "Lambda", "GaussianBlur", "RandomErasing",
]

functional = F


def _probability(p, op: str) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise LaminaValueError(f"{op}: p must be a probability in [0, 1], got {p!r}")
    return float(p)


def _range(value, op: str, name: str, center: float = 1.0, bound=(0.0, math.inf),
           clip_first: bool = True):
    """torchvision's ``_check_input``: a number ``v`` becomes ``[center - v, center + v]``
    (clipped at 0 when ``clip_first``), a pair is checked against ``bound``; ``None`` when
    the range is only ``center`` (the adjustment is then skipped)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if value < 0:
            raise LaminaValueError(f"{op}: if {name} is a single number, it must be non-negative, "
                                   f"got {value}")
        value = [center - float(value), center + float(value)]
        if clip_first:
            value[0] = max(value[0], 0.0)
    elif isinstance(value, (list, tuple)) and len(value) == 2 \
            and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value):
        value = [float(value[0]), float(value[1])]
        if not bound[0] <= value[0] <= value[1] <= bound[1]:
            raise LaminaValueError(f"{op}: {name} values should be between {list(bound)} with "
                                   f"min <= max, got {value}")
    else:
        raise LaminaTypeError(f"{op}: {name} should be a single number or a list/tuple of length "
                              f"2, got {value!r}")
    if value[0] == value[1] == center:
        return None
    return tuple(value)


def _degrees(degrees, op: str, name: str = "degrees") -> tuple[float, float]:
    if isinstance(degrees, numbers.Real) and not isinstance(degrees, bool):
        if degrees < 0:
            raise LaminaValueError(f"{op}: if {name} is a single number, it must be positive, got "
                                   f"{degrees}")
        return (-float(degrees), float(degrees))
    if isinstance(degrees, (list, tuple)) and len(degrees) == 2:
        return (F._number(degrees[0], op, name), F._number(degrees[1], op, name))
    raise LaminaValueError(f"{op}: {name} must be a number or a sequence of 2 numbers, got "
                           f"{degrees!r}")


def _pair(value, op: str, name: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise LaminaTypeError(f"{op}: {name} should be a sequence of length 2, got {value!r}")
    return (F._number(value[0], op, name), F._number(value[1], op, name))


def _uniform(lo: float, hi: float) -> float:
    return float(rng().uniform(lo, hi))


def _randint(lo: int, hi: int) -> int:
    """An int in ``[lo, hi)`` (``torch.randint(lo, hi, (1,))``)."""
    return int(rng().integers(lo, hi))


class _Transform:
    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({args})"


class Compose(_Transform):
    """Apply ``transforms`` in order.

    >>> Compose([CenterCrop(10), ToTensor()])
    """

    def __init__(self, transforms):
        if not isinstance(transforms, (list, tuple)):
            raise LaminaTypeError(f"Compose: transforms must be a list or tuple of callables, got "
                                  f"{type(transforms).__name__}")
        for i, t in enumerate(transforms):
            if not callable(t):
                raise LaminaTypeError(f"Compose: transforms[{i}] is not callable, got "
                                      f"{type(t).__name__}")
        self.transforms = list(transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        body = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"Compose({body}\n)"


class ToTensor(_Transform):
    """PIL image or ``(H, W, C)`` array to a ``(C, H, W)`` tensor, uint8 scaled to
    ``[0, 1]`` float32 (see ``functional.to_tensor``)."""

    def __call__(self, pic):
        return F.to_tensor(pic)


class PILToTensor(_Transform):
    """PIL image to a ``(C, H, W)`` tensor of the same type (no scaling)."""

    def __call__(self, pic):
        return F.pil_to_tensor(pic)


class ToPILImage(_Transform):
    """Tensor ``(C, H, W)`` or array ``(H, W, C)`` to a PIL image (see
    ``functional.to_pil_image`` for the mode)."""

    def __init__(self, mode: str | None = None):
        self.mode = mode

    def __call__(self, pic):
        return F.to_pil_image(pic, self.mode)


class Normalize(_Transform):
    """``(x - mean[c]) / std[c]`` per channel of a float tensor image."""

    def __init__(self, mean, std, inplace: bool = False):
        self.mean, self.std, self.inplace = mean, std, inplace

    def __call__(self, tensor):
        return F.normalize(tensor, self.mean, self.std, self.inplace)


class Lambda(_Transform):
    """Apply a user function ``lambd`` as a transform."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise LaminaTypeError(f"Lambda: argument should be callable, got "
                                  f"{type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)


class Resize(_Transform):
    """Resize to ``size`` (``(h, w)``, or an int for the smaller edge); see
    ``functional.resize``."""

    def __init__(self, size, interpolation=InterpolationMode.BILINEAR, max_size=None,
                 antialias: bool | None = True):
        F._output_size(2, 2, size, max_size, "Resize")      # validates size and max_size
        self.size = size
        self.interpolation = F._interp(interpolation, "Resize")
        self.max_size, self.antialias = max_size, antialias

    def __call__(self, img):
        return F.resize(img, self.size, self.interpolation, self.max_size, self.antialias)


class CenterCrop(_Transform):
    """The centred ``size`` crop (zero-padded first when the image is smaller)."""

    def __init__(self, size):
        self.size = F._size_pair(size, "CenterCrop")

    def __call__(self, img):
        return F.center_crop(img, self.size)


class Pad(_Transform):
    """Pad the borders (see ``functional.pad``)."""

    def __init__(self, padding, fill=0, padding_mode: str = "constant"):
        F._parse_padding(padding, "Pad")
        if padding_mode not in F._PAD_MODES:
            raise LaminaValueError(f"Pad: padding_mode must be one of {F._PAD_MODES}, got "
                                   f"{padding_mode!r}")
        self.padding, self.fill, self.padding_mode = padding, fill, padding_mode

    def __call__(self, img):
        return F.pad(img, self.padding, self.fill, self.padding_mode)


class RandomCrop(_Transform):
    """A crop of ``size`` at a random position (after optional ``padding``; with
    ``pad_if_needed`` a smaller image is padded up to ``size``)."""

    def __init__(self, size, padding=None, pad_if_needed: bool = False, fill=0,
                 padding_mode: str = "constant"):
        self.size = F._size_pair(size, "RandomCrop")
        if padding is not None:
            F._parse_padding(padding, "RandomCrop")
        if padding_mode not in F._PAD_MODES:
            raise LaminaValueError(f"RandomCrop: padding_mode must be one of {F._PAD_MODES}, got "
                                   f"{padding_mode!r}")
        self.padding, self.pad_if_needed = padding, pad_if_needed
        self.fill, self.padding_mode = fill, padding_mode

    @staticmethod
    def get_params(img, output_size) -> tuple[int, int, int, int]:
        """``(top, left, height, width)`` of a random crop of ``output_size``."""
        _, h, w = F.get_dimensions(img)
        th, tw = F._size_pair(output_size, "RandomCrop.get_params", "output_size")
        if h < th or w < tw:
            raise LaminaValueError(f"RandomCrop.get_params: required crop size {(th, tw)} is "
                                   f"larger "
                                   f"than input image size {(h, w)}")
        if w == tw and h == th:
            return 0, 0, h, w
        return _randint(0, h - th + 1), _randint(0, w - tw + 1), th, tw

    def __call__(self, img):
        if self.padding is not None:
            img = F.pad(img, self.padding, self.fill, self.padding_mode)
        _, h, w = F.get_dimensions(img)
        if self.pad_if_needed and w < self.size[1]:
            img = F.pad(img, [self.size[1] - w, 0], self.fill, self.padding_mode)
        if self.pad_if_needed and h < self.size[0]:
            img = F.pad(img, [0, self.size[0] - h], self.fill, self.padding_mode)
        return F.crop(img, *self.get_params(img, self.size))


class RandomHorizontalFlip(_Transform):
    """Mirror left to right with probability ``p``."""

    def __init__(self, p: float = 0.5):
        self.p = _probability(p, "RandomHorizontalFlip")

    def __call__(self, img):
        F._check_image(img, "RandomHorizontalFlip")
        return F.hflip(img) if rng().random() < self.p else img


class RandomVerticalFlip(_Transform):
    """Mirror top to bottom with probability ``p``."""

    def __init__(self, p: float = 0.5):
        self.p = _probability(p, "RandomVerticalFlip")

    def __call__(self, img):
        F._check_image(img, "RandomVerticalFlip")
        return F.vflip(img) if rng().random() < self.p else img


class RandomResizedCrop(_Transform):
    """A crop of random area (``scale`` of the image) and aspect ratio (``ratio``, drawn
    log-uniformly), resized to ``size`` (Inception's augmentation)."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0),
                 interpolation=InterpolationMode.BILINEAR, antialias: bool | None = True):
        op = "RandomResizedCrop"
        self.size = F._size_pair(size, op)
        self.scale = _pair(scale, op, "scale")
        self.ratio = _pair(ratio, op, "ratio")
        if self.scale[0] > self.scale[1] or self.ratio[0] > self.ratio[1]:
            raise LaminaValueError(f"{op}: scale and ratio should be of kind (min, max), got "
                                   f"scale={scale}, ratio={ratio}")
        if self.scale[0] < 0 or self.ratio[0] <= 0:
            raise LaminaValueError(f"{op}: scale must be >= 0 and ratio > 0, got scale={scale}, "
                                   f"ratio={ratio}")
        self.interpolation = F._interp(interpolation, op)
        self.antialias = antialias

    @staticmethod
    def get_params(img, scale, ratio) -> tuple[int, int, int, int]:
        """``(top, left, height, width)``: up to 10 draws of area and log-ratio, else a
        central crop clamped to ``ratio``."""
        _, height, width = F.get_dimensions(img)
        area = height * width
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(10):
            target_area = area * _uniform(scale[0], scale[1])
            aspect_ratio = math.exp(_uniform(log_ratio[0], log_ratio[1]))
            w = int(round(math.sqrt(target_area * aspect_ratio)))
            h = int(round(math.sqrt(target_area / aspect_ratio)))
            if 0 < w <= width and 0 < h <= height:
                return _randint(0, height - h + 1), _randint(0, width - w + 1), h, w
        in_ratio = float(width) / float(height)
        if in_ratio < min(ratio):
            w = width
            h = int(round(w / min(ratio)))
        elif in_ratio > max(ratio):
            h = height
            w = int(round(h * max(ratio)))
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, img):
        F._check_image(img, "RandomResizedCrop")
        i, j, h, w = self.get_params(img, self.scale, self.ratio)
        return F.resized_crop(img, i, j, h, w, self.size, self.interpolation,
                              antialias=self.antialias)


class RandomRotation(_Transform):
    """Rotate by an angle drawn uniformly from ``degrees`` (``(-d, d)`` for a number)."""

    def __init__(self, degrees, interpolation=InterpolationMode.NEAREST, expand: bool = False,
                 center=None, fill=0):
        op = "RandomRotation"
        self.degrees = _degrees(degrees, op)
        self.interpolation = F._interp(interpolation, op)
        if center is not None and (not isinstance(center, (list, tuple)) or len(center) != 2):
            raise LaminaValueError(f"{op}: center must be a sequence of 2 numbers, got {center!r}")
        self.expand, self.center, self.fill = expand, center, fill

    @staticmethod
    def get_params(degrees) -> float:
        return _uniform(float(degrees[0]), float(degrees[1]))

    def __call__(self, img):
        F._check_image(img, "RandomRotation")
        angle = self.get_params(self.degrees)
        return F.rotate(img, angle, self.interpolation, self.expand, self.center,
                        self._fill(img, self.fill))

    @staticmethod
    def _fill(img, fill):
        if isinstance(img, Tensor) and isinstance(fill, numbers.Real):
            return [float(fill)] * F.get_image_num_channels(img)
        return fill


class RandomAffine(_Transform):
    """A random affine map: rotation from ``degrees``, translation up to ``translate =
    (a, b)`` of the width and height, scale from ``scale = (lo, hi)``, shear from ``shear``
    (a number ``s``: x-shear in ``(-s, s)``; 2 values: an x range; 4: x and y ranges)."""

    def __init__(self, degrees, translate=None, scale=None, shear=None,
                 interpolation=InterpolationMode.NEAREST, fill=0, center=None):
        op = "RandomAffine"
        self.degrees = _degrees(degrees, op)
        if translate is not None:
            translate = _pair(translate, op, "translate")
            if not all(0.0 <= t <= 1.0 for t in translate):
                raise LaminaValueError(f"{op}: translation values should be between 0 and 1, got "
                                       f"{translate}")
        if scale is not None:
            scale = _pair(scale, op, "scale")
            if not all(s > 0 for s in scale):
                raise LaminaValueError(f"{op}: scale values should be positive, got {scale}")
        if shear is not None:
            if isinstance(shear, numbers.Real) and not isinstance(shear, bool):
                shear = _degrees(shear, op, "shear")
            elif isinstance(shear, (list, tuple)) and len(shear) in (2, 4):
                shear = tuple(F._number(s, op, "shear") for s in shear)
            else:
                raise LaminaValueError(f"{op}: shear must be a number or a sequence of 2 or 4 "
                                       f"numbers, got {shear!r}")
        self.translate, self.scale, self.shear = translate, scale, shear
        self.interpolation = F._interp(interpolation, op)
        self.fill, self.center = fill, center

    @staticmethod
    def get_params(degrees, translate, scale_ranges, shears, img_size):
        """``(angle, (tx, ty), scale, (shear_x, shear_y))``; ``img_size = [width, height]``."""
        angle = _uniform(float(degrees[0]), float(degrees[1]))
        if translate is not None:
            max_dx = float(translate[0] * img_size[0])
            max_dy = float(translate[1] * img_size[1])
            tx = int(round(_uniform(-max_dx, max_dx)))
            ty = int(round(_uniform(-max_dy, max_dy)))
            translations = (tx, ty)
        else:
            translations = (0, 0)
        scale = _uniform(scale_ranges[0], scale_ranges[1]) if scale_ranges is not None else 1.0
        shear_x = shear_y = 0.0
        if shears is not None:
            shear_x = _uniform(shears[0], shears[1])
            if len(shears) == 4:
                shear_y = _uniform(shears[2], shears[3])
        return angle, translations, scale, (shear_x, shear_y)

    def __call__(self, img):
        F._check_image(img, "RandomAffine")
        w, h = F.get_image_size(img)
        angle, translate, scale, shear = self.get_params(self.degrees, self.translate,
                                                         self.scale, self.shear, [w, h])
        return F.affine(img, angle, list(translate), scale, list(shear), self.interpolation,
                        RandomRotation._fill(img, self.fill), self.center)


class ColorJitter(_Transform):
    """Random brightness, contrast, saturation and hue, applied in a random order.

    ``brightness``, ``contrast``, ``saturation``: a number ``v`` draws the factor from
    ``[max(0, 1 - v), 1 + v]``, a pair ``(lo, hi)`` from it; ``hue``: a number ``v`` in
    ``[0, 0.5]`` draws from ``[-v, v]``.
    """

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0):
        op = "ColorJitter"
        self.brightness = _range(brightness, op, "brightness")
        self.contrast = _range(contrast, op, "contrast")
        self.saturation = _range(saturation, op, "saturation")
        self.hue = _range(hue, op, "hue", center=0.0, bound=(-0.5, 0.5), clip_first=False)
        if self.hue is not None and not -0.5 <= self.hue[0] <= self.hue[1] <= 0.5:
            raise LaminaValueError(f"ColorJitter: hue values should be between [-0.5, 0.5], got "
                                   f"{hue!r}")

    @staticmethod
    def get_params(brightness, contrast, saturation, hue):
        """``(fn_idx, b, c, s, h)``: the order (a permutation of 0..3: brightness, contrast,
        saturation, hue) and each factor (``None`` where the range is ``None``)."""
        fn_idx = [int(v) for v in rng().permutation(4)]
        b = None if brightness is None else _uniform(brightness[0], brightness[1])
        c = None if contrast is None else _uniform(contrast[0], contrast[1])
        s = None if saturation is None else _uniform(saturation[0], saturation[1])
        h = None if hue is None else _uniform(hue[0], hue[1])
        return fn_idx, b, c, s, h

    def __call__(self, img):
        F._check_image(img, "ColorJitter")
        fn_idx, b, c, s, h = self.get_params(self.brightness, self.contrast, self.saturation,
                                             self.hue)
        for fn_id in fn_idx:
            if fn_id == 0 and b is not None:
                img = F.adjust_brightness(img, b)
            elif fn_id == 1 and c is not None:
                img = F.adjust_contrast(img, c)
            elif fn_id == 2 and s is not None:
                img = F.adjust_saturation(img, s)
            elif fn_id == 3 and h is not None:
                img = F.adjust_hue(img, h)
        return img


class Grayscale(_Transform):
    """To grayscale with ``num_output_channels`` 1 or 3 (see ``functional.rgb_to_grayscale``)."""

    def __init__(self, num_output_channels: int = 1):
        if num_output_channels not in (1, 3):
            raise LaminaValueError(f"Grayscale: num_output_channels should be either 1 or 3, got "
                                   f"{num_output_channels!r}")
        self.num_output_channels = num_output_channels

    def __call__(self, img):
        return F.rgb_to_grayscale(img, self.num_output_channels)


class GaussianBlur(_Transform):
    """Gaussian blur with ``sigma`` drawn uniformly from ``(min, max)`` (a number: fixed)."""

    def __init__(self, kernel_size, sigma=(0.1, 2.0)):
        op = "GaussianBlur"
        self.kernel_size = F._size_pair(kernel_size, op, "kernel_size")
        for k in self.kernel_size:
            if k % 2 == 0:
                raise LaminaValueError(f"{op}: kernel size value should be an odd and positive "
                                       f"number, got {kernel_size!r}")
        if isinstance(sigma, numbers.Real) and not isinstance(sigma, bool):
            if sigma <= 0:
                raise LaminaValueError(f"{op}: if sigma is a single number, it must be positive, "
                                       f"got {sigma}")
            sigma = (float(sigma), float(sigma))
        else:
            sigma = _pair(sigma, op, "sigma")
            if not 0.0 < sigma[0] <= sigma[1]:
                raise LaminaValueError(f"{op}: sigma values should be positive and of the form "
                                       f"(min, max), got {sigma}")
        self.sigma = sigma

    @staticmethod
    def get_params(sigma_min: float, sigma_max: float) -> float:
        return _uniform(float(sigma_min), float(sigma_max))

    def __call__(self, img):
        sigma = self.get_params(self.sigma[0], self.sigma[1])
        return F.gaussian_blur(img, self.kernel_size, [sigma, sigma])


class RandomErasing(_Transform):
    """With probability ``p``, erase a random rectangle of a tensor image (Zhong et al.,
    2017): area a fraction from ``scale``, aspect ratio log-uniform in ``ratio``, set to
    ``value`` (a number, one per channel, or ``"random"`` for standard normal noise)."""

    def __init__(self, p: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0,
                 inplace: bool = False):
        op = "RandomErasing"
        if not isinstance(value, (numbers.Real, str, tuple, list)) or isinstance(value, bool):
            raise LaminaTypeError(f"{op}: argument value should be either a number or str or a "
                                  f"sequence, got {type(value).__name__}")
        if isinstance(value, str) and value != "random":
            raise LaminaValueError(f"{op}: if value is a str, it should be 'random', got {value!r}")
        self.scale = _pair(scale, op, "scale")
        self.ratio = _pair(ratio, op, "ratio")
        if not 0 <= self.scale[0] <= self.scale[1] <= 1:
            raise LaminaValueError(f"{op}: scale should be (min, max) within [0, 1], got {scale}")
        if not 0 < self.ratio[0] <= self.ratio[1]:
            raise LaminaValueError(f"{op}: ratio should be (min, max) with 0 < min, got {ratio}")
        self.p = _probability(p, op)
        self.value, self.inplace = value, inplace

    @staticmethod
    def get_params(img, scale, ratio, value=None):
        """``(i, j, h, w, v)``: up to 10 draws of a rectangle that fits, ``v`` its values
        (normal noise when ``value`` is None); else the whole image, unchanged."""
        F._check_image(img, "RandomErasing.get_params", pil=False)
        F._chw(img, "RandomErasing.get_params")
        img_c, img_h, img_w = img.shape[-3], img.shape[-2], img.shape[-1]
        area = img_h * img_w
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(10):
            erase_area = area * _uniform(scale[0], scale[1])
            aspect_ratio = math.exp(_uniform(log_ratio[0], log_ratio[1]))
            h = int(round(math.sqrt(erase_area * aspect_ratio)))
            w = int(round(math.sqrt(erase_area / aspect_ratio)))
            if not (h < img_h and w < img_w):
                continue
            if value is None:
                v = rng().standard_normal((img_c, h, w)).astype(np.float32)
            else:
                v = np.asarray(value, np.float32)[:, None, None]
            return _randint(0, img_h - h + 1), _randint(0, img_w - w + 1), h, w, v
        return 0, 0, img_h, img_w, img

    def __call__(self, img):
        op = "RandomErasing"
        F._check_image(img, op, pil=False)
        F._chw(img, op)
        if rng().random() < self.p:
            if isinstance(self.value, str):
                value = None
            elif isinstance(self.value, (list, tuple)):
                value = [float(v) for v in self.value]
            else:
                value = [float(self.value)]
            if value is not None and len(value) not in (1, img.shape[-3]):
                raise LaminaValueError(f"{op}: if value is a sequence, it should have either a "
                                       f"single value or {img.shape[-3]} (number of input "
                                       f"channels), got {len(value)}")
            i, j, h, w, v = self.get_params(img, self.scale, self.ratio, value)
            return F.erase(img, i, j, h, w, v, self.inplace)
        return img
