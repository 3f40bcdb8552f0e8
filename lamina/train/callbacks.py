"""Callbacks: code that ``fit`` runs at fixed points of training.

A callback subclasses ``Callback`` and overrides the hooks it needs; each hook receives the
``Trainer`` (``trainer.model``, ``trainer.optimizer``, ``trainer.history``, and
``trainer.stop_training``, which a callback sets to end training: set in ``on_batch_end``
it also ends the current epoch after that batch; the epoch is then validated and recorded).
Epochs are numbered from 1. ``logs`` holds the epoch's values under the same keys as the
history (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ``lr``, ``time``, ...).

Provided: ``EarlyStopping``, ``ModelCheckpoint`` (with ``load_checkpoint``),
``LRSchedulerCallback``, ``CSVLogger``, ``JSONLogger``, ``TerminateOnNaN`` and
``LambdaCallback``.

>>> stop = EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)
>>> fit(model, loss_fn, opt, train_loader, epochs=100, val_loader=val_loader, callbacks=[stop])
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable

import numpy as np

from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.optim.lr_scheduler import ReduceLROnPlateau
from lamina.serialization import load, save

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "load_checkpoint",
           "LRSchedulerCallback", "CSVLogger", "JSONLogger", "TerminateOnNaN",
           "LambdaCallback"]


class Callback:
    """Base class: every hook does nothing.

    Order within one epoch: ``on_epoch_begin``, then ``on_batch_end`` after every optimizer
    step, then (after validation and after the epoch is added to ``trainer.history``)
    ``on_epoch_end``. ``on_train_begin``/``on_train_end`` run once per ``fit``;
    ``on_train_end`` runs even when training ends early.
    """

    def on_train_begin(self, trainer) -> None:
        pass

    def on_epoch_begin(self, trainer, epoch: int) -> None:
        pass

    def on_batch_end(self, trainer, batch: int, logs: dict) -> None:
        pass

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        pass

    def on_train_end(self, trainer) -> None:
        pass


# --- which direction is better --------------------------------------------------------------

_HIGHER_IS_BETTER = re.compile(r"(.*accuracy|acc|r2|f1|precision|recall|auc)")


def resolve_mode(mode: str, monitor: str, trainer=None, op: str = "callback") -> str:
    """``"min"`` or ``"max"``: ``mode`` itself, or for ``"auto"`` the direction of the
    monitored quantity: ``"max"`` for accuracies, R^2, F1, precision and recall (or a custom
    metric of the trainer with ``higher_is_better``), ``"min"`` for losses and errors."""
    if mode in ("min", "max"):
        return mode
    if mode != "auto":
        raise LaminaValueError(f"{op}: mode must be 'min', 'max' or 'auto', got {mode!r}")
    base = monitor[4:] if monitor.startswith("val_") else monitor
    for metric in getattr(trainer, "metrics", ()):
        if metric.name == base:
            return "max" if metric.higher_is_better else "min"
    return "max" if _HIGHER_IS_BETTER.fullmatch(base) else "min"


def _monitored(logs: dict, monitor: str, op: str) -> float:
    if monitor not in logs:
        hint = ""
        if monitor.startswith("val_"):
            hint = " (validation values need fit(..., val_loader=...))"
        raise LaminaValueError(f"{op}: monitored quantity {monitor!r} is not in the epoch's logs, "
                               f"which have {sorted(logs)}{hint}")
    return float(logs[monitor])


def _better(current: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    """Whether ``current`` improves on ``best`` by more than ``min_delta`` (NaN never does)."""
    if math.isnan(current):
        return False
    if best is None:
        return True
    if mode == "min":
        return current < best - min_delta
    return current > best + min_delta


# --- early stopping -----------------------------------------------------------------------

class EarlyStopping(Callback):
    """Stop training when a monitored quantity has stopped improving (Keras's semantics).

    After each epoch the monitored value counts as an improvement when it beats the best so
    far by more than ``min_delta`` (``value < best - min_delta`` in mode ``"min"``,
    ``value > best + min_delta`` in mode ``"max"``). Training stops at the end of the
    ``patience``-th consecutive epoch without improvement (``patience=0``: at the first such
    epoch; never at epoch 1).

    Args:
        monitor: a key of the epoch logs (default ``"val_loss"``).
        min_delta: the smallest change that counts as an improvement (>= 0).
        patience: epochs without improvement before stopping.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (from the name: see ``resolve_mode``).
        baseline: a value to beat: epochs that do not beat it count as no improvement even
            when they improve on the best so far.
        restore_best_weights: at the end of training (stopped early or not), load the
            weights of the best epoch back into the model (a copy kept in memory).
        start_from_epoch: ignore the first epochs (warm-up): no improvement is counted and
            no stop happens before epoch ``start_from_epoch + 1``.
        verbose: print a line when stopping and when restoring.

    Attributes (after ``fit``): ``best`` (value), ``best_epoch``, ``stopped_epoch`` (0 if
    training ran to the end), ``wait`` (epochs since the last improvement).
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0,
                 verbose: bool = False) -> None:
        if not isinstance(patience, int) or patience < 0:
            raise LaminaValueError(f"EarlyStopping: patience must be an integer >= 0, got "
                                   f"{patience!r}")
        if mode not in ("min", "max", "auto"):
            raise LaminaValueError(f"EarlyStopping: mode must be 'min', 'max' or 'auto', got "
                                   f"{mode!r}")
        self.monitor = monitor
        self.min_delta = abs(float(min_delta))
        self.patience = patience
        self.mode = mode
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.verbose = verbose
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.best_weights = None

    def on_train_begin(self, trainer) -> None:
        self._reset()
        self._mode = resolve_mode(self.mode, self.monitor, trainer, "EarlyStopping")

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        current = _monitored(logs, self.monitor, "EarlyStopping")
        if epoch <= self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = _copy_weights(trainer.model)   # something to restore
        self.wait += 1
        if _better(current, self.best, self._mode, self.min_delta):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = _copy_weights(trainer.model)
            if self.baseline is None or _better(current, self.baseline, self._mode,
                                                self.min_delta):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 1:
            self.stopped_epoch = epoch
            trainer.stop_training = True

    def on_train_end(self, trainer) -> None:
        if self.stopped_epoch and self.verbose:
            trainer.print(f"early stopping at epoch {self.stopped_epoch}: {self.monitor} has "
                          f"not improved for {self.wait} epochs (best {self.best:.4g} at "
                          f"epoch {self.best_epoch})")
        if self.restore_best_weights and self.best_weights is not None:
            trainer.model.load_state_dict(self.best_weights)
            if self.verbose:
                trainer.print(f"restored the weights of epoch {self.best_epoch}")


