"""nn.RBF and RBFNetwork: gradcheck and PyTorch by hand, k-means (Lloyd and scikit-learn)
clusterings, closed-form readout, gradient training of the widths."""

import numpy as np
import pytest

import lamina
from lamina import nn, optim
from lamina.autograd import gradcheck
from lamina.models import RBFNetwork, kmeans


def test_rbf_gradcheck_float64():
    lamina.manual_seed(0)
    layer = nn.RBF(3, 4, width=1.5, dtype=lamina.float64)
    x = lamina.randn(5, 3, dtype=lamina.float64, requires_grad=True)
    # gradcheck perturbs the centres and widths in place: the layer sees the changes
    assert gradcheck(lambda x, c, w: layer(x), (x, layer.centres, layer.widths))


def test_rbf_matches_pytorch_written_by_hand():
    torch = pytest.importorskip("torch")
    lamina.manual_seed(1)
    layer = nn.RBF(3, 4, width=0.8, dtype=lamina.float64)
    with lamina.no_grad():
        layer.widths._data[...] = [0.5, 0.8, 1.0, 2.0]
    xa = np.random.default_rng(0).normal(size=(6, 3))
    x = lamina.tensor(xa, requires_grad=True)
    out = layer(x)
    (out * out).sum().backward()
    xt = torch.tensor(xa, requires_grad=True)
    ct = torch.tensor(layer.centres._data, requires_grad=True)
    wt = torch.tensor(layer.widths._data, requires_grad=True)
    ot = torch.exp(-((xt[:, None, :] - ct[None]) ** 2).sum(2) / (2 * wt ** 2))
    (ot * ot).sum().backward()
    np.testing.assert_allclose(out._data, ot.detach().numpy(), rtol=1e-12, atol=1e-14)
    for mine, theirs in ((x, xt), (layer.centres, ct), (layer.widths, wt)):
        np.testing.assert_allclose(mine.grad._data, theirs.grad.numpy(), rtol=1e-10,
                                   atol=1e-12)


def blobs(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [5, 5], [0, 6], [6, 0]], float)
    return centres[rng.integers(0, 4, 400)] + 0.5 * rng.normal(size=(400, 2))


def assert_valid_clustering(x, centres, labels):
    d2 = ((x[:, None] - centres[None]) ** 2).sum(2)
    assert np.array_equal(labels, d2.argmin(1))                 # nearest centre
    for j in range(len(centres)):                               # centre = mean of its points
        np.testing.assert_allclose(centres[j], x[labels == j].mean(0), atol=1e-6)


def test_kmeans_lloyd_and_sklearn_give_valid_clusterings():
    x = blobs()
    centres, labels, inertia = kmeans(x, 4, seed=0)
    assert_valid_clustering(x, centres, labels)
    cluster = pytest.importorskip("sklearn.cluster")
    sk = cluster.KMeans(4, n_init=5, random_state=0).fit(x)
    assert_valid_clustering(x, sk.cluster_centers_, sk.labels_)
    assert abs(inertia - sk.inertia_) <= 1e-6 * sk.inertia_    # the same optimum here
    net = RBFNetwork(2, 4).init_centres(x, method="sklearn", seed=0)
    got = np.sort(net.rbf.centres._data[:, 0])
    np.testing.assert_allclose(got, np.sort(centres[:, 0]), atol=1e-4)


def test_closed_form_readout_fits_a_1d_function():
    x = np.linspace(-3, 3, 200)[:, None]
    y = np.sin(2 * x[:, 0]) + 0.3 * x[:, 0]
    net = RBFNetwork(1, 15).fit(x, y, seed=0)
    with lamina.no_grad():
        pred = net(lamina.tensor(x.astype(np.float32)))._data[:, 0]
    assert np.mean((pred - y) ** 2) < 1e-3


def test_rbf_network_solves_xor():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    y = np.array([0, 1, 1, 0], float)
    net = RBFNetwork(2, 4).fit(x, y, seed=0)
    pred = net.features(x) @ net.readout.weight._data.T[:, 0] + net.readout.bias._data[0]
    np.testing.assert_allclose(pred, y, atol=1e-4)


def test_widths_and_centres_train_by_gradient_descent():
    lamina.manual_seed(0)
    x = np.linspace(-3, 3, 100)[:, None].astype(np.float32)
    y = (np.sin(2 * x) + 0.3 * x).astype(np.float32)
    net = RBFNetwork(1, 8)
    net.init_centres(x, seed=0)
    with lamina.no_grad():
        net.rbf.widths._data[...] = 0.2                        # a poor start
    opt = optim.Adam(net.parameters(), lr=0.02)
    xt, yt = lamina.tensor(x), lamina.tensor(y)
    w0 = net.rbf.widths._data.copy()
    losses = []
    for _ in range(300):
        opt.zero_grad()
        loss = nn.functional.mse_loss(net(xt), yt)
        loss.backward()
        opt.step()
        losses.append(float(loss._data))
    assert losses[-1] < 0.2 * losses[0]
    assert np.abs(net.rbf.widths._data).mean() > 1.5 * w0.mean()  # they grew (sign is moot)


def test_errors_name_the_method():
    with pytest.raises(ValueError, match="RBF: out_features"):
        nn.RBF(2, 0)
    with pytest.raises(ValueError, match="RBF: width"):
        nn.RBF(2, 3, width=0)
    with pytest.raises(ValueError, match=r"RBF: input must be a Tensor of shape \(N, 2\)"):
        nn.RBF(2, 3)(lamina.randn(4, 3))
    with pytest.raises(ValueError, match="kmeans: k must be at most"):
        kmeans(np.zeros((3, 2)), 5)
    with pytest.raises(ValueError, match="RBFNetwork.init_centres: method"):
        RBFNetwork(2, 3).init_centres(np.zeros((5, 2)), method="spectral")
    with pytest.raises(ValueError, match="RBFNetwork.fit_readout: y must have 1 columns"):
        RBFNetwork(1, 3).fit(np.zeros((6, 1)) + np.arange(6)[:, None], np.zeros((6, 2)))
    with pytest.raises(ValueError, match="RBFNetwork.fit_readout: y must have one row per"):
        RBFNetwork(1, 3).fit(np.arange(6.0)[:, None], np.zeros(5))
