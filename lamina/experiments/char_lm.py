"""Character-level language models: a bigram table, an LSTM and a GPT (lectures: recurrent
networks and attention / transformers).

The text is the reference documentation that ships inside every CPython installation: the
``pydoc_data.topics`` module that ``help()`` reads (about 465,000 characters of English prose
with code examples in Python 3.11; its exact content follows the running Python's version).
It is available offline wherever Python is, with no download. Licence: the Python
documentation is Copyright (c) Python Software Foundation and distributed under the PSF
License Agreement (version 2); examples and recipes in it are also under the Zero-Clause BSD
licence. It is NOT in the public domain: no public-domain text of useful size ships with
Python or with lamina's dependencies, so this permissively licensed one stands in, read at
run time and never copied into lamina.

The first 90% of the characters train, the last 10% are held out. Three models predict each
next character:

* bigram: ``p(c_t | c_{t-1})`` from counts with add-one smoothing, the baseline;
* LSTM: embedding -> ``nn.LSTM`` -> linear;
* GPT: ``lamina.models.GPT`` (pre-norm causal transformer blocks, tied embeddings), at about
  the same number of parameters as the LSTM.

Both networks train with Adam on windows of ``block`` characters and are scored on
non-overlapping held-out windows of the same length (each starting with no context). The
table gives bits per character (cross-entropy in bits, lower is better; ``log2(vocab)`` is
the uniform guess) and the plot the training curves. Result (seed 0, full size, 500 steps
of 32 x 64 characters each, about two minutes per network on a busy two-core machine): the
bigram gives 3.35 bits per character, the LSTM 2.49 and the GPT 2.54 (uniform: 6.69). Both
networks beat the bigram by far; at this small budget the LSTM is slightly ahead of the
transformer of the same size (transformers usually pull ahead with more steps, data and
context). The samples show English words and Python-like fragments.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

import lamina
import lamina.nn.functional as F
from lamina import nn, optim
from lamina.autograd import no_grad
from lamina.experiments._common import ExperimentResult, markdown_table, save_plot, seed_all

NAME = "char-lm"
LN2 = math.log(2.0)


def load_text() -> str:
    """The Python documentation topics shipped with CPython (see the module docstring)."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k] for k in sorted(topics))


class CharLSTM(nn.Module):
    """Embedding, a one-layer LSTM and a linear read-out over the vocabulary."""

    def __init__(self, vocab_size: int, embed: int, hidden: int):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, embed)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab_size)

    def forward(self, idx, state=None):
        h, state = self.lstm(self.emb(idx), state)
        return self.out(h), state

    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0):
        rng = lamina.backend.rng()
        out = list(np.asarray(idx._data)[0])
        with no_grad():
            logits, state = self(idx)
            for _ in range(max_new_tokens):
                nxt = _sample(logits._data[0, -1], temperature, rng)
                out.append(nxt)
                logits, state = self(lamina.tensor([[nxt]]), state)
        return out


def _sample(logits, temperature, rng) -> int:
    z = logits.astype(np.float64) / temperature
    p = np.exp(z - z.max())
    return int(min(np.searchsorted(np.cumsum(p), rng.random() * p.sum(), side="right"),
                   len(p) - 1))


def _bigram(train: np.ndarray, held: np.ndarray, vocab: int, rng, n_sample: int, start: int):
    counts = np.ones((vocab, vocab))                       # add-one (Laplace) smoothing
    np.add.at(counts, (train[:-1], train[1:]), 1.0)
    logp = np.log(counts / counts.sum(axis=1, keepdims=True))
    bpc = float(-logp[held[:-1], held[1:]].mean() / LN2)
    seq = [start]
    for _ in range(n_sample):
        seq.append(_sample(logp[seq[-1]], 1.0, rng))
    return bpc, seq, vocab * vocab


def _logits(model, x):
    out = model(x)
    return out[0] if isinstance(out, tuple) else out


def _train(model, data: np.ndarray, steps: int, batch: int, block: int, lr: float, rng):
    """Adam on random windows; returns the training losses in bits per character."""
    opt = optim.Adam(model.parameters(), lr=lr)
    losses = []
    offsets = np.arange(block + 1)
    for step in range(steps):
        # linear warm-down to lr / 10 over the run
        for g in opt.param_groups:
            g["lr"] = lr * (1.0 - 0.9 * step / max(steps - 1, 1))
        starts = rng.integers(0, len(data) - block - 1, size=batch)
        win = data[starts[:, None] + offsets]
        x, y = lamina.tensor(win[:, :-1]), lamina.tensor(win[:, 1:])
        logits = _logits(model, x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item() / LN2)
    return losses


