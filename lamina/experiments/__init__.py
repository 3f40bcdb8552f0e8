"""The lectures' experiments, each reproducible in one call.

Every experiment takes a seed, trains with lamina (and closed-form NumPy where the lecture's
result is about the exact minimizer), returns an ``ExperimentResult`` (``.markdown`` table,
``.data`` raw numbers, ``.plot`` PNG path or ``None`` without matplotlib) and prints nothing.
``quick=True`` shrinks data and epochs so the whole set runs in seconds (for tests); the full
size takes at most about a minute each on two cores.

>>> from lamina import experiments
>>> [name for name, _ in experiments.available()][:3]
['polynomial-degree', 'regularization', 'learning-rate']
>>> res = experiments.run("xor", seed=0, out_dir=Path("figures"))
>>> print(res.markdown)
"""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path

from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.experiments._common import ExperimentResult

__all__ = ["available", "run", "describe", "ExperimentResult"]

# name -> (module under lamina.experiments, one-line description); in lecture order
_REGISTRY: dict[str, tuple[str, str]] = {
    "polynomial-degree": ("polynomial_degree",
                          "polynomial regression, degrees 1..7: training vs testing error "
                          "(overfitting at high degree)"),
    "regularization": ("regularization",
                       "degree-7 polynomial with L2 weight lambda 0..1e5: training vs "
                       "testing error"),
    "learning-rate": ("learning_rate",
                      "gradient descent on linear regression: rate too small, right, too "
                      "large (diverges)"),
    "xor": ("xor", "XOR: a linear model fails, a two-layer MLP succeeds (decision "
                   "boundaries)"),
    "logistic": ("logistic", "logistic regression on two classes: decision boundary, "
                             "threshold 0.5 vs 0.8"),
    "optimizers": ("optimizers", "GD, SGD, momentum, Nesterov, Adagrad, RMSProp, Adadelta "
                                 "and Adam on the same network and data"),
    "overfitting": ("overfitting", "an over-sized MLP on a small training set: none, weight "
                                   "decay, dropout, early stopping, batch norm"),
    "model-selection": ("model_selection", "K-fold cross-validation and a coarse-to-fine grid "
                                           "search over lambda and hidden size"),
    "house-prices": ("house_prices", "Boston housing: linear regression and an MLP, with and "
                                     "without input standardization"),
    "digits": ("digits", "digits: softmax (logistic) regression, MLP and LeNet-5, accuracy "
                         "and misclassified examples"),
    "activations": ("activations", "sigmoid, tanh, ReLU, LeakyReLU in a deep MLP: gradient "
                                   "norms per layer and loss curves"),
    # the chart of neural networks (issue #16)
    "perceptron": ("perceptron", "Rosenblatt's perceptron: mistakes per epoch on separable "
                                 "data (Novikoff's bound) vs XOR (never converges)"),
    "rbf": ("rbf", "RBF network (k-means centres, least-squares readout) vs MLP on a 1-D "
                   "function and on XOR"),
    "hopfield": ("hopfield", "Hopfield network, N = 100: recall rate vs stored patterns, "
                             "Hebbian (capacity 0.138 N) vs pseudo-inverse"),
    "rbm": ("rbm", "RBM on binarized digits: CD-1, CD-10, PCD reconstruction error, filters, "
                   "pseudo-likelihood vs scikit-learn"),
    "dbn": ("dbn", "deep belief network: RBM pre-training vs random initialization, "
                   "fine-tuned on few labelled digits"),
    "markov-chain": ("markov_chain", "character-level Markov chain: bits per character vs "
                                     "smoothing, stationary distribution, samples"),
    "char-lm": ("char_lm", "character-level language models on Python's bundled docs: "
                           "bigram, LSTM and GPT, held-out bits per character and samples"),
    "adversarial": ("adversarial", "logistic regression on MNIST 3 vs 7 and LeNet-5 on "
                                   "10-class MNIST: accuracy vs FGSM/PGD epsilon, with and "
                                   "without adversarial training, perturbed digits"),
    "autoencoders": ("autoencoders", "autoencoder, denoising, sparse and variational "
                                     "autoencoders on digits: reconstruction, denoising, "
                                     "sparsity, 2-D codes, VAE samples"),
    "gan": ("gan", "GANs (MLP and DCGAN) on digits: sample grids over training, both losses, "
                   "a separate classifier's confidence and mode coverage"),
    # detection and segmentation (issue #18)
    "segmentation": ("segmentation", "a small U-Net segments synthetic shapes: held-out "
                                     "per-class IoU and Dice, mIoU, predicted masks"),
    "detection": ("detection", "a CenterNet-style detector finds synthetic shapes: held-out "
                               "COCO mAP at IoU 0.5 and 0.5:0.95, predicted boxes"),
    "cartpole": ("cartpole", "CartPole-v1 (Gymnasium): episodes to a 100-episode mean return "
                             "of 195 for REINFORCE, A2C and DQN, learning curves"),
    # compression and reuse (issue #17)
    "lottery-ticket": ("lottery_ticket", "LeNet-300-100 on MNIST: iterative magnitude pruning "
                                         "with rewinding (winning tickets) vs random re-init"),
    "quantization": ("quantization", "post-training dynamic int8 quantization of LeNet-5 and "
                                     "an MLP on digits: size and accuracy before and after"),
    "distillation": ("distillation", "knowledge distillation: a small student from labels "
                                     "alone vs from a large teacher's soft targets"),
    "transfer": ("transfer", "LeNet-5 pre-trained on digits 0-4, then 5-9 from few examples: "
                             "frozen features vs fine-tuning vs from scratch"),
    "visualize": ("visualize", "inside LeNet-5 on digits: filters, feature maps, activation "
                               "maximization, saliency, Integrated Gradients and Grad-CAM"),
}


