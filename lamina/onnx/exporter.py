"""``export(model, args, f)``: a lamina model as an ONNX file.

How it works: a module-tree exporter. Every supported module type has one converter that
writes the ONNX nodes of its ``forward`` (``Linear`` -> ``Gemm``, ``Conv2d`` -> ``Conv``,
``LSTM`` -> ``LSTM`` with its gates reordered, ...). Containers (``nn.Sequential``) and the
model zoo's known structures (``LeNet5``, ``mlp``, ``ResNet`` and its ``ResidualBlock``,
``Highway``, ``ResidualMLPBlock``, ``TransformerEncoder``/``TransformerEncoderLayer``
without masks) have converters that call their children's, so the graph
follows the module tree and its node names follow the modules' dotted names. The example
``args`` run through the model alongside, module by module, which gives every converter the
shapes it needs (adaptive pooling, flatten) and checks at the end that the graph's outputs
have the model's shapes.

Why not trace lamina's ops during one forward instead: a module's ``forward`` in lamina
calls fused ops whose arguments (training flags, running statistics, an RNN's whole
sequence) live on the module, not in the recorded op; mapping modules keeps the ONNX graph
at the level a reader of the model knows (one ``LSTM`` node, one ``BatchNormalization``),
and a module the exporter cannot map is named in the error instead of an anonymous op.
The price: a module with a hand-written ``forward`` needs its own converter
(:func:`register_converter`).

ONNX semantics taken from the operator specifications at https://onnx.ai/onnx/operators/.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import numpy as np

from lamina.autograd import no_grad
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn.module import Module
from lamina.tensor import Tensor

__all__ = ["export", "supported_modules", "register_converter", "UnsupportedModuleError"]

_MIN_OPSET = 17        # LayerNormalization, and Reshape/Squeeze/Unsqueeze with tensor inputs


class UnsupportedModuleError(NotImplementedError):
    """Raised by :func:`export` for a module (or a module configuration) without an ONNX
    mapping; the message names the module's type and its place in the model."""


def _require_onnx():
    try:
        import onnx
    except ImportError as e:  # pragma: no cover - exercised only without onnx installed
        raise ImportError("lamina.onnx.export needs the 'onnx' package: "
                          "pip install 'lamina[onnx]'") from e
    return onnx


class _Value:
    """A graph value: its ONNX name and the lamina tensor the example input gives it."""

    __slots__ = ("name", "tensor")

    def __init__(self, name: str, tensor: Tensor):
        self.name = name
        self.tensor = tensor

    @property
    def shape(self) -> tuple:
        return tuple(self.tensor.shape)


class _Graph:
    """The nodes and initializers being built, and the module path of the current scope."""

    def __init__(self, opset: int):
        self.onnx = _require_onnx()
        self.opset = opset
        self.nodes: list = []
        self.initializers: list = []
        self._used: set[str] = set()
        self.scope: list[str] = []

    def fresh(self, hint: str) -> str:
        base = "/".join(self.scope + [hint]) if self.scope else hint
        name, i = base, 1
        while name in self._used:
            name = f"{base}_{i}"
            i += 1
        self._used.add(name)
        return name

    def const(self, array, hint: str) -> str:
        """An initializer holding ``array`` (a parameter, a shape, an axis list)."""
        name = self.fresh(hint)
        arr = np.asarray(array)
        self.initializers.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def param(self, module_path: str, attr: str, array) -> str:
        """An initializer named like the state_dict key (``0.weight``), as torch names it."""
        key = f"{module_path}.{attr}" if module_path else attr
        name = key
        i = 1
        while name in self._used:
            name = f"{key}_{i}"
            i += 1
        self._used.add(name)
        arr = np.ascontiguousarray(np.asarray(array))
        self.initializers.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def ints(self, values, hint: str = "shape") -> str:
        return self.const(np.asarray(values, dtype=np.int64), hint)

    def op(self, op_type: str, inputs: list, n_out: int = 1, **attrs):
        """Append one node; returns its output name (a list when ``n_out > 1``)."""
        outs = [self.fresh(op_type if n_out == 1 else f"{op_type}_out{k}")
                for k in range(n_out)]
        self.nodes.append(self.onnx.helper.make_node(
            op_type, [i if i is not None else "" for i in inputs], outs,
            name=self.fresh(f"{op_type}_node"), **attrs))
        return outs[0] if n_out == 1 else outs

    # -- dispatch ---------------------------------------------------------------------------

    def convert(self, module: Module, x, path: str):
        """The output value(s) of ``module`` applied to the value ``x``."""
        conv = _find_converter(module, path)
        self.scope.append(path or type(module).__name__)
        try:
            if conv.composite:
                return conv.fn(self, module, x, path)
            y = module(x.tensor)                       # the example's value, and its shape
            names = conv.fn(self, module, x, y, path)
            return _pair(names, y)
        finally:
            self.scope.pop()


