"""The radial basis function network (Broomhead and Lowe, "Multivariable functional
interpolation and adaptive networks", 1988; Moody and Darken, 1989): Gaussian units around
k-means centres, then a linear readout."""

from __future__ import annotations

import numpy as np

from lamina import nn
from lamina.autograd import no_grad
from lamina.errors import LaminaValueError
from lamina.models._checks import as_matrix, check_choice, check_float, check_int, make_rng
from lamina.tensor import Tensor

__all__ = ["RBFNetwork", "kmeans"]


def kmeans(x, k: int, n_iter: int = 100, n_init: int = 5, seed=None):
    """Lloyd's algorithm: assign each point to its nearest centre, move each centre to the
    mean of its points, repeat until nothing moves; the best of ``n_init`` random starts
    (``k`` distinct data points) by inertia. An emptied cluster restarts at the point
    farthest from its centre.

    Returns:
        ``(centres (k, D), labels (N,), inertia)`` with inertia the sum of squared distances.
    """
    x = as_matrix("kmeans", "x", x)
    k = check_int("kmeans", "k", k)
    if k > len(x):
        raise LaminaValueError(f"kmeans: k must be at most the number of points ({len(x)}), got "
                               f"{k}")
    n_iter = check_int("kmeans", "n_iter", n_iter)
    n_init = check_int("kmeans", "n_init", n_init)
    rng = make_rng("kmeans", seed)
    best = None
    for _ in range(n_init):
        c = x[rng.choice(len(x), k, replace=False)].copy()
        for _ in range(n_iter):
            d2 = ((x[:, None, :] - c[None]) ** 2).sum(axis=2)
            labels = d2.argmin(axis=1)
            new = c.copy()
            for j in range(k):
                members = labels == j
                if members.any():
                    new[j] = x[members].mean(axis=0)
                else:
                    new[j] = x[d2[np.arange(len(x)), labels].argmax()]
            if np.allclose(new, c, rtol=0, atol=0):
                break
            c = new
        d2 = ((x[:, None, :] - c[None]) ** 2).sum(axis=2)
        labels = d2.argmin(axis=1)
        inertia = float(d2[np.arange(len(x)), labels].sum())
        if best is None or inertia < best[2]:
            best = (c, labels, inertia)
    return best


class RBFNetwork(nn.Module):
    """``y = readout(RBF(x))``: an ``nn.RBF`` layer of ``n_centres`` Gaussians and an
    ``nn.Linear`` readout.

    The classic two-stage training (``fit``): centres by k-means on the inputs
    (``init_centres``: Lloyd's algorithm here, or scikit-learn's ``KMeans``), one width for
    all ``sigma = d_max / sqrt(2 K)`` (``d_max`` the largest distance between centres; Haykin,
    *Neural Networks*, 1999), then the readout in closed form by least squares
    (``fit_readout``). Every parameter (centres, widths, readout) also trains by gradient
    descent with any ``lamina.optim`` optimizer.

    >>> net = RBFNetwork(1, 12, 1).fit(x, y, seed=0)        # x (N, 1), y (N,) or (N, 1)
    >>> net(lamina.tensor(x)).shape
    (N, 1)
    """

    def __init__(self, in_features: int, n_centres: int, out_features: int = 1):
        super().__init__()
        self.in_features = check_int("RBFNetwork", "in_features", in_features)
        self.n_centres = check_int("RBFNetwork", "n_centres", n_centres)
        self.out_features = check_int("RBFNetwork", "out_features", out_features)
        self.rbf = nn.RBF(self.in_features, self.n_centres)
        self.readout = nn.Linear(self.n_centres, self.out_features)

    def forward(self, input: Tensor) -> Tensor:
        return self.readout(self.rbf(input))

    def init_centres(self, x, method: str = "lloyd", seed=None) -> RBFNetwork:
        """Centres by k-means on ``x`` (``"lloyd"``: ``kmeans`` above; ``"sklearn"``:
        ``sklearn.cluster.KMeans``), and the common width ``d_max / sqrt(2 K)``."""
        x = as_matrix("RBFNetwork.init_centres", "x", x, self.in_features)
        check_choice("RBFNetwork.init_centres", "method", method, ("lloyd", "sklearn"))
        rng = make_rng("RBFNetwork.init_centres", seed)
        if method == "lloyd":
            centres = kmeans(x, self.n_centres, seed=rng)[0]
        else:
            try:
                from sklearn.cluster import KMeans
            except ImportError:
                raise ImportError("RBFNetwork.init_centres: method='sklearn' needs "
                                  "scikit-learn (pip install scikit-learn)") from None
            km = KMeans(self.n_centres, n_init=5, random_state=int(rng.integers(2**31 - 1)))
            centres = km.fit(x).cluster_centers_
        d = np.sqrt(((centres[:, None] - centres[None]) ** 2).sum(axis=2)).max()
        width = d / np.sqrt(2 * self.n_centres) if d > 0 else 1.0
        with no_grad():
            self.rbf.centres._data[...] = centres
            self.rbf.widths._data[...] = width
        return self

    def features(self, x) -> np.ndarray:
        """The RBF layer's outputs for ``x`` as an array (N, n_centres)."""
        x = as_matrix("RBFNetwork.features", "x", x, self.in_features)
        with no_grad():
            return self.rbf(Tensor(x.astype(self.rbf.centres.dtype)))._data.astype(np.float64)

    def fit_readout(self, x, y, ridge: float = 0.0) -> RBFNetwork:
        """The readout minimizing ``||[Phi, 1] w - y||^2 + ridge ||w||^2`` (least squares,
        ``Phi`` the RBF features), set in place."""
        phi = self.features(x)
        t = np.asarray(y._data if isinstance(y, Tensor) else y, dtype=np.float64)
        if t.ndim == 0 or t.shape[0] != len(phi):
            raise LaminaValueError(f"RBFNetwork.fit_readout: y must have one row per row of x "
                                   f"({len(phi)}), got shape {t.shape}")
        t = as_matrix("RBFNetwork.fit_readout", "y", t.reshape(len(phi), -1),
                      self.out_features)
        ridge = check_float("RBFNetwork.fit_readout", "ridge", ridge, 0.0, strict=False)
        a = np.c_[phi, np.ones(len(phi))]
        if ridge > 0:
            w = np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ t)
        else:
            w = np.linalg.lstsq(a, t, rcond=None)[0]
        with no_grad():
            self.readout.weight._data[...] = w[:-1].T
            self.readout.bias._data[...] = w[-1]
        return self

    def fit(self, x, y, method: str = "lloyd", ridge: float = 0.0, seed=None) -> RBFNetwork:
        """``init_centres(x)`` then ``fit_readout(x, y)``; returns ``self``."""
        return self.init_centres(x, method, seed).fit_readout(x, y, ridge)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, n_centres={self.n_centres}, "
                f"out_features={self.out_features}")
