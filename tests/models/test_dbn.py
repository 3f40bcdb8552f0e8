"""DBN: greedy layer-wise pre-training feeds each RBM the one below's hidden probabilities,
the classifier starts from the RBMs' weights, and fine-tuning by backpropagation learns."""

import numpy as np
import pytest

import lamina
from lamina import nn, optim
from lamina.models import DBN


@pytest.fixture(scope="module")
def digits():
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_digits()
    return (d.data / 16).astype(np.float32), d.target


def test_pretrain_stacks_rbms_and_initializes_the_classifier(digits):
    x, _ = digits
    dbn = DBN([64, 32, 16], n_classes=10, seed=0)
    history = dbn.pretrain(x[:400], epochs=3, lr=0.05, batch_size=10, seed=0)
    assert len(history) == 2 and all(h[-1] < h[0] for h in history)
    assert [type(m).__name__ for m in dbn.classifier] == ["Linear", "Sigmoid", "Linear",
                                                          "Sigmoid", "Linear"]
    for i, rbm in enumerate(dbn.rbms):
        np.testing.assert_allclose(dbn.classifier[2 * i].weight._data, rbm.weight._data,
                                   rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(dbn.classifier[2 * i].bias._data, rbm.h_bias._data,
                                   rtol=1e-6, atol=1e-7)
    # the classifier's hidden layers compute the RBMs' upward pass p(h | v)
    with lamina.no_grad():
        top = dbn.classifier[:4](lamina.tensor(x[:20])).data
    np.testing.assert_allclose(top, dbn.transform(x[:20]), rtol=1e-4, atol=1e-5)
    assert set(dbn.state_dict()) >= {"rbms.0.weight", "rbms.1.h_bias", "classifier.4.bias"}


def test_fine_tuning_learns_digits(digits):
    x, y = digits
    lamina.manual_seed(0)
    dbn = DBN([64, 32], n_classes=10, seed=0)
    dbn.pretrain(x[:600], epochs=3, lr=0.05, batch_size=10, seed=0)
    opt = optim.SGD(dbn.parameters(), lr=0.3, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = lamina.tensor(x[:300]), lamina.tensor(y[:300])
    for _ in range(100):
        opt.zero_grad()
        loss = loss_fn(dbn(xt), yt)
        loss.backward()
        opt.step()
    with lamina.no_grad():
        acc = np.mean(dbn(lamina.tensor(x[1000:1400]))._data.argmax(1) == y[1000:1400])
    assert acc > 0.85                                           # 0.92 measured


def test_errors_name_the_method():
    with pytest.raises(ValueError, match="DBN: sizes must be a list of at least two"):
        DBN([64], 10)
    with pytest.raises(ValueError, match=r"DBN: sizes\[1\] must be an int"):
        DBN([64, 0], 10)
    with pytest.raises(ValueError, match="DBN: n_classes"):
        DBN([64, 8], 0)
    with pytest.raises(ValueError, match=r"DBN.pretrain: x must lie in \[0, 1\]"):
        DBN([2, 2], 2, seed=0).pretrain([[0.0, 3.0]])
