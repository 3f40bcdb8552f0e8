"""Polynomial degree and overfitting (lecture: the bias-variance trade-off, "underfitting and
overfitting" of polynomial regression).

Reproduces the classic picture: fit polynomials of degree 1..7 to a small noisy training set
(12 points from a cubic plus Gaussian noise, x in [-1, 1]) and measure the mean squared error
on the training set and on a large test set from the same distribution. The training error
falls with every added degree (the models are nested), while the testing error falls until
the degree matches the data (underfitting: high bias) and rises again beyond it (overfitting:
high variance, the curve chases the noise).

Each fit is the exact least-squares minimizer of the features ``[1, x, ..., x**d]`` (what
gradient descent converges to; solved directly because high powers make the problem badly
conditioned for gradient descent). Besides the one training set plotted, the table gives the
median test error over 200 independently drawn training sets, which removes the luck of one
draw.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamina.data.datasets import noisy_polynomial
from lamina.data.preprocessing import polynomial_features
from lamina.experiments._common import ExperimentResult, markdown_table, save_plot, seed_all

NAME = "polynomial-degree"
COEFFICIENTS = [0.5, -1.0, -2.0, 2.5]   # the true cubic, increasing powers
NOISE = 0.3
N_TRAIN = 12
DEGREES = list(range(1, 8))


def make_data(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of the noisy cubic as float64 arrays ``x (n,)`` and ``y (n,)``."""
    x, y = noisy_polynomial(n, coefficients=COEFFICIENTS, noise=NOISE, seed=seed,
                            as_arrays=True)
    return np.asarray(x, np.float64)[:, 0], np.asarray(y, np.float64)[:, 0]


def design(x: np.ndarray, degree: int) -> np.ndarray:
    """The design matrix ``[1, x, ..., x**degree]``."""
    return polynomial_features(x, degree, include_bias=True)


def fit_poly(x: np.ndarray, y: np.ndarray, degree: int) -> np.ndarray:
    """Least-squares coefficients of a degree-``degree`` polynomial (minimum-norm if the
    system is underdetermined)."""
    return np.linalg.lstsq(design(x, degree), y, rcond=None)[0]


def mse(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((design(x, len(w) - 1) @ w - y) ** 2))


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    rng = seed_all(seed)
    repeats = 40 if quick else 200
    n_test = 500 if quick else 2000
    seeds = rng.integers(0, 2**31 - 1, size=repeats + 2)
    x_tr, y_tr = make_data(int(seeds[0]), N_TRAIN)
    x_te, y_te = make_data(int(seeds[1]), n_test)

    train_err, test_err, fits = [], [], []
    for d in DEGREES:
        w = fit_poly(x_tr, y_tr, d)
        fits.append(w)
        train_err.append(mse(w, x_tr, y_tr))
        test_err.append(mse(w, x_te, y_te))
    # the same comparison over many training sets: median test error per degree
    many = np.empty((repeats, len(DEGREES)))
    many_train = np.empty_like(many)
    for r in range(repeats):
        xr, yr = make_data(int(seeds[r + 2]), N_TRAIN)
        for j, d in enumerate(DEGREES):
            w = fit_poly(xr, yr, d)
            many[r, j] = mse(w, x_te, y_te)
            many_train[r, j] = mse(w, xr, yr)
    med_test = np.median(many, axis=0)
    med_train = np.median(many_train, axis=0)
    best = DEGREES[int(np.argmin(med_test))]

    rows = [[d, train_err[j], test_err[j], med_train[j], med_test[j]]
            for j, d in enumerate(DEGREES)]
    table = markdown_table(
        ["degree", "train MSE", "test MSE", f"median train MSE ({repeats} sets)",
         f"median test MSE ({repeats} sets)"], rows)
    markdown = (f"### Polynomial degree: training vs testing error\n\n"
                f"{N_TRAIN} training points from a cubic plus noise (std {NOISE}); test set of "
                f"{n_test} points. Noise floor (best possible test MSE): {NOISE ** 2:.3g}.\n\n"
                f"{table}\n\nLowest median test error at degree {best}; training error only "
                f"falls with the degree, testing error rises again past it (overfitting).")
    data = {"degrees": DEGREES, "train_mse": train_err, "test_mse": test_err,
            "median_train_mse": med_train.tolist(), "median_test_mse": med_test.tolist(),
            "best_degree": best, "n_train": N_TRAIN, "n_test": n_test, "repeats": repeats,
            "noise_variance": NOISE ** 2}

    notes: list[str] = []

    def draw(fig):
        ax1, ax2 = fig.subplots(1, 2)
        grid = np.linspace(-1, 1, 300)
        ax1.scatter(x_tr, y_tr, color="k", zorder=3, label="training data")
        ax1.plot(grid, np.polynomial.polynomial.polyval(grid, COEFFICIENTS), "k--", lw=1,
                 label="true curve")
        for d in (1, 3, 7):
            ax1.plot(grid, design(grid, d) @ fits[d - 1], label=f"degree {d}")
        lo, hi = y_tr.min(), y_tr.max()
        ax1.set_ylim(lo - 0.5 * (hi - lo), hi + 0.5 * (hi - lo))
        ax1.set_xlabel("x")
        ax1.set_ylabel("y")
        ax1.legend(fontsize=8)
        ax1.set_title("fits")
        ax2.semilogy(DEGREES, med_train, "o-", label="training error (median)")
        ax2.semilogy(DEGREES, med_test, "s-", label="testing error (median)")
        ax2.axhline(NOISE ** 2, color="gray", ls=":", label="noise variance")
        ax2.set_xlabel("polynomial degree")
        ax2.set_ylabel("MSE")
        ax2.legend(fontsize=8)
        ax2.set_title("error vs degree")

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes)
    return ExperimentResult(NAME, "Polynomial degree: training vs testing error", markdown,
                            data, plot, notes)
