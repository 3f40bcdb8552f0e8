"""Convolution layers: ``Conv1d``, ``Conv2d``, ``Conv3d``, ``ConvTranspose1d``,
``ConvTranspose2d``, ``ConvTranspose3d``.

Parameter names, shapes and default initialization are PyTorch's, so state dicts move
between the two libraries unchanged: ``weight`` is ``(out, in / groups, *kernel)`` for a
convolution and ``(in, out / groups, *kernel)`` for a transposed one; ``weight`` gets
``kaiming_uniform_(a=sqrt(5))`` and ``bias`` U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
"""

from __future__ import annotations

import math

from lamina import creation
from lamina.errors import LaminaValueError
from lamina.nn import init
from lamina.nn.modules.module import Module
from lamina.nn.parameter import Parameter
from lamina.ops.conv import _tuple, conv1d, conv2d, conv_transpose1d, conv_transpose2d
from lamina.ops.conv3d import conv3d, conv_transpose3d
from lamina.ops.padding import pad_mode
from lamina.tensor import Tensor

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
           "ConvTranspose3d"]


def _mode_pad(x: Tensor, pads, mode: str, owner: str) -> Tensor:
    """Pad the trailing spatial dims of ``x`` by ``pads`` ((before, after) per dim) with
    ``mode`` (``lamina.ops.padding``: a gather whose gradient sums back over repeated
    sources)."""
    nd = len(pads)
    for k, (b, a) in enumerate(pads):
        size = x.shape[x.ndim - nd + k]
        if mode == "reflect" and (b >= size or a >= size):
            raise LaminaValueError(f"{owner}: padding ({b}, {a}) should be smaller than the input "
                                   f"size {size} for padding_mode='reflect'")
        if mode == "circular" and (b > size or a > size):
            raise LaminaValueError(f"{owner}: padding ({b}, {a}) should be at most the input size "
                                   f"{size} for padding_mode='circular'")
    return pad_mode(x, tuple(pads), mode)


