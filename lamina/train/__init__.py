"""Training toolkit: the ``fit`` loop, metrics, callbacks and progress display.

* ``fit(model, loss_fn, optimizer, train_loader, epochs, val_loader=...)`` trains and returns
  a ``History``; ``evaluate`` and ``predict`` run a model in eval mode without gradients.
* ``metrics``: accuracy, top-k accuracy, MSE/RMSE/MAE/R^2, confusion matrix,
  precision/recall/F1, as functions and as streaming ``Metric`` objects.
* ``callbacks``: ``EarlyStopping``, ``ModelCheckpoint``, ``LRSchedulerCallback``,
  ``CSVLogger``, ``JSONLogger``, ``TerminateOnNaN``, ``LambdaCallback``.
* ``gan``: ``GANTrainer`` (adversarial training, two optimizers) and ``sample_quality``;
  ``images``: ``make_grid`` / ``save_grid`` for sample grids.

>>> from lamina.train import fit, EarlyStopping
>>> history = fit(model, nn.CrossEntropyLoss(), opt, train_loader, epochs=50,
...               val_loader=val_loader, metrics=["accuracy"],
...               callbacks=[EarlyStopping(patience=5, restore_best_weights=True)])
"""

from lamina.train import metrics
from lamina.train.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    JSONLogger,
    LambdaCallback,
    LRSchedulerCallback,
    ModelCheckpoint,
    TerminateOnNaN,
    load_checkpoint,
)
from lamina.train.distill import distill
from lamina.train.gan import GANHistory, GANTrainer, sample_quality
from lamina.train.history import History
from lamina.train.images import make_grid, save_grid
from lamina.train.metrics import Metric
from lamina.train.trainer import Trainer, TrainingDivergedError, evaluate, fit, predict

__all__ = ["distill",
    "fit", "evaluate", "predict", "Trainer", "TrainingDivergedError", "History", "metrics",
    "Metric",
    "Callback", "EarlyStopping", "ModelCheckpoint", "load_checkpoint", "LRSchedulerCallback",
    "CSVLogger", "JSONLogger", "TerminateOnNaN", "LambdaCallback",
    "GANTrainer", "GANHistory", "sample_quality", "make_grid", "save_grid",
]
