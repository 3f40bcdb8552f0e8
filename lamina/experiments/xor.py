"""XOR (lecture: the perceptron's limit and why hidden layers: Minsky and Papert's XOR).

No linear classifier separates XOR: logistic regression on the two inputs gets at most three
of the four corners right (about 75% accuracy at best, 50% typically as it settles between
them), while a two-layer MLP (2-8-1, tanh hidden layer) bends the decision boundary around the
corners and classifies every point. Both are trained with Adam on the binary cross-entropy
(``nn.BCEWithLogitsLoss``) on 200 noisy points around the four corners and tested on 200 fresh
ones; the plot shows both decision boundaries.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamina import nn, optim
from lamina.data.datasets import xor as xor_data
from lamina.experiments._common import (
    ExperimentResult,
    decision_grid,
    markdown_table,
    predict_array,
    save_plot,
    seed_all,
    tensor,
    train_full_batch,
)

NAME = "xor"
NOISE = 0.15


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    rng = seed_all(seed)
    steps = 150 if quick else 500
    data_seeds = rng.integers(0, 2**31 - 1, size=2)
    x_tr, y_tr = xor_data(200, NOISE, seed=int(data_seeds[0]), as_arrays=True)
    x_te, y_te = xor_data(200, NOISE, seed=int(data_seeds[1]), as_arrays=True)
    xt, yt = tensor(x_tr), tensor(y_tr[:, None])
    models = {
        "linear (logistic regression)": nn.Linear(2, 1),
        "MLP 2-8-1 (tanh)": nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)),
    }
    loss_fn = nn.BCEWithLogitsLoss()
    rows, results = [], {}
    for label, model in models.items():
        losses = train_full_batch(model, loss_fn, optim.Adam(model.parameters(), lr=0.05), xt,
                                  yt, steps)
        acc_tr = float(np.mean((predict_array(model, x_tr)[:, 0] > 0) == y_tr))
        acc_te = float(np.mean((predict_array(model, x_te)[:, 0] > 0) == y_te))
        results[label] = {"final_loss": losses[-1], "train_accuracy": acc_tr,
                          "test_accuracy": acc_te, "loss_curve": losses}
        rows.append([label, losses[-1], acc_tr, acc_te])
    table = markdown_table(["model", "final training loss", "train accuracy",
                            "test accuracy"], rows)
    markdown = (f"### XOR: linear model vs two-layer MLP\n\n200 training and 200 test points "
                f"(noise {NOISE}); Adam, lr 0.05, {steps} full-batch steps.\n\n{table}")
    data = {"models": results, "steps": steps}

    notes: list[str] = []

    def draw(fig):
        axes = fig.subplots(1, 2)
        xx, yy, pts = decision_grid(x_tr, 200, 0.4)
        for ax, (label, model) in zip(axes, models.items()):
            p = 1 / (1 + np.exp(-predict_array(model, pts)[:, 0]))
            ax.contourf(xx, yy, p.reshape(xx.shape), levels=[0, 0.5, 1],
                        colors=["#9ecae1", "#fdae6b"], alpha=0.6)
            ax.contour(xx, yy, p.reshape(xx.shape), levels=[0.5], colors="k")
            ax.scatter(x_tr[:, 0], x_tr[:, 1], c=y_tr, cmap="bwr", s=12, edgecolors="k",
                       linewidths=0.3)
            ax.set_title(f"{label}: test acc {results[label]['test_accuracy']:.2f}",
                         fontsize=10)
            ax.set_xlabel("x1")
            ax.set_ylabel("x2")

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes)
    return ExperimentResult(NAME, "XOR: linear model vs two-layer MLP", markdown, data, plot,
                            notes)
