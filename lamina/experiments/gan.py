"""Generative adversarial networks on digits (lecture: GANs; Goodfellow et al. 2014, DCGAN:
Radford et al. 2016, label smoothing: Salimans et al. 2016).

The 1,797 scikit-learn 8x8 digits in [0, 1]. Two ``lamina.models.GAN`` with a 16-D latent:
an MLP pair (16-128-256-64 generator, 64-256-128-1 discriminator with leaky ReLU) and a
small DCGAN (``ConvTranspose2d`` generator with batch norm, strided-convolution
discriminator), each trained with ``lamina.train.GANTrainer``: Adam (beta1 = 0.5) for each
network, the non-saturating generator loss, one-sided label smoothing 0.1, one
discriminator step per generator step.

Sample quality is measured honestly, by a classifier that never sees a generated digit: an
MLP trained on the real training digits (its test accuracy is in the caption). Every few
epochs it labels 1,000 generated digits: the mean top-class confidence (how much the
samples look like some digit; on real test digits it is given for reference) and how many
of the 10 classes get at least 2% of the samples (mode coverage: mode collapse shows as
few classes). The table gives both losses, the discriminator's mean outputs ``D(x)`` and
``D(G(z))``, and these two figures. With seed 0 the MLP pair's discriminator wins
(``D(G(z))`` near 0.1) and its generator collapses onto a few digit shapes (1 to 5 classes
covered over training), while the DCGAN settles near equilibrium (``D(G(z))`` about 0.33)
and covers all 10 classes from epoch 5 on. The plot shows the losses, the quality curves and
grids of samples from the same noise over training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import lamina
from lamina import nn, optim
from lamina.experiments._common import (
    ExperimentResult,
    markdown_table,
    predict_array,
    save_plot,
    seed_all,
    train_minibatch,
)

NAME = "gan"


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    from lamina.experiments.autoencoders import _digits
    from lamina.models import GAN, mlp
    from lamina.train.gan import GANTrainer, sample_quality
    from lamina.train.images import make_grid

    rng = seed_all(seed)
    x, y = _digits()
    order = rng.permutation(len(x))
    test, train = order[:360], order[360:]
    if quick:
        train = train[:256]
    epochs = 2 if quick else 40
    every = 1 if quick else 5
    n_eval = 200 if quick else 1000
    hp = {"epochs": epochs, "batch_size": 64, "latent_dim": 16, "label_smoothing": 0.1,
          "n_critic": 1, "lr": {"MLP GAN": 1e-3, "DCGAN": 5e-4}, "quality_samples": n_eval}

    # the judge: an MLP trained on the real digits only
    clf_net = mlp(64, hidden=[64], out_features=10)
    train_minibatch(clf_net, nn.CrossEntropyLoss(), optim.Adam(clf_net.parameters(), lr=3e-3),
                    x[train].reshape(-1, 64), y[train], 5 if quick else 30, 64, rng,
                    y_dtype=np.int64)
    classifier = nn.Sequential(nn.Flatten(), clf_net)
    clf_acc = float(np.mean(predict_array(classifier, x[test]).argmax(1) == y[test]))
    real_q = sample_quality(classifier, x[test])

    results, grids, rows = {}, {}, []
    for label, kind in (("MLP GAN", "mlp"), ("DCGAN", "dcgan")):
        lamina.manual_seed(int(rng.integers(2**31 - 1)))
        gan = GAN((1, 8, 8), latent_dim=hp["latent_dim"], kind=kind)
        trainer = GANTrainer(gan, lr=hp["lr"][label], n_critic=hp["n_critic"],
                             label_smoothing=hp["label_smoothing"])
        quality = []

        def measure(epoch, trainer, history, gan=gan, quality=quality):
            if epoch % every == 0 or epoch == epochs:
                q = sample_quality(classifier, gan.sample(n_eval))
                quality.append({"epoch": epoch, **q})

        history = trainer.fit(x[train], epochs=epochs, batch_size=hp["batch_size"],
                              seed=int(rng.integers(2**31 - 1)), n_samples=32,
                              sample_every=every, on_epoch=measure)
        final = quality[-1]
        results[label] = {**history.as_dict(), "quality": quality}
        grids[label] = history.samples
        rows.append([label, history.d_loss[-1], history.g_loss[-1], history.d_real[-1],
                     history.d_fake[-1], final["mean_confidence"], final["classes_covered"]])
    rows.append(["real test digits (reference)", "-", "-", "-", "-",
                 real_q["mean_confidence"], real_q["classes_covered"]])

    table = markdown_table(["model", "D loss", "G loss", "D(x)", "D(G(z))",
                            "classifier confidence", "classes covered (of 10)"], rows)
    markdown = (f"### GANs on digits: MLP GAN vs DCGAN, judged by a separate classifier\n\n"
                f"{len(train)} training digits (8x8, [0, 1]), {epochs} epochs, batch "
                f"{hp['batch_size']}, latent {hp['latent_dim']}, Adam (beta1 0.5; lr "
                f"{hp['lr']['MLP GAN']} MLP, {hp['lr']['DCGAN']} DCGAN), label smoothing "
                f"{hp['label_smoothing']}. Losses and D outputs: the last epoch's means. "
                f"Quality: {n_eval} samples labelled by an MLP trained on the real digits "
                f"(test accuracy {clf_acc:.3f}); a class is covered with at least 2% of the "
                f"samples.\n\n{table}")
    data = {"hyperparameters": hp, "classifier_test_accuracy": clf_acc,
            "real_test_quality": real_q, "results": results}
    notes: list[str] = []

    def draw(fig):
        grid = fig.add_gridspec(2, 5)
        ax = fig.add_subplot(grid[0, 0])
        for label, r in results.items():
            ep = range(1, len(r["d_loss"]) + 1)
            ax.plot(ep, r["d_loss"], label=f"{label}: D")
            ax.plot(ep, r["g_loss"], "--", label=f"{label}: G")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend(fontsize=7)
        ax = fig.add_subplot(grid[1, 0])
        for label, r in results.items():
            ep = range(1, len(r["d_real"]) + 1)
            ax.plot(ep, r["d_real"], label=f"{label}: D(x)")
            ax.plot(ep, r["d_fake"], "--", label=f"{label}: D(G(z))")
        ax.set_xlabel("epoch")
        ax.set_ylabel("mean discriminator output")
        ax.legend(fontsize=7)
        ax = fig.add_subplot(grid[:, 1])
        for label, r in results.items():
            ep = [q["epoch"] for q in r["quality"]]
            ax.plot(ep, [q["mean_confidence"] for q in r["quality"]], "o-", ms=3,
                    label=f"{label}: confidence")
            ax.plot(ep, [q["classes_covered"] / 10 for q in r["quality"]], "s--", ms=3,
                    label=f"{label}: classes covered / 10")
        ax.axhline(real_q["mean_confidence"], color="gray", lw=0.8,
                   label="real digits: confidence")
        ax.set_xlabel("epoch")
        ax.set_ylim(0, 1.05)
        ax.set_title("judged by a separate classifier", fontsize=8)
        ax.legend(fontsize=6)
        for j, label in enumerate(results):
            shots = grids[label]
            picks = [shots[0], shots[len(shots) // 2], shots[-1]]
            for k, (epoch, s) in enumerate(picks):
                ax = fig.add_subplot(grid[j, 2 + k])
                ax.imshow(make_grid(s[:25], nrow=5), cmap="gray", vmin=0, vmax=1)
                ax.set_title(f"{label}, epoch {epoch}", fontsize=8)
                ax.set_axis_off()

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes, figsize=(14, 7))
    return ExperimentResult(NAME, "GANs on digits: MLP GAN vs DCGAN, classifier-judged",
                            markdown, data, plot, notes)
