"""``lamina train --model vae|gan|rbm``: the generative models, trained from the command line
on image datasets (``digits``, ``mnist_5k``, ``mnist``, ``fashion_mnist``, an image folder).

Each trains with its own method (the VAE: Adam on the negative ELBO; the GAN:
``lamina.train.GANTrainer``, an Adam optimizer for each network; the RBM: persistent
contrastive divergence, ``RBM.fit``) on the training split, pixels scaled to [0, 1], and
writes to the run directory ``config.toml``, ``generative.json`` (the model's arguments and
the pixel scale), ``model.safetensors`` (the state dict), ``history.csv``/``history.json``
(the losses per epoch), ``test_metrics.json`` (VAE: ELBO and reconstruction error; RBM:
reconstruction error and pseudo-likelihood; GAN: the discriminator's mean output on test images
and on as many samples), ``samples.png`` (a grid of 64 samples) and ``learning_curve.png``.

Model arguments come from ``--model-arg KEY=VALUE`` (e.g. ``latent_dim=8``, ``kind=mlp``,
``n_hidden=128``); ``--epochs``, ``--batch-size``, ``--lr`` (default per model: VAE 1e-3,
GAN 5e-4, RBM 0.05), ``--limit`` and ``--seed`` apply; the classifier options (loss,
optimizer, schedule, patience) do not.
"""

from __future__ import annotations

import json
import math
import sys
import time

import numpy as np

from lamina import config as C
from lamina.cli import (
    PROG,
    CLIError,
    _canonical_dataset,
    _check_dataset_name,
    _check_run_name,
    _json_dump,
    _load_raw,
    _pyplot,
    _run_dir,
    _say,
    _split,
    _write_csv,
)

__all__ = ["GENERATIVE", "train_generative"]

GENERATIVE = ("vae", "gan", "rbm")
_DEFAULT_LR = {"vae": 1e-3, "gan": 5e-4, "rbm": 0.05}


def is_generative(name) -> bool:
    return isinstance(name, str) and name.strip().lower() in GENERATIVE


def _build(name: str, shape: tuple, args: dict, seed: int):
    from lamina.models import GAN, RBM, VAE

    try:
        if name == "vae":
            kw = {"latent_dim": 8, **args}
            return VAE(shape, **kw), kw
        if name == "gan":
            kind = "dcgan" if len(shape) == 3 and shape[1] % 4 == 0 and shape[2] % 4 == 0 \
                else "mlp"
            kw = {"latent_dim": 16, "kind": kind, **args}
            return GAN(shape, **kw), kw
        kw = {"n_hidden": 128, "seed": seed, **args}
        return RBM(math.prod(shape), **kw), kw
    except (TypeError, ValueError) as e:
        raise CLIError(f"cannot build model {name!r} for images of shape {shape}: {e} "
                       f"(set its arguments with --model-arg KEY=VALUE)") from None


