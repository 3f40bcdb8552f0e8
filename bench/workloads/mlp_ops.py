"""mlp-ops: a 784-256-128-10 ReLU network, batch 128, softmax cross-entropy written as
log_softmax + gather, manual SGD, raw tensor ops. BLAS does the work: the engine must add
almost nothing.

``numpy_step`` is the same step written by hand in NumPy, with no framework at all: the
forward, the backward worked out on paper, the same update. The harness times it alongside
as a reference (what NumPy's BLAS and ufuncs allow on this machine), not as a contender."""

import numpy as np

from bench.workloads.common import both, classification_batch, compiled, init_weights

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
compiled_step = compiled(lamina_step)


def numpy_step():
    """The step in plain NumPy: in-place bias adds and masks, the fused softmax-cross-entropy
    gradient ``(softmax - onehot) / B``, the same SGD update as the tensor versions."""
    xa, ya = classification_batch(128, 784, 10)
    params = init_weights([784, 256, 128, 10])
    w1, b1, w2, b2, w3, b3 = params
    rows = np.arange(len(ya))
    lr = np.float32(0.01)

    def step():
        z1 = xa @ w1
        z1 += b1
        h1 = np.maximum(z1, 0)
        z2 = h1 @ w2
        z2 += b2
        h2 = np.maximum(z2, 0)
        z3 = h2 @ w3
        z3 += b3
        z3 -= z3.max(axis=1, keepdims=True)
        e = np.exp(z3)
        s = e.sum(axis=1, keepdims=True)
        loss = np.log(s[:, 0]).mean() - z3[rows, ya].mean()
        g3 = e / s
        g3[rows, ya] -= 1
        g3 /= len(ya)
        g2 = g3 @ w3.T
        g2 *= z2 > 0
        g1 = g2 @ w2.T
        g1 *= z1 > 0
        grads = (xa.T @ g1, g1.sum(axis=0), h1.T @ g2, g2.sum(axis=0), h2.T @ g3,
                 g3.sum(axis=0))
        for p, g in zip(params, grads):
            p -= lr * g
        return loss

    return step
