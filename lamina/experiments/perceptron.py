"""The perceptron's convergence theorem and its limit (lecture: the perceptron, Rosenblatt
1958; Novikoff 1962; Minsky and Papert 1969).

``lamina.models.Perceptron`` trained with Rosenblatt's rule (not gradient descent) on two
data sets: 100 linearly separable points with a margin of at least 0.1 around a known line,
and the four corners of XOR. On the separable set the mistakes per epoch fall to zero, within
Novikoff's bound of (R / gamma)^2 updates in total; on XOR they never do (no line separates
it: every epoch makes at least one mistake, for ever). The plot shows the mistakes per epoch
and the separating line found.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamina.experiments._common import ExperimentResult, markdown_table, save_plot, seed_all

NAME = "perceptron"
GAMMA = 0.1


def separable(n: int, rng: np.random.Generator):
    """``n`` points in [-2, 2]^2 at distance >= GAMMA from a unit-norm (w*, b*) in the
    augmented space; labels by side. Returns ``x, y, R, gamma``."""
    u = np.array([1.0, -1.5, 0.4])
    u /= np.linalg.norm(u)
    x = rng.uniform(-2, 2, (40 * n, 2))
    s = np.c_[x, np.ones(len(x))] @ u
    keep = np.abs(s) >= GAMMA
    x, s = x[keep][:n], s[keep][:n]
    xa = np.c_[x, np.ones(len(x))]
    return x, (s > 0).astype(int), float(np.linalg.norm(xa, axis=1).max()), \
        float(np.abs(s).min())


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    from lamina.models import Perceptron

    rng = seed_all(seed)
    epochs = 30 if quick else 100
    x_sep, y_sep, radius, gamma = separable(100, rng)
    x_xor = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    y_xor = np.array([0, 1, 1, 0])
    runs = {}
    rows = []
    for label, (x, y) in {"separable (margin >= 0.1)": (x_sep, y_sep),
                          "XOR (4 corners)": (x_xor, y_xor)}.items():
        p = Perceptron(2)
        mistakes = p.fit(x, y, epochs=epochs, seed=rng, stop_when_converged=False)
        converged = next((i + 1 for i, m in enumerate(mistakes) if m == 0), None)
        bound = (radius / gamma) ** 2 if label.startswith("separable") else float("inf")
        runs[label] = {"mistakes": [int(m) for m in mistakes], "converged_epoch": converged,
                       "total_updates": int(sum(mistakes)), "novikoff_bound": bound,
                       "weight": p.weight._data.tolist(), "bias": float(p.bias._data)}
        rows.append([label, len(x), "never" if converged is None else converged,
                     int(sum(mistakes)), bound if np.isfinite(bound) else "none",
                     int(min(mistakes))])
    table = markdown_table(["data", "points", "first epoch with 0 mistakes",
                            "total updates", "Novikoff bound (R/gamma)^2",
                            "fewest mistakes in an epoch"], rows)
    markdown = (f"### Perceptron: separable data vs XOR\n\nRosenblatt's rule (lr 1, weights "
                f"from zero), {epochs} epochs, examples shuffled every epoch. R = "
                f"{radius:.3g}, gamma = {gamma:.3g}.\n\n{table}")
    data = {"epochs": epochs, "radius": radius, "gamma": gamma, "runs": runs}
    notes: list[str] = []

    def draw(fig):
        ax1, ax2, ax3 = fig.subplots(1, 3)
        for label, r in runs.items():
            ax1.plot(range(1, epochs + 1), r["mistakes"], label=label)
        ax1.set_xlabel("epoch")
        ax1.set_ylabel("mistakes")
        ax1.set_title("mistakes per epoch", fontsize=10)
        ax1.legend(fontsize=8)
        for ax, (label, (x, y)) in zip((ax2, ax3), {"separable": (x_sep, y_sep),
                                                     "XOR": (x_xor, y_xor)}.items()):
            r = runs[next(k for k in runs if k.startswith(label))]
            ax.scatter(x[:, 0], x[:, 1], c=y, cmap="bwr", s=14, edgecolors="k",
                       linewidths=0.3)
            w, b = np.array(r["weight"]), r["bias"]
            xs = np.linspace(x[:, 0].min() - 0.2, x[:, 0].max() + 0.2, 2)
            if abs(w[1]) > 1e-12:
                ax.plot(xs, -(w[0] * xs + b) / w[1], "k-")
            ax.set_ylim(x[:, 1].min() - 0.3, x[:, 1].max() + 0.3)
            ax.set_title(f"{label}: last line", fontsize=10)

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes, figsize=(12, 3.8))
    return ExperimentResult(NAME, "Perceptron: separable data vs XOR", markdown, data, plot,
                            notes)
