"""Adversarial examples for a linear model (lecture: adversarial examples and the linear
explanation; Goodfellow, Shlens and Szegedy, "Explaining and harnessing adversarial
examples", ICLR 2015).

Logistic regression ``p(7 | x) = sigmoid(w . x + b)`` separates MNIST 3s from 7s (pixels in
[0, 1]). The fast gradient sign method moves every pixel by ``eps`` in the direction that
raises the loss: for this model ``x_adv = clip(x + eps * sign(w) * (1 - 2y), 0, 1)``, so the
logit moves by about ``eps * ||w||_1``, which grows with the input's dimension while each
pixel changes by at most ``eps``. Goodfellow et al. (2015, section 4 and figure 2) report for
this model an error rate of 1.6% on clean 3s and 7s and 99% under FGSM with ``eps = 0.25``.
lamina reproduces the collapse on the 1,000 3s and 7s of the bundled 5,000-image MNIST
subset, and adds adversarial training (``lamina.attacks.AdversarialLoader``: each batch plus
its FGSM examples at ``eps = 0.25``), which trades a little clean accuracy for far lower
error under attack.

The same attacks against a convolutional network (the lecture's second half): LeNet-5
(``lamina.models.LeNet5``, 1x28x28 with padding 2, ReLU, max pooling) on the ten classes of
the MNIST subset, trained normally and adversarially (``AdversarialLoader`` with FGSM at
``eps = 0.15``, half clean and half adversarial examples per batch, Goodfellow et al.'s
objective), then test accuracy under FGSM and under PGD (Madry, Makelov, Schmidt, Tsipras
and Vladu, "Towards deep learning models resistant to adversarial attacks", ICLR 2018; a
few L-infinity steps of size ``2.5 * eps / steps``) for eps 0 .. 0.3. Budget (the whole
experiment, both parts, runs in 20-30 s on two CPU cores; quick mode in about 10 s): 3,000
training and 1,000 test images, 3 epochs of Adam (lr 2e-3, batches of 50) per network, PGD
with 5 steps on the first 500 test images (quick: 800 and 200 images, 2 epochs in batches of
20, PGD with 2 steps on 100 images). The
standard network's accuracy collapses as eps grows; the adversarially trained one keeps
much more of it (PGD, the stronger attack, takes more). A row of test digits with their
FGSM versions shows how visible the perturbation is, with the standard network's
predictions in the titles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import lamina
from lamina import attacks, nn, optim
from lamina.data import DataLoader, TensorDataset
from lamina.experiments._common import ExperimentResult, markdown_table, save_plot, seed_all
from lamina.models import LeNet5
from lamina.nn.functional import binary_cross_entropy_with_logits
from lamina.train import fit

NAME = "adversarial"
EPSILONS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
TRAIN_EPS = 0.25
PAPER = {"clean_error": 0.016, "error_at_0.25": 0.99}
LENET_TRAIN_EPS = 0.15
SHOW_EPS = (0.1, 0.2, 0.3)            # the perturbed images drawn
N_SHOW = 3


def _attack_loss(output, target):
    return binary_cross_entropy_with_logits(output[:, 0], target.reshape(-1),
                                            reduction="sum")


def _data(rng: np.random.Generator):
    from lamina.data.datasets import MNISTSubset
    x, y = MNISTSubset(flatten=True).arrays()
    keep = (y == 3) | (y == 7)
    x, y = x[keep], (y[keep] == 7).astype(np.float32)
    order = rng.permutation(len(x))
    return x[order], y[order]


def _train(x, y, epochs: int, adversarial: bool, seed: int) -> nn.Module:
    lamina.manual_seed(seed)
    model = nn.Linear(x.shape[1], 1)
    loader = DataLoader(TensorDataset(lamina.tensor(x), lamina.tensor(y[:, None])),
                        batch_size=50, shuffle=True)
    if adversarial:
        loader = attacks.AdversarialLoader(
            loader, attacks.FGSM(model, TRAIN_EPS, clamp=(0.0, 1.0), loss_fn=_attack_loss))
    fit(model, nn.BCEWithLogitsLoss(), optim.Adam(model.parameters(), lr=1e-2), loader,
        epochs=epochs, verbose=0)
    return model.eval()


def _error(model, x, y, eps: float) -> float:
    xa = x if eps == 0 else attacks.fgsm(model, x, y, eps, clamp=(0.0, 1.0),
                                         loss_fn=_attack_loss)._data
    with lamina.no_grad():
        pred = model(lamina.tensor(xa))._data[:, 0] > 0
    return float(np.mean(pred != (y > 0.5)))


def _lenet_data(rng: np.random.Generator, quick: bool):
    from lamina.data.datasets import MNISTSubset
    x, y = MNISTSubset(flatten=True).arrays()
    order = rng.permutation(len(x))
    x, y = x[order].reshape(-1, 1, 28, 28).astype(np.float32), y[order].astype(np.int64)
    n_tr, n_te = (800, 200) if quick else (3000, 1000)
    return (x[:n_tr], y[:n_tr]), (x[n_tr:n_tr + n_te], y[n_tr:n_tr + n_te])


def _train_lenet(x, y, epochs: int, batch_size: int, adversarial: bool, seed: int
                 ) -> nn.Module:
    lamina.manual_seed(seed)
    model = LeNet5()
    loader = DataLoader(TensorDataset(lamina.tensor(x), lamina.tensor(y)), batch_size=batch_size,
                        shuffle=True)
    if adversarial:
        loader = attacks.AdversarialLoader(
            loader, attacks.FGSM(model, LENET_TRAIN_EPS, clamp=(0.0, 1.0)))
    fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=2e-3), loader,
        epochs=epochs, verbose=0)
    return model.eval()


def _predict(model, x: np.ndarray) -> np.ndarray:
    with lamina.no_grad():
        return model(lamina.tensor(x))._data.argmax(1)


def _lenet(rng: np.random.Generator, seed: int, quick: bool) -> dict:
    """LeNet-5, standard and adversarially trained: accuracy under FGSM and PGD."""
    (x_tr, y_tr), (x_te, y_te) = _lenet_data(rng, quick)
    epochs, batch_size = (2, 20) if quick else (3, 50)
    n_pgd, steps = (100, 2) if quick else (500, 5)
    names = ("standard", f"adversarial training (FGSM, eps {LENET_TRAIN_EPS})")
    models = dict(zip(names, (_train_lenet(x_tr, y_tr, epochs, batch_size, adv, seed)
                              for adv in (False, True))))
    acc = {}
    for name, m in models.items():
        fg, pg = [], []
        for e in EPSILONS:
            xa = x_te if e == 0 else attacks.fgsm(m, x_te, y_te, e, clamp=(0.0, 1.0))._data
            fg.append(float(np.mean(_predict(m, xa) == y_te)))
            xp, yp = x_te[:n_pgd], y_te[:n_pgd]
            if e > 0:
                lamina.manual_seed(seed)
                xp = attacks.pgd(m, xp, yp, e, 2.5 * e / steps, steps, clamp=(0.0, 1.0))._data
            pg.append(float(np.mean(_predict(m, xp) == yp)))
        acc[name] = {"fgsm": fg, "pgd": pg}
    std = models[names[0]]
    show = {"labels": [int(v) for v in y_te[:N_SHOW]], "images": {}, "predictions": {}}
    for e in (0.0,) + SHOW_EPS:
        xa = x_te[:N_SHOW] if e == 0 else attacks.fgsm(std, x_te[:N_SHOW], y_te[:N_SHOW], e,
                                                       clamp=(0.0, 1.0))._data
        show["images"][str(e)] = xa[:, 0]
        show["predictions"][str(e)] = [int(v) for v in _predict(std, xa)]
    return {"names": names, "accuracy": acc, "n_train": len(x_tr), "n_test": len(x_te),
            "n_pgd": n_pgd, "pgd_steps": steps, "epochs": epochs,
            "batch_size": batch_size, "show": show}


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    rng = seed_all(seed)
    x, y = _data(rng)
    n_train = 700
    x_tr, y_tr, x_te, y_te = x[:n_train], y[:n_train], x[n_train:], y[n_train:]
    epochs = 5 if quick else 20
    models = {"standard": _train(x_tr, y_tr, epochs, False, seed),
              f"adversarial training (FGSM, eps {TRAIN_EPS})": _train(x_tr, y_tr, epochs,
                                                                      True, seed)}
    errors = {name: [_error(m, x_te, y_te, e) for e in EPSILONS] for name, m in models.items()}
    rows = [[e] + [errors[name][i] for name in models] for i, e in enumerate(EPSILONS)]
    table = markdown_table(["eps"] + [f"test error, {name}" for name in models], rows)
    std = errors["standard"]
    i25 = EPSILONS.index(0.25)
    markdown = (
        f"### Adversarial examples: logistic regression on MNIST 3 vs 7 under FGSM\n\n"
        f"{len(x)} 3s and 7s from the bundled MNIST subset ({n_train} training, "
        f"{len(x) - n_train} test), pixels in [0, 1]; logistic regression trained with Adam "
        f"(lr 0.01, batches of 50, {epochs} epochs); FGSM clipped to [0, 1]. Goodfellow et "
        f"al. (2015) report {PAPER['clean_error']:.1%} clean error and "
        f"{PAPER['error_at_0.25']:.0%} at eps 0.25; lamina gets {std[0]:.1%} and "
        f"{std[i25]:.1%}.\n\n{table}")
    weights = {name: m.weight._data[0].astype(np.float64) for name, m in models.items()}
    data = {"epsilons": list(EPSILONS), "errors": errors, "paper": PAPER,
            "n_train": n_train, "n_test": int(len(x) - n_train), "epochs": epochs,
            "weight_l1": {k: float(np.abs(w).sum()) for k, w in weights.items()}}

    le = _lenet(rng, seed, quick)
    std_name, adv_name = le["names"]
    acc = le["accuracy"]
    rows = [[e] + [acc[n][a][i] for n in le["names"] for a in ("fgsm", "pgd")]
            for i, e in enumerate(EPSILONS)]
    headers = ["eps"] + [f"{a.upper()} acc, {n.split(' (')[0]}" for n in le["names"]
                         for a in ("fgsm", "pgd")]
    last = len(EPSILONS) - 1
    markdown += (
        f"\n\n### LeNet-5 on the MNIST subset: standard vs adversarial training\n\n"
        f"Ten classes, {le['n_train']} training and {le['n_test']} test images; LeNet-5 "
        f"(padding 2, ReLU, max pooling), Adam (lr 0.002, batches of {le['batch_size']}), "
        f"{le['epochs']} "
        f"epochs per network (the budget: 20-30 s on two cores for the whole experiment); "
        f"adversarial training: each batch plus its FGSM examples at eps "
        f"{LENET_TRAIN_EPS}. Test accuracy under FGSM (all {le['n_test']} test images) and "
        f"PGD ({le['pgd_steps']} L-inf steps of 2.5 eps / {le['pgd_steps']}, the first "
        f"{le['n_pgd']} test images; Madry et al. 2018), clipped to [0, 1]. At eps "
        f"{EPSILONS[last]}: FGSM {acc[std_name]['fgsm'][last]:.1%} (standard) vs "
        f"{acc[adv_name]['fgsm'][last]:.1%} (adversarially trained), clean "
        f"{acc[std_name]['fgsm'][0]:.1%} vs {acc[adv_name]['fgsm'][0]:.1%}.\n\n"
        f"{markdown_table(headers, rows, digits=3)}")
    show = le.pop("show")
    data["lenet"] = {k: v for k, v in le.items() if k != "names"}
    data["lenet"]["models"] = list(le["names"])
    data["lenet"]["shown"] = {"labels": show["labels"], "eps": [0.0] + list(SHOW_EPS),
                              "standard_predictions": show["predictions"]}

    notes: list[str] = []

    def draw(fig):
        top, mid, bottom = fig.subfigures(3, 1, height_ratios=[1.0, 1.0, 0.5])
        ax1, ax2, ax3 = top.subplots(1, 3, width_ratios=[1.6, 1, 1])
        for name, errs in errors.items():
            ax1.plot(EPSILONS, errs, "o-", label=name.split(" (")[0])
        ax1.plot([0.0, 0.25], [PAPER["clean_error"], PAPER["error_at_0.25"]], "k*", ms=10,
                 label="Goodfellow et al. 2015")
        ax1.axvline(0.25, color="grey", lw=0.8, ls=":")
        ax1.set_xlabel("FGSM eps")
        ax1.set_ylabel("test error")
        ax1.legend(fontsize=8, loc="center right", bbox_to_anchor=(1.0, 0.6))
        ax1.set_title(f"logistic regression, 3 vs 7: error under FGSM\n(adversarial training "
                      f"at eps {TRAIN_EPS})", fontsize=10)
        for ax, (name, w) in zip((ax2, ax3), weights.items()):
            lim = np.abs(w).max()                 # each map on its own symmetric scale
            im = ax.imshow(w.reshape(28, 28), cmap="coolwarm", vmin=-lim, vmax=lim)
            ax.set_title(f"weights, {name.split(' (')[0]}\n(red: towards 7, blue: 3)",
                         fontsize=9)
            ax.axis("off")
            top.colorbar(im, ax=ax, shrink=0.7)
        ax4 = mid.subplots()
        for (name, a), color in zip(acc.items(), ("C0", "C1")):
            label = name.split(" (")[0]
            ax4.plot(EPSILONS, a["fgsm"], "o-", color=color, label=f"{label}, FGSM")
            ax4.plot(EPSILONS, a["pgd"], "s--", color=color, label=f"{label}, PGD")
        ax4.set_xlabel("attack eps")
        ax4.set_ylabel("test accuracy")
        ax4.set_ylim(0, 1)
        ax4.legend(fontsize=8)
        ax4.set_title(f"LeNet-5 on 10-class MNIST: accuracy under attack (adversarial "
                      f"training at eps {LENET_TRAIN_EPS})")
        eps_all = [0.0] + list(SHOW_EPS)
        axes = bottom.subplots(1, N_SHOW * len(eps_all))
        for i in range(N_SHOW):
            for j, e in enumerate(eps_all):
                ax = axes[i * len(eps_all) + j]
                ax.imshow(show["images"][str(e)][i], cmap="gray", vmin=0, vmax=1)
                ax.set_title(f"eps {e:g}: {show['predictions'][str(e)][i]}", fontsize=8)
                ax.axis("off")
        bottom.suptitle("FGSM test digits (standard LeNet-5's prediction in the title; true "
                        f"labels {show['labels']})", fontsize=9)

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes, figsize=(11.0, 8.6))
    return ExperimentResult(NAME, "Adversarial examples: logistic regression and LeNet-5 "
                            "under FGSM and PGD",
                            markdown, data, plot, notes)
