"""``import_model(f)``: an ONNX graph that is a chain of layers, as an ``nn.Sequential``.

The inverse of :func:`lamina.onnx.export` for sequential models: each node (or the
``MatMul`` + ``Add`` pair of a linear layer) becomes one lamina module with the
initializers as its weights. A graph with branches (residual adds), several inputs, or an
operator without a lamina module raises ``UnsupportedModuleError`` naming the node.
"""

from __future__ import annotations

import os

import numpy as np

from lamina.onnx.exporter import UnsupportedModuleError, _require_onnx

__all__ = ["import_model"]


def _attrs(node) -> dict:
    onnx = _require_onnx()
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v     # string attributes
    return out


def _set(param, array) -> None:
    param._data[...] = np.asarray(array, dtype=param._data.dtype).reshape(param._data.shape)


def import_model(f):
    """Build an ``nn.Sequential`` from an ONNX model whose nodes form one chain.

    Args:
        f: a path, a binary file object or an ``onnx.ModelProto``.

    Returns:
        The ``nn.Sequential`` (in eval mode), its children numbered in graph order.

    >>> lamina.onnx.export(mlp(4, [8], 3), lamina.randn(2, 4), "mlp.onnx")
    >>> model = lamina.onnx.import_model("mlp.onnx")
    """
    onnx = _require_onnx()
    from lamina import nn

    if isinstance(f, (str, os.PathLike)):
        proto = onnx.load(os.fspath(f))
    elif hasattr(f, "read"):
        proto = onnx.load_model_from_string(f.read())
    else:
        proto = f
    graph = proto.graph
    init = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in init]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise UnsupportedModuleError(f"lamina.onnx.import_model: graphs with one input and one "
                                     f"output are supported, got {len(inputs)} and "
                                     f"{len(graph.output)}")
    rank = len(inputs[0].type.tensor_type.shape.dim)
    current = inputs[0].name
    layers = []
    nodes = list(graph.node)
    i = 0

    def fail(node, what="has no lamina module"):
        raise UnsupportedModuleError(f"lamina.onnx.import_model: node {node.name or i} "
                                     f"({node.op_type}) {what}")

    while i < len(nodes):
        node = nodes[i]
        a = _attrs(node)
        data = [n for n in node.input if n and n not in init]
        if data != [current]:
            fail(node, f"does not continue the chain (its inputs {list(node.input)}; a graph "
                       f"with branches needs its own model class)")
        op = node.op_type
        w = [init.get(n) for n in node.input[1:]]
        if op == "Gemm":
            if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
                fail(node, "has transA/alpha/beta other than a linear layer's")
            weight = w[0] if a.get("transB", 0) else w[0].T
            m = nn.Linear(weight.shape[1], weight.shape[0], bias=len(w) > 1 and w[1] is not None)
            _set(m.weight, weight)
            if m.bias is not None:
                _set(m.bias, w[1])
        elif op == "MatMul":
            weight = w[0].T
            nxt = nodes[i + 1] if i + 1 < len(nodes) else None
            bias = None
            if nxt is not None and nxt.op_type == "Add" and node.output[0] in nxt.input:
                other = [n for n in nxt.input if n != node.output[0]]
                if len(other) == 1 and other[0] in init:
                    bias = init[other[0]]
                    i += 1
                    node = nxt
            m = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
            _set(m.weight, weight)
            if bias is not None:
                _set(m.bias, bias)
        elif op in ("Conv", "ConvTranspose"):
            weight = w[0]
            nd = weight.ndim - 2
            pads = list(a.get("pads", [0] * 2 * nd))
            if pads[:nd] != pads[nd:]:
                fail(node, "has asymmetric padding")
            groups = a.get("group", 1)
            kw = dict(stride=tuple(a.get("strides", [1] * nd)), padding=tuple(pads[:nd]),
                      dilation=tuple(a.get("dilations", [1] * nd)), groups=groups,
                      bias=len(w) > 1 and w[1] is not None)
            if op == "Conv":
                cls = {1: nn.Conv1d, 2: nn.Conv2d}.get(nd) or fail(node, f"is {nd}-D")
                m = cls(weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]), **kw)
            else:
                cls = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d}.get(nd) or \
                    fail(node, f"is {nd}-D")
                m = cls(weight.shape[0], weight.shape[1] * groups, tuple(weight.shape[2:]),
                        output_padding=tuple(a.get("output_padding", [0] * nd)), **kw)
            _set(m.weight, weight)
            if m.bias is not None:
                _set(m.bias, w[1])
        elif op in ("MaxPool", "AveragePool"):
            k = tuple(a["kernel_shape"])
            nd = len(k)
            pads = list(a.get("pads", [0] * 2 * nd))
            if pads[:nd] != pads[nd:]:
                fail(node, "has asymmetric padding")
            kw = dict(stride=tuple(a.get("strides", [1] * nd)), padding=tuple(pads[:nd]),
                      ceil_mode=bool(a.get("ceil_mode", 0)))
            if op == "MaxPool":
                cls = {1: nn.MaxPool1d, 2: nn.MaxPool2d}[nd]
                m = cls(k, dilation=tuple(a.get("dilations", [1] * nd)), **kw)
            else:
                cls = {1: nn.AvgPool1d, 2: nn.AvgPool2d}[nd]
                m = cls(k, count_include_pad=bool(a.get("count_include_pad", 0)), **kw)
        elif op in ("GlobalAveragePool", "GlobalMaxPool"):
            avg = op == "GlobalAveragePool"
            cls = {3: (nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d),
                   4: (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)}.get(rank)
            if cls is None:
                fail(node, f"on a rank-{rank} input")
            m = cls[0 if avg else 1](1)
        elif op == "BatchNormalization":
            scale, bias, mean, var = w
            cls = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d,
                   5: nn.BatchNorm3d}[rank]
            m = cls(scale.shape[0], eps=a.get("epsilon", 1e-5))
            for p, v in ((m.weight, scale), (m.bias, bias), (m.running_mean, mean),
                         (m.running_var, var)):
                _set(p, v)
        elif op == "LayerNormalization":
            scale = w[0]
            axis = a.get("axis", -1)
            if axis % rank != rank - scale.ndim:
                fail(node, "normalizes other axes than its scale's")
            m = nn.LayerNorm(scale.shape, eps=a.get("epsilon", 1e-5))
            _set(m.weight, scale)
            if len(w) > 1 and w[1] is not None:
                _set(m.bias, w[1])
        elif op == "Flatten":
            if a.get("axis", 1) != 1:
                fail(node, "flattens from an axis other than 1")
            m = nn.Flatten()
            rank = 2
        elif op == "Relu":
            m = nn.ReLU()
        elif op == "LeakyRelu":
            m = nn.LeakyReLU(a.get("alpha", 0.01))
        elif op == "Sigmoid":
            m = nn.Sigmoid()
        elif op == "Tanh":
            m = nn.Tanh()
        elif op == "Elu":
            m = nn.ELU(a.get("alpha", 1.0))
        elif op == "Gelu":
            m = nn.GELU(approximate=a.get("approximate", "none"))
        elif op in ("Softmax", "LogSoftmax"):
            m = (nn.Softmax if op == "Softmax" else nn.LogSoftmax)(dim=a.get("axis", -1))
        elif op in ("Identity", "Dropout"):     # no layer (Dropout: inference)
            m = None
        else:
            fail(node)
        if op == "Gemm":
            rank = 2
        if m is not None:
            layers.append(m)
        current = node.output[0]
        i += 1
    if current != graph.output[0].name:
        raise UnsupportedModuleError("lamina.onnx.import_model: the chain does not end at the "
                                     "graph's output")
    model = nn.Sequential(*layers)
    model.eval()
    return model