def _copy_weights(model) -> dict:
    return {k: v._data.copy() for k, v in model.state_dict().items()}


# --- checkpoints --------------------------------------------------------------------------

class ModelCheckpoint(Callback):
    """Save the model (and optimizer) state after epochs, with ``lamina.save``.

    A ``DistributedDataParallel`` model is saved as its ``module`` (plain keys).
    Each file is one safetensors file (written atomically) holding a dict:
    ``{"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": int,
    "logs": {key: value}}``; read it back with ``load_checkpoint``.

    Args:
        dirpath: the directory of the files (created if needed).
        monitor: the logged quantity that decides which epoch is best (default
            ``"val_loss"``).
        mode: ``"min"``, ``"max"`` or ``"auto"`` (see ``resolve_mode``).
        save_best: keep ``best.safetensors``, rewritten whenever the monitored value
            improves on the best so far (strictly; NaN never does).
        save_last: keep ``last.safetensors``, rewritten after every epoch (to resume from).
            ``last`` is written before ``best``; an epoch whose weights hold NaN or inf
            writes neither (the previous files stay).
        save_optimizer: include the optimizer's ``state_dict``.
        best_name, last_name: the file names.
        verbose: print a line when a new best is saved.

    Attributes: ``best``, ``best_epoch``, ``best_path``, ``last_path``.
    """

    def __init__(self, dirpath, monitor: str = "val_loss", mode: str = "auto",
                 save_best: bool = True, save_last: bool = True, save_optimizer: bool = True,
                 best_name: str = "best.safetensors", last_name: str = "last.safetensors",
                 verbose: bool = False) -> None:
        if not (save_best or save_last):
            raise LaminaValueError("ModelCheckpoint: nothing to save: save_best and save_last are "
                                   "both False")
        if mode not in ("min", "max", "auto"):
            raise LaminaValueError(f"ModelCheckpoint: mode must be 'min', 'max' or 'auto', got "
                                   f"{mode!r}")
        self.dirpath = os.fspath(dirpath)
        self.monitor = monitor
        self.mode = mode
        self.save_best = save_best
        self.save_last = save_last
        self.save_optimizer = save_optimizer
        self.best_path = os.path.join(self.dirpath, best_name)
        self.last_path = os.path.join(self.dirpath, last_name)
        self.verbose = verbose
        self.best = None
        self.best_epoch = 0

    def on_train_begin(self, trainer) -> None:
        os.makedirs(self.dirpath, exist_ok=True)
        self._mode = resolve_mode(self.mode, self.monitor, trainer, "ModelCheckpoint")
        self.best = None
        self.best_epoch = 0

    def _save(self, trainer, path: str, epoch: int, logs: dict) -> None:
        obj = {"model": _unwrapped(trainer.model).state_dict(), "epoch": epoch,
               "logs": {k: v for k, v in logs.items() if v is not None}}
        if self.save_optimizer:
            obj["optimizer"] = trainer.optimizer.state_dict()
        save(obj, path)

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        # Order: last, then best (then the loggers, which come after this callback in the
        # command line's run directory). An interruption between two writes leaves best at
        # most as new as last, and the history at most one epoch behind last; each file
        # records its epoch.
        if not _weights_finite(trainer.model):
            trainer.print(f"epoch {epoch}: the weights hold NaN or inf; ModelCheckpoint "
                          f"keeps the previous {os.path.basename(self.last_path)} and "
                          f"{os.path.basename(self.best_path)}")
            return
        if self.save_last:
            self._save(trainer, self.last_path, epoch, logs)
        if self.save_best:
            current = _monitored(logs, self.monitor, "ModelCheckpoint")
            if _better(current, self.best, self._mode):
                self.best, self.best_epoch = current, epoch
                self._save(trainer, self.best_path, epoch, logs)
                if self.verbose:
                    trainer.print(f"epoch {epoch}: {self.monitor} improved to "
                                  f"{current:.4g}, saved {self.best_path}")


