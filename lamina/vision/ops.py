"""Box and region operators for detection, with torchvision's definitions.

Boxes are ``(N, 4)`` in ``(x1, y1, x2, y2)`` corners with ``x1 <= x2`` and ``y1 <= y2`` unless
a function says otherwise (``box_convert`` also reads ``xywh`` and ``cxcywh``).

* ``box_area``, ``box_convert``, ``box_iou``, ``generalized_box_iou``: written in lamina tensor
  ops, so they are differentiable with respect to the coordinates;
* ``nms``, ``batched_nms``: greedy non-maximum suppression (indices, no gradient);
* ``roi_align``: bilinear region pooling (Mask R-CNN), differentiable w.r.t. the features;
* ``sigmoid_focal_loss`` (RetinaNet) and ``generalized_box_iou_loss``: differentiable losses.

Every function takes lamina tensors (NumPy arrays are accepted and wrapped) and returns lamina
tensors. Values follow ``torchvision.ops`` 0.28 (the definitions, checked in the tests against
NumPy loops written from torchvision's documentation and kernels).

>>> a = lamina.tensor([[0.0, 0.0, 2.0, 2.0]])
>>> box_iou(a, lamina.tensor([[1.0, 1.0, 3.0, 3.0]]))   # 1 / (4 + 4 - 1)
tensor([[0.1429]])
"""

from __future__ import annotations

import math

import numpy as np

import lamina
from lamina.autograd.function import Function
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor

__all__ = ["box_area", "box_convert", "box_iou", "generalized_box_iou", "nms", "batched_nms",
           "roi_align", "sigmoid_focal_loss", "generalized_box_iou_loss"]

_FORMATS = ("xyxy", "xywh", "cxcywh")
_REDUCTIONS = ("none", "mean", "sum")


# --- input checks -----------------------------------------------------------------------------

