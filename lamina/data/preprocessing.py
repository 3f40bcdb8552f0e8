"""Preprocessing: scalers, one-hot encodings and polynomial features.

The fit/transform discipline of scikit-learn: ``fit`` learns statistics from the training
data only, ``transform`` applies them to training, validation and test data alike, so no
information leaks from the held-out sets. Every function accepts a lamina ``Tensor`` or a
NumPy array and returns the same kind; the work is done on the raw arrays (no autograd graph
is recorded: this is data preparation, not part of a model).
"""

from __future__ import annotations

import numpy as np

from lamina.backend import get_default_dtype
from lamina.errors import LaminaError, LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor, _make

__all__ = ["StandardScaler", "MinMaxScaler", "OneHotEncoder", "one_hot", "polynomial_features"]

_EPS = np.finfo(np.float64).eps


def _unwrap(x, op: str):
    """(array, was_tensor) for a Tensor, an array or array-like data."""
    if isinstance(x, Tensor):
        return x._data, True
    if isinstance(x, np.ndarray):
        return x, False
    try:
        return np.asarray(x), False
    except Exception:  # noqa: BLE001
        raise LaminaTypeError(f"{op}: expected a Tensor or a NumPy array, got "
                              f"{type(x).__name__}") from None


def _float_array(x, op: str):
    """The input as a floating array (ints become float64, or the default dtype for tensors)."""
    arr, is_t = _unwrap(x, op)
    if arr.dtype.kind == "f":
        return arr, is_t
    if arr.dtype.kind not in "biu":
        raise LaminaTypeError(f"{op}: expected numeric data, got dtype {arr.dtype}")
    return arr.astype(get_default_dtype() if is_t else np.float64), is_t


def _rewrap(arr: np.ndarray, is_tensor: bool):
    return _make(arr) if is_tensor else arr


def _check_2d(arr: np.ndarray, op: str) -> None:
    if arr.ndim < 1:
        raise LaminaValueError(f"{op}: expected an array with a sample dimension, got a 0-d array")


def _handle_zeros(scale: np.ndarray, constant=None) -> np.ndarray:
    """Scikit-learn's rule: a (near-)zero scale becomes 1, so constant features stay finite."""
    scale = np.array(scale, dtype=np.float64, copy=True)
    zero = scale < 10 * _EPS
    if constant is not None:
        zero |= constant
    scale[zero] = 1.0
    return scale


class _Fitted:
    _fitted_attr = ""

    def _check_fitted(self, op: str) -> None:
        if getattr(self, self._fitted_attr, None) is None:
            raise LaminaError(f"{type(self).__name__}.{op}: this instance is not fitted yet; "
                              "call fit() on the training data first")

    def _check_features(self, arr: np.ndarray, op: str) -> None:
        if arr.shape[1:] != self._feature_shape:
            raise LaminaValueError(f"{type(self).__name__}.{op}: X has feature shape "
                                   f"{arr.shape[1:]}, but this scaler was fitted on feature shape "
                                   f"{self._feature_shape}")

    def fit_transform(self, x):
        """``fit(x)`` then ``transform(x)``."""
        return self.fit(x).transform(x)


