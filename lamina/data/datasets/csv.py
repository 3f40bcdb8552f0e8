"""``CSVDataset``: a table from a CSV file with a header row, read with the standard library's
``csv`` module (no pandas), numeric columns converted in one vectorized step, categorical
columns one-hot encoded with ``lamina.data.preprocessing.OneHotEncoder``.
"""

from __future__ import annotations

import csv
import gzip
import os

import numpy as np

from lamina.data.datasets._common import ArrayDataset
from lamina.data.preprocessing import OneHotEncoder
from lamina.errors import LaminaTypeError, LaminaValueError

__all__ = ["CSVDataset"]


def _to_float(values: list[str]) -> np.ndarray | None:
    """The column as float64, or None when some value is not a number (Python's ``float``
    parses faster here than NumPy's string conversion)."""
    try:
        return np.array(list(map(float, values)), dtype=np.float64)
    except ValueError:
        return None


def _first_bad(values: list[str]) -> int:
    """Index of the first value that is not a number (the slow path, errors only)."""
    for i, v in enumerate(values):
        try:
            float(v)
        except ValueError:
            return i
    return -1


def _number_key(values):
    """Sort key: numerically when every value is a number, else as strings."""
    try:
        return sorted(values, key=float)
    except ValueError:
        return sorted(values)


