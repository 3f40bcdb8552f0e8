"""RBF network vs MLP (lecture: radial basis function networks; Broomhead and Lowe 1988,
Moody and Darken 1989).

Two tasks, each solved by ``lamina.models.RBFNetwork`` (Gaussian units at k-means centres, one
width ``d_max / sqrt(2K)``, the linear readout by least squares: no gradient descent at all)
and by a tanh MLP trained with Adam:

* a 1-D function, ``y = sin(2x) + 0.3x`` plus noise (sd 0.1), 12 centres vs a 1-32-1 MLP;
* XOR, 200 noisy points around the four corners (as in the ``xor`` experiment), 4 centres
  (one per corner: the Gaussian features make XOR linearly separable, Cover's theorem) vs a
  2-8-1 MLP on the binary cross-entropy.

Both fit; the RBF network gets there in one linear solve, which is why it was popular, and
its units are local (each responds only near its centre). The table gives the test error or
accuracy and the fitting time; the plot shows both 1-D fits with the centres and the RBF
network's XOR decision boundary.
"""

from __future__ import annotations

import time
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

NAME = "rbf"


def target(x):
    return np.sin(2 * x) + 0.3 * x


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    from lamina.models import RBFNetwork

    rng = seed_all(seed)
    steps = 150 if quick else 2000
    x1 = rng.uniform(-3, 3, (200, 1))
    y1 = target(x1) + 0.1 * rng.normal(size=x1.shape)
    xt1 = np.linspace(-3, 3, 300)[:, None]
    yt1 = target(xt1)
    rows, res = [], {}

    t = time.perf_counter()
    rbf1 = RBFNetwork(1, 12).fit(x1, y1, seed=rng)
    t_rbf = time.perf_counter() - t
    mse = float(np.mean((predict_array(rbf1, xt1) - yt1) ** 2))
    res["1-D: RBF network"] = {"test_mse": mse, "seconds": t_rbf}
    rows.append(["1-D function", "RBF network, 12 centres (k-means + least squares)",
                 "test MSE", mse, t_rbf])
    mlp1 = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))
    t = time.perf_counter()
    train_full_batch(mlp1, nn.MSELoss(), optim.Adam(mlp1.parameters(), lr=0.01),
                     tensor(x1), tensor(y1), steps)
    t_mlp = time.perf_counter() - t
    mse = float(np.mean((predict_array(mlp1, xt1) - yt1) ** 2))
    res["1-D: MLP"] = {"test_mse": mse, "seconds": t_mlp}
    rows.append(["1-D function", f"MLP 1-32-1 tanh (Adam, {steps} steps)", "test MSE", mse,
                 t_mlp])

    seeds = rng.integers(0, 2**31 - 1, size=2)
    x2, y2 = xor_data(200, 0.15, seed=int(seeds[0]), as_arrays=True)
    xt2, yt2 = xor_data(200, 0.15, seed=int(seeds[1]), as_arrays=True)
    t = time.perf_counter()
    rbf2 = RBFNetwork(2, 4).fit(x2, y2, seed=rng)
    t_rbf2 = time.perf_counter() - t
    acc = float(np.mean((predict_array(rbf2, xt2)[:, 0] > 0.5) == yt2))
    res["XOR: RBF network"] = {"test_accuracy": acc, "seconds": t_rbf2}
    rows.append(["XOR", "RBF network, 4 centres (k-means + least squares)",
                 "test accuracy", acc, t_rbf2])
    mlp2 = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    t = time.perf_counter()
    train_full_batch(mlp2, nn.BCEWithLogitsLoss(), optim.Adam(mlp2.parameters(), lr=0.05),
                     tensor(x2), tensor(y2[:, None]), min(steps, 500))
    t_mlp2 = time.perf_counter() - t
    acc = float(np.mean((predict_array(mlp2, xt2)[:, 0] > 0) == yt2))
    res["XOR: MLP"] = {"test_accuracy": acc, "seconds": t_mlp2}
    rows.append(["XOR", f"MLP 2-8-1 tanh (Adam, {min(steps, 500)} steps)", "test accuracy",
                 acc, t_mlp2])

    table = markdown_table(["task", "model", "metric", "value", "fit time (s)"], rows, 3)
    markdown = (f"### RBF network vs MLP\n\n1-D: 200 noisy training points, tested on the "
                f"noise-free function; XOR: 200 training and 200 test points (noise 0.15)."
                f"\n\n{table}")
    data = {"results": res, "mlp_steps": steps,
            "centres_1d": rbf1.rbf.centres._data[:, 0].astype(float).tolist(),
            "width_1d": float(rbf1.rbf.widths._data[0])}
    notes: list[str] = []

    def draw(fig):
        ax1, ax2 = fig.subplots(1, 2)
        ax1.scatter(x1[:, 0], y1[:, 0], s=6, c="0.6", label="training data")
        ax1.plot(xt1[:, 0], yt1[:, 0], "k--", lw=1, label="true function")
        ax1.plot(xt1[:, 0], predict_array(rbf1, xt1)[:, 0], label="RBF network")
        ax1.plot(xt1[:, 0], predict_array(mlp1, xt1)[:, 0], label="MLP")
        c = rbf1.rbf.centres._data[:, 0]
        ax1.plot(c, np.full_like(c, y1.min() - 0.2), "k^", ms=5, label="centres")
        ax1.legend(fontsize=7)
        ax1.set_title("1-D function", fontsize=10)
        xx, yy, pts = decision_grid(x2, 150, 0.4)
        p = predict_array(rbf2, pts)[:, 0]
        ax2.contourf(xx, yy, p.reshape(xx.shape), levels=[-10, 0.5, 10],
                     colors=["#9ecae1", "#fdae6b"], alpha=0.6)
        ax2.scatter(x2[:, 0], x2[:, 1], c=y2, cmap="bwr", s=10, edgecolors="k",
                    linewidths=0.3)
        cc = rbf2.rbf.centres._data
        ax2.plot(cc[:, 0], cc[:, 1], "k^", ms=8)
        acc2 = res["XOR: RBF network"]["test_accuracy"]
        ax2.set_title(f"XOR, RBF network: test acc {acc2:.2f}", fontsize=10)

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes)
    return ExperimentResult(NAME, "RBF network vs MLP", markdown, data, plot, notes)
