"""``Parameter``: a tensor that a ``Module`` registers as one of its learnable weights."""

from __future__ import annotations

import numpy as np

from lamina.tensor import Tensor, _init_slots, _to_array

__all__ = ["Parameter", "Buffer"]


class Parameter(Tensor):
    """A ``Tensor`` that is a module parameter: assigning one to a ``Module`` attribute
    registers it, so it shows up in ``parameters()`` and ``state_dict()``.

    It shares memory with ``data`` (a tensor or an array; no copy) and requires grad by
    default. Ops on a parameter return plain tensors.

    >>> w = Parameter(lamina.zeros(3))
    >>> w.requires_grad
    True
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            arr = np.empty((0,), dtype=np.float32)
        elif isinstance(data, Tensor):
            arr = data._data
        else:
            arr = _to_array(data, copy=False)
        _init_slots(self, arr)
        if isinstance(data, Tensor):
            # share the version counter: both names see in-place changes
            if data._vc is None:
                data._vc = [0]
            self._vc = data._vc
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        # pickle/deepcopy: rebuild from a copy of the array (Tensor has __slots__)
        return (_rebuild_parameter, (self._data, self.requires_grad, self.grad))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        p = Parameter(self._data.copy(), self.requires_grad)
        if self.grad is not None:
            p.grad = Tensor(self.grad._data.copy())
        memo[id(self)] = p
        return p


def _rebuild_parameter(data, requires_grad, grad):
    p = Parameter(data, requires_grad)
    p.grad = grad
    return p


class Buffer(Tensor):
    """Marks a tensor to be registered as a buffer when assigned to a ``Module`` attribute
    (``torch.nn.Buffer``): ``self.running_mean = Buffer(lamina.zeros(3))``.

    On assignment the module stores a plain ``Tensor`` sharing the data.
    """

    __slots__ = ("persistent",)

    def __init__(self, data, persistent: bool = True):
        arr = data._data if isinstance(data, Tensor) else _to_array(data, copy=False)
        _init_slots(self, arr)
        self.persistent = persistent
