"""Random sampling (issue #14): distributions, shapes, dtypes, errors, generators.

lamina draws from NumPy's PCG64, not PyTorch's Mersenne Twister, so values cannot match
PyTorch's bit for bit. What is checked instead:

- each sampler's distribution: sample moments (or quantiles, for the Cauchy) within 5 standard
  errors of the formulas, frequencies by a chi-square test at 5 sigma (Wilson-Hilferty's
  critical value, so no scipy is needed); with these margins a correct sampler fails about
  once in a few million runs, and the seeds are fixed, so the tests are deterministic;
- shapes and dtypes against PyTorch on the same inputs (hypothesis shapes, size-0 included);
- errors against PyTorch: where PyTorch raises, lamina raises a LaminaError naming the op;
- generators: the same seed gives the same stream, two generators are independent, and the
  global stream is untouched by draws from an explicit generator.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lamina
from tests.helpers import requires_torch, torch
from tests.strategies import broadcastable_pair, shapes

N = 200_000


def chi2_critical(df: int, z: float = 5.0) -> float:
    """The chi-square value exceeded with the probability of a z-sigma normal deviation
    (Wilson-Hilferty approximation, accurate to a few percent for df >= 1)."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def assert_frequencies(counts, probs):
    counts = np.asarray(counts, np.float64)
    expected = counts.sum() * np.asarray(probs, np.float64)
    keep = expected > 0
    assert np.all(counts[~keep] == 0), "a category of probability 0 was drawn"
    if keep.sum() == 1:
        return                          # one possible outcome: it was drawn every time
    stat = ((counts[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    assert stat < chi2_critical(int(keep.sum()) - 1), (stat, counts, expected)


def assert_moments(x, mean, var, mu4, z=5.0):
    """Sample mean and variance within ``z`` standard errors of ``mean`` and ``var``;
    ``mu4`` is the fourth central moment (the variance of the sample variance needs it)."""
    x = np.asarray(x, np.float64).ravel()
    n = x.size
    assert abs(x.mean() - mean) < z * math.sqrt(var / n), (x.mean(), mean)
    assert abs(x.var() - var) < z * math.sqrt((mu4 - var ** 2) / n), (x.var(), var)


# --- distributions ----------------------------------------------------------------------------

def test_uniform_():
    lamina.manual_seed(0)
    a, b = -1.0, 3.0
    x = lamina.empty(N, dtype=lamina.float64).uniform_(a, b).numpy()
    assert x.min() >= a and x.max() < b
    w = b - a
    assert_moments(x, (a + b) / 2, w ** 2 / 12, w ** 4 / 80)


def test_normal_and_normal_():
    lamina.manual_seed(1)
    m, s = 2.0, 3.0
    for x in (lamina.empty(N, dtype=lamina.float64).normal_(m, s),
              lamina.normal(m, s, (N,), dtype=lamina.float64)):
        assert_moments(x.numpy(), m, s ** 2, 3 * s ** 4)


def test_normal_with_tensor_mean_and_std():
    lamina.manual_seed(2)
    mean = lamina.tensor([-5.0, 0.0, 5.0], dtype=lamina.float64)
    std = lamina.tensor([1.0, 2.0, 0.0], dtype=lamina.float64)
    x = lamina.normal(mean.expand(N // 10, 3), std).numpy()
    for j in range(2):
        assert_moments(x[:, j], mean[j].item(), std[j].item() ** 2, 3 * std[j].item() ** 4)
    assert np.all(x[:, 2] == 5.0)                     # std 0: exactly the mean
    y = lamina.normal(mean, 2.0)
    z = lamina.normal(1.0, std)
    assert y.shape == z.shape == (3,) and z[2].item() == 1.0


def test_randn_rand_randint_like():
    lamina.manual_seed(3)
    x = lamina.zeros(N, dtype=lamina.float64)
    assert_moments(lamina.randn_like(x).numpy(), 0.0, 1.0, 3.0)
    u = lamina.rand_like(x).numpy()
    assert_moments(u, 0.5, 1 / 12, 1 / 80)
    r = lamina.randint_like(x, 2, 7)
    assert r.dtype == lamina.float64
    assert_frequencies(np.bincount(r.numpy().astype(int), minlength=7), [0, 0] + [0.2] * 5)


def test_exponential_():
    lamina.manual_seed(4)
    lam = 2.5
    x = lamina.empty(N, dtype=lamina.float64).exponential_(lam).numpy()
    assert x.min() >= 0
    assert_moments(x, 1 / lam, 1 / lam ** 2, 9 / lam ** 4)


def test_cauchy_quantiles():
    lamina.manual_seed(5)
    m, s = 1.0, 2.0
    x = lamina.empty(N, dtype=lamina.float64).cauchy_(m, s).numpy()
    # a sample p-quantile's standard error is sqrt(p (1 - p) / n) / f(q), f the density at
    # the quantile: pi s / (2 sqrt n) for the median, sqrt(3) pi s / (2 sqrt n) for the
    # quartiles, which are m -+ s
    se_median = math.pi * s / (2 * math.sqrt(N))
    se_quartile = math.sqrt(3) * se_median
    assert abs(np.median(x) - m) < 5 * se_median
    q1, q3 = np.quantile(x, [0.25, 0.75])
    assert abs(q1 - (m - s)) < 5 * se_quartile and abs(q3 - (m + s)) < 5 * se_quartile


def test_log_normal_():
    lamina.manual_seed(6)
    m, s = 0.5, 0.75
    x = lamina.empty(N, dtype=lamina.float64).log_normal_(m, s).numpy()
    assert x.min() > 0
    assert_moments(np.log(x), m, s ** 2, 3 * s ** 4)


def test_geometric_():
    lamina.manual_seed(7)
    p = 0.3
    x = lamina.empty(N, dtype=lamina.float64).geometric_(p).numpy()
    assert x.min() >= 1 and np.all(x == np.round(x))
    q = 1 - p
    var = q / p ** 2
    mu4 = q * (9 * q + p ** 2) / p ** 4      # from the excess kurtosis 6 + p^2 / q
    assert_moments(x, 1 / p, var, mu4)
    i = lamina.zeros(1000, dtype=lamina.int32).geometric_(0.5)
    assert i.dtype == lamina.int32 and i.min().item() >= 1


def test_poisson():
    lamina.manual_seed(8)
    for lam in (0.5, 4.0, 30.0):
        x = lamina.poisson(lamina.full((N,), lam, dtype=lamina.float64)).numpy()
        assert np.all(x == np.round(x))
        assert_moments(x, lam, lam, lam * (1 + 3 * lam))
    assert lamina.poisson(lamina.zeros(5)).sum().item() == 0


def test_bernoulli_and_bernoulli_():
    lamina.manual_seed(9)
    p = lamina.tensor([0.0, 0.1, 0.5, 0.9, 1.0], dtype=lamina.float64)
    x = lamina.bernoulli(p.expand(N // 5, 5)).numpy()
    assert set(np.unique(x)) <= {0.0, 1.0}
    for j, pj in enumerate(p.tolist()):
        assert_frequencies([(x[:, j] == 0).sum(), (x[:, j] == 1).sum()], [1 - pj, pj])
    y = lamina.zeros(N, dtype=lamina.int64).bernoulli_(0.25).numpy()
    assert_frequencies(np.bincount(y, minlength=2), [0.75, 0.25])
    z = lamina.zeros(N // 5, 5).bernoulli_(p.float())
    assert z[:, 0].sum().item() == 0 and z[:, 4].sum().item() == N // 5
    w = lamina.bernoulli(lamina.zeros(N, dtype=lamina.int64), 0.75)
    assert w.dtype == lamina.int64
    assert_frequencies(np.bincount(w.numpy(), minlength=2), [0.25, 0.75])


@pytest.mark.parametrize("dtype,lo,hi", [("int8", -128, 128), ("uint8", 0, 256),
                                          ("bool", 0, 2)])
def test_random_covers_the_dtype(dtype, lo, hi):
    lamina.manual_seed(10)
    d = getattr(lamina, dtype)
    x = lamina.zeros(N, dtype=d).random_(lo, hi) if dtype != "bool" else \
        lamina.zeros(N, dtype=d).random_()
    v = x.numpy().astype(np.int64) - lo
    assert_frequencies(np.bincount(v, minlength=hi - lo), np.full(hi - lo, 1 / (hi - lo)))


def test_random_ranges():
    lamina.manual_seed(11)
    x = lamina.zeros(N).random_()
    assert x.min().item() >= 0 and x.max().item() <= 2 ** 24
    assert x.max().item() > 2 ** 23                   # it really spans the range
    y = lamina.zeros(N, dtype=lamina.int64).random_(7).numpy()
    assert_frequencies(np.bincount(y, minlength=7), np.full(7, 1 / 7))
    z = lamina.zeros(N, dtype=lamina.int16).random_(-3, 2).numpy()
    assert z.min() == -3 and z.max() == 1
    big = lamina.zeros(1000, dtype=lamina.int64).random_()
    assert big.min().item() >= 0 and big.max().item() > 2 ** 60


@pytest.mark.parametrize("replacement", [True, False])
def test_multinomial_first_draws_follow_the_weights(replacement):
    lamina.manual_seed(12)
    w = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    rows = lamina.tensor(np.tile(w, (N // 10, 1)))
    idx = lamina.multinomial(rows, 3, replacement=replacement).numpy()
    assert idx.shape == (N // 10, 3) and idx.dtype == np.int64
    assert_frequencies(np.bincount(idx[:, 0], minlength=5), w / w.sum())
    if replacement:
        assert_frequencies(np.bincount(idx.ravel(), minlength=5), w / w.sum())
    else:
        assert np.all(np.sort(idx, axis=1)[:, 1:] != np.sort(idx, axis=1)[:, :-1])  # distinct
        # second draws: P(j second) = sum_i p_i p_j / (1 - p_i)
        p = w / w.sum()
        second = np.array([sum(p[i] * p[j] / (1 - p[i]) for i in range(5) if i != j)
                           for j in range(5)])
        assert_frequencies(np.bincount(idx[:, 1], minlength=5), second)


def test_multinomial_without_replacement_takes_every_category():
    lamina.manual_seed(13)
    out = lamina.multinomial(lamina.tensor([[1.0, 5.0, 0.5, 2.0]] * 50), 4).numpy()
    assert np.all(np.sort(out, axis=1) == np.arange(4))
    one = lamina.multinomial(lamina.tensor([0.0, 0.0, 3.0]), 1)
    assert one.tolist() == [2] and one.shape == (1,)
    # more samples than positive weights: the zero-weight categories come last, as in PyTorch
    few = lamina.multinomial(lamina.tensor([[0.0, 2.0, 0.0, 0.0]] * 100), 3).numpy()
    assert np.all(few[:, 0] == 1) and np.all(np.sort(few[:, 1:], axis=1) != 1)
    assert len(set(map(tuple, few[:, 1:]))) > 1       # in random order


# --- generators and reproducibility -------------------------------------------------------------

SAMPLERS = {
    "rand": lambda g: lamina.rand(5, generator=g),
    "randn": lambda g: lamina.randn(5, generator=g),
    "randint": lambda g: lamina.randint(0, 100, (5,), generator=g),
    "randperm": lambda g: lamina.randperm(10, generator=g),
    "normal": lambda g: lamina.normal(lamina.zeros(5), 1.0, generator=g),
    "normal_": lambda g: lamina.zeros(5).normal_(generator=g),
    "uniform_": lambda g: lamina.zeros(5).uniform_(generator=g),
    "bernoulli": lambda g: lamina.bernoulli(lamina.full((20,), 0.5), generator=g),
    "bernoulli_": lambda g: lamina.zeros(20).bernoulli_(0.5, generator=g),
    "multinomial": lambda g: lamina.multinomial(lamina.ones(10), 5, generator=g),
    "multinomial_r": lambda g: lamina.multinomial(lamina.ones(10), 5, True, generator=g),
    "poisson": lambda g: lamina.poisson(lamina.full((5,), 3.0), generator=g),
    "exponential_": lambda g: lamina.zeros(5).exponential_(generator=g),
    "cauchy_": lambda g: lamina.zeros(5).cauchy_(generator=g),
    "log_normal_": lambda g: lamina.zeros(5).log_normal_(generator=g),
    "geometric_": lambda g: lamina.zeros(5).geometric_(0.2, generator=g),
    "random_": lambda g: lamina.zeros(5).random_(generator=g),
    "rand_like": lambda g: lamina.rand_like(lamina.zeros(5), generator=g),
    "randn_like": lambda g: lamina.randn_like(lamina.zeros(5), generator=g),
    "randint_like": lambda g: lamina.randint_like(lamina.zeros(5), 100, generator=g),
    "dropout": lambda g: lamina.nn.functional.dropout(lamina.ones(20), 0.5, generator=g),
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_same_seed_same_stream_and_generators_independent(name):
    f = SAMPLERS[name]
    g1, g2 = lamina.Generator().manual_seed(123), lamina.Generator().manual_seed(123)
    a = f(g1).numpy().copy()
    lamina.rand(7, generator=lamina.Generator(5))     # another generator: no effect on g2
    b = f(g2).numpy()
    np.testing.assert_array_equal(a, b)
    # the global generator: seeded runs repeat, and an explicit generator does not touch it
    lamina.manual_seed(99)
    c = f(None).numpy().copy()
    lamina.manual_seed(99)
    f(lamina.Generator(1))
    d = f(None).numpy()
    np.testing.assert_array_equal(c, d)
    # a different seed gives a different stream (draws of a continuous distribution: equal
    # streams would be a bug, not chance)
    if name in ("rand", "randn", "normal", "normal_", "uniform_", "exponential_", "cauchy_",
                "log_normal_", "rand_like", "randn_like"):
        assert not np.array_equal(f(lamina.Generator(124)).numpy(),
                                  f(lamina.Generator(123)).numpy())


def test_generator_state_round_trip_and_api():
    g = lamina.Generator().manual_seed(7)
    assert g.initial_seed() == 7 and str(g.device) == "cpu"
    s = g.get_state()
    assert s.dtype == lamina.uint8 and s.ndim == 1
    a = lamina.randn(4, generator=g)
    g.set_state(s)
    np.testing.assert_array_equal(a.numpy(), lamina.randn(4, generator=g).numpy())
    fresh = lamina.Generator()
    assert isinstance(fresh.initial_seed(), int)
    again = lamina.Generator().manual_seed(fresh.initial_seed())
    np.testing.assert_array_equal(lamina.rand(3, generator=fresh).numpy(),
                                  lamina.rand(3, generator=again).numpy())
    assert lamina.Generator("cpu").device.type == "cpu"
    with pytest.raises(lamina.LaminaTypeError, match="set_state"):
        g.set_state(lamina.zeros(3))
    with pytest.raises(lamina.LaminaValueError, match="set_state"):
        g.set_state(lamina.zeros(3, dtype=lamina.uint8))
    n = g.seed()
    assert g.initial_seed() == n
    # the global generator answers the same API, and lamina.random carries torch.random's names
    lamina.random.manual_seed(3)
    assert lamina.initial_seed() == 3 and lamina.random.initial_seed() == 3
    st_ = lamina.random.get_rng_state()
    x = lamina.rand(2)
    lamina.random.set_rng_state(st_)
    np.testing.assert_array_equal(x.numpy(), lamina.rand(2).numpy())
    lamina.default_generator.manual_seed(3)
    np.testing.assert_array_equal(
        lamina.rand(2).numpy(), lamina.rand(2, generator=lamina.Generator(3)).numpy())


def test_in_place_samplers_follow_in_place_rules():
    w = lamina.zeros(3, requires_grad=True)
    with pytest.raises(lamina.LaminaValueError, match="leaf Variable"):
        w.normal_()
    with lamina.no_grad():
        w.normal_()                                   # how nn.init uses them
    assert w.requires_grad and w.is_leaf
    v = lamina.zeros(4)
    v.detach()                                        # a view shares (and creates) the counter
    before = v._version
    assert v.uniform_() is v and v._version == before + 1
    x = lamina.ones(3, requires_grad=True)
    y = x * 2
    y.uniform_()                                      # a non-leaf: gradient zero through it
    (y * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), y.detach().numpy())


# --- dtypes and shapes against PyTorch ---------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_output_dtypes_follow_pytorch(dtype):
    if not hasattr(lamina, dtype):
        pytest.skip("ml_dtypes not installed: no bfloat16")
    ld, td = getattr(lamina, dtype), getattr(torch, dtype)
    lp, tp = lamina.full((4,), 0.5, dtype=ld), torch.full((4,), 0.5, dtype=td)
    pairs = [
        (lamina.bernoulli(lp), torch.bernoulli(tp)),
        (lamina.poisson(lp), torch.poisson(tp)),
        (lamina.multinomial(lp, 2), torch.multinomial(tp, 2)),
        (lamina.normal(lp, 1.0), torch.normal(tp, 1.0)),
        (lamina.normal(0.0, lp), torch.normal(0.0, tp)),
        (lamina.normal(lp, lamina.ones(4)), torch.normal(tp, torch.ones(4))),
        (lamina.normal(0.0, 1.0, (2,), dtype=ld), torch.normal(0.0, 1.0, (2,), dtype=td)),
        (lamina.rand_like(lp), torch.rand_like(tp)),
        (lamina.randint_like(lp, 5), torch.randint_like(tp, 5)),
        (lamina.empty(3, dtype=ld).exponential_(), torch.empty(3, dtype=td).exponential_()),
        (lamina.empty(3, dtype=ld).random_(), torch.empty(3, dtype=td).random_()),
    ]
    for lt, tt in pairs:
        assert str(lt.dtype) == str(tt.dtype).replace("torch.", ""), (lt.dtype, tt.dtype)
        assert tuple(lt.shape) == tuple(tt.shape)


@requires_torch
@given(broadcastable_pair(0, 3, 0, 3))
def test_normal_broadcasts_like_pytorch(pair):
    sa, sb = pair
    lt = lamina.normal(lamina.zeros(sa), lamina.ones(sb))
    tt = torch.normal(torch.zeros(sa), torch.ones(sb))
    assert tuple(lt.shape) == tuple(tt.shape)


@requires_torch
@given(shapes(0, 3, 0, 3), st.floats(0, 1))
def test_bernoulli_and_in_place_shapes(shape, p):
    lt, tt = lamina.full(shape, p), torch.full(shape, p)
    assert tuple(lamina.bernoulli(lt).shape) == tuple(torch.bernoulli(tt).shape)
    for name in ("uniform_", "normal_", "exponential_", "cauchy_", "log_normal_"):
        assert getattr(lamina.zeros(shape), name)().shape == tuple(shape)


@requires_torch
@given(st.integers(0, 3), st.integers(1, 4), st.integers(1, 4), st.booleans())
def test_multinomial_shapes(rows, cats, n, replacement):
    if not replacement and n > cats:
        return
    lt = lamina.multinomial(lamina.ones(rows, cats), n, replacement)
    tt = torch.multinomial(torch.ones(rows, cats), n, replacement)
    assert tuple(lt.shape) == tuple(tt.shape) and lt.dtype == lamina.int64


# --- errors against PyTorch -------------------------------------------------------------------

ERRORS = {
    "uniform_ from>to": lambda m: m.zeros(3).uniform_(1, 0),
    "uniform_ int": lambda m: m.zeros(3, dtype=m.int64).uniform_(),
    "normal_ std<0": lambda m: m.zeros(3).normal_(0, -1),
    "normal_ int": lambda m: m.zeros(3, dtype=m.int64).normal_(),
    "exponential_ lambda<=0": lambda m: m.zeros(3).exponential_(0),
    "exponential_ int": lambda m: m.zeros(3, dtype=m.int64).exponential_(),
    "bernoulli_ p>1": lambda m: m.zeros(3).bernoulli_(2.0),
    "bernoulli_ tensor p": lambda m: m.zeros(3).bernoulli_(m.tensor([0.5, 2.0, 0.1])),
    "geometric_ p=0": lambda m: m.zeros(3).geometric_(0),
    "geometric_ p=1": lambda m: m.zeros(3).geometric_(1),
    "log_normal_ std=0": lambda m: m.zeros(3).log_normal_(1, 0),
    "log_normal_ int": lambda m: m.zeros(3, dtype=m.int64).log_normal_(),
    "cauchy_ sigma=0": lambda m: m.zeros(3).cauchy_(0, 0),
    "cauchy_ int": lambda m: m.zeros(3, dtype=m.int64).cauchy_(),
    "random_ from>=to": lambda m: m.zeros(3).random_(5, 3),
    "random_ to<0": lambda m: m.zeros(3).random_(-5),
    "random_ bool bound": lambda m: m.zeros(3, dtype=m.bool).random_(0, 5),
    "random_ uint8 bound": lambda m: m.zeros(3, dtype=m.uint8).random_(0, 300),
    "random_ int8 from": lambda m: m.zeros(3, dtype=m.int8).random_(-200, 0),
    "random_ half bound": lambda m: m.zeros(3, dtype=m.float16).random_(0, 70000),
    "multinomial n>k": lambda m: m.multinomial(m.tensor([1.0, 2.0]), 3),
    "multinomial n=0": lambda m: m.multinomial(m.tensor([1.0, 2.0]), 0),
    "multinomial negative": lambda m: m.multinomial(m.tensor([1.0, -2.0]), 1),
    "multinomial nan": lambda m: m.multinomial(m.tensor([1.0, float("nan")]), 1),
    "multinomial inf": lambda m: m.multinomial(m.tensor([1.0, float("inf")]), 1),
    "multinomial zeros": lambda m: m.multinomial(m.tensor([0.0, 0.0]), 1),
    "multinomial zero row": lambda m: m.multinomial(m.tensor([[1.0, 2.0], [0.0, 0.0]]), 1),
    "multinomial int": lambda m: m.multinomial(m.tensor([1, 2]), 1),
    "multinomial 3-d": lambda m: m.multinomial(m.ones(2, 2, 2), 1),
    "multinomial 0-d": lambda m: m.multinomial(m.tensor(1.0), 1),
    "multinomial float n": lambda m: m.multinomial(m.ones(3), 2.0),
    "multinomial empty cats": lambda m: m.multinomial(m.ones(2, 0), 1),
    "bernoulli p>1": lambda m: m.bernoulli(m.tensor([0.5, 2.0])),
    "bernoulli nan": lambda m: m.bernoulli(m.tensor([0.5, float("nan")])),
    "bernoulli int": lambda m: m.bernoulli(m.tensor([1, 0])),
    "bernoulli p arg": lambda m: m.bernoulli(m.tensor([0.5, 0.5]), 1.3),
    "poisson negative": lambda m: m.poisson(m.tensor([1.0, -1.0])),
    "poisson nan": lambda m: m.poisson(m.tensor([1.0, float("nan")])),
    "poisson int": lambda m: m.poisson(m.tensor([1, 2])),
    "normal std<0": lambda m: m.normal(m.zeros(3), -1.0),
    "normal std tensor<0": lambda m: m.normal(0.0, m.tensor([1.0, -1.0])),
    "normal size std<0": lambda m: m.normal(0.0, -1.0, (2, 3)),
    "normal shapes": lambda m: m.normal(m.zeros(3), m.ones(4)),
    "normal int mean": lambda m: m.normal(m.zeros(3, dtype=m.int64), 1.0),
    "normal no size": lambda m: m.normal(0.0, 1.0),
    "rand_like int": lambda m: m.rand_like(m.zeros(3, dtype=m.int64)),
    "randn_like bool": lambda m: m.randn_like(m.zeros(3, dtype=m.bool)),
    "randint_like from>=to": lambda m: m.randint_like(m.zeros(3, dtype=m.int64), 5, 3),
    "randint uint8 bound": lambda m: m.randint(0, 300, (3,), dtype=m.uint8),
    "randint bool bound": lambda m: m.randint(5, (3,), dtype=m.bool),
    "randn int": lambda m: m.randn(3, dtype=m.int64),
    "rand int32": lambda m: m.rand(3, dtype=m.int32),
    "randperm int8 overflow": lambda m: m.randperm(300, dtype=m.int8),
}


@requires_torch
@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_like_pytorch(case):
    fn = ERRORS[case]
    with pytest.raises((RuntimeError, TypeError, ValueError)):
        fn(torch)
    with pytest.raises(lamina.LaminaError) as info:
        fn(lamina)
    op = case.split()[0]
    assert str(info.value).startswith(op + ":"), str(info.value)
