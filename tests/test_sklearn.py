"""lamina.sklearn: scikit-learn's own estimator checks, and the estimators inside
cross_val_score, GridSearchCV and Pipeline."""

from __future__ import annotations

import importlib
import pickle
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_iris, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import lamina  # noqa: E402
from lamina import nn  # noqa: E402
from lamina.sklearn import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402


# Every check that applies passes, so no check is listed as expected to fail (sklearn skips
# check_array_api_input by itself unless SCIPY_ARRAY_API is set). Small networks and few
# epochs keep the ~55 checks per estimator fast; the defaults pass too.
@parametrize_with_checks([
    NeuralNetClassifier(hidden_sizes=(32,), epochs=30),
    NeuralNetRegressor(hidden_sizes=(32,), epochs=30),
    NeuralNetClassifier(hidden_sizes=(16,), epochs=20, dtype="float64", standardize=True,
                        optimizer="sgd", lr=0.05, optimizer_kwargs={"momentum": 0.9}),
])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def iris():
    x, y = load_iris(return_X_y=True)
    return x, y


def test_cross_val_score(iris):
    x, y = iris
    clf = NeuralNetClassifier(hidden_sizes=(16,), epochs=40, lr=1e-2, standardize=True,
                              random_state=0)
    scores = cross_val_score(clf, x, y, cv=3)
    assert scores.shape == (3,)
    assert scores.mean() > 0.85


def test_grid_search(iris):
    x, y = iris
    clf = NeuralNetClassifier(epochs=20, lr=1e-2, standardize=True, random_state=0)
    grid = {"weight_decay": [0.0, 10.0], "hidden_sizes": [(4,), (16,)]}
    search = GridSearchCV(clf, grid, cv=3).fit(x, y)
    assert len(search.cv_results_["params"]) == 4
    # weight decay 10 crushes the weights: the search must prefer no decay
    assert search.best_params_["weight_decay"] == 0.0
    scores = dict(zip(map(str, search.cv_results_["params"]),
                      search.cv_results_["mean_test_score"]))
    assert max(v for k, v in scores.items() if "10.0" in k) < search.best_score_
    assert search.best_estimator_.module_ is not None
    assert search.score(x, y) > 0.85


def test_pipeline_and_fitted_attributes(iris):
    x, y = iris
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    pipe = make_pipeline(StandardScaler(), NeuralNetClassifier(hidden_sizes=(16,), epochs=40,
                                                               lr=1e-2, random_state=0))
    pipe.fit(x, labels)
    clf = pipe[-1]
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    assert clf.n_features_in_ == 4
    assert isinstance(clf.module_, nn.Module)
    assert len(clf.history_["loss"]) == 40
    assert clf.history_["loss"][-1] < clf.history_["loss"][0]
    proba = pipe.predict_proba(x)
    assert proba.shape == (150, 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.log(proba), pipe.predict_log_proba(x), atol=1e-10)
    pred = pipe.predict(x)
    assert np.array_equal(pred, clf.classes_[proba.argmax(1)])
    assert pipe.score(x, labels) > 0.9


def test_constructor_stores_params_verbatim_and_clone():
    hidden = [8, 4]
    factory = lambda n_in, n_out: nn.Linear(n_in, n_out)  # noqa: E731
    clf = NeuralNetClassifier(factory, hidden_sizes=hidden, lr=0.5, epochs=3)
    assert clf.module is factory and clf.hidden_sizes is hidden
    assert clf.get_params()["lr"] == 0.5
    clf.set_params(lr=0.1, optimizer="sgd")
    assert (clf.lr, clf.optimizer) == (0.1, "sgd")
    c2 = clone(clf)
    assert c2.get_params()["lr"] == 0.1 and not hasattr(c2, "module_")
    # nothing is validated until fit
    bad = NeuralNetClassifier(epochs=0, optimizer="nope", dtype="int8")
    with pytest.raises(ValueError, match="epochs"):
        bad.fit(np.zeros((4, 2)), [0, 1, 0, 1])


