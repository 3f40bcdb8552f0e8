"""scikit-learn estimators around lamina networks: ``NeuralNetClassifier`` and
``NeuralNetRegressor``.

They follow scikit-learn's estimator contract, so ``cross_val_score``, ``GridSearchCV``,
``Pipeline`` and the rest of ``sklearn.model_selection`` work on them:

* the constructor stores its arguments verbatim (no validation until ``fit``);
  ``get_params``/``set_params``/``clone`` come from ``BaseEstimator``;
* ``fit(X, y)`` builds a fresh network and trains it with ``lamina.train.fit``; what it learns
  ends with ``_``: ``module_`` (the trained ``nn.Module``), ``history_`` (the per-epoch
  ``History``), ``n_features_in_``, ``classes_`` (classifier), ``n_outputs_`` (regressor),
  ``x_mean_``/``x_scale_`` (with ``standardize=True``);
* ``predict``, ``predict_proba`` (classifier), ``score`` (accuracy, R^2).

The network is ``module(n_features_in, n_outputs)`` when ``module`` is a callable (a factory
such as ``lambda n_in, n_out: nn.Sequential(...)``), else an MLP with ``hidden_sizes`` and
``activation`` (``lamina.models.mlp``). It outputs logits (classifier, one per class, trained
with ``nn.CrossEntropyLoss``) or values (regressor, ``nn.MSELoss``); ``loss`` replaces the
default. The random seed is ``random_state`` (scikit-learn's name, so its tools can set it):
it seeds the weight initialization, dropout and the batch order; fitting does not disturb
lamina's global random stream.

Needs scikit-learn: ``pip install lamina[sklearn]``.

>>> from sklearn.model_selection import GridSearchCV
>>> clf = NeuralNetClassifier(hidden_sizes=(32,), epochs=50, random_state=0)
>>> search = GridSearchCV(clf, {"weight_decay": [0, 1e-3, 1e-2]}, cv=5).fit(X, y)
>>> search.best_params_
"""

from __future__ import annotations

import numbers

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted
except ImportError as e:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        f"lamina.sklearn needs the optional dependency 'scikit-learn', which is not installed "
        f"(or failed to import: {e}); install it with `pip install lamina[sklearn]` (or "
        f"`pip install scikit-learn`)") from e

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    def _validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)

from lamina import backend, nn, optim
from lamina.autograd import no_grad
from lamina.data import DataLoader, TensorDataset, train_val_test_split
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor
from lamina.train import fit as _train_fit

__all__ = ["NeuralNetClassifier", "NeuralNetRegressor"]

_OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW,
               "rmsprop": optim.RMSprop, "adagrad": optim.Adagrad,
               "adadelta": optim.Adadelta}
_DTYPES = {"float32": np.float32, "float64": np.float64}
_LOSSES = {"cross_entropy": nn.CrossEntropyLoss, "mse": nn.MSELoss, "l1": nn.L1Loss,
           "mae": nn.L1Loss, "huber": nn.HuberLoss, "smooth_l1": nn.SmoothL1Loss}


