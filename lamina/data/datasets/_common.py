"""What every dataset in ``lamina.data.datasets`` shares: the in-memory ``ArrayDataset`` base
and the check for optional dependencies.
"""

from __future__ import annotations

import importlib
import importlib.util

import numpy as np

from lamina.data.dataset import Dataset, TensorDataset
from lamina.errors import LaminaIndexError, LaminaTypeError, LaminaValueError
from lamina.tensor import _make

__all__ = ["ArrayDataset", "require"]

_EXTRA = "pip install lamina[data]"


def require(module: str, package: str, what: str):
    """Import an optional dependency, or raise an ImportError saying which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"{what} needs the optional dependency {package!r}, which is not "
                          f"installed (or failed to import: {e}); install it with "
                          f"`{_EXTRA}` (or `pip install {package}`)") from e


def package_dir(module: str, package: str, what: str) -> str:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{what} needs the optional dependency {package!r}, which is not "
                          f"installed; install it with `{_EXTRA}` (or `pip install "
                          f"{package}`)")
    return list(spec.submodule_search_locations)[0]


def check_int(value, name: str, op: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise LaminaValueError(f"{op}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_float(value, name: str, op: str, minimum: float | None = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise LaminaTypeError(f"{op}: {name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise LaminaValueError(f"{op}: {name} must be a finite number{bound}, got {value!r}")
    return value


class ArrayDataset(Dataset):
    """A dataset held in memory as two arrays: ``data`` (one row per sample) and ``targets``.

    ``ds[i]`` is ``(features, target)``, both lamina tensors:

    * features: float32, of shape ``sample_shape``; when ``data`` is stored compactly (uint8
      pixels) each sample is converted on access and divided by ``divide_by`` (255 maps
      pixels to ``[0, 1]``, exactly as torchvision's ``ToTensor`` does);
    * target: an int64 0-d tensor (a class index) for classification, a float32 tensor of
      shape ``(1,)`` for regression (so a batch is ``(B, 1)``, the shape of a
      ``Linear(..., 1)`` output: ``mse_loss`` then compares like with like).

    ``transform`` is applied to the features tensor and ``target_transform`` to the target
    (as in torchvision). Classification sets have ``classes`` (the class names, index ``i``
    is label ``i``), ``class_to_idx`` and ``num_classes``; regression sets have
    ``num_classes = None``. ``tensors()`` gives the whole set as two tensors and
    ``to_tensor_dataset()`` a ``TensorDataset``, which the ``DataLoader`` batches by slicing
    whole arrays (much faster than collating samples one by one).
    """

    name = "ArrayDataset"

    def __init__(self, data: np.ndarray, targets: np.ndarray, *, classes=None,
                 sample_shape: tuple[int, ...] | None = None, divide_by: float | None = None,
                 transform=None, target_transform=None, feature_names=None):
        if len(data) != len(targets):
            raise LaminaValueError(f"{self.name}: data has {len(data)} samples but targets has "
                                   f"{len(targets)}")
        self.data = data
        self.targets = targets
        self.sample_shape = tuple(sample_shape) if sample_shape is not None else data.shape[1:]
        self.divide_by = divide_by
        self.transform = transform
        self.target_transform = target_transform
        self.feature_names = list(feature_names) if feature_names is not None else None
        self.classes = list(classes) if classes is not None else None

    # -- class metadata ---------------------------------------------------------------------
    @property
    def num_classes(self) -> int | None:
        """The number of classes, or ``None`` for a regression set."""
        return len(self.classes) if self.classes is not None else None

    @property
    def class_to_idx(self) -> dict | None:
        """``{class name: label}``, or ``None`` for a regression set."""
        if self.classes is None:
            return None
        return {c: i for i, c in enumerate(self.classes)}

    # -- conversion -------------------------------------------------------------------------
    def _features(self, rows: np.ndarray) -> np.ndarray:
        """float32 features of a block of rows, reshaped to ``(n,) + sample_shape``."""
        x = rows.astype(np.float32, copy=True) if rows.dtype != np.float32 else rows.copy()
        if self.divide_by is not None:
            x /= np.float32(self.divide_by)
        return x.reshape((len(rows),) + self.sample_shape)

    def _targets(self, rows: np.ndarray) -> np.ndarray:
        if self.classes is not None:
            return rows.astype(np.int64, copy=True)
        return rows.astype(np.float32, copy=True).reshape(len(rows), -1)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All samples as NumPy arrays ``(X, y)``, with the dtypes and shapes of the samples
        (float32 features; int64 labels or float32 ``(n, 1)`` regression targets); transforms
        are not applied."""
        return self._features(self.data), self._targets(self.targets)

    def tensors(self):
        """All samples as two tensors ``(X, y)`` (see ``arrays``)."""
        x, y = self.arrays()
        return _make(x), _make(y)

    def to_tensor_dataset(self) -> TensorDataset:
        """The whole set as a ``TensorDataset`` (fast batching in the ``DataLoader``).

        Raises ValueError when a transform is set: a ``TensorDataset`` cannot apply it.
        """
        if self.transform is not None or self.target_transform is not None:
            raise LaminaValueError(f"{self.name}.to_tensor_dataset: this dataset has a transform, "
                                   "which a TensorDataset cannot apply; index the dataset instead")
        return TensorDataset(*self.tensors())

    # -- the Dataset contract ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index):
        n = len(self.data)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise LaminaTypeError(f"{self.name}: index must be an int, got {type(index).__name__}")
        if not -n <= index < n:
            raise LaminaIndexError(f"{self.name}: index {index} is out of range for {n} samples")
        i = int(index) % n
        # ``[0, ...]`` keeps a 0-d target an array (``[0]`` would give a NumPy scalar)
        x = _make(self._features(self.data[i:i + 1])[0, ...])
        y = _make(self._targets(self.targets[i:i + 1])[0, ...])
        if self.transform is not None:
            x = self.transform(x)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y

    def __getitems__(self, indices: list[int]) -> list:
        """The samples at ``indices`` (the ``DataLoader``'s batched fetch): one vectorized
        conversion for the whole batch instead of one per sample."""
        if self.transform is not None or self.target_transform is not None:
            return [self[i] for i in indices]
        n = len(self.data)
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            bad = int(idx[(idx < -n) | (idx >= n)][0])
            raise LaminaIndexError(f"{self.name}: index {bad} is out of range for {n} samples")
        x = self._features(self.data[idx])
        y = self._targets(self.targets[idx])
        return [(_make(x[k, ...]), _make(y[k, ...])) for k in range(len(idx))]

    def __repr__(self) -> str:
        lines = [f"Dataset {self.name}", f"    Number of datapoints: {len(self)}",
                 f"    Sample shape: {self.sample_shape}"]
        if self.classes is not None:
            lines.append(f"    Classes: {self.num_classes}")
        else:
            lines.append("    Target: regression (float32)")
        if self.transform is not None:
            lines.append(f"    Transform: {self.transform!r}")
        if self.target_transform is not None:
            lines.append(f"    Target transform: {self.target_transform!r}")
        return "\n".join(lines)
