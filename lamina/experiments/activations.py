"""Activation functions and vanishing gradients (lecture: training deep networks: why the
sigmoid was replaced by ReLU; Glorot and Bengio 2010, He et al. 2015).

A deep MLP (64 inputs, 10 hidden layers of 64 units, 10 outputs) on the 8x8 digits, built
four times with the same architecture and a different hidden activation: sigmoid, tanh, ReLU
and LeakyReLU (slope 0.01). Each gets the initialization recommended for it
(``nn.init.kaiming_normal_`` with the activation's gain from ``nn.init.calculate_gain``: 1 for
sigmoid, 5/3 for tanh, sqrt(2) for ReLU), so the comparison is about the activation itself.

Backpropagation multiplies the gradient by ``f'(z)`` at every layer. The sigmoid's
derivative is at most 1/4, so each layer shrinks the gradient by about 4x and the first
layers of a 10-layer network receive about a millionth of the last layer's gradient: they
hardly learn, and training stalls. tanh (derivative 1 at 0) and ReLU (derivative 1 where
active, with the He gain making up for the inactive half) keep the gradient's size across
layers. The table gives the norm of each layer's weight gradient at initialization (mean over
the first batches), the ratio first/last layer, and the training loss after each epoch of SGD
with momentum; the plot shows both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamina import nn, optim
from lamina.data.datasets import Digits
from lamina.experiments._common import (
    ExperimentResult,
    full_batch_loss,
    markdown_table,
    minibatches,
    save_plot,
    seed_all,
    tensor,
    train_minibatch,
)

NAME = "activations"
DEPTH = 10
WIDTH = 64
ACTIVATIONS = {
    "sigmoid": (nn.Sigmoid, "sigmoid"),
    "tanh": (nn.Tanh, "tanh"),
    "ReLU": (nn.ReLU, "relu"),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.01), "leaky_relu"),
}


def deep_mlp(activation: str) -> nn.Sequential:
    """64 -> DEPTH x WIDTH hidden -> 10, He-initialized for ``activation``."""
    make, nonlinearity = ACTIVATIONS[activation]
    layers: list[nn.Module] = []
    width = 64
    for _ in range(DEPTH):
        lin = nn.Linear(width, WIDTH)
        nn.init.kaiming_normal_(lin.weight, a=0.01, nonlinearity=nonlinearity)
        nn.init.zeros_(lin.bias)
        layers += [lin, make()]
        width = WIDTH
    out = nn.Linear(width, 10)
    nn.init.xavier_normal_(out.weight)
    nn.init.zeros_(out.bias)
    layers.append(out)
    return nn.Sequential(*layers)


def layer_grad_norms(model, loss_fn, x, y, batches) -> np.ndarray:
    """Mean norm of each Linear layer's weight gradient over the given index batches."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    norms = np.zeros(len(linears))
    for idx in batches:
        model.zero_grad()
        loss_fn(model(tensor(x[idx])), tensor(y[idx], np.int64)).backward()
        norms += [float(np.linalg.norm(m.weight.grad._data)) for m in linears]
    model.zero_grad()
    return norms / len(batches)


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    rng = seed_all(seed)
    epochs = 4 if quick else 20
    x, y = Digits(flatten=True).tensors()
    x, y = np.asarray(x._data, np.float32), np.asarray(y._data, np.int64)
    keep = rng.permutation(len(y))[:500 if quick else len(y)]
    x, y = x[keep], y[keep]
    loss_fn = nn.CrossEntropyLoss()
    init_seed, order_seed = (int(s) for s in rng.integers(2**31, size=2))
    probe = minibatches(len(y), 32, np.random.default_rng(order_seed))[:5]

    norms, curves, results, rows = {}, {}, {}, []
    for name in ACTIVATIONS:
        seed_all(init_seed)
        model = deep_mlp(name)
        g = layer_grad_norms(model, loss_fn, x, y, probe)
        xt, yt = tensor(x), tensor(y, np.int64)
        losses = [full_batch_loss(model, loss_fn, xt, yt)]
        train_minibatch(model, loss_fn, optim.SGD(model.parameters(), lr=0.01, momentum=0.9),
                        x, y, epochs, 32, np.random.default_rng(order_seed), y_dtype=np.int64,
                        on_epoch=lambda _e, m=model, rec=losses: rec.append(
                            full_batch_loss(m, loss_fn, xt, yt)))  # noqa: B023 (called now)
        norms[name] = g.tolist()
        curves[name] = losses
        ratio = float(g[0] / g[-1])
        results[name] = {"grad_norms": g.tolist(), "first_over_last": ratio,
                         "initial_loss": losses[0], "final_loss": losses[-1]}
        rows.append([name, g[0], g[DEPTH // 2], g[-1], ratio, losses[0], losses[-1]])
    table = markdown_table(["activation", "grad norm layer 1", f"layer {DEPTH // 2 + 1}",
                            f"layer {DEPTH + 1} (output)", "ratio first/last",
                            "initial loss", f"loss after {epochs} epochs"], rows)
    per_layer = markdown_table(["layer"] + list(ACTIVATIONS),
                               [[i + 1] + [norms[a][i] for a in ACTIVATIONS]
                                for i in range(DEPTH + 1)])
    markdown = (f"### Activations in a deep MLP: vanishing gradients\n\n64-"
                f"{'-'.join([str(WIDTH)] * DEPTH)}-10 MLP on {len(y)} digits, He "
                f"initialization with each activation's gain; gradient norms of the weights at "
                f"initialization (mean of 5 batches of 32); SGD lr 0.01, momentum 0.9, "
                f"{epochs} epochs; losses on the whole training set.\n\n{table}\n\n"
                f"Weight-gradient norm per layer (1 = input side):\n\n{per_layer}")
    data = {"depth": DEPTH, "width": WIDTH, "epochs": epochs, "results": results,
            "loss_curves": curves}

    notes: list[str] = []

    def draw(fig):
        ax1, ax2 = fig.subplots(1, 2)
        layers = np.arange(1, DEPTH + 2)
        for name in ACTIVATIONS:
            ax1.semilogy(layers, norms[name], "o-", label=name)
            ax2.plot(curves[name], label=name)
        ax1.set_xlabel("layer (1 = input side)")
        ax1.set_ylabel("weight-gradient norm at init (log)")
        ax1.set_title("gradient norm per layer")
        ax1.legend(fontsize=8)
        ax2.set_xlabel("epoch")
        ax2.set_ylabel("training cross-entropy")
        ax2.set_title("training loss")
        ax2.legend(fontsize=8)

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes)
    return ExperimentResult(NAME, "Activations in a deep MLP: vanishing gradients", markdown,
                            data, plot, notes)
