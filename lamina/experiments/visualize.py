"""Seeing inside a CNN (lecture: visualizing and understanding convolutional networks;
Zeiler and Fergus 2014, Simonyan, Vedaldi and Zisserman 2014, Sundararajan et al. 2017,
Selvaraju et al. 2017).

LeNet-5 is trained on the bundled 8x8 digits (upscaled to 32x32), then looked at with
``lamina.interpret.visualize`` and ``lamina.interpret``: the six first-layer filters, the
feature maps of one digit after each convolution, what each class's logit responds to most
(activation maximization with L2 and total-variation penalties), a PCA map of the 84
penultimate features, and three attributions for the same test digits side by side
(saliency, Integrated Gradients, Grad-CAM on the second convolution). A deletion check puts a
number on the attributions: zeroing the 10% of pixels each method ranks highest lowers the
true class's logit far more than zeroing 10% of the ink at random.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

import lamina
from lamina import nn, optim
from lamina.data import train_val_test_split
from lamina.data.datasets import Digits
from lamina.experiments._common import (
    ExperimentResult,
    markdown_table,
    predict_array,
    save_plot,
    seed_all,
    train_minibatch,
)
from lamina.experiments.digits import to_32x32
from lamina.interpret import IntegratedGradients, LayerAttribution, LayerGradCam, Saliency
from lamina.interpret import visualize as vis

NAME = "visualize"
SHOW = 6          # test digits in the attribution grid


def _attributions(model, x, y) -> dict[str, np.ndarray]:
    # in float64: IntegratedGradients scales the input by float64 path coefficients
    model = copy.deepcopy(model).double()
    xt, tgt = lamina.tensor(x.astype(np.float64)), y.astype(np.int64)
    cam = LayerGradCam(model, model[3]).attribute(xt, target=tgt, relu_attributions=True)
    cam = LayerAttribution.interpolate(cam, (32, 32), "bilinear")
    return {"saliency": np.abs(Saliency(model).attribute(xt, target=tgt)._data),
            "Integrated Gradients": IntegratedGradients(model).attribute(
                xt, baselines=0.0, target=tgt, n_steps=32)._data,
            "Grad-CAM (conv 2)": cam._data}


def _deletion(model, x, y, scores, frac: float, rng) -> float:
    """Mean drop of the true logit when the top ``frac`` of pixels by ``scores`` (or random
    inked pixels when ``scores`` is None) are set to 0, relative to the logit."""
    base = predict_array(model, x)[np.arange(len(y)), y]
    xd = x.copy().reshape(len(x), -1)
    k = int(frac * xd.shape[1])
    for i in range(len(x)):
        if scores is None:
            ink = np.flatnonzero(xd[i] > 0)
            idx = rng.choice(ink, size=min(k, len(ink)), replace=False)
        else:
            idx = np.argsort(-scores[i].reshape(-1), kind="stable")[:k]
        xd[i, idx] = 0.0
    after = predict_array(model, xd.reshape(x.shape))[np.arange(len(y)), y]
    return float(np.mean((base - after) / np.abs(base)))


def _draw_attributions(fig, digits, labels, pred, attrs) -> None:
    """One row per test digit: the input, |saliency|, Integrated Gradients (signed: red
    raises the true logit, blue lowers it) and Grad-CAM over the digit; every map on its own
    scale."""
    axes = fig.subplots(len(digits), 4, squeeze=False)
    sal, ig, cam = (attrs[k][:, 0] for k in ("saliency", "Integrated Gradients",
                                             "Grad-CAM (conv 2)"))
    for i, row in enumerate(axes):
        lim = np.abs(ig[i]).max() or 1.0
        row[0].imshow(digits[i], cmap="gray")
        row[1].imshow(sal[i], cmap="gray")
        row[2].imshow(ig[i], cmap="coolwarm", vmin=-lim, vmax=lim)
        row[3].imshow(digits[i], cmap="gray")
        row[3].imshow(cam[i], cmap="jet", alpha=0.5)
        titles = (f"digit {labels[i]} (pred. {pred[i]})", "|saliency|", "Integ. Grad.",
                  "Grad-CAM on digit")
        for ax, title in zip(row, titles):
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    fig.suptitle("attributions for the true class", fontsize=10)


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    from lamina import models
    rng = seed_all(seed)
    x, y = Digits(flatten=True).tensors()
    x, y = np.asarray(x._data, np.float32), np.asarray(y._data, np.int64)
    x_tr, _, x_te, y_tr, _, y_te = train_val_test_split(
        x, y, val=0, test=0.25, seed=int(rng.integers(2**31)), stratify=y)
    x_tr, x_te = to_32x32(x_tr), to_32x32(x_te)
    if quick:
        x_tr, y_tr, x_te, y_te = x_tr[:400], y_tr[:400], x_te[:100], y_te[:100]
    seed_all(seed)
    model = models.LeNet5(num_classes=10, padding=0)
    train_minibatch(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3),
                    x_tr, y_tr, 2 if quick else 10, 32, np.random.default_rng(seed),
                    y_dtype=np.int64)
    model.eval()
    acc = float(np.mean(predict_array(model, x_te).argmax(1) == y_te))
    out_dir = Path(out_dir)
    figures = {}
    # filters and feature maps of one digit
    figures["filters"] = vis.plot_filters(model[0], out_dir / f"{NAME}-filters.png",
                                          ncols=6, suptitle="LeNet-5 conv 1 filters (5x5)")
    one = x_te[:1]
    maps1 = vis.feature_maps(model, model[1], one)[0]
    maps2 = vis.feature_maps(model, model[4], one)[0]
    figures["feature_maps"] = vis.image_grid(
        np.concatenate([one[0], np.pad(maps1, ((0, 0), (2, 2), (2, 2)))]),
        out_dir / f"{NAME}-feature-maps.png", ncols=7,
        titles=[f"digit {y_te[0]}"] + [f"conv1 ch {i}" for i in range(6)],
        suptitle="one digit and its feature maps after conv 1 + ReLU (28x28, padded to 32x32)")
    figures["feature_maps_conv2"] = vis.image_grid(
        maps2, out_dir / f"{NAME}-feature-maps-conv2.png", ncols=8,
        titles=[f"conv2 ch {i}" for i in range(16)],
        suptitle="the same digit after conv 2 + ReLU (10x10)")
    # activation maximization, one image per class
    steps = 20 if quick else 150
    maxi = np.stack([vis.activation_maximization(model, c, (1, 32, 32), steps=steps, lr=0.05,
                                                 l2=1e-3, tv=5e-2, seed=seed)[0]
                     for c in range(10)])
    with lamina.no_grad():
        logits_max = model(lamina.tensor(maxi[:, None].astype(np.float32)))._data
    figures["activation_max"] = vis.image_grid(
        maxi, out_dir / f"{NAME}-activation-max.png", ncols=10,
        titles=[f"class {c}" for c in range(10)],
        suptitle="inputs that maximize each class logit (L2 + TV penalties)")
    am_pred = logits_max.argmax(1)
    # attributions side by side
    xs, ys = x_te[:SHOW], y_te[:SHOW]
    attrs = _attributions(model, xs, ys)
    pred = predict_array(model, xs).argmax(1)
    figures["attributions"] = save_plot(
        lambda fig: _draw_attributions(fig, xs[:, 0], ys, pred, attrs), out_dir,
        f"{NAME}-attributions.png", [], figsize=(5.6, 1.45 * SHOW + 0.4))
    # deletion check on more test digits
    n_del = min(len(x_te), 40 if quick else 200)
    xd, yd = x_te[:n_del], y_te[:n_del]
    scores = _attributions(model, xd, yd)
    drng = np.random.default_rng(seed)
    rows = [[name, _deletion(model, xd, yd, s, 0.1, drng)] for name, s in scores.items()]
    rows.append(["random inked pixels", _deletion(model, xd, yd, None, 0.1, drng)])
    # PCA of the penultimate (84-d) features
    feats = vis.penultimate_features(model, x_te)
    pca = vis.embed(feats, "pca")
    centroid = np.stack([pca[y_te == c].mean(0) for c in np.unique(y_te)])
    near = np.argmin(((pca[:, None] - centroid[None]) ** 2).sum(-1), 1)
    pca_acc = float(np.mean(np.unique(y_te)[near] == y_te))
    table = markdown_table(["attribution", "relative drop of the true logit, top 10% pixels "
                                           "zeroed"], rows)
    markdown = (
        f"### Inside LeNet-5 on the digits: filters, feature maps and attributions\n\n"
        f"LeNet-5 trained on {len(x_tr)} digits (32x32), test accuracy {acc:.2%} on "
        f"{len(x_te)}. Activation maximization ({steps} Adam steps, L2 1e-3, TV 5e-2) finds "
        f"an input classified as its target for {int(np.sum(am_pred == np.arange(10)))}/10 "
        f"classes. In the first two principal components of the 84 penultimate features a "
        f"nearest-class-centroid rule is right for {pca_acc:.1%} of test digits. Deletion "
        f"check on {n_del} test digits:\n\n{table}")
    notes: list[str] = []

    def draw(fig):
        ax = fig.subplots()
        for c in range(10):
            pts = pca[y_te == c]
            ax.scatter(pts[:, 0], pts[:, 1], s=8, label=str(c))
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        ax.set_title("penultimate features of the test digits (PCA)")
        ax.legend(fontsize=7, ncol=2, markerscale=2)

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes, figsize=(6.0, 5.0))
    data = {"test_accuracy": acc, "deletion": {r[0]: r[1] for r in rows},
            "activation_max_predicted": am_pred.tolist(), "pca_centroid_accuracy": pca_acc,
            "figures": {k: None if v is None else str(v) for k, v in figures.items()}}
    return ExperimentResult(NAME, "Inside LeNet-5: filters, feature maps, activation "
                            "maximization and attributions", markdown, data, plot, notes)
