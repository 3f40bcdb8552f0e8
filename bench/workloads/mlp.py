"""mlp: a ``Sequential`` 784-256-128-10 ReLU network, batch 128, ``CrossEntropyLoss``,
``SGD(momentum=0.9)``: the same script in both libraries, only the import differs."""

from bench.workloads.common import both, classification_batch, copy_dense, init_weights, train_step

NAME = "mlp"
DESCRIPTION = "nn.Sequential 784-256-128-10 ReLU, batch 128, CrossEntropyLoss, SGD momentum"
TARGET = 1.0


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
