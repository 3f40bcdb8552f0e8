"""House prices and feature scaling (lecture: linear regression with multiple variables,
"feature scaling" / input normalization for gradient descent and for neural networks).

Boston housing (506 tracts, 13 features, median value in $1000s), split 70/15/15 into
training, validation and test sets. Two models, linear regression (13-1) and an MLP (13-64-1,
ReLU), are trained by mini-batch SGD (batches of 32) on the mean squared error, each on raw
inputs and on inputs standardized with the training set's mean and standard deviation
(``lamina.data.StandardScaler``). The raw features span very different ranges (NOX ~0.5, RM
~6, TAX ~400, B ~390): the loss surface is a long thin valley, the largest stable learning
rate is set by the largest-scale features, and the small-scale ones barely move. To make the
comparison fair, every configuration gets its best learning rate from the same grid (1e-1 down
to 1e-6, chosen on the validation set; diverging rates are discarded); the table reports the
test RMSE of that choice. Standardized inputs win for both models, by a wide margin: with raw
inputs even the best rate leaves the models far from their least-squares fit.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from lamina import nn, optim
from lamina.data import StandardScaler, train_val_test_split
from lamina.data.datasets import BostonHousing
from lamina.experiments._common import (
    ExperimentResult,
    markdown_table,
    predict_array,
    save_plot,
    seed_all,
    train_minibatch,
)

NAME = "house-prices"
LRS = [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6]
MODELS = {"linear regression": lambda: nn.Linear(13, 1),
          "MLP 13-64-1": lambda: nn.Sequential(nn.Linear(13, 64), nn.ReLU(), nn.Linear(64, 1))}


def rmse(model, x: np.ndarray, y: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        err = float(np.sqrt(np.mean((predict_array(model, x)[:, 0] - y) ** 2)))
    return err if math.isfinite(err) else math.inf


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    rng = seed_all(seed)
    epochs = 40 if quick else 150
    lrs = [1e-2, 1e-3, 1e-4, 1e-6] if quick else LRS
    ds = BostonHousing()
    x_tr, x_va, x_te, y_tr, y_va, y_te = train_val_test_split(
        ds.data.astype(np.float32), ds.targets.astype(np.float32), val=0.15, test=0.15,
        seed=int(rng.integers(2**31)))
    scaler = StandardScaler().fit(x_tr)
    inputs = {"raw": (x_tr, x_va, x_te),
              "standardized": tuple(np.asarray(scaler.transform(a), np.float32)
                                    for a in (x_tr, x_va, x_te))}
    loss_fn = nn.MSELoss()
    init_seed, order_seed = (int(s) for s in rng.integers(2**31, size=2))

    rows, results, curves = [], {}, {}
    for model_name, make in MODELS.items():
        for scaling, (a_tr, a_va, a_te) in inputs.items():
            best = None
            for lr in lrs:
                seed_all(init_seed)
                model = make()
                with np.errstate(all="ignore"):
                    losses = train_minibatch(model, loss_fn, optim.SGD(model.parameters(), lr=lr),
                                             a_tr, y_tr[:, None], epochs, 32,
                                             np.random.default_rng(order_seed))
                val = rmse(model, a_va, y_va)
                if best is None or val < best[0]:
                    best = (val, lr, model, losses)
            val, lr, model, losses = best
            key = f"{model_name}, {scaling}"
            results[key] = {"model": model_name, "inputs": scaling, "best_lr": lr,
                            "train_rmse": rmse(model, a_tr, y_tr), "val_rmse": val,
                            "test_rmse": rmse(model, a_te, y_te)}
            curves[key] = losses
            r = results[key]
            rows.append([model_name, scaling, lr, r["train_rmse"], r["val_rmse"],
                         r["test_rmse"]])
    table = markdown_table(["model", "inputs", "best lr", "train RMSE", "val RMSE",
                            "test RMSE"], rows)
    markdown = (f"### Boston house prices: linear regression and an MLP, raw vs standardized "
                f"inputs\n\n{len(y_tr)} training, {len(y_va)} validation, {len(y_te)} test "
                f"tracts; SGD, batches of 32, {epochs} epochs; learning rate chosen on the "
                f"validation set from {', '.join(f'{v:g}' for v in lrs)}. RMSE in $1000s "
                f"(the target's standard deviation: {float(np.std(y_te)):.2f}).\n\n{table}")
    data = {"epochs": epochs, "learning_rates": lrs, "results": results, "loss_curves": curves}

    notes: list[str] = []

    def draw(fig):
        ax1, ax2 = fig.subplots(1, 2)
        for key, losses in curves.items():
            ax1.semilogy(np.sqrt(losses), label=key)
        ax1.set_xlabel("epoch")
        ax1.set_ylabel("training RMSE ($1000s, log scale)")
        ax1.legend(fontsize=8)
        ax1.set_title("training curves (best lr each)")
        keys = list(results)
        ax2.barh(range(len(keys)), [results[k]["test_rmse"] for k in keys])
        ax2.set_yticks(range(len(keys)), keys, fontsize=8)
        ax2.set_xlabel("test RMSE ($1000s)")
        ax2.set_title("test error")

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes, figsize=(11, 4))
    return ExperimentResult(NAME, "Boston house prices: raw vs standardized inputs", markdown,
                            data, plot, notes)
