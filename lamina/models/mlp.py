"""Fully connected models: ``mlp`` (a multilayer perceptron builder) and the one-layer
``linear``, ``logistic`` and ``softmax`` models."""

from __future__ import annotations

from collections.abc import Sequence

from lamina import nn
from lamina.errors import LaminaValueError
from lamina.nn.modules.residual import make_activation

__all__ = ["mlp", "linear", "logistic", "softmax"]


def _check_int(value, name: str, owner: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise LaminaValueError(f"{owner}: {name} must be an int >= {low}, got {value!r}")
    return value


def mlp(in_features: int, hidden: Sequence[int], out_features: int,
        activation="relu", dropout: float = 0.0, batch_norm: bool = False) -> nn.Sequential:
    """A multilayer perceptron as an ``nn.Sequential``.

    For every width ``h`` in ``hidden``, in order: ``Linear(previous, h)``, then
    ``BatchNorm1d(h)`` (when ``batch_norm``), the activation, then ``Dropout(dropout)`` (when
    ``dropout > 0``); finally ``Linear(previous, out_features)`` with no activation (the
    output is logits or a regression value: put the softmax/sigmoid in the loss).

    Shapes, batch N, e.g. ``mlp(784, [256, 128], 10)``::

        input                    (N, 784)
        0  Linear(784, 256)      (N, 256)
        1  ReLU                  (N, 256)
        2  Linear(256, 128)      (N, 128)
        3  ReLU                  (N, 128)
        4  Linear(128, 10)       (N, 10)

    The children are numbered as in the same ``torch.nn.Sequential``, so state_dict keys
    (``0.weight``, ``2.weight``, ``4.bias``, ...) match PyTorch's. The model runs as written;
    with ``batch_norm`` and ReLU, ``nn.utils.fuse(model)`` returns a copy that runs each
    BatchNorm1d and its ReLU as one op (same values, gradients and keys).

    Args:
        in_features: input size.
        hidden: the hidden widths (an int for one layer; empty: a single linear layer).
        out_features: output size.
        activation: a name (``'relu'``, ``'tanh'``, ``'sigmoid'``, ``'gelu'``, ...) or a
            Module class, instantiated once per hidden layer.
        dropout: dropout probability after each hidden activation (0: no Dropout layers).
        batch_norm: a BatchNorm1d between each hidden Linear and its activation.

    >>> model = mlp(784, [256, 128], 10, dropout=0.2)
    >>> model(lamina.randn(32, 784)).shape
    (32, 10)
    """
    _check_int(in_features, "in_features", "mlp")
    _check_int(out_features, "out_features", "mlp")
    if isinstance(hidden, int):
        hidden = [hidden]
    hidden = list(hidden)
    for h in hidden:
        _check_int(h, "every hidden width", "mlp")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or \
            not 0.0 <= dropout < 1.0:
        raise LaminaValueError(f"mlp: dropout must be a probability in [0, 1), got {dropout!r}")
    layers = []
    prev = in_features
    for h in hidden:
        layers.append(nn.Linear(prev, h))
        if batch_norm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(make_activation(activation, "mlp"))
        if dropout:
            layers.append(nn.Dropout(dropout))
        prev = h
    layers.append(nn.Linear(prev, out_features))
    return nn.Sequential(*layers)


def linear(in_features: int, out_features: int = 1) -> nn.Linear:
    """Linear regression: ``Linear(in_features, out_features)``; (N, in) -> (N, out).
    Train with ``nn.MSELoss``."""
    _check_int(in_features, "in_features", "linear")
    _check_int(out_features, "out_features", "linear")
    return nn.Linear(in_features, out_features)


def logistic(in_features: int) -> nn.Linear:
    """Logistic regression: ``Linear(in_features, 1)``; (N, in) -> (N, 1) logits, the log-odds
    of class 1. Train with ``nn.BCEWithLogitsLoss`` (which applies the sigmoid); the
    probability is ``output.sigmoid()``."""
    _check_int(in_features, "in_features", "logistic")
    return nn.Linear(in_features, 1)


def softmax(in_features: int, num_classes: int) -> nn.Linear:
    """Softmax (multinomial logistic) regression: ``Linear(in_features, num_classes)``;
    (N, in) -> (N, num_classes) logits. Train with ``nn.CrossEntropyLoss`` (which applies
    log-softmax); the probabilities are ``output.softmax(-1)``."""
    _check_int(in_features, "in_features", "softmax")
    _check_int(num_classes, "num_classes", "softmax", low=2)
    return nn.Linear(in_features, num_classes)
