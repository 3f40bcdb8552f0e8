"""tiny: the 2-16-1 tanh/sigmoid XOR network written with ``nn`` (Sequential, MSELoss, SGD):
per-op and per-module framework overhead."""

from bench.workloads.common import init_weights, xor_data

NAME = "tiny"
DESCRIPTION = "nn.Sequential 2-16-1 tanh/sigmoid on XOR, MSELoss, optim.SGD (overhead)"
TARGET = 1.5


def _step(lib):
    nn = lib.nn
    x, y = (lib.tensor(a) for a in xor_data())
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1), nn.Sigmoid())
    w1, b1, w2, b2 = init_weights([2, 16, 1])
    with lib.no_grad():
        model[0].weight.copy_(lib.tensor(w1.T.copy()))
        model[0].bias.copy_(lib.tensor(b1))
        model[2].weight.copy_(lib.tensor(w2.T.copy()))
        model[2].bias.copy_(lib.tensor(b2))
    loss_fn = nn.MSELoss()
    opt = lib.optim.SGD(model.parameters(), lr=0.5)

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
