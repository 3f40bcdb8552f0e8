"""The learning rate of gradient descent (lecture: gradient descent for linear regression,
"making sure gradient descent works": too small is slow, too large diverges).

Full-batch gradient descent (``optim.SGD`` without momentum) on linear regression with the
mean squared error, from the same zero initialization, at three learning rates. For this
quadratic loss the Hessian is ``H = (2/m) [X 1]^T [X 1]`` and gradient descent converges
exactly when ``lr < 2 / lambda_max(H)``; the experiment computes that critical rate and runs

* too small: ``0.02 x`` critical: the loss falls, but slowly (far from the minimum at the end);
* right: ``2 / (lambda_max + lambda_min)``, the rate with the fastest guaranteed convergence;
* too large: ``1.2 x`` critical: every step overshoots further and the loss grows
  geometrically (by ``(1 - lr lambda_max)**2 = (1 - 2.4)**2 = 1.96`` per step along the top
  eigenvector).

The features are standardized (then the "right" rate is exactly 0.5: the Hessian's eigenvalues
are ``2 (1 + |rho|)``, 2 and ``2 (1 - |rho|)``, with ``rho`` the features' correlation, so
``2 / (lambda_max + lambda_min) = 2 / 4``); the table gives the
rates, the loss after the last step, and the best loss reachable (the least-squares fit).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamina import nn, optim
from lamina.experiments._common import (
    ExperimentResult,
    fmt,
    markdown_table,
    save_plot,
    seed_all,
    tensor,
)

NAME = "learning-rate"


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    rng = seed_all(seed)
    m = 100
    steps = 30 if quick else 60
    x = rng.standard_normal((m, 2))
    x[:, 1] = 0.6 * x[:, 0] + 0.8 * x[:, 1]            # correlated features
    x = (x - x.mean(0)) / x.std(0)
    y = 3.0 + 2.0 * x[:, 0] - 1.0 * x[:, 1] + 0.5 * rng.standard_normal(m)
    a = np.concatenate([x, np.ones((m, 1))], axis=1)
    eig = np.linalg.eigvalsh(2.0 / m * a.T @ a)
    critical = 2.0 / eig[-1]
    best_loss = float(np.mean((a @ np.linalg.lstsq(a, y, rcond=None)[0] - y) ** 2))
    rates = {"too small": 0.02 * critical, "right": 2.0 / (eig[-1] + eig[0]),
             "too large": 1.2 * critical}

    xt, yt = tensor(x), tensor(y[:, None])
    loss_fn = nn.MSELoss()
    curves: dict[str, list[float]] = {}
    for label, lr in rates.items():
        model = nn.Linear(2, 1)
        nn.init.zeros_(model.weight)
        nn.init.zeros_(model.bias)
        opt = optim.SGD(model.parameters(), lr=lr)
        losses = []
        for _ in range(steps):
            opt.zero_grad()
            loss = loss_fn(model(xt), yt)
            losses.append(float(loss._data))
            loss.backward()
            opt.step()
        losses.append(float(loss_fn(model(xt), yt)._data))
        curves[label] = losses

    rows = [[label, lr, lr / critical, curves[label][0], curves[label][-1],
             "diverges" if curves[label][-1] > curves[label][0] else
             ("converged" if curves[label][-1] < 1.01 * best_loss else "still far")]
            for label, lr in rates.items()]
    table = markdown_table(["rate", "lr", "lr / critical", "initial loss",
                            f"loss after {steps} steps", "outcome"], rows)
    markdown = (f"### Learning rate of gradient descent (linear regression)\n\n"
                f"{m} samples, 2 standardized features; critical rate 2/lambda_max(H) = "
                f"{fmt(critical)}; least-squares loss {fmt(best_loss)}.\n\n{table}")
    data = {"rates": {k: float(v) for k, v in rates.items()}, "critical_lr": float(critical),
            "hessian_eigenvalues": eig.tolist(), "best_loss": best_loss, "steps": steps,
            "loss_curves": curves}

    notes: list[str] = []

    def draw(fig):
        ax1, ax2 = fig.subplots(1, 2)
        for label, lr in rates.items():
            ax = ax2 if label == "too large" else ax1
            ax.semilogy(curves[label], label=f"{label} (lr = {lr:.3g})")
        ax1.axhline(best_loss, color="gray", ls=":", label="least-squares minimum")
        for ax, title in ((ax1, "converging rates"), (ax2, "too large: diverges")):
            ax.set_xlabel("step")
            ax.set_ylabel("MSE (log scale)")
            ax.set_title(title)
            ax.legend(fontsize=8)

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes)
    return ExperimentResult(NAME, "Learning rate of gradient descent", markdown, data, plot,
                            notes)
