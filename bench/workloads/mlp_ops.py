"""mlp-ops: a 784-256-128-10 ReLU network, batch 128, softmax cross-entropy written as
log_softmax + gather, manual SGD, raw tensor ops. BLAS does the work: the engine must add
almost nothing."""

from bench.workloads.common import both, classification_batch, init_weights

NAME = "mlp-ops"
DESCRIPTION = "784-256-128-10 ReLU MLP, batch 128, log_softmax+gather CE, manual SGD"
TARGET = 1.0


def _step(lib):
    xa, ya = classification_batch(128, 784, 10)
    x, y = lib.tensor(xa), lib.tensor(ya)
    params = [lib.tensor(a, requires_grad=True) for a in init_weights([784, 256, 128, 10])]
    w1, b1, w2, b2, w3, b3 = params
    lr = 0.01

    def step():
        h = (x @ w1 + b1).relu()
        h = (h @ w2 + b2).relu()
        logp = (h @ w3 + b3).log_softmax(dim=1)
        loss = -logp.gather(1, y[:, None]).mean()
        loss.backward()
        with lib.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad = None
        return loss

    return step


lamina_step, torch_step = both(_step)
