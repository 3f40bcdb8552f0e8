"""Every layer class, each in the file PyTorch keeps it in (``torch.nn.modules.<file>``;
tests/nn/test_module_paths.py checks this). Each file lists its classes in ``__all__``; a new
file adds one ``from lamina.nn.modules.<file> import *`` line at the end of this list.
``module`` comes first: every layer file imports ``Module`` from it."""
# isort: skip_file
# ruff: noqa: F401, F403

from lamina.nn.modules.module import *
from lamina.nn.modules.container import *
from lamina.nn.modules.flatten import *
from lamina.nn.modules.linear import *
from lamina.nn.modules.activation import *
from lamina.nn.modules.dropout import *
from lamina.nn.modules.normalization import *
from lamina.nn.modules.loss import *
from lamina.nn.modules.conv import *
from lamina.nn.modules.pooling import *
from lamina.nn.modules.rnn import *
from lamina.nn.modules.misc import *
from lamina.nn.modules.upsampling import *
from lamina.nn.modules.fused import *
from lamina.nn.modules.residual import *
from lamina.nn.modules.rbf import *
from lamina.nn.modules.transformer import *
from lamina.nn.modules.padding import *
from lamina.nn.modules.fold import *
from lamina.nn.modules.sparse import *
from lamina.nn.modules.batchnorm import *