def _evaluate(model, held: np.ndarray, block: int, batch: int = 64) -> float:
    """Bits per character on non-overlapping held-out windows of ``block + 1`` characters."""
    n = (len(held) - 1) // block
    win = np.stack([held[i * block:i * block + block + 1] for i in range(n)])
    total, count = 0.0, 0
    model.eval()
    with no_grad():
        for i in range(0, n, batch):
            w = win[i:i + batch]
            logits = _logits(model, lamina.tensor(w[:, :-1]))
            v = logits.shape[-1]
            loss = F.cross_entropy(logits.reshape(-1, v), lamina.tensor(w[:, 1:].reshape(-1)),
                                   reduction="sum")
            total += loss.item()
            count += w[:, 1:].size
    model.train()
    return total / count / LN2


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    from lamina.models import GPT  # imported here: lamina.models is optional for the others

    rng = seed_all(seed)
    text = load_text()
    if quick:
        text = text[:30_000]
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = np.array([stoi[c] for c in text], dtype=np.int64)
    split = int(0.9 * len(data))
    train, held = data[:split], data[split:]
    V = len(chars)
    if quick:
        block, batch, steps, n_embd, hidden = 32, 16, 40, 32, 64
    else:
        block, batch, steps, n_embd, hidden = 64, 32, 500, 64, 128
    n_sample = 120 if quick else 300
    prompt = "The "
    start = np.array([[stoi.get(c, 0) for c in prompt]], dtype=np.int64)
    decode = "".join

    results, curves, samples = {}, {}, {}
    bpc, seq, n_params = _bigram(train, held, V, rng, n_sample, int(start[0, -1]))
    results["bigram"] = {"parameters": n_params, "steps": 0, "held_out_bpc": bpc,
                         "seconds": 0.0}
    samples["bigram"] = prompt[:-1] + decode(chars[i] for i in seq)

    makers = {
        "LSTM": lambda: CharLSTM(V, n_embd, hidden),
        "GPT": lambda: GPT(V, block, n_layer=2, n_head=4, n_embd=n_embd),
    }
    init_seed, order_seed = (int(s) for s in rng.integers(2**31, size=2))
    for name, make in makers.items():
        seed_all(init_seed)
        model = make()
        t0 = time.perf_counter()
        losses = _train(model, train, steps, batch, block, 3e-3,
                        np.random.default_rng(order_seed))
        seconds = time.perf_counter() - t0
        curves[name] = losses
        results[name] = {"parameters": int(sum(p.numel() for p in model.parameters())),
                         "steps": len(losses), "held_out_bpc": _evaluate(model, held, block),
                         "train_bpc_last": float(np.mean(losses[-20:])),
                         "seconds": seconds}
        lamina.manual_seed(seed)
        model.eval()
        if name == "GPT":
            seq = model.generate(lamina.tensor(start), n_sample, temperature=0.8).tolist()[0]
        else:
            seq = model.generate(lamina.tensor(start), n_sample, temperature=0.8)
        samples[name] = decode(chars[i] for i in seq)

    rows = [[name, r["parameters"], r["steps"], r["held_out_bpc"]]
            for name, r in results.items()]
    rows.append(["uniform guess", 0, 0, math.log2(V)])
    table = markdown_table(["model", "parameters", "training steps",
                            "held-out bits/char"], rows)
    sample_md = "\n\n".join(f"**{name}** (temperature {0.8 if name != 'bigram' else 1.0}):"
                            f"\n\n```\n{s}\n```" for name, s in samples.items())
    markdown = (f"### Character-level language models: bigram, LSTM and GPT\n\n"
                f"Python's documentation topics (`pydoc_data`): {len(train):,} training and "
                f"{len(held):,} held-out characters, {V} distinct; windows of {block}, "
                f"batches of {batch}, Adam.\n\n{table}\n\nSamples after the prompt "
                f"{prompt!r}:\n\n{sample_md}")
    data_out = {"n_train": int(len(train)), "n_held_out": int(len(held)), "vocab": V,
                "block": block, "batch": batch, "results": results, "samples": samples,
                "curves": curves}

    notes: list[str] = []

    def draw(fig):
        ax = fig.subplots()
        for name, c in curves.items():
            k = max(1, len(c) // 50)
            smooth = np.convolve(c, np.ones(k) / k, mode="valid")
            ax.plot(np.arange(len(smooth)) + k - 1, smooth, label=f"{name} (training)")
            ax.axhline(results[name]["held_out_bpc"], ls="--", lw=1,
                       color=ax.lines[-1].get_color(), label=f"{name} (held out)")
        ax.axhline(results["bigram"]["held_out_bpc"], color="gray", ls=":",
                   label="bigram (held out)")
        ax.set_xlabel("step")
        ax.set_ylabel("bits per character")
        ax.legend()

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes, figsize=(8, 4))
    if plot is not None:
        notes.append("plot: training bits per character (smoothed) and held-out values")
    return ExperimentResult(NAME, "Character-level LMs: bigram, LSTM and GPT", markdown,
                            data_out, plot, notes)
