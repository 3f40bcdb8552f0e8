"""Handwritten digits: from logistic regression to a convolutional network (lectures:
multi-class logistic (softmax) regression, neural networks, convolutional networks and
LeNet-5).

The 1,797 8x8 digits bundled with scikit-learn, split 75/25 (stratified) into training and
test sets. Three models, each trained with Adam on the cross-entropy:

* softmax (multinomial logistic) regression on the 64 pixels: ``lamina.models.softmax``;
* an MLP 64-128-10 with ReLU: ``lamina.models.mlp``;
* LeNet-5 (``lamina.models.LeNet5``, the 32x32 version). The digits were made by counting the
  ink in 4x4 blocks of a 32x32 bitmap; repeating each count over its 4x4 block gives LeNet-5
  its 32x32 input back (a blocky one).

The table gives each model's parameters, epochs, and training and test accuracy; the plot
shows test digits each model gets wrong (true and predicted label). Typical result: about
96% for the linear model, 96-97% for the MLP and 97-98% for LeNet-5, whose convolutions share
weights over positions and so need less data per pattern.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamina import nn, optim
from lamina.data import train_val_test_split
from lamina.data.datasets import Digits
from lamina.experiments._common import (
    ExperimentResult,
    markdown_table,
    predict_array,
    save_plot,
    seed_all,
    train_minibatch,
)

NAME = "digits"


def _models():
    from lamina import models  # imported here: lamina.models is optional for the others
    return {
        "softmax regression": (lambda: models.softmax(64, 10), "flat", 1e-2, 30, 64),
        "MLP 64-128-10": (lambda: models.mlp(64, [128], 10), "flat", 1e-3, 50, 32),
        "LeNet-5": (lambda: models.LeNet5(num_classes=10, padding=0), "image", 1e-3, 30, 32),
    }


def to_32x32(x: np.ndarray) -> np.ndarray:
    """``(N, 64)`` digits as ``(N, 1, 32, 32)`` images, each 8x8 count repeated over 4x4."""
    img = x.reshape(-1, 1, 8, 8)
    return np.ascontiguousarray(img.repeat(4, axis=2).repeat(4, axis=3))


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    rng = seed_all(seed)
    x, y = Digits(flatten=True).tensors()
    x, y = np.asarray(x._data, np.float32), np.asarray(y._data, np.int64)
    x_tr, _, x_te, y_tr, _, y_te = train_val_test_split(x, y, val=0, test=0.25,
                                                        seed=int(rng.integers(2**31)),
                                                        stratify=y)
    if quick:
        x_tr, y_tr = x_tr[:600], y_tr[:600]
    loss_fn = nn.CrossEntropyLoss()
    init_seed, order_seed = (int(s) for s in rng.integers(2**31, size=2))
    rows, results, wrong = [], {}, {}
    for name, (make, layout, lr, epochs, batch) in _models().items():
        if quick:
            epochs = max(4, epochs // 8)
        seed_all(init_seed)
        model = make()
        a_tr, a_te = (x_tr, x_te) if layout == "flat" else (to_32x32(x_tr), to_32x32(x_te))
        losses = train_minibatch(model, loss_fn, optim.Adam(model.parameters(), lr=lr), a_tr,
                                 y_tr, epochs, batch, np.random.default_rng(order_seed),
                                 y_dtype=np.int64)
        pred_tr = predict_array(model, a_tr).argmax(1)
        pred_te = predict_array(model, a_te).argmax(1)
        miss = np.flatnonzero(pred_te != y_te)
        n_params = sum(p.numel() for p in model.parameters())
        results[name] = {"parameters": int(n_params), "epochs": epochs, "lr": lr,
                         "train_accuracy": float(np.mean(pred_tr == y_tr)),
                         "test_accuracy": float(np.mean(pred_te == y_te)),
                         "misclassified": miss.tolist(),
                         "misclassified_as": pred_te[miss].tolist(), "loss_curve": losses}
        wrong[name] = (miss, pred_te[miss])
        r = results[name]
        rows.append([name, r["parameters"], epochs, r["train_accuracy"], r["test_accuracy"],
                     len(miss)])
    table = markdown_table(["model", "parameters", "epochs", "train accuracy",
                            "test accuracy", "test errors"], rows)
    markdown = (f"### Digits: softmax regression, MLP and LeNet-5\n\n{len(y_tr)} training and "
                f"{len(y_te)} test images (8x8; LeNet-5 sees them as 32x32); Adam.\n\n"
                f"{table}")
    data = {"n_train": len(y_tr), "n_test": len(y_te), "results": results}

    notes: list[str] = []
    per_model = 8

    def draw(fig):
        axes = fig.subplots(len(wrong), per_model, squeeze=False)
        for row, (name, (miss, pred)) in zip(axes, wrong.items()):
            for k, ax in enumerate(row):
                ax.set_xticks([])
                ax.set_yticks([])
                if k < len(miss):
                    i = miss[k]
                    ax.imshow(x_te[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
                    ax.set_title(f"{y_te[i]} -> {pred[k]}", fontsize=9)
                else:
                    ax.axis("off")
            row[0].set_ylabel(name, fontsize=8)

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes, figsize=(10, 1.5 * len(wrong) + 0.5))
    if plot is not None:
        notes.append("plot: misclassified test digits, 'true -> predicted'")
    return ExperimentResult(NAME, "Digits: softmax regression, MLP and LeNet-5", markdown,
                            data, plot, notes)
