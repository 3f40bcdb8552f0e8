"""Fighting overfitting (lecture: regularization for deep learning: weight decay, dropout,
early stopping and batch normalization).

An over-sized MLP (64-256-256-10, ReLU; about 85,000 weights) learns 8x8 digits from only 100
training images, with a validation set of 300 and a test set of 300. Without regularization
the training loss goes to zero while the validation loss, after a minimum in the first
epochs, climbs again: the network memorizes the 100 images and grows over-confident on the
others. Each remedy is the same network and optimizer (Adam, lr 1e-3, batches of 20) with one
change:

* weight decay: an L2 penalty ``lambda ||w||^2`` with lambda = 1e-3 added to the loss
  (``nn.utils.l2_penalty`` through ``fit``'s ``regularization``);
* dropout: ``nn.Dropout(0.5)`` after each hidden layer;
* early stopping: ``train.EarlyStopping`` on the validation loss (patience 10), restoring the
  best weights;
* batch norm: ``nn.BatchNorm1d`` after each hidden linear layer.

The table gives, after training (early stopping: at the restored epoch), the training and
validation losses in eval mode, the generalization gap (validation minus training loss), the
best validation loss seen, and validation and test accuracy. The plot shows the training and
validation curves of each variant.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamina import nn, optim
from lamina.data import DataLoader, TensorDataset, train_val_test_split
from lamina.data.datasets import Digits
from lamina.experiments._common import (
    ExperimentResult,
    markdown_table,
    save_plot,
    seed_all,
    tensor,
)
from lamina.train import EarlyStopping, evaluate, fit

NAME = "overfitting"
VARIANTS = ["none", "weight decay", "dropout", "early stopping", "batch norm"]
HIDDEN = 256
LAMBDA = 1e-3


def digits_split(seed: int, n_train: int, n_val: int, n_test: int):
    """Stratified train/validation/test arrays of the flattened digits (pixels in [0, 1])."""
    x, y = Digits(flatten=True).tensors()
    x, y = np.asarray(x._data, np.float32), np.asarray(y._data, np.int64)
    rng = np.random.default_rng(seed)
    keep = rng.permutation(len(y))[:n_train + n_val + n_test]
    x, y = x[keep], y[keep]
    x_tr, x_va, x_te, y_tr, y_va, y_te = train_val_test_split(
        x, y, val=n_val, test=n_test, seed=seed, stratify=y)
    return x_tr, y_tr, x_va, y_va, x_te, y_te


def make_mlp(variant: str) -> nn.Module:
    layers: list[nn.Module] = []
    width = 64
    for _ in range(2):
        layers.append(nn.Linear(width, HIDDEN))
        if variant == "batch norm":
            layers.append(nn.BatchNorm1d(HIDDEN))
        layers.append(nn.ReLU())
        if variant == "dropout":
            layers.append(nn.Dropout(0.5))
        width = HIDDEN
    layers.append(nn.Linear(HIDDEN, 10))
    return nn.Sequential(*layers)


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    rng = seed_all(seed)
    epochs = 100 if quick else 150
    x_tr, y_tr, x_va, y_va, x_te, y_te = digits_split(int(rng.integers(2**31)), 100, 300, 300)
    train_ds = TensorDataset(tensor(x_tr), tensor(y_tr, np.int64))
    val_loader = DataLoader(TensorDataset(tensor(x_va), tensor(y_va, np.int64)),
                            batch_size=300)
    test_loader = DataLoader(TensorDataset(tensor(x_te), tensor(y_te, np.int64)),
                             batch_size=300)
    train_eval = DataLoader(train_ds, batch_size=len(train_ds))
    loss_fn = nn.CrossEntropyLoss()
    loader_seed = int(rng.integers(2**31))
    init_seed = int(rng.integers(2**31))

    curves, results, rows = {}, {}, []
    for variant in VARIANTS:
        seed_all(init_seed)                 # every variant starts from the same draw
        model = make_mlp(variant)
        opt = optim.Adam(model.parameters(), lr=1e-3)
        callbacks = ([EarlyStopping("val_loss", patience=10, restore_best_weights=True)]
                     if variant == "early stopping" else [])
        reg = ((lambda m: nn.utils.l2_penalty(m, LAMBDA)) if variant == "weight decay"
               else None)
        loader = DataLoader(train_ds, batch_size=20, shuffle=True, seed=loader_seed)
        hist = fit(model, loss_fn, opt, loader, epochs, val_loader=val_loader,
                   metrics=["accuracy"], callbacks=callbacks, regularization=reg, verbose=0)
        tr = evaluate(model, train_eval, loss_fn, ["accuracy"])
        va = evaluate(model, val_loader, loss_fn, ["accuracy"])
        te = evaluate(model, test_loader, loss_fn, ["accuracy"])
        val_curve = list(hist["val_loss"])
        epochs_run = len(val_curve)
        used = (int(np.argmin(val_curve)) + 1) if variant == "early stopping" else epochs_run
        curves[variant] = {"loss": list(hist["loss"]), "val_loss": val_curve}
        results[variant] = {"epochs_run": epochs_run, "epoch_used": used,
                            "train_loss": tr["loss"], "val_loss": va["loss"],
                            "gap": va["loss"] - tr["loss"], "best_val_loss": min(val_curve),
                            "best_val_epoch": int(np.argmin(val_curve)) + 1,
                            "train_accuracy": tr["accuracy"], "val_accuracy": va["accuracy"],
                            "test_accuracy": te["accuracy"]}
        r = results[variant]
        rows.append([variant, used, r["train_loss"], r["val_loss"], r["gap"],
                     r["best_val_loss"], r["val_accuracy"], r["test_accuracy"]])
    table = markdown_table(["variant", "epoch used", "train loss", "val loss", "gap",
                            "best val loss", "val accuracy", "test accuracy"], rows)
    markdown = (f"### Over-fitting an over-sized MLP, and four remedies\n\n64-{HIDDEN}-{HIDDEN}-10 "
                f"ReLU MLP, 100 training digits, 300 validation, 300 test; Adam lr 1e-3, "
                f"{epochs} epochs (early stopping: patience 10 on the validation loss). "
                f"Losses are cross-entropies in eval mode.\n\n{table}")
    data = {"epochs": epochs, "results": results, "curves": curves, "lambda": LAMBDA}

    notes: list[str] = []

    def draw(fig):
        axes = fig.subplots(1, len(VARIANTS), sharey=True)
        for ax, variant in zip(axes, VARIANTS):
            ax.semilogy(curves[variant]["loss"], label="train")
            ax.semilogy(curves[variant]["val_loss"], label="validation")
            ax.set_title(variant, fontsize=10)
            ax.set_xlabel("epoch")
        axes[0].set_ylabel("cross-entropy (log scale)")
        axes[0].legend(fontsize=8)

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes, figsize=(15, 3.8))
    return ExperimentResult(NAME, "Over-fitting an over-sized MLP, and four remedies",
                            markdown, data, plot, notes)
