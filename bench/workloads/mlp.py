"""mlp: a ``Sequential`` 784-256-128-10 ReLU network, batch 128, ``CrossEntropyLoss``,
``SGD(momentum=0.9)``: the same script in both libraries, only the import differs."""

from bench.workloads.common import classification_batch, init_weights

NAME = "mlp"
DESCRIPTION = "nn.Sequential 784-256-128-10 ReLU, batch 128, CrossEntropyLoss, SGD momentum"
TARGET = 1.0


def _step(lib):
    nn = lib.nn
    xa, ya = classification_batch(128, 784, 10)
    x, y = lib.tensor(xa), lib.tensor(ya)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    weights = init_weights([784, 256, 128, 10])
    with lib.no_grad():
        for layer, (w, b) in zip([model[0], model[2], model[4]],
                                 zip(weights[0::2], weights[1::2])):
            layer.weight.copy_(lib.tensor(w.T.copy()))
            layer.bias.copy_(lib.tensor(b))
    loss_fn = nn.CrossEntropyLoss()
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return step


def lamina_step():
    import lamina

    return _step(lamina)


def torch_step():
    import torch

    return _step(torch)
