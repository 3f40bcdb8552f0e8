"""End-to-end learning: models trained on data the tests make learn what they should.

Seeded and small: each test trains in well under a few seconds.
"""

import numpy as np
import pytest

import lamina
from lamina import nn, optim
from lamina.data import DataLoader, StandardScaler, TensorDataset, train_val_test_split
from lamina.train import EarlyStopping, evaluate, fit, predict
from lamina.train import metrics as M


def _regression_data(seed=0, n=256):
    rng = np.random.default_rng(seed)
    w_true = np.array([2.0, -3.0, 0.5])
    b_true = 1.25
    x = rng.normal(size=(n, 3))
    y = x @ w_true + b_true + 0.01 * rng.normal(size=n)
    return x, y, w_true, b_true


def test_linear_regression_by_plain_gradient_descent():
    """Autograd alone: full-batch gradient descent on w and b recovers the true values."""
    x, y, w_true, b_true = _regression_data()
    X, Y = lamina.tensor(x), lamina.tensor(y)          # float64
    w = lamina.zeros(3, dtype=lamina.float64, requires_grad=True)
    b = lamina.zeros(1, dtype=lamina.float64, requires_grad=True)
    lr = 0.1
    for _ in range(300):
        loss = ((X @ w + b - Y) ** 2).mean()
        w.grad = b.grad = None
        loss.backward()
        with lamina.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad
    # the least-squares solution is where gradient descent must arrive ...
    A = np.hstack([x, np.ones((len(x), 1))])
    lstsq = np.linalg.lstsq(A, y, rcond=None)[0]
    np.testing.assert_allclose(w.detach().numpy(), lstsq[:3], atol=1e-8)
    np.testing.assert_allclose(b.detach().numpy(), lstsq[3:], atol=1e-8)
    # ... and it is close to the truth (the noise is small)
    np.testing.assert_allclose(w.detach().numpy(), w_true, atol=0.01)
    assert abs(b.item() - b_true) < 0.01


def test_linear_regression_with_fit():
    x, y, w_true, b_true = _regression_data(seed=1)
    lamina.manual_seed(0)
    ds = TensorDataset(lamina.tensor(x.astype(np.float32)),
                       lamina.tensor(y[:, None].astype(np.float32)))
    model = nn.Linear(3, 1)
    hist = fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05),
               DataLoader(ds, batch_size=32, shuffle=True), epochs=40,
               metrics=["r2"], verbose=0)
    np.testing.assert_allclose(model.weight.detach().numpy()[0], w_true, atol=0.01)
    assert abs(model.bias.item() - b_true) < 0.01
    assert hist["loss"][-1] < 1e-3 < hist["loss"][0]
    assert hist["r2"][-1] > 0.9999


def _blobs(n_per_class, seed, sep=2.0):
    rng = np.random.default_rng(seed)
    a = rng.normal(loc=(-sep, -sep), size=(n_per_class, 2))
    b = rng.normal(loc=(sep, sep), size=(n_per_class, 2))
    x = np.vstack([a, b]).astype(np.float32)
    y = np.r_[np.zeros(n_per_class), np.ones(n_per_class)].astype(np.float32)
    return lamina.tensor(x), lamina.tensor(y[:, None])


def test_logistic_regression_separates_two_gaussian_blobs():
    x, y = _blobs(200, seed=0)
    x_test, y_test = _blobs(500, seed=1)
    lamina.manual_seed(0)
    model = nn.Linear(2, 1)
    # with BCEWithLogitsLoss, "accuracy" thresholds the logits at 0 (probability 0.5)
    hist = fit(model, nn.BCEWithLogitsLoss(), optim.SGD(model.parameters(), lr=0.5),
               DataLoader(TensorDataset(x, y), batch_size=40, shuffle=True), epochs=20,
               val_loader=DataLoader(TensorDataset(x_test, y_test), batch_size=500),
               metrics=["accuracy"], verbose=0)
    # the Bayes-optimal boundary is x1 + x2 = 0: it errs on about 0.23% of such points
    assert hist["val_accuracy"][-1] > 0.99
    assert hist["val_loss"][-1] < 0.05
    w = model.weight.detach().numpy()[0]
    assert w[0] > 0 and w[1] > 0 and abs(w[0] - w[1]) / w.sum() < 0.2
    assert abs(model.bias.item()) / w.sum() < 0.2
    probs = predict(model, x_test).sigmoid()
    assert M.accuracy(probs, y_test) == hist["val_accuracy"][-1]


