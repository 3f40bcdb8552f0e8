"""Learning tests: lamina's models learn what they should, and fail where theory says the
simpler model must.

* LeNet-5 reaches >= 97% test accuracy on scikit-learn's 8x8 handwritten digits;
* an LSTM learns whether a parenthesis string is balanced (>= 95%), while a bag-of-tokens
  model, which sees the same tokens without their order, stays at chance;
* a 20-layer highway MLP trains where the plain 20-layer MLP of the same width stalls.

Seeded, and sized for CI: about 4 s, 2 s and 3 s on 2 cores of the development machine
(timings in each test's docstring), all well under 90 s together.
"""

import math
import time

import numpy as np
import pytest

import lamina
from lamina import models, nn, optim
from lamina.data import DataLoader, TensorDataset, train_val_test_split
from lamina.train import LRSchedulerCallback, evaluate, fit

# --- LeNet-5 on 8x8 digits ---------------------------------------------------------------


def _upsample(images: np.ndarray, mean: float, std: float) -> np.ndarray:
    """(N, 8, 8) digits -> standardized (N, 1, 32, 32) float32 by 4x4 pixel replication."""
    up = images.repeat(4, axis=1).repeat(4, axis=2)
    return ((up - mean) / std).astype(np.float32)[:, None]


class ShiftedDigits:
    """Batches of (N, 1, 32, 32) digits for one epoch each time it is iterated: shuffled, and
    each image moved by -1, 0 or +1 pixels of the 8x8 grid in each direction (zero fill)
    with probability ``p`` (new shifts every epoch; all in NumPy, per batch of indices)."""

    def __init__(self, images, labels, batch_size, mean, std, p=0.5, seed=0):
        self.padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
        self.labels = labels
        self.batch_size, self.mean, self.std, self.p = batch_size, mean, std, p
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return -(-len(self.labels) // self.batch_size)

    def __iter__(self):
        n = len(self.labels)
        shift = self.rng.integers(-1, 2, size=(n, 2)) * (self.rng.random((n, 1)) < self.p)
        rows = 1 + shift[:, :1] + np.arange(8)                    # (n, 8) source rows
        cols = 1 + shift[:, 1:] + np.arange(8)
        shifted = self.padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
        order = self.rng.permutation(n)
        for i in range(0, n, self.batch_size):
            idx = order[i:i + self.batch_size]
            yield (lamina.tensor(_upsample(shifted[idx], self.mean, self.std)),
                   lamina.tensor(self.labels[idx]))


def test_lenet5_learns_digits_to_97_percent():
    """LeNet-5 (tanh, max pooling) on the 1,797 8x8 digits: 80/20 stratified split, >= 97%
    test accuracy (typically 98.6 to 99.2% over seeds 0-2) in 10 epochs.

    The input: the 8x8 digits were made by counting a 32x32 bitmap in 4x4 blocks, so each
    pixel is replicated into a 4x4 block, giving the 32x32 input LeNet-5 was drawn for
    (``padding=0``; an 8x8 input is too small for two 5x5 convolutions and two poolings).
    Training: Adam with a one-cycle schedule (peak 3e-3), batch 64, random shifts of one
    8x8 pixel as augmentation (without them test accuracy is 97.5 to 98.1%, too close to
    the bar). About 3.5 s on 2 idle cores (1,437 images x 10 epochs); under load up to 20 s.
    """
    pytest.importorskip("sklearn")
    from lamina.data.datasets import Digits

    x, y = Digits().tensors()
    images, labels = x.numpy()[:, 0], y.numpy()
    x_tr, _, x_te, y_tr, _, y_te = train_val_test_split(images, labels, val=0, test=0.2,
                                                        seed=0, stratify=labels)
    mean, std = float(x_tr.mean()), float(x_tr.std())    # training statistics only
    lamina.manual_seed(0)
    model = models.LeNet5(padding=0, activation="tanh", pool="max")
    epochs = 10
    loader = ShiftedDigits(x_tr, y_tr, 64, mean, std, seed=0)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * len(loader))
    start = time.perf_counter()
    hist = fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=epochs,
               callbacks=[LRSchedulerCallback(sched, interval="step")], verbose=0)
    elapsed = time.perf_counter() - start
    test = evaluate(model, [(lamina.tensor(_upsample(x_te, mean, std)), lamina.tensor(y_te))],
                    nn.CrossEntropyLoss(), metrics=["accuracy"])
    print(f"LeNet-5 on digits: test accuracy {test['accuracy']:.4f}, "
          f"{elapsed:.1f} s for {epochs} epochs")
    assert len(y_te) == 360
    assert hist["loss"][-1] < 0.3 < hist["loss"][0]   # the loss on shifted images
    assert test["accuracy"] >= 0.97


