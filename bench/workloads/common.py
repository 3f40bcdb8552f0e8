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
