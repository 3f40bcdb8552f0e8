"""Progress display for ``fit``: a bar per epoch on a terminal, a plain line per epoch.

The bar is tqdm's when tqdm is installed (it is optional, not a dependency of lamina) and a
minimal built-in one otherwise. ``fit`` shows it only when standard output is a terminal:
in a log file or a notebook's captured output a bar's carriage-return updates are noise, so
there only the line that ends each epoch is printed::

    epoch 3/20  loss 0.4123  val_loss 0.4410  val_accuracy 0.912  lr 1.0e-03  1.2s
"""

from __future__ import annotations

import math
import sys
import time

__all__ = ["is_terminal", "format_epoch", "EpochBar"]


def is_terminal(stream) -> bool:
    """Whether ``stream`` is an interactive terminal (False for files, pipes and captured
    output, and for objects without ``isatty``)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):   # no isatty, or closed
        return False


def format_value(key: str, value) -> str:
    """One number of an epoch line: accuracies with 3 decimals, the learning rate in
    scientific notation, everything else with 4 decimals (scientific when tiny or huge)."""
    if value is None:
        return "-"
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if key == "lr":
        return f"{value:.1e}"
    if key.endswith("accuracy"):
        return f"{value:.3f}"
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4f}"
    return f"{value:.3e}"


def format_epoch(epoch: int, epochs: int, logs: dict) -> str:
    """``epoch 3/20  loss 0.4123  val_loss 0.4410  lr 1.0e-03  1.2s``: the values of
    ``logs`` in their order, then the learning rate and the epoch's time."""
    parts = [f"epoch {epoch}/{epochs}"]
    parts += [f"{k} {format_value(k, v)}" for k, v in logs.items()
              if k not in ("epoch", "lr", "time")]
    if "lr" in logs:
        parts.append(f"lr {format_value('lr', logs['lr'])}")
    if "time" in logs:
        parts.append(f"{logs['time']:.1f}s")
    return "  ".join(parts)


class _TextBar:
    """A one-line bar redrawn with a carriage return at most every ``interval`` seconds:
    ``epoch 3/20 [#########...........] 45/100 loss 0.4123``."""

    width = 24

    def __init__(self, total: int | None, desc: str, stream, interval: float = 0.1) -> None:
        self.total, self.desc, self.stream, self.interval = total, desc, stream, interval
        self.n = 0
        self.postfix = ""
        self._last_draw = -math.inf
        self._drawn = 0

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._last_draw >= self.interval or self.n == self.total:
            self._last_draw = now
            self._draw()

    def set_postfix_str(self, s: str, refresh: bool = False) -> None:
        self.postfix = s

    def _draw(self) -> None:
        if self.total:
            done = min(self.width, self.width * self.n // self.total)
            bar = f"[{'#' * done}{'.' * (self.width - done)}] {self.n}/{self.total}"
        else:
            bar = f"{self.n} batches"
        text = f"{self.desc} {bar} {self.postfix}".rstrip()
        pad = max(0, self._drawn - len(text))   # blank out the tail of a longer old line
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._drawn = len(text)

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
            self._drawn = 0


class EpochBar:
    """The progress bar of one epoch: ``update(loss)`` after every batch (shows the running
    mean loss), ``close()`` at the end (the bar disappears, so that the epoch's summary line
    replaces it).

    Args:
        total: the number of batches (``None`` if unknown).
        desc: the text before the bar (``"epoch 3/20"``).
        stream: where to draw (default ``sys.stdout``).
        use_tqdm: use tqdm (``None``: when it is installed).
    """

    def __init__(self, total: int | None, desc: str, stream=None,
                 use_tqdm: bool | None = None) -> None:
        stream = sys.stdout if stream is None else stream
        self._bar = None
        if use_tqdm is not False:
            try:
                from tqdm import tqdm
            except ImportError:
                if use_tqdm:
                    raise
            else:
                self._bar = tqdm(total=total, desc=desc, file=stream, leave=False,
                                 unit="batch", dynamic_ncols=True)
        if self._bar is None:
            self._bar = _TextBar(total, desc, stream)
        self._sum = 0.0
        self._count = 0

    def update(self, loss: float | None = None) -> None:
        if loss is not None:
            self._sum += loss
            self._count += 1
            self._bar.set_postfix_str(f"loss {format_value('loss', self._sum / self._count)}",
                                      refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()
