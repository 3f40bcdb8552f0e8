"""Semantic segmentation with a small U-Net (lecture: fully convolutional networks and U-Net,
Ronneberger, Fischer and Brox 2015: an encoder-decoder whose skip connections carry the
encoder's fine detail to the decoder, so every pixel gets a class).

The data are ``lamina.vision.datasets.Shapes``: 32x32 RGB images with one to three
non-overlapping rectangles, ellipses and triangles of random colour on a noisy background;
each pixel is labelled background, rectangle, ellipse or triangle. Colour alone separates the
shapes from the background but not from each other: telling a rectangle's pixel from an
ellipse's needs the context a receptive field spanning the shape gives, which the U-Net's
downsampling path provides and its skip connections turn back into sharp boundaries. A
U-Net (base width 8, depth 2, transposed-convolution upsampling) is trained with Adam on the
per-pixel cross-entropy; the table gives the held-out per-class IoU and Dice, the mean IoU
(mIoU) and the pixel accuracy, beside the "all background" baseline. The plot shows test
images, their ground truth and the predictions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamina import nn, optim
from lamina.autograd import no_grad
from lamina.experiments._common import (
    ExperimentResult,
    markdown_table,
    minibatches,
    save_plot,
    seed_all,
    tensor,
)
from lamina.models.unet import UNet
from lamina.vision.datasets import SHAPE_CLASSES, Shapes
from lamina.vision.metrics import segmentation_scores

NAME = "segmentation"
LABELS = ("background",) + SHAPE_CLASSES


def _predict(model, images: np.ndarray, batch: int = 64) -> np.ndarray:
    model.eval()
    out = []
    with no_grad():
        for i in range(0, len(images), batch):
            out.append(np.asarray(model(tensor(images[i:i + batch]))._data).argmax(1))
    model.train()
    return np.concatenate(out)


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    rng = seed_all(seed)
    n_train, n_test, epochs = (96, 48, 3) if quick else (640, 200, 14)
    batch_size, lr = 16, 5e-3
    s_train, s_test = (int(s) for s in rng.integers(0, 2**31 - 1, size=2))
    train, test = Shapes(n_train, seed=s_train), Shapes(n_test, seed=s_test)
    model = UNet(3, len(LABELS), base_channels=8, depth=2)
    opt = optim.Adam(model.parameters(), lr=lr)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    losses = []
    model.train()
    for _ in range(epochs):
        total = 0.0
        for idx in minibatches(n_train, batch_size, rng):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(tensor(train.images[idx])),
                                               tensor(train.semantic[idx], np.int64))
            loss.backward()
            opt.step()
            total += float(loss._data) * len(idx)
        sched.step()
        losses.append(total / n_train)
    pred = _predict(model, test.images)
    scores = segmentation_scores(pred, test.semantic, len(LABELS))
    base = segmentation_scores(np.zeros_like(test.semantic), test.semantic, len(LABELS))
    rows = [[name, scores["iou"][k], scores["dice"][k]] for k, name in enumerate(LABELS)]
    rows.append(["mean (mIoU, mean Dice)", scores["miou"], scores["mean_dice"]])
    rows.append(["baseline 'all background': mean", base["miou"], base["mean_dice"]])
    table = markdown_table(["class", "IoU", "Dice"], rows, digits=3)
    markdown = (f"### Segmentation: a small U-Net on synthetic shapes\n\n{n_train} training "
                f"and {n_test} held-out 32x32 images; U-Net (base width 8, depth 2), Adam lr "
                f"{lr} with cosine decay, batch {batch_size}, {epochs} epochs. Held-out pixel "
                f"accuracy {scores['pixel_accuracy']:.3f} (all background: "
                f"{base['pixel_accuracy']:.3f}).\n\n{table}")
    data = {"epochs": epochs, "n_train": n_train, "n_test": n_test, "train_loss": losses,
            "test": scores, "baseline_all_background": base,
            "parameters": int(sum(p._data.size for p in model.parameters()))}

    notes: list[str] = []
    colours = np.array([[0, 0, 0], [0.9, 0.2, 0.2], [0.2, 0.8, 0.2], [0.25, 0.45, 1.0]])

    def draw(fig):
        k = 6
        axes = fig.subplots(3, k)
        for j in range(k):
            for row, (img, title) in enumerate(((test.images[j].transpose(1, 2, 0), "image"),
                                                (colours[test.semantic[j]], "truth"),
                                                (colours[pred[j]], "U-Net"))):
                ax = axes[row, j]
                ax.imshow(img, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if j == 0:
                    ax.set_ylabel(title)
        fig.suptitle(f"U-Net on held-out shapes: mIoU {scores['miou']:.3f} (red rectangle, "
                     "green ellipse, blue triangle)", fontsize=10)

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes, figsize=(10.0, 5.4))
    return ExperimentResult(NAME, "Segmentation: a small U-Net on synthetic shapes", markdown,
                            data, plot, notes)
