"""L2 regularization of an over-fitting polynomial (lecture: regularized linear regression,
choosing lambda; Ng's "regularized linear regression and bias vs variance").

The degree-7 polynomial of the ``polynomial-degree`` experiment, fitted to the same kind of
12-point training set, now minimizing the ridge cost

    J(w) = 1/(2m) * [ sum_i (w0 + w . phi(x_i) - y_i)**2 + lambda * sum_{j>=1} w_j**2 ]

for lambda in {0, 1, 10, 100, 1000, 10000, 100000}; the bias w0 is not penalized. Its exact
minimizer is ``w = (Phi^T Phi + lambda I)^-1 Phi^T (y - mean(y))``, ``w0 = mean(y)``.

Feature scaling (this is what makes the lambdas comparable): the columns x, x**2, ..., x**7
are standardized with the training set's mean and standard deviation, so ``Phi^T Phi = m R``
with ``R`` the features' correlation matrix; lambda is then measured in units of the
training-set size m = 12 (lambda = m halves the fitted weights along an average feature).
lambda = 0 over-fits (high variance); lambda of 1 to 10 keeps the curve smooth (lowest
testing error); from 100 on the weights shrink towards zero and by 10,000 the model is
essentially the constant mean(y) (high bias), so training and testing errors both rise to the
variance of y. The table also gives the median over 200 training sets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamina.data.preprocessing import StandardScaler, polynomial_features
from lamina.experiments._common import ExperimentResult, markdown_table, save_plot, seed_all
from lamina.experiments.polynomial_degree import N_TRAIN, NOISE, make_data

NAME = "regularization"
DEGREE = 7
LAMBDAS = [0, 1, 10, 100, 1000, 10000, 100000]


class RidgePoly:
    """Degree-7 polynomial ridge regression with standardized features (see the module)."""

    def __init__(self, lam: float, degree: int = DEGREE):
        self.lam, self.degree = float(lam), degree

    def fit(self, x: np.ndarray, y: np.ndarray) -> RidgePoly:
        phi = polynomial_features(x, self.degree)
        self.scaler = StandardScaler().fit(phi)
        z = self.scaler.transform(phi)
        self.w0 = float(y.mean())
        a = z.T @ z + self.lam * np.eye(z.shape[1])
        self.w = np.linalg.lstsq(a, z.T @ (y - self.w0), rcond=None)[0]
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.w0 + self.scaler.transform(polynomial_features(x, self.degree)) @ self.w

    def mse(self, x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean((self.predict(x) - y) ** 2))


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    rng = seed_all(seed)
    repeats = 40 if quick else 200
    n_test = 500 if quick else 2000
    seeds = rng.integers(0, 2**31 - 1, size=repeats + 2)
    x_tr, y_tr = make_data(int(seeds[0]), N_TRAIN)
    x_te, y_te = make_data(int(seeds[1]), n_test)

    models = [RidgePoly(lam).fit(x_tr, y_tr) for lam in LAMBDAS]
    train_err = [m.mse(x_tr, y_tr) for m in models]
    test_err = [m.mse(x_te, y_te) for m in models]
    weight_norm = [float(np.linalg.norm(m.w)) for m in models]
    many = np.empty((repeats, len(LAMBDAS)))
    many_train = np.empty_like(many)
    for r in range(repeats):
        xr, yr = make_data(int(seeds[r + 2]), N_TRAIN)
        for j, lam in enumerate(LAMBDAS):
            m = RidgePoly(lam).fit(xr, yr)
            many[r, j] = m.mse(x_te, y_te)
            many_train[r, j] = m.mse(xr, yr)
    med_test = np.median(many, axis=0)
    med_train = np.median(many_train, axis=0)
    best = LAMBDAS[int(np.argmin(med_test))]

    rows = [[lam, train_err[j], test_err[j], weight_norm[j], med_train[j], med_test[j]]
            for j, lam in enumerate(LAMBDAS)]
    table = markdown_table(["lambda", "train MSE", "test MSE", "weight norm",
                            f"median train MSE ({repeats} sets)",
                            f"median test MSE ({repeats} sets)"], rows)
    markdown = (f"### L2 regularization of a degree-{DEGREE} polynomial\n\n"
                f"{N_TRAIN} training points, features x..x^{DEGREE} standardized on the "
                f"training set, cost (1/2m)[SSE + lambda ||w||^2] (bias not penalized); test "
                f"set of {n_test} points, noise variance {NOISE ** 2:.3g}.\n\n{table}\n\n"
                f"Lowest median test error at lambda = {best}: too little regularization "
                f"over-fits, too much under-fits (the model tends to the constant mean).")
    data = {"lambdas": LAMBDAS, "train_mse": train_err, "test_mse": test_err,
            "weight_norm": weight_norm, "median_train_mse": med_train.tolist(),
            "median_test_mse": med_test.tolist(), "best_lambda": best, "degree": DEGREE,
            "n_train": N_TRAIN, "n_test": n_test, "repeats": repeats}

    notes: list[str] = []

    def draw(fig):
        ax1, ax2 = fig.subplots(1, 2)
        grid = np.linspace(-1, 1, 300)
        ax1.scatter(x_tr, y_tr, color="k", zorder=3, label="training data")
        for lam, m in zip(LAMBDAS, models):
            if lam in (0, 10, 1000):
                ax1.plot(grid, m.predict(grid), label=f"lambda = {lam}")
        lo, hi = y_tr.min(), y_tr.max()
        ax1.set_ylim(lo - 0.5 * (hi - lo), hi + 0.5 * (hi - lo))
        ax1.set_xlabel("x")
        ax1.set_ylabel("y")
        ax1.legend(fontsize=8)
        ax1.set_title(f"degree-{DEGREE} fits")
        pos = np.arange(len(LAMBDAS))
        ax2.semilogy(pos, med_train, "o-", label="training error (median)")
        ax2.semilogy(pos, med_test, "s-", label="testing error (median)")
        ax2.set_xticks(pos, [str(v) for v in LAMBDAS], rotation=30)
        ax2.set_xlabel("lambda")
        ax2.set_ylabel("MSE")
        ax2.legend(fontsize=8)
        ax2.set_title("error vs lambda")

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes)
    return ExperimentResult(NAME, f"L2 regularization of a degree-{DEGREE} polynomial",
                            markdown, data, plot, notes)
