"""Knowledge distillation: F.kl_div and the Hinton et al. (2015) loss against PyTorch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lamina
import lamina.nn.functional as F
from lamina import nn, optim
from lamina.data import DataLoader, TensorDataset
from lamina.nn.distill import DistillationLoss, Distiller, distillation_loss
from lamina.train.distill import distill
from tests.helpers import check_op, requires_torch, torch

if torch is not None:
    import torch.nn.functional as TF


@requires_torch
@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum", "none"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_values_and_gradients_match_pytorch(reduction, log_target):
    def prep(lib_f):
        def fn(x, t):
            logq = lib_f.log_softmax(x, 1)
            tgt = lib_f.log_softmax(t, 1) if log_target else lib_f.softmax(t, 1)
            return lib_f.kl_div(logq, tgt, reduction=reduction, log_target=log_target)
        return fn
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_op([(5, 7), (5, 7)], prep(TF), prep(F))


@requires_torch
def test_kl_div_zero_target_probabilities():
    t = np.array([[0.0, 0.25, 0.75], [0.5, 0.5, 0.0]])
    check_op([(2, 3), t], lambda x, t: TF.kl_div(x, t, reduction="batchmean"),
             lambda x, t: F.kl_div(x, t, reduction="batchmean"), requires_grad=[True, False])


def test_kl_div_warns_on_mean_like_pytorch():
    x, t = lamina.randn(2, 3).log_softmax(1), lamina.rand(2, 3)
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        F.kl_div(x, t)
    with pytest.warns(UserWarning, match="reduction: 'mean'"):
        nn.KLDivLoss()(x, t)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.kl_div(x, t, reduction="batchmean")
        F.kl_div(x, t, size_average=True)       # legacy flags: no warning, as in PyTorch


@requires_torch
@pytest.mark.parametrize("T,alpha", [(1.0, 0.5), (4.0, 0.9), (2.5, 1.0), (3.0, 0.0)])
def test_distillation_loss_matches_the_formula_in_pytorch(T, alpha):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 6, size=8)

    def torch_fn(s, t):
        soft = TF.kl_div(TF.log_softmax(s / T, 1), TF.softmax(t.detach() / T, 1),
                         reduction="batchmean")
        return alpha * T * T * soft + (1 - alpha) * TF.cross_entropy(s, torch.tensor(y))

    check_op([(8, 6), (8, 6)], torch_fn,
             lambda s, t: DistillationLoss(T, alpha)(s, t, lamina.tensor(y)),
             low=-4, high=4)


def test_distillation_loss_student_equal_to_teacher_is_pure_cross_entropy():
    s = lamina.randn(4, 5)
    y = lamina.tensor(np.array([0, 1, 2, 3]))
    got = distillation_loss(s, s, y, T=3.0, alpha=0.7).item()
    assert got == pytest.approx(0.3 * F.cross_entropy(s, y).item(), abs=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    (dict(T=0), "T must be a positive number"), (dict(alpha=1.5), "alpha must be a number"),
    (dict(T="2"), "T must be a positive number")])
def test_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=f"DistillationLoss: {match}"):
        DistillationLoss(**kwargs)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="distillation_loss: student_logits .* differ"):
        distillation_loss(lamina.randn(2, 3), lamina.randn(2, 4), lamina.tensor([0, 1]))


def test_distill_trains_student_with_fit_and_leaves_teacher_alone():
    lamina.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    loader = DataLoader(TensorDataset(lamina.tensor(x), lamina.tensor(y)), batch_size=20,
                        shuffle=True)
    teacher = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    from lamina.train import fit
    fit(teacher, nn.CrossEntropyLoss(), optim.Adam(teacher.parameters(), lr=0.05), loader,
        epochs=10, verbose=0)
    before = {k: v._data.copy() for k, v in teacher.state_dict().items()}
    student = nn.Linear(4, 2)
    d = Distiller(student, teacher, T=2.0, alpha=0.8)
    assert [n for n, _ in d.named_parameters()] == ["student.weight", "student.bias"]
    hist = distill(student, teacher, optim.Adam(student.parameters(), lr=0.05), loader,
                   epochs=8, T=2.0, alpha=0.8, metrics=["accuracy"], verbose=0)
    assert hist.history["accuracy"][-1] > 0.9
    assert all(np.array_equal(before[k], v._data) for k, v in teacher.state_dict().items())
    with pytest.raises(RuntimeError, match="Distiller.loss: call the Distiller's forward"):
        Distiller(student, teacher).loss(lamina.randn(2, 2), lamina.tensor([0, 1]))
    with pytest.raises(TypeError, match="Distiller: teacher must be an nn.Module"):
        Distiller(student, "t")
