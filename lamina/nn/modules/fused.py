"""Fused layer pairs: one module doing the work of two neighbours, with the same values,
gradients, parameters, buffers and ``state_dict`` keys as the pair.

``BatchNormReLU1d/2d/3d`` is ``relu(batch_norm(x))`` as one op (``F.batch_norm_relu``: the ReLU
rides in BatchNorm's own passes over memory). ``ReLUMaxPool1d/2d`` is ``ReLU`` then a max pool,
computed as the pool then the ReLU, on the smaller array. Nothing creates them behind the
user's back: ``nn.utils.fuse(model)`` puts them into a copy of a model (the model zoo's
``ResNet`` and ``ResidualBlock`` build a ``BatchNormReLU2d`` directly).

Each is a subclass of the first module's class (``BatchNormReLU2d`` is a ``BatchNorm2d``), so
its parameters and buffers have the BatchNorm's names, and a checkpoint moves between a fused
and an unfused model, or to and from PyTorch, unchanged.
"""

from __future__ import annotations

from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn.modules.activation import ReLU
from lamina.nn.modules.batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from lamina.nn.modules.module import Module
from lamina.nn.modules.pooling import MaxPool1d, MaxPool2d
from lamina.ops import elementwise as _ew
from lamina.ops.nn import batch_norm_relu
from lamina.tensor import Tensor

__all__ = ["BatchNormReLU1d", "BatchNormReLU2d", "BatchNormReLU3d", "ReLUMaxPool1d",
           "ReLUMaxPool2d"]


def _adopt(cls, module: Module, method: str) -> Module:
    """A ``cls`` (a subclass of ``type(module)``) with ``module``'s settings, the same
    parameter and buffer tensors (shared, not copied) and its training flag."""
    if type(module) is not cls._unfused or getattr(module, "return_indices", False):
        raise LaminaTypeError(f"{cls.__name__}.{method}: expected a {cls._unfused.__name__}"
                              f"{' without return_indices' if cls._unfused in _POOLS else ''}, "
                              f"got {module!r}")
    if module._forward_hooks or module._forward_pre_hooks or "forward" in module.__dict__:
        raise LaminaValueError(f"{cls.__name__}.{method}: the module has hooks or its own forward, "
                               "which the fused module would not run")
    fused = cls.__new__(cls)
    fused.__dict__.update(module.__dict__)
    for key in ("_parameters", "_buffers", "_modules", "_forward_hooks", "_forward_pre_hooks"):
        fused.__dict__[key] = type(module.__dict__[key])(module.__dict__[key])
    fused.__dict__["_non_persistent_buffers_set"] = set(module._non_persistent_buffers_set)
    return fused


_POOLS = (MaxPool1d, MaxPool2d)


class _BatchNormReLU:
    """``relu(batch_norm(input))`` in one op, ``F.batch_norm_relu``: the values and gradients
    of the BatchNorm followed by ``nn.ReLU``, and the same running-statistics updates.

    A forward hook on this module sees the rectified output (there is no separate
    BatchNorm output)."""

    def forward(self, input: Tensor) -> Tensor:
        return batch_norm_relu(*self._args(input))

    @classmethod
    def from_batch_norm(cls, bn):
        """The fused module for ``bn`` (an exact ``BatchNorm{1,2,3}d``), sharing its tensors.

        >>> fused = nn.BatchNormReLU2d.from_batch_norm(nn.BatchNorm2d(16))
        """
        return _adopt(cls, bn, "from_batch_norm")


class BatchNormReLU1d(_BatchNormReLU, BatchNorm1d):
    """``BatchNorm1d`` then ``ReLU`` as one op; takes ``BatchNorm1d``'s arguments."""

    _unfused = BatchNorm1d


class BatchNormReLU2d(_BatchNormReLU, BatchNorm2d):
    """``BatchNorm2d`` then ``ReLU`` as one op; takes ``BatchNorm2d``'s arguments.

    >>> bn_relu = nn.BatchNormReLU2d(16)      # state_dict keys: weight, bias, running_mean...
    """

    _unfused = BatchNorm2d


class BatchNormReLU3d(_BatchNormReLU, BatchNorm3d):
    """``BatchNorm3d`` then ``ReLU`` as one op; takes ``BatchNorm3d``'s arguments."""

    _unfused = BatchNorm3d


class _ReLUMaxPool:
    """``ReLU`` then a max pool, computed as ``relu(max_pool(input))``: ReLU and max are both
    monotone, so the two orders give the same values, and the same gradients (where a
    window's maximum is not positive, both give zeros); the ReLU then runs on an array
    ``kernel_size**d`` times smaller. ``return_indices`` is not supported."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.return_indices:
            raise LaminaValueError(f"{type(self).__name__}: return_indices=True is not supported")

    def forward(self, input: Tensor) -> Tensor:
        return _ew.relu(super().forward(input))

    @classmethod
    def from_max_pool(cls, pool):
        """The fused module for a ``ReLU`` followed by ``pool`` (an exact ``MaxPool{1,2}d``
        without ``return_indices``), with ``pool``'s settings.

        >>> fused = nn.ReLUMaxPool2d.from_max_pool(nn.MaxPool2d(2))
        """
        return _adopt(cls, pool, "from_max_pool")


class ReLUMaxPool1d(_ReLUMaxPool, MaxPool1d):
    """``ReLU`` then ``MaxPool1d``, run as the pool then the ReLU; takes ``MaxPool1d``'s
    arguments."""

    _unfused = MaxPool1d


class ReLUMaxPool2d(_ReLUMaxPool, MaxPool2d):
    """``ReLU`` then ``MaxPool2d``, run as the pool then the ReLU; takes ``MaxPool2d``'s
    arguments.

    >>> nn.ReLUMaxPool2d(2)(lamina.randn(1, 3, 8, 8)).shape
    (1, 3, 4, 4)
    """

    _unfused = MaxPool2d


# The pairs nn.utils.fuse replaces: (first module's type, second module's type) -> how to
# build the fused module from the pair.
FUSIONS = {
    (BatchNorm1d, ReLU): lambda bn, relu: BatchNormReLU1d.from_batch_norm(bn),
    (BatchNorm2d, ReLU): lambda bn, relu: BatchNormReLU2d.from_batch_norm(bn),
    (BatchNorm3d, ReLU): lambda bn, relu: BatchNormReLU3d.from_batch_norm(bn),
    (ReLU, MaxPool1d): lambda relu, pool: ReLUMaxPool1d.from_max_pool(pool),
    (ReLU, MaxPool2d): lambda relu, pool: ReLUMaxPool2d.from_max_pool(pool),
}
