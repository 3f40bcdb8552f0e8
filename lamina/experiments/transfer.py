"""Transfer learning (lecture: transfer learning and fine-tuning; Yosinski, Clune, Bengio
and Lipson, "How transferable are features in deep neural networks?", NeurIPS 2014).

LeNet-5 is pre-trained on the digits 0-4 (the bundled 8x8 digits upscaled to 32x32). The
task is then the digits 5-9 from only 5%, 10% or 25% of their training images, three ways,
with the same number of gradient steps:

* **frozen features**: the two pre-trained convolutions frozen (``lamina.nn.utils.freeze``)
  as a fixed feature extractor; the fully connected layers trained on from their
  pre-trained values, with a new 5-way output layer (``replace_head``);
* **fine-tuned**: the same start with every layer trained, the convolutions with a 3x
  smaller learning rate (discriminative rates through ``param_groups``);
* **from scratch**: a randomly initialized LeNet-5.

The lecture's result: with few examples, reused features beat learning from scratch. Here
they do with 25% of the data (about 168 images) and tie at 10%; at 5% (34 images) the small
LeNet-5 trained from scratch wins on these easy 8x8 digits (see docs/EXPERIMENTS.md).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

import lamina
from lamina import nn, optim
from lamina.data import train_val_test_split
from lamina.data.datasets import Digits
from lamina.experiments._common import (
    ExperimentResult,
    markdown_table,
    predict_array,
    save_plot,
    seed_all,
    train_minibatch,
)
from lamina.experiments.digits import to_32x32
from lamina.nn.utils import freeze, param_groups, replace_head

NAME = "transfer"
FRACTIONS = (0.05, 0.10, 0.25)
METHODS = ("frozen features", "fine-tuned", "from scratch")
FEATURES = ["0", "3"]                  # LeNet-5's two convolutions


def _train_steps(model, opt, x, y, steps: int, rng) -> None:
    batch = min(32, len(x))
    epochs = max(1, int(np.ceil(steps * batch / len(x))))
    train_minibatch(model, nn.CrossEntropyLoss(), opt, x, y, epochs, batch, rng,
                    y_dtype=np.int64)


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    from lamina import models
    rng = seed_all(seed)
    x, y = Digits(flatten=True).tensors()
    x, y = np.asarray(x._data, np.float32), np.asarray(y._data, np.int64)
    x_tr, _, x_te, y_tr, _, y_te = train_val_test_split(
        x, y, val=0, test=0.25, seed=int(rng.integers(2**31)), stratify=y)
    x_tr, x_te = to_32x32(x_tr), to_32x32(x_te)
    lo_tr, hi_tr, hi_te = y_tr < 5, y_tr >= 5, y_te >= 5
    xa, ya = x_tr[lo_tr], y_tr[lo_tr]
    xb, yb = x_tr[hi_tr], y_tr[hi_tr] - 5
    xbt, ybt = x_te[hi_te], y_te[hi_te] - 5
    pre_epochs, steps = (1, 10) if quick else (15, 100)
    seed_all(seed)
    base = models.LeNet5(num_classes=5, padding=0)
    _train_steps(base, optim.Adam(base.parameters(), lr=1e-3), xa, ya,
                 pre_epochs * len(xa) // 32, np.random.default_rng(seed))
    pre_acc = float(np.mean(predict_array(base, x_te[~hi_te]).argmax(1) == y_te[~hi_te]))
    rows, results = [], {}
    for frac in FRACTIONS:
        n = max(5, int(round(frac * len(xb))))
        pick = np.random.default_rng(seed + 1).permutation(len(xb))[:n]
        xs, ys = xb[pick], yb[pick]
        accs = {}
        for method in METHODS:
            lamina.manual_seed(seed + 7)
            if method == "from scratch":
                model = models.LeNet5(num_classes=5, padding=0)
                opt = optim.Adam(model.parameters(), lr=1e-3)
            else:
                model = copy.deepcopy(base)
                replace_head(model, 5)              # a new 5-way output layer
                if method == "frozen features":
                    freeze(model, FEATURES)         # the convolutional feature extractor
                    opt = optim.Adam([p for p in model.parameters() if p.requires_grad],
                                     lr=1e-3)
                else:                               # all layers, the features more slowly
                    opt = optim.Adam(param_groups(model, [(FEATURES, {"lr": 3e-4})],
                                                  default={"lr": 1e-3}))
            _train_steps(model, opt, xs, ys, steps, np.random.default_rng(seed + 2))
            accs[method] = float(np.mean(predict_array(model, xbt).argmax(1) == ybt))
        results[str(frac)] = {"n_train": n, **accs}
        rows.append([f"{frac:.0%}", n] + [accs[m] for m in METHODS])
    table = markdown_table(["share of 5-9 training digits", "images"] +
                           [f"test acc, {m}" for m in METHODS], rows)
    r5 = results[str(FRACTIONS[0])]
    markdown = (
        f"### Transfer learning: LeNet-5 pre-trained on digits 0-4, then 5-9 from few "
        f"examples\n\n"
        f"Pre-training on {len(xa)} digits 0-4 ({pre_epochs} epochs, test accuracy on 0-4 "
        f"{pre_acc:.2%}); then {steps} Adam steps (batches of up to 32) on a share of the "
        f"{len(xb)} training digits 5-9; test accuracy on {len(xbt)} test digits 5-9. With "
        f"{r5['n_train']} images: frozen features {r5['frozen features']:.2%}, fine-tuned "
        f"{r5['fine-tuned']:.2%}, from scratch {r5['from scratch']:.2%}.\n\n{table}")
    notes: list[str] = []

    def draw(fig):
        ax = fig.subplots()
        ns = [results[str(f)]["n_train"] for f in FRACTIONS]
        for j, m in enumerate(METHODS):
            acc = np.array([results[str(f)][m] for f in FRACTIONS])
            se = np.sqrt(acc * (1 - acc) / len(ybt))   # binomial standard error of the test
            xs = np.array(ns) * 1.03 ** (j - 1)        # a small offset to keep bars apart
            ax.errorbar(xs, acc, yerr=se, fmt="o-", capsize=3, label=m)
        ax.set_xscale("log")
        ax.set_xticks(ns, [f"{n}\n({f:.0%})" for n, f in zip(ns, FRACTIONS)])
        ax.minorticks_off()
        ax.set_xlabel("training images of digits 5-9 (share of the 5-9 training set)")
        ax.set_ylabel(f"test accuracy on 5-9 ({len(ybt)} digits)")
        ax.set_title("LeNet-5 pre-trained on 0-4 (bars: +-1 binomial standard error)",
                     fontsize=10)
        ax.legend(fontsize=8)

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes, figsize=(6.0, 4.0))
    return ExperimentResult(NAME, "Transfer learning: frozen features vs fine-tuning vs "
                            "from scratch", markdown, {"results": results,
                                                       "pretrain_accuracy_0_4": pre_acc,
                                                       "steps": steps}, plot, notes)
