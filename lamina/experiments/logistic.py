"""Logistic regression and the decision threshold (lecture: logistic regression's decision
boundary; precision and recall, "trading off precision and recall" by the threshold).

Logistic regression ``p(y=1 | x) = sigmoid(w . x + b)`` trained by full-batch gradient
descent on the cross-entropy, on two overlapping Gaussian classes in the plane. The decision
boundary ``p = t`` is the straight line ``w . x + b = log(t / (1 - t))``. Predicting 1 only
when ``p >= 0.8`` instead of 0.5 moves the line into class 1: fewer false positives (higher
precision), more false negatives (lower recall), and usually a lower accuracy since 0.5 is
the threshold that minimizes the expected errors when the probabilities are right. Precision,
recall and accuracy on a fresh test set come from ``lamina.train.metrics``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from lamina import nn, optim
from lamina.data.datasets import two_blobs
from lamina.experiments._common import (
    ExperimentResult,
    markdown_table,
    predict_array,
    save_plot,
    seed_all,
    tensor,
    train_full_batch,
)
from lamina.train.metrics import accuracy, precision_recall_f1

NAME = "logistic"
THRESHOLDS = (0.5, 0.8)


def _signed(v: float) -> str:
    return f"{'-' if v < 0 else '+'} {abs(v):.3f}"


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    rng = seed_all(seed)
    steps = 100 if quick else 300
    n = 200 if quick else 400
    data_seeds = rng.integers(0, 2**31 - 1, size=2)
    x_tr, y_tr = two_blobs(n, distance=2.5, seed=int(data_seeds[0]), as_arrays=True)
    x_te, y_te = two_blobs(n, distance=2.5, seed=int(data_seeds[1]), as_arrays=True)
    model = nn.Linear(2, 1)
    losses = train_full_batch(model, nn.BCEWithLogitsLoss(),
                              optim.SGD(model.parameters(), lr=0.5), tensor(x_tr),
                              tensor(y_tr[:, None]), steps)
    w = np.asarray(model.weight._data, np.float64)[0]
    b = float(model.bias._data[0])
    p_te = 1 / (1 + np.exp(-predict_array(model, x_te)[:, 0].astype(np.float64)))

    rows, results = [], {}
    for t in THRESHOLDS:
        prec, rec, f1 = precision_recall_f1(p_te, y_te, threshold=t)
        # metrics predict 1 where the score is > threshold
        acc = accuracy(p_te, y_te, threshold=t)
        n_pos = int(np.count_nonzero(p_te > t))
        results[str(t)] = {"precision": float(prec), "recall": float(rec), "f1": float(f1),
                           "accuracy": float(acc), "predicted_positive": n_pos}
        rows.append([t, prec, rec, f1, acc, n_pos])
    table = markdown_table(["threshold", "precision", "recall", "F1", "accuracy",
                            "predicted positive"], rows)
    markdown = (f"### Logistic regression: threshold 0.5 vs 0.8\n\n{n} training and {n} test "
                f"points in two Gaussian classes (centres 2.5 apart, std 1); full-batch "
                f"gradient descent, lr 0.5, {steps} steps; final training loss "
                f"{losses[-1]:.4f}. Decision boundary: {w[0]:.3f} x1 {_signed(w[1])} x2 "
                f"{_signed(b)} = logit(t).\n\n{table}")
    data = {"weights": w.tolist(), "bias": b, "final_loss": losses[-1], "loss_curve": losses,
            "thresholds": results, "n_test": n, "test_positives": int(y_te.sum())}

    notes: list[str] = []

    def draw(fig):
        ax1, ax2 = fig.subplots(1, 2)
        for c, color in ((0, "tab:blue"), (1, "tab:red")):
            ax1.scatter(x_te[y_te == c, 0], x_te[y_te == c, 1], s=10, color=color,
                        label=f"class {c} (test)")
        xs = np.linspace(x_te[:, 0].min(), x_te[:, 0].max(), 2)
        for t, style in zip(THRESHOLDS, ("k-", "k--")):
            # w0 x1 + w1 x2 + b = logit(t)
            ax1.plot(xs, (math.log(t / (1 - t)) - b - w[0] * xs) / w[1], style,
                     label=f"p = {t}")
        ax1.set_ylim(x_te[:, 1].min() - 0.5, x_te[:, 1].max() + 0.5)
        ax1.set_xlabel("x1")
        ax1.set_ylabel("x2")
        ax1.legend(fontsize=8)
        ax1.set_title("decision boundaries")
        ax2.plot(losses)
        ax2.set_xlabel("step")
        ax2.set_ylabel("cross-entropy")
        ax2.set_title("training loss")

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes)
    return ExperimentResult(NAME, "Logistic regression: threshold 0.5 vs 0.8", markdown, data,
                            plot, notes)
