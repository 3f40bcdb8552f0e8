"""lamina.vision.metrics: hand-worked cases and a loop-by-loop rendering of pycocotools'
COCOeval (evaluateImg + accumulate, bbox, area 'all', no crowds), written here from its
definition (pycocotools itself is not installed)."""

from __future__ import annotations

import numpy as np
import pytest

from lamina.vision import metrics
from lamina.vision.datasets import Shapes


def det(boxes, scores, labels):
    return {"boxes": np.asarray(boxes, float).reshape(-1, 4), "scores": np.asarray(scores, float),
            "labels": np.asarray(labels, int)}


def gt(boxes, labels):
    return {"boxes": np.asarray(boxes, float).reshape(-1, 4), "labels": np.asarray(labels, int)}


def test_perfect_detection_scores_one():
    out = metrics.mean_average_precision([det([[0, 0, 10, 10]], [0.9], [0])],
                                         [gt([[0, 0, 10, 10]], [0])])
    assert out["map"] == pytest.approx(1.0) and out["map_50"] == pytest.approx(1.0)


def test_hand_worked_101_point_ap():
    # two gts; ranked detections: hit, miss, hit -> recall .5 .5 1, precision 1 .5 2/3;
    # monotone precision 1, 2/3, 2/3; recall points 0..0.50 read 1 (51 of them), 0.51..1 read
    # 2/3 (50 of them)
    g = gt([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 0])
    d = det([[0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 30]], [0.9, 0.8, 0.7], [0, 0, 0])
    out = metrics.mean_average_precision([d], [g], iou_thresholds=[0.5])
    assert out["map"] == pytest.approx((51 + 50 * 2 / 3) / 101)
    assert metrics.average_precision_101([1, 0, 1], [0.9, 0.8, 0.7], 2) == pytest.approx(
        (51 + 50 * 2 / 3) / 101)


def test_iou_thresholds_duplicates_and_missing_classes():
    g = gt([[0, 0, 10, 10]], [0])
    # IoU 0.62 passes 0.50, 0.55, 0.60 of the ten COCO thresholds
    out = metrics.mean_average_precision([det([[0, 0, 10, 6.2]], [0.9], [0])], [g])
    assert out["map"] == pytest.approx(0.3) and out["map_50"] == pytest.approx(1.0)
    assert out["map_75"] == pytest.approx(0.0)
    # a duplicate on a matched box is a false positive ranked second: AP unchanged at 1
    out = metrics.mean_average_precision([det([[0, 0, 10, 10]] * 2, [0.9, 0.8], [0, 0])], [g])
    assert out["map"] == pytest.approx(1.0)
    # ... but ranked first (higher score than the good one, lower IoU than 0.5) it costs
    out = metrics.mean_average_precision(
        [det([[0, 0, 10, 3], [0, 0, 10, 10]], [0.9, 0.8], [0, 0])], [g], iou_thresholds=[0.5])
    assert out["map"] == pytest.approx(0.5)
    # class 1 has a gt and no detection: AP 0; class 2 predicted without gt: not counted
    g2 = gt([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 1])
    out = metrics.mean_average_precision([det([[0, 0, 10, 10], [40, 40, 50, 50]], [0.9, 0.95],
                                              [0, 2])], [g2])
    assert out["ap_per_class"] == {0: pytest.approx(1.0), 1: 0.0}
    assert out["map"] == pytest.approx(0.5)
    # the wrong class never matches
    out = metrics.mean_average_precision([det([[0, 0, 10, 10]], [0.9], [1])], [g])
    assert out["map"] == 0.0


def coco_reference(preds, targets, thresholds):
    """pycocotools' evaluateImg + accumulate, as loops (one area range, maxDets 100)."""
    classes = sorted({int(c) for t in targets for c in t["labels"]})
    aps = np.zeros((len(thresholds), len(classes)))
    for ci, c in enumerate(classes):
        npig = sum(int(np.sum(t["labels"] == c)) for t in targets)
        for ti, thr in enumerate(thresholds):
            scores, matches = [], []
            for p, t in zip(preds, targets):
                d_idx = [i for i in np.argsort([-s for s in p["scores"]], kind="mergesort")
                         if p["labels"][i] == c][:100]
                g_idx = [i for i in range(len(t["labels"])) if t["labels"][i] == c]
                gtm = {}
                for i in d_idx:
                    b = p["boxes"][i]
                    iou, m = min(thr, 1 - 1e-10), -1
                    for gi in g_idx:
                        if gi in gtm:
                            continue
                        q = t["boxes"][gi]
                        iw = max(0.0, min(b[2], q[2]) - max(b[0], q[0]))
                        ih = max(0.0, min(b[3], q[3]) - max(b[1], q[1]))
                        u = (b[2] - b[0]) * (b[3] - b[1]) + (q[2] - q[0]) * (q[3] - q[1]) - iw * ih
                        v = iw * ih / u
                        if v < iou:
                            continue
                        iou, m = v, gi
                    if m >= 0:
                        gtm[m] = i
                    scores.append(p["scores"][i])
                    matches.append(m >= 0)
            order = np.argsort(-np.asarray(scores), kind="mergesort")
            tp = np.cumsum(np.asarray(matches, float)[order])
            fp = np.cumsum(1 - np.asarray(matches, float)[order])
            rc = tp / npig
            pr = list(tp / (fp + tp + np.spacing(1)))
            for i in range(len(pr) - 1, 0, -1):
                if pr[i] > pr[i - 1]:
                    pr[i - 1] = pr[i]
            q = np.zeros(101)
            inds = np.searchsorted(rc, np.linspace(0, 1, 101), side="left")
            for ri, pi in enumerate(inds):
                if pi >= len(pr):
                    break
                q[ri] = pr[pi]
            aps[ti, ci] = q.mean()
    return aps.mean()