class StandardScaler(_Fitted):
    """Standardize features: ``z = (x - mean) / std`` with the mean and (population, ddof=0)
    standard deviation of the training data, per feature (over dimension 0).

    Features with zero variance get a scale of 1 (they become 0 after centering), as in
    scikit-learn. Statistics are computed in float64; outputs keep the input's float dtype.
    Unlike scikit-learn, NaNs are not skipped in ``fit``: they propagate (clean data first).

    Attributes (after ``fit``): ``mean_``, ``var_``, ``scale_`` (float64 arrays of the
    feature shape; ``var_`` and ``scale_`` are ``None`` with ``with_std=False``),
    ``n_samples_seen_``, ``n_features_in_``.

    >>> scaler = StandardScaler().fit(x_train)
    >>> x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    """

    _fitted_attr = "n_samples_seen_"

    def __init__(self, with_mean: bool = True, with_std: bool = True):
        self.with_mean = with_mean
        self.with_std = with_std
        self.mean_ = self.var_ = self.scale_ = None
        self.n_samples_seen_ = None

    def fit(self, x) -> StandardScaler:
        arr, _ = _float_array(x, "StandardScaler.fit")
        _check_2d(arr, "StandardScaler.fit")
        if arr.shape[0] == 0:
            raise LaminaValueError("StandardScaler.fit: found an array with 0 samples; at least 1 "
                                   "is required")
        a64 = arr.astype(np.float64, copy=False)
        n = arr.shape[0]
        mean = a64.mean(axis=0)
        self.mean_ = mean  # kept even with with_mean=False, as scikit-learn does
        if self.with_std:
            self.var_ = a64.var(axis=0)
            # constant columns: a variance within rounding error of 0 (scikit-learn's bound)
            constant = self.var_ <= n * _EPS * self.var_ + (n * np.abs(mean) * _EPS) ** 2
            self.scale_ = _handle_zeros(np.sqrt(self.var_), constant)
        else:
            self.var_ = self.scale_ = None
        self.n_samples_seen_ = n
        self._feature_shape = arr.shape[1:]
        self.n_features_in_ = int(np.prod(arr.shape[1:], dtype=np.int64))
        return self

    def transform(self, x):
        self._check_fitted("transform")
        arr, is_t = _float_array(x, "StandardScaler.transform")
        _check_2d(arr, "StandardScaler.transform")
        self._check_features(arr, "transform")
        # each step computes in float64 and rounds to the input's dtype (as scikit-learn's
        # in-place ``X -= mean_; X /= scale_`` does)
        out = arr.copy()
        if self.with_mean:
            np.subtract(out, self.mean_, out=out, casting="same_kind")
        if self.scale_ is not None:
            np.divide(out, self.scale_, out=out, casting="same_kind")
        return _rewrap(out, is_t)

    def inverse_transform(self, x):
        self._check_fitted("inverse_transform")
        arr, is_t = _float_array(x, "StandardScaler.inverse_transform")
        _check_2d(arr, "StandardScaler.inverse_transform")
        self._check_features(arr, "inverse_transform")
        out = arr.copy()
        if self.scale_ is not None:
            np.multiply(out, self.scale_, out=out, casting="same_kind")
        if self.with_mean:
            np.add(out, self.mean_, out=out, casting="same_kind")
        return _rewrap(out, is_t)


class MinMaxScaler(_Fitted):
    """Scale each feature to ``feature_range`` using the training data's min and max:
    ``x' = (x - min) / (max - min) * (hi - lo) + lo``.

    A constant feature (max == min) maps to ``lo``. Values outside the training range map
    outside ``feature_range`` unless ``clip=True``.

    Attributes (after ``fit``): ``data_min_``, ``data_max_``, ``data_range_``, ``scale_``,
    ``min_`` (so that ``transform(x) = x * scale_ + min_``), ``n_samples_seen_``.
    """

    _fitted_attr = "scale_"

    def __init__(self, feature_range: tuple[float, float] = (0, 1), clip: bool = False):
        lo, hi = feature_range
        if not lo < hi:
            raise LaminaValueError(f"MinMaxScaler: minimum of desired feature range must be "
                                   f"smaller "
                                   f"than maximum, got {tuple(feature_range)}")
        self.feature_range = (lo, hi)
        self.clip = clip
        self.scale_ = self.min_ = None

    def fit(self, x) -> MinMaxScaler:
        arr, _ = _float_array(x, "MinMaxScaler.fit")
        _check_2d(arr, "MinMaxScaler.fit")
        if arr.shape[0] == 0:
            raise LaminaValueError("MinMaxScaler.fit: found an array with 0 samples; at least 1 is "
                                   "required")
        a64 = arr.astype(np.float64, copy=False)
        lo, hi = self.feature_range
        self.data_min_ = a64.min(axis=0)
        self.data_max_ = a64.max(axis=0)
        self.data_range_ = self.data_max_ - self.data_min_
        self.scale_ = (hi - lo) / _handle_zeros(self.data_range_)
        self.min_ = lo - self.data_min_ * self.scale_
        self.n_samples_seen_ = arr.shape[0]
        self._feature_shape = arr.shape[1:]
        self.n_features_in_ = int(np.prod(arr.shape[1:], dtype=np.int64))
        return self

    def transform(self, x):
        self._check_fitted("transform")
        arr, is_t = _float_array(x, "MinMaxScaler.transform")
        _check_2d(arr, "MinMaxScaler.transform")
        self._check_features(arr, "transform")
        out = arr.copy()
        np.multiply(out, self.scale_, out=out, casting="same_kind")
        np.add(out, self.min_, out=out, casting="same_kind")
        if self.clip:
            np.clip(out, self.feature_range[0], self.feature_range[1], out=out)
        return _rewrap(out, is_t)

    def inverse_transform(self, x):
        self._check_fitted("inverse_transform")
        arr, is_t = _float_array(x, "MinMaxScaler.inverse_transform")
        _check_2d(arr, "MinMaxScaler.inverse_transform")
        self._check_features(arr, "inverse_transform")
        out = arr.copy()
        np.subtract(out, self.min_, out=out, casting="same_kind")
        np.divide(out, self.scale_, out=out, casting="same_kind")
        return _rewrap(out, is_t)


