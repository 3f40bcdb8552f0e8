"""lamina.vision.ops against hand-worked cases and NumPy loops written here from torchvision's
definitions (torchvision.ops 0.28 documentation and its CPU kernels).

torchvision itself is not the oracle: torchvision 0.28.0 (the build paired with torch 2.13)
installs with ``--no-deps`` but fails on import in this environment (``operator
torchvision::nms does not exist``: its compiled ops do not load), so every reference below is
a brute-force loop over boxes, bins and sample points.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import lamina
from lamina.autograd import gradcheck
from lamina.vision import ops


def T(a, dtype=np.float64, grad=False):
    return lamina.tensor(np.asarray(a, dtype=dtype), requires_grad=grad)


def random_boxes(n, rng, size=20.0):
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(0.5, size / 2, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


# --- references (loops) -----------------------------------------------------------------------

def ref_iou(a, b):
    out = np.zeros((len(a), len(b)))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            iw = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
            ih = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
            inter = iw * ih
            union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter
            out[i, j] = inter / union
    return out


def ref_giou(a, b):
    iou = ref_iou(a, b)
    out = np.zeros_like(iou)
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            c = (max(p[2], q[2]) - min(p[0], q[0])) * (max(p[3], q[3]) - min(p[1], q[1]))
            iw = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
            ih = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
            union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - iw * ih
            out[i, j] = iou[i, j] - (c - union) / c
    return out


def ref_nms(boxes, scores, thr):
    order = sorted(range(len(boxes)), key=lambda i: -scores[i])
    keep = []
    for i in order:
        if all(ref_iou(boxes[[i]], boxes[[k]])[0, 0] <= thr for k in keep):
            keep.append(i)
    return keep


def ref_bilinear(img, y, x):
    """torchvision's roi_align_kernel bilinear_interpolate, one point."""
    h, w = img.shape
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= h - 1:
        y_high = y_low = h - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= w - 1:
        x_high = x_low = w - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1 - ly, 1 - lx
    return (hy * hx * img[y_low, x_low] + hy * lx * img[y_low, x_high]
            + ly * hx * img[y_high, x_low] + ly * lx * img[y_high, x_high])


def ref_roi_align(x, rois, out_hw, scale, ratio, aligned):
    ph_n, pw_n = out_hw
    out = np.zeros((len(rois), x.shape[1], ph_n, pw_n))
    off = 0.5 if aligned else 0.0
    for k, (b, x1, y1, x2, y2) in enumerate(rois):
        sw, sh = x1 * scale - off, y1 * scale - off
        rw, rh = x2 * scale - off - sw, y2 * scale - off - sh
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / ph_n, rw / pw_n
        gh = ratio if ratio > 0 else math.ceil(rh / ph_n)
        gw = ratio if ratio > 0 else math.ceil(rw / pw_n)
        count = max(gh * gw, 1)
        for c in range(x.shape[1]):
            for ph in range(ph_n):
                for pw in range(pw_n):
                    acc = 0.0
                    for iy in range(gh):
                        yy = sh + ph * bh + (iy + 0.5) * bh / gh
                        for ix in range(gw):
                            xx = sw + pw * bw + (ix + 0.5) * bw / gw
                            acc += ref_bilinear(x[int(b), c], yy, xx)
                    out[k, c, ph, pw] = acc / count
    return out


def ref_focal(x, t, alpha, gamma):
    p = 1 / (1 + np.exp(-x))
    ce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return loss


# --- box geometry -----------------------------------------------------------------------------

def test_hand_worked_iou_giou_area():
    a = T([[0, 0, 2, 2]])
    b = T([[1, 1, 3, 3], [2, 2, 4, 4], [0, 0, 2, 2], [5, 0, 6, 1]])
    np.testing.assert_allclose(ops.box_area(b).data, [4, 4, 4, 1])
    np.testing.assert_allclose(ops.box_iou(a, b).data, [[1 / 7, 0, 1, 0]])
    # enclosing boxes: 3x3, 4x4, 2x2, 6x2 -> GIoU = IoU - (C - U) / C
    np.testing.assert_allclose(ops.generalized_box_iou(a, b).data,
                               [[1 / 7 - 2 / 9, 0 - 8 / 16, 1.0, 0 - 7 / 12]])


