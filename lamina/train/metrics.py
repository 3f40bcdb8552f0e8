"""Metrics: how good a model's outputs are, as plain numbers.

Two forms of each metric:

* **functions** on whole arrays (``accuracy(output, target)``, ``r2_score(output, target)``,
  ...), taking lamina tensors, NumPy arrays or lists and returning a Python ``float`` (or an
  array, for ``confusion_matrix`` and per-class scores);
* **streaming metric objects** (``Accuracy()``, ``R2Score()``, ...) that ``fit`` and
  ``evaluate`` feed one batch at a time: ``reset()``, ``update(output, target)`` per batch,
  ``compute()`` at the end. They keep exact running sums, so the result over all batches
  equals the function applied to the whole data set (an RMSE is the root of the mean over
  all samples, not the mean of per-batch roots).

Arguments come in the order ``(output, target)``, like the loss functions (and torchmetrics);
scikit-learn's order is the reverse, ``(y_true, y_pred)``.

How an output becomes predicted labels (``accuracy``, ``confusion_matrix``, precision/recall):

* ``output`` has one more dimension than ``target`` (class scores along dim 1, e.g. ``(N, C)``
  logits or probabilities against ``(N,)`` class indices): the prediction is the argmax over
  dim 1. With ``C == 1`` it is a binary score, thresholded like below.
* ``output`` has ``target``'s shape: integer or bool outputs are labels already; floating
  outputs are binary scores, predicted 1 where ``output > threshold``. The default threshold
  0.5 suits probabilities (after ``sigmoid``); pass ``threshold=0.0`` for logits.

>>> accuracy(lamina.tensor([[2.0, 0.1], [0.3, 0.9]]), lamina.tensor([0, 0]))
0.5
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np

from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor

__all__ = [
    "accuracy", "top_k_accuracy", "mean_squared_error", "root_mean_squared_error",
    "mean_absolute_error", "r2_score", "confusion_matrix", "precision_recall_f1",
    "precision", "recall", "f1_score",
    "Metric", "Accuracy", "TopKAccuracy", "MeanSquaredError", "RootMeanSquaredError",
    "MeanAbsoluteError", "R2Score", "ConfusionMatrix", "Precision", "Recall", "F1Score",
    "FunctionMetric", "get_metric",
]

_AVERAGES = ("binary", "micro", "macro", "weighted", None)


# --- turning inputs into arrays and labels ------------------------------------------------

def _array(x, op: str, what: str) -> np.ndarray:
    if isinstance(x, Tensor):
        return x._data
    if isinstance(x, np.ndarray):
        return x
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise LaminaTypeError(f"{op}: {what} must be a Tensor, an array or a list of numbers, "
                              f"got {type(x).__name__}") from e
    if arr.dtype.kind not in "biuf":
        raise LaminaTypeError(f"{op}: {what} must be numeric, got {type(x).__name__} of dtype "
                              f"{arr.dtype}")
    return arr


def _predicted_labels(output, target, threshold: float, op: str):
    """``(pred, target)`` as arrays of the same shape: the output turned into labels."""
    out = _array(output, op, "output")
    tgt = _array(target, op, "target")
    if out.ndim == tgt.ndim + 1:
        if out.shape[:1] + out.shape[2:] != tgt.shape:
            raise LaminaValueError(f"{op}: output of shape {out.shape} (class scores along dim 1) "
                                   f"does not match target of shape {tgt.shape}")
        if out.shape[1] == 1:                       # one binary score per sample
            return out[:, 0] > threshold, tgt
        return out.argmax(axis=1), tgt
    if out.shape != tgt.shape:
        raise LaminaValueError(f"{op}: output of shape {out.shape} does not match target of shape "
                               f"{tgt.shape}; expected the same shape (labels or binary scores) "
                               f"or one extra class dimension at dim 1")
    if out.dtype.kind == "f":
        return out > threshold, tgt
    return out, tgt


def _as_labels(arr: np.ndarray, op: str, what: str) -> np.ndarray:
    """Integer class labels (>= 0) from an int, bool or integral float array."""
    if arr.dtype.kind == "b":
        return arr.astype(np.int64).ravel()
    if arr.dtype.kind == "f":
        lab = arr.astype(np.int64)
        if not np.array_equal(lab, arr):
            raise LaminaValueError(f"{op}: {what} must hold class labels (whole numbers), got "
                                   f"non-integral values")
        arr = lab
    elif arr.dtype.kind not in "iu":
        raise LaminaTypeError(f"{op}: {what} must hold class labels, got dtype {arr.dtype}")
    if arr.size and arr.min() < 0:
        raise LaminaValueError(f"{op}: {what} holds a negative class label ({arr.min()}); labels "
                               f"must be 0, 1, ..., num_classes - 1")
    return arr.astype(np.int64, copy=False).ravel()


def _regression_pair(output, target, op: str):
    out = _array(output, op, "output")
    tgt = _array(target, op, "target")
    if out.shape != tgt.shape:
        hint = ""
        if out.size == tgt.size:
            hint = " (squeeze or reshape one of them: broadcasting would compare every pair)"
        raise LaminaValueError(f"{op}: output of shape {out.shape} and target of shape {tgt.shape} "
                               f"must have the same shape{hint}")
    if out.size == 0:
        raise LaminaValueError(f"{op}: got empty inputs")
    return out.astype(np.float64, copy=False), tgt.astype(np.float64, copy=False)


def _nonempty(n: int, op: str) -> None:
    if n == 0:
        raise LaminaValueError(f"{op}: got empty inputs")


# --- classification functions -------------------------------------------------------------

def accuracy(output, target, threshold: float = 0.5) -> float:
    """The fraction of samples whose predicted label equals the target.

    ``output`` may be class scores ``(N, C)`` (logits or probabilities: argmax over dim 1),
    binary scores of the target's shape (predicted 1 where ``output > threshold``; use
    ``threshold=0.0`` for logits), or labels. With binary scores of shape ``(N, K)`` every
    element counts as one prediction (Keras's ``binary_accuracy``).

    >>> accuracy(lamina.tensor([0.9, 0.2, 0.6]), lamina.tensor([1.0, 0.0, 0.0]))
    0.6666666666666666
    """
    pred, tgt = _predicted_labels(output, target, threshold, "accuracy")
    _nonempty(tgt.size, "accuracy")
    return float(np.count_nonzero(pred == tgt)) / tgt.size


def _top_k_hits(output, target, k: int, op: str) -> np.ndarray:
    out = _array(output, op, "output")
    tgt = _as_labels(_array(target, op, "target"), op, "target")
    if out.ndim != 2 or out.shape[0] != tgt.size:
        raise LaminaValueError(f"{op}: expected output of shape (N, C) and target of shape (N,), "
                               f"got {out.shape} and {tgt.shape}")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise LaminaValueError(f"{op}: k must be a positive integer, got {k!r}")
    if tgt.size and tgt.max() >= out.shape[1]:
        raise LaminaValueError(f"{op}: target holds class {tgt.max()} but output has only "
                               f"{out.shape[1]} classes")
    # the true class is in the top k when fewer than k classes score strictly higher
    true_score = np.take_along_axis(out, tgt[:, None], axis=1)
    return np.count_nonzero(out > true_score, axis=1) < k


def top_k_accuracy(output, target, k: int = 5) -> float:
    """The fraction of samples whose target class is among the ``k`` highest scores.

    ``output``: class scores ``(N, C)``; ``target``: class indices ``(N,)``. A tie with the
    true class's score counts in its favour. ``k=1`` is ordinary accuracy.
    """
    hits = _top_k_hits(output, target, k, "top_k_accuracy")
    _nonempty(hits.size, "top_k_accuracy")
    return float(np.count_nonzero(hits)) / hits.size


def _confusion(pred: np.ndarray, tgt: np.ndarray, num_classes: int | None,
               op: str) -> np.ndarray:
    pred = _as_labels(pred, op, "the predictions")
    tgt = _as_labels(tgt, op, "target")
    top = int(max(pred.max(initial=-1), tgt.max(initial=-1))) + 1
    if num_classes is None:
        num_classes = top
    elif top > num_classes:
        raise LaminaValueError(f"{op}: found class label {top - 1} but num_classes={num_classes}")
    counts = np.bincount(tgt * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def confusion_matrix(output, target, num_classes: int | None = None,
                     threshold: float = 0.5) -> np.ndarray:
    """Counts ``C[i, j]`` of samples of true class ``i`` predicted as class ``j`` (rows: the
    truth, columns: the prediction, as in scikit-learn), an ``int64`` array ``(C, C)``.

    ``num_classes`` defaults to the largest label seen plus one. ``output`` is turned into
    labels as in ``accuracy``.

    >>> confusion_matrix(lamina.tensor([0, 1, 1]), lamina.tensor([0, 0, 1]))
    array([[1, 1],
           [0, 1]])
    """
    pred, tgt = _predicted_labels(output, target, threshold, "confusion_matrix")
    return _confusion(pred, tgt, num_classes, "confusion_matrix")


def _divide(num: np.ndarray, den: np.ndarray, zero_division: float) -> np.ndarray:
    out = np.full(num.shape, float(zero_division))
    np.divide(num, den, out=out, where=den != 0)
    return out


def _prf(cm: np.ndarray, average: str | None, pos_label: int, zero_division: float,
         labels_given: bool, op: str):
    """Precision, recall and F1 from a confusion matrix (scikit-learn's definitions)."""
    if average not in _AVERAGES:
        raise LaminaValueError(f"{op}: average must be one of {_AVERAGES}, got {average!r}")
    if average == "binary":
        if cm.shape[0] > 2:
            raise LaminaValueError(f"{op}: average='binary' needs labels 0 and 1, found "
                                   f"{cm.shape[0]} classes; use average='macro', 'micro' or "
                                   f"'weighted' for multiclass data")
        if pos_label not in (0, 1):
            raise LaminaValueError(f"{op}: pos_label must be 0 or 1, got {pos_label!r}")
        cm = np.pad(cm, (0, 2 - cm.shape[0]))          # 2x2 even if only label 0 occurred
    tp = np.diag(cm).astype(np.float64)
    pred_sum = cm.sum(axis=0).astype(np.float64)      # predicted as each class
    true_sum = cm.sum(axis=1).astype(np.float64)      # support of each class
    if average == "binary":
        keep = slice(pos_label, pos_label + 1)
        tp, pred_sum, true_sum = tp[keep], pred_sum[keep], true_sum[keep]
    elif average == "micro":
        tp, pred_sum, true_sum = (np.array([a.sum()]) for a in (tp, pred_sum, true_sum))
    # F1 = 2 tp / (2 tp + fp + fn) = 2 tp / (true_sum + pred_sum)
    p = _divide(tp, pred_sum, zero_division)
    r = _divide(tp, true_sum, zero_division)
    f = _divide(2 * tp, true_sum + pred_sum, zero_division)
    if average in ("binary", "micro"):
        return float(p[0]), float(r[0]), float(f[0])
    if average is None:
        return p, r, f
    # macro/weighted: over the classes present in target or predictions, as scikit-learn
    # does without ``labels``; over all num_classes when the caller gave it
    keep = np.ones(tp.shape, bool) if labels_given else (true_sum + pred_sum) > 0
    weights = true_sum[keep] if average == "weighted" else np.ones(np.count_nonzero(keep))
    if weights.sum() == 0:
        return (float(zero_division),) * 3
    return tuple(_average(s[keep], weights) for s in (p, r, f))


def _average(values: np.ndarray, weights: np.ndarray) -> float:
    ok = ~np.isnan(values)                      # zero_division=nan: skip undefined classes
    if not ok.any() or weights[ok].sum() == 0:
        return math.nan
    return float(np.average(values[ok], weights=weights[ok]))


def precision_recall_f1(output, target, average: str | None = "binary",
                        num_classes: int | None = None, pos_label: int = 1,
                        zero_division: float = 0.0, threshold: float = 0.5):
    """Precision ``tp / (tp + fp)``, recall ``tp / (tp + fn)`` and F1 (their harmonic mean,
    ``2 tp / (2 tp + fp + fn)``), as scikit-learn's ``precision_recall_fscore_support``.

    Args:
        output, target: as in ``accuracy`` (scores or labels; class indices).
        average: ``"binary"`` (the scores of class ``pos_label``; labels must be 0/1),
            ``"micro"`` (from the total tp/fp/fn counts; equals accuracy for single-label
            data), ``"macro"`` (unweighted mean over classes), ``"weighted"`` (mean
            weighted by each class's support), or ``None`` (one score per class 0..C-1, as
            arrays).
        num_classes: the number of classes; without it, macro/weighted averages run over
            the classes that occur in target or predictions (scikit-learn's rule).
        pos_label: the positive class for ``average="binary"``.
        zero_division: the value of a score whose denominator is 0 (``nan`` leaves that
            class out of macro/weighted averages).
        threshold: for binary scores, as in ``accuracy``.

    Returns:
        ``(precision, recall, f1)``: floats, or arrays with ``average=None``.
    """
    op = "precision_recall_f1"
    pred, tgt = _predicted_labels(output, target, threshold, op)
    _nonempty(tgt.size, op)
    cm = _confusion(pred, tgt, num_classes, op)
    return _prf(cm, average, pos_label, zero_division, num_classes is not None, op)


def precision(output, target, average: str | None = "binary", **kwargs):
    """Precision ``tp / (tp + fp)``; arguments as in ``precision_recall_f1``."""
    return precision_recall_f1(output, target, average, **kwargs)[0]


def recall(output, target, average: str | None = "binary", **kwargs):
    """Recall ``tp / (tp + fn)``; arguments as in ``precision_recall_f1``."""
    return precision_recall_f1(output, target, average, **kwargs)[1]


def f1_score(output, target, average: str | None = "binary", **kwargs):
    """F1 ``2 tp / (2 tp + fp + fn)``; arguments as in ``precision_recall_f1``."""
    return precision_recall_f1(output, target, average, **kwargs)[2]


# --- regression functions -----------------------------------------------------------------

def mean_squared_error(output, target) -> float:
    """``mean((output - target)^2)`` over all elements (shapes must match exactly)."""
    out, tgt = _regression_pair(output, target, "mean_squared_error")
    d = out - tgt
    return float(np.dot(d.ravel(), d.ravel())) / d.size


def root_mean_squared_error(output, target) -> float:
    """``sqrt(mean((output - target)^2))``, in the target's units."""
    out, tgt = _regression_pair(output, target, "root_mean_squared_error")
    d = (out - tgt).ravel()
    return math.sqrt(float(np.dot(d, d)) / d.size)


def mean_absolute_error(output, target) -> float:
    """``mean(|output - target|)`` over all elements."""
    out, tgt = _regression_pair(output, target, "mean_absolute_error")
    return float(np.abs(out - tgt).mean())


def _r2_from(ss_res: np.ndarray, ss_tot: np.ndarray) -> float:
    # scikit-learn's force_finite rule for a constant target: 1 if fitted exactly, else 0
    score = np.where(ss_tot != 0, 1.0 - ss_res / np.where(ss_tot != 0, ss_tot, 1.0),
                     np.where(ss_res == 0, 1.0, 0.0))
    return float(score.mean())


def r2_score(output, target) -> float:
    """The coefficient of determination ``1 - SS_res / SS_tot``, where
    ``SS_res = sum (target - output)^2`` and ``SS_tot = sum (target - mean(target))^2``.

    1 is a perfect fit, 0 is no better than predicting the mean, and it can be negative.
    For 2-D targets ``(N, K)`` each column is scored and the scores are averaged
    (scikit-learn's ``multioutput="uniform_average"``). A constant target column scores 1
    if predicted exactly and 0 otherwise.
    """
    out, tgt = _regression_pair(output, target, "r2_score")
    out = out.reshape(out.shape[0], -1) if out.ndim > 1 else out[:, None]
    tgt = tgt.reshape(out.shape)
    ss_res = ((tgt - out) ** 2).sum(axis=0)
    ss_tot = ((tgt - tgt.mean(axis=0)) ** 2).sum(axis=0)
    return _r2_from(ss_res, ss_tot)


# --- streaming metrics --------------------------------------------------------------------

class Metric:
    """A metric accumulated over batches: ``reset()``, then ``update(output, target)`` for
    every batch, then ``compute()``.

    ``name`` is its key in a training history (``"accuracy"``, and ``"val_accuracy"`` for
    validation data). Subclasses keep running sums in ``reset``/``update``.

    >>> m = Accuracy()
    >>> for x, y in loader:
    ...     m.update(model(x), y)
    >>> m.compute()
    0.93
    """

    name = "metric"
    higher_is_better = True

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, output, target) -> None:
        raise NotImplementedError

    def compute(self):
        raise NotImplementedError

    def _empty(self) -> RuntimeError:
        return RuntimeError(f"{type(self).__name__}.compute() called before any update()")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class Accuracy(Metric):
    """Streaming ``accuracy`` (same conversion of outputs to labels)."""

    name = "accuracy"

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold
        super().__init__()

    def reset(self) -> None:
        self.correct = 0
        self.total = 0

    def update(self, output, target) -> None:
        pred, tgt = _predicted_labels(output, target, self.threshold, "Accuracy")
        self.correct += int(np.count_nonzero(pred == tgt))
        self.total += tgt.size

    def compute(self) -> float:
        if self.total == 0:
            raise self._empty()
        return self.correct / self.total


class TopKAccuracy(Metric):
    """Streaming ``top_k_accuracy``; named ``"top{k}_accuracy"``."""

    def __init__(self, k: int = 5) -> None:
        self.k = k
        self.name = f"top{k}_accuracy"
        super().__init__()

    def reset(self) -> None:
        self.correct = 0
        self.total = 0

    def update(self, output, target) -> None:
        hits = _top_k_hits(output, target, self.k, "TopKAccuracy")
        self.correct += int(np.count_nonzero(hits))
        self.total += hits.size

    def compute(self) -> float:
        if self.total == 0:
            raise self._empty()
        return self.correct / self.total


class _ErrorSum(Metric):
    higher_is_better = False

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0

    def update(self, output, target) -> None:
        out, tgt = _regression_pair(output, target, type(self).__name__)
        d = (out - tgt).ravel()
        self.total += self._sum(d)
        self.count += d.size

    def _mean(self) -> float:
        if self.count == 0:
            raise self._empty()
        return self.total / self.count


class MeanSquaredError(_ErrorSum):
    """Streaming ``mean_squared_error``; named ``"mse"``."""

    name = "mse"

    @staticmethod
    def _sum(d):
        return float(np.dot(d, d))

    def compute(self) -> float:
        return self._mean()


class RootMeanSquaredError(MeanSquaredError):
    """Streaming ``root_mean_squared_error`` (the root of the mean over all samples);
    named ``"rmse"``."""

    name = "rmse"

    def compute(self) -> float:
        return math.sqrt(self._mean())


class MeanAbsoluteError(_ErrorSum):
    """Streaming ``mean_absolute_error``; named ``"mae"``."""

    name = "mae"

    @staticmethod
    def _sum(d):
        return float(np.abs(d).sum())

    def compute(self) -> float:
        return self._mean()


class R2Score(Metric):
    """Streaming ``r2_score``; named ``"r2"``.

    Keeps per-column counts, means and sums of squared deviations of the target, merged batch
    by batch with Chan et al.'s pairwise update (no cancellation from ``sum(y^2) - n mean^2``).
    """

    name = "r2"

    def reset(self) -> None:
        self.n = 0
        self.mean = None
        self.m2 = None          # sum of squared deviations from the running mean (SS_tot)
        self.ss_res = None

    def update(self, output, target) -> None:
        out, tgt = _regression_pair(output, target, "R2Score")
        out = out.reshape(out.shape[0], -1) if out.ndim > 1 else out[:, None]
        tgt = tgt.reshape(out.shape)
        nb = tgt.shape[0]
        mean_b = tgt.mean(axis=0)
        m2_b = ((tgt - mean_b) ** 2).sum(axis=0)
        res_b = ((tgt - out) ** 2).sum(axis=0)
        if self.n == 0:
            self.n, self.mean, self.m2, self.ss_res = nb, mean_b, m2_b, res_b
            return
        if mean_b.shape != self.mean.shape:
            raise LaminaValueError(f"R2Score: batches have {self.mean.size} and {mean_b.size} "
                                   f"target columns")
        n = self.n + nb
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (nb / n)
        self.m2 = self.m2 + m2_b + delta**2 * (self.n * nb / n)
        self.ss_res = self.ss_res + res_b
        self.n = n

    def compute(self) -> float:
        if self.n == 0:
            raise self._empty()
        return _r2_from(self.ss_res, self.m2)


class ConfusionMatrix(Metric):
    """Streaming ``confusion_matrix``; ``compute()`` returns the ``(C, C)`` count array.

    Without ``num_classes`` the matrix grows to the largest label seen.
    """

    name = "confusion_matrix"

    def __init__(self, num_classes: int | None = None, threshold: float = 0.5) -> None:
        self.num_classes = num_classes
        self.threshold = threshold
        super().__init__()

    def reset(self) -> None:
        c = self.num_classes or 0
        self.matrix = np.zeros((c, c), dtype=np.int64)
        self.total = 0

    def update(self, output, target) -> None:
        op = type(self).__name__
        pred, tgt = _predicted_labels(output, target, self.threshold, op)
        cm = _confusion(pred, tgt, self.num_classes, op)
        if cm.shape[0] > self.matrix.shape[0]:
            grown = np.zeros_like(cm)
            c = self.matrix.shape[0]
            grown[:c, :c] = self.matrix
            self.matrix = grown
        c = cm.shape[0]
        self.matrix[:c, :c] += cm
        self.total += tgt.size

    def compute(self) -> np.ndarray:
        if self.total == 0:
            raise self._empty()
        return self.matrix.copy()


class _PRF(ConfusionMatrix):
    _index = 0

    def __init__(self, average: str | None = "macro", num_classes: int | None = None,
                 pos_label: int = 1, zero_division: float = 0.0,
                 threshold: float = 0.5) -> None:
        if average not in _AVERAGES:
            raise LaminaValueError(f"{type(self).__name__}: average must be one of {_AVERAGES}, "
                                   f"got {average!r}")
        self.average = average
        self.pos_label = pos_label
        self.zero_division = zero_division
        super().__init__(num_classes, threshold)

    def compute(self):
        cm = super().compute()
        return _prf(cm, self.average, self.pos_label, self.zero_division,
                    self.num_classes is not None, type(self).__name__)[self._index]


class Precision(_PRF):
    """Streaming ``precision`` (default ``average="macro"``); named ``"precision"``."""

    name = "precision"
    _index = 0


class Recall(_PRF):
    """Streaming ``recall`` (default ``average="macro"``); named ``"recall"``."""

    name = "recall"
    _index = 1


class F1Score(_PRF):
    """Streaming ``f1_score`` (default ``average="macro"``); named ``"f1"``."""

    name = "f1"
    _index = 2


class FunctionMetric(Metric):
    """Any ``fn(output, target) -> float``, averaged over batches weighted by batch size.

    Exact for metrics that are means over samples (accuracy, MSE); only approximate for
    others (an R^2 or F1 of the whole set is not the mean of per-batch values: use the
    metric classes for those).
    """

    def __init__(self, fn: Callable, name: str | None = None,
                 higher_is_better: bool = True) -> None:
        if not callable(fn):
            raise LaminaTypeError(f"FunctionMetric: fn must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "metric")
        self.higher_is_better = higher_is_better
        super().__init__()

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0

    def update(self, output, target) -> None:
        tgt = _array(target, self.name, "target")
        n = tgt.shape[0] if tgt.ndim else 1
        self.total += float(self.fn(output, target)) * n
        self.count += n

    def compute(self) -> float:
        if self.count == 0:
            raise self._empty()
        return self.total / self.count


_BY_NAME: dict[str, Callable[[], Metric]] = {
    "accuracy": Accuracy, "acc": Accuracy,
    "mse": MeanSquaredError, "rmse": RootMeanSquaredError, "mae": MeanAbsoluteError,
    "r2": R2Score,
    "precision": Precision, "recall": Recall, "f1": F1Score,
}


def get_metric(spec) -> Metric:
    """A fresh ``Metric`` from a name (``"accuracy"``, ``"top5_accuracy"``, ``"mse"``,
    ``"rmse"``, ``"mae"``, ``"r2"``, ``"precision"``, ``"recall"``, ``"f1"``; the last three
    macro-averaged), a ``Metric`` (returned as is) or a function ``fn(output, target)``
    (wrapped in ``FunctionMetric``)."""
    if isinstance(spec, Metric):
        return spec
    if isinstance(spec, str):
        key = spec.lower()
        if key in _BY_NAME:
            return _BY_NAME[key]()
        m = re.fullmatch(r"top_?(\d+)_accuracy", key)
        if m:
            return TopKAccuracy(int(m.group(1)))
        names = sorted(_BY_NAME) + ["top<k>_accuracy"]
        raise LaminaValueError(f"get_metric: unknown metric {spec!r}; known names: "
                               f"{', '.join(names)}")
    if isinstance(spec, type) and issubclass(spec, Metric):
        return spec()
    if callable(spec):
        return FunctionMetric(spec)
    raise LaminaTypeError(f"get_metric: expected a metric name, a Metric or a function, got "
                          f"{type(spec).__name__}")
