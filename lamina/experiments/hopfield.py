"""Hopfield network capacity (lecture: associative memory; Hopfield 1982; Amit, Gutfreund
and Sompolinsky 1985).

``lamina.models.HopfieldNetwork`` with N = 100 neurons stores P random +-1 patterns, with the
Hebbian rule and with the pseudo-inverse (projection) rule. Each stored pattern is corrupted
(5 of its 100 bits flipped) and recalled by asynchronous updates; a recall counts when the
final state agrees with the pattern on at least 95 bits. The recall rate stays near 1 for
small P and collapses for the Hebbian rule around the known capacity 0.138 N = 13.8 patterns
(Amit, Gutfreund and Sompolinsky, 1985), while the projection rule keeps recalling well past
it. The plot shows both curves with the 0.138 N line, and corrupted 10x10 patterns (20% of
the bits flipped) next to what the network recalls.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamina.experiments._common import ExperimentResult, markdown_table, save_plot, seed_all

NAME = "hopfield"
N = 100
NOISE = 0.05


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    from lamina.models import HopfieldNetwork
    from lamina.models.hopfield import HEBBIAN_CAPACITY, corrupt

    rng = seed_all(seed)
    loads = [2, 6, 10, 14, 18, 24, 30, 40] if quick else list(range(2, 41, 2))
    trials = 1 if quick else 5
    rules = ("hebbian", "pseudo-inverse")
    rates = {rule: [] for rule in rules}
    for p in loads:
        for rule in rules:
            r = []
            for _ in range(trials):
                pats = rng.choice([-1.0, 1.0], size=(p, N))
                net = HopfieldNetwork(N).store(pats, rule)
                r.append(net.recall_rate(pats, noise=NOISE, min_overlap=0.95, seed=rng))
            rates[rule].append(float(np.mean(r)))
    rows = [[p, p / N, rates["hebbian"][i], rates["pseudo-inverse"][i]]
            for i, p in enumerate(loads)]
    table = markdown_table(["stored patterns P", "P / N", "recall rate (Hebbian)",
                            "recall rate (pseudo-inverse)"], rows, digits=3)
    markdown = (f"### Hopfield network: recall rate vs stored patterns\n\nN = {N} neurons, "
                f"random patterns, {int(NOISE * N)} bits flipped, asynchronous recall; "
                f"success = at least 95% of bits right; mean over {trials} trial(s). Hebbian "
                f"capacity 0.138 N = {HEBBIAN_CAPACITY * N:.1f} (Amit, Gutfreund and "
                f"Sompolinsky, 1985).\n\n{table}")
    # pictures: 4 stored patterns, 20% of the bits flipped, recalled
    pats = rng.choice([-1.0, 1.0], size=(4, N))
    net = HopfieldNetwork(N).store(pats)
    noisy = corrupt(pats, 0.2, rng)
    recalled = net.recall(noisy, seed=rng)
    data = {"n_neurons": N, "loads": loads, "trials": trials, "noise": NOISE,
            "recall_rate": rates, "capacity": HEBBIAN_CAPACITY * N,
            "pictures_recalled_exactly": int(np.all(recalled == pats, axis=1).sum())}
    notes: list[str] = []

    def draw(fig):
        grid = fig.add_gridspec(3, 6)
        ax = fig.add_subplot(grid[:, :3])
        for rule in rules:
            ax.plot(loads, rates[rule], "o-", label=rule)
        ax.axvline(HEBBIAN_CAPACITY * N, color="k", ls="--", label="0.138 N")
        ax.set_xlabel("stored patterns P")
        ax.set_ylabel("recall rate")
        ax.set_title(f"N = {N}", fontsize=10)
        ax.legend(fontsize=8)
        for j, (title, imgs) in enumerate((("stored", pats), ("20% flipped", noisy),
                                           ("recalled", recalled))):
            for i in range(3):
                a = fig.add_subplot(grid[i, 3 + j])
                a.imshow(imgs[i].reshape(10, 10), cmap="gray", vmin=-1, vmax=1)
                a.set_xticks([])
                a.set_yticks([])
                if i == 0:
                    a.set_title(title, fontsize=9)

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes, figsize=(11, 4.5))
    return ExperimentResult(NAME, "Hopfield network: recall rate vs stored patterns",
                            markdown, data, plot, notes)
