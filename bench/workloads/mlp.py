"""mlp: a ``Sequential`` 784-256-128-10 ReLU network, batch 128, ``CrossEntropyLoss``,
``SGD(momentum=0.9)``: the same script in both libraries, only the import differs."""

from bench.workloads.common import (
    both,
    classification_batch,
    compiled,
    copy_dense,
    init_weights,
    train_step,
)

NAME = "mlp"
DESCRIPTION = "nn.Sequential 784-256-128-10 ReLU, batch 128, CrossEntropyLoss, SGD momentum"
COMPILED_TARGET = 1.45   # lamina.compile'd step vs PyTorch eager (issue #20)
TARGET = 1.0
# FLOPs of one training step (matrix products only): the forward's three, the weight
# gradients' three, the input gradients of layers 2 and 3 (x needs none)
FLOPS = 2 * 128 * (3 * (784 * 256 + 256 * 128 + 128 * 10) - 784 * 256)


def _step(lib):
    nn = lib.nn
    xa, ya = classification_batch(128, 784, 10)
    x, y = lib.tensor(xa), lib.tensor(ya)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    copy_dense(lib, [model[0], model[2], model[4]], init_weights([784, 256, 128, 10]))
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return train_step(model, nn.CrossEntropyLoss(), opt, x, y)


lamina_step, torch_step = both(_step)
compiled_step = compiled(lamina_step)