# --- an LSTM counts; a bag of tokens cannot ------------------------------------------------


def parenthesis_strings(n_per_class: int, half: int, rng):
    """``n_per_class`` balanced and ``n_per_class`` unbalanced strings, each a random
    arrangement of exactly ``half`` '(' and ``half`` ')', one-hot (N, 2 * half, 2) float32
    ('(' = [0, 1]), and labels (N, 1) float32 (1 = balanced).

    Balanced: no prefix has more ')' than '('. The unbalanced ones are the hardest kind:
    their running depth dips to -1 and never lower, so a single misplaced pair gives them
    away. Every string has the same tokens, so only their order tells the classes apart.
    Drawn by rejection from uniformly random arrangements (one in ``half + 1`` is balanced).
    """
    length = 2 * half
    balanced, unbalanced = [], []
    nb = nu = 0
    while nb < n_per_class or nu < n_per_class:
        keys = rng.random((8 * (half + 1) * n_per_class, length))
        opens = np.argsort(keys, axis=1) < half                  # exactly `half` per row
        low = np.cumsum(np.where(opens, 1, -1), axis=1).min(axis=1)
        balanced.append(opens[low >= 0])
        unbalanced.append(opens[low == -1])
        nb += int((low >= 0).sum())
        nu += int((low == -1).sum())
    s = np.concatenate([np.concatenate(balanced)[:n_per_class],
                        np.concatenate(unbalanced)[:n_per_class]]).astype(np.int64)
    y = np.repeat(np.array([1.0, 0.0], dtype=np.float32), n_per_class)[:, None]
    return np.eye(2, dtype=np.float32)[s], y


