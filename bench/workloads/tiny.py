"""tiny: the 2-16-1 tanh/sigmoid XOR network written with ``nn`` (Sequential, MSELoss, SGD):
per-op and per-module framework overhead."""

from bench.workloads.common import both, compiled, copy_dense, init_weights, train_step, xor_data

NAME = "tiny"
DESCRIPTION = "nn.Sequential 2-16-1 tanh/sigmoid on XOR, MSELoss, optim.SGD (overhead)"
COMPILED_TARGET = 15.0   # lamina.compile'd step vs PyTorch eager (issue #20)
TARGET = 1.5


def _step(lib):
    nn = lib.nn
    x, y = (lib.tensor(a) for a in xor_data())
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1), nn.Sigmoid())
    copy_dense(lib, [model[0], model[2]], init_weights([2, 16, 1]))
    return train_step(model, nn.MSELoss(), lib.optim.SGD(model.parameters(), lr=0.5), x, y)


lamina_step, torch_step = both(_step)
compiled_step = compiled(lamina_step)
