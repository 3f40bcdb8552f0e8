"""A character-level Markov chain (lecture: sequence models, from Markov chains to recurrent
networks; Markov 1913, Shannon 1948).

``lamina.models.MarkovChain`` fitted on the characters of ``lamina.models.markov.SAMPLE_TEXT``
(a paragraph written for lamina, shipped with it, so this runs offline): the first 80% of the
text trains, the last 20% is held out. For additive smoothing alpha from 0.01 to 1 the table
gives the log-likelihood per character, in bits, on both parts, beside the uniform
distribution's ``log2(K)`` and the unigram (letter frequency) model's: the chain beats both
(it knows which letter tends to follow which), more smoothing costs on the training text and
helps on held-out text up to a point. The stationary distribution (eigenvector of the
transition matrix) matches the letter frequencies of the text, and a sample reads like
letter soup with the right pairs. The plot shows the transition matrix and the stationary
distribution against the empirical frequencies.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamina.experiments._common import ExperimentResult, markdown_table, save_plot, seed_all

NAME = "markov-chain"
ALPHAS = [0.01, 0.1, 0.3, 1.0]


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    from lamina.models import MarkovChain
    from lamina.models.markov import SAMPLE_TEXT

    rng = seed_all(seed)
    text = SAMPLE_TEXT
    split = int(0.8 * len(text))
    train, held = text[:split], text[split:]
    states = sorted(set(text))
    k = len(states)
    ln2 = np.log(2)
    freq = np.array([train.count(s) + 1 for s in states], float)
    freq /= freq.sum()
    unigram = {s: f for s, f in zip(states, freq)}

    def unigram_bits(t):
        return float(-np.mean([np.log2(unigram[c]) for c in t]))

    rows = [["uniform", np.log2(k), np.log2(k)],
            ["unigram (letter frequencies)", unigram_bits(train), unigram_bits(held)]]
    bits = {}
    for alpha in ALPHAS:
        chain = MarkovChain(alpha=alpha).fit([train], states=states)
        b_tr = -chain.log_likelihood(train) / len(train) / ln2
        b_te = -chain.log_likelihood(held) / len(held) / ln2
        bits[alpha] = (b_tr, b_te)
        rows.append([f"Markov chain, alpha {alpha}", b_tr, b_te])
    table = markdown_table(["model", "bits/char (training 80%)", "bits/char (held-out 20%)"],
                           rows, 3)
    best = min(bits, key=lambda a: bits[a][1])
    chain = MarkovChain(alpha=best).fit([train], states=states)
    sample = "".join(chain.sample(120 if quick else 300, start="t", seed=rng))
    # with little smoothing the stationary distribution is the letter frequencies
    # (the chain's counts out of each state are its occurrences, up to the text's end)
    lightest = MarkovChain(alpha=ALPHAS[0]).fit([train], states=states)
    pi = lightest.stationary_distribution()
    pi_power = lightest.stationary_distribution("power")
    emp = np.array([train.count(s) for s in states], float) / len(train)
    top = np.argsort(-pi)[:8]
    top_rows = [[repr(states[i]), pi[i], emp[i]] for i in top]
    top_table = markdown_table(["character", "stationary pi", "frequency in training text"],
                               top_rows, 3)
    markdown = (f"### Markov chain on characters\n\n{k} characters, {len(train)} training and "
                f"{len(held)} held-out characters of lamina's sample paragraph.\n\n{table}\n\n"
                f"Stationary distribution (alpha {ALPHAS[0]}, eigenvector; power iteration "
                f"agrees to {np.abs(pi - pi_power).max():.1e}) against the training text's "
                f"character frequencies, the most frequent characters:\n\n{top_table}\n\n"
                f"A sample of the chain (alpha {best}, best on held-out text): `{sample}`")
    data = {"alphas": ALPHAS, "bits_per_char": {str(a): list(v) for a, v in bits.items()},
            "uniform_bits": float(np.log2(k)),
            "unigram_bits": [unigram_bits(train), unigram_bits(held)], "best_alpha": best,
            "states": states, "stationary": pi.tolist(), "frequency": emp.tolist(),
            "sample": sample}
    notes: list[str] = []

    def draw(fig):
        ax1, ax2 = fig.subplots(1, 2)
        ax1.imshow(chain.transition._data, cmap="viridis")      # the best-alpha chain
        labels = [s if s != " " else "_" for s in states]
        ax1.set_xticks(range(k), labels, fontsize=6)
        ax1.set_yticks(range(k), labels, fontsize=6)
        ax1.set_xlabel("next character")
        ax1.set_ylabel("current character")
        ax1.set_title("transition matrix", fontsize=10)
        ax2.bar(np.arange(k) - 0.2, pi, 0.4, label="stationary pi")
        ax2.bar(np.arange(k) + 0.2, emp, 0.4, label="frequency in training text")
        ax2.set_xticks(range(k), labels, fontsize=6)
        ax2.legend(fontsize=8)

    plot = save_plot(draw, out_dir, f"{NAME}.png", notes)
    return ExperimentResult(NAME, "Markov chain on characters", markdown, data, plot, notes)