def available() -> list[tuple[str, str]]:
    """``(name, description)`` of every experiment, in lecture order."""
    return [(name, desc) for name, (_, desc) in _REGISTRY.items()]


def _module(name: str):
    if not isinstance(name, str):
        raise LaminaTypeError(f"experiments: name must be a str, got {type(name).__name__}")
    key = name.strip().lower().replace("_", "-")
    if key not in _REGISTRY:
        raise LaminaValueError(f"experiments: unknown experiment {name!r}; valid names: "
                               f"{', '.join(_REGISTRY)}")
    return key, importlib.import_module(f"lamina.experiments.{_REGISTRY[key][0]}")


def describe(name: str) -> str:
    """The experiment's docstring: which lecture result it reproduces and how."""
    _, mod = _module(name)
    return (mod.__doc__ or "").strip()


def run(name: str, seed: int = 0, out_dir: Path | str = Path("."),
        quick: bool = False) -> ExperimentResult:
    """Run the experiment ``name`` (see ``available()``) and return its result.

    Args:
        name: an experiment name such as ``"polynomial-degree"`` (``_`` works for ``-``).
        seed: seeds the data, the weight initialization and the shuffling; the same seed
            gives the same numbers.
        out_dir: where the plot (``<name>.png``) is saved; created if missing.
        quick: a reduced version (less data, fewer epochs) for tests and smoke runs.

    Raises:
        ValueError: for an unknown name (the message lists the valid ones).
    """
    key, mod = _module(name)
    if not isinstance(quick, bool):
        raise LaminaTypeError(f"experiments.run: quick must be a bool, got {type(quick).__name__}")
    with _single_threaded_blas():
        return mod.run(seed=seed, out_dir=Path(out_dir), quick=quick)


def _single_threaded_blas():
    """Limit BLAS to one thread while an experiment runs (through threadpoolctl, which
    scikit-learn installs; a no-op without it). The experiments' matrices are small (batches
    of 20-64 rows, layers of at most a few hundred units), where OpenBLAS's threads cost more
    in synchronization than they gain: measured 4x faster on the overfitting experiment with
    one thread on a busy two-core machine."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