def _pair(names, tensors):
    if isinstance(tensors, Tensor):
        return _Value(names, tensors)
    return type(tensors)(_pair(n, t) for n, t in zip(names, tensors))


class _Converter:
    __slots__ = ("cls", "fn", "composite")

    def __init__(self, cls, fn, composite):
        self.cls, self.fn, self.composite = cls, fn, composite


_CONVERTERS: dict[type, _Converter] = {}


def register_converter(cls: type, composite: bool = False) -> Callable:
    """Register ``fn`` as the ONNX converter of module class ``cls`` (and its subclasses that
    keep ``cls.forward``).

    A leaf converter is ``fn(g, module, x, y, path)``: ``x`` the input value (``x.name``,
    ``x.tensor``), ``y`` the module's output on the example; it appends nodes with
    ``g.op(...)`` / ``g.param(...)`` and returns the output name(s) in ``y``'s structure. A
    composite converter is ``fn(g, module, x, path)`` and returns values, calling
    ``g.convert(child, value, child_path)`` for its children."""
    def deco(fn):
        _CONVERTERS[cls] = _Converter(cls, fn, composite)
        return fn
    return deco


def supported_modules() -> list[str]:
    """The names of the module classes :func:`export` maps to ONNX."""
    return sorted(c.__name__ for c in _CONVERTERS if not c.__name__.startswith("_")
                  and c.__name__ != "RNNBase")


def _find_converter(module: Module, path: str) -> _Converter:
    where = f" at {path!r}" if path else ""
    for cls in type(module).__mro__:
        conv = _CONVERTERS.get(cls)
        if conv is None:
            continue
        if type(module).forward is not cls.forward:
            raise UnsupportedModuleError(
                f"lamina.onnx.export: module {type(module).__name__}{where} overrides "
                f"{cls.__name__}.forward, which the exporter cannot map to ONNX; register a "
                f"converter with lamina.onnx.exporter.register_converter")
        return conv
    raise UnsupportedModuleError(
        f"lamina.onnx.export: no ONNX mapping for module {type(module).__name__}{where}; "
        f"supported: {', '.join(supported_modules())}")


def _unsupported(module: Module, path: str, what: str):
    where = f" at {path!r}" if path else ""
    raise UnsupportedModuleError(
        f"lamina.onnx.export: {type(module).__name__}{where}: {what} has no ONNX mapping")


def _arr(t) -> np.ndarray:
    return t.detach().numpy() if isinstance(t, Tensor) else np.asarray(t)


# --- registrations --------------------------------------------------------------------------

