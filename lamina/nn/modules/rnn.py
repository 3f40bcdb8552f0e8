"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` (multi-layer, bidirectional, batch_first,
dropout between layers) and the single-step ``RNNCell``, ``LSTMCell``, ``GRUCell``.

Each layer of a module is ONE op over the whole sequence (``lamina.ops.rnn.rnn_layer``).
Parameter names, layouts, registration order and initialization
(U(-1/sqrt(hidden), 1/sqrt(hidden)) for every weight and bias) are PyTorch's, so a PyTorch
state dict loads unchanged: ``weight_ih_l{k}`` ``(G*H, in)``, ``weight_hh_l{k}`` ``(G*H, H)``,
``bias_ih_l{k}``, ``bias_hh_l{k}`` and the ``_reverse`` ones; G is 4 for LSTM (gates i, f, g,
o), 3 for GRU (r, z, n), 1 for RNN.
"""

from __future__ import annotations

import math

from lamina import backend, creation
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn import init
from lamina.nn.modules.module import Module
from lamina.nn.parameter import Parameter
from lamina.nn.utils_rnn import PackedSequence, packed_forward
from lamina.ops.movement import cat
from lamina.ops.rnn import rnn_layer
from lamina.tensor import Tensor, _make

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _check_size(name, v, owner, positive=True):
    if not isinstance(v, int) or isinstance(v, bool) or v < (1 if positive else 0):
        raise LaminaValueError(f"{owner}: {name} must be a {'positive' if positive else ''} int, "
                               f"got {v!r}")


class RNNBase(Module):
    """Shared machinery of ``RNN``, ``LSTM`` and ``GRU``."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        _check_size("input_size", input_size, name)
        _check_size("hidden_size", hidden_size, name)
        _check_size("num_layers", num_layers, name)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or \
                not 0 <= dropout <= 1:
            raise LaminaValueError(f"{name}: dropout should be a number in range [0, 1] "
                                   f"representing the probability of an element being zeroed, "
                                   f"got {dropout!r}")
        if proj_size:
            raise NotImplementedError(f"{name}: proj_size is not supported")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = 0
        gates = _GATES[mode] * hidden_size
        ndir = 2 if bidirectional else 1
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size * ndir
            for d in range(ndir):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                setattr(self, "weight_ih" + sfx,
                        Parameter(creation.empty(gates, in_size, dtype=dtype)))
                setattr(self, "weight_hh" + sfx,
                        Parameter(creation.empty(gates, hidden_size, dtype=dtype)))
                if bias:
                    setattr(self, "bias_ih" + sfx, Parameter(creation.empty(gates, dtype=dtype)))
                    setattr(self, "bias_hh" + sfx, Parameter(creation.empty(gates, dtype=dtype)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """No-op, for scripts written for PyTorch's cuDNN weight packing."""

    @property
    def all_weights(self) -> list:
        """The parameters grouped per layer and direction, as in PyTorch."""
        p = self._parameters
        out = []
        for layer in range(self.num_layers):
            for sfx in ("", "_reverse")[:2 if self.bidirectional else 1]:
                names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if self.bias else ())
                out.append([p[f"{n}_l{layer}{sfx}"] for n in names])
        return out

    def _layer_weights(self, layer: int):
        p = self._parameters
        out = []
        for sfx in ("", "_reverse")[:2 if self.bidirectional else 1]:
            s = f"_l{layer}{sfx}"
            out.append((p["weight_ih" + s], p["weight_hh" + s], p.get("bias_ih" + s),
                        p.get("bias_hh" + s)))
        return out

    def _dropout(self, x: Tensor) -> Tensor:
        p = self.dropout
        if p == 1.0:
            return x * 0.0
        keep = backend.rng().random(x.shape) >= p
        return x * _make((keep / (1.0 - p)).astype(x.dtype))

    def forward(self, input: Tensor, hx=None):
        """``(output, h_n)`` (``(output, (h_n, c_n))`` for LSTM), as PyTorch's. ``input`` may
        be a ``PackedSequence`` (``nn.utils.rnn``): the output is then packed the same way
        and ``h_n`` holds each sequence's state at its own last step."""
        if isinstance(input, PackedSequence):
            return packed_forward(self, input, hx,
                                  lambda x, h0: self._run(x, h0, batch_first=False))
        return self._run(input, hx, self.batch_first)

    def _run(self, input: Tensor, hx, batch_first: bool):
        name = type(self).__name__
        lstm = self.mode == "LSTM"
        if not isinstance(input, Tensor):
            raise LaminaTypeError(f"{name}: expected a Tensor input, got {type(input).__name__}")
        if input.ndim not in (2, 3):
            raise LaminaValueError(f"{name}: expected input to be 2-D or 3-D, got "
                                   f"{input.ndim}-D of shape {tuple(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise LaminaValueError(f"{name}: input.size(-1) must be equal to input_size. "
                                   f"Expected {self.input_size}, got {input.shape[-1]}")
        batched = input.ndim == 3
        bf = batch_first
        if not batched:
            input = input.unsqueeze(1)
            bf = False
        ndir = 2 if self.bidirectional else 1
        bsz = input.shape[0] if bf else input.shape[1]
        h0 = c0 = None
        if hx is not None:
            if lstm:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise LaminaTypeError(f"{name}: hx must be a tuple (h_0, c_0)")
                h0, c0 = hx
            else:
                h0 = hx
            expect = (self.num_layers * ndir, bsz, self.hidden_size)
            for sname, s in (("h_0", h0), ("c_0", c0)):
                if s is None:
                    continue
                if not batched:
                    if s.ndim != 2:
                        raise LaminaValueError(f"{name}: for unbatched 2-D input, {sname} should "
                                               f"also be 2-D but got {s.ndim}-D")
                elif s.ndim != 3:
                    raise LaminaValueError(f"{name}: for batched 3-D input, {sname} should also "
                                           f"be 3-D but got {s.ndim}-D")
                shape = tuple(s.shape) if batched else (s.shape[0], 1, s.shape[1])
                if shape != expect:
                    raise LaminaValueError(f"{name}: expected hidden size {expect}, got "
                                           f"{tuple(s.shape)}")
            if not batched:
                h0 = h0.unsqueeze(1)
                c0 = c0.unsqueeze(1) if c0 is not None else None
        x = input
        hs, cs = [], []
        for layer in range(self.num_layers):
            sl = slice(layer * ndir, (layer + 1) * ndir)
            outs = rnn_layer(self.mode, x, self._layer_weights(layer),
                             None if h0 is None else h0[sl], None if c0 is None else c0[sl],
                             batch_first=bf)
            x = outs[0]
            hs.append(outs[1])
            if lstm:
                cs.append(outs[2])
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = self._dropout(x)
        h_n = hs[0] if len(hs) == 1 else cat(hs, 0)
        c_n = (cs[0] if len(cs) == 1 else cat(cs, 0)) if lstm else None
        if not batched:
            x = x.squeeze(1)
            h_n = h_n.squeeze(1)
            c_n = c_n.squeeze(1) if lstm else None
        return (x, (h_n, c_n)) if lstm else (x, h_n)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN, ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`` (or ReLU with
    ``nonlinearity='relu'``) over a whole sequence.

    >>> out, h_n = nn.RNN(10, 20, num_layers=2)(lamina.randn(5, 3, 10))
    >>> out.shape, h_n.shape
    ((5, 3, 20), (2, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise LaminaValueError(f"RNN: unknown nonlinearity {nonlinearity!r}, expected 'tanh' "
                                   "or 'relu'")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype=dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory over a whole sequence; ``forward(input, (h_0, c_0))`` returns
    ``output, (h_n, c_n)`` shaped as PyTorch's.

    >>> out, (h, c) = nn.LSTM(32, 128, batch_first=True)(lamina.randn(4, 10, 32))
    >>> out.shape, h.shape
    ((4, 10, 128), (1, 4, 128))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, dtype=dtype)


class GRU(RNNBase):
    """Gated recurrent unit over a whole sequence (PyTorch's gates r, z, n with ``b_hn``
    inside ``r * (W_hn h + b_hn)``).

    >>> out, h_n = nn.GRU(8, 16, bidirectional=True)(lamina.randn(5, 2, 8))
    >>> out.shape, h_n.shape
    ((5, 2, 32), (2, 2, 16))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, dtype=dtype)


class RNNCellBase(Module):
    """One time step; runs the sequence op on a length-1 sequence (same kernels)."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, bias: bool = True,
                 dtype=None):
        super().__init__()
        name = type(self).__name__
        _check_size("input_size", input_size, name)
        _check_size("hidden_size", hidden_size, name)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        gates = _GATES[mode] * hidden_size
        self.weight_ih = Parameter(creation.empty(gates, input_size, dtype=dtype))
        self.weight_hh = Parameter(creation.empty(gates, hidden_size, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(creation.empty(gates, dtype=dtype))
            self.bias_hh = Parameter(creation.empty(gates, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def _step(self, input, h, c):
        name = type(self).__name__
        if not isinstance(input, Tensor) or input.ndim not in (1, 2):
            raise LaminaValueError(f"{name}: expected input to be 1-D or 2-D, got "
                                   f"{getattr(input, 'shape', type(input).__name__)}")
        if input.shape[-1] != self.input_size:
            raise LaminaValueError(f"{name}: input has inconsistent input_size: got "
                                   f"{input.shape[-1]} expected {self.input_size}")
        batched = input.ndim == 2
        if not batched:
            input = input.unsqueeze(0)
            h = None if h is None else h.unsqueeze(0)
            c = None if c is None else c.unsqueeze(0)
        bsz = input.shape[0]
        for sname, s in (("hx", h), ("cx", c)):
            if s is not None and tuple(s.shape) != (bsz, self.hidden_size):
                want = (bsz, self.hidden_size) if batched else (self.hidden_size,)
                raise LaminaValueError(f"{name}: expected {sname} of shape {want}, got "
                                       f"{tuple(s.shape) if batched else tuple(s.shape[1:])}")
        p = self._parameters
        outs = rnn_layer(self.mode, input.unsqueeze(0),
                         [(p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"])],
                         None if h is None else h.unsqueeze(0),
                         None if c is None else c.unsqueeze(0))
        res = [o.squeeze(0) for o in outs[1:]]
        if not batched:
            res = [r.squeeze(0) for r in res]
        return res

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        return s


class RNNCell(RNNCellBase):
    """One Elman RNN step: ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`` (or ReLU)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise LaminaValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r}")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, bias, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx=None) -> Tensor:
        return self._step(input, hx, None)[0]


class LSTMCell(RNNCellBase):
    """One LSTM step: ``forward(input, (h, c))`` returns ``(h', c')``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__("LSTM", input_size, hidden_size, bias, dtype=dtype)

    def forward(self, input: Tensor, hx=None):
        h, c = (None, None) if hx is None else hx
        h2, c2 = self._step(input, h, c)
        return h2, c2


class GRUCell(RNNCellBase):
    """One GRU step: ``forward(input, h)`` returns ``h'``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__("GRU", input_size, hidden_size, bias, dtype=dtype)

    def forward(self, input: Tensor, hx=None) -> Tensor:
        return self._step(input, hx, None)[0]

