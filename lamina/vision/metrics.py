"""Detection and segmentation metrics on NumPy arrays (or lamina tensors).

* ``mean_average_precision``: COCO's box AP, the definition of pycocotools' ``COCOeval``
  (``iouType='bbox'``, area range ``'all'``, ``maxDets=100``, no crowd boxes): per class and
  IoU threshold, detections of all images ranked by score, each matched greedily to the
  unmatched ground-truth box of highest IoU ``>= t`` in its image; precision made monotone
  (the running maximum from the right) and read at the 101 recall points ``0, 0.01, ..., 1``
  (the first rank reaching each recall; 0 past the highest recall); AP is their mean. Classes
  with no ground truth are left out of the mean. Reported: ``map`` (mean over
  ``t = 0.50, 0.55, ..., 0.95``), ``map_50``, ``map_75`` and ``ap_per_class``.
* ``segmentation_scores``: per-class IoU ``TP / (TP + FP + FN)`` and Dice ``2 TP / (2 TP + FP
  + FN)`` over all pixels of the set, their means (``miou``, ``mean_dice``) over the classes
  present in the prediction or the target, and pixel accuracy.

>>> preds = [{"boxes": [[0, 0, 10, 10]], "scores": [0.9], "labels": [0]}]
>>> targets = [{"boxes": [[0, 0, 10, 10]], "labels": [0]}]
>>> round(mean_average_precision(preds, targets)["map"], 6)
1.0
"""

from __future__ import annotations

import numpy as np

from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor

__all__ = ["mean_average_precision", "average_precision_101", "segmentation_scores",
           "COCO_IOU_THRESHOLDS"]

COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)   # 0.50:0.05:0.95, as pycocotools
_RECALL_POINTS = np.linspace(0.0, 1.0, 101)


def _arr(v, dtype=None) -> np.ndarray:
    a = np.asarray(v._data if isinstance(v, Tensor) else v)
    return a.astype(dtype) if dtype is not None else a


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    w = np.clip(np.minimum(a[:, None, 2], b[None, :, 2])
                - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    h = np.clip(np.minimum(a[:, None, 3], b[None, :, 3])
                - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = w * h
    union = (((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]))[:, None]
             + ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))[None, :] - inter)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def average_precision_101(tp: np.ndarray, scores: np.ndarray, num_gt: int) -> float:
    """COCO's 101-point interpolated AP of one class at one IoU threshold.

    Args:
        tp: 1 where a detection matched a ground-truth box, 0 where it did not.
        scores: the detections' scores (ranked here, highest first, ties in input order).
        num_gt: the number of ground-truth boxes (> 0).
    """
    order = np.argsort(-np.asarray(scores, np.float64), kind="mergesort")
    tp = np.asarray(tp, np.float64)[order]
    tps, fps = np.cumsum(tp), np.cumsum(1.0 - tp)
    recall = tps / num_gt
    precision = tps / (tps + fps + np.spacing(1))          # pycocotools' guard
    precision = np.maximum.accumulate(precision[::-1])[::-1]   # monotone from the right
    idx = np.searchsorted(recall, _RECALL_POINTS, side="left")
    q = np.where(idx < len(precision), precision[np.minimum(idx, len(precision) - 1)]
                 if len(precision) else 0.0, 0.0)
    return float(np.mean(q))


def _check_sets(preds, targets, op: str):
    if not isinstance(preds, (list, tuple)) or not isinstance(targets, (list, tuple)):
        raise LaminaTypeError(f"{op}: preds and targets must be lists of per-image dicts, got "
                              f"{type(preds).__name__} and {type(targets).__name__}")
    if len(preds) != len(targets):
        raise LaminaValueError(f"{op}: preds and targets must describe the same images, got "
                               f"{len(preds)} and {len(targets)} entries")
    out = []
    for i, (p, t) in enumerate(zip(preds, targets)):
        for name, d, keys in (("preds", p, ("boxes", "scores", "labels")),
                              ("targets", t, ("boxes", "labels"))):
            if not isinstance(d, dict) or not all(k in d for k in keys):
                raise LaminaValueError(f"{op}: {name}[{i}] must be a dict with keys {keys}, got "
                                       f"{sorted(d) if isinstance(d, dict) else type(d).__name__}")
        pb = _arr(p["boxes"], np.float64).reshape(-1, 4) if len(_arr(p["boxes"])) else \
            np.zeros((0, 4))
        tb = _arr(t["boxes"], np.float64).reshape(-1, 4) if len(_arr(t["boxes"])) else \
            np.zeros((0, 4))
        ps, pl, tl = _arr(p["scores"], np.float64), _arr(p["labels"]), _arr(t["labels"])
        if not (len(pb) == len(ps) == len(pl)):
            raise LaminaValueError(f"{op}: preds[{i}] has {len(pb)} boxes, {len(ps)} scores and "
                                   f"{len(pl)} labels; expected one of each per detection")
        if len(tb) != len(tl):
            raise LaminaValueError(f"{op}: targets[{i}] has {len(tb)} boxes and {len(tl)} labels")
        for name, b in (("preds", pb), ("targets", tb)):
            if ((b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])).any():
                raise LaminaValueError(f"{op}: {name}[{i}] boxes must be (x1, y1, x2, y2) with "
                                       "x1 <= x2 and y1 <= y2")
        out.append((pb, ps, pl.astype(np.int64), tb, tl.astype(np.int64)))
    return out


