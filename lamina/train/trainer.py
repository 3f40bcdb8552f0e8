"""The training loop: ``fit``, ``evaluate`` and ``predict``.

``fit`` is the loop every course writes by hand, once, with the usual extras::

    for epoch in 1..epochs:
        model.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)              (+ regularization(model))
            loss.backward()
            optimizer.step()
        model.eval(); with no_grad(): validation loss and metrics on val_loader
        record the epoch in the History; run the callbacks (early stopping, checkpoints,
        learning-rate schedules, logs); print one line

A batch is a ``(inputs..., target)`` tuple or list, as a ``DataLoader`` over a
``TensorDataset(x, y)`` yields: the last element is the target, the others are passed to
the model (``model(*inputs)``).

>>> history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()), train_loader,
...               epochs=10, val_loader=val_loader, metrics=["accuracy"])
epoch 1/10  loss 0.6712  accuracy 0.801  val_loss 0.4410  val_accuracy 0.862  lr 1.0e-03  0.3s
...
>>> history["val_accuracy"][-1]
0.951
"""

from __future__ import annotations

import copy
import sys
import time
import weakref
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from lamina.autograd import no_grad
from lamina.compiler import CompiledFunction
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn import BCEWithLogitsLoss
from lamina.nn.functional import binary_cross_entropy_with_logits
from lamina.ops import cat
from lamina.tensor import Tensor
from lamina.train.callbacks import Callback, LRSchedulerCallback
from lamina.train.history import History
from lamina.train.metrics import Metric, get_metric
from lamina.train.progress import EpochBar, format_epoch, is_terminal

__all__ = ["Trainer", "fit", "evaluate", "predict", "TrainingDivergedError"]


class TrainingDivergedError(FloatingPointError):
    """``fit`` stopped because a training loss (or the parameters) stopped being finite.

    Attributes: ``epoch`` (from 1), ``batch`` (index within the epoch, from 0, or ``None``
    when found at the end of an epoch), ``loss`` (the value seen), ``bad_input`` (a
    description of a non-finite value in that batch's data, or ``None``). The model holds
    the weights from before the failing step; callbacks' ``on_train_end`` has run.
    """

    def __init__(self, message: str, epoch: int, batch: int | None, loss: float,
                 bad_input: str | None = None) -> None:
        super().__init__(message)
        self.epoch, self.batch, self.loss, self.bad_input = epoch, batch, loss, bad_input


def _nonfinite_part(batch_parts) -> str | None:
    """The first input or target of a batch that holds NaN or inf, described, or None."""
    *inputs, target = batch_parts
    named = [(f"input {i}" if len(inputs) > 1 else "input", x) for i, x in enumerate(inputs)]
    for name, x in named + [("target", target)]:
        arr = x._data if isinstance(x, Tensor) else x
        if isinstance(arr, np.ndarray) and arr.dtype.kind in "fc" and arr.size:
            bad = ~np.isfinite(arr)
            if bad.any():
                where = np.argwhere(bad)[0]
                row = f" (sample {int(where[0])} of the batch)" if arr.ndim else ""
                return (f"its {name} holds {int(bad.sum())} non-finite value(s), the first "
                        f"{arr[tuple(where)]!r}{row}")
    return None


def _params_finite(model) -> bool:
    params = model.parameters() if hasattr(model, "parameters") else ()
    return all(np.isfinite(p._data).all() for p in params if p._data.dtype.kind == "f")


def _split_batch(batch, op: str):
    """``(inputs, target)`` of a batch ``(x, ..., y)``."""
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return tuple(batch[:-1]), batch[-1]
    raise LaminaTypeError(f"{op}: expected batches of (inputs..., target), such as a DataLoader "
                          f"over TensorDataset(x, y) yields; got {_describe(batch)}")


def _describe(batch) -> str:
    if isinstance(batch, (tuple, list)):
        return f"a {type(batch).__name__} of {len(batch)}"
    return f"a {type(batch).__name__}"


def _batch_size(target) -> int:
    shape = getattr(target, "shape", None)
    if shape is None:
        return len(target)
    return shape[0] if len(shape) else 1


def _loss_value(loss, op: str) -> float:
    if not isinstance(loss, Tensor) or loss.ndim != 0:
        what = (f"a tensor of shape {tuple(loss.shape)}" if isinstance(loss, Tensor)
                else type(loss).__name__)
        raise LaminaValueError(f"{op}: loss_fn must return a 0-d tensor (a reduced loss such as "
                               f"reduction='mean'), got {what}")
    return float(loss._data)


