"""Deep belief network pre-training (lecture: deep belief networks; Hinton, Osindero and Teh
2006; Bengio et al. 2007, greedy layer-wise training).

A 64-100-100-10 sigmoid network on the scikit-learn digits (pixels scaled to [0, 1]) with
few labels: 300 labelled training digits, 500 test digits. ``lamina.models.DBN`` first trains
two RBMs greedily on all 1,297 non-test digits without their labels (PCD-1), copies their
weights into the network's two hidden layers, then fine-tunes the whole network by
backpropagation (SGD with momentum on the cross-entropy). The same network randomly
initialized (PyTorch's default for ``Linear``) is fine-tuned with the same optimizer, epochs
and batches. Pre-training gives a lower training loss from the first epoch and a higher test
accuracy; the plot shows both training-loss and test-accuracy curves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamina import nn, optim
from lamina.experiments._common import (
    ExperimentResult,
    markdown_table,
    predict_array,
    save_plot,
    seed_all,
    train_minibatch,
)

NAME = "dbn"


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    from sklearn.datasets import load_digits

    from lamina.models import DBN

    rng = seed_all(seed)
    d = load_digits()
    x, y = (d.data / 16).astype(np.float32), d.target.astype(np.int64)
    order = rng.permutation(len(x))
    test, pool = order[:500], order[500:]
    labelled = pool[:300]
    sizes = [64, 32] if quick else [64, 100, 100]
    pre_epochs = 1 if quick else 10
    epochs = 8 if quick else 30
    if quick:
        pool = pool[:400]
    results, rows = {}, []
    for label in ("RBM pre-trained", "random init"):
        dbn = DBN(sizes, n_classes=10, seed=int(rng.integers(2**31 - 1)))
        pre = None
        if label == "RBM pre-trained":
            pre = dbn.pretrain(x[pool], epochs=pre_epochs, lr=0.05, batch_size=10,
                               method="pcd", seed=int(rng.integers(2**31 - 1)))
        accs: list[float] = []

        def on_epoch(epoch, dbn=dbn, accs=accs):
            accs.append(float(np.mean(predict_array(dbn, x[test]).argmax(1) == y[test])))

        losses = train_minibatch(dbn, nn.CrossEntropyLoss(),
                                 optim.SGD(dbn.parameters(), lr=0.1, momentum=0.9),
                                 x[labelled], y[labelled], epochs, 20,
                                 np.random.default_rng(seed), y_dtype=np.int64,
                                 on_epoch=on_epoch)
        results[label] = {"train_loss": losses, "test_accuracy": accs,
                          "pretrain_reconstruction_error": pre}
        rows.append([label, losses[0], losses[-1], accs[0], accs[-1]])
    table = markdown_table(["initialization", "train loss epoch 1",
                            f"train loss epoch {epochs}", "test accuracy epoch 1",
                            f"test accuracy epoch {epochs}"], rows)
    arch = "-".join(map(str, sizes)) + "-10"
    markdown = (f"### DBN: RBM pre-training vs random initialization\n\nA {arch} sigmoid "
                f"network; {len(labelled)} labelled training digits, {len(test)} test digits; "
                f"pre-training: {len(sizes) - 1} RBM(s), {pre_epochs} epoch(s) each on "
                f"{len(pool)} unlabelled digits; fine-tuning: SGD lr 0.1, momentum 0.9, batch "
                f"20, {epochs} epochs.\n\n{table}")
    data = {"sizes": sizes, "pretrain_epochs": pre_epochs, "epochs": epochs,
            "results": results}
    notes: list[str] = []

    def draw(fig):
        ax1, ax2 = fig.subplots(1, 2)
        for label, r in results.items():
            ax1.plot(range(1, epochs + 1), r["train_loss"], label=label)
            ax2.plot(range(1, epochs + 1), r["test_accuracy"], label=label)
        ax1.set_xlabel("epoch")
        ax1.set_ylabel("training loss")
        ax1.set_yscale("log")
        ax2.set_xlabel("epoch")
        ax2.set_ylabel("test accuracy")
        ax1.legend(fontsize=8)
        ax2.legend(fontsize=8)

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes)
    return ExperimentResult(NAME, "DBN: RBM pre-training vs random initialization", markdown,
                            data, plot, notes)
