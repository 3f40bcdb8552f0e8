"""The adversarial experiment (quick mode): logistic regression on 3 vs 7 collapses under
FGSM at eps 0.25, as Goodfellow et al. (2015) report, and adversarial training helps."""

import pytest

from lamina import experiments

pytest.importorskip("mlxtend")


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return experiments.run("adversarial", seed=0, out_dir=tmp_path_factory.mktemp("fig"),
                           quick=True)


def test_fgsm_collapses_logistic_regression(result):
    d = result.data
    std = d["errors"]["standard"]
    i = d["epsilons"].index(0.25)
    assert std[0] < 0.06                      # paper: 1.6% clean
    assert std[i] > 0.9                       # paper: 99% at eps 0.25
    assert all(a <= b + 1e-12 for a, b in zip(std, std[1:]))   # error grows with eps
    assert "Goodfellow" in result.markdown and "| 0.25 |" in result.markdown


def test_adversarial_training_lowers_the_error_under_attack(result):
    d = result.data
    i = d["epsilons"].index(0.25)
    adv = next(v for k, v in d["errors"].items() if k.startswith("adversarial"))
    assert adv[i] < d["errors"]["standard"][i] - 0.3
    assert adv[0] < 0.15
