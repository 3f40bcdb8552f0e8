"""Scalers, one-hot encodings and polynomial features against scikit-learn and PyTorch."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lamina
from lamina.data import MinMaxScaler, OneHotEncoder, StandardScaler, one_hot, polynomial_features

sk = pytest.importorskip("sklearn.preprocessing")


def _split(seed=0, n=40, f=4, dtype=np.float64):
    r = np.random.default_rng(seed)
    x = (r.standard_normal((n, f)) * r.uniform(0.1, 10, f) + r.uniform(-5, 5, f))
    x[:, 1] = 3.25  # a constant column
    return x[:30].astype(dtype), x[30:].astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kwargs", [{}, {"with_mean": False}, {"with_std": False}])
def test_standard_scaler_matches_sklearn(dtype, kwargs):
    train, test = _split(dtype=dtype)
    ours = StandardScaler(**kwargs).fit(train)
    ref = sk.StandardScaler(**kwargs).fit(train)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-6, atol=1e-6)
    for a, b in [(ours.mean_, ref.mean_), (ours.var_, ref.var_), (ours.scale_, ref.scale_)]:
        if b is None:
            assert a is None
        else:
            np.testing.assert_allclose(a, b, **tol)
    for data in (train, test):  # the test set uses the training statistics
        got = ours.transform(data)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, ref.transform(data), **tol)
        np.testing.assert_allclose(ours.inverse_transform(got), data, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.fit_transform(train), ref.fit_transform(train), **tol)


def test_standard_scaler_constant_column_and_train_only():
    train, test = _split()
    s = StandardScaler().fit(train)
    z = s.transform(train)
    assert s.scale_[1] == 1.0 and np.all(z[:, 1] == 0)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(np.delete(z.std(0), 1), 1, rtol=1e-12)
    # the held-out data is not standardized by its own statistics
    assert not np.allclose(s.transform(test).mean(0), 0, atol=1e-3)


def test_scalers_accept_tensors_and_return_tensors():
    train, test = _split(dtype=np.float32)
    for cls, ref_cls in ((StandardScaler, sk.StandardScaler), (MinMaxScaler, sk.MinMaxScaler)):
        ours = cls().fit(lamina.tensor(train))
        got = ours.transform(lamina.tensor(test))
        assert isinstance(got, lamina.Tensor) and got.dtype == lamina.float32
        np.testing.assert_allclose(got.numpy(), ref_cls().fit(train).transform(test),
                                   rtol=1e-5, atol=1e-5)
        back = ours.inverse_transform(got)
        assert isinstance(back, lamina.Tensor)
        np.testing.assert_allclose(back.numpy(), test, rtol=1e-4, atol=1e-4)
    ints = np.arange(12).reshape(6, 2)
    assert StandardScaler().fit_transform(ints).dtype == np.float64
    assert StandardScaler().fit_transform(lamina.tensor(ints)).dtype == lamina.float32


@pytest.mark.parametrize("feature_range, clip", [((0, 1), False), ((-1, 3), False),
                                                 ((-2, 2), True)])
def test_minmax_scaler_matches_sklearn(feature_range, clip):
    train, test = _split(1)
    ours = MinMaxScaler(feature_range, clip=clip).fit(train)
    ref = sk.MinMaxScaler(feature_range=feature_range, clip=clip).fit(train)
    for name in ("data_min_", "data_max_", "data_range_", "scale_", "min_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), rtol=1e-13)
    for data in (train, test):
        np.testing.assert_allclose(ours.transform(data), ref.transform(data), rtol=1e-12,
                                   atol=1e-12)
    np.testing.assert_allclose(ours.inverse_transform(ours.transform(test)),
                               ref.inverse_transform(ref.transform(test)), rtol=1e-12)


def test_scaler_errors():
    with pytest.raises(RuntimeError, match="not fitted"):
        StandardScaler().transform(np.ones((2, 2)))
    with pytest.raises(RuntimeError, match="not fitted"):
        MinMaxScaler().inverse_transform(np.ones((2, 2)))
    s = StandardScaler().fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"feature shape \(3,\).*\(2,\)"):
        s.transform(np.ones((3, 3)))
    with pytest.raises(ValueError, match="smaller than maximum"):
        MinMaxScaler((1, 0))
    with pytest.raises(ValueError, match="0 samples"):
        StandardScaler().fit(np.ones((0, 2)))
    with pytest.raises(TypeError, match="numeric"):
        StandardScaler().fit(np.array([["a"]]))


def test_one_hot_matches_pytorch():
    torch = pytest.importorskip("torch")
    labels = np.array([[0, 2, 1], [3, 0, 0]])
    for nc in (None, -1, 4, 6):
        ref = torch.nn.functional.one_hot(torch.tensor(labels),
                                          -1 if nc is None else nc).numpy()
        got = one_hot(lamina.tensor(labels), nc)
        assert isinstance(got, lamina.Tensor) and got.dtype == lamina.int64
        np.testing.assert_array_equal(got.numpy(), ref)
        got_np = one_hot(labels, nc)
        assert isinstance(got_np, np.ndarray) and got_np.dtype == np.int64
        np.testing.assert_array_equal(got_np, ref)
    assert one_hot(np.zeros(0, np.int64), 3).shape == (0, 3)
    assert one_hot(np.array(2), 3).tolist() == [0, 0, 1]


def test_one_hot_errors():
    with pytest.raises(RuntimeError, match="non-negative"):
        one_hot(np.array([0, -1]), 3)
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        one_hot(np.array([0, 3]), 3)
    with pytest.raises(TypeError, match="index tensors"):
        one_hot(lamina.tensor([0.0, 1.0]))
    with pytest.raises(RuntimeError, match="empty"):
        one_hot(np.zeros(0, np.int64))


def test_one_hot_encoder_matches_sklearn():
    train = np.array([["red", "S"], ["green", "M"], ["blue", "S"], ["green", "L"]])
    test = np.array([["blue", "L"], ["red", "M"]])
    ours = OneHotEncoder().fit(train)
    ref = sk.OneHotEncoder(sparse_output=False).fit(train)
    assert [c.tolist() for c in ours.categories_] == [c.tolist() for c in ref.categories_]
    np.testing.assert_array_equal(ours.transform(test), ref.transform(test))
    np.testing.assert_array_equal(ours.inverse_transform(ours.transform(test)), test)
    unknown = np.array([["purple", "S"], ["red", "XL"]])
    with pytest.raises(ValueError, match=r"unknown categories \['purple'\] in column 0"):
        ours.transform(unknown)
    ign = OneHotEncoder(handle_unknown="ignore").fit(train)
    ref_ign = sk.OneHotEncoder(sparse_output=False, handle_unknown="ignore").fit(train)
    np.testing.assert_array_equal(ign.transform(unknown), ref_ign.transform(unknown))


def test_one_hot_encoder_numeric_tensor_columns():
    train = lamina.tensor([[1, 10], [3, 10], [2, 20]])
    enc = OneHotEncoder().fit(train)
    got = enc.transform(lamina.tensor([[3, 20], [1, 10]]))
    assert isinstance(got, lamina.Tensor) and got.dtype == lamina.float32
    assert got.tolist() == [[0, 0, 1, 0, 1], [1, 0, 0, 1, 0]]
    back = enc.inverse_transform(got)
    assert back.tolist() == [[3, 20], [1, 10]]
    # 1-D input is a single column
    assert OneHotEncoder().fit_transform(np.array([2, 0, 2])).tolist() == [[0, 1], [1, 0],
                                                                           [0, 1]]
    with pytest.raises(ValueError, match="should be 'error' or 'ignore'"):
        OneHotEncoder(handle_unknown="skip")
    with pytest.raises(ValueError, match="3 columns"):
        enc.transform(np.ones((1, 3)))


def test_polynomial_features_1d_powers():
    x = np.array([0.5, -2.0, 3.0])
    got = polynomial_features(x, 4)
    np.testing.assert_allclose(got, np.stack([x, x**2, x**3, x**4], axis=1))
    t = polynomial_features(lamina.tensor(x, dtype=lamina.float64), 2, include_bias=True)
    assert isinstance(t, lamina.Tensor) and t.dtype == lamina.float64
    np.testing.assert_allclose(t.numpy(), np.stack([np.ones(3), x, x**2], axis=1))


@given(f=st.integers(1, 4), degree=st.integers(0, 4), bias=st.booleans(),
       n=st.integers(0, 5))
def test_polynomial_features_match_sklearn(f, degree, bias, n):
    if degree == 0 and not bias:
        return  # scikit-learn refuses to produce zero features
    x = np.random.default_rng(f * 10 + degree).uniform(-2, 2, (max(n, 1), f))[:n]
    ref = sk.PolynomialFeatures(degree, include_bias=bias)
    if n == 0:
        ref.fit(np.zeros((1, f)))
        expected = np.zeros((0, ref.n_output_features_))
    else:
        expected = ref.fit_transform(x)
    got = polynomial_features(x, degree, include_bias=bias)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_polynomial_features_errors():
    with pytest.raises(ValueError, match="degree"):
        polynomial_features(np.ones(3), -1)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        polynomial_features(np.ones((2, 2, 2)), 2)