def _unwrapped(model):
    """The model a checkpoint holds: a ``DistributedDataParallel``'s ``module`` (its keys
    without the ``module.`` prefix, so the file loads into the plain model)."""
    from lamina.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def _weights_finite(model) -> bool:
    return all(np.isfinite(v._data).all() for v in model.state_dict().values()
               if v._data.dtype.kind == "f")


def load_checkpoint(path, model=None, optimizer=None) -> dict:
    """Read a ``ModelCheckpoint`` file; load its states into ``model`` and ``optimizer``
    when given (strictly: the keys must match). Returns the whole checkpoint dict
    (``"model"``, ``"optimizer"``, ``"epoch"``, ``"logs"``).

    >>> ckpt = load_checkpoint("ckpt/best.safetensors", model, opt)
    >>> ckpt["epoch"], ckpt["logs"]["val_loss"]
    """
    ckpt = load(path)
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise LaminaValueError(f"load_checkpoint: {os.fspath(path)!r} is not a ModelCheckpoint "
                               f"file (expected a dict with a 'model' entry)")
    if model is not None:
        model.load_state_dict(ckpt["model"])
    if optimizer is not None:
        if "optimizer" not in ckpt:
            raise LaminaValueError(f"load_checkpoint: {os.fspath(path)!r} holds no optimizer "
                                   f"state (saved with save_optimizer=False)")
        optimizer.load_state_dict(ckpt["optimizer"])
    return ckpt


