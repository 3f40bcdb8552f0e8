"""The lottery ticket hypothesis (lecture: pruning and sparse networks; Frankle and Carbin,
"The lottery ticket hypothesis: finding sparse, trainable neural networks", ICLR 2019).

A dense network contains a sparse subnetwork (a *winning ticket*) that, trained in isolation
from the *same* initial weights, reaches the dense network's test accuracy in no more
iterations. Frankle and Carbin find tickets by iterative magnitude pruning: train, prune the
smallest-magnitude weights of each layer (20% per round; 10% of the output layer), *rewind*
the surviving weights to their initial values, repeat. Re-initializing the same sparse
architecture at random instead loses accuracy and learns more slowly as sparsity grows.

lamina repeats this on LeNet-300-100 (784-300-100-10, ReLU) with the bundled 5,000-image
MNIST subset (3,500 training, 500 validation, 1,000 test images), Adam with learning rate
1.2e-3 and batches of 60 as in the paper, and ``lamina.nn.utils.prune`` (``l1_unstructured``
per layer, masks combined across rounds; ``custom_from_mask`` for the random control). The
paper trains 50,000 iterations on 60,000 images; to fit about two minutes of CPU time
(six minutes wall on a busy two-core machine) this run trains each network for 20 epochs
(1,160 iterations) and stops pruning at about 3.6% of the weights remaining (15 rounds).
Early stopping: the iteration of minimum validation loss (checked every 20 iterations);
test accuracy is read at that iteration. With 20 epochs the dense network's validation loss
bottoms out well before the end, so the early-stopping iterations of tickets and random
re-initializations can be compared (with 5 epochs almost every run was still improving at
the end).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import lamina
from lamina import nn, optim
from lamina.experiments._common import ExperimentResult, markdown_table, save_plot, seed_all
from lamina.models import mlp
from lamina.nn.utils import prune

NAME = "lottery-ticket"
EPOCHS = 20                                     # per network, full size
RATES = {"0": 0.2, "2": 0.2, "4": 0.1}         # per layer: hidden 20%, output 10% per round


def _data(rng, quick: bool):
    from lamina.data.datasets import MNISTSubset
    x, y = MNISTSubset(flatten=True).arrays()
    order = rng.permutation(len(x))
    x, y = x[order].astype(np.float32), y[order].astype(np.int64)
    n_tr, n_va, n_te = (800, 200, 400) if quick else (3500, 500, 1000)
    return ((x[:n_tr], y[:n_tr]), (x[n_tr:n_tr + n_va], y[n_tr:n_tr + n_va]),
            (x[n_tr + n_va:n_tr + n_va + n_te], y[n_tr + n_va:n_tr + n_va + n_te]))


def _layers(model):
    return {k: model[int(k)] for k in RATES}


def _train(model, data, epochs: int, rng, eval_every: int) -> dict:
    """Adam, batches of 60; every ``eval_every`` iterations the validation loss and the test
    accuracy. Returns the early-stopping iteration and the test accuracy there."""
    (x, y), (xv, yv), (xt, yt) = data
    opt = optim.Adam(model.parameters(), lr=1.2e-3)
    loss_fn = nn.CrossEntropyLoss()
    xv_t, yv_t, xt_t = lamina.tensor(xv), lamina.tensor(yv), lamina.tensor(xt)
    best = (np.inf, 0, 0.0)
    it = 0
    model.train()
    for _ in range(epochs):
        for idx in np.array_split(rng.permutation(len(x)), max(1, len(x) // 60)):
            opt.zero_grad()
            loss_fn(model(lamina.tensor(x[idx])), lamina.tensor(y[idx])).backward()
            opt.step()
            it += 1
            if it % eval_every == 0:
                with lamina.no_grad():
                    vl = float(loss_fn(model(xv_t), yv_t)._data)
                    if vl < best[0]:
                        acc = float(np.mean(model(xt_t)._data.argmax(1) == yt))
                        best = (vl, it, acc)
    return {"early_stop_iteration": best[1], "test_accuracy": best[2], "val_loss": best[0]}


def _remaining(model) -> float:
    masks = [m.weight_mask._data for m in _layers(model).values() if hasattr(m, "weight_mask")]
    if not masks:
        return 1.0
    return float(sum(mk.sum() for mk in masks) / sum(mk.size for mk in masks))


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    rng = seed_all(seed)
    data = _data(rng, quick)
    rounds, epochs, every = (3, 2, 5) if quick else (15, EPOCHS, 20)
    iterations = epochs * max(1, len(data[0][0]) // 60)   # per network
    lamina.manual_seed(seed)
    ticket = mlp(784, [300, 100], 10)
    init = {k: v._data.copy() for k, v in ticket.state_dict().items()}
    rows, results = [], []
    for r in range(rounds + 1):
        frac = _remaining(ticket)
        res_t = _train(ticket, data, epochs, np.random.default_rng(seed + 1000 + r), every)
        if r == 0:
            res_r = dict(res_t)                     # the dense network is its own control
        else:
            lamina.manual_seed(seed + 1 + r)        # a fresh random init, same masks
            control = mlp(784, [300, 100], 10)
            for k, m in _layers(control).items():
                prune.custom_from_mask(m, "weight", _layers(ticket)[k].weight_mask._data)
            res_r = _train(control, data, epochs, np.random.default_rng(seed + 1000 + r),
                           every)
        results.append({"round": r, "fraction_remaining": frac, "ticket": res_t,
                        "random_reinit": res_r})
        rows.append([r, 100 * frac, res_t["test_accuracy"], res_t["early_stop_iteration"],
                     res_r["test_accuracy"], res_r["early_stop_iteration"]])
        if r == rounds:
            break
        # prune the trained weights by magnitude, then rewind the survivors to their init
        for k, m in _layers(ticket).items():
            prune.l1_unstructured(m, "weight", amount=RATES[k])
        with lamina.no_grad():
            for k, m in _layers(ticket).items():
                m.weight_orig._data[...] = init[f"{k}.weight"]
                m.bias._data[...] = init[f"{k}.bias"]
    table = markdown_table(["round", "% weights remaining", "ticket test acc",
                            "ticket early-stop iter", "random reinit test acc",
                            "random reinit early-stop iter"], rows)
    dense = results[0]["ticket"]
    best_t = max(results, key=lambda d: d["ticket"]["test_accuracy"])
    last = results[-1]
    markdown = (
        f"### Lottery tickets: LeNet-300-100 on the MNIST subset, iterative magnitude "
        f"pruning with rewinding\n\n"
        f"{len(data[0][0])} training, {len(data[1][0])} validation, {len(data[2][0])} test "
        f"images; Adam (lr 1.2e-3, batches of 60), {epochs} epochs per network; 20% of each "
        f"hidden layer's and 10% of the output layer's remaining weights pruned per round; "
        f"accuracy at the early-stopping iteration (minimum validation loss). Dense: "
        f"{dense['test_accuracy']:.1%} at iteration {dense['early_stop_iteration']}; best "
        f"ticket {best_t['ticket']['test_accuracy']:.1%} at "
        f"{100 * best_t['fraction_remaining']:.1f}% of the weights; at "
        f"{100 * last['fraction_remaining']:.1f}% the ticket gets "
        f"{last['ticket']['test_accuracy']:.1%} and the same architecture randomly "
        f"re-initialized {last['random_reinit']['test_accuracy']:.1%}.\n\n{table}")
    data_out = {"rounds": results, "epochs": epochs, "rates": RATES,
                "n_train": len(data[0][0]), "eval_every": every,
                "iterations_per_network": iterations}
    notes: list[str] = []

    def draw(fig):
        ax1, ax2 = fig.subplots(1, 2)
        f = [100 * d["fraction_remaining"] for d in results]
        for key, label in (("ticket", "winning ticket (rewound)"),
                           ("random_reinit", "random re-init")):
            ax1.plot(f, [d[key]["test_accuracy"] for d in results], "o-", label=label)
            ax2.plot(f, [d[key]["early_stop_iteration"] for d in results], "o-", label=label)
        ax1.axhline(dense["test_accuracy"], color="grey", lw=0.8, ls=":", label="dense")
        ax2.axhline(iterations, color="grey", lw=0.8, ls=":", label="end of training")
        ticks = f[::3] if f[-1] in f[::3] else f[::3] + [f[-1]]
        for ax, lab in ((ax1, "test accuracy at early stop"), (ax2, "early-stop iteration")):
            ax.set_xscale("log")
            ax.set_xticks(ticks, [f"{t:.3g}" for t in ticks])
            ax.minorticks_off()
            ax.invert_xaxis()
            ax.set_xlabel("% of weights remaining (log scale)")
            ax.set_ylabel(lab)
            ax.legend(fontsize=8)
        ax2.set_ylim(0, iterations * 1.08)
        fig.suptitle(f"LeNet-300-100, {len(data[0][0])} MNIST training images, {epochs} "
                     f"epochs per network (early stop: minimum validation loss)", fontsize=10)

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes, figsize=(10.0, 3.8))
    return ExperimentResult(NAME, "Lottery tickets: iterative magnitude pruning with "
                            "rewinding vs random re-initialization", markdown, data_out,
                            plot, notes)