def one_hot(labels, num_classes: int | None = None):
    """One-hot encode integer class labels: output shape ``labels.shape + (num_classes,)``,
    dtype int64, like ``torch.nn.functional.one_hot``.

    Args:
        labels: integer tensor or array of class indices in ``[0, num_classes)``.
        num_classes: the number of classes; ``None`` or -1 means ``labels.max() + 1``.

    >>> one_hot(lamina.tensor([0, 2]), 3)
    tensor([[1, 0, 0], [0, 0, 1]])
    """
    arr, is_t = _unwrap(labels, "one_hot")
    if arr.dtype.kind not in "iu":
        raise LaminaTypeError(f"one_hot: one_hot is only applicable to index tensors (integer "
                              f"dtype), "
                              f"got dtype {arr.dtype}")
    if num_classes is None or num_classes == -1:
        if arr.size == 0:
            raise LaminaValueError("one_hot: can not infer the total number of classes from an "
                                   "empty tensor; pass num_classes")
        num_classes = int(arr.max()) + 1
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes < 0:
        raise LaminaValueError(f"one_hot: num_classes must be a non-negative int or -1, got "
                               f"{num_classes!r}")
    if arr.size:
        if arr.min() < 0:
            raise LaminaValueError("one_hot: class values must be non-negative, got "
                                   f"{int(arr.min())}")
        if arr.max() >= num_classes:
            raise LaminaValueError(f"one_hot: class values must be smaller than num_classes "
                                   f"({num_classes}), got {int(arr.max())}")
    out = np.zeros(arr.shape + (int(num_classes),), dtype=np.int64)
    flat = out.reshape(-1, int(num_classes))
    flat[np.arange(arr.size), arr.reshape(-1)] = 1
    return _rewrap(out, is_t)


