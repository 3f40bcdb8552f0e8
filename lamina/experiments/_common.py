"""What every experiment shares: the result object, markdown tables, seeding, small training
loops and the plotting helper (matplotlib is optional and imported only when a plot is
drawn, through its Agg canvas, so no window opens and no global backend changes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import lamina
from lamina.autograd import no_grad
from lamina.errors import LaminaTypeError
from lamina.tensor import Tensor

__all__ = ["ExperimentResult", "markdown_table", "fmt", "seed_all", "save_plot",
           "full_batch_loss", "tensor", "minibatches", "train_full_batch",
           "predict_array", "decision_grid", "train_minibatch"]


@dataclass
class ExperimentResult:
    """What an experiment returns.

    Attributes:
        name: the experiment's registry name.
        title: one line saying what it shows.
        markdown: the result table(s) as markdown text (with a short caption).
        data: the raw numbers (plain dicts, lists and floats; JSON-serializable).
        plot: the PNG the experiment saved, or ``None`` when matplotlib is absent.
        notes: remarks such as "plot skipped: matplotlib is not installed".
    """

    name: str
    title: str
    markdown: str
    data: dict
    plot: Path | None = None
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return self.markdown


def fmt(value, digits: int = 4) -> str:
    """A number for a table: ``digits`` significant digits, ``inf``/``nan`` spelled out."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}g}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence], digits: int = 4) -> str:
    """A GitHub-flavoured markdown table; numbers right-aligned, text left-aligned."""
    cells = [[fmt(v, digits) for v in row] for row in rows]
    numeric = [all(not isinstance(row[j], str) for row in rows) for j in range(len(headers))]
    align = ["---:" if num else ":---" for num in numeric]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def seed_all(seed: int) -> np.random.Generator:
    """Seed lamina's global generator (weight initialization, dropout, shuffling) and return a
    NumPy generator for the experiment's own draws (data, splits)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise LaminaTypeError(f"experiments: seed must be an int, got {type(seed).__name__}")
    lamina.manual_seed(int(seed))
    return np.random.default_rng(int(seed))


def tensor(a, dtype=np.float32) -> Tensor:
    """A lamina tensor of ``a`` as ``dtype`` (float32 features, int64 labels)."""
    return Tensor(np.ascontiguousarray(a, dtype=dtype))


def minibatches(n: int, batch_size: int, rng: np.random.Generator):
    """Shuffled index batches covering ``range(n)`` once (the last one may be smaller)."""
    order = rng.permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def full_batch_loss(model, loss_fn, x: Tensor, y: Tensor) -> float:
    """``loss_fn(model(x), y)`` in eval mode without gradients (train mode restored)."""
    was = model.training
    model.eval()
    try:
        with no_grad():
            return float(loss_fn(model(x), y)._data)
    finally:
        model.train(was)


def save_plot(draw: Callable, out_dir: Path, filename: str, notes: list[str],
              figsize: tuple[float, float] = (10.0, 4.0)) -> Path | None:
    """Draw a figure with ``draw(fig)`` and save it as ``out_dir / filename`` (PNG).

    matplotlib is imported here, lazily; it draws on an Agg canvas attached to a bare
    ``Figure`` (no pyplot, so the user's backend and open figures are untouched). Without
    matplotlib, appends a note to ``notes`` and returns ``None``.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        notes.append("plot skipped: matplotlib is not installed (pip install matplotlib)")
        return None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    draw(fig)
    path = out_dir / filename
    fig.savefig(path, dpi=100)
    return path


def train_full_batch(model, loss_fn, optimizer, x: Tensor, y: Tensor, steps: int) -> list[float]:
    """``steps`` full-batch gradient steps; returns the loss before each step and at the end."""
    losses = []
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        losses.append(float(loss._data))
        loss.backward()
        optimizer.step()
    losses.append(full_batch_loss(model, loss_fn, x, y))
    return losses


def predict_array(model, x: np.ndarray) -> np.ndarray:
    """The model's outputs for the float array ``x`` as a NumPy array (eval mode, no grad)."""
    was = model.training
    model.eval()
    try:
        with no_grad():
            return np.asarray(model(tensor(x))._data)
    finally:
        model.train(was)


def decision_grid(x: np.ndarray, n: int = 200, margin: float = 0.5):
    """A ``n x n`` grid over the 2-D points ``x`` (plus a margin): ``(xx, yy, points)``."""
    lo, hi = x.min(0) - margin, x.max(0) + margin
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n))
    return xx, yy, np.stack([xx.ravel(), yy.ravel()], axis=1)


def train_minibatch(model, loss_fn, optimizer, x: np.ndarray, y: np.ndarray, epochs: int,
                    batch_size: int, rng: np.random.Generator, y_dtype=np.float32,
                    on_epoch: Callable | None = None) -> list[float]:
    """Mini-batch training on arrays (shuffled by ``rng`` every epoch); returns the mean
    training loss of each epoch (as seen during the epoch). Stops early when the loss is no
    longer finite (a diverging run). ``on_epoch(epoch)`` is called after each epoch."""
    losses = []
    n = len(x)
    model.train()
    for epoch in range(epochs):
        total = 0.0
        for idx in minibatches(n, batch_size, rng):
            optimizer.zero_grad()
            loss = loss_fn(model(tensor(x[idx])), tensor(y[idx], y_dtype))
            loss.backward()
            optimizer.step()
            total += float(loss._data) * len(idx)
        losses.append(total / n)
        if on_epoch is not None:
            on_epoch(epoch + 1)
        if not math.isfinite(losses[-1]):
            break
    return losses
