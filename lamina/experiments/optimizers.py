"""The optimizer race (lecture: optimization for deep learning: gradient descent, stochastic
and mini-batch gradient descent, momentum, Nesterov's accelerated gradient, Adagrad, RMSProp,
Adadelta and Adam).

Eight optimizers train the same network (a 2-32-32-3 tanh MLP, all starting from the same
initial weights) on the same data (three interleaved spirals), with the same number of epochs
and, for the mini-batch methods, the same sequence of shuffled batches of 32. "GD" is
full-batch gradient descent: one step per epoch, so it falls far behind the mini-batch
methods in the same number of passes over the data. Momentum and Nesterov move faster than
plain SGD along consistent directions; the adaptive methods (Adagrad, RMSProp, Adadelta,
Adam) scale each parameter's step by its gradients' history. Learning rates are the usual
textbook ones for each method (not tuned per seed). The loss recorded is the cross-entropy
over the whole training set after each epoch.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from lamina import nn, optim
from lamina.data.datasets import spirals
from lamina.experiments._common import (
    ExperimentResult,
    full_batch_loss,
    markdown_table,
    minibatches,
    predict_array,
    save_plot,
    seed_all,
    tensor,
)

NAME = "optimizers"

# name -> (optimizer factory, batch size: None = full batch, description of the settings)
OPTIMIZERS = {
    "GD": (lambda p: optim.SGD(p, lr=0.1), None, "SGD lr 0.1, full batch"),
    "SGD": (lambda p: optim.SGD(p, lr=0.1), 32, "SGD lr 0.1"),
    "Momentum": (lambda p: optim.SGD(p, lr=0.05, momentum=0.9), 32,
                 "SGD lr 0.05, momentum 0.9"),
    "Nesterov": (lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True), 32,
                 "SGD lr 0.05, Nesterov momentum 0.9"),
    "Adagrad": (lambda p: optim.Adagrad(p, lr=0.05), 32, "Adagrad lr 0.05"),
    "RMSProp": (lambda p: optim.RMSprop(p, lr=0.003), 32, "RMSprop lr 0.003, alpha 0.99"),
    "Adadelta": (lambda p: optim.Adadelta(p, lr=1.0), 32, "Adadelta lr 1.0, rho 0.9"),
    "Adam": (lambda p: optim.Adam(p, lr=0.005), 32, "Adam lr 0.005, betas (0.9, 0.999)"),
}


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    rng = seed_all(seed)
    n, epochs = (300, 25) if quick else (600, 100)
    x, y = spirals(n, turns=1.0, noise=0.05, num_classes=3, seed=int(rng.integers(2**31)),
                   as_arrays=True)
    xt, yt = tensor(x), tensor(y, np.int64)
    init = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(),
                         nn.Linear(32, 3))
    loss_fn = nn.CrossEntropyLoss()
    order_seed = int(rng.integers(2**31))
    curves, rows, results = {}, [], {}
    for name, (make, batch, settings) in OPTIMIZERS.items():
        model = copy.deepcopy(init)
        opt = make(model.parameters())
        order = np.random.default_rng(order_seed)     # the same batches for every method
        losses = [full_batch_loss(model, loss_fn, xt, yt)]
        for _ in range(epochs):
            for idx in ([np.arange(n)] if batch is None else minibatches(n, batch, order)):
                opt.zero_grad()
                loss_fn(model(tensor(x[idx])), tensor(y[idx], np.int64)).backward()
                opt.step()
            losses.append(full_batch_loss(model, loss_fn, xt, yt))
        acc = float(np.mean(predict_array(model, x).argmax(1) == y))
        curves[name] = losses
        results[name] = {"final_loss": losses[-1], "accuracy": acc, "settings": settings,
                         "steps": epochs * (1 if batch is None else -(-n // batch))}
        rows.append([name, settings, results[name]["steps"], losses[-1], acc])
    table = markdown_table(["optimizer", "settings", "steps", "final loss",
                            "train accuracy"], rows)
    ranking = sorted(results, key=lambda k: results[k]["final_loss"])
    markdown = (f"### Optimizers on the same network and data\n\n2-32-32-3 tanh MLP on {n} "
                f"points of three spirals; {epochs} epochs, mini-batches of 32 (GD: full "
                f"batch); cross-entropy on the whole training set after the last epoch.\n\n"
                f"{table}\n\nLowest final loss: {ranking[0]}; highest: {ranking[-1]}.")
    data = {"epochs": epochs, "n": n, "loss_curves": curves, "results": results}

    notes: list[str] = []

    def draw(fig):
        ax = fig.subplots(1, 1)
        for name, losses in curves.items():
            ax.semilogy(losses, label=name, lw=2 if name in ("GD", "Adam") else 1.2)
        ax.set_xlabel("epoch")
        ax.set_ylabel("training cross-entropy (log scale)")
        ax.set_title("optimizer race: 2-32-32-3 MLP on three spirals")
        ax.legend(fontsize=8, ncol=2)

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes, figsize=(8, 5))
    return ExperimentResult(NAME, "Optimizers on the same network and data", markdown, data,
                            plot, notes)