class CSVDataset(ArrayDataset):
    """A dataset from a CSV file whose first row names the columns.

    Each sample is ``(features, target)``: float32 features (the ``features`` columns, in
    that order, with every ``categorical`` column replaced in place by its one-hot indicator
    columns) and the ``target`` column: int64 class labels for classification (the classes
    are the target's distinct values, sorted: numerically when they are all numbers), a
    float32 value of shape ``(1,)`` for regression.

    Args:
        path: the CSV file (``.gz`` is read compressed).
        target: the name of the target column.
        categorical: names of feature columns to one-hot encode (their categories are the
            sorted distinct strings; an empty cell is a category of its own).
        features: the feature columns to use, in order (default: every column but the
            target).
        classification: whether the target holds class labels. ``None`` (default):
            classification when some target value is not a number, regression otherwise;
            pass ``True`` for numeric labels such as 0/1.
        encoder: a fitted ``OneHotEncoder`` to reuse (say the training set's
            ``ds.encoder`` when loading its test set, so both get the same columns; a
            category it has not seen raises ValueError).
        classes: the class list to reuse (the training set's ``ds.classes``).
        delimiter: the field separator.
        transform, target_transform: applied to each sample's features / target tensor.

    Attributes: ``data`` (float32, ``(n, n_features)``), ``targets``, ``feature_names``
    (one-hot columns are named ``"column=value"``), ``columns`` (the header), ``encoder``,
    and for classification ``classes``, ``class_to_idx``, ``num_classes``.

    Errors name the file: FileNotFoundError for a missing file; ValueError for an empty file
    or one with no data rows, an unknown column (listing the available ones), a row with the
    wrong number of fields, and a non-numeric or missing value in a numeric column (naming
    its row and column).

    >>> ds = CSVDataset("cars.csv", target="mpg", categorical=["origin"])
    >>> x, y = ds[0]        # x: float32 (n_features,), y: float32 (1,)

    Source, size and licence: those of your file.
    """

    name = "CSVDataset"

    def __init__(self, path: str | os.PathLike, target: str, categorical=None,
                 features=None, *, classification: bool | None = None,
                 encoder: OneHotEncoder | None = None, classes=None, delimiter: str = ",",
                 transform=None, target_transform=None):
        self.path = os.fspath(path)
        header, rows, self._lines = self._read(self.path, delimiter)
        self.columns = header
        index = {c: i for i, c in enumerate(header)}
        if len(index) != len(header):
            dup = sorted({c for c in header if header.count(c) > 1})
            raise LaminaValueError(f"CSVDataset: {self.path} has duplicate column names {dup}")

        if not isinstance(target, str):
            raise LaminaTypeError(f"CSVDataset: target must be a column name (str), got "
                                  f"{type(target).__name__}")
        self._check_columns([target], index, "target")
        if features is None:
            features = [c for c in header if c != target]
        else:
            features = self._names(features, "features")
            self._check_columns(features, index, "features")
            if target in features:
                raise LaminaValueError(f"CSVDataset: the target column {target!r} is also listed "
                                       "in features")
        categorical = self._names(categorical or [], "categorical")
        self._check_columns(categorical, index, "categorical")
        stray = [c for c in categorical if c not in features]
        if stray:
            raise LaminaValueError(f"CSVDataset: categorical columns {stray} are not among the "
                                   f"features {features}")
        if not features:
            raise LaminaValueError(f"CSVDataset: {self.path} has no feature columns besides the "
                                   f"target {target!r}")

        # each used column as one array of strings (a whole-table array would be as wide
        # as the longest cell of any column, unused text columns included)
        def column(name: str) -> list[str]:
            j = index[name]
            return [r[j] for r in rows]

        blocks, names = [], []
        cat_set = set(categorical)
        cat_cols = [column(c) for c in categorical]
        if categorical:
            cat_arr = np.char.strip(np.array(cat_cols, dtype=str).T)
            if encoder is None:
                encoder = OneHotEncoder(dtype=np.float32).fit(cat_arr)
            elif not isinstance(encoder, OneHotEncoder):
                raise LaminaTypeError(f"CSVDataset: encoder must be a fitted OneHotEncoder, got "
                                      f"{type(encoder).__name__}")
            try:
                onehot = encoder.transform(cat_arr)
            except (ValueError, RuntimeError) as e:
                raise LaminaValueError(f"CSVDataset: {self.path}: {e}") from None
            widths = [len(c) for c in encoder.categories_]
            starts = np.cumsum([0] + widths)
        self.encoder = encoder if categorical else None
        for col in features:
            if col in cat_set:
                k = categorical.index(col)
                blocks.append(onehot[:, starts[k]:starts[k + 1]])
                names += [f"{col}={v}" for v in encoder.categories_[k].tolist()]
            else:
                blocks.append(self._numeric(column(col), col)[:, None])
                names.append(col)
        x = np.concatenate(blocks, axis=1).astype(np.float32)

        y_raw = [v.strip() for v in column(target)]
        if classification is None:
            classification = _to_float(y_raw) is None if classes is None else True
        if classification:
            if classes is None:
                classes = _number_key(set(y_raw))
            else:
                classes = [str(c) for c in classes]
            lookup = {c: i for i, c in enumerate(classes)}
            try:
                y = np.array([lookup[v] for v in y_raw], dtype=np.int64)
            except KeyError as e:
                raise LaminaValueError(f"CSVDataset: {self.path}: target value {e.args[0]!r} is "
                                       f"not "
                                       f"one of the given classes {classes}") from None
        else:
            y = self._numeric(y_raw, target).astype(np.float32)
            classes = None
        self.target = target
        super().__init__(x, y, classes=classes, transform=transform,
                         target_transform=target_transform, feature_names=names)

    @staticmethod
    def _names(cols, what: str) -> list[str]:
        if isinstance(cols, str):
            return [cols]
        cols = list(cols)
        for c in cols:
            if not isinstance(c, str):
                raise LaminaTypeError(f"CSVDataset: {what} must be column names (str), got "
                                      f"{type(c).__name__}")
        return cols

    def _check_columns(self, cols, index, what: str) -> None:
        missing = [c for c in cols if c not in index]
        if missing:
            raise LaminaValueError(f"CSVDataset: {what} column{'s' if len(missing) > 1 else ''} "
                                   f"{', '.join(map(repr, missing))} not found in {self.path}; "
                                   f"available columns: {', '.join(map(repr, self.columns))}")

    def _numeric(self, values: list[str], col: str) -> np.ndarray:
        out = _to_float(values)
        if out is not None:
            return out
        bad = _first_bad(values)
        where = f"in column {col!r} at row {bad + 1} (line {self._lines[bad]} of the file)"
        if not values[bad].strip():
            raise LaminaValueError(f"CSVDataset: {self.path}: missing value {where}")
        raise LaminaValueError(f"CSVDataset: {self.path}: non-numeric value {values[bad]!r} "
                               f"{where}; "
                               "list the column in categorical=[...] to one-hot encode it")

    @staticmethod
    def _read(path: str, delimiter: str) -> tuple[list[str], list[list[str]], list[int]]:
        """(header, rows, the file line of each row); blank lines are skipped."""
        if not os.path.isfile(path):
            raise FileNotFoundError(f"CSVDataset: no such file: {path}")
        opener = gzip.open if path.endswith(".gz") else open
        try:
            with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
                reader = csv.reader(f, delimiter=delimiter)
                header = next(reader, None)
                rows, lines = [], []
                for r in reader:
                    if r:
                        rows.append(r)
                        lines.append(reader.line_num)
        except UnicodeDecodeError as e:
            raise LaminaValueError(f"CSVDataset: {path} is not UTF-8 text ({e})") from None
        except csv.Error as e:
            raise LaminaValueError(f"CSVDataset: {path} is not valid CSV ({e})") from None
        if header is None or not any(h.strip() for h in header):
            raise LaminaValueError(f"CSVDataset: {path} is empty: expected a header row naming the "
                                   "columns, then data rows")
        header = [h.strip() for h in header]
        if not rows:
            raise LaminaValueError(f"CSVDataset: {path} has a header but no data rows")
        width = len(header)
        for i, r in enumerate(rows):
            if len(r) != width:
                raise LaminaValueError(f"CSVDataset: {path}: row {i + 1} (line {lines[i]}) has "
                                       f"{len(r)} fields, the header has {width}")
        return header, rows, lines
