"""Ready-made models, built from ``lamina.nn`` layers, and a registry to build them by name.

* ``mlp(in_features, hidden=[...], out_features, activation, dropout, batch_norm)``: a
  multilayer perceptron (an ``nn.Sequential``);
* ``linear``, ``logistic``, ``softmax``: linear, logistic and softmax regression (one
  ``nn.Linear`` giving values or logits);
* ``LeNet5``: LeNet-5 for 1x28x28 (``padding=2``) or 1x32x32 (``padding=0``) digits;
* ``ResNet`` / ``resnet_small``: an 8-layer ResNet for 1x28x28 or 3x32x32 images;
* ``HighwayMLP``: a deep MLP of ``nn.Highway`` layers;
* ``UNet``: a small U-Net (encoder-decoder with skip connections) giving per-pixel logits,
  and ``CenterNet``: a small anchor-free single-stage detector (class heatmap and box terms
  on a stride-4 grid; ``loss`` and ``predict`` with decoding and NMS); classes only, like
  ``GPT`` (their targets are masks and boxes, not the CLI's labels);
* ``GPT``: a small decoder-only transformer language model (pre-norm causal blocks, tied
  input and output embeddings) with ``generate`` (a class only, not in the registry: it
  takes token indices, not the CLI's feature or image inputs);
* the chart of neural networks (issue #16): ``Perceptron``, ``HopfieldNetwork``, ``RBM``,
  ``BoltzmannMachine``, ``DBN``, ``MarkovChain``, ``RBFNetwork``; the autoencoders
  ``Autoencoder``, ``DenoisingAutoencoder``, ``SparseAutoencoder``, ``VAE``; and ``GAN``
  (trained with ``lamina.train.GANTrainer``).

Every model returns logits (or regression values): the softmax or sigmoid belongs in the loss
(``nn.CrossEntropyLoss``, ``nn.BCEWithLogitsLoss``). ``get_model(name, **kwargs)`` builds a
model by name and ``available_models()`` lists the names.

>>> model = get_model("lenet5", activation="tanh")
>>> model = get_model("mlp", in_features=64, hidden=[128, 64], out_features=10)
"""

from __future__ import annotations

import inspect

from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.models.gpt import GPT
from lamina.models.highway import HighwayMLP
from lamina.models.lenet import LeNet5
from lamina.models.mlp import linear, logistic, mlp, softmax
from lamina.models.resnet import ResNet, resnet_small

__all__ = ["mlp", "linear", "logistic", "softmax", "LeNet5", "ResNet", "resnet_small",
           "HighwayMLP", "GPT", "get_model", "available_models", "register_model"]

_REGISTRY: dict = {
    "mlp": mlp,
    "lenet5": LeNet5,
    "resnet-small": resnet_small,
    "highway-mlp": HighwayMLP,
    "logistic": logistic,
    "linear": linear,
    "softmax": softmax,
}

_ALIASES = {"lenet": "lenet5", "lenet-5": "lenet5", "resnet": "resnet-small",
            "resnet8": "resnet-small", "resnet-8": "resnet-small", "highway": "highway-mlp",
            "logistic-regression": "logistic", "linear-regression": "linear",
            "softmax-regression": "softmax"}


def _canonical(name: str) -> str:
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    return _ALIASES.get(key, key)


def available_models() -> list[str]:
    """The names ``get_model`` accepts, sorted."""
    return sorted(_REGISTRY)


def register_model(name: str, factory) -> None:
    """Make ``get_model(name, **kw)`` call ``factory(**kw)`` (a Module class or a function)."""
    if not isinstance(name, str) or not name.strip():
        raise LaminaValueError(f"register_model: name must be a non-empty str, got {name!r}")
    if not callable(factory):
        raise LaminaTypeError(f"register_model: factory must be callable, got "
                              f"{type(factory).__name__}")
    _REGISTRY[_canonical(name)] = factory


def get_factory(name: str):
    """``(canonical name, factory)`` for a model name (aliases and ``_``/``-`` accepted); a
    KeyError-free way for tools such as the CLI to inspect a model's constructor."""
    key = _canonical(name) if isinstance(name, str) else None
    if key not in _REGISTRY:
        raise LaminaValueError(f"get_factory: unknown model {name!r}; available models: "
                               f"{', '.join(available_models())}")
    return key, _REGISTRY[key]


def get_model(name: str, **kwargs):
    """Build the model called ``name`` (see ``available_models()``) with ``kwargs``.

    Names are case-insensitive and ``_`` equals ``-`` (``"resnet_small"`` works). An unknown
    name raises ValueError listing the valid ones; a missing or unknown argument raises
    TypeError listing the ones the model takes.

    >>> get_model("softmax", in_features=64, num_classes=10)
    Linear(in_features=64, out_features=10, bias=True)
    """
    if not isinstance(name, str):
        raise LaminaTypeError(f"get_model: name must be a str, got {type(name).__name__}")
    key = _canonical(name)
    if key not in _REGISTRY:
        raise LaminaValueError(f"get_model: unknown model {name!r}; available models: "
                               f"{', '.join(available_models())}")
    factory = _REGISTRY[key]
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):  # no signature to check against: just call
        return factory(**kwargs)
    try:
        sig.bind(**kwargs)
    except TypeError as e:
        accepted = [p.name for p in sig.parameters.values()
                    if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        raise LaminaTypeError(f"get_model({key!r}): {e}; it accepts: "
                              f"{', '.join(accepted)}") from None
    return factory(**kwargs)

# --- the chart of neural networks (issue #16) -----------------------------------------------
from lamina.models.perceptron import Perceptron  # noqa: E402

__all__ += ["Perceptron"]
from lamina.models.hopfield import HopfieldNetwork  # noqa: E402

__all__ += ["HopfieldNetwork"]
from lamina.models.boltzmann import RBM, BoltzmannMachine  # noqa: E402

__all__ += ["RBM", "BoltzmannMachine"]
from lamina.models.markov import MarkovChain  # noqa: E402

__all__ += ["MarkovChain"]
from lamina.models.rbf import RBFNetwork, kmeans  # noqa: E402

__all__ += ["RBFNetwork", "kmeans"]
from lamina.models.dbn import DBN  # noqa: E402

__all__ += ["DBN"]
from lamina.models.autoencoder import (  # noqa: E402
    Autoencoder,
    DenoisingAutoencoder,
    GaussianNoise,
    MaskingNoise,
    SparseAutoencoder,
)

__all__ += ["Autoencoder", "DenoisingAutoencoder", "SparseAutoencoder", "GaussianNoise",
            "MaskingNoise"]
from lamina.models.vae import VAE  # noqa: E402

__all__ += ["VAE"]
from lamina.models.gan import GAN  # noqa: E402

__all__ += ["GAN"]
from lamina.models.unet import UNet  # noqa: E402

__all__ += ["UNet"]
from lamina.models.detector import CenterNet  # noqa: E402

__all__ += ["CenterNet"]
