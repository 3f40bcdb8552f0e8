"""A small single-stage, anchor-free detector in the style of CenterNet (Zhou, Wang and
Krähenbühl, "Objects as Points", 2019): every object is the cell of a coarse grid that holds
its centre; the network predicts, per cell, a score for each class and the box around it."""

from __future__ import annotations

import math

import numpy as np

import lamina
from lamina import nn
from lamina.autograd import no_grad
from lamina.errors import LaminaValueError
from lamina.tensor import Tensor
from lamina.vision.ops import batched_nms, generalized_box_iou_loss, sigmoid_focal_loss

__all__ = ["CenterNet"]


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> list:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU()]


class CenterNet(nn.Module):
    """Centre-point detector on a small CNN, returning raw maps; ``loss`` trains it and
    ``predict`` turns the maps into boxes.

    Layers (``width=w``, ``stride=4``; each conv is 3x3, BatchNorm, ReLU)::

        backbone  conv(in, w), conv(w, 2w, stride 2), conv(2w, 2w),
                  conv(2w, 4w, stride 2), conv(4w, 4w)          (N, 4w, H/4, W/4)
        heads     conv(4w, 4w) then 1x1 convs to
                  heatmap logits (N, num_classes, H/4, W/4) and box terms (N, 4, H/4, W/4)

    In the cell ``(i, j)`` the box terms ``(o_x, o_y, t_w, t_h)`` decode to the box centred at
    ``((j + sigmoid(o_x)) s, (i + sigmoid(o_y)) s)`` of size ``(s e^{t_w}, s e^{t_h})`` with
    ``s`` the stride. Training (``loss``): the heatmap target is 1 at each object's centre
    cell and class and 0 elsewhere, scored by ``sigmoid_focal_loss`` (summed, divided by the
    number of objects); at the centre cells the boxes get ``generalized_box_iou_loss`` plus
    an L1 loss on ``(sigmoid(o), t)``. Decoding (``predict``): keep cells that are the maximum
    of their 3x3 neighbourhood (CenterNet's "NMS by max-pooling") above a score threshold,
    take the highest-scoring, then ``batched_nms`` per class.

    >>> model = CenterNet(num_classes=3)
    >>> heat, box = model(lamina.randn(2, 3, 32, 32))
    >>> heat.shape, box.shape
    ((2, 3, 8, 8), (2, 4, 8, 8))
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 3, width: int = 16,
                 stride: int = 4, prior: float = 0.01):
        super().__init__()
        for name, v in (("in_channels", in_channels), ("num_classes", num_classes),
                        ("width", width)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise LaminaValueError(f"CenterNet: {name} must be a positive int, got {v!r}")
        if stride not in (1, 2, 4, 8):
            raise LaminaValueError(f"CenterNet: stride must be 1, 2, 4 or 8, got {stride!r}")
        if not 0 < prior < 1:
            raise LaminaValueError(f"CenterNet: prior must be in (0, 1), got {prior!r}")
        self.num_classes = num_classes
        self.stride = stride
        layers, c = _conv_bn_relu(in_channels, width), width
        for _ in range(int(math.log2(stride))):
            layers += _conv_bn_relu(c, 2 * c, stride=2) + _conv_bn_relu(2 * c, 2 * c)
            c *= 2
        self.backbone = nn.Sequential(*layers)
        self.neck = nn.Sequential(*_conv_bn_relu(c, c))
        self.heatmap = nn.Conv2d(c, num_classes, 1)
        self.box = nn.Conv2d(c, 4, 1)
        # start every score at the prior (RetinaNet's initialization): the rare positives do
        # not drown in the loss of thousands of confident-looking negatives at step 0
        with no_grad():
            self.heatmap.bias._data[...] = -math.log((1 - prior) / prior)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.ndim != 4 or x.shape[2] % self.stride or x.shape[3] % self.stride:
            raise LaminaValueError(f"CenterNet: expected (N, C, H, W) input with H and W divisible "
                                   f"by the stride {self.stride}, got shape {tuple(x.shape)}")
        f = self.neck(self.backbone(x))
        return self.heatmap(f), self.box(f)

    # --- training ---------------------------------------------------------------------------

    def _encode(self, targets, shape):
        """Heatmap targets, the flat indices of the centre cells and their box targets."""
        n, _, h, w = shape
        s = self.stride
        heat = np.zeros((n, self.num_classes, h, w), np.float32)
        cells, boxes, offsets = [], [], []
        if len(targets) != n:
            raise LaminaValueError(f"CenterNet.loss: got {len(targets)} targets for {n} images")
        for b, t in enumerate(targets):
            bx = np.asarray(t["boxes"]._data if isinstance(t["boxes"], Tensor) else t["boxes"],
                            np.float64).reshape(-1, 4)
            lab = np.asarray(t["labels"]._data if isinstance(t["labels"], Tensor)
                             else t["labels"], np.int64).reshape(-1)
            if len(bx) != len(lab):
                raise LaminaValueError(f"CenterNet.loss: targets[{b}] has {len(bx)} boxes and "
                                       f"{len(lab)} labels")
            if len(lab) and (lab.min() < 0 or lab.max() >= self.num_classes):
                raise LaminaValueError(f"CenterNet.loss: labels must be in [0, "
                                       f"{self.num_classes - 1}], got {lab.tolist()}")
            cx, cy = (bx[:, 0] + bx[:, 2]) / (2 * s), (bx[:, 1] + bx[:, 3]) / (2 * s)
            j = np.clip(np.floor(cx).astype(np.int64), 0, w - 1)
            i = np.clip(np.floor(cy).astype(np.int64), 0, h - 1)
            heat[b, lab, i, j] = 1.0
            cells.append(b * h * w + i * w + j)
            boxes.append(bx)
            sizes = np.maximum(bx[:, 2:] - bx[:, :2], 1e-3) / s
            offsets.append(np.c_[cx - j, cy - i, np.log(sizes)])
        return (heat, np.concatenate(cells), np.concatenate(boxes), np.concatenate(offsets))

    def _decode_cells(self, box: Tensor, cells: np.ndarray, w: int, h: int) -> Tensor:
        """Boxes (xyxy, image pixels) predicted at the flat cell indices ``cells``."""
        s = self.stride
        terms = box.permute(0, 2, 3, 1).reshape(-1, 4)[Tensor(cells)]
        j = Tensor((cells % w).astype(np.float32))
        i = Tensor(((cells // w) % h).astype(np.float32))
        cx = (j + lamina.sigmoid(terms[:, 0])) * s
        cy = (i + lamina.sigmoid(terms[:, 1])) * s
        half_w = 0.5 * s * lamina.exp(lamina.clamp(terms[:, 2], max=8.0))
        half_h = 0.5 * s * lamina.exp(lamina.clamp(terms[:, 3], max=8.0))
        return lamina.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=-1), terms

    def loss(self, outputs: tuple[Tensor, Tensor], targets) -> dict:
        """Training loss of ``outputs = model(images)`` against ``targets`` (one dict with
        ``boxes`` ``(K, 4)`` xyxy and ``labels`` ``(K,)`` per image).

        Returns ``{"loss": total, "focal": ..., "giou": ..., "l1": ...}`` (tensors).
        """
        heat, box = outputs
        heat_t, cells, boxes_t, offsets_t = self._encode(targets, heat.shape)
        n_pos = max(len(cells), 1)
        focal = sigmoid_focal_loss(heat, Tensor(heat_t), reduction="sum") / n_pos
        if len(cells) == 0:
            zero = box.sum() * 0.0
            return {"loss": focal + zero, "focal": focal, "giou": zero, "l1": zero}
        h, w = heat.shape[2], heat.shape[3]
        pred, terms = self._decode_cells(box, cells, w, h)
        giou = generalized_box_iou_loss(pred, Tensor(boxes_t.astype(np.float32)),
                                        reduction="mean")
        off = offsets_t.astype(np.float32)
        frac = lamina.stack([lamina.sigmoid(terms[:, 0]), lamina.sigmoid(terms[:, 1])], dim=-1)
        l1 = ((frac - Tensor(off[:, :2])).abs().mean()
              + (terms[:, 2:] - Tensor(off[:, 2:])).abs().mean())
        return {"loss": focal + giou + l1, "focal": focal, "giou": giou, "l1": l1}

    # --- inference --------------------------------------------------------------------------

    def predict(self, images: Tensor, score_threshold: float = 0.05,
                max_detections: int = 20, iou_threshold: float = 0.5) -> list[dict]:
        """Detections for each image: ``{"boxes": (D, 4) xyxy float array, "scores": (D,),
        "labels": (D,)}``, highest score first (eval mode, no gradients)."""
        if not 0 <= score_threshold < 1:
            raise LaminaValueError(f"CenterNet.predict: score_threshold must be in [0, 1), got "
                             f"{score_threshold!r}")
        if isinstance(max_detections, bool) or not isinstance(max_detections, int) \
                or max_detections < 1:
            raise LaminaValueError(f"CenterNet.predict: max_detections must be a positive int, "
                                   f"got {max_detections!r}")
        was = self.training
        self.eval()
        try:
            with no_grad():
                heat, box = self(images)
                prob = lamina.sigmoid(heat)
                peak = nn.functional.max_pool2d(prob, 3, stride=1, padding=1)
        finally:
            self.train(was)
        prob, peak = np.asarray(prob._data), np.asarray(peak._data)
        n, c, h, w = prob.shape
        size = (images.shape[3], images.shape[2])
        out = []
        for b in range(n):
            score = np.where(prob[b] == peak[b], prob[b], 0.0).reshape(c, -1)
            best = score.max(0)                          # one class per cell: the best one
            label = score.argmax(0)
            keep = np.flatnonzero(best > score_threshold)
            keep = keep[np.argsort(-best[keep], kind="stable")][:max_detections]
            with no_grad():
                boxes, _ = self._decode_cells(box[b:b + 1], keep, w, h)
            boxes = np.asarray(boxes._data, np.float64).reshape(-1, 4)
            boxes[:, 0::2] = boxes[:, 0::2].clip(0, size[0])
            boxes[:, 1::2] = boxes[:, 1::2].clip(0, size[1])
            scores, labels = best[keep].astype(np.float64), label[keep].astype(np.int64)
            kept = np.asarray(batched_nms(boxes, scores, labels, iou_threshold)._data)
            out.append({"boxes": boxes[kept], "scores": scores[kept], "labels": labels[kept]})
        return out