def train_generative(args, cfg: dict) -> int:
    """``lamina train`` for a generative model (``cfg['model']['name']`` in GENERATIVE)."""
    import lamina
    from lamina.autograd import no_grad
    from lamina.train.gan import GANTrainer
    from lamina.train.images import save_grid

    t0 = time.perf_counter()
    name = cfg["model"]["name"].strip().lower()
    dcfg, tcfg = cfg["data"], cfg["train"]
    seed = cfg["seed"]
    _check_dataset_name(dcfg["dataset"])
    _check_run_name(cfg["name"])
    dcfg["dataset"] = _canonical_dataset(dcfg["dataset"])
    if dcfg["dataset"].startswith("csv:"):
        raise CLIError(f"model {name!r} generates images and needs an image dataset (digits, "
                       f"mnist_5k, mnist, fashion_mnist, image_folder), not a CSV file")
    x, y, info = _load_raw(dcfg)
    if x.ndim != 4:
        raise CLIError(f"model {name!r} generates images and needs an image dataset (digits, "
                       f"mnist_5k, mnist, fashion_mnist, image_folder); dataset "
                       f"{dcfg['dataset']!r} has samples of shape {tuple(x.shape[1:])}")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0:
        raise CLIError(f"model {name!r} needs pixel values >= 0 (scaled to [0, 1]); dataset "
                       f"{dcfg['dataset']!r} has values down to {lo:g}")
    scale = hi if hi > 1 else 1.0
    x = (x / scale).astype(np.float32)
    shape = tuple(int(s) for s in x.shape[1:])
    tr, va, te = _split(y, info["task"], dcfg, seed)
    tr = np.concatenate([tr, va])                       # no early stopping: train on both
    lr = tcfg["lr"] if args.lr is not None else _DEFAULT_LR[name]
    ignored = [f"--{flag.replace('_', '-')}" for flag in
               ("loss", "optimizer", "schedule", "patience", "l1", "l2", "hidden", "dropout",
                "activation") if getattr(args, flag, None) is not None]
    if ignored:
        _say(f"{PROG}: warning: model {name!r} trains with its own method and ignores "
             f"{', '.join(ignored)} (set its arguments with --model-arg KEY=VALUE)",
             file=sys.stderr)
    epochs, batch = tcfg["epochs"], tcfg["batch_size"]
    lamina.manual_seed(seed)
    model, kwargs = _build(name, shape, dict(cfg["model"]["args"]), seed)

    tcfg["lr"] = lr
    run = _run_dir(cfg)
    header = (f"lamina {lamina.__version__} run {run.name}: the resolved configuration\n"
              f"repeat it with: lamina train --config {run / 'config.toml'}")
    (run / "config.toml").write_text(C.dump_toml(cfg, header), encoding="utf-8")
    _json_dump(run / "generative.json", {"model": name, "args": kwargs,
                                         "input_shape": list(shape), "pixel_scale": scale})
    n_params = sum(p._data.size for p in model.parameters())
    _say(f"data: {dcfg['dataset']} ({len(tr)} train / {len(te)} test images of shape "
         f"{shape}, pixels / {scale:g})")
    _say(f"model: {name} ({n_params:,} parameters; {json.dumps(kwargs)}), lr {lr:g}, "
         f"{epochs} epochs of batch {batch}")
    _say(f"run directory: {run}")
    verbose = not args.no_progress
    x_tr, x_te = x[tr], x[te]
    metrics: dict = {}
    from lamina.experiments import _single_threaded_blas

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), \
            _single_threaded_blas():
        if name == "vae":
            hist = {"loss": model.fit(x_tr, epochs=epochs, lr=lr, batch_size=batch, seed=seed,
                                     on_epoch=lambda e, m: verbose and _say(
                                         f"epoch {e}/{epochs} done"))}
            if len(te):
                with no_grad():
                    metrics = {"test_elbo": float(model.elbo(lamina.tensor(x_te))._data.mean()),
                               "test_reconstruction_mse": model_mse(model, x_te)}
            samples = model.sample(64)._data
        elif name == "gan":
            trainer = GANTrainer(model, lr=lr, label_smoothing=0.1)
            h = trainer.fit(x_tr, epochs=epochs, batch_size=batch, seed=seed,
                            on_epoch=lambda e, t, hh: verbose and _say(
                                f"epoch {e}/{epochs}: D loss {hh.d_loss[-1]:.4g}, "
                                f"G loss {hh.g_loss[-1]:.4g}"))
            hist = h.as_dict()
            if len(te):
                with no_grad():
                    model.eval()
                    d = model.discriminator(lamina.tensor(x_te))._data
                    f = model.discriminator(model.sample(len(te)))._data
                metrics = {"test_d_real": float(np.mean(1 / (1 + np.exp(-d)))),
                           "sample_d_fake": float(np.mean(1 / (1 + np.exp(-f))))}
            samples = model.sample(64)._data
        else:
            flat = x_tr.reshape(len(x_tr), -1).astype(np.float64)
            hist = {"reconstruction_error": model.fit(
                flat, epochs=epochs, lr=lr, batch_size=batch, method="pcd", seed=seed,
                on_epoch=lambda e, m: verbose and _say(f"epoch {e}/{epochs} done"))}
            if len(te):
                flat_te = x_te.reshape(len(x_te), -1).astype(np.float64)
                metrics = {"test_reconstruction_error": model.reconstruction_error(flat_te)}
                if np.all((flat_te == 0) | (flat_te == 1)):
                    metrics["test_pseudo_likelihood"] = float(
                        model.pseudo_likelihood(flat_te).mean())
            samples = model.sample(64, steps=200, seed=seed)
            samples = model.visible_mean(model.hidden_probs(samples)).reshape(-1, *shape)
    bad = [k for k, v in hist.items() if not np.all(np.isfinite(v))]
    if bad:
        raise CLIError(f"training diverged ({', '.join(bad)} became NaN or inf); train again "
                       f"with a smaller --lr (it was {lr:g})")
    lamina.save(model.state_dict(), run / "model.safetensors")
    keys = list(hist)
    _write_csv(run / "history.csv", ["epoch", *keys],
               [[i + 1, *[hist[k][i] for k in keys]] for i in range(len(hist[keys[0]]))])
    _json_dump(run / "history.json", hist)
    if metrics:
        _json_dump(run / "test_metrics.json", metrics)
        _say("test metrics: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
    plt = _pyplot()
    if plt is None:
        _say(f"{PROG}: matplotlib is not installed: skipped samples.png and "
             "learning_curve.png (pip install 'lamina[plot]')")
    else:
        save_grid(samples[:64], run / "samples.png", nrow=8)
        fig, ax = plt.subplots(figsize=(6, 4))
        for k in keys:
            ax.plot(range(1, len(hist[k]) + 1), hist[k], label=k)
        ax.set_xlabel("epoch")
        ax.legend()
        fig.savefig(run / "learning_curve.png", dpi=100)
        plt.close(fig)
        _say(f"samples: {run / 'samples.png'}")
    _say(f"run directory: {run}  ({time.perf_counter() - t0:.1f}s)")
    return 0


def model_mse(model, x: np.ndarray) -> float:
    import lamina
    from lamina.autograd import no_grad

    model.eval()
    with no_grad():
        return float(np.mean((model(lamina.tensor(x))._data - x) ** 2))
