"""Devices: where a tensor's data lives. lamina has one, the CPU.

A ``device`` is a small value object, as in PyTorch: ``device("cpu")``, ``device("cuda:1")``,
``device("cuda", 0)``, with ``.type`` and ``.index``. Any device can be *named* (so
``device("cuda" if cuda.is_available() else "cpu")`` runs unchanged), but only the CPU can hold
a tensor: asking for another one raises ``check_device``'s error, which names the device.

Every tensor answers ``.device`` with the one shared ``CPU`` object, so a device costs a tensor
nothing. A second backend (CuPy, say) would plug in here: ``check_device`` would accept its
type and return the matching ``xp`` array module, and ``Tensor.device`` would be read from the
array's module instead of being constant (see docs/architecture.md, "Devices").
"""

from __future__ import annotations

from lamina.errors import LaminaTypeError, LaminaValueError

SUPPORTED = ("cpu",)
_KNOWN = ("cpu", "cuda", "mps", "xpu", "xla", "meta", "hip", "ipu", "hpu", "mtia", "privateuseone")


class device:  # noqa: N801  (PyTorch's name)
    """A device name: a ``type`` (``'cpu'``, ``'cuda'``, ...) and an optional ``index``.

    >>> device("cpu")
    device(type='cpu')
    >>> device("cuda:1").index
    1
    """

    __slots__ = ("type", "index")

    def __init__(self, type: str | device, index: int | None = None) -> None:  # noqa: A002
        if isinstance(type, device):
            if index is not None:
                raise LaminaValueError("device(): an index may not be given with a device object")
            self.type, self.index = type.type, type.index
            return
        if not isinstance(type, str):
            raise LaminaTypeError(f"device(): expected a string or a device, got {type!r}")
        name, sep, idx = type.partition(":")
        if sep:
            if index is not None:
                raise LaminaValueError(f"device(): type (string) must not include an index "
                                       f"because index was passed explicitly: {type}")
            if not idx.isdigit():
                raise LaminaValueError(f"Invalid device string: '{type}'")
            index = int(idx)
        if name not in _KNOWN:
            raise LaminaValueError(
                f"Expected one of {', '.join(_KNOWN)} device type at start of device "
                f"string: {type}"
            )
        if index is not None and (not isinstance(index, int) or index < 0):
            raise LaminaValueError(f"Device index must not be negative, got {index}")
        self.type, self.index = name, index

    def __eq__(self, other) -> bool:
        # as in PyTorch, a device never equals a string: device("cpu") != "cpu"
        return (isinstance(other, device) and self.type == other.type
                and self.index == other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __reduce__(self):
        return (device, (self.type, self.index))


CPU = device("cpu")      # the device of every tensor


def check_device(dev, where: str) -> device:
    """``dev`` (a string or a device) as a device lamina can put tensors on, else a clear
    error naming ``where`` it was asked for and the device.

    >>> check_device("cpu", "zeros")
    device(type='cpu')
    """
    if dev is CPU:
        return CPU
    if isinstance(dev, int) and not isinstance(dev, bool):
        dev = device("cuda", dev)            # PyTorch reads a bare int as a CUDA ordinal
    d = dev if isinstance(dev, device) else device(dev)
    if d.type not in SUPPORTED:
        raise LaminaValueError(
            f"{where}: device '{d}' is not available: lamina runs on the CPU only "
            f"(supported devices: 'cpu')"
        )
    return CPU      # a CPU tensor's device is device('cpu') whatever index was asked for


def is_device(x) -> bool:
    """Whether ``x`` names a device (a device object, or a string like ``'cpu'``, ``'cuda:0'``)
    rather than a dtype: how ``Tensor.to`` and ``Module.to`` tell their arguments apart."""
    if isinstance(x, device):
        return True
    return isinstance(x, str) and x.partition(":")[0] in _KNOWN
