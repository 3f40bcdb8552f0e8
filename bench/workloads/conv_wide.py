"""conv-wide: a 3-layer CNN on 3x32x32 (32, 64, 128 channels, 3x3, padding 1, strides 1, 2,
2), BatchNorm2d and ReLU after each conv, global average pool, Linear to 10, batch 32,
cross-entropy, SGD with momentum.

GEMM-heavier than LeNet (K up to 576, 32-128 output rows)."""

from bench.workloads.common import both, classification_batch, compiled, train_step
from bench.workloads.lenet import fill_params

NAME = "conv-wide"
DESCRIPTION = "CNN 3x32x32: 32/64/128 ch 3x3 (stride 1,2,2) + BN + ReLU, batch 32, SGD mom."
TARGET = 1.0


def _step(lib):
    nn = lib.nn
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, stride=1, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.BatchNorm2d(128), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10),
    )
    with lib.no_grad():
        fill_params(model)
    if lib.__name__ == "lamina":
        # lamina's explicit fusion pass: each BatchNorm2d and its ReLU as one op (same
        # values, gradients and parameters; PyTorch eager has no such pass)
        model = lib.nn.utils.fuse(model)
    xa, ya = classification_batch(32, 3 * 32 * 32, 10)
    x = lib.tensor(xa.reshape(32, 3, 32, 32))
    y = lib.tensor(ya)
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    return train_step(model, loss_fn, opt, x, y)


lamina_step, torch_step = both(_step)
compiled_step = compiled(lamina_step)
