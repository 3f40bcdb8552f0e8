"""Restricted Boltzmann machines on digits (lecture: Boltzmann machines and RBMs; contrastive
divergence, Hinton 2002; persistent CD, Tieleman 2008).

``lamina.models.RBM`` (Bernoulli-Bernoulli, 64 hidden units) on the 1,797 scikit-learn digits
binarized at half intensity, trained three ways with the same learning rate, batch size and
epochs: CD-1, CD-10 and persistent CD (PCD-1). The table gives the reconstruction error per
epoch and the final exact pseudo-likelihood (the sum over all 64 bits of
``log p(v_i | v_-i)``); scikit-learn's ``BernoulliRBM`` (which is PCD-1) trained with the same
hyperparameters is scored with the same formula on its own weights. Reconstruction error
falls for all three; the pseudo-likelihoods of lamina's PCD and scikit-learn's agree. The
plot shows the error curves and the PCD model's 64 filters (rows of the weight matrix) as
8x8 images: strokes and blobs of digits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamina.experiments._common import ExperimentResult, markdown_table, save_plot, seed_all

NAME = "rbm"


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    from sklearn.datasets import load_digits
    from sklearn.neural_network import BernoulliRBM

    from lamina.models import RBM

    rng = seed_all(seed)
    x = (load_digits().data / 16 > 0.5).astype(np.float64)
    if quick:
        x = x[rng.permutation(len(x))[:300]]
    hp = {"n_hidden": 16 if quick else 64, "lr": 0.05, "batch_size": 10,
          "epochs": 2 if quick else 10}
    runs = {"CD-1": ("cd", 1), "CD-10": ("cd", 10), "PCD-1": ("pcd", 1)}
    curves, pl, models = {}, {}, {}
    init_seed = int(rng.integers(2**31 - 1))
    for label, (method, k) in runs.items():
        rbm = RBM(64, hp["n_hidden"], seed=init_seed)
        before = rbm.reconstruction_error(x)
        errors = rbm.fit(x, epochs=hp["epochs"], lr=hp["lr"], batch_size=hp["batch_size"],
                         method=method, k=k, seed=int(rng.integers(2**31 - 1)))
        curves[label] = [before] + errors
        pl[label] = float(rbm.pseudo_likelihood(x).mean())
        models[label] = rbm
    sk = BernoulliRBM(n_components=hp["n_hidden"], learning_rate=hp["lr"],
                      batch_size=hp["batch_size"], n_iter=hp["epochs"],
                      random_state=int(rng.integers(2**31 - 1))).fit(x)
    sk_rbm = RBM.from_sklearn(sk)
    pl["scikit-learn BernoulliRBM"] = float(sk_rbm.pseudo_likelihood(x).mean())
    curves["scikit-learn BernoulliRBM"] = [None] * hp["epochs"] + \
        [sk_rbm.reconstruction_error(x)]
    pl_init = float(RBM(64, hp["n_hidden"], seed=init_seed).pseudo_likelihood(x).mean())

    shown = sorted({1, hp["epochs"] // 2, hp["epochs"]})
    headers = ["training", *[f"recon. error epoch {e}" for e in shown],
               "pseudo-likelihood (exact, mean)"]
    rows = [[label, *[c[e] if c[e] is not None else "-" for e in shown], pl[label]]
            for label, c in curves.items()]
    table = markdown_table(headers, rows)
    markdown = (f"### RBM on binarized digits: CD-1, CD-10, PCD and scikit-learn\n\n"
                f"{len(x)} digits, 64 visible and {hp['n_hidden']} hidden units, learning rate "
                f"{hp['lr']}, batch {hp['batch_size']}, {hp['epochs']} epochs; pseudo-"
                f"likelihood before training {pl_init:.2f}.\n\n{table}")
    data = {"hyperparameters": hp, "reconstruction_error": curves, "pseudo_likelihood": pl,
            "pseudo_likelihood_init": pl_init}
    notes: list[str] = []

    def draw(fig):
        grid = fig.add_gridspec(1, 2)
        ax = fig.add_subplot(grid[0, 0])
        for label in runs:
            ax.plot(range(hp["epochs"] + 1), curves[label], "o-", ms=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel("reconstruction error (MSE)")
        ax.legend(fontsize=8)
        w = models["PCD-1"].weight._data
        side = int(np.ceil(np.sqrt(len(w))))
        inner = grid[0, 1].subgridspec(side, side, wspace=0.05, hspace=0.05)
        for i in range(side * side):
            a = fig.add_subplot(inner[i // side, i % side])
            a.set_axis_off()
            if i < len(w):
                a.imshow(w[i].reshape(8, 8), cmap="gray")

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes, figsize=(11, 5))
    return ExperimentResult(NAME, "RBM on binarized digits: CD-1, CD-10, PCD, scikit-learn",
                            markdown, data, plot, notes)