class LSTMClassifier(nn.Module):
    def __init__(self, hidden: int = 16):
        super().__init__()
        self.lstm = nn.LSTM(2, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        _, (h, _) = self.lstm(x)        # h: (1, N, hidden), the state after the last token
        return self.head(h[0])


class BagOfTokens(nn.Module):
    """A per-token MLP, averaged over positions, then an MLP: sees which tokens occur and
    how often, not in which order (a deep-sets model)."""

    def __init__(self, hidden: int = 16):
        super().__init__()
        self.token = nn.Sequential(nn.Linear(2, hidden), nn.ReLU())
        self.head = models.mlp(hidden, [hidden], 1)

    def forward(self, x):
        return self.head(self.token(x).mean(dim=1))


def _train_binary(model, x, y, epochs, seed):
    loader = DataLoader(TensorDataset(lamina.tensor(x), lamina.tensor(y)), batch_size=64,
                        shuffle=True, generator=lamina.Generator(seed))
    return fit(model, nn.BCEWithLogitsLoss(), optim.Adam(model.parameters(), lr=1e-2),
               loader, epochs=epochs, verbose=0)


@pytest.mark.parametrize("seed", [0, 1])
def test_lstm_learns_balanced_parentheses_bag_of_tokens_cannot(seed):
    """Strings of 10 '(' and 10 ')'; 1,000 per class for training, 500 per class (new draws)
    for testing. The LSTM (hidden 16, Adam 1e-2, 10 epochs) reaches >= 95% (typically 100%
    by epoch 5); the bag-of-tokens model, trained the same way, gives every string the same
    output, i.e. chance. About 1 s per seed on 2 cores."""
    rng = np.random.default_rng(seed)
    x_tr, y_tr = parenthesis_strings(1000, 10, rng)
    x_te, y_te = parenthesis_strings(500, 10, rng)
    counts = x_tr.sum(axis=1)
    assert np.all(counts == 10) and x_tr.shape == (2000, 20, 2)   # same tokens everywhere
    test = [(lamina.tensor(x_te), lamina.tensor(y_te))]

    lamina.manual_seed(seed)
    lstm = LSTMClassifier()
    hist = _train_binary(lstm, x_tr, y_tr, epochs=10, seed=seed)
    lstm_acc = evaluate(lstm, test, metrics=["accuracy"])["accuracy"]

    lamina.manual_seed(seed)
    bag = BagOfTokens()
    bag_hist = _train_binary(bag, x_tr, y_tr, epochs=10, seed=seed)
    bag_acc = evaluate(bag, test, metrics=["accuracy"])["accuracy"]
    with lamina.no_grad():
        bag.eval()
        bag_out = bag(lamina.tensor(x_te)).numpy()

    print(f"balanced parentheses, seed {seed}: LSTM {lstm_acc:.3f}, bag {bag_acc:.3f}")
    assert lstm_acc >= 0.95
    assert hist["loss"][-1] < 0.1
    # the bag model cannot tell the strings apart: one output for all, chance accuracy, and
    # a loss stuck at log 2
    assert np.ptp(bag_out) < 1e-5
    assert 0.4 <= bag_acc <= 0.6
    assert min(bag_hist["loss"]) > 0.69


# --- highway vs plain: depth 20 -------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_deep_highway_mlp_trains_where_plain_mlp_stalls(seed):
    """Digits (64 standardized features, 10 classes), tanh everywhere, PyTorch's default
    initialization, SGD with momentum 0.9 and lr 0.05, batch 64, 8 epochs.

    Plain: ``mlp(64, [32] * 21, 10)``. Highway: ``HighwayMLP(64, 10, width=32, depth=20)``
    (an input layer then 20 highway layers, gate bias -2). Both are 22 layers deep. The
    plain net's signal shrinks by about 1/sqrt(3) per layer at this initialization, and its
    gradient with it, so its loss stays at log(10) = 2.30 (chance); the highway net carries
    its input through its gates and goes below 0.5. About 1.5 s per seed on 2 cores.
    """
    pytest.importorskip("sklearn")
    from lamina.data.datasets import Digits

    x, y = Digits(flatten=True).tensors()
    x = x.numpy()
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)
    ds = TensorDataset(lamina.tensor(x.astype(np.float32)), y)

    def train(model):
        loader = DataLoader(ds, batch_size=64, shuffle=True, generator=lamina.Generator(seed))
        return fit(model, nn.CrossEntropyLoss(),
                   optim.SGD(model.parameters(), lr=0.05, momentum=0.9), loader, epochs=8,
                   verbose=0)["loss"]

    lamina.manual_seed(seed)
    plain = models.mlp(64, [32] * 21, 10, activation="tanh")
    # the diagnosis: at initialization the first layer's gradient has all but vanished
    loss = nn.CrossEntropyLoss()(plain(lamina.tensor(x[:256].astype(np.float32))),
                                 y[:256])
    loss.backward()
    first = float(np.linalg.norm(plain[0].weight.grad.numpy()))
    last = float(np.linalg.norm(plain[-1].weight.grad.numpy()))
    assert first < 1e-3 * last
    plain.zero_grad()
    plain_loss = train(plain)

    lamina.manual_seed(seed)
    highway = models.HighwayMLP(64, 10, width=32, depth=20, activation="tanh")
    highway_loss = train(highway)

    print(f"seed {seed}: plain loss {plain_loss[0]:.3f} -> {plain_loss[-1]:.3f}, "
          f"highway {highway_loss[0]:.3f} -> {highway_loss[-1]:.3f}")
    chance = math.log(10)
    assert min(plain_loss) > 0.95 * chance            # stalled at chance
    assert highway_loss[-1] < 0.5                       # learned
    assert highway_loss[-1] < 0.25 * plain_loss[-1]