def _register_all():
    from lamina import nn
    from lamina.models.lenet import LeNet5
    from lamina.models.resnet import ResNet
    from lamina.nn.functional import _implicit_dim
    from lamina.nn.modules import padding as padding_layers
    from lamina.nn.modules.batchnorm import _BatchNorm
    from lamina.nn.modules.conv import _ConvTransposeNd
    from lamina.nn.modules.pooling import _MaxPoolNd
    from lamina.nn.modules.rnn import RNNBase

    # containers and the model zoo's structures ---------------------------------------------

    @register_converter(nn.Sequential, composite=True)
    def _sequential(g, m, x, path):
        for name, child in m._modules.items():
            if child is None:
                continue
            x = g.convert(child, x, f"{path}.{name}" if path else name)
        return x

    _CONVERTERS[LeNet5] = _Converter(LeNet5, _sequential, True)   # forward only validates

    def sub(path, name):
        return f"{path}.{name}" if path else name

    def add(g, a: _Value, b: _Value) -> _Value:
        return _Value(g.op("Add", [a.name, b.name]), a.tensor + b.tensor)

    def relu(g, a: _Value) -> _Value:
        return _Value(g.op("Relu", [a.name]), a.tensor.relu())

    @register_converter(nn.ResidualBlock, composite=True)
    def _residual_block(g, m, x, path):
        # relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))
        out = relu(g, g.convert(m.bn1, g.convert(m.conv1, x, sub(path, "conv1")),
                                sub(path, "bn1")))
        out = g.convert(m.bn2, g.convert(m.conv2, out, sub(path, "conv2")), sub(path, "bn2"))
        short = x if m.downsample is None else g.convert(m.downsample, x,
                                                          sub(path, "downsample"))
        return relu(g, add(g, out, short))

    @register_converter(nn.ResidualMLPBlock, composite=True)
    def _residual_mlp_block(g, m, x, path):
        h = x
        for name in ("fc1", "norm", "activation", "dropout", "fc2"):
            h = g.convert(getattr(m, name), h, sub(path, name))
        return add(g, x, h)

    @register_converter(nn.Highway, composite=True)
    def _highway(g, m, x, path):
        # y = x + T * (H - x), H = activation(linear(x)), T = sigmoid(gate(x))
        h = g.convert(m.activation, g.convert(m.linear, x, sub(path, "linear")),
                      sub(path, "activation"))
        gate = g.convert(m.gate, x, sub(path, "gate"))
        t = _Value(g.op("Sigmoid", [gate.name]), gate.tensor.sigmoid())
        d = _Value(g.op("Sub", [h.name, x.name]), h.tensor - x.tensor)
        td = _Value(g.op("Mul", [t.name, d.name]), t.tensor * d.tensor)
        return add(g, x, td)

    @register_converter(ResNet, composite=True)
    def _resnet(g, m, x, path):
        h = relu(g, g.convert(m.bn1, g.convert(m.conv1, x, sub(path, "conv1")),
                              sub(path, "bn1")))
        for i in range(1, m.num_stages + 1):
            h = g.convert(m._modules[f"layer{i}"], h, sub(path, f"layer{i}"))
        h = g.convert(m.avgpool, h, sub(path, "avgpool"))
        h = _Value(g.op("Flatten", [h.name], axis=1), h.tensor.flatten(1))
        return g.convert(m.fc, h, sub(path, "fc"))

    # layers -----------------------------------------------------------------------------------

    @register_converter(nn.Identity)
    def _identity(g, m, x, y, path):
        return g.op("Identity", [x.name])

    @register_converter(nn.Dropout)
    def _dropout(g, m, x, y, path):
        return g.op("Identity", [x.name])           # exported in eval mode: the identity

    @register_converter(nn.Linear)
    def _linear(g, m, x, y, path):
        w = _arr(m.weight)
        b = None if m.bias is None else g.param(path, "bias", _arr(m.bias))
        if x.tensor.ndim == 2:                       # y = x W^T + b in one Gemm
            return g.op("Gemm", [x.name, g.param(path, "weight", w), b], transB=1)
        out = g.op("MatMul", [x.name, g.param(path, "weight", w.T)])
        return out if b is None else g.op("Add", [out, b])

    def simple(cls, op_type, **attrs_of):
        def fn(g, m, x, y, path):
            return g.op(op_type, [x.name], **{k: f(m) for k, f in attrs_of.items()})
        register_converter(cls)(fn)

    simple(nn.ReLU, "Relu")
    simple(nn.Sigmoid, "Sigmoid")
    simple(nn.Tanh, "Tanh")
    simple(nn.SELU, "Selu")
    simple(nn.Softsign, "Softsign")
    simple(nn.LeakyReLU, "LeakyRelu", alpha=lambda m: float(m.negative_slope))
    simple(nn.ELU, "Elu", alpha=lambda m: float(m.alpha))
    simple(nn.CELU, "Celu", alpha=lambda m: float(m.alpha))

    @register_converter(nn.Hardtanh)                  # ReLU6 too
    def _hardtanh(g, m, x, y, path):
        dt = _arr(y).dtype
        return g.op("Clip", [x.name, g.const(np.array(m.min_val, dtype=dt), "min"),
                             g.const(np.array(m.max_val, dtype=dt), "max")])

    @register_converter(nn.SiLU)
    def _silu(g, m, x, y, path):
        return g.op("Mul", [x.name, g.op("Sigmoid", [x.name])])

    @register_converter(nn.Softplus)
    def _softplus(g, m, x, y, path):
        # softplus(x) = log(1 + exp(beta x)) / beta; PyTorch's threshold (x itself above it)
        # agrees with this to float32 rounding.
        if m.beta == 1:
            return g.op("Softplus", [x.name])
        dt = _arr(y).dtype
        bx = g.op("Mul", [x.name, g.const(np.array(m.beta, dtype=dt), "beta")])
        return g.op("Div", [g.op("Softplus", [bx]), g.const(np.array(m.beta, dtype=dt), "beta")])

    @register_converter(nn.GELU)
    def _gelu(g, m, x, y, path):
        if g.opset >= 20:
            return g.op("Gelu", [x.name], approximate=m.approximate)
        dt = _arr(y).dtype

        def c(v, hint):
            return g.const(np.array(v, dtype=dt), hint)
        if m.approximate == "tanh":   # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
            x3 = g.op("Mul", [g.op("Mul", [x.name, x.name]), x.name])
            inner = g.op("Add", [x.name, g.op("Mul", [x3, c(0.044715, "k")])])
            t = g.op("Tanh", [g.op("Mul", [inner, c(math.sqrt(2 / math.pi), "sqrt_2_pi")])])
        else:                          # 0.5 x (1 + erf(x / sqrt(2)))
            t = g.op("Erf", [g.op("Div", [x.name, c(math.sqrt(2.0), "sqrt2")])])
        half_x = g.op("Mul", [x.name, c(0.5, "half")])
        return g.op("Mul", [half_x, g.op("Add", [t, c(1.0, "one")])])

    def softmax_like(cls, op_type):
        def fn(g, m, x, y, path):
            dim = _implicit_dim(x.tensor.ndim) if m.dim is None else m.dim
            return g.op(op_type, [x.name], axis=int(dim))
        register_converter(cls)(fn)

    softmax_like(nn.Softmax, "Softmax")
    softmax_like(nn.LogSoftmax, "LogSoftmax")

    @register_converter(nn.Flatten)
    def _flatten(g, m, x, y, path):
        nd = x.tensor.ndim
        start, end = m.start_dim % nd, m.end_dim % nd
        if start == 1 and end == nd - 1:
            return g.op("Flatten", [x.name], axis=1)
        # dims before start keep their size (0 = copy), the flattened group is -1, the
        # dims after it keep the example's sizes (they never include the batch axis)
        shape = [0] * start + [-1] + list(x.shape[end + 1:])
        if start == 0 and end < nd - 1:
            shape = [-1] + list(x.shape[end + 1:])
        return g.op("Reshape", [x.name, g.ints(shape)])

    @register_converter(nn.Unflatten)
    def _unflatten(g, m, x, y, path):
        d = m.dim % x.tensor.ndim
        shape = [0] * d + list(m.unflattened_size) + [0] * (x.tensor.ndim - d - 1)
        if d == 0:
            _unsupported(m, path, "unflattening the batch axis (dim 0)")
        return g.op("Reshape", [x.name, g.ints(shape)])

    def conv_pads(m, path):
        k, d = m.kernel_size, m.dilation
        if isinstance(m.padding, str):
            if m.padding == "valid":
                return [0] * (2 * len(k))
            total = [di * (ki - 1) for ki, di in zip(k, d)]      # 'same', extra on the right
            return [t // 2 for t in total] + [t - t // 2 for t in total]
        return list(m.padding) * 2

    @register_converter(nn.Conv1d)
    @register_converter(nn.Conv2d)
    @register_converter(nn.Conv3d)
    def _conv(g, m, x, y, path):
        if m.padding_mode != "zeros":
            _unsupported(m, path, f"padding_mode={m.padding_mode!r}")
        inputs = [x.name, g.param(path, "weight", _arr(m.weight))]
        if m.bias is not None:
            inputs.append(g.param(path, "bias", _arr(m.bias)))
        return g.op("Conv", inputs, kernel_shape=list(m.kernel_size), strides=list(m.stride),
                    pads=conv_pads(m, path), dilations=list(m.dilation), group=m.groups)

    @register_converter(_ConvTransposeNd)
    def _conv_transpose(g, m, x, y, path):
        inputs = [x.name, g.param(path, "weight", _arr(m.weight))]
        if m.bias is not None:
            inputs.append(g.param(path, "bias", _arr(m.bias)))
        return g.op("ConvTranspose", inputs, kernel_shape=list(m.kernel_size),
                    strides=list(m.stride), pads=list(m.padding) * 2,
                    output_padding=list(m.output_padding), dilations=list(m.dilation),
                    group=m.groups)
    for cls in (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d):
        _CONVERTERS[cls] = _Converter(cls, _conv_transpose, False)  # their own forward

    def spatial(v, n):
        return [int(v)] * n if isinstance(v, int) else [int(a) for a in v]

    @register_converter(_MaxPoolNd)
    def _maxpool(g, m, x, y, path):
        if m.return_indices:
            _unsupported(m, path, "return_indices=True")
        n = x.tensor.ndim - 2
        return g.op("MaxPool", [x.name], kernel_shape=spatial(m.kernel_size, n),
                    strides=spatial(m.stride, n), pads=spatial(m.padding, n) * 2,
                    dilations=spatial(m.dilation, n), ceil_mode=int(m.ceil_mode))
    for cls in (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d):
        _CONVERTERS[cls] = _Converter(cls, _maxpool, False)

    def _avgpool(g, m, x, y, path):
        if getattr(m, "divisor_override", None):
            _unsupported(m, path, "divisor_override")
        n = x.tensor.ndim - 2
        return g.op("AveragePool", [x.name], kernel_shape=spatial(m.kernel_size, n),
                    strides=spatial(m.stride, n), pads=spatial(m.padding, n) * 2,
                    ceil_mode=int(m.ceil_mode), count_include_pad=int(m.count_include_pad))
    for cls in (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d):
        register_converter(cls)(_avgpool)

    def adaptive(global_op, op):
        def fn(g, m, x, y, path):
            if getattr(m, "return_indices", False):
                _unsupported(m, path, "return_indices=True")
            n = x.tensor.ndim - 2
            outs = spatial(m.output_size, n) if m.output_size is not None else None
            ins = list(x.shape[2:])
            if outs is not None and all(o == 1 for o in outs):
                return g.op(global_op, [x.name])
            if outs is None or any(o is None or i % o for i, o in zip(ins, outs)):
                _unsupported(m, path, f"adaptive pooling of size {tuple(ins)} to "
                                      f"{m.output_size} (not a whole number of windows)")
            k = [i // o for i, o in zip(ins, outs)]
            return g.op(op, [x.name], kernel_shape=k, strides=k)
        return fn
    for cls in (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d):
        register_converter(cls)(adaptive("GlobalAveragePool", "AveragePool"))
    for cls in (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d):
        register_converter(cls)(adaptive("GlobalMaxPool", "MaxPool"))

    def _pad(g, m, x, y, path):
        """The padding layers as one ``Pad`` node; ONNX lists all begins, then all ends."""
        onnx_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge",
                     "circular": "wrap"}[m._mode]
        if onnx_mode == "wrap" and g.opset < 19:
            _unsupported(m, path, "circular padding before opset 19 (ONNX Pad mode 'wrap')")
        n, lead = len(m.padding) // 2, x.tensor.ndim - len(m.padding) // 2
        begins = [0] * lead + [m.padding[2 * (n - 1 - i)] for i in range(n)]
        ends = [0] * lead + [m.padding[2 * (n - 1 - i) + 1] for i in range(n)]
        inputs = [x.name, g.ints(begins + ends, "pads")]
        if onnx_mode == "constant":
            inputs.append(g.const(np.array(getattr(m, "value", 0.0), _arr(y).dtype), "value"))
        return g.op("Pad", inputs, mode=onnx_mode)
    for name in padding_layers.__all__:
        register_converter(getattr(padding_layers, name))(_pad)

    @register_converter(nn.BatchNorm3d)
    @register_converter(nn.BatchNorm2d)
    @register_converter(nn.BatchNorm1d)
    @register_converter(_BatchNorm)
    def _batchnorm(g, m, x, y, path):
        b = m._buffers
        if b.get("running_mean") is None:
            _unsupported(m, path, "track_running_stats=False (batch statistics in eval)")
        c = m.num_features
        dt = _arr(b["running_mean"]).dtype
        w = getattr(m, "weight", None)
        scale = _arr(w) if w is not None else np.ones(c, dt)
        bias = _arr(m.bias) if getattr(m, "bias", None) is not None else np.zeros(c, dt)
        return g.op("BatchNormalization",
                    [x.name, g.param(path, "weight", scale), g.param(path, "bias", bias),
                     g.param(path, "running_mean", _arr(b["running_mean"])),
                     g.param(path, "running_var", _arr(b["running_var"]))],
                    epsilon=float(m.eps))

    # nn.utils.fuse's modules (and ResNet's first BatchNorm): the nodes of the pair they
    # replace, the ReLU after the BatchNorm or after the max pool (the two orders agree)
    def _then_relu(convert):
        def fn(g, m, x, y, path):
            return g.op("Relu", [convert(g, m, x, y, path)])
        return fn
    for cls in (nn.BatchNormReLU1d, nn.BatchNormReLU2d, nn.BatchNormReLU3d):
        _CONVERTERS[cls] = _Converter(cls, _then_relu(_batchnorm), False)
    for cls in (nn.ReLUMaxPool1d, nn.ReLUMaxPool2d):
        _CONVERTERS[cls] = _Converter(cls, _then_relu(_maxpool), False)

    @register_converter(nn.LayerNorm)
    def _layernorm(g, m, x, y, path):
        shape = m.normalized_shape
        dt = _arr(y).dtype
        w = getattr(m, "weight", None)
        b = getattr(m, "bias", None)
        scale = _arr(w) if w is not None else np.ones(shape, dt)
        bias = _arr(b) if b is not None else np.zeros(shape, dt)
        return g.op("LayerNormalization",
                    [x.name, g.param(path, "weight", scale), g.param(path, "bias", bias)],
                    axis=-len(shape), epsilon=float(m.eps))

    @register_converter(nn.Embedding)
    def _embedding(g, m, x, y, path):
        if m.max_norm is not None:
            _unsupported(m, path, "max_norm (renormalizing rows in place)")
        return g.op("Gather", [g.param(path, "weight", _arr(m.weight)), x.name], axis=0)

    @register_converter(nn.TransformerEncoderLayer, composite=True)
    def _encoder_layer(g, m, x, path):
        # post-norm: x = norm1(x + sa(x)); x = norm2(x + ff(x)); pre-norm adds sa(norm1(x))
        def sa(v):
            return _self_attention(g, m.self_attn, v, sub(path, "self_attn"))

        def ff(v):
            h = _apply_activation(g, m, g.convert(m.linear1, v, sub(path, "linear1")), path)
            return g.convert(m.linear2, h, sub(path, "linear2"))   # dropouts: identity
        if m.norm_first:
            x = add(g, x, sa(g.convert(m.norm1, x, sub(path, "norm1"))))
            return add(g, x, ff(g.convert(m.norm2, x, sub(path, "norm2"))))
        x = g.convert(m.norm1, add(g, x, sa(x)), sub(path, "norm1"))
        return g.convert(m.norm2, add(g, x, ff(x)), sub(path, "norm2"))

    @register_converter(nn.TransformerEncoder, composite=True)
    def _encoder(g, m, x, path):
        for i, layer in enumerate(m.layers):
            x = g.convert(layer, x, sub(path, f"layers.{i}"))
        if m.norm is not None:
            x = g.convert(m.norm, x, sub(path, "norm"))
        return x

    @register_converter(RNNBase)
    def _rnn(g, m, x, y, path):
        return _convert_rnn(g, m, x, path)
    for cls in (nn.RNN, nn.LSTM, nn.GRU):
        _CONVERTERS[cls] = _Converter(cls, _rnn, False)


def _apply_activation(g: _Graph, layer, v: _Value, path: str) -> _Value:
    """A transformer layer's activation: the functions ``'relu'``/``'gelu'`` name, or a
    module."""
    from lamina.nn.functional import gelu
    from lamina.nn.modules.transformer import _relu
    act = layer.activation
    if isinstance(act, Module):
        return g.convert(act, v, f"{path}.activation")
    if act is _relu:
        return _Value(g.op("Relu", [v.name]), act(v.tensor))
    if act is gelu:
        from lamina.nn import GELU
        return g.convert(GELU(), v, f"{path}.activation")
    _unsupported(layer, path, f"the activation function {getattr(act, '__name__', act)!r}")


def _self_attention(g: _Graph, m, x: _Value, path: str) -> _Value:
    """``MultiheadAttention(x, x, x)`` without masks: softmax(q k^T / sqrt(D)) v per head,
    then ``out_proj``; returns the attention output (not the weights)."""
    if not m._qkv_same_embed_dim or m.bias_k is not None or m.add_zero_attn:
        _unsupported(m, path, "kdim/vdim, add_bias_kv or add_zero_attn")
    y = m(x.tensor, x.tensor, x.tensor, need_weights=False)[0]
    E, H, D = m.embed_dim, m.num_heads, m.head_dim
    name = x.name
    batched = x.tensor.ndim == 3
    if not batched:
        name = g.op("Unsqueeze", [name, g.ints([0], "axes")])
    elif not m.batch_first:
        name = g.op("Transpose", [name], perm=[1, 0, 2])          # (L, N, E) -> (N, L, E)
    qkv = g.op("MatMul", [name, g.param(path, "in_proj_weight_t", _arr(m.in_proj_weight).T)])
    if m.in_proj_bias is not None:
        qkv = g.op("Add", [qkv, g.param(path, "in_proj_bias", _arr(m.in_proj_bias))])
    # (N, L, 3E) -> (N, L, 3, H, D) -> (3, N, H, L, D)
    qkv = g.op("Transpose", [g.op("Reshape", [qkv, g.ints([0, 0, 3, H, D])])],
               perm=[2, 0, 3, 1, 4])
    q, k, v = (g.op("Gather", [qkv, g.ints(i, "index")], axis=0) for i in range(3))
    scores = g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])])
    scale = np.array(1.0 / math.sqrt(D), dtype=_arr(y).dtype)
    attn = g.op("Softmax", [g.op("Mul", [scores, g.const(scale, "scale")])], axis=-1)
    out = g.op("Transpose", [g.op("MatMul", [attn, v])], perm=[0, 2, 1, 3])  # (N, L, H, D)
    out = g.op("Reshape", [out, g.ints([0, 0, E])])
    proj = m.out_proj
    out = g.op("MatMul", [out, g.param(f"{path}.out_proj", "weight_t", _arr(proj.weight).T)])
    if proj.bias is not None:
        out = g.op("Add", [out, g.param(f"{path}.out_proj", "bias", _arr(proj.bias))])
    if not batched:
        out = g.op("Squeeze", [out, g.ints([0], "axes")])
    elif not m.batch_first:
        out = g.op("Transpose", [out], perm=[1, 0, 2])
    return _Value(out, y)