class _NeuralNetBase(BaseEstimator):
    """What the classifier and the regressor share (parameters, checks, the training run)."""

    _op = "NeuralNet"

    def __init__(self, module=None, *, hidden_sizes=(100,), activation="relu", loss=None,
                 optimizer="adam", lr=1e-3, optimizer_kwargs=None, epochs=100, batch_size=32,
                 weight_decay=0.0, standardize=False, validation_fraction=None,
                 dtype="float32", callbacks=None, random_state=None, verbose=0):
        self.module = module
        self.hidden_sizes = hidden_sizes
        self.activation = activation
        self.loss = loss
        self.optimizer = optimizer
        self.lr = lr
        self.optimizer_kwargs = optimizer_kwargs
        self.epochs = epochs
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.standardize = standardize
        self.validation_fraction = validation_fraction
        self.dtype = dtype
        self.callbacks = callbacks
        self.random_state = random_state
        self.verbose = verbose

    # --- parameter checks (at fit time, scikit-learn's convention) -----------------------
    def _check_params(self) -> None:
        op = f"{type(self).__name__}.fit"

        def positive_int(name):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise LaminaValueError(f"{op}: {name} must be a positive int, got {v!r}")

        positive_int("epochs")
        positive_int("batch_size")
        for name in ("lr", "weight_decay"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v >= 0:
                raise LaminaValueError(f"{op}: {name} must be a number >= 0, got {v!r}")
        if self.module is not None and not callable(self.module):
            raise LaminaTypeError(f"{op}: module must be a factory module(n_features_in, "
                                  f"n_outputs) "
                                  f"-> nn.Module, or None for an MLP of hidden_sizes; got "
                                  f"{type(self.module).__name__}")
        if self.module is None:
            hs = self.hidden_sizes
            if isinstance(hs, numbers.Integral) and not isinstance(hs, bool):
                hs = (hs,)
            if not all(isinstance(h, numbers.Integral) and not isinstance(h, bool) and h > 0
                       for h in hs):
                raise LaminaValueError(f"{op}: hidden_sizes must be positive ints, got "
                                       f"{self.hidden_sizes!r}")
        if isinstance(self.optimizer, str):
            if self.optimizer.lower() not in _OPTIMIZERS:
                raise LaminaValueError(f"{op}: unknown optimizer {self.optimizer!r}; expected one "
                                       f"of {', '.join(_OPTIMIZERS)} or an Optimizer class")
        elif not callable(self.optimizer):
            raise LaminaTypeError(f"{op}: optimizer must be a name or an Optimizer class, got "
                                  f"{type(self.optimizer).__name__}")
        if isinstance(self.loss, str):
            if self.loss.lower() not in _LOSSES:
                raise LaminaValueError(f"{op}: unknown loss {self.loss!r}; expected one of "
                                       f"{', '.join(_LOSSES)} or a loss function / module")
        elif self.loss is not None and not callable(self.loss):
            raise LaminaTypeError(f"{op}: loss must be a name, a loss module or a function "
                                  f"loss(output, target); got {type(self.loss).__name__}")
        vf = self.validation_fraction
        if vf is not None and (isinstance(vf, bool) or not isinstance(vf, numbers.Real)
                               or not 0 < vf < 1):
            raise LaminaValueError(f"{op}: validation_fraction must be None or a number in (0, 1), "
                                   f"got {vf!r}")
        if self.dtype not in _DTYPES:
            raise LaminaValueError(f"{op}: dtype must be 'float32' or 'float64', got "
                                   f"{self.dtype!r}")

    # --- building blocks -----------------------------------------------------------------
    def _build_module(self, n_in: int, n_out: int) -> nn.Module:
        if self.module is not None:
            module = self.module(n_in, n_out)
            if not isinstance(module, nn.Module):
                raise LaminaTypeError(f"{type(self).__name__}.fit: module(n_features_in, "
                                      f"n_outputs) "
                                      f"must return an nn.Module, got {type(module).__name__}")
            return module
        from lamina.models import mlp
        hs = self.hidden_sizes
        hs = [hs] if isinstance(hs, numbers.Integral) else list(hs)
        return mlp(n_in, hs, n_out, activation=self.activation)

    def _build_optimizer(self, params):
        cls = (_OPTIMIZERS[self.optimizer.lower()] if isinstance(self.optimizer, str)
               else self.optimizer)
        kwargs = dict(self.optimizer_kwargs or {})
        kwargs.setdefault("weight_decay", self.weight_decay)
        return cls(params, lr=self.lr, **kwargs)

    def _scale(self, X: np.ndarray) -> np.ndarray:
        if self.standardize:
            X = (X - self.x_mean_) / self.x_scale_
        return np.ascontiguousarray(X, dtype=_DTYPES[self.dtype])

    def _fit(self, X: np.ndarray, y: np.ndarray, n_out: int, y_dtype, default_loss,
             stratify: bool = False):
        self._check_params()
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        val = None
        if self.validation_fraction is not None:
            X, X_val, y, y_val = self._split(X, y, seed, stratify)
        if self.standardize:            # statistics of the training part only
            self.x_mean_ = X.mean(axis=0)
            std = X.std(axis=0)
            self.x_scale_ = np.where(std > 0, std, 1.0)  # constant features stay as they are
        if self.validation_fraction is not None:
            val = DataLoader(TensorDataset(Tensor(self._scale(X_val)),
                                           Tensor(y_val.astype(y_dtype))),
                             batch_size=max(int(self.batch_size), 256))
        Xs = self._scale(X)
        dtype = _DTYPES[self.dtype]
        with backend.fork_rng(seed):
            module = self._build_module(X.shape[1], n_out)
            module.to(dtype=dtype)
            opt = self._build_optimizer(module.parameters())
            loader = DataLoader(TensorDataset(Tensor(Xs), Tensor(y.astype(y_dtype))),
                                batch_size=int(self.batch_size), shuffle=True, seed=seed)
            if self.loss is None:
                loss_fn = default_loss
            elif isinstance(self.loss, str):
                loss_fn = _LOSSES[self.loss.lower()]()
            else:
                loss_fn = self.loss
            self.history_ = _train_fit(module, loss_fn, opt, loader, int(self.epochs),
                                       val_loader=val, callbacks=list(self.callbacks or ()),
                                       verbose=2 if self.verbose else 0)
        self.module_ = module
        return self

    def _split(self, X, y, seed: int, stratify: bool):
        """Hold out ``validation_fraction`` of the samples (class-stratified for classifiers
        when every class has at least two members)."""
        strat = None
        if stratify and np.bincount(y).min() >= 2:
            strat = y
        idx = np.arange(len(y))
        tr, va, _ = train_val_test_split(idx, val=float(self.validation_fraction), test=0,
                                         seed=seed, stratify=strat)
        if len(va) == 0:
            raise LaminaValueError(f"{type(self).__name__}.fit: validation_fraction="
                                   f"{self.validation_fraction} of {len(y)} samples leaves no "
                                   f"validation sample")
        return X[tr], X[va], y[tr], y[va]

    def _forward(self, X) -> np.ndarray:
        check_is_fitted(self, "module_")
        X = _validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        Xs = self._scale(X)
        was = self.module_.training
        self.module_.eval()
        try:
            with no_grad():
                out = self.module_(Tensor(Xs))
        finally:
            self.module_.train(was)
        return np.asarray(out._data, dtype=np.float64)


class NeuralNetClassifier(ClassifierMixin, _NeuralNetBase):
    """A lamina network as a scikit-learn classifier (softmax over one logit per class).

    Args:
        module: ``module(n_features_in, n_classes) -> nn.Module`` returning logits; ``None``
            (default) builds an MLP of ``hidden_sizes`` with ``activation``.
        hidden_sizes: hidden layer widths of the default MLP (default ``(100,)``; ``()`` is
            a single linear layer: multinomial logistic regression).
        activation: the default MLP's activation (``'relu'``, ``'tanh'``, ...).
        loss: the training loss: ``None`` for ``nn.CrossEntropyLoss()``, a loss module or
            function ``loss(logits, class_indices)``, or a name (``'cross_entropy'``;
            regressors: ``'mse'``, ``'l1'``/``'mae'``, ``'huber'``, ``'smooth_l1'``).
        optimizer: ``'adam'`` (default), ``'sgd'``, ``'adamw'``, ``'rmsprop'``, ``'adagrad'``,
            ``'adadelta'``, or an optimizer class; ``lr`` its learning rate (default 1e-3)
            and ``optimizer_kwargs`` further arguments (``{'momentum': 0.9}``).
        epochs: passes over the training data (default 100); ``batch_size`` default 32.
        weight_decay: the optimizer's L2 weight decay (default 0).
        standardize: standardize the inputs with the training set's mean and standard
            deviation (default ``False``; or put a ``StandardScaler`` in a ``Pipeline``).
        dtype: ``'float32'`` (default) or ``'float64'`` for the network's computations.
        validation_fraction: hold out this fraction of the training samples (stratified by
            class) as validation data: ``history_`` then records ``val_loss`` each epoch, and
            callbacks such as ``EarlyStopping('val_loss', restore_best_weights=True)`` can
            use it. Default ``None``: train on everything.
        callbacks: ``lamina.train`` callbacks for the training run.
        random_state: seed of the initialization, dropout and batch order (``None``: a fresh
            draw from NumPy's global generator).
        verbose: 1 prints a line per epoch.

    >>> clf = NeuralNetClassifier(hidden_sizes=(64,), epochs=30, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).round(2)
    """

    def fit(self, X, y):
        """Train a fresh network on ``X`` (n_samples, n_features) and labels ``y``."""
        X, y = _validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        return self._fit(X, y_idx.reshape(-1), len(self.classes_), np.int64,
                         nn.CrossEntropyLoss(), stratify=True)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, ``(n_samples, n_classes)``, columns in ``classes_`` order."""
        logits = self._forward(X)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        return p

    def predict_log_proba(self, X) -> np.ndarray:
        """Log class probabilities (a stable log-softmax of the logits)."""
        logits = self._forward(X)
        logits -= logits.max(axis=1, keepdims=True)
        return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))

    def predict(self, X) -> np.ndarray:
        """The most probable class of each sample (a label from ``classes_``)."""
        scores = self._forward(X)            # checks that the estimator is fitted first
        return self.classes_[scores.argmax(axis=1)]


class NeuralNetRegressor(RegressorMixin, _NeuralNetBase):
    """A lamina network as a scikit-learn regressor (one output per target column).

    Arguments as for ``NeuralNetClassifier``, except: ``module(n_features_in, n_outputs)``
    returns the predictions, and the default loss is ``nn.MSELoss()``. ``y`` may be 1-D
    (``predict`` returns 1-D) or 2-D with several targets. Targets are not rescaled: for
    targets far from unit scale, wrap the estimator in
    ``sklearn.compose.TransformedTargetRegressor`` with a ``StandardScaler``.
    """

    def fit(self, X, y):
        """Train a fresh network on ``X`` (n_samples, n_features) and targets ``y``."""
        X, y = _validate_data(self, X, y, dtype=[np.float64, np.float32], y_numeric=True,
                              multi_output=True)
        y = np.asarray(y, dtype=np.float64)
        self._y_is_1d = y.ndim == 1
        y2 = y.reshape(len(y), -1)
        self.n_outputs_ = y2.shape[1]
        return self._fit(X, y2, self.n_outputs_, _DTYPES[self.dtype], nn.MSELoss())

    def predict(self, X) -> np.ndarray:
        """Predicted targets: ``(n_samples,)`` if fitted on 1-D ``y``, else 2-D."""
        out = self._forward(X)
        return out[:, 0] if self._y_is_1d else out

    def __sklearn_tags__(self):   # scikit-learn >= 1.6
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self):         # the same for scikit-learn < 1.6
        return {"multioutput": True}
