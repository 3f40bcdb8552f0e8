"""Object detection with a small single-stage detector (lecture: detection as dense
prediction; anchor-free centre-point detectors, CenterNet, Zhou et al. 2019, with RetinaNet's
focal loss, Lin et al. 2017, and the generalized-IoU box loss, Rezatofighi et al. 2019).

The data are ``lamina.vision.datasets.Shapes``: 32x32 RGB images with one to three
non-overlapping rectangles, ellipses and triangles. ``lamina.models.CenterNet`` (a five-layer
CNN to a stride-4 grid, then a class heatmap and four box terms per cell) is trained with Adam
on the focal loss of the heatmap plus the GIoU and L1 losses of the box at each object's
centre cell. At test time the 3x3 local maxima of the heatmap above a score threshold become
boxes, pruned by per-class NMS. The table gives COCO's box AP on held-out images (pycocotools'
definition: 101-point interpolated precision, per class, then averaged) at IoU 0.5 and
averaged over IoU 0.50:0.95, the latter rewarding tight boxes. The plot draws predictions
(coloured, with scores) and the ground truth (dashed) over test images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamina import optim
from lamina.experiments._common import (
    ExperimentResult,
    markdown_table,
    minibatches,
    save_plot,
    seed_all,
    tensor,
)
from lamina.models.detector import CenterNet
from lamina.vision.datasets import SHAPE_CLASSES, Shapes
from lamina.vision.metrics import mean_average_precision

NAME = "detection"


def _predict(model, images: np.ndarray, batch: int = 64) -> list[dict]:
    out = []
    for i in range(0, len(images), batch):
        out += model.predict(tensor(images[i:i + batch]), score_threshold=0.01)
    return out


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    rng = seed_all(seed)
    n_train, n_test, epochs = (96, 48, 4) if quick else (640, 200, 20)
    batch_size, lr = 16, 5e-3
    s_train, s_test = (int(s) for s in rng.integers(0, 2**31 - 1, size=2))
    train, test = Shapes(n_train, seed=s_train), Shapes(n_test, seed=s_test)
    model = CenterNet(3, len(SHAPE_CLASSES), width=16, stride=4)
    opt = optim.Adam(model.parameters(), lr=lr)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    curves = {k: [] for k in ("loss", "focal", "giou", "l1")}
    model.train()
    for _ in range(epochs):
        sums = dict.fromkeys(curves, 0.0)
        for idx in minibatches(n_train, batch_size, rng):
            opt.zero_grad()
            parts = model.loss(model(tensor(train.images[idx])),
                               [train.targets[i] for i in idx])
            parts["loss"].backward()
            opt.step()
            for k in curves:
                sums[k] += float(parts[k]._data) * len(idx)
        sched.step()
        for k in curves:
            curves[k].append(sums[k] / n_train)
    preds = _predict(model, test.images)
    coco = mean_average_precision(preds, test.targets)
    train_map = mean_average_precision(_predict(model, train.images[:n_test]),
                                       train.targets[:n_test])
    ap50 = {k: mean_average_precision(preds, test.targets, iou_thresholds=[0.5])
            ["ap_per_class"].get(k, float("nan")) for k in range(len(SHAPE_CLASSES))}
    rows = [[name, ap50[k], coco["ap_per_class"].get(k, float("nan"))]
            for k, name in enumerate(SHAPE_CLASSES)]
    rows.append(["mean (mAP)", coco["map_50"], coco["map"]])
    table = markdown_table(["class", "AP@0.5", "AP@[0.5:0.95]"], rows, digits=3)
    markdown = (f"### Detection: a CenterNet-style detector on synthetic shapes\n\n{n_train} "
                f"training and {n_test} held-out 32x32 images; stride-4 CenterNet (width 16), "
                f"Adam lr {lr} with cosine decay, batch {batch_size}, {epochs} epochs; COCO "
                f"box AP (101-point, pycocotools' definition) on the held-out images. On "
                f"{n_test} training images: mAP@0.5 {train_map['map_50']:.3f}, "
                f"mAP@[0.5:0.95] {train_map['map']:.3f}.\n\n{table}")
    data = {"epochs": epochs, "n_train": n_train, "n_test": n_test, "curves": curves,
            "map_50": coco["map_50"], "map": coco["map"], "map_75": coco["map_75"],
            "ap50_per_class": {SHAPE_CLASSES[k]: v for k, v in ap50.items()},
            "ap_per_class": {SHAPE_CLASSES[k]: v for k, v in coco["ap_per_class"].items()},
            "train_map_50": train_map["map_50"], "train_map": train_map["map"],
            "parameters": int(sum(p._data.size for p in model.parameters()))}

    notes: list[str] = []
    colours = ["#e41a1c", "#4daf4a", "#377eb8"]

    def draw(fig):
        from matplotlib.patches import Rectangle

        axes = fig.subplots(2, 5)
        for ax, j in zip(axes.ravel(), range(10)):
            ax.imshow(test.images[j].transpose(1, 2, 0), interpolation="nearest")
            for x1, y1, x2, y2 in test.targets[j]["boxes"]:
                ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False,
                                       ec="white", ls="--", lw=1))
            p = preds[j]
            for (x1, y1, x2, y2), s, lab in zip(p["boxes"], p["scores"], p["labels"]):
                if s < 0.3:
                    continue
                ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False,
                                       ec=colours[lab], lw=1.5))
                ax.text(x1 - 0.5, y1 - 1, f"{SHAPE_CLASSES[lab][:4]} {s:.2f}", fontsize=6,
                        color=colours[lab], va="bottom")
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(f"CenterNet on held-out shapes: mAP@0.5 {coco['map_50']:.3f}, "
                     f"mAP@[0.5:0.95] {coco['map']:.3f} (dashed: ground truth; red rectangle, "
                     "green ellipse, blue triangle; scores >= 0.3)", fontsize=9)

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes, figsize=(10.0, 4.6))
    return ExperimentResult(NAME, "Detection: a CenterNet-style detector on synthetic shapes",
                            markdown, data, plot, notes)