# PyTorch stacks gate blocks as LSTM i, f, g, o and GRU r, z, n; ONNX wants LSTM i, o, f, c
# and GRU z, r, h. Each entry: PyTorch's block index for ONNX's block k.
_GATE_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN_TANH": [0], "RNN_RELU": [0]}
_ONNX_OP = {"LSTM": "LSTM", "GRU": "GRU", "RNN_TANH": "RNN", "RNN_RELU": "RNN"}


def _reorder(w: np.ndarray, mode: str, hidden: int) -> np.ndarray:
    blocks = [w[k * hidden:(k + 1) * hidden] for k in range(len(_GATE_ORDER[mode]))]
    return np.concatenate([blocks[k] for k in _GATE_ORDER[mode]], axis=0)


def _convert_rnn(g: _Graph, m, x: _Value, path: str):
    """One ONNX LSTM/GRU/RNN node per layer (both directions in one node), in the
    sequence-first layout; returns ``(output, h_n)`` or ``(output, (h_n, c_n))``."""
    mode, hsz = m.mode, m.hidden_size
    ndir = 2 if m.bidirectional else 1
    lstm = mode == "LSTM"
    name = x.name
    batched = x.tensor.ndim == 3
    if not batched:
        name = g.op("Unsqueeze", [name, g.ints([1], "axes")])
    elif m.batch_first:
        name = g.op("Transpose", [name], perm=[1, 0, 2])
    attrs = {"hidden_size": hsz,
             "direction": "bidirectional" if m.bidirectional else "forward"}
    if mode == "GRU":
        attrs["linear_before_reset"] = 1      # PyTorch: n = tanh(W x + b + r * (U h + b_hn))
    if mode in ("RNN_TANH", "RNN_RELU"):
        attrs["activations"] = ["Tanh" if mode == "RNN_TANH" else "Relu"] * ndir
    hs, cs = [], []
    for layer in range(m.num_layers):
        dirs = m._layer_weights(layer)
        sfx = f"_l{layer}"
        W = np.stack([_reorder(_arr(w_ih), mode, hsz) for w_ih, _, _, _ in dirs])
        R = np.stack([_reorder(_arr(w_hh), mode, hsz) for _, w_hh, _, _ in dirs])
        inputs = [name, g.param(path, "W" + sfx, W), g.param(path, "R" + sfx, R)]
        if m.bias:
            B = np.stack([np.concatenate([_reorder(_arr(b_ih), mode, hsz),
                                          _reorder(_arr(b_hh), mode, hsz)])
                          for _, _, b_ih, b_hh in dirs])
            inputs.append(g.param(path, "B" + sfx, B))
        outs = g.op(_ONNX_OP[mode], inputs, n_out=3 if lstm else 2, **attrs)
        # Y (seq, ndir, batch, hidden) -> (seq, batch, ndir * hidden), PyTorch's layout
        y = g.op("Transpose", [outs[0]], perm=[0, 2, 1, 3])
        name = g.op("Reshape", [y, g.ints([0, 0, -1])])
        hs.append(outs[1])
        if lstm:
            cs.append(outs[2])

    def stack(states):
        return states[0] if len(states) == 1 else g.op("Concat", states, axis=0)
    h_n = stack(hs)
    c_n = stack(cs) if lstm else None
    if not batched:
        axes = g.ints([1], "axes")
        name = g.op("Squeeze", [name, axes])
        h_n = g.op("Squeeze", [h_n, axes])
        c_n = g.op("Squeeze", [c_n, axes]) if lstm else None
    elif m.batch_first:
        name = g.op("Transpose", [name], perm=[1, 0, 2])
    return (name, (h_n, c_n)) if lstm else (name, h_n)


