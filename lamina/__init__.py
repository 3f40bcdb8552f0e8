"""lamina: a readable deep-learning framework on NumPy.

A ``Tensor`` with reverse-mode autograd, PyTorch-familiar ops, and (in subpackages) ``nn``,
``optim`` and ``data``. A PyTorch script ports by changing ``import torch`` to
``import lamina as torch`` for everything lamina implements.
"""
# isort: skip_file
# ruff: noqa: F401, F403, E402

from lamina.backend import (
    Generator, bool_, default_generator, double, float, float32, float64, fork_rng,
    get_default_dtype, get_rng_state, initial_seed, int64, long, manual_seed, seed,
    set_default_dtype, set_rng_state,
)
from lamina.dtypes import (
    byte, can_cast, char, finfo, float16, half, iinfo, int, int8, int16, int32, promote_types,
    result_type, short, uint8,
)
from lamina import dtypes as _dtypes
if _dtypes.bfloat16 is not None:
    bfloat16 = _dtypes.bfloat16


def __getattr__(name):
    # lamina.bfloat16 without ml_dtypes: say what to install instead of a bare AttributeError
    if name == "bfloat16":
        raise AttributeError(f"lamina.bfloat16: {_dtypes._BF16_MISSING}")
    raise AttributeError(f"module 'lamina' has no attribute {name!r}")


from lamina import errors
from lamina.errors import LaminaError, LaminaIndexError, LaminaTypeError, LaminaValueError
from lamina.device import device
from lamina.tensor import Size, Tensor    # Tensor first: the ops below attach its methods
from lamina import ops
from lamina.ops import *
from lamina.creation import *
from lamina import dispatch, kernels
kernels.load()                            # the fast paths register with dispatch
from lamina import autograd
from lamina import accelerator, backends, cuda
from lamina.autograd import (
    enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad,
    set_grad_enabled,
)
from lamina.runtime import get_num_threads, set_num_threads

bool = bool_  # lamina.bool, like torch.bool
__version__ = "0.1.0"
from lamina import nn
from lamina.serialization import load, save
from lamina import data
from lamina import utils          # lamina.utils.data: torch.utils.data's path to lamina.data
from lamina import optim
from lamina.compiler import compile  # noqa: E402  (needs nn and optim)
from lamina import train
from lamina import models
from lamina import distributions
from lamina.quantization.dtypes import qint8, quint8  # lamina.qint8 like torch.qint8
import lamina.linalg as linalg  # rebinds the name the ops star import gave lamina.ops.linalg