class OneHotEncoder(_Fitted):
    """Encode categorical feature columns as one-hot indicator columns (dense output).

    ``fit`` learns each column's categories (sorted unique values) from the training data;
    ``transform`` maps every column to ``len(categories_[j])`` indicator columns, concatenated
    in column order, as scikit-learn's ``OneHotEncoder(sparse_output=False)`` does. A value not
    seen in ``fit`` raises (``handle_unknown='error'``) or encodes as all zeros
    (``handle_unknown='ignore'``). A 1-D input is one column. Works on NumPy arrays of
    numbers or strings and on tensors; tensors give float tensors of the default dtype,
    arrays ``dtype`` (float64).

    >>> enc = OneHotEncoder().fit(np.array([["red"], ["green"]]))
    >>> enc.transform(np.array([["green"]]))
    array([[1., 0.]])
    """

    _fitted_attr = "categories_"

    def __init__(self, handle_unknown: str = "error", dtype=np.float64):
        if handle_unknown not in ("error", "ignore"):
            raise LaminaValueError(f"OneHotEncoder: handle_unknown should be 'error' or 'ignore', "
                                   f"got "
                                   f"{handle_unknown!r}")
        self.handle_unknown = handle_unknown
        self.dtype = dtype
        self.categories_ = None

    @staticmethod
    def _columns(x, op):
        arr, is_t = _unwrap(x, op)
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2:
            raise LaminaValueError(f"{op}: expected a 1-D or 2-D array of categorical columns, got "
                                   f"shape {arr.shape}")
        return arr, is_t

    def fit(self, x) -> OneHotEncoder:
        arr, _ = self._columns(x, "OneHotEncoder.fit")
        self.categories_ = [np.unique(arr[:, j]) for j in range(arr.shape[1])]
        self.n_features_in_ = arr.shape[1]
        return self

    def transform(self, x):
        self._check_fitted("transform")
        arr, is_t = self._columns(x, "OneHotEncoder.transform")
        if arr.shape[1] != self.n_features_in_:
            raise LaminaValueError(f"OneHotEncoder.transform: X has {arr.shape[1]} columns, but "
                                   f"the "
                                   f"encoder was fitted on {self.n_features_in_}")
        n = arr.shape[0]
        widths = [len(c) for c in self.categories_]
        dtype = get_default_dtype() if is_t else self.dtype
        out = np.zeros((n, sum(widths)), dtype=dtype)
        rows = np.arange(n)
        start = 0
        for j, cats in enumerate(self.categories_):  # a loop over columns, not samples
            col = arr[:, j]
            pos = np.searchsorted(cats, col)
            pos_c = np.minimum(pos, len(cats) - 1)
            known = cats[pos_c] == col if len(cats) else np.zeros(n, bool)
            if not known.all():
                if self.handle_unknown == "error":
                    bad = np.unique(col[~known]).tolist()
                    raise LaminaValueError(f"OneHotEncoder.transform: found unknown categories "
                                           f"{bad} "
                                           f"in column {j} during transform")
            out[rows[known], start + pos_c[known]] = 1
            start += widths[j]
        return _rewrap(out, is_t)

    def inverse_transform(self, x):
        """The category of each column's hot indicator (``None`` for all-zero rows)."""
        self._check_fitted("inverse_transform")
        arr, is_t = _unwrap(x, "OneHotEncoder.inverse_transform")
        widths = [len(c) for c in self.categories_]
        if arr.ndim != 2 or arr.shape[1] != sum(widths):
            raise LaminaValueError(f"OneHotEncoder.inverse_transform: expected shape (n, "
                                   f"{sum(widths)}), got {arr.shape}")
        cols = []
        start = 0
        for cats, w in zip(self.categories_, widths):
            block = arr[:, start:start + w]
            col = cats[block.argmax(axis=1)].astype(object)
            col[block.max(axis=1) == 0] = None
            cols.append(col)
            start += w
        out = np.stack(cols, axis=1) if cols else np.empty((arr.shape[0], 0), object)
        if all(c is not None for c in out.ravel()):
            out = out.astype(np.result_type(*self.categories_))
            if is_t and out.dtype.kind in "biuf":
                return Tensor(out)
        return out


def polynomial_features(x, degree: int, include_bias: bool = False):
    """Polynomial features up to ``degree``.

    For a 1-D input ``x`` of n values: the ``(n, degree)`` matrix of powers
    ``[x, x**2, ..., x**degree]``. For an ``(n, f)`` input: every monomial of total degree
    1..``degree`` in scikit-learn's ``PolynomialFeatures`` order (for f=2, degree=2:
    ``[a, b, a**2, a*b, b**2]``). ``include_bias=True`` prepends a column of ones (lamina's
    default is ``False``, unlike scikit-learn's, since a model's bias already plays that role).

    >>> polynomial_features(np.array([1.0, 2.0]), 3)
    array([[1., 1., 1.], [2., 4., 8.]])
    """
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or degree < 0:
        raise LaminaValueError(f"polynomial_features: degree must be a non-negative int, got "
                               f"{degree!r}")
    arr, is_t = _float_array(x, "polynomial_features")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise LaminaValueError(f"polynomial_features: expected a 1-D or 2-D input, got shape "
                               f"{arr.shape}")
    n, f = arr.shape
    blocks = [np.ones((n, 1), arr.dtype)] if include_bias else []
    if degree >= 1:
        blocks.append(arr)
    # prev holds the monomials of the previous degree in lexicographic order of their sorted
    # feature-index tuples; starts[j] is where those whose smallest index is >= j begin.
    # Degree d is then: for each j, x_j times the monomials of degree d-1 from starts[j] on.
    prev, starts = arr, list(range(f + 1))
    for _ in range(2, int(degree) + 1):
        new_blocks, new_starts, pos = [], [], 0
        for j in range(f):
            new_starts.append(pos)
            b = prev[:, starts[j]:] * arr[:, j:j + 1]
            new_blocks.append(b)
            pos += b.shape[1]
        new_starts.append(pos)
        prev, starts = np.concatenate(new_blocks, axis=1), new_starts
        blocks.append(prev)
    out = np.concatenate(blocks, axis=1) if blocks else np.empty((n, 0), arr.dtype)
    return _rewrap(out, is_t)