def mean_average_precision(preds, targets, iou_thresholds=None,
                           max_detections: int = 100) -> dict:
    """COCO box mAP (pycocotools ``COCOeval`` definition, see the module docstring).

    Args:
        preds: one dict per image with ``boxes`` ``(D, 4)`` xyxy, ``scores`` ``(D,)`` and
            ``labels`` ``(D,)``.
        targets: one dict per image with ``boxes`` ``(G, 4)`` and ``labels`` ``(G,)``.
        iou_thresholds: default ``0.50, 0.55, ..., 0.95``.
        max_detections: per image, only the highest-scoring ones count (COCO: 100).

    Returns:
        ``{"map": mean over thresholds and classes, "map_50", "map_75" (when those thresholds
        are evaluated), "ap_per_class": {label: AP averaged over thresholds},
        "ap_per_threshold": [mAP at each threshold], "iou_thresholds": [...]}``; ``nan`` where
        no class has ground truth.
    """
    op = "mean_average_precision"
    thr = COCO_IOU_THRESHOLDS if iou_thresholds is None else np.asarray(iou_thresholds, float)
    thr = np.atleast_1d(thr)
    if thr.ndim != 1 or len(thr) == 0 or ((thr < 0) | (thr > 1)).any():
        raise LaminaValueError(f"{op}: iou_thresholds must be numbers in [0, 1], got "
                               f"{iou_thresholds!r}")
    if isinstance(max_detections, bool) or not isinstance(max_detections, (int, np.integer)) \
            or max_detections < 1:
        raise LaminaValueError(f"{op}: max_detections must be a positive int, got "
                               f"{max_detections!r}")
    images = _check_sets(preds, targets, op)
    classes = sorted({int(c) for *_, tl in images for c in tl})
    ap = np.zeros((len(thr), len(classes)))
    for ci, c in enumerate(classes):
        num_gt = sum(int((tl == c).sum()) for *_, tl in images)
        tps = [[] for _ in thr]
        scores = []
        for pb, ps, pl, tb, tl in images:
            d = np.flatnonzero(pl == c)
            d = d[np.argsort(-ps[d], kind="mergesort")][:max_detections]
            g = tb[tl == c]
            ious = _iou(pb[d], g)
            scores.append(ps[d])
            for k, t in enumerate(thr):
                matched = np.zeros(len(g), bool)
                hit = np.zeros(len(d))
                for j in range(len(d)):
                    best, m = min(t, 1 - 1e-10), -1
                    for gi in range(len(g)):        # pycocotools: last gt of highest IoU
                        if not matched[gi] and ious[j, gi] >= best:
                            best, m = ious[j, gi], gi
                    if m >= 0:
                        matched[m] = True
                        hit[j] = 1.0
                tps[k].append(hit)
        s = np.concatenate(scores)
        for k in range(len(thr)):
            ap[k, ci] = average_precision_101(np.concatenate(tps[k]), s, num_gt)
    per_thr = ap.mean(axis=1) if classes else np.full(len(thr), np.nan)
    out = {"map": float(per_thr.mean()),
           "ap_per_class": {c: float(ap[:, i].mean()) for i, c in enumerate(classes)},
           "ap_per_threshold": [float(v) for v in per_thr],
           "iou_thresholds": [float(t) for t in thr]}
    for name, t in (("map_50", 0.5), ("map_75", 0.75)):
        hit = np.flatnonzero(np.isclose(thr, t))
        if len(hit):
            out[name] = float(per_thr[hit[0]])
    return out


def segmentation_scores(pred, target, num_classes: int) -> dict:
    """Per-class IoU and Dice of integer label maps, accumulated over every pixel.

    Args:
        pred, target: integer arrays (or tensors) of the same shape, values in
            ``[0, num_classes)``.
        num_classes: the number of labels (background included, if it is one).

    Returns:
        ``{"iou": [per class], "dice": [per class], "miou", "mean_dice", "pixel_accuracy"}``;
        a class absent from both prediction and target has IoU and Dice ``nan`` and is left
        out of the means.

    >>> segmentation_scores([[0, 1], [1, 1]], [[0, 1], [0, 1]], 2)["iou"]
    [0.5, 0.6666666666666666]
    """
    op = "segmentation_scores"
    p, t = _arr(pred), _arr(target)
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes < 1:
        raise LaminaValueError(f"{op}: num_classes must be a positive int, got {num_classes!r}")
    if p.shape != t.shape:
        raise LaminaValueError(f"{op}: pred and target must have the same shape, got {p.shape} and "
                               f"{t.shape}")
    for name, a in (("pred", p), ("target", t)):
        if a.size and not np.issubdtype(a.dtype, np.integer):
            raise LaminaTypeError(f"{op}: {name} must hold integer labels, got dtype {a.dtype}")
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise LaminaValueError(f"{op}: {name} labels must be in [0, {num_classes - 1}], got "
                                   f"values in [{a.min()}, {a.max()}]")
    cm = np.bincount(t.ravel().astype(np.int64) * num_classes + p.ravel().astype(np.int64),
                     minlength=num_classes ** 2).reshape(num_classes, num_classes)
    tp = np.diag(cm).astype(np.float64)
    fp = cm.sum(0) - tp
    fn = cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = tp / (tp + fp + fn)
        dice = 2 * tp / (2 * tp + fp + fn)
    present = (tp + fp + fn) > 0
    return {"iou": [float(v) for v in iou], "dice": [float(v) for v in dice],
            "miou": float(iou[present].mean()) if present.any() else float("nan"),
            "mean_dice": float(dice[present].mean()) if present.any() else float("nan"),
            "pixel_accuracy": float(tp.sum() / max(cm.sum(), 1))}