# --- learning-rate schedules --------------------------------------------------------------

class LRSchedulerCallback(Callback):
    """Step a learning-rate scheduler from ``fit``.

    With ``interval="epoch"`` (default) the scheduler steps after every epoch;
    ``ReduceLROnPlateau`` is stepped with the monitored value (``monitor``; default
    ``"val_loss"`` when there is validation data, else ``"loss"``). With ``interval="step"``
    it steps after every optimizer step (for schedules counted in iterations).
    ``fit(..., scheduler=s)`` is ``callbacks=[LRSchedulerCallback(s)]``.
    """

    def __init__(self, scheduler, monitor: str | None = None, interval: str = "epoch") -> None:
        if interval not in ("epoch", "step"):
            raise LaminaValueError(f"LRSchedulerCallback: interval must be 'epoch' or 'step', got "
                                   f"{interval!r}")
        if not callable(getattr(scheduler, "step", None)):
            raise LaminaTypeError(f"LRSchedulerCallback: expected a learning-rate scheduler, got "
                                  f"{type(scheduler).__name__}")
        self.plateau = isinstance(scheduler, ReduceLROnPlateau)
        if self.plateau and interval == "step":
            raise LaminaValueError("LRSchedulerCallback: ReduceLROnPlateau steps once per epoch "
                                   "with a metric; use interval='epoch'")
        self.scheduler = scheduler
        self.monitor = monitor
        self.interval = interval

    def on_batch_end(self, trainer, batch: int, logs: dict) -> None:
        if self.interval == "step":
            self.scheduler.step()

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        if self.interval != "epoch":
            return
        if self.plateau:
            monitor = self.monitor or ("val_loss" if "val_loss" in logs else "loss")
            self.scheduler.step(_monitored(logs, monitor, "LRSchedulerCallback"))
        else:
            self.scheduler.step()


# --- logs ---------------------------------------------------------------------------------

class CSVLogger(Callback):
    """Write the history so far to a CSV file after every epoch (atomically: the file is
    always complete). One row per epoch, one column per history key."""

    def __init__(self, path) -> None:
        self.path = os.fspath(path)

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        trainer.history.to_csv(self.path)


class JSONLogger(Callback):
    """Write the history so far (``{key: [value per epoch]}``) to a JSON file after every
    epoch, atomically."""

    def __init__(self, path) -> None:
        self.path = os.fspath(path)

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        trainer.history.to_json(self.path)


# --- small helpers ------------------------------------------------------------------------

class TerminateOnNaN(Callback):
    """Stop training at the first batch whose loss is NaN or infinite."""

    def on_batch_end(self, trainer, batch: int, logs: dict) -> None:
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(loss):
            trainer.print(f"batch {batch}: loss is {loss}, stopping training")
            trainer.stop_training = True


class LambdaCallback(Callback):
    """A callback from plain functions with the hooks' signatures, e.g.
    ``LambdaCallback(on_epoch_end=lambda trainer, epoch, logs: print(logs["loss"]))``."""

    def __init__(self, on_train_begin: Callable | None = None,
                 on_epoch_begin: Callable | None = None,
                 on_batch_end: Callable | None = None,
                 on_epoch_end: Callable | None = None,
                 on_train_end: Callable | None = None) -> None:
        for name, fn in (("on_train_begin", on_train_begin), ("on_epoch_begin", on_epoch_begin),
                         ("on_batch_end", on_batch_end), ("on_epoch_end", on_epoch_end),
                         ("on_train_end", on_train_end)):
            if fn is not None:
                setattr(self, name, fn)