@pytest.mark.parametrize("kwargs, match", [
    ({"optimizer": "nope"}, "unknown optimizer 'nope'"),
    ({"dtype": "int8"}, "dtype"),
    ({"batch_size": 0}, "batch_size"),
    ({"lr": -1.0}, "lr"),
    ({"hidden_sizes": (0,)}, "hidden_sizes"),
])
def test_bad_parameters_raise_at_fit(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NeuralNetClassifier(**kwargs).fit(np.zeros((4, 2)), [0, 1, 0, 1])


def test_module_factory_receives_sizes():
    seen = []

    def factory(n_in, n_out):
        seen.append((n_in, n_out))
        return nn.Sequential(nn.Linear(n_in, 8), nn.Tanh(), nn.Linear(8, n_out))

    x, y = make_regression(60, 5, n_targets=2, random_state=0)
    reg = NeuralNetRegressor(factory, epochs=2, random_state=0).fit(x, y)
    assert seen == [(5, 2)] and reg.n_outputs_ == 2
    assert reg.predict(x).shape == (60, 2)
    with pytest.raises(TypeError, match="nn.Module"):
        NeuralNetRegressor(lambda a, b: "not a module", epochs=1).fit(x, y)


def test_regressor_learns_and_1d_targets():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(200)
    reg = NeuralNetRegressor(hidden_sizes=(32,), epochs=60, lr=1e-2, random_state=0).fit(x, y)
    assert reg.predict(x).shape == (200,) and reg.predict(x).dtype == np.float64
    assert reg.score(x, y) > 0.95


def test_same_random_state_same_model_and_global_rng_untouched(iris):
    x, y = iris
    lamina.manual_seed(123)
    expected = lamina.randn(3).numpy()
    lamina.manual_seed(123)
    a = NeuralNetClassifier(hidden_sizes=(8,), epochs=5, random_state=7).fit(x, y)
    after = lamina.randn(3).numpy()
    np.testing.assert_array_equal(after, expected)   # fitting left the global stream alone
    b = NeuralNetClassifier(hidden_sizes=(8,), epochs=5, random_state=7).fit(x, y)
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(a.predict_proba(x), c.predict_proba(x))


def test_standardize_makes_the_fit_invariant_to_feature_scale(iris):
    x, y = iris
    kw = dict(hidden_sizes=(8,), epochs=10, standardize=True, dtype="float64", random_state=0)
    a = NeuralNetClassifier(**kw).fit(x, y)
    b = NeuralNetClassifier(**kw).fit(1000.0 * x + 5.0, y)
    np.testing.assert_allclose(a.predict_proba(x), b.predict_proba(1000.0 * x + 5.0),
                               rtol=1e-6, atol=1e-9)


def test_missing_sklearn_raises_importerror_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.base", None)
    monkeypatch.delitem(sys.modules, "lamina.sklearn")
    try:
        with pytest.raises(ImportError, match=r"lamina\[sklearn\]"):
            importlib.import_module("lamina.sklearn")
    finally:
        monkeypatch.undo()
        importlib.import_module("lamina.sklearn")


def test_loss_by_name_and_no_hidden_layer():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((120, 2))
    y = 3.0 * x[:, 0] - x[:, 1]
    for loss in ("mse", "huber", "l1", nn.SmoothL1Loss()):
        reg = NeuralNetRegressor(hidden_sizes=(), loss=loss, epochs=40, lr=0.05,
                                 random_state=0).fit(x, y)
        assert len(reg.module_) == 1                 # one Linear layer: linear regression
        assert reg.score(x, y) > 0.97, loss
    with pytest.raises(ValueError, match="unknown loss 'nope'"):
        NeuralNetRegressor(loss="nope").fit(x, y)


def test_validation_fraction_and_early_stopping(iris):
    from lamina.train import EarlyStopping

    x, y = iris
    stop = EarlyStopping("val_loss", patience=3, restore_best_weights=True)
    clf = NeuralNetClassifier(hidden_sizes=(16,), epochs=300, lr=0.05, standardize=True,
                              validation_fraction=0.2, callbacks=[stop], random_state=0)
    clf.fit(x, y)
    val = clf.history_["val_loss"]
    assert 3 < len(val) < 300                        # stopped early on the held-out part
    assert clf.score(x, y) > 0.9
    # the statistics come from the 120 training samples, not all 150
    assert not np.allclose(clf.x_mean_, x.mean(0))
    with pytest.raises(ValueError, match="validation_fraction"):
        NeuralNetClassifier(validation_fraction=1.5).fit(x, y)