def _as_tensor(x, op: str, name: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    try:
        arr = np.asarray(x)
    except Exception:  # noqa: BLE001 (anything not array-like)
        arr = None
    if arr is None or arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                                    or arr.dtype == bool):
        raise LaminaTypeError(f"{op}: {name} must be a Tensor or a numeric array, got "
                              f"{type(x).__name__}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    return Tensor(arr)


def _boxes(x, op: str, name: str = "boxes", corners: bool = True) -> Tensor:
    """``x`` as an ``(N, 4)`` floating tensor; with ``corners`` also ``x1 <= x2``, ``y1 <= y2``."""
    t = _as_tensor(x, op, name)
    if t.ndim != 2 or t.shape[1] != 4:
        raise LaminaValueError(f"{op}: {name} must have shape (N, 4), got {tuple(t.shape)}")
    if not np.issubdtype(t._data.dtype, np.floating):
        t = Tensor(t._data.astype(np.float32))
    if corners:
        d = np.asarray(t._data)
        bad = (d[:, 2] < d[:, 0]) | (d[:, 3] < d[:, 1])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise LaminaValueError(f"{op}: {name} must be (x1, y1, x2, y2) with x1 <= x2 and "
                                   f"y1 <= y2; box {i} is {d[i].tolist()}")
        if not np.isfinite(d).all():
            raise LaminaValueError(f"{op}: {name} must be finite, got NaN or infinity")
    return t


def _scores(x, n: int, op: str) -> np.ndarray:
    s = np.asarray(x._data if isinstance(x, Tensor) else x)
    if s.ndim != 1 or s.shape[0] != n:
        raise LaminaValueError(f"{op}: scores must have shape ({n},) to match boxes, got "
                               f"{tuple(s.shape)}")
    if not np.issubdtype(s.dtype, np.number):
        raise LaminaTypeError(f"{op}: scores must be numeric, got dtype {s.dtype}")
    return s


def _threshold(v, op: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise LaminaTypeError(f"{op}: iou_threshold must be a number, got {type(v).__name__}")
    if math.isnan(v):
        raise LaminaValueError(f"{op}: iou_threshold must not be NaN")
    return float(v)


def _reduce(loss: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean() if loss.numel() > 0 else loss.sum() * 0.0
    return loss.sum()


def _check_reduction(reduction, op: str) -> None:
    if reduction not in _REDUCTIONS:
        raise LaminaValueError(f"{op}: invalid reduction {reduction!r}; expected one of "
                               f"{', '.join(repr(r) for r in _REDUCTIONS)}")


# --- box geometry -----------------------------------------------------------------------------

def box_area(boxes) -> Tensor:
    """Area ``(x2 - x1) * (y2 - y1)`` of each ``(x1, y1, x2, y2)`` box: shape ``(N,)``.

    >>> box_area(lamina.tensor([[0.0, 0.0, 2.0, 3.0]]))
    tensor([6.])
    """
    b = _boxes(boxes, "box_area")
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def box_convert(boxes, in_fmt: str, out_fmt: str) -> Tensor:
    """Convert ``(N, 4)`` boxes between ``'xyxy'`` (corners), ``'xywh'`` (top-left corner,
    width, height) and ``'cxcywh'`` (centre, width, height).

    >>> box_convert(lamina.tensor([[1.0, 2.0, 4.0, 6.0]]), "xyxy", "cxcywh")
    tensor([[2.5, 4. , 3. , 4. ]])
    """
    op = "box_convert"
    for name, fmt in (("in_fmt", in_fmt), ("out_fmt", out_fmt)):
        if fmt not in _FORMATS:
            raise LaminaValueError(f"{op}: unsupported {name} {fmt!r}; expected one of "
                                   f"{', '.join(repr(f) for f in _FORMATS)}")
    b = _boxes(boxes, op, corners=in_fmt == "xyxy")
    if in_fmt != "xyxy":
        d = np.asarray(b._data)
        bad = (d[:, 2] < 0) | (d[:, 3] < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise LaminaValueError(f"{op}: {in_fmt} boxes must have width and height >= 0; box {i} "
                                   f"is {d[i].tolist()}")
    if in_fmt == out_fmt:
        return b.clone()
    a, c, e, f = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    if in_fmt == "xywh":
        x1, y1, x2, y2 = a, c, a + e, c + f
    elif in_fmt == "cxcywh":
        x1, y1, x2, y2 = a - 0.5 * e, c - 0.5 * f, a + 0.5 * e, c + 0.5 * f
    else:
        x1, y1, x2, y2 = a, c, e, f
    if out_fmt == "xywh":
        cols = [x1, y1, x2 - x1, y2 - y1]
    elif out_fmt == "cxcywh":
        cols = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
    else:
        cols = [x1, y1, x2, y2]
    return lamina.stack(cols, dim=-1)


def _inter_union(b1: Tensor, b2: Tensor):
    """Pairwise intersection and union areas of ``(N, 4)`` and ``(M, 4)`` boxes: ``(N, M)``."""
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    lt_x = lamina.maximum(b1[:, None, 0], b2[None, :, 0])
    lt_y = lamina.maximum(b1[:, None, 1], b2[None, :, 1])
    rb_x = lamina.minimum(b1[:, None, 2], b2[None, :, 2])
    rb_y = lamina.minimum(b1[:, None, 3], b2[None, :, 3])
    inter = lamina.clamp(rb_x - lt_x, min=0) * lamina.clamp(rb_y - lt_y, min=0)
    union = area1[:, None] + area2[None, :] - inter
    return inter, union


def box_iou(boxes1, boxes2) -> Tensor:
    """Intersection over union of every pair: ``(N, M)``, ``|A & B| / |A | B|``.

    Two empty (zero-area) boxes give ``0 / 0 = nan``, as in torchvision.
    """
    b1 = _boxes(boxes1, "box_iou", "boxes1")
    b2 = _boxes(boxes2, "box_iou", "boxes2")
    inter, union = _inter_union(b1, b2)
    return inter / union


def generalized_box_iou(boxes1, boxes2) -> Tensor:
    """Generalized IoU of every pair (Rezatofighi et al. 2019): ``(N, M)`` in ``[-1, 1]``,

    ``GIoU = IoU - (|C| - |A | B|) / |C|`` where ``C`` is the smallest box enclosing both.
    """
    op = "generalized_box_iou"
    b1 = _boxes(boxes1, op, "boxes1")
    b2 = _boxes(boxes2, op, "boxes2")
    inter, union = _inter_union(b1, b2)
    iou = inter / union
    w = lamina.maximum(b1[:, None, 2], b2[None, :, 2]) - lamina.minimum(b1[:, None, 0],
                                                                        b2[None, :, 0])
    h = lamina.maximum(b1[:, None, 3], b2[None, :, 3]) - lamina.minimum(b1[:, None, 1],
                                                                        b2[None, :, 1])
    area_c = lamina.clamp(w, min=0) * lamina.clamp(h, min=0)
    return iou - (area_c - union) / area_c


# --- non-maximum suppression ------------------------------------------------------------------

def _iou_np(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    w = np.clip(np.minimum(a[:, None, 2], b[None, :, 2])
                - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    h = np.clip(np.minimum(a[:, None, 3], b[None, :, 3])
                - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = w * h
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / (area_a[:, None] + area_b[None, :] - inter)


def _nms_np(boxes: np.ndarray, scores: np.ndarray, thr: float) -> np.ndarray:
    order = np.argsort(-scores, kind="stable")
    b = boxes[order].astype(np.float64)
    iou = _iou_np(b, b)
    suppressed = np.zeros(len(b), bool)
    keep = []
    for i in range(len(b)):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i] > thr      # strictly greater, as torchvision
    return order[np.asarray(keep, dtype=np.int64)]


def nms(boxes, scores, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression: visit boxes by decreasing score and drop every later box
    whose IoU with a kept one is ``> iou_threshold``.

    Returns the int64 indices of the kept boxes, sorted by decreasing score (equal scores keep
    their input order).
    """
    op = "nms"
    b = _boxes(boxes, op)
    s = _scores(scores, b.shape[0], op)
    thr = _threshold(iou_threshold, op)
    return Tensor(_nms_np(np.asarray(b._data), s, thr))


def batched_nms(boxes, scores, idxs, iou_threshold: float) -> Tensor:
    """``nms`` within each category: boxes with different ``idxs`` never suppress each other.

    Returns int64 indices of the kept boxes sorted by decreasing score.
    """
    op = "batched_nms"
    b = _boxes(boxes, op)
    n = b.shape[0]
    s = _scores(scores, n, op)
    thr = _threshold(iou_threshold, op)
    c = np.asarray(idxs._data if isinstance(idxs, Tensor) else idxs)
    if c.ndim != 1 or c.shape[0] != n:
        raise LaminaValueError(f"{op}: idxs must have shape ({n},) to match boxes, got "
                               f"{tuple(c.shape)}")
    if n and not np.issubdtype(c.dtype, np.integer):
        raise LaminaTypeError(f"{op}: idxs must be integer category indices, got dtype {c.dtype}")
    bd = np.asarray(b._data)
    keep = [np.flatnonzero(c == k)[_nms_np(bd[c == k], s[c == k], thr)] for k in np.unique(c)]
    keep = np.concatenate(keep) if keep else np.zeros(0, np.int64)
    keep = keep[np.argsort(-s[keep], kind="stable")]
    return Tensor(keep.astype(np.int64))


# --- RoIAlign ---------------------------------------------------------------------------------

def _axis_weights(start: float, bin_size: float, pooled: int, grid: int, size: int):
    """The ``(pooled, size)`` matrix of summed bilinear weights along one axis: row ``p`` holds,
    for every feature row (or column), the total weight it gets from bin ``p``'s ``grid``
    samples. torchvision's ``bilinear_interpolate``: a sample outside ``[-1, size]`` counts
    zero; one in ``[-1, 0]`` is clamped to 0; one past ``size - 1`` reads the last row."""
    p = np.arange(pooled)[:, None]
    i = np.arange(grid)[None, :]
    y = start + p * bin_size + (i + 0.5) * bin_size / grid            # (pooled, grid)
    valid = (y >= -1.0) & (y <= size)
    y = np.maximum(y, 0.0)
    low = np.floor(y).astype(np.int64)
    at_end = low >= size - 1
    low = np.where(at_end, size - 1, low)
    high = np.where(at_end, size - 1, low + 1)
    y = np.where(at_end, low.astype(np.float64), y)
    frac = y - low
    w = np.zeros((pooled, size))
    rows = np.broadcast_to(p, y.shape)
    np.add.at(w, (rows, low), np.where(valid, 1.0 - frac, 0.0))
    np.add.at(w, (rows, high), np.where(valid, frac, 0.0))
    return w


class _RoIAlign(Function):
    """``out[k, c] = Wy_k @ x[b_k, c] @ Wx_k.T / count_k``: bilinear sampling is separable, so
    each region's pooling is two small matrix products with per-axis weight matrices, and its
    gradient is the transposed products added back into that region's image."""

    @staticmethod
    def forward(ctx, x, rois, output_size, spatial_scale, sampling_ratio, aligned):
        ph, pw = output_size
        n, c, h, w = x.shape
        offset = 0.5 if aligned else 0.0
        mats = []
        out = np.zeros((len(rois), c, ph, pw), dtype=x.dtype)
        for k, (bi, x1, y1, x2, y2) in enumerate(np.asarray(rois, np.float64)):
            sx, sy = x1 * spatial_scale - offset, y1 * spatial_scale - offset
            rw, rh = x2 * spatial_scale - offset - sx, y2 * spatial_scale - offset - sy
            if not aligned:                  # legacy: force regions to be at least 1x1
                rw, rh = max(rw, 1.0), max(rh, 1.0)
            gh = sampling_ratio if sampling_ratio > 0 else math.ceil(rh / ph)
            gw = sampling_ratio if sampling_ratio > 0 else math.ceil(rw / pw)
            count = max(gh * gw, 1)
            wy = _axis_weights(sy, rh / ph, ph, gh, h)
            wx = _axis_weights(sx, rw / pw, pw, gw, w)
            b = int(bi)
            out[k] = np.einsum("ph,chw,qw->cpq", wy, x[b], wx) / count
            mats.append((b, wy, wx, count))
        ctx.mats = mats
        ctx.shape = x.shape
        return out

    @staticmethod
    def backward(ctx, g):
        gx = np.zeros(ctx.shape, dtype=g.dtype)
        for k, (b, wy, wx, count) in enumerate(ctx.mats):
            gx[b] += np.einsum("ph,cpq,qw->chw", wy, g[k], wx) / count
        return gx, None, None, None, None, None


def _pair(v, op: str, name: str) -> tuple[int, int]:
    t = (v, v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else v
    if (not isinstance(t, (tuple, list)) or len(t) != 2
            or not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in t)
            or min(t) < 1):
        raise LaminaValueError(f"{op}: {name} must be a positive int or a pair of positive ints, "
                               f"got {v!r}")
    return int(t[0]), int(t[1])


def roi_align(input: Tensor, boxes, output_size, spatial_scale: float = 1.0,  # noqa: A002
              sampling_ratio: int = -1, aligned: bool = False) -> Tensor:
    """RoIAlign (He et al., Mask R-CNN): pool each region of ``input`` to ``output_size``.

    Each output bin averages ``sampling_ratio**2`` bilinearly interpolated points on a regular
    grid inside the bin (``sampling_ratio <= 0``: ``ceil(region size / output size)`` points
    per axis, chosen per region). Box coordinates are multiplied by ``spatial_scale`` (the
    feature map's size over the image's); ``aligned=True`` shifts them by -0.5 pixel so a box
    corner lands on a pixel corner, ``aligned=False`` is the legacy version that also makes
    every region at least 1x1.

    Args:
        input: ``(N, C, H, W)`` features.
        boxes: ``(K, 5)`` rows ``(batch index, x1, y1, x2, y2)``, or a list of ``N`` tensors
            of shape ``(L_i, 4)``, the boxes of image ``i``.
        output_size: ``int`` or ``(height, width)`` of each pooled region.

    Returns:
        ``(K, C, output_height, output_width)``; differentiable w.r.t. ``input`` (not the boxes).
    """
    op = "roi_align"
    if not isinstance(input, Tensor):
        raise LaminaTypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim != 4:
        raise LaminaValueError(f"{op}: input must be (N, C, H, W), got shape {tuple(input.shape)}")
    if not np.issubdtype(input._data.dtype, np.floating):
        raise LaminaTypeError(f"{op}: input must be floating point, got {input.dtype}")
    size = _pair(output_size, op, "output_size")
    if isinstance(sampling_ratio, bool) or not isinstance(sampling_ratio, (int, np.integer)):
        raise LaminaTypeError(f"{op}: sampling_ratio must be an int, got {sampling_ratio!r}")
    if not isinstance(spatial_scale, (int, float)) or isinstance(spatial_scale, bool) \
            or not spatial_scale > 0:
        raise LaminaValueError(f"{op}: spatial_scale must be a positive number, got "
                               f"{spatial_scale!r}")
    if isinstance(boxes, (list, tuple)):
        if len(boxes) != input.shape[0]:
            raise LaminaValueError(f"{op}: a list of boxes needs one (L, 4) entry per image: got "
                                   f"{len(boxes)} entries for {input.shape[0]} images")
        parts = []
        for i, bx in enumerate(boxes):
            bd = np.asarray(_boxes(bx, op, f"boxes[{i}]", corners=False)._data, np.float64)
            parts.append(np.concatenate([np.full((len(bd), 1), float(i)), bd], axis=1))
        rois = np.concatenate(parts) if parts else np.zeros((0, 5))
    else:
        rois = np.asarray(boxes._data if isinstance(boxes, Tensor) else boxes, np.float64)
        if rois.ndim != 2 or rois.shape[1] != 5:
            raise LaminaValueError(f"{op}: boxes must be a (K, 5) tensor of (batch index, x1, y1, "
                                   f"x2, y2) or a list of (L, 4) tensors, got shape "
                                   f"{tuple(rois.shape)}")
    if len(rois):
        bi = rois[:, 0]
        if (bi != np.round(bi)).any() or bi.min() < 0 or bi.max() >= input.shape[0]:
            raise LaminaValueError(f"{op}: batch indices (column 0 of boxes) must be integers in "
                                   f"[0, {input.shape[0] - 1}], got {np.unique(bi).tolist()}")
        if not np.isfinite(rois).all():
            raise LaminaValueError(f"{op}: boxes must be finite, got NaN or infinity")
    return _RoIAlign.apply(input, rois, size, float(spatial_scale), int(sampling_ratio),
                           bool(aligned))


# --- losses -----------------------------------------------------------------------------------

def sigmoid_focal_loss(inputs: Tensor, targets, alpha: float = 0.25, gamma: float = 2.0,
                       reduction: str = "none") -> Tensor:
    """Focal loss (Lin et al., RetinaNet) on logits ``inputs`` and 0/1 (or soft) ``targets``:

    ``FL = alpha_t * (1 - p_t)**gamma * BCE(inputs, targets)`` with ``p = sigmoid(inputs)``,
    ``p_t = p t + (1 - p)(1 - t)`` and ``alpha_t = alpha t + (1 - alpha)(1 - t)``; a negative
    ``alpha`` turns the weighting off. ``reduction``: ``'none'`` | ``'mean'`` | ``'sum'``.
    """
    op = "sigmoid_focal_loss"
    x = _as_tensor(inputs, op, "inputs")
    t = _as_tensor(targets, op, "targets")
    if tuple(x.shape) != tuple(t.shape):
        raise LaminaValueError(f"{op}: inputs and targets must have the same shape, got "
                               f"{tuple(x.shape)} and {tuple(t.shape)}")
    if not isinstance(gamma, (int, float)) or isinstance(gamma, bool) or gamma < 0:
        raise LaminaValueError(f"{op}: gamma must be a number >= 0, got {gamma!r}")
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or alpha > 1:
        raise LaminaValueError(f"{op}: alpha must be a number <= 1 (negative: no weighting), got "
                               f"{alpha!r}")
    _check_reduction(reduction, op)
    if t.dtype != x.dtype:
        t = Tensor(np.asarray(t._data, dtype=x._data.dtype))
    p = lamina.sigmoid(x)
    # BCE with logits, stably: max(x, 0) - x t + log(1 + exp(-|x|))
    ce = lamina.clamp(x, min=0) - x * t + lamina.log1p(lamina.exp(-lamina.abs(x)))
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * (1 - p_t) ** gamma if gamma != 0 else ce
    if alpha >= 0:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return _reduce(loss, reduction, op)


def generalized_box_iou_loss(boxes1, boxes2, reduction: str = "none",
                             eps: float = 1e-7) -> Tensor:
    """``1 - GIoU`` of matched box pairs (row ``i`` of ``boxes1`` with row ``i`` of
    ``boxes2``), in ``[0, 2]``; ``eps`` guards the divisions, as in torchvision:
    ``IoU = I / (U + eps)``, ``GIoU = IoU - (|C| - U) / (|C| + eps)``.
    """
    op = "generalized_box_iou_loss"
    b1 = _boxes(boxes1, op, "boxes1")
    b2 = _boxes(boxes2, op, "boxes2")
    if b1.shape[0] != b2.shape[0]:
        raise LaminaValueError(f"{op}: boxes1 and boxes2 must hold the same number of boxes "
                               f"(pairs), got {b1.shape[0]} and {b2.shape[0]}")
    _check_reduction(reduction, op)
    x1, y1, x2, y2 = b1[:, 0], b1[:, 1], b1[:, 2], b1[:, 3]
    u1, v1, u2, v2 = b2[:, 0], b2[:, 1], b2[:, 2], b2[:, 3]
    iw = lamina.clamp(lamina.minimum(x2, u2) - lamina.maximum(x1, u1), min=0)
    ih = lamina.clamp(lamina.minimum(y2, v2) - lamina.maximum(y1, v1), min=0)
    inter = iw * ih
    union = (x2 - x1) * (y2 - y1) + (u2 - u1) * (v2 - v1) - inter
    iou = inter / (union + eps)
    area_c = ((lamina.maximum(x2, u2) - lamina.minimum(x1, u1))
              * (lamina.maximum(y2, v2) - lamina.minimum(y1, v1)))
    giou = iou - (area_c - union) / (area_c + eps)
    return _reduce(1 - giou, reduction, op)
