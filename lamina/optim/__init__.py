"""Optimizers and learning-rate schedules, with PyTorch's ``torch.optim`` interface.

Every optimizer updates ``param._data`` in place with NumPy ufuncs, skipping parameters whose
``.grad`` is ``None``; ``lr_scheduler`` changes the groups' learning rates over time.

>>> opt = lamina.optim.Adam(model.parameters(), lr=1e-3)
>>> for x, y in loader:
...     opt.zero_grad()
...     loss_fn(model(x), y).backward()
...     opt.step()
"""

from lamina.optim import lr_scheduler
from lamina.optim.adadelta import Adadelta
from lamina.optim.adagrad import Adagrad
from lamina.optim.adam import Adam
from lamina.optim.adamax import Adamax
from lamina.optim.adamw import AdamW
from lamina.optim.asgd import ASGD
from lamina.optim.lbfgs import LBFGS
from lamina.optim.nadam import NAdam
from lamina.optim.optimizer import Optimizer
from lamina.optim.radam import RAdam
from lamina.optim.rmsprop import RMSprop
from lamina.optim.rprop import Rprop
from lamina.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW",
           "lr_scheduler", "LBFGS", "NAdam", "RAdam", "Adamax", "ASGD", "Rprop"]
