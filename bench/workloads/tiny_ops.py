"""tiny-ops: a 2-16-1 tanh/sigmoid network on the four XOR points, plain SGD, written with raw
tensor ops. About 30 small array operations a step: this measures per-op framework overhead."""

from bench.workloads.common import both, compiled, init_weights, xor_data

NAME = "tiny-ops"
DESCRIPTION = "2-16-1 tanh/sigmoid MLP on XOR, raw ops, MSE, manual SGD (per-op overhead)"
TARGET = 1.5


def _step(lib):
    x, y = (lib.tensor(a) for a in xor_data())
    params = [lib.tensor(a, requires_grad=True) for a in init_weights([2, 16, 1])]
    w1, b1, w2, b2 = params
    lr = 0.5

    def step():
        pred = ((x @ w1 + b1).tanh() @ w2 + b2).sigmoid()
        loss = ((pred - y) ** 2).mean()
        loss.backward()
        with lib.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad = None
        return loss

    return step


lamina_step, torch_step = both(_step)
compiled_step = compiled(lamina_step)