XOR_X = lamina.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = lamina.tensor([[0.0], [1.0], [1.0], [0.0]])


def _train_xor(model, epochs, lr):
    loader = DataLoader(TensorDataset(XOR_X, XOR_Y), batch_size=4)
    return fit(model, nn.BCEWithLogitsLoss(), optim.Adam(model.parameters(), lr=lr), loader,
               epochs=epochs, metrics=[M.Accuracy(threshold=0.0)], verbose=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mlp_learns_xor_but_a_linear_model_cannot(seed):
    lamina.manual_seed(seed)
    mlp = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    _train_xor(mlp, epochs=300, lr=0.05)
    out = predict(mlp, XOR_X)
    assert M.accuracy(out, XOR_Y, threshold=0.0) == 1.0
    np.testing.assert_array_equal((out.sigmoid().numpy() > 0.5), XOR_Y.numpy() == 1)
    assert float(nn.functional.binary_cross_entropy_with_logits(out, XOR_Y)) < 0.1

    lamina.manual_seed(seed)
    linear = nn.Linear(2, 1)
    hist = _train_xor(linear, epochs=300, lr=0.05)
    # no line separates XOR: at most 3 of the 4 points, and the loss stays near log 2
    assert M.accuracy(predict(linear, XOR_X), XOR_Y, threshold=0.0) <= 0.75
    assert hist["loss"][-1] > 0.6


def test_softmax_classifier_on_handwritten_digits():
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    x = digits.data.astype(np.float32)
    y = digits.target.astype(np.int64)
    x_tr, x_va, x_te, y_tr, y_va, y_te = train_val_test_split(x, y, val=0.15, test=0.2,
                                                              seed=0, stratify=y)
    scaler = StandardScaler().fit(x_tr)                       # training statistics only
    x_tr, x_va, x_te = (lamina.tensor(scaler.transform(a)) for a in (x_tr, x_va, x_te))
    y_tr, y_va, y_te = (lamina.tensor(a) for a in (y_tr, y_va, y_te))

    lamina.manual_seed(0)
    model = nn.Linear(64, 10)                                 # logits; softmax in the loss
    loss_fn = nn.CrossEntropyLoss()
    stop = EarlyStopping(monitor="val_loss", patience=8, restore_best_weights=True)
    hist = fit(model, loss_fn, optim.Adam(model.parameters(), lr=1e-2),
               DataLoader(TensorDataset(x_tr, y_tr), batch_size=64, shuffle=True),
               epochs=40, val_loader=DataLoader(TensorDataset(x_va, y_va), batch_size=512),
               metrics=["accuracy"], callbacks=[stop], regularization=lambda m:
               nn.utils.l2_penalty(m.weight, 1e-4), verbose=0)
    assert max(hist["val_accuracy"]) > 0.93 and hist["loss"][-1] < hist["loss"][0]
    test = evaluate(model, DataLoader(TensorDataset(x_te, y_te), batch_size=512), loss_fn,
                    metrics=["accuracy", "f1"])
    assert test["accuracy"] > 0.95
    assert test["f1"] > 0.95
    cm = M.confusion_matrix(predict(model, x_te), y_te, num_classes=10)
    assert cm.sum() == len(y_te) and np.trace(cm) / cm.sum() == test["accuracy"]
