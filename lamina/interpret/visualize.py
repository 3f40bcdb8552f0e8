"""Seeing inside a CNN: filters, feature maps, activation maximization and embeddings of
the penultimate features (``from lamina.interpret import visualize``).

* ``conv_filters(conv)`` / ``feature_maps(model, layer, x)``: the arrays to look at;
* ``image_grid(images, path, ...)``: any stack of 2-D images (or RGB) as one PNG grid,
  drawn with matplotlib's Agg canvas (no window, no global backend change);
* ``plot_filters`` / ``plot_feature_maps``: the two above as grids;
* ``activation_maximization(model, target, shape, ...)``: gradient ascent on the input
  (Erhan et al. 2009; Simonyan et al. 2014) with L2 and total-variation penalties
  (Mahendran and Vedaldi 2015);
* ``penultimate_features`` and ``embed(features, method="pca" | "tsne")``: a 2-D map of what
  the network has learned to separate (t-SNE through scikit-learn when it is installed).

>>> visualize.plot_filters(model[0], "filters.png")
>>> maps = visualize.feature_maps(model, model[0], x[:1])          # (1, 6, 28, 28)
>>> img = visualize.activation_maximization(model, target=3, shape=(1, 32, 32))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import lamina
from lamina.autograd import enable_grad, no_grad
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn.module import Module
from lamina.tensor import Tensor

__all__ = ["conv_filters", "feature_maps", "image_grid", "plot_filters", "plot_feature_maps",
           "activation_maximization", "total_variation", "penultimate_features", "embed"]


def _module(obj, name: str, op: str) -> Module:
    if not isinstance(obj, Module):
        raise LaminaTypeError(f"{op}: {name} must be an nn.Module, got {type(obj).__name__}")
    return obj


def _array(x, op: str, name: str = "x") -> np.ndarray:
    a = np.asarray(getattr(x, "data", x))
    if a.dtype.kind not in "fiu":
        raise LaminaTypeError(f"{op}: {name} must be numeric, got dtype {a.dtype}")
    return a


def conv_filters(conv: Module) -> np.ndarray:
    """The weight of a ``Conv2d`` as ``(out_channels, in_channels, kh, kw)`` float64."""
    op = "conv_filters"
    w = getattr(_module(conv, "conv", op), "weight", None)
    if w is None or w.ndim != 4:
        raise LaminaValueError(f"{op}: expected a Conv2d (a 4-D weight), got {type(conv).__name__}"
                               f" with weight shape {None if w is None else tuple(w.shape)}")
    return np.asarray(w._data, np.float64).copy()


def feature_maps(model: Module, layer: Module, x) -> np.ndarray:
    """The output of ``layer`` (a submodule of ``model``) when ``model(x)`` runs, captured
    by a forward hook, in eval mode and without gradients; e.g. ``(N, C, H, W)``."""
    op = "feature_maps"
    _module(model, "model", op)
    _module(layer, "layer", op)
    if not any(m is layer for m in model.modules()):
        raise LaminaValueError(f"{op}: layer {type(layer).__name__} is not a submodule of model")
    seen = []
    handle = layer.register_forward_hook(lambda m, a, out: seen.append(out))
    was = model.training
    model.eval()
    try:
        with no_grad():
            model(x if isinstance(x, Tensor) else lamina.tensor(_array(x, op)))
    finally:
        handle.remove()
        model.train(was)
    if not seen:
        raise LaminaValueError(f"{op}: the layer did not run in model's forward")
    return np.asarray(seen[0]._data, np.float64)


def image_grid(images, path, ncols: int | None = None, titles=None, cmap: str = "gray",
               normalize: str = "each", suptitle: str | None = None,
               cell: float = 1.2) -> Path | None:
    """Save ``images`` (``(N, H, W)``, or ``(N, H, W, 3)`` RGB) as one PNG grid.

    Args:
        normalize: ``"each"`` (every image to its own [min, max]), ``"all"`` (one scale for
            all, so brightness compares across images) or ``"symmetric"`` (one scale, 0 in
            the middle of the colormap: for weights and signed attributions).
    Returns:
        the path written, or ``None`` (nothing written) without matplotlib.
    """
    op = "image_grid"
    imgs = _array(images, op, "images").astype(np.float64)
    if imgs.ndim not in (3, 4) or (imgs.ndim == 4 and imgs.shape[-1] != 3) or not len(imgs):
        raise LaminaValueError(f"{op}: expected images (N, H, W) or (N, H, W, 3), got shape "
                               f"{imgs.shape}")
    if normalize not in ("each", "all", "symmetric"):
        raise LaminaValueError(f"{op}: normalize must be 'each', 'all' or 'symmetric', got "
                               f"{normalize!r}")
    n = len(imgs)
    ncols = ncols or int(np.ceil(np.sqrt(n)))
    if not isinstance(ncols, int) or ncols < 1:
        raise LaminaValueError(f"{op}: ncols must be a positive int, got {ncols!r}")
    if titles is not None and len(titles) != n:
        raise LaminaValueError(f"{op}: {len(titles)} titles for {n} images")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    nrows = int(np.ceil(n / ncols))
    fig = Figure(figsize=(cell * ncols, cell * nrows + (0.4 if suptitle else 0)),
                 layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    lim = np.abs(imgs).max() or 1.0
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i >= n:
            continue
        im = imgs[i]
        if normalize == "symmetric":
            kw = dict(vmin=-lim, vmax=lim, cmap="coolwarm" if cmap == "gray" else cmap)
        elif normalize == "all":
            kw = dict(vmin=imgs.min(), vmax=imgs.max(), cmap=cmap)
        else:
            kw = dict(cmap=cmap)
        if im.ndim == 3:         # RGB: scale to [0, 1] for imshow
            span = im.max() - im.min()
            im, kw = (im - im.min()) / (span or 1.0), {}
        ax.imshow(im, interpolation="nearest", **kw)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def plot_filters(conv: Module, path, in_channel: int | None = 0, **kw) -> Path | None:
    """The filters of ``conv`` as a grid, one image per output channel (input channel
    ``in_channel``, or their mean when ``None``), 0 at the middle of the colormap."""
    w = conv_filters(conv)
    imgs = w.mean(1) if in_channel is None else w[:, in_channel]
    kw.setdefault("normalize", "symmetric")
    kw.setdefault("titles", [f"filter {i}" for i in range(len(imgs))])
    return image_grid(imgs, path, **kw)


def plot_feature_maps(model: Module, layer: Module, x, path, index: int = 0,
                      **kw) -> Path | None:
    """The feature maps of ``layer`` for sample ``index`` of ``x``, one image per channel."""
    maps = feature_maps(model, layer, x)
    if maps.ndim != 4:
        raise LaminaValueError(f"plot_feature_maps: expected a (N, C, H, W) layer output, got "
                               f"shape {maps.shape}")
    kw.setdefault("titles", [f"channel {i}" for i in range(maps.shape[1])])
    return image_grid(maps[index], path, **kw)


def total_variation(x: Tensor) -> Tensor:
    """``sum (x[..., i+1, j] - x[..., i, j])**2 + (x[..., i, j+1] - x[..., i, j])**2``: the
    squared (beta = 2) total variation of images ``(..., H, W)``, differentiable."""
    dh = x[..., 1:, :] - x[..., :-1, :]
    dw = x[..., :, 1:] - x[..., :, :-1]
    return (dh * dh).sum() + (dw * dw).sum()


def activation_maximization(model: Module, target: int, shape, layer: Module | None = None,
                            steps: int = 200, lr: float = 0.05, l2: float = 1e-3,
                            tv: float = 1e-2, seed: int = 0, init_scale: float = 0.01,
                            clamp: tuple[float, float] | None = None) -> np.ndarray:
    """An input that strongly activates a unit: gradient ascent (Adam) on ``x`` of
    ``objective(x) - l2 * ||x||^2 - tv * TV(x)``.

    Args:
        model: the network (run in eval mode; its parameters are not changed).
        target: the class logit to maximize, or with ``layer`` the channel whose mean
            activation (over positions) is maximized.
        shape: the shape of one input, e.g. ``(1, 32, 32)``.
        layer: a submodule whose output holds the unit; ``None`` for the model's output.
        steps, lr: Adam steps and learning rate.
        l2, tv: weights of the L2 and squared total-variation penalties (>= 0); they keep
            the image small and smooth instead of high-frequency noise.
        seed: for the small random start ``init_scale * N(0, 1)``.
        clamp: optional ``(low, high)`` bounds applied after every step.

    Returns:
        the image, float64 of ``shape``.
    """
    op = "activation_maximization"
    _module(model, "model", op)
    if layer is not None:
        _module(layer, "layer", op)
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or target < 0:
        raise LaminaValueError(f"{op}: target must be a non-negative int, got {target!r}")
    if not isinstance(steps, int) or steps < 1:
        raise LaminaValueError(f"{op}: steps must be a positive int, got {steps!r}")
    for name, v in (("lr", lr), ("l2", l2), ("tv", tv)):
        if not isinstance(v, (int, float)) or v < 0 or (name == "lr" and v == 0):
            kind = "positive" if name == "lr" else "non-negative"
            raise LaminaValueError(f"{op}: {name} must be a {kind} number, got {v!r}")
    shape = tuple(int(s) for s in shape)
    rng = np.random.default_rng(seed)
    x = lamina.tensor((init_scale * rng.standard_normal((1, *shape))).astype(np.float32),
                      requires_grad=True)
    opt = lamina.optim.Adam([x], lr=lr)
    seen = []
    handle = None if layer is None else layer.register_forward_hook(
        lambda m, a, out: seen.append(out))
    was = model.training
    model.eval()
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        with enable_grad():
            for _ in range(steps):
                seen.clear()
                out = model(x)
                act = out if layer is None else seen[0]
                if target >= act.shape[1]:
                    raise LaminaValueError(f"{op}: target {target} out of range for "
                                           f"{act.shape[1]} units")
                unit = act[:, target]
                obj = unit.mean() if unit.ndim > 1 else unit.sum()
                loss = -obj + l2 * (x * x).sum() + tv * total_variation(x)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if clamp is not None:
                    with no_grad():
                        x._data[...] = np.clip(x._data, clamp[0], clamp[1])
    finally:
        if handle is not None:
            handle.remove()
        for p, rg in flags:
            p.requires_grad_(rg)
        model.train(was)
    return np.asarray(x._data[0], np.float64)


def penultimate_features(model: Module, x, layer: Module | None = None) -> np.ndarray:
    """The input of the model's last ``nn.Linear`` (or of ``layer``) for ``x``: the features
    the classifier separates, ``(N, features)`` (flattened)."""
    op = "penultimate_features"
    _module(model, "model", op)
    if layer is None:
        from lamina.nn.modules.linear import Linear
        linears = [m for m in model.modules() if isinstance(m, Linear)]
        if not linears:
            raise LaminaValueError(f"{op}: the model has no nn.Linear; pass layer=")
        layer = linears[-1]
    seen = []
    handle = layer.register_forward_pre_hook(lambda m, a: seen.append(a[0]))
    was = model.training
    model.eval()
    try:
        with no_grad():
            model(x if isinstance(x, Tensor) else lamina.tensor(_array(x, op)))
    finally:
        handle.remove()
        model.train(was)
    f = np.asarray(seen[0]._data, np.float64)
    return f.reshape(len(f), -1)


def embed(features, method: str = "pca", n_components: int = 2, seed: int = 0,
          perplexity: float = 30.0) -> np.ndarray:
    """A low-dimensional map of ``features`` ``(N, D)``: ``"pca"`` (NumPy SVD of the centred
    data; each direction's largest-magnitude entry is made positive, as scikit-learn's
    ``svd_flip(u_based_decision=False)`` does) or ``"tsne"`` (``sklearn.manifold.TSNE``, PCA
    initialization; raises ImportError without scikit-learn)."""
    op = "embed"
    f = _array(features, op, "features").astype(np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise LaminaValueError(f"{op}: expected features (N >= 2, D), got shape {f.shape}")
    if not isinstance(n_components, int) or not 1 <= n_components <= min(f.shape):
        raise LaminaValueError(f"{op}: n_components must be an int in [1, {min(f.shape)}], got "
                               f"{n_components!r}")
    if method == "pca":
        c = f - f.mean(0)
        u, s, vt = np.linalg.svd(c, full_matrices=False)
        signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(1)])
        signs[signs == 0] = 1
        return (u * s * signs)[:, :n_components]
    if method == "tsne":
        try:
            from sklearn.manifold import TSNE
        except ImportError as e:
            raise ImportError(f"{op}: method='tsne' needs scikit-learn (pip install "
                              f"scikit-learn)") from e
        perp = min(perplexity, (len(f) - 1) / 3)
        return TSNE(n_components=n_components, perplexity=perp, init="pca",
                    random_state=seed).fit_transform(f)
    raise LaminaValueError(f"{op}: method must be 'pca' or 'tsne', got {method!r}")
