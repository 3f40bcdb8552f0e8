"""lamina.interpret.visualize: filters, feature maps, activation maximization, embeddings."""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina import nn
from lamina.interpret import visualize as vis


def _cnn():
    lamina.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 4 * 4, 6), nn.ReLU(), nn.Linear(6, 3))


def test_filters_and_feature_maps_equal_the_layers():
    m = _cnn()
    np.testing.assert_array_equal(vis.conv_filters(m[0]), m[0].weight.data)
    x = lamina.randn(2, 1, 8, 8)
    maps = vis.feature_maps(m, m[1], x)
    np.testing.assert_allclose(maps, np.maximum(m[0](x).data, 0), rtol=1e-6)
    feats = vis.penultimate_features(m, x)
    assert feats.shape == (2, 6)
    np.testing.assert_allclose(feats, m[:6](x).data, rtol=1e-6)
    assert m.training                       # mode restored
    with pytest.raises(ValueError, match="feature_maps: layer Linear is not a submodule"):
        vis.feature_maps(m, nn.Linear(2, 2), x)
    with pytest.raises(ValueError, match="conv_filters: expected a Conv2d"):
        vis.conv_filters(m[4])


def test_png_grids(tmp_path):
    pytest.importorskip("matplotlib")
    m = _cnn()
    p = vis.plot_filters(m[0], tmp_path / "f.png")
    q = vis.plot_feature_maps(m, m[0], lamina.randn(1, 1, 8, 8), tmp_path / "m.png")
    r = vis.image_grid(np.random.rand(5, 6, 6, 3), tmp_path / "rgb.png", ncols=2)
    for path in (p, q, r):
        assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="image_grid: expected images"):
        vis.image_grid(np.zeros((2, 3)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="image_grid: normalize must be"):
        vis.image_grid(np.zeros((2, 3, 3)), tmp_path / "x.png", normalize="max")


def test_activation_maximization_raises_the_target_and_tv_smooths():
    m = _cnn()
    for p in m.parameters():
        assert p.requires_grad
    start = lamina.tensor(0.01 * np.random.default_rng(0).standard_normal((1, 1, 8, 8))
                          .astype(np.float32))
    img = vis.activation_maximization(m, 2, (1, 8, 8), steps=60, lr=0.1, tv=0.0, l2=1e-3)
    smooth = vis.activation_maximization(m, 2, (1, 8, 8), steps=60, lr=0.1, tv=1.0, l2=1e-3)
    with lamina.no_grad():
        before = m(start).data[0, 2]
        after = m(lamina.tensor(img[None].astype(np.float32))).data[0, 2]
    assert after > before + 1.0
    tv = [float(vis.total_variation(lamina.tensor(a)).data) for a in (img, smooth)]
    assert tv[1] < tv[0]
    assert all(p.requires_grad for p in m.parameters()) and m.training
    chan = vis.activation_maximization(m, 1, (1, 8, 8), layer=m[0], steps=20)
    assert chan.shape == (1, 8, 8)
    with pytest.raises(ValueError, match="activation_maximization: target 5 out of range"):
        vis.activation_maximization(m, 5, (1, 8, 8), steps=1)
    with pytest.raises(ValueError, match="activation_maximization: tv must be a non-neg"):
        vis.activation_maximization(m, 0, (1, 8, 8), tv=-1)


def test_total_variation_formula():
    a = np.arange(12.0).reshape(3, 4)
    want = (np.diff(a, axis=0) ** 2).sum() + (np.diff(a, axis=1) ** 2).sum()
    assert float(vis.total_variation(lamina.tensor(a)).data) == want


def test_pca_matches_scikit_learn_and_tsne_runs():
    sk = pytest.importorskip("sklearn.decomposition")
    f = np.random.default_rng(0).standard_normal((40, 7)) @ np.diag([5, 3, 2, 1, 1, 1, 1])
    got = vis.embed(f, "pca", 3)
    want = sk.PCA(3).fit_transform(f)
    np.testing.assert_allclose(np.abs(got), np.abs(want), atol=1e-9)
    np.testing.assert_allclose(got * np.sign(got[0] * want[0]), want, atol=1e-9)
    t = vis.embed(f[:20], "tsne", seed=0)
    assert t.shape == (20, 2) and np.all(np.isfinite(t))
    with pytest.raises(ValueError, match="embed: method must be 'pca' or 'tsne'"):
        vis.embed(f, "umap")
    with pytest.raises(ValueError, match="embed: n_components must be"):
        vis.embed(f, n_components=9)
