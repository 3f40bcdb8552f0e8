"""lstm: one LSTM layer (T=32, input 32, hidden 128, batch 32, batch_first), a Linear head on
the last hidden state to 10 classes, cross-entropy, Adam(1e-3).

Recurrence-bound: one fused sequence op; the per-step small GEMM and gate element-wise work
dominate."""

from bench.workloads.common import both, classification_batch, compiled, train_step
from bench.workloads.lenet import fill_params

NAME = "lstm"
DESCRIPTION = "LSTM T=32 in=32 hidden=128 batch=32, Linear head, CE, Adam(1e-3)"
COMPILED_TARGET = 1.3   # lamina.compile'd step vs PyTorch eager (issue #20)
TARGET = 1.0


def _step(lib):
    nn = lib.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(32, 128, batch_first=True)
            self.head = nn.Linear(128, 10)

        def forward(self, x):
            _, (h, _) = self.lstm(x)
            return self.head(h[0])

    model = Net()
    with lib.no_grad():
        fill_params(model)
    xa, ya = classification_batch(32, 32 * 32, 10)
    x = lib.tensor(xa.reshape(32, 32, 32))
    y = lib.tensor(ya)
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    return train_step(model, loss_fn, opt, x, y)


lamina_step, torch_step = both(_step)
compiled_step = compiled(lamina_step)