def test_matches_coco_reference_on_noisy_detections():
    rng = np.random.default_rng(0)
    preds, targets = [], []
    for _ in range(8):
        n = int(rng.integers(0, 5))
        xy = rng.uniform(0, 50, (n, 2))
        g = np.c_[xy, xy + rng.uniform(5, 20, (n, 2))]
        gl = rng.integers(0, 3, n)
        keep = rng.random(n) < 0.8
        noisy = g[keep] + rng.normal(0, 2, (keep.sum(), 4))
        noisy[:, 2:] = np.maximum(noisy[:, 2:], noisy[:, :2] + 1)
        m = int(rng.integers(0, 3))
        fxy = rng.uniform(0, 50, (m, 2))
        fake = np.c_[fxy, fxy + rng.uniform(5, 20, (m, 2))]
        boxes = np.concatenate([noisy, fake])
        labels = np.concatenate([gl[keep], rng.integers(0, 3, m)])
        preds.append(det(boxes, rng.random(len(boxes)), labels))
        targets.append(gt(g, gl))
    got = metrics.mean_average_precision(preds, targets)
    want = coco_reference(preds, targets, np.linspace(0.5, 0.95, 10))
    assert got["map"] == pytest.approx(want, abs=1e-12)
    assert 0.1 < got["map"] < 0.9
    got50 = metrics.mean_average_precision(preds, targets, iou_thresholds=[0.5])["map"]
    assert got50 == pytest.approx(coco_reference(preds, targets, [0.5]), abs=1e-12)


def test_segmentation_scores_hand_worked():
    out = metrics.segmentation_scores(np.array([[0, 1], [1, 1]]), np.array([[0, 1], [0, 1]]), 3)
    assert out["iou"][:2] == pytest.approx([0.5, 2 / 3]) and np.isnan(out["iou"][2])
    assert out["dice"][:2] == pytest.approx([2 / 3, 0.8])
    assert out["miou"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert out["mean_dice"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert out["pixel_accuracy"] == pytest.approx(0.75)
    perfect = metrics.segmentation_scores(np.arange(4).reshape(2, 2), np.arange(4).reshape(2, 2), 4)
    assert perfect["miou"] == 1.0 and perfect["mean_dice"] == 1.0


def test_metric_errors():
    with pytest.raises(ValueError, match="segmentation_scores: pred and target must have the "
                                         "same shape"):
        metrics.segmentation_scores(np.zeros((2, 2), int), np.zeros((2, 3), int), 2)
    with pytest.raises(ValueError, match=r"segmentation_scores: target labels must be in \[0, 1\]"):
        metrics.segmentation_scores(np.zeros((2, 2), int), np.full((2, 2), 5), 2)
    with pytest.raises(ValueError, match="mean_average_precision: preds and targets must "
                                         "describe the same images"):
        metrics.mean_average_precision([], [gt([[0, 0, 1, 1]], [0])])
    with pytest.raises(ValueError, match=r"mean_average_precision: preds\[0\] has 1 boxes, 2 "
                                         "scores"):
        metrics.mean_average_precision([det([[0, 0, 1, 1]], [0.1, 0.2], [0])],
                                       [gt([[0, 0, 1, 1]], [0])])
    with pytest.raises(ValueError, match="mean_average_precision: iou_thresholds must be"):
        metrics.mean_average_precision([], [], iou_thresholds=[1.5])


# --- the shapes dataset ---------------------------------------------------------------------

def test_shapes_dataset_is_seeded_and_consistent():
    a, b = Shapes(20, seed=3), Shapes(20, seed=3)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, Shapes(20, seed=4).images)
    assert len(a) == 20 and a.num_classes == 3
    img, t = a[0]
    assert img.shape == (3, 32, 32) and str(img.dtype) == "float32"
    for i in range(20):
        _, t = a[i]
        boxes, labels = t["boxes"]._data, t["labels"]._data
        masks, sem = t["masks"]._data, t["semantic"]._data
        assert 1 <= len(labels) <= 3 and masks.shape == (len(labels), 32, 32)
        for box, lab, m in zip(boxes, labels, masks):
            ys, xs = np.nonzero(m)
            np.testing.assert_array_equal(box, [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            assert (sem[m] == lab + 1).all()
        assert (sem > 0).sum() == masks.sum()            # shapes do not overlap
    counts = np.bincount(np.concatenate([t["labels"] for t in a.targets]), minlength=3)
    assert (counts > 0).all()


def test_shapes_rejects_bad_arguments():
    with pytest.raises(ValueError, match="Shapes: image_size must be an int >= 16, got 8"):
        Shapes(2, image_size=8)
    with pytest.raises(ValueError, match="Shapes: max_size must be <= image_size"):
        Shapes(2, image_size=16, max_size=20)
    with pytest.raises(IndexError, match="Shapes: index 5 is out of range for 2 images"):
        Shapes(2)[5]