_register_all()


# --- export ---------------------------------------------------------------------------------

_DTYPES = {np.dtype(np.float32): 1, np.dtype(np.float64): 11, np.dtype(np.int64): 7,
           np.dtype(np.int32): 6, np.dtype(np.float16): 10}


def _flatten(obj) -> list:
    if isinstance(obj, (_Value, Tensor)):
        return [obj]
    out = []
    for o in obj:
        if o is not None:
            out += _flatten(o)
    return out


def _axes_of(spec, owner: str, ndim: int) -> dict[int, str]:
    """``dynamic_axes`` entry -> {axis: dim name}; a list gets torch's generated names."""
    if isinstance(spec, dict):
        items = [(int(a), str(n)) for a, n in spec.items()]
    elif isinstance(spec, (list, tuple)):
        items = [(int(a), f"{owner}_dynamic_axes_{k + 1}") for k, a in enumerate(spec)]
    else:
        raise LaminaTypeError(f"lamina.onnx.export: dynamic_axes[{owner!r}] must be a list of axes "
                              f"or a dict {{axis: name}}, got {type(spec).__name__}")
    out = {}
    for a, n in items:
        if not -ndim <= a < ndim:
            raise LaminaValueError(f"lamina.onnx.export: dynamic axis {a} of {owner!r} is out of "
                                   f"range for its {ndim} dimensions")
        out[a % ndim] = n
    return out


