"""Metrics against scikit-learn, and streaming metrics against the functions."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lamina
from lamina.train import metrics as M


@pytest.fixture
def skm():
    return pytest.importorskip("sklearn.metrics")


def _cls_data(seed, n=97, c=4):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c))
    target = rng.integers(0, c, size=n)
    return logits, target


# --- accuracy ---------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(3))
def test_accuracy_from_logits_and_probabilities(skm, seed):
    logits, target = _cls_data(seed)
    expected = skm.accuracy_score(target, logits.argmax(1))
    assert M.accuracy(lamina.tensor(logits), lamina.tensor(target)) == expected
    probs = lamina.tensor(logits).softmax(dim=1)
    assert M.accuracy(probs, target) == expected
    assert M.accuracy(logits.tolist(), target.tolist()) == expected   # plain lists
    assert M.accuracy(logits.argmax(1), target) == expected          # labels


def test_accuracy_binary_threshold(skm):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=50)
    target = (rng.random(50) < 0.5).astype(np.float32)
    probs = 1 / (1 + np.exp(-logits))
    expected = skm.accuracy_score(target, probs > 0.5)
    assert M.accuracy(probs, target) == expected
    assert M.accuracy(logits, target, threshold=0.0) == expected
    # an (N, 1) score column against (N,) targets is binary, not an argmax over one column
    assert M.accuracy(probs[:, None], target) == expected
    # a different threshold changes the answer as expected
    assert M.accuracy(probs, target, threshold=0.8) == skm.accuracy_score(target, probs > 0.8)


def test_accuracy_multilabel_is_elementwise():
    out = np.array([[0.9, 0.1], [0.2, 0.7]])
    tgt = np.array([[1, 1], [0, 1]])
    assert M.accuracy(out, tgt) == 0.75


def test_accuracy_class_dim_1_with_extra_dims():
    rng = np.random.default_rng(2)
    out = rng.normal(size=(4, 3, 5))           # (N, C, L), as for cross_entropy
    tgt = rng.integers(0, 3, size=(4, 5))
    assert M.accuracy(out, tgt) == np.mean(out.argmax(1) == tgt)


def test_accuracy_errors():
    with pytest.raises(ValueError, match="accuracy: output of shape"):
        M.accuracy(np.zeros((4, 3)), np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="empty"):
        M.accuracy(np.zeros((0, 3)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match="does not match target"):
        M.accuracy(np.zeros(4), np.zeros(3))


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_top_k_accuracy(skm, k):
    logits, target = _cls_data(k, n=120, c=6)
    expected = skm.top_k_accuracy_score(target, logits, k=k, labels=range(6))
    assert M.top_k_accuracy(logits, target, k=k) == pytest.approx(expected, abs=1e-15)
    if k == 1:
        assert M.top_k_accuracy(logits, target, k=1) == M.accuracy(logits, target)


def test_top_k_errors():
    with pytest.raises(ValueError, match="k must be a positive integer"):
        M.top_k_accuracy(np.zeros((2, 3)), [0, 1], k=0)
    with pytest.raises(ValueError, match="only 3 classes"):
        M.top_k_accuracy(np.zeros((2, 3)), [0, 3], k=1)
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        M.top_k_accuracy(np.zeros(3), [0, 1, 2], k=1)


# --- regression -------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(40,), (40, 3)])
def test_regression_metrics(skm, shape):
    rng = np.random.default_rng(3)
    target = rng.normal(size=shape) * 3 + 1
    output = target + rng.normal(size=shape)
    t, o = lamina.tensor(target), lamina.tensor(output)
    assert M.mean_squared_error(o, t) == pytest.approx(
        skm.mean_squared_error(target, output), rel=1e-12)
    assert M.root_mean_squared_error(o, t) == pytest.approx(
        math.sqrt(skm.mean_squared_error(target, output)), rel=1e-12)
    assert M.mean_absolute_error(o, t) == pytest.approx(
        skm.mean_absolute_error(target, output), rel=1e-12)
    assert M.r2_score(o, t) == pytest.approx(skm.r2_score(target, output), rel=1e-12)


def test_r2_constant_target_and_negative(skm):
    const = np.full(10, 2.0)
    assert M.r2_score(const, const) == skm.r2_score(const, const) == 1.0
    assert M.r2_score(const + 1, const) == skm.r2_score(const, const + 1) == 0.0
    rng = np.random.default_rng(4)
    t = rng.normal(size=30)
    bad = -t * 2
    assert M.r2_score(bad, t) == pytest.approx(skm.r2_score(t, bad), rel=1e-12)
    assert M.r2_score(bad, t) < 0
    two = np.stack([t, const[:1].repeat(30)], axis=1)     # one column constant
    pred = two + 0.1
    assert M.r2_score(pred, two) == pytest.approx(skm.r2_score(two, pred), rel=1e-12)


def test_regression_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="same shape.*squeeze"):
        M.mean_squared_error(np.zeros((5, 1)), np.zeros(5))
    with pytest.raises(ValueError, match="empty"):
        M.r2_score(np.zeros(0), np.zeros(0))


# --- confusion matrix, precision, recall, F1 --------------------------------------------

@pytest.mark.parametrize("seed", range(3))
def test_confusion_matrix(skm, seed):
    logits, target = _cls_data(seed, c=5)
    pred = logits.argmax(1)
    np.testing.assert_array_equal(M.confusion_matrix(logits, target, num_classes=5),
                                  skm.confusion_matrix(target, pred, labels=range(5)))
    cm = M.confusion_matrix(lamina.tensor(pred), lamina.tensor(target))
    assert cm.dtype == np.int64 and cm.shape == (5, 5)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(target, pred, labels=range(5)))


def test_confusion_matrix_errors():
    with pytest.raises(ValueError, match="num_classes=2"):
        M.confusion_matrix([0, 2], [0, 1], num_classes=2)
    with pytest.raises(ValueError, match="negative"):
        M.confusion_matrix([0, -1], [0, 1])
    with pytest.raises(ValueError, match="whole numbers"):
        M.confusion_matrix(np.array([0, 1]), np.array([0.0, 0.5]))


@pytest.mark.parametrize("average", ["macro", "micro", "weighted", None])
@pytest.mark.parametrize("seed", range(3))
def test_precision_recall_f1_multiclass(skm, average, seed):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 5, size=60)
    pred = np.where(rng.random(60) < 0.6, target, rng.integers(0, 5, size=60))
    pred[pred == 3] = 2        # class 3 is never predicted: zero-division precision
    p, r, f, _ = skm.precision_recall_fscore_support(target, pred, average=average,
                                                     zero_division=0.0, labels=range(5))
    got = M.precision_recall_f1(pred, target, average=average, num_classes=5)
    np.testing.assert_allclose(got, (p, r, f), rtol=1e-12, atol=0)
    assert M.precision(pred, target, average=average, num_classes=5) == pytest.approx(p)
    assert M.recall(pred, target, average=average, num_classes=5) == pytest.approx(r)
    assert M.f1_score(pred, target, average=average, num_classes=5) == pytest.approx(f)


def test_macro_average_without_num_classes_uses_present_labels(skm):
    target = np.array([0, 0, 2, 2, 4, 4])        # classes 1 and 3 never occur
    pred = np.array([0, 2, 2, 2, 4, 0])
    for average in ("macro", "weighted", "micro"):
        p, r, f, _ = skm.precision_recall_fscore_support(target, pred, average=average,
                                                         zero_division=0.0)
        np.testing.assert_allclose(M.precision_recall_f1(pred, target, average=average),
                                   (p, r, f), rtol=1e-12)


@pytest.mark.parametrize("pos_label", [0, 1])
@pytest.mark.parametrize("zero_division", [0.0, 1.0])
def test_precision_recall_f1_binary(skm, pos_label, zero_division):
    rng = np.random.default_rng(5)
    probs = rng.random(40)
    target = (rng.random(40) < 0.4).astype(np.int64)
    pred = (probs > 0.5).astype(np.int64)
    p, r, f, _ = skm.precision_recall_fscore_support(target, pred, average="binary",
                                                     pos_label=pos_label,
                                                     zero_division=zero_division)
    got = M.precision_recall_f1(probs, target, pos_label=pos_label,
                                zero_division=zero_division)
    np.testing.assert_allclose(got, (p, r, f), rtol=1e-12)
    # nothing predicted positive: precision and F1 are the zero_division value
    none = np.zeros(40, dtype=np.int64)
    p, r, f, _ = skm.precision_recall_fscore_support(target, none, average="binary",
                                                     zero_division=zero_division)
    np.testing.assert_allclose(M.precision_recall_f1(none, target,
                                                     zero_division=zero_division),
                               (p, r, f), rtol=1e-12)


def test_binary_scores_when_only_one_label_occurs(skm):
    zeros = np.zeros(6, dtype=np.int64)
    for zd in (0.0, 1.0):
        p, r, f, _ = skm.precision_recall_fscore_support(zeros, zeros, average="binary",
                                                         zero_division=zd)
        assert M.precision_recall_f1(zeros, zeros, zero_division=zd) == (p, r, f)
    ones = np.ones(6, dtype=np.int64)
    p, r, f, _ = skm.precision_recall_fscore_support(ones, zeros, average="binary",
                                                     pos_label=0, zero_division=0.0)
    assert M.precision_recall_f1(zeros, ones, pos_label=0) == (p, r, f)


def test_zero_division_nan_is_skipped_in_macro(skm):
    target = np.array([0, 0, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 1])            # class 2 never predicted
    p, r, f, _ = skm.precision_recall_fscore_support(target, pred, average="macro",
                                                     zero_division=np.nan)
    np.testing.assert_allclose(M.precision_recall_f1(pred, target, average="macro",
                                                     zero_division=math.nan),
                               (p, r, f), rtol=1e-12)


def test_prf_errors():
    with pytest.raises(ValueError, match="average='binary' needs labels 0 and 1"):
        M.precision([0, 1, 2], [0, 1, 2])
    with pytest.raises(ValueError, match="average must be one of"):
        M.recall([0, 1], [0, 1], average="samples")
    with pytest.raises(ValueError, match="average must be one of"):
        M.F1Score(average="sample")


# --- streaming metrics equal the functions on the whole data ----------------------------

def _chunks(*arrays, sizes=(7, 30, 1, 25, 34)):
    start = 0
    for s in sizes:
        yield tuple(a[start:start + s] for a in arrays)
        start += s


@given(seed=st.integers(0, 2**31 - 1), c=st.integers(2, 6))
@settings(max_examples=15, deadline=None)
def test_streaming_classification_metrics_match_functions(seed, c):
    logits, target = _cls_data(seed, n=97, c=c)
    cases = [
        (M.Accuracy(), M.accuracy(logits, target)),
        (M.TopKAccuracy(2), M.top_k_accuracy(logits, target, k=2)),
        (M.Precision(average="macro"), M.precision(logits, target, average="macro")),
        (M.Recall(average="weighted"), M.recall(logits, target, average="weighted")),
        (M.F1Score(average="micro"), M.f1_score(logits, target, average="micro")),
    ]
    for metric, expected in cases:
        for out, tgt in _chunks(logits, target):
            metric.update(lamina.tensor(out), lamina.tensor(tgt))
        assert metric.compute() == pytest.approx(expected, rel=1e-12, abs=0)
        metric.reset()
        with pytest.raises(RuntimeError, match="before any update"):
            metric.compute()
    cm = M.ConfusionMatrix()
    for out, tgt in _chunks(logits, target):
        cm.update(out, tgt)
    np.testing.assert_array_equal(cm.compute(), M.confusion_matrix(logits, target))


@given(seed=st.integers(0, 2**31 - 1), cols=st.sampled_from([None, 1, 3]))
@settings(max_examples=15, deadline=None)
def test_streaming_regression_metrics_match_functions(seed, cols):
    rng = np.random.default_rng(seed)
    shape = (97,) if cols is None else (97, cols)
    target = rng.normal(size=shape) * 5 + 100      # an offset mean stresses the R^2 update
    output = target + rng.normal(size=shape)
    for metric, fn in ((M.MeanSquaredError(), M.mean_squared_error),
                       (M.RootMeanSquaredError(), M.root_mean_squared_error),
                       (M.MeanAbsoluteError(), M.mean_absolute_error),
                       (M.R2Score(), M.r2_score)):
        for out, tgt in _chunks(output, target):
            metric.update(out, tgt)
        assert metric.compute() == pytest.approx(fn(output, target), rel=1e-10)


def test_streaming_binary_f1_and_growing_confusion():
    f1 = M.F1Score(average="binary")
    f1.update(np.array([0.9, 0.2]), np.array([1, 1]))
    f1.update(np.array([0.7, 0.1, 0.6]), np.array([0, 0, 1]))
    assert f1.compute() == pytest.approx(M.f1_score([1, 0, 1, 0, 1], [1, 1, 0, 0, 1]))
    cm = M.ConfusionMatrix()
    cm.update([0, 1], [1, 1])
    cm.update([3], [2])                        # grows from 2x2 to 4x4
    np.testing.assert_array_equal(cm.compute(), M.confusion_matrix([0, 1, 3], [1, 1, 2]))


def test_function_metric_weights_by_batch_size():
    def half_right(output, target):
        return float(np.mean(np.asarray(output) == np.asarray(target)))

    m = M.get_metric(half_right)
    assert isinstance(m, M.FunctionMetric) and m.name == "half_right"
    m.update(np.array([1, 1]), np.array([1, 0]))           # 0.5 on 2 samples
    m.update(np.array([1, 1, 1, 1]), np.array([1] * 4))    # 1.0 on 4 samples
    assert m.compute() == pytest.approx(5 / 6)


def test_get_metric():
    assert isinstance(M.get_metric("accuracy"), M.Accuracy)
    assert isinstance(M.get_metric("RMSE"), M.RootMeanSquaredError)
    top = M.get_metric("top3_accuracy")
    assert isinstance(top, M.TopKAccuracy) and top.k == 3 and top.name == "top3_accuracy"
    assert isinstance(M.get_metric(M.R2Score), M.R2Score)
    acc = M.Accuracy()
    assert M.get_metric(acc) is acc
    with pytest.raises(ValueError, match="unknown metric 'acuracy'"):
        M.get_metric("acuracy")
    with pytest.raises(TypeError, match="expected a metric name"):
        M.get_metric(3)
