"""Neural-network building blocks: ``Module``, ``Parameter``, layers, losses, ``functional``,
``init`` and ``utils`` (PyTorch's ``torch.nn`` names and contracts)."""
# isort: skip_file
# ruff: noqa: F401, F403

from lamina.nn.parameter import Buffer, Parameter
from lamina.nn.modules.module import Module
from lamina.nn.modules import *
from lamina.nn import functional, init, utils
from lamina.nn import parallel
from lamina.nn.parallel import SyncBatchNorm