def test_iou_and_giou_match_loops():
    rng = np.random.default_rng(0)
    a, b = random_boxes(7, rng), random_boxes(5, rng)
    np.testing.assert_allclose(ops.box_iou(T(a), T(b)).data, ref_iou(a, b), rtol=1e-12)
    np.testing.assert_allclose(ops.generalized_box_iou(T(a), T(b)).data, ref_giou(a, b),
                               rtol=1e-12, atol=1e-15)
    assert ops.box_iou(T(a), T(np.zeros((0, 4)))).shape == (7, 0)


def test_box_convert_round_trips_and_hand_worked():
    xyxy = T([[1, 2, 4, 6]])
    np.testing.assert_allclose(ops.box_convert(xyxy, "xyxy", "xywh").data, [[1, 2, 3, 4]])
    np.testing.assert_allclose(ops.box_convert(xyxy, "xyxy", "cxcywh").data,
                               [[2.5, 4, 3, 4]])
    np.testing.assert_allclose(ops.box_convert(T([[2.5, 4, 3, 4]]), "cxcywh", "xywh").data,
                               [[1, 2, 3, 4]])
    b = random_boxes(6, np.random.default_rng(1))
    for f in ("xywh", "cxcywh"):
        back = ops.box_convert(ops.box_convert(T(b), "xyxy", f), f, "xyxy")
        np.testing.assert_allclose(back.data, b, rtol=1e-12)


def test_iou_is_differentiable():
    rng = np.random.default_rng(2)
    a = T(random_boxes(3, rng), grad=True)
    b = T(random_boxes(3, rng) * 0.5 + 4, grad=True)
    assert gradcheck(lambda p, q: ops.generalized_box_iou(p, q), (a, b))


# --- NMS --------------------------------------------------------------------------------------

def test_nms_hand_worked():
    boxes = T([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9.9]])
    scores = T([0.9, 0.8, 0.7, 0.95])
    # box 3 (0.95) first; box 0 overlaps it with IoU 0.99 -> gone; box 1: IoU(3, 1) = 0.67
    assert ops.nms(boxes, scores, 0.5).data.tolist() == [3, 2]
    assert ops.nms(boxes, scores, 0.7).data.tolist() == [3, 1, 2]
    assert ops.nms(boxes, scores, 1.0).data.tolist() == [3, 0, 1, 2]
    assert ops.nms(boxes, scores, 0.5).dtype == lamina.int64
    assert ops.nms(T(np.zeros((0, 4))), T(np.zeros(0)), 0.5).data.tolist() == []


def test_nms_matches_loop_and_batched_nms_keeps_classes_apart():
    rng = np.random.default_rng(3)
    boxes = random_boxes(40, rng, size=30)
    scores = rng.permutation(40) / 40.0
    for thr in (0.1, 0.3, 0.6):
        assert ops.nms(T(boxes), T(scores), thr).data.tolist() == ref_nms(boxes, scores, thr)
    cls = rng.integers(0, 3, 40)
    got = ops.batched_nms(T(boxes), T(scores), lamina.tensor(cls), 0.3).data.tolist()
    want = []
    for k in range(3):
        idx = np.flatnonzero(cls == k)
        want += [int(idx[i]) for i in ref_nms(boxes[idx], scores[idx], 0.3)]
    assert got == sorted(want, key=lambda i: -scores[i])
    # identical boxes of different classes both survive
    two = T([[0, 0, 1, 1], [0, 0, 1, 1]])
    assert sorted(ops.batched_nms(two, T([0.5, 0.6]), lamina.tensor([0, 1]), 0.5)
                  .data.tolist()) == [0, 1]


# --- RoIAlign ---------------------------------------------------------------------------------

