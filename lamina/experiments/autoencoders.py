"""Autoencoders side by side on digits (lecture: autoencoders and variational autoencoders;
Vincent et al. 2008, Ng 2011, Kingma and Welling 2014).

The 1,797 scikit-learn 8x8 digits (pixels scaled to [0, 1]), 1,437 for training and 360 for
testing. Four ``lamina.models`` with the same 64-128-code MLP encoder and mirrored decoder,
trained with Adam on the same batches:

* ``Autoencoder`` (16-unit code, squared error);
* ``DenoisingAutoencoder`` (16, masking noise: 30% of the pixels zeroed in training);
* ``SparseAutoencoder`` (32 sigmoid units, Ng's KL penalty towards a mean activation of
  0.05);
* ``VAE`` (16-D Gaussian latent, Bernoulli decoder, ELBO).

The table gives each model's test reconstruction error (MSE per pixel, the VAE decoding its
posterior mean), the error when 30% of the test pixels are masked (reconstruction compared
with the clean digit: the denoising autoencoder is the one trained for it), and how sparse
the codes are (the fraction of code values under 0.05 in absolute value; the sparse
autoencoder's are mostly off). An autoencoder and a VAE with 2-D codes are then trained for
the scatter plots (codes of the test digits coloured by class: the VAE's latent space is
centred and compact, its prior N(0, I) filled), and the 2-D VAE decodes samples of the prior
and a straight line in latent space between two test digits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import lamina
from lamina.autograd import no_grad
from lamina.experiments._common import ExperimentResult, markdown_table, save_plot, seed_all

NAME = "autoencoders"


def _digits():
    from lamina.data.datasets import Digits

    d = Digits()
    x = np.stack([d[i][0] for i in range(len(d))]).astype(np.float32)
    y = np.array([int(d[i][1]) for i in range(len(d))])
    return x, y


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    from lamina.models import VAE, Autoencoder, DenoisingAutoencoder, SparseAutoencoder
    from lamina.train.images import make_grid

    rng = seed_all(seed)
    x, y = _digits()
    order = rng.permutation(len(x))
    test, train = order[:360], order[360:]
    if quick:
        test, train = test[:100], train[:300]
    epochs = 3 if quick else 60
    hp = {"epochs": epochs, "lr": 2e-3, "batch_size": 32, "hidden": [128], "mask": 0.3}
    x_tr, x_te, y_te = x[train], x[test], y[test]
    x_masked = x_te * (rng.uniform(size=x_te.shape) >= hp["mask"]).astype(np.float32)
    specs = {
        "autoencoder": (Autoencoder, dict(latent_dim=16)),
        "denoising (masking 30%)": (DenoisingAutoencoder,
                                    dict(latent_dim=16, noise="masking",
                                         noise_level=hp["mask"])),
        "sparse (KL, rho = 0.05)": (SparseAutoencoder,
                                    dict(latent_dim=32, penalty="kl", rho=0.05, beta=0.5)),
        "VAE (Bernoulli decoder)": (VAE, dict(latent_dim=16, decoder="bernoulli")),
    }
    results, models, rows = {}, {}, []
    for label, (cls, kw) in specs.items():
        lamina.manual_seed(int(rng.integers(2**31 - 1)))
        model = cls((1, 8, 8), hidden=tuple(hp["hidden"]), **kw)
        losses = model.fit(x_tr, epochs=epochs, lr=hp["lr"], batch_size=hp["batch_size"],
                           seed=int(rng.integers(2**31 - 1)))
        with no_grad():
            clean = float(np.mean((model(lamina.tensor(x_te))._data - x_te) ** 2))
            noisy = float(np.mean((model(lamina.tensor(x_masked))._data - x_te) ** 2))
            code = (model.encode(lamina.tensor(x_te))[0] if isinstance(model, VAE)
                    else model.encode(lamina.tensor(x_te)))._data
        sparsity = float(np.mean(np.abs(code) < 0.05))
        r = {"loss": losses, "test_mse": clean, "masked_test_mse": noisy,
             "code_size": kw["latent_dim"], "code_sparsity": sparsity}
        if isinstance(model, VAE):
            with no_grad():
                r["test_elbo"] = float(model.elbo(lamina.tensor(x_te))._data.mean())
        results[label] = r
        models[label] = model
        rows.append([label, kw["latent_dim"], clean, noisy, sparsity])

    # 2-D codes for the scatter plots, the VAE's samples and interpolation
    two_d = {}
    for label, cls in (("autoencoder, 2-D code", Autoencoder), ("VAE, 2-D latent", VAE)):
        lamina.manual_seed(int(rng.integers(2**31 - 1)))
        model = cls((1, 8, 8), latent_dim=2, hidden=(128,))
        model.fit(x_tr, epochs=epochs, lr=hp["lr"], batch_size=hp["batch_size"],
                  seed=int(rng.integers(2**31 - 1)))
        with no_grad():
            code = (model.encode(lamina.tensor(x_te))[0] if cls is VAE
                    else model.encode(lamina.tensor(x_te)))._data
            mse = float(np.mean((model(lamina.tensor(x_te))._data - x_te) ** 2))
        two_d[label] = (model, code)
        results[label] = {"test_mse": mse, "code_size": 2,
                          "code_mean": np.abs(code.mean(0)).tolist(),
                          "code_std": code.std(0).tolist()}
        rows.append([label, 2, mse, "-", "-"])
    vae2 = two_d["VAE, 2-D latent"][0]
    lamina.manual_seed(seed)
    samples = vae2.sample(64)._data
    a, b = int(np.flatnonzero(y_te == 0)[0]), int(np.flatnonzero(y_te == 1)[0])
    path = vae2.interpolate(x_te[a], x_te[b], steps=10)._data
    vae16 = models["VAE (Bernoulli decoder)"]
    samples16 = vae16.sample(64)._data

    table = markdown_table(["model", "code size", "test MSE", "masked-input test MSE",
                            "codes near 0 (abs < 0.05)"], rows)
    markdown = (f"### Autoencoders on digits: AE, denoising, sparse, VAE\n\n"
                f"{len(train)} training and {len(test)} test digits (8x8, [0, 1]); MLP "
                f"64-{hp['hidden'][0]}-code, Adam lr {hp['lr']}, batch {hp['batch_size']}, "
                f"{epochs} epochs. Masked input: {int(hp['mask'] * 100)}% of the test "
                f"pixels zeroed, error against the clean digit. VAE (16-D) test ELBO "
                f"{results['VAE (Bernoulli decoder)']['test_elbo']:.2f} nats per digit.\n\n"
                f"{table}")
    data = {"hyperparameters": hp, "results": results,
            "interpolation": {"from_class": 0, "to_class": 1}}
    notes: list[str] = []

    def draw(fig):
        grid = fig.add_gridspec(2, 4)
        show = slice(0, 8)
        ax = fig.add_subplot(grid[0, 0])
        rec = [x_te[show], x_masked[show]]
        labels = ["clean", "masked"]
        for label, model in models.items():
            with no_grad():
                rec.append(model(lamina.tensor(x_masked[show]))._data)
            labels.append(label.split(" (")[0])
        ax.imshow(make_grid(np.concatenate(rec), nrow=8), cmap="gray", vmin=0, vmax=1)
        ax.set_title("masked test digits and reconstructions", fontsize=8)
        ax.set_yticks([1 + 9 * i + 4 for i in range(len(labels))], labels, fontsize=6)
        ax.set_xticks([])
        ax = fig.add_subplot(grid[0, 1])
        for label, r in results.items():
            if "loss" in r and not label.startswith("VAE"):
                ax.plot(range(1, len(r["loss"]) + 1), r["loss"], label=label.split(" (")[0])
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss (sum over pixels)")
        ax.legend(fontsize=7)
        for j, (label, (_, code)) in enumerate(two_d.items()):
            ax = fig.add_subplot(grid[0, 2 + j])
            sc = ax.scatter(code[:, 0], code[:, 1], c=y_te, cmap="tab10", s=6)
            ax.set_title(f"{label}: test codes", fontsize=8)
            if j == 1:
                fig.colorbar(sc, ax=ax, ticks=range(10))
        ax = fig.add_subplot(grid[1, 0])
        ax.imshow(make_grid(samples16, nrow=8), cmap="gray", vmin=0, vmax=1)
        ax.set_title("16-D VAE: samples of the prior", fontsize=8)
        ax.set_axis_off()
        ax = fig.add_subplot(grid[1, 1])
        ax.imshow(make_grid(samples, nrow=8), cmap="gray", vmin=0, vmax=1)
        ax.set_title("2-D VAE: samples of the prior", fontsize=8)
        ax.set_axis_off()
        ax = fig.add_subplot(grid[1, 2:])
        ax.imshow(make_grid(path, nrow=10), cmap="gray", vmin=0, vmax=1)
        ax.set_title("2-D VAE: latent interpolation from a 0 to a 1", fontsize=8)
        ax.set_axis_off()

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes, figsize=(14, 7))
    return ExperimentResult(NAME, "Autoencoders on digits: AE, denoising, sparse, VAE",
                            markdown, data, plot, notes)
