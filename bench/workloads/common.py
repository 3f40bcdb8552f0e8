"""Shared data for the workloads: the same weights and inputs for both libraries."""

import numpy as np


def xor_data():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([[0], [1], [1], [0]], np.float32)
    return x, y


def init_weights(sizes, seed=0):
    """Weights (in, out) and biases for a chain of dense layers, float32."""
    rng = np.random.default_rng(seed)
    out = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        bound = 1 / np.sqrt(i)
        out.append(rng.uniform(-bound, bound, (i, o)).astype(np.float32))
        out.append(rng.uniform(-bound, bound, (o,)).astype(np.float32))
    return out


def classification_batch(n, d, classes, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(np.float32), \
        rng.integers(0, classes, n).astype(np.int64)


def both(build):
    """``(lamina_step, torch_step)`` for a workload written once as ``build(lib)``, where
    ``lib`` is the ``lamina`` or the ``torch`` module: the same script runs in both."""

    def lamina_step():
        import lamina

        return build(lamina)

    def torch_step():
        import torch

        return build(torch)

    return lamina_step, torch_step


def compiled(lamina_step):
    """``compiled_step()`` for a workload: its lamina step through ``lamina.compile`` (a
    separate model, data and optimizer, built the same way)."""

    def compiled_step():
        import lamina

        return lamina.compile(lamina_step())

    return compiled_step


def copy_dense(lib, layers, weights):
    """Give ``Linear`` layers the shared (in, out) weights from ``init_weights``."""
    with lib.no_grad():
        for layer, w, b in zip(layers, weights[0::2], weights[1::2]):
            layer.weight.copy_(lib.tensor(w.T.copy()))
            layer.bias.copy_(lib.tensor(b))


def train_step(model, loss_fn, opt, x, y):
    """The canonical step: forward, loss, zero_grad, backward, step."""

    def step():
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return step