def test_roi_align_hand_worked():
    # f(y, x) = x: aligned samples of the box [1, 1, 3, 3] (pixel corners 1..3, centres 1.5,
    # 2.5 in pixel-centre coordinates 0.5..2.5): two samples per axis at x = 1.0 and 2.0
    x = T(np.broadcast_to(np.arange(6.0), (1, 1, 6, 6)).copy())
    out = ops.roi_align(x, T([[0, 1, 1, 3, 3]]), 1, sampling_ratio=2, aligned=True)
    np.testing.assert_allclose(out.data, [[[[1.5]]]])
    # legacy (aligned=False): samples at 1.5 and 2.5
    out = ops.roi_align(x, T([[0, 1, 1, 3, 3]]), 1, sampling_ratio=2, aligned=False)
    np.testing.assert_allclose(out.data, [[[[2.0]]]])
    # a constant map pools to the constant inside the image
    c = T(np.full((1, 2, 5, 5), 3.0))
    out = ops.roi_align(c, [T([[0.5, 0.5, 3.5, 4.0]])], (3, 2))
    np.testing.assert_allclose(out.data, 3.0)


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("ratio", [-1, 0, 1, 3])
def test_roi_align_matches_loop(aligned, ratio):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 3, 9, 11))
    rois = np.array([[0, 1.2, 0.3, 7.9, 6.1], [1, -2.0, -1.5, 4.0, 3.0],
                     [1, 3.3, 2.2, 3.6, 2.4], [0, 6.0, 5.0, 14.0, 12.0],
                     [1, 0.0, 0.0, 22.0, 18.0]])
    for scale, size in ((1.0, (3, 2)), (0.5, (2, 4))):
        got = ops.roi_align(T(x), T(rois), size, spatial_scale=scale, sampling_ratio=ratio,
                            aligned=aligned)
        want = ref_roi_align(x, rois, size, scale, ratio, aligned)
        np.testing.assert_allclose(got.data, want, rtol=1e-11, atol=1e-12)


def test_roi_align_list_boxes_equals_indexed_rows():
    rng = np.random.default_rng(5)
    x = T(rng.normal(size=(2, 2, 8, 8)))
    b0, b1 = random_boxes(2, rng, 6), random_boxes(3, rng, 6)
    rows = np.concatenate([np.c_[np.zeros(2), b0], np.c_[np.ones(3), b1]])
    a = ops.roi_align(x, [T(b0), T(b1)], 2, 0.5, 2, True)
    b = ops.roi_align(x, T(rows), 2, 0.5, 2, True)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-13)


@pytest.mark.parametrize("aligned", [False, True])
def test_roi_align_gradcheck(aligned):
    rng = np.random.default_rng(6)
    x = T(rng.normal(size=(2, 2, 6, 7)), grad=True)
    rois = T([[0, 0.7, 1.1, 5.2, 4.9], [1, -0.5, 2.0, 8.0, 6.5], [1, 2.2, 2.3, 2.4, 2.6]])
    assert gradcheck(lambda t: ops.roi_align(t, rois, (2, 3), 1.0, -1, aligned), (x,))
    assert gradcheck(lambda t: ops.roi_align(t, rois, 2, 0.7, 2, aligned), (x,))


# --- losses -----------------------------------------------------------------------------------

@pytest.mark.parametrize("alpha,gamma", [(0.25, 2.0), (-1.0, 2.0), (0.5, 0.0), (0.8, 1.5)])
def test_focal_loss_values(alpha, gamma):
    rng = np.random.default_rng(7)
    x = rng.normal(scale=3, size=(4, 5))
    t = (rng.random((4, 5)) < 0.3).astype(float)
    want = ref_focal(x, t, alpha, gamma)
    np.testing.assert_allclose(ops.sigmoid_focal_loss(T(x), T(t), alpha, gamma).data, want,
                               rtol=1e-10)
    np.testing.assert_allclose(ops.sigmoid_focal_loss(T(x), T(t), alpha, gamma, "mean").data,
                               want.mean(), rtol=1e-10)
    np.testing.assert_allclose(ops.sigmoid_focal_loss(T(x), T(t), alpha, gamma, "sum").data,
                               want.sum(), rtol=1e-10)


def test_focal_loss_hand_worked_and_stable():
    # x = 0: p = 1/2, CE = log 2, (1 - p_t)^2 = 1/4, alpha_t = 0.25 for t = 1
    got = ops.sigmoid_focal_loss(T([0.0]), T([1.0])).data
    np.testing.assert_allclose(got, [0.25 * 0.25 * math.log(2)])
    big = ops.sigmoid_focal_loss(T([200.0, -200.0]), T([0.0, 1.0]), gamma=0.0, alpha=-1)
    np.testing.assert_allclose(big.data, [200.0, 200.0])


def test_focal_loss_gradcheck():
    rng = np.random.default_rng(8)
    x = T(rng.normal(size=(3, 4)), grad=True)
    t = T((rng.random((3, 4)) < 0.5).astype(float))
    assert gradcheck(lambda a: ops.sigmoid_focal_loss(a, t, 0.25, 2.0, "mean"), (x,))
    assert gradcheck(lambda a: ops.sigmoid_focal_loss(a, t, -1, 1.5), (x,))