def _output_array(output):
    return output._data if isinstance(output, Tensor) else output


def _make_metrics(metrics, loss_fn=None) -> list[Metric]:
    if isinstance(metrics, (str, Metric)) or callable(metrics):
        metrics = [metrics]
    made = [get_metric(m) for m in metrics]
    if isinstance(loss_fn, BCEWithLogitsLoss) or loss_fn is binary_cross_entropy_with_logits:
        # the model outputs logits, so a metric named by a string thresholds at logit 0
        # (probability 0.5); metric objects keep the threshold they were given
        for spec, m in zip(metrics, made):
            if isinstance(spec, str) and hasattr(m, "threshold"):
                m.threshold = 0.0
    names = [m.name for m in made]
    for name in names:
        if names.count(name) > 1:
            raise LaminaValueError(f"fit: two metrics are named {name!r}; give them distinct names")
        if name in ("loss", "lr", "time", "epoch", "penalty"):
            raise LaminaValueError(f"fit: a metric may not be named {name!r} (a history key)")
    return made


def evaluate(model, loader: Iterable, loss_fn: Callable | None = None,
             metrics: Sequence = ()) -> dict[str, float]:
    """Loss and metrics of ``model`` over all batches of ``loader``, in eval mode and without
    recording gradients; the model's train/eval mode is restored afterwards.

    Returns ``{"loss": mean loss, <metric name>: value, ...}`` (``"loss"`` only with a
    ``loss_fn``). The mean loss weights each batch by its size, so for a loss with
    ``reduction="mean"`` it is the mean over all samples.

    >>> evaluate(model, test_loader, nn.CrossEntropyLoss(), ["accuracy"])
    {'loss': 0.1234, 'accuracy': 0.964}
    """
    if loss_fn is None and not metrics:
        raise LaminaValueError("evaluate: nothing to compute: give a loss_fn or metrics")
    return _evaluate(model, loader, loss_fn, _make_metrics(metrics, loss_fn), "evaluate")


def _evaluate(model, loader, loss_fn, metrics: list[Metric], op: str) -> dict[str, float]:
    was_training = getattr(model, "training", False)
    for m in metrics:
        m.reset()
    total, count = 0.0, 0
    model.eval()
    try:
        with no_grad():
            for batch in loader:
                inputs, target = _split_batch(batch, op)
                output = model(*inputs)
                n = _batch_size(target)
                if loss_fn is not None:
                    total += _loss_value(loss_fn(output, target), op) * n
                count += n
                out = _output_array(output)
                for m in metrics:
                    m.update(out, target)
    finally:
        model.train(was_training)
    if count == 0:
        raise LaminaValueError(f"{op}: the loader produced no samples")
    logs = {"loss": total / count} if loss_fn is not None else {}
    logs.update((m.name, _scalar(m.compute(), m.name)) for m in metrics)
    return logs


def _data_parallel(model) -> bool:
    """Whether ``model`` is a ``DistributedDataParallel`` replica of a job of 2+ ranks."""
    from lamina.nn.parallel import DistributedDataParallel

    return isinstance(model, DistributedDataParallel) and model.world_size > 1


def _reduce_logs(logs: dict, count: int) -> dict:
    """The epoch's logs over all ranks of a data-parallel job, the same on every rank: each
    value is averaged with the weight of the rank's sample count. That is exact for the
    loss and for metrics that are means over samples (accuracy, top-k accuracy, MSE, MAE)
    and an approximation for the others (RMSE, R^2, precision/recall/F1 are computed per
    rank, then averaged)."""
    from lamina import distributed as dist

    keys = list(logs)
    arr = Tensor(np.array([count, *(logs[k] * count for k in keys)], dtype=np.float64))
    dist.all_reduce(arr)
    total = arr._data[0]
    return {k: float(v / total) for k, v in zip(keys, arr._data[1:])}


