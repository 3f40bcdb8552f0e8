"""``History``: the per-epoch record of a training run, and atomic text writes for logs."""

from __future__ import annotations

import csv
import io
import json
import math
import os

from lamina.errors import LaminaValueError
from lamina.serialization import _atomic_write

__all__ = ["History"]


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never a
    half-written one: write a temporary file in the same directory, flush and fsync it, then
    ``os.replace`` it over ``path`` (as ``lamina.save`` does: the file keeps its permission
    bits, and temporary files of killed writers are cleaned up by the next write)."""
    _atomic_write(os.fspath(path), lambda f: f.write(text), "write", text=True)


class History:
    """Per-epoch values of a training run: ``history[key]`` is a list with one entry per
    epoch, like Keras's ``History.history``.

    ``fit`` records ``epoch`` (1, 2, ...), ``loss`` (the mean training loss of the epoch),
    each training metric, ``val_loss`` and ``val_<metric>`` when there is validation data,
    ``lr`` (the learning rate of the first parameter group during the epoch), ``time``
    (seconds) and ``penalty`` (when a regularization term was added to the loss). A key that
    first appears in a later epoch holds ``None`` for the epochs before.

    >>> h = fit(model, loss_fn, opt, train_loader, epochs=20, val_loader=val_loader)
    >>> h["val_loss"][-1], h.best("val_loss")
    (0.2871, (17, 0.2803))
    >>> h.to_csv("history.csv")
    """

    def __init__(self, history: dict[str, list] | None = None) -> None:
        self.history: dict[str, list] = {k: list(v) for k, v in (history or {}).items()}

    def __len__(self) -> int:
        return max((len(v) for v in self.history.values()), default=0)

    def __getitem__(self, key: str) -> list:
        try:
            return self.history[key]
        except KeyError:
            raise KeyError(f"History has no {key!r}; it has {list(self.history)}") from None

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def keys(self):
        return self.history.keys()

    @property
    def epoch(self) -> list:
        return self.history.get("epoch", [])

    def append(self, logs: dict) -> None:
        """Add one epoch's values (a dict of numbers)."""
        n = len(self)
        for key, value in logs.items():
            column = self.history.setdefault(key, [None] * n)
            column.append(value)
        for column in self.history.values():
            if len(column) == n:            # a key missing from this epoch's logs
                column.append(None)

    def last(self) -> dict:
        """The most recent epoch's values as a dict."""
        if not len(self):
            return {}
        return {k: v[-1] for k, v in self.history.items()}

    def best(self, key: str, mode: str = "min") -> tuple:
        """``(epoch, value)`` of the best value of ``key`` (``mode`` ``"min"`` or ``"max"``);
        missing and NaN values are skipped."""
        if mode not in ("min", "max"):
            raise LaminaValueError(f"History.best: mode must be 'min' or 'max', got {mode!r}")
        values = self[key]
        epochs = self.history.get("epoch", list(range(1, len(values) + 1)))
        pairs = [(e, v) for e, v in zip(epochs, values)
                 if v is not None and not (isinstance(v, float) and math.isnan(v))]
        if not pairs:
            raise LaminaValueError(f"History.best: {key!r} has no values")
        pick = min if mode == "min" else max
        return pick(pairs, key=lambda ev: ev[1])

    def to_dict(self) -> dict[str, list]:
        return {k: list(v) for k, v in self.history.items()}

    def to_csv(self, path) -> None:
        """Write one row per epoch, one column per key, atomically (values written with
        ``repr`` precision, missing values as empty cells)."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        keys = list(self.history)
        writer.writerow(keys)
        for i in range(len(self)):
            writer.writerow(["" if self.history[k][i] is None else self.history[k][i]
                             for k in keys])
        atomic_write_text(path, buf.getvalue())

    def to_json(self, path) -> None:
        """Write ``{key: [value per epoch]}`` as JSON, atomically (non-finite numbers are
        written as ``NaN``/``Infinity``, which Python's ``json`` reads back)."""
        atomic_write_text(path, json.dumps(self.history, indent=1) + "\n")

    @classmethod
    def from_json(cls, path) -> History:
        """Read a history written by ``to_json``."""
        with open(path, encoding="utf-8") as f:
            return cls(json.load(f))

    def __repr__(self) -> str:
        return f"History(epochs={len(self)}, keys={list(self.history)})"
