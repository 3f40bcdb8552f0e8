"""Model selection by K-fold cross-validation (lecture: training, validation and test sets;
K-fold cross-validation; choosing the regularization parameter and the model size).

The breast-cancer data (569 tumours, 30 features, malignant vs benign) is split once into a
training part (75%) and a held-out test part (25%) that the search never sees. On the
training part, stratified K-fold cross-validation (K = 5; folds from
``lamina.data.stratified_kfold_indices``) scores every setting of a coarse grid of the L2
weight decay lambda (1e-4 .. 1, by decades) and the hidden-layer size (8 or 64 units) for a
one-hidden-layer MLP (``lamina.sklearn.NeuralNetClassifier``, inputs standardized inside each
fold, Adam). A fine grid then searches lambda around the coarse winner (x 1/3, x 1, x 3). Both
searches are scikit-learn's ``GridSearchCV`` on the lamina estimator; ``cross_val_score``
scores the unregularized network (lambda = 0) on the same folds for comparison. The best
setting is re-trained on the whole training part and tested once on the held-out data: that
single number is the unbiased estimate; the cross-validation means are optimistic since the
best of many was picked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamina.data import stratified_kfold_indices, train_val_test_split
from lamina.data.datasets import BreastCancer
from lamina.experiments._common import ExperimentResult, markdown_table, save_plot, seed_all


def _sklearn():
    try:
        from sklearn.base import clone
        from sklearn.model_selection import GridSearchCV, cross_val_score
    except ImportError as e:
        raise ImportError("the model-selection experiment needs scikit-learn: pip install "
                          "lamina[sklearn]") from e
    from lamina.sklearn import NeuralNetClassifier
    return clone, GridSearchCV, cross_val_score, NeuralNetClassifier


NAME = "model-selection"


def _rows(search, stage: str) -> list[dict]:
    cv = search.cv_results_
    out = []
    for i, params in enumerate(cv["params"]):
        out.append({"stage": stage, "weight_decay": float(params["weight_decay"]),
                    "hidden": int(params["hidden_sizes"][0]),
                    "mean": float(cv["mean_test_score"][i]),
                    "std": float(cv["std_test_score"][i]),
                    "fold_scores": [float(cv[f"split{k}_test_score"][i])
                                    for k in range(search.n_splits_)]})
    return out


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    clone, GridSearchCV, cross_val_score, NeuralNetClassifier = _sklearn()
    rng = seed_all(seed)
    k, epochs = (3, 15) if quick else (5, 40)
    coarse_lambdas = [1e-3, 1e-1, 1.0] if quick else [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    hiddens = [(8,)] if quick else [(8,), (64,)]
    ds = BreastCancer()
    x = np.asarray(ds.data, np.float64)
    y = np.asarray(ds.targets, np.int64)
    x_tr, _, x_te, y_tr, _, y_te = train_val_test_split(
        x, y, val=0, test=0.25, seed=int(rng.integers(2**31)), stratify=y)
    folds = list(stratified_kfold_indices(y_tr, k, shuffle=True,
                                          seed=int(rng.integers(2**31))))
    est = NeuralNetClassifier(epochs=epochs, batch_size=32, lr=1e-2, standardize=True,
                              random_state=int(rng.integers(2**31)))

    coarse = GridSearchCV(est, {"weight_decay": coarse_lambdas, "hidden_sizes": hiddens},
                          cv=folds, refit=False).fit(x_tr, y_tr)
    best = coarse.best_params_
    lam = best["weight_decay"]
    fine_lambdas = [lam / 3, lam * 3] if quick else [lam / 3, lam, lam * 3]
    fine = GridSearchCV(est, {"weight_decay": fine_lambdas,
                              "hidden_sizes": [best["hidden_sizes"]]},
                        cv=folds, refit=True).fit(x_tr, y_tr)
    baseline = cross_val_score(clone(est).set_params(weight_decay=0.0,
                                                     hidden_sizes=best["hidden_sizes"]),
                               x_tr, y_tr, cv=folds)

    rows = _rows(coarse, "coarse") + _rows(fine, "fine")
    # the overall winner (the fine grid contains the coarse winner, except in quick mode)
    winner = max(rows, key=lambda r: r["mean"])
    final = (fine.best_estimator_ if winner["stage"] == "fine" else
             clone(est).set_params(weight_decay=winner["weight_decay"],
                                   hidden_sizes=(winner["hidden"],)).fit(x_tr, y_tr))
    test_acc = float(final.score(x_te, y_te))
    train_acc = float(final.score(x_tr, y_tr))

    table = markdown_table(
        ["stage", "lambda", "hidden", f"mean CV accuracy ({k} folds)", "std"],
        [[r["stage"], r["weight_decay"], r["hidden"], r["mean"], r["std"]] for r in rows]
        + [["baseline (cross_val_score)", 0.0, winner["hidden"], float(baseline.mean()),
            float(baseline.std())]])
    markdown = (f"### Model selection: {k}-fold cross-validation, coarse-to-fine grid\n\n"
                f"Breast cancer, {len(y_tr)} training / {len(y_te)} held-out test samples; "
                f"one-hidden-layer MLP (lamina.sklearn.NeuralNetClassifier), standardized "
                f"inputs, Adam lr 0.01, {epochs} epochs; lambda is the L2 weight decay.\n\n"
                f"{table}\n\nBest setting: lambda = {winner['weight_decay']:g}, hidden = "
                f"{winner['hidden']} (mean CV accuracy {winner['mean']:.4f}). Re-trained on "
                f"all {len(y_tr)} training samples: training accuracy {train_acc:.4f}, "
                f"held-out test accuracy {test_acc:.4f}.")
    data = {"k": k, "epochs": epochs, "grid": rows,
            "baseline": {"weight_decay": 0.0, "scores": baseline.tolist(),
                         "mean": float(baseline.mean()), "std": float(baseline.std())},
            "best": {"weight_decay": winner["weight_decay"], "hidden": winner["hidden"],
                     "cv_mean": winner["mean"], "cv_std": winner["std"]},
            "train_accuracy": train_acc, "test_accuracy": test_acc,
            "n_train": len(y_tr), "n_test": len(y_te)}

    notes: list[str] = []

    def draw(fig):
        ax = fig.subplots(1, 1)
        for h in sorted({r["hidden"] for r in rows}):
            pts = sorted((r["weight_decay"], r["mean"], r["std"]) for r in rows
                         if r["hidden"] == h)
            lam_, mean_, std_ = (np.array(v) for v in zip(*pts))
            ax.errorbar(lam_, mean_, yerr=std_, marker="o", capsize=3, label=f"hidden {h}")
        ax.axhline(test_acc, color="k", ls=":", label="best setting: held-out test accuracy")
        ax.set_xscale("log")
        ax.set_xlabel("lambda (weight decay)")
        ax.set_ylabel(f"{k}-fold CV accuracy (mean +- std)")
        ax.set_title("coarse-to-fine grid search")
        ax.legend(fontsize=8)

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes, figsize=(7, 4.5))
    return ExperimentResult(NAME, "Model selection: K-fold cross-validation, grid search",
                            markdown, data, plot, notes)