def _scalar(value, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise LaminaTypeError(f"fit: metric {name!r} returned {type(value).__name__}, not a "
                              f"number; "
                              f"only scalar metrics can be recorded per epoch") from None


def predict(model, data, batch_size: int | None = None,
            compile: bool = False) -> Tensor:  # noqa: A002
    """The model's outputs for ``data``, in eval mode and without recording gradients (the
    model's mode is restored afterwards).

    ``compile=True`` runs the model through ``lamina.compile`` (one compiled forward per model,
    kept between calls: the first batch of each shape records it, the others replay it; the
    outputs are bit-identical to eager mode's).

    ``data`` is a ``Tensor`` or array of inputs (run in chunks of ``batch_size`` rows when
    given, else all at once) or a loader; from a loader's ``(inputs..., target)`` batches the
    target is dropped, and batches that are a single tensor (or a 1-element list, as from
    ``TensorDataset(x)``) are the input. Returns the outputs concatenated along dim 0.

    >>> probs = predict(model, x_test).softmax(dim=1)
    """
    if isinstance(data, np.ndarray):
        data = Tensor(data)
    if isinstance(data, Tensor):
        if batch_size is None:
            batches = [(data,)]
        else:
            if not isinstance(batch_size, int) or batch_size < 1:
                raise LaminaValueError(f"predict: batch_size must be a positive integer, got "
                                       f"{batch_size!r}")
            batches = [(data[i:i + batch_size],) for i in range(0, data.shape[0], batch_size)]
    else:
        batches = (_predict_inputs(b) for b in data)
    was_training = getattr(model, "training", False)
    model.eval()
    outputs = []
    try:
        forward = _compiled_forward(model) if compile else model
        with no_grad():
            for inputs in batches:
                outputs.append(forward(*inputs))
    finally:
        model.train(was_training)
    if not outputs:
        raise LaminaValueError("predict: no input batches")
    if not all(isinstance(o, Tensor) for o in outputs):
        raise LaminaTypeError(f"predict: the model returned {type(outputs[0]).__name__}; predict "
                              f"concatenates Tensor outputs only")
    return outputs[0] if len(outputs) == 1 else cat(outputs, dim=0)


def _detached(output):
    """``output`` with its tensors detached (one level of tuples and lists)."""
    if isinstance(output, Tensor):
        return output.detach()
    if isinstance(output, (tuple, list)):
        return type(output)(o.detach() if isinstance(o, Tensor) else o for o in output)
    return output


_COMPILED_FORWARDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _compiled_forward(model):
    """``lamina.compile(model)``, made once per model and kept while the model lives."""
    fn = _COMPILED_FORWARDS.get(model)
    if fn is None:
        fn = _COMPILED_FORWARDS[model] = CompiledFunction(model)
    return fn


def _predict_inputs(batch) -> tuple:
    if isinstance(batch, Tensor):
        return (batch,)
    if isinstance(batch, (tuple, list)):
        if len(batch) == 1:
            return tuple(batch)
        return tuple(batch[:-1])
    raise LaminaTypeError(f"predict: expected batches of tensors or (inputs..., target), got "
                          f"{_describe(batch)}")


class Trainer:
    """The state of one training setup; ``fit`` runs epochs and returns a ``History``.

    The ``fit`` function is ``Trainer(...).fit(...)``; use the class to keep the trainer
    (callbacks receive it: ``trainer.model``, ``trainer.optimizer``, ``trainer.history``,
    ``trainer.epoch``, ``trainer.stop_training``). Arguments as in ``fit``.
    """

    def __init__(self, model, loss_fn: Callable, optimizer, *, metrics: Sequence = (),
                 callbacks: Sequence[Callback] = (), scheduler=None,
                 regularization: Callable | None = None, progress: bool | None = None,
                 verbose: int = 1, stream=None, stop_on_nonfinite: bool = True,
                 compile: bool = False) -> None:  # noqa: A002
        if not callable(model) or not hasattr(model, "train"):
            raise LaminaTypeError(f"fit: model must be a Module, got {type(model).__name__}")
        if not callable(loss_fn):
            raise LaminaTypeError(f"fit: loss_fn must be callable, got {type(loss_fn).__name__}")
        if not (hasattr(optimizer, "step") and hasattr(optimizer, "zero_grad")):
            raise LaminaTypeError(f"fit: optimizer must be an Optimizer, got "
                                  f"{type(optimizer).__name__}")
        if regularization is not None and not callable(regularization):
            raise LaminaTypeError(f"fit: regularization must be a function of the model, such as "
                                  f"lambda m: nn.utils.l2_penalty(m, 1e-4); got "
                                  f"{type(regularization).__name__}")
        if verbose not in (0, 1, 2):
            raise LaminaValueError(f"fit: verbose must be 0 (silent), 1 (a bar on a terminal and a "
                                   f"line per epoch) or 2 (a line per epoch), got {verbose!r}")
        callbacks = list(callbacks)
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise LaminaTypeError(f"fit: callbacks must be Callback instances, got "
                                      f"{type(cb).__name__}")
        if scheduler is not None:
            callbacks.insert(0, LRSchedulerCallback(scheduler))
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.metrics = _make_metrics(metrics, loss_fn)
        self.val_metrics = [copy.deepcopy(m) for m in self.metrics]
        self.callbacks = callbacks
        self.regularization = regularization
        self.progress = progress
        self.verbose = verbose
        self.stream = stream
        self.stop_on_nonfinite = bool(stop_on_nonfinite)
        self.compiled_step = CompiledFunction(self._step) if compile else None
        self.history = History()
        self.epoch = 0
        self.epochs = 0
        self.stop_training = False

    # --- output ---------------------------------------------------------------------------
    @property
    def out(self):
        """Where lines go: ``stream`` if given, else ``sys.stdout`` at the time of writing."""
        return self.stream if self.stream is not None else sys.stdout

    def print(self, line: str) -> None:
        """Print a line unless ``verbose=0`` (callbacks report through this)."""
        if self.verbose:
            print(line, file=self.out, flush=True)

    def _show_bar(self) -> bool:
        if self.verbose == 0:
            return False
        if self.progress is None:
            return self.verbose == 1 and is_terminal(self.out)
        return bool(self.progress)

    # --- the loop -------------------------------------------------------------------------
    def fit(self, train_loader: Iterable, epochs: int = 1,
            val_loader: Iterable | None = None) -> History:
        """Train for ``epochs`` epochs (fewer if a callback stops training); returns the
        ``History`` (also kept as ``self.history``)."""
        if not isinstance(epochs, (int, np.integer)) or isinstance(epochs, bool) or epochs < 0:
            raise LaminaValueError(f"fit: epochs must be an integer >= 0, got {epochs!r}")
        self.history = History()
        self.epochs = int(epochs)
        self.stop_training = False
        for cb in self.callbacks:
            cb.on_train_begin(self)
        try:
            for epoch in range(1, self.epochs + 1):
                self.epoch = epoch
                for cb in self.callbacks:
                    cb.on_epoch_begin(self, epoch)
                start = time.perf_counter()
                lr = float(self.optimizer.param_groups[0]["lr"])
                logs = {"epoch": epoch, **self.train_epoch(train_loader)}
                if self.stop_on_nonfinite and not _params_finite(self.model):
                    self._diverged(None, logs["loss"], None,
                                   "the parameters hold NaN or inf after the epoch's last "
                                   "step (a finite loss with overflowing gradients)")
                if val_loader is not None:
                    val = _evaluate(self.model, val_loader, self.loss_fn, self.val_metrics,
                                    "fit")
                    logs.update((f"val_{k}", v) for k, v in val.items())
                logs["lr"] = lr
                logs["time"] = time.perf_counter() - start
                self.history.append(logs)
                self.print(format_epoch(epoch, self.epochs, logs))
                for cb in self.callbacks:
                    cb.on_epoch_end(self, epoch, logs)
                if self.stop_training:
                    break
        finally:
            for cb in self.callbacks:
                cb.on_train_end(self)
        return self.history

    def train_epoch(self, loader: Iterable) -> dict[str, float]:
        """One pass over ``loader`` in train mode with an optimizer step per batch; returns
        the epoch's mean loss, metrics and (with a regularization term) mean penalty. A
        callback that sets ``stop_training`` in ``on_batch_end`` ends the pass early."""
        model, optimizer, loss_fn, reg = (self.model, self.optimizer, self.loss_fn,
                                          self.regularization)
        for m in self.metrics:
            m.reset()
        total = penalty_total = 0.0
        count = batches = 0
        bar = None
        if self._show_bar():
            try:
                n_batches = len(loader)
            except TypeError:
                n_batches = None
            bar = EpochBar(n_batches, f"epoch {self.epoch}/{self.epochs}", self.out)
        model.train()
        try:
            for i, batch in enumerate(loader):
                inputs, target = _split_batch(batch, "fit")
                if self.compiled_step is not None:
                    output, value, pvalue = self._compiled_batch(i, inputs, target)
                    if pvalue is not None:
                        penalty_total += pvalue
                else:
                    optimizer.zero_grad()
                    output = model(*inputs)
                    loss = loss_fn(output, target)
                    value = _loss_value(loss, "fit")
                    if reg is not None:
                        penalty = reg(model)
                        pvalue = float(penalty._data if isinstance(penalty, Tensor) else penalty)
                        penalty_total += pvalue
                        loss = loss + penalty
                        if self.stop_on_nonfinite and not np.isfinite(pvalue):
                            self._diverged(i, pvalue, None, "the regularization penalty is "
                                           f"{pvalue}")
                    if self.stop_on_nonfinite and not np.isfinite(value):
                        # before backward and step: the model keeps its last finite weights
                        self._diverged(i, value, _nonfinite_part((*inputs, target)))
                    loss.backward()
                    optimizer.step()

                n = _batch_size(target)
                total += value * n
                count += n
                batches += 1
                out = _output_array(output)
                for m in self.metrics:
                    m.update(out, target)
                for cb in self.callbacks:
                    cb.on_batch_end(self, i, {"loss": value})
                if bar is not None:
                    bar.update(value)
                if self.stop_training:      # set by a callback: end the epoch here (Keras)
                    break
        finally:
            if bar is not None:
                bar.close()
        if count == 0:
            raise LaminaValueError("fit: train_loader produced no batches")
        logs = {"loss": total / count}
        if reg is not None:
            logs["penalty"] = penalty_total / batches
        logs.update((m.name, _scalar(m.compute(), m.name)) for m in self.metrics)
        if _data_parallel(model):
            logs = _reduce_logs(logs, count)
        return logs

    def _step(self, target, *inputs):
        """One training step, the function ``compile=True`` compiles: zero_grad, forward,
        loss (+ penalty), backward, step; returns the loss, output and penalty detached."""
        self.optimizer.zero_grad()
        output = self.model(*inputs)
        loss = self.loss_fn(output, target)
        total, penalty = loss, None
        if self.regularization is not None:
            penalty = self.regularization(self.model)
            total = loss + penalty
            if isinstance(penalty, Tensor):
                penalty = penalty.detach()
        total.backward()
        self.optimizer.step()
        return loss.detach(), _detached(output), penalty

    def _compiled_batch(self, i, inputs, target):
        """``(output, loss value, penalty value or None)`` of one compiled step. The
        non-finite checks run after it: the step cannot stop half-way, so on a non-finite
        loss the model holds the weights that step gave."""
        loss, output, penalty = self.compiled_step(target, *inputs)
        value = _loss_value(loss, "fit")
        pvalue = None
        if self.regularization is not None:
            pvalue = float(penalty._data if isinstance(penalty, Tensor) else penalty)
            if self.stop_on_nonfinite and not np.isfinite(pvalue):
                self._diverged(i, pvalue, None, f"the regularization penalty is {pvalue}",
                               stepped=True)
        if self.stop_on_nonfinite and not np.isfinite(value):
            self._diverged(i, value, _nonfinite_part((*inputs, target)), stepped=True)
        return output, value, pvalue

    def _diverged(self, batch: int | None, loss: float, bad_input: str | None,
                  what: str | None = None, stepped: bool = False) -> None:
        where = (f"epoch {self.epoch}, batch {batch} (counting from 0)" if batch is not None
                 else f"the end of epoch {self.epoch}")
        lr = self.optimizer.param_groups[0].get("lr") if getattr(
            self.optimizer, "param_groups", None) else None
        lr_text = f" (lr is {lr:g})" if isinstance(lr, (int, float)) else ""
        if bad_input is not None:
            cause = (f"the training loss is {loss} at {where}: {bad_input}; fix or drop the "
                     f"non-finite values in the training data")
        else:
            cause = (f"training diverged at {where}: "
                     + (what or f"the training loss is {loss}")
                     + f"; try a smaller learning rate{lr_text}, gradient clipping or "
                     "standardized inputs")
        raise TrainingDivergedError(
            f"fit: {cause}. The model keeps the weights from "
            + ("after that (compiled) step" if stepped else "before that step")
            + " and no checkpoint of this epoch is written; fit(..., stop_on_nonfinite=False) "
            "trains on regardless", self.epoch, batch, loss, bad_input)

    def evaluate(self, loader: Iterable) -> dict[str, float]:
        """Loss and metrics on ``loader`` (see ``evaluate``)."""
        return _evaluate(self.model, loader, self.loss_fn, self.val_metrics, "evaluate")

    def predict(self, data, batch_size: int | None = None, compile: bool = False) -> Tensor:  # noqa: A002
        """The model's outputs for ``data`` (see ``predict``)."""
        return predict(self.model, data, batch_size, compile)


def fit(model, loss_fn: Callable, optimizer, train_loader: Iterable, epochs: int = 1,
        val_loader: Iterable | None = None, *, metrics: Sequence = (),
        callbacks: Sequence[Callback] = (), scheduler=None,
        regularization: Callable | None = None, progress: bool | None = None,
        verbose: int = 1, stop_on_nonfinite: bool = True,
        compile: bool = False) -> History:  # noqa: A002
    """Train ``model`` for ``epochs`` epochs and return the ``History`` of per-epoch values.

    Args:
        model: the ``Module`` to train (``model(*inputs)`` gives the output).
        loss_fn: ``loss_fn(output, target)`` -> 0-d tensor, e.g. ``nn.CrossEntropyLoss()``.
        optimizer: an optimizer over the model's parameters.
        train_loader: an iterable of ``(inputs..., target)`` batches, such as a
            ``DataLoader``; iterated once per epoch.
        epochs: the number of epochs.
        val_loader: batches for validation after every epoch (eval mode, no gradients),
            recorded as ``val_loss`` and ``val_<metric>``.
        metrics: names (``"accuracy"``, ``"top5_accuracy"``, ``"mse"``, ``"rmse"``,
            ``"mae"``, ``"r2"``, ``"precision"``, ``"recall"``, ``"f1"``), ``Metric``
            objects or functions ``fn(output, target) -> float``; computed on the training
            batches (as the model was when it saw each batch) and on the validation data.
            With ``nn.BCEWithLogitsLoss`` the outputs are logits, so metrics given by name
            threshold them at 0 (probability 0.5) instead of 0.5.
        callbacks: ``Callback`` objects (``EarlyStopping``, ``ModelCheckpoint``,
            ``CSVLogger``, ...), run in order.
        scheduler: a learning-rate scheduler stepped after every epoch;
            ``ReduceLROnPlateau`` receives ``val_loss`` (or ``loss`` without validation
            data). For other monitors or per-step schedules use ``LRSchedulerCallback``.
        regularization: ``regularization(model)`` -> a 0-d tensor added to the loss that is
            minimized, e.g. ``lambda m: nn.utils.l2_penalty(m, 1e-4)``. The recorded
            ``loss`` stays the data loss (comparable to ``val_loss``); the penalty's mean is
            recorded as ``penalty``.
        progress: show a progress bar per epoch: ``None`` (default) when standard output
            is a terminal and ``verbose=1``; ``True`` or ``False`` to force.
        verbose: 0 prints nothing, 1 a line per epoch (and the bar on a terminal), 2 a line
            per epoch and never a bar.
        stop_on_nonfinite: raise ``TrainingDivergedError`` at the first training batch whose
            loss (or regularization penalty) is NaN or infinite, before its backward pass
            and optimizer step, and at the end of an epoch whose parameters are no longer
            finite. The message names the epoch and batch and, when that batch's inputs or
            targets hold NaN/inf, says so; callbacks' ``on_train_end`` still runs and the
            unfinished epoch is neither recorded nor checkpointed. ``False`` trains on.
        compile: run each training step (zero_grad, forward, loss, penalty, backward, step)
            through ``lamina.compile``: the first batch of each shape records the step, the
            others replay it, with the same values bit for bit (off by default). The
            non-finite check then runs after the step, so on a non-finite loss the model
            holds the weights that step gave.

    Returns:
        ``History``: ``history["loss"]``, ``history["val_accuracy"]``, ... one value per
        epoch run, plus ``epoch``, ``lr`` (first parameter group, as used in that epoch)
        and ``time`` (seconds, validation included).

    Raises:
        TrainingDivergedError: a non-finite loss, with ``stop_on_nonfinite=True``.
    """
    trainer = Trainer(model, loss_fn, optimizer, metrics=metrics, callbacks=callbacks,
                      scheduler=scheduler, regularization=regularization, progress=progress,
                      verbose=verbose, stop_on_nonfinite=stop_on_nonfinite, compile=compile)
    return trainer.fit(train_loader, epochs, val_loader)
