"""lenet: LeNet-5 on 1x28x28 (first conv padded by 2), batch 64, cross-entropy, Adam(1e-3).

Memory-bound: im2col copies, pooling and element-wise work, skinny GEMMs (6 and 16 output
channels)."""

import numpy as np

from bench.workloads.common import both, classification_batch, compiled, train_step

NAME = "lenet"
DESCRIPTION = "LeNet-5 1x28x28, batch 64, CrossEntropyLoss, Adam(1e-3)"
COMPILED_TARGET = 1.8   # lamina.compile'd step vs PyTorch eager (issue #20)
TARGET = 1.0


def fill_params(model, seed=0):
    """Same weights in both libraries: U(-1/sqrt(fan_in), ..) from one NumPy stream."""
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        shape = tuple(p.shape)
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        a = rng.uniform(-1, 1, shape).astype(np.float32) / np.sqrt(fan_in)
        # lamina keeps the array in ``_data``; PyTorch's parameter takes a tensor through .data
        arr = getattr(p, "_data", None)
        if isinstance(arr, np.ndarray):
            arr[...] = a
        else:
            p.data[...] = type(p.data)(a)


def _step(lib):
    nn = lib.nn
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )
    with lib.no_grad():
        fill_params(model)
    if lib.__name__ == "lamina":
        # lamina's explicit fusion pass: each ReLU after its max pool, on the 4x smaller map (same
        # values, gradients and parameters; PyTorch eager has no such pass)
        model = lib.nn.utils.fuse(model)
    xa, ya = classification_batch(64, 28 * 28, 10)
    x = lib.tensor(xa.reshape(64, 1, 28, 28))
    y = lib.tensor(ya)
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    return train_step(model, loss_fn, opt, x, y)


lamina_step, torch_step = both(_step)
compiled_step = compiled(lamina_step)