def test_giou_loss_values_and_gradcheck():
    a = T([[0, 0, 2, 2], [0, 0, 1, 1]])
    b = T([[1, 1, 3, 3], [0, 0, 1, 1]])
    np.testing.assert_allclose(ops.generalized_box_iou_loss(a, b).data,
                               [1 - (1 / 7 - 2 / 9), 0.0], atol=1e-6)
    rng = np.random.default_rng(9)
    p, q = random_boxes(5, rng), random_boxes(5, rng)
    want = 1 - np.diag(ref_giou(p, q))
    np.testing.assert_allclose(ops.generalized_box_iou_loss(T(p), T(q), "mean").data,
                               want.mean(), rtol=1e-6)
    pt = T(p, grad=True)
    assert gradcheck(lambda z: ops.generalized_box_iou_loss(z, T(q), "sum"), (pt,))


# --- errors -----------------------------------------------------------------------------------

def test_bad_inputs_raise_naming_the_function():
    good = T([[0, 0, 1, 1]])
    with pytest.raises(ValueError, match=r"box_iou: boxes1 must have shape \(N, 4\), got "
                                         r"\(1, 3\)"):
        ops.box_iou(T([[0, 0, 1]]), good)
    with pytest.raises(ValueError, match="box_area: boxes must be .*x1 <= x2.*box 0"):
        ops.box_area(T([[2, 0, 1, 1]]))
    with pytest.raises(ValueError, match="box_convert: xywh boxes must have width and height "
                                         ">= 0; box 0 is"):
        ops.box_convert(T([[0, 0, -1, 2]]), "xywh", "xyxy")
    with pytest.raises(ValueError, match="box_convert: boxes must be .*x1 <= x2"):
        ops.box_convert(T([[3, 0, 1, 2]]), "xyxy", "cxcywh")
    with pytest.raises(ValueError, match="box_convert: unsupported in_fmt 'xy'"):
        ops.box_convert(good, "xy", "xyxy")
    with pytest.raises(ValueError, match=r"nms: scores must have shape \(1,\)"):
        ops.nms(good, T([1.0, 2.0]), 0.5)
    with pytest.raises(TypeError, match="nms: iou_threshold must be a number"):
        ops.nms(good, T([1.0]), "0.5")
    with pytest.raises(ValueError, match=r"batched_nms: idxs must have shape \(1,\)"):
        ops.batched_nms(good, T([1.0]), lamina.tensor([0, 1]), 0.5)
    x = T(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"roi_align: input must be \(N, C, H, W\)"):
        ops.roi_align(T(np.zeros((1, 4, 4))), T([[0, 0, 0, 1, 1]]), 2)
    with pytest.raises(ValueError, match=r"roi_align: boxes must be a \(K, 5\)"):
        ops.roi_align(x, good, 2)
    with pytest.raises(ValueError, match="roi_align: batch indices .* in \\[0, 0\\]"):
        ops.roi_align(x, T([[1, 0, 0, 1, 1]]), 2)
    with pytest.raises(ValueError, match="roi_align: output_size must be a positive int"):
        ops.roi_align(x, T([[0, 0, 0, 1, 1]]), (0, 2))
    with pytest.raises(ValueError, match="roi_align: spatial_scale must be a positive"):
        ops.roi_align(x, T([[0, 0, 0, 1, 1]]), 2, spatial_scale=-1.0)
    with pytest.raises(ValueError, match="sigmoid_focal_loss: invalid reduction 'avg'"):
        ops.sigmoid_focal_loss(T([0.0]), T([1.0]), reduction="avg")
    with pytest.raises(ValueError, match="sigmoid_focal_loss: inputs and targets must have"):
        ops.sigmoid_focal_loss(T([0.0]), T([1.0, 0.0]))
    with pytest.raises(ValueError, match="sigmoid_focal_loss: gamma must be"):
        ops.sigmoid_focal_loss(T([0.0]), T([1.0]), gamma=-1)
    with pytest.raises(ValueError, match="generalized_box_iou_loss: boxes1 and boxes2 must"):
        ops.generalized_box_iou_loss(good, T(np.zeros((2, 4))))
    with pytest.raises(TypeError, match="box_iou: boxes1 must be a Tensor or a numeric"):
        ops.box_iou("boxes", good)