def export(model: Module, args, f, export_params: bool = True, verbose: bool = False,
           input_names: list[str] | None = None, output_names: list[str] | None = None,
           opset_version: int | None = 17, dynamic_axes: dict | None = None,
           do_constant_folding: bool = True, check: bool = True):
    """Write ``model`` as an ONNX file (the shape of ``torch.onnx.export``).

    The model is exported in eval mode (Dropout the identity, BatchNorm on its running
    statistics) and its training flags are restored afterwards. ``args`` runs through the
    model once, alongside the conversion, for the shapes of every layer.

    Args:
        model: an ``nn.Module`` built from supported layers (:func:`supported_modules`):
            ``nn.Sequential`` and the model zoo's ``LeNet5``, ``mlp``, ``ResNet``; a module
            with its own ``forward`` raises :class:`UnsupportedModuleError` naming it.
        args: the example input: a Tensor, or a tuple holding one Tensor (float32, or int64
            indices for an ``Embedding``).
        f: a path, or a binary file object to write to.
        export_params: must be True (the weights are always stored in the file).
        verbose: print the graph (``onnx.helper.printable_graph``).
        input_names / output_names: names of the graph's inputs and outputs (default
            ``input``/``output``, numbered when there are several: ``output_0`` ...).
        opset_version: the ONNX opset, 17 or later (GELU is one ``Gelu`` node from 20 on,
            the erf formula before).
        dynamic_axes: ``{name: [axes]}`` or ``{name: {axis: dim_name}}`` for inputs and
            outputs whose sizes vary, e.g. ``{"input": {0: "batch"}, "output": {0: "batch"}}``.
        do_constant_folding: accepted for compatibility (the graph has nothing to fold).
        check: run ``onnx.checker.check_model`` (with shape inference) on the result.

    Returns:
        The ``onnx.ModelProto`` written.

    >>> model = lamina.models.mlp(4, [16], 3)
    >>> lamina.onnx.export(model, lamina.randn(2, 4), "mlp.onnx",
    ...                    dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    """
    onnx = _require_onnx()
    helper = onnx.helper
    if not isinstance(model, Module):
        raise LaminaTypeError(f"lamina.onnx.export: model must be an nn.Module, got "
                              f"{type(model).__name__}")
    if not export_params:
        raise LaminaValueError("lamina.onnx.export: export_params=False is not supported (the "
                               "weights are stored as initializers)")
    opset = 17 if opset_version is None else int(opset_version)
    max_opset = onnx.defs.onnx_opset_version()
    if not _MIN_OPSET <= opset <= max_opset:
        raise LaminaValueError(f"lamina.onnx.export: opset_version must be in [{_MIN_OPSET}, "
                               f"{max_opset}], got {opset_version!r}")
    if isinstance(args, Tensor):
        args = (args,)
    if not isinstance(args, (tuple, list)) or not args or \
            not all(isinstance(a, Tensor) for a in args):
        raise LaminaTypeError("lamina.onnx.export: args must be a Tensor or a tuple of Tensors, "
                              "got "
                              f"{type(args).__name__}")
    if len(args) != 1:
        raise LaminaValueError(f"lamina.onnx.export: models with one input are supported, got "
                               f"{len(args)} inputs")
    input_names = list(input_names or [])
    defaults = ["input"] if len(args) == 1 else [f"input_{i}" for i in range(len(args))]
    input_names += defaults[len(input_names):]

    g = _Graph(opset)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            x = _Value(input_names[0], args[0])
            g._used.add(x.name)
            result = g.convert(model, x, "")
            reference = model(*args)
    finally:
        for m, mode in modes:
            m.training = mode
    outs = _flatten(result)
    refs = _flatten(reference)
    if [o.shape for o in outs] != [tuple(r.shape) for r in refs]:
        raise LaminaValueError(f"lamina.onnx.export: the graph's outputs have shapes "
                               f"{[o.shape for o in outs]}, the model's {[r.shape for r in refs]}"
                               f" (a converter does not match its module's forward)")
    output_names = list(output_names or [])
    defaults = ["output"] if len(outs) == 1 else [f"output_{i}" for i in range(len(outs))]
    output_names += defaults[len(output_names):]
    if len(output_names) > len(outs):
        raise LaminaValueError(f"lamina.onnx.export: {len(output_names)} output_names for "
                               f"{len(outs)} outputs")

    dynamic_axes = dict(dynamic_axes or {})
    known = set(input_names) | set(output_names)
    for k in dynamic_axes:
        if k not in known:
            raise LaminaValueError(f"lamina.onnx.export: dynamic_axes names {k!r}, which is "
                                   f"neither "
                                   f"an input nor an output ({', '.join(sorted(known))})")
    any_dynamic_input = any(n in dynamic_axes for n in input_names)

    def value_info(name, tensor, is_input):
        arr = _arr(tensor)
        if arr.dtype not in _DTYPES:
            raise LaminaTypeError(f"lamina.onnx.export: {name!r} has dtype {arr.dtype}, which is "
                                  f"not "
                                  f"exported")
        axes = _axes_of(dynamic_axes[name], name, arr.ndim) if name in dynamic_axes else {}
        shape = []
        for i, s in enumerate(arr.shape):
            if i in axes:
                shape.append(axes[i])
            elif is_input or not any_dynamic_input:
                shape.append(int(s))
            else:
                shape.append(None)          # may follow a dynamic input axis
        return helper.make_tensor_value_info(name, _DTYPES[arr.dtype], shape)

    for o, name in zip(outs, output_names):   # rename each output value to its given name
        g.nodes.append(helper.make_node("Identity", [o.name], [name], name=f"{name}_identity"))
    graph = helper.make_graph(
        g.nodes, type(model).__name__,
        [value_info(n, a, True) for n, a in zip(input_names, args)],
        [value_info(n, o.tensor, False) for n, o in zip(output_names, outs)],
        initializer=g.initializers)
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="lamina",
                              ir_version=helper.find_min_ir_version_for(opsets))
    if check:
        onnx.checker.check_model(proto, full_check=True)
    if verbose:
        print(helper.printable_graph(proto.graph))
    data = proto.SerializeToString()
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            fh.write(data)
    elif hasattr(f, "write"):
        f.write(data)
    else:
        raise LaminaTypeError(f"lamina.onnx.export: f must be a path or a binary file object, got "
                              f"{type(f).__name__}")
    return proto