class _ConvNd(Module):
    _nd = 2
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 groups, bias, padding_mode, output_padding=0, dtype=None):
        super().__init__()
        name = type(self).__name__
        nd = self._nd
        for arg, v in (("in_channels", in_channels), ("out_channels", out_channels),
                       ("groups", groups)):
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise LaminaValueError(f"{name}: {arg} must be a positive int, got {v!r}")
        if in_channels % groups:
            raise LaminaValueError(f"{name}: in_channels must be divisible by groups")
        if out_channels % groups:
            raise LaminaValueError(f"{name}: out_channels must be divisible by groups")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise LaminaValueError(f"{name}: padding_mode must be 'zeros', 'reflect', 'replicate' "
                                   f"or 'circular', got {padding_mode!r}")
        if padding_mode != "zeros" and self._transposed:
            raise LaminaValueError(f"{name}: only 'zeros' padding mode is supported")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _tuple(kernel_size, nd, "kernel_size", name)
        self.stride = _tuple(stride, nd, "stride", name)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise LaminaValueError(f"{name}: invalid padding string {padding!r}, expected "
                                       "'valid' or 'same'")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise LaminaValueError(f"{name}: padding='same' is not supported for strided "
                                       "convolutions")
            self.padding = padding
        else:
            self.padding = _tuple(padding, nd, "padding", name)
        self.dilation = _tuple(dilation, nd, "dilation", name)
        for arg, v in (("kernel_size", self.kernel_size), ("stride", self.stride),
                       ("dilation", self.dilation)):
            if min(v) < 1:
                raise LaminaValueError(f"{name}: {arg} must be positive, got {v}")
        self.output_padding = _tuple(output_padding, nd, "output_padding", name)
        self.groups = groups
        self.padding_mode = padding_mode
        self.transposed = self._transposed
        if self._transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(creation.empty(*shape, dtype=dtype))
        if bias:
            self.bias = Parameter(creation.empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def _pad_input(self, input: Tensor) -> Tensor:
        """Explicit padding for padding_mode reflect/replicate/circular (then conv with 0)."""
        nd = self._nd
        if self.padding == "valid":
            return input
        if self.padding == "same":
            pads = []
            for k, d in zip(self.kernel_size, self.dilation):
                total = d * (k - 1)
                pads.append((total // 2, total - total // 2))
        else:
            pads = [(p, p) for p in self.padding]
        if not any(b or a for b, a in pads):
            return input
        if input.ndim not in (nd + 1, nd + 2):
            raise LaminaValueError(f"{type(self).__name__}: expected a {nd + 1}-D or {nd + 2}-D "
                                   f"input, got shape {tuple(input.shape)}")
        return _mode_pad(input, pads, self.padding_mode, type(self).__name__)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        nd = self._nd
        if self.padding != (0,) * nd:
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else \
                f", padding={self.padding}"
        if self.dilation != (1,) * nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode!r}"
        return s


def _weight_bias(m: Module) -> dict:
    """``{"weight": ..., "bias": ...}`` straight from the registry, or through attribute
    lookup when nn.utils.prune has replaced one by ``<name>_orig * <name>_mask``."""
    p = m._parameters
    if "weight" in p and "bias" in p:
        return p
    return {"weight": m.weight, "bias": m.bias}


class _Conv(_ConvNd):
    """Conv1d/Conv2d: zero padding goes to the op, other padding modes pad the input first."""

    def forward(self, input: Tensor) -> Tensor:
        p = _weight_bias(self)
        fn = {1: conv1d, 2: conv2d, 3: conv3d}[self._nd]
        if self.padding_mode != "zeros":
            return fn(self._pad_input(input), p["weight"], p["bias"], self.stride, 0,
                      self.dilation, self.groups)
        return fn(input, p["weight"], p["bias"], self.stride, self.padding, self.dilation,
                  self.groups)


class Conv1d(_Conv):
    """1-D convolution layer over ``(N, C_in, L)``; see ``lamina.ops.conv.conv1d``.

    >>> nn.Conv1d(3, 8, 5, padding=2)(lamina.randn(4, 3, 20)).shape
    (4, 8, 20)
    """

    _nd = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 padding=0, dilation=1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype=dtype)


class Conv2d(_Conv):
    """2-D convolution layer over ``(N, C_in, H, W)``: one im2col and one GEMM per group
    (see ``lamina.ops.conv.conv2d``).

    >>> nn.Conv2d(1, 6, 5, padding=2)(lamina.randn(64, 1, 28, 28)).shape
    (64, 6, 28, 28)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 padding=0, dilation=1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype=dtype)


class _ConvTransposeNd(_ConvNd):
    _transposed = True

    def _output_padding(self, input, output_size):
        """``output_padding`` that gives ``output_size`` (PyTorch's rule), or the stored one."""
        if output_size is None:
            return self.output_padding
        nd = self._nd
        output_size = tuple(output_size)[-nd:]
        if len(output_size) != nd:
            raise LaminaValueError(f"{type(self).__name__}: output_size must have {nd} or "
                                   f"{nd + 2} elements, got {output_size}")
        res = []
        for i in range(nd):
            size = input.shape[-nd + i]
            lo = ((size - 1) * self.stride[i] - 2 * self.padding[i]
                  + self.dilation[i] * (self.kernel_size[i] - 1) + 1)
            hi = lo + self.stride[i] - 1
            if not lo <= output_size[i] <= hi:
                raise LaminaValueError(f"{type(self).__name__}: requested an output size of "
                                       f"{output_size}, but valid sizes range from {lo} to {hi} "
                                       f"for dim {i}")
            res.append(output_size[i] - lo)
        return tuple(res)


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution layer; see ``lamina.ops.conv.conv_transpose1d``."""

    _nd = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 padding=0, output_padding=0, groups: int = 1, bias: bool = True,
                 dilation=1, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, dtype=dtype)

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        p = _weight_bias(self)
        return conv_transpose1d(input, p["weight"], p["bias"], self.stride, self.padding,
                                self._output_padding(input, output_size), self.groups,
                                self.dilation)


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution layer (decoders, generators); see
    ``lamina.ops.conv.conv_transpose2d``.

    >>> nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1)(lamina.randn(2, 16, 7, 7)).shape
    (2, 8, 14, 14)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 padding=0, output_padding=0, groups: int = 1, bias: bool = True,
                 dilation=1, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, dtype=dtype)

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        p = _weight_bias(self)
        return conv_transpose2d(input, p["weight"], p["bias"], self.stride, self.padding,
                                self._output_padding(input, output_size), self.groups,
                                self.dilation)


class Conv3d(_Conv):
    """3-D convolution layer over ``(N, C_in, D, H, W)`` (volumes, video); see
    ``lamina.ops.conv3d.conv3d``.

    >>> nn.Conv3d(2, 4, 3, padding=1)(lamina.randn(1, 2, 5, 6, 7)).shape
    (1, 4, 5, 6, 7)
    """

    _nd = 3

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 padding=0, dilation=1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype=dtype)


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution layer; see ``lamina.ops.conv3d.conv_transpose3d``.

    >>> nn.ConvTranspose3d(4, 2, 2, stride=2)(lamina.randn(1, 4, 3, 3, 3)).shape
    (1, 2, 6, 6, 6)
    """

    _nd = 3

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 padding=0, output_padding=0, groups: int = 1, bias: bool = True,
                 dilation=1, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, dtype=dtype)

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        p = _weight_bias(self)
        return conv_transpose3d(input, p["weight"], p["bias"], self.stride, self.padding,
                                self._output_padding(input, output_size), self.groups,
                                self.dilation)
