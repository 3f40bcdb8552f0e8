"""Knowledge distillation (lecture: model compression; Hinton, Vinyals and Dean, "Distilling
the knowledge in a neural network", 2015).

A large teacher (MLP 64-512-512-10 with dropout) is trained on the bundled 8x8 digits. A
small student (MLP 64-10-10, about 1/40 of the teacher's parameters) is then trained twice
from the same initial weights and batch order: once from the labels alone (cross-entropy),
once from the teacher (``lamina.train.distill``: ``alpha * T**2 * KL(teacher_T ||
student_T) + (1 - alpha) * CE`` with ``T = 4``, ``alpha = 0.9``), with a quarter and with
all of the training digits, averaged over two student initializations.

Hinton et al. find that the teacher's soft targets carry "dark knowledge" (which wrong
classes look alike) that helps a student generalize, most clearly with little data. On these
8x8 digits lamina does *not* reproduce a gain: the label-trained student is as good or
slightly better, and a pilot over (T, alpha) in {(2, 0.5), (4, 0.9), (8, 0.9)} and a 32-unit
student gave the same ordering. The task is easy and its labels are clean, so the soft
targets add little beyond what the labels say; the table reports the numbers as they are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import lamina
from lamina import nn, optim
from lamina.data import DataLoader, TensorDataset, train_val_test_split
from lamina.data.datasets import Digits
from lamina.experiments._common import (
    ExperimentResult,
    markdown_table,
    predict_array,
    save_plot,
    seed_all,
)
from lamina.train import fit
from lamina.train.distill import distill

NAME = "distillation"
T, ALPHA = 4.0, 0.9


def _loader(x, y, seed: int):
    lamina.manual_seed(seed)
    return DataLoader(TensorDataset(lamina.tensor(x), lamina.tensor(y)), batch_size=32,
                      shuffle=True)


def _scores(model, x, y) -> tuple[float, float]:
    logits = predict_array(model, x)
    logp = logits - logits.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    return float(np.mean(logits.argmax(1) == y)), float(-logp[np.arange(len(y)), y].mean())


def _n_params(m) -> int:
    return int(sum(p._data.size for p in m.parameters()))


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    from lamina import models
    rng = seed_all(seed)
    x, y = Digits(flatten=True).tensors()
    x, y = np.asarray(x._data, np.float32), np.asarray(y._data, np.int64)
    x_tr, _, x_te, y_tr, _, y_te = train_val_test_split(
        x, y, val=0, test=0.25, seed=int(rng.integers(2**31)), stratify=y)
    fractions = (0.25,) if quick else (0.25, 1.0)
    t_epochs, s_epochs, n_seeds = (4, 4, 1) if quick else (40, 60, 2)
    rows, results, curves = [], {}, {}
    for frac in fractions:
        n = int(round(frac * len(x_tr)))
        xs, ys = x_tr[:n], y_tr[:n]
        seed_all(seed)
        teacher = models.mlp(64, [512, 512], 10, dropout=0.2)
        fit(teacher, nn.CrossEntropyLoss(), optim.Adam(teacher.parameters(), lr=1e-3),
            _loader(xs, ys, seed), t_epochs, verbose=0)
        teacher.eval()
        t_acc, t_nll = _scores(teacher, x_te, y_te)
        res = {"n_train": n, "teacher": {"params": _n_params(teacher), "test_accuracy": t_acc,
                                         "test_nll": t_nll}}
        for how in ("labels", "teacher"):
            accs, nlls = [], []
            for s in range(n_seeds):
                lamina.manual_seed(seed + 100 + s)
                student = models.mlp(64, [10], 10)
                opt = optim.Adam(student.parameters(), lr=3e-3)
                loader = _loader(xs, ys, seed + 200 + s)
                if how == "labels":
                    h = fit(student, nn.CrossEntropyLoss(), opt, loader, s_epochs, verbose=0)
                else:
                    h = distill(student, teacher, opt, loader, s_epochs, T=T, alpha=ALPHA,
                                verbose=0)
                a, nl = _scores(student, x_te, y_te)
                accs.append(a)
                nlls.append(nl)
                if s == 0:
                    curves[(frac, how)] = list(h["loss"])
            res[f"student from {how}"] = {"params": _n_params(student),
                                          "test_accuracy": float(np.mean(accs)),
                                          "test_nll": float(np.mean(nlls)),
                                          "test_accuracy_per_seed": accs}
        results[str(frac)] = res
        for key, r in res.items():
            if key != "n_train":
                rows.append([n, key, r["params"], r["test_accuracy"], r["test_nll"]])
    table = markdown_table(["training digits", "model", "parameters", "test accuracy",
                            "test NLL"], rows)
    r0 = results[str(fractions[0])]
    markdown = (
        f"### Knowledge distillation on the digits: a small student from labels vs from a "
        f"large teacher\n\n"
        f"Teacher MLP 64-512-512-10 (dropout 0.2, {t_epochs} epochs); student MLP 64-10-10 "
        f"(Adam lr 3e-3, {s_epochs} epochs, batches of 32, mean of {n_seeds} "
        f"initializations); distillation with T = {T:g}, alpha = {ALPHA:g}; "
        f"{len(x_te)} test digits. With {r0['n_train']} training digits the student reaches "
        f"{r0['student from labels']['test_accuracy']:.2%} from the labels and "
        f"{r0['student from teacher']['test_accuracy']:.2%} from the teacher "
        f"(teacher {r0['teacher']['test_accuracy']:.2%}).\n\n{table}")
    notes: list[str] = []

    def draw(fig):
        # the result is the test accuracy; the training losses are on different objectives
        # (cross-entropy vs T^2-scaled KL + CE), so they share a log axis but not a scale
        ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.2, 1])
        kinds = ("teacher", "student from labels", "student from teacher")
        width = 0.8 / len(kinds)
        for j, kind in enumerate(kinds):
            xs = np.arange(len(fractions)) + (j - 1) * width
            accs = [results[str(f)][kind]["test_accuracy"] for f in fractions]
            bars = ax1.bar(xs, accs, width, label=kind, color=f"C{j}")
            ax1.bar_label(bars, [f"{a:.1%}" for a in accs], fontsize=8, label_type="center")
            for x0, f in zip(xs, fractions):     # each student initialization as a dot
                per = results[str(f)][kind].get("test_accuracy_per_seed", [])
                ax1.plot([x0] * len(per), per, "k.", ms=4)
        ax1.set_xticks(np.arange(len(fractions)),
                       [f"{results[str(f)]['n_train']} training digits" for f in fractions])
        lo = min(results[str(f)][k]["test_accuracy"] for f in fractions for k in kinds)
        bottom = max(0.0, lo - 0.05)
        ax1.set_ylim(bottom, 1.0 + 0.12 * (1.0 - bottom))   # room for the legend above 1
        ax1.set_yticks([t for t in ax1.get_yticks() if bottom <= t <= 1.0])
        ax1.set_ylabel(f"test accuracy ({len(y_te)} digits)")
        ax1.set_title("test accuracy (dots: each student initialization)", fontsize=10)
        ax1.legend(fontsize=8, loc="upper center", ncol=3)
        for frac, ls in zip(fractions, ("-", "--")):
            n = results[str(frac)]["n_train"]
            for how, color in (("labels", "C1"), ("teacher", "C2")):
                ax2.plot(range(1, s_epochs + 1), curves[(frac, how)], ls, color=color,
                         label=f"from {how}, {n} digits")
        ax2.set_yscale("log")
        ax2.set_xlabel("epoch")
        ax2.set_ylabel("training loss (log)")
        ax2.set_title("student training loss, each on its own objective", fontsize=10)
        ax2.legend(fontsize=8)

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes, figsize=(11.0, 4.0))
    return ExperimentResult(NAME, "Knowledge distillation: student from labels vs from a "
                            "teacher", markdown, {"results": results, "T": T, "alpha": ALPHA},
                            plot, notes)
