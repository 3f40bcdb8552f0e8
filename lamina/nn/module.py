"""Old home of ``Module``, which lives in ``lamina.nn.modules.module`` (PyTorch's path,
``torch.nn.modules.module``); re-exported here so ``from lamina.nn.module import Module``
and saved files that name it keep working."""

from lamina.nn.modules.module import Module, _addindent, _IncompatibleKeys  # noqa: F401

__all__ = ["Module"]
