"""F.unfold / F.fold against PyTorch (values, gradients, errors) and gradcheck; each is the
other's adjoint."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lamina
from lamina.ops.fold import fold, unfold
from tests.helpers import check_grad, check_op, check_raises_like, requires_torch, torch

if torch is not None:
    import torch.nn.functional as TF


@st.composite
def block_cases(draw):
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    size = tuple(draw(st.integers(max(1, di * (ki - 1) + 1 - 2 * pi), 7))
                 for ki, di, pi in zip(k, d, p))
    out = tuple((n + 2 * pi - di * (ki - 1) - 1) // si + 1
                for n, ki, di, pi, si in zip(size, k, d, p, s))
    lead = draw(st.sampled_from([(), (1,), (2,)]))
    c = draw(st.integers(1, 3))
    return dict(kernel_size=k, dilation=d, padding=p, stride=s), size, out, lead, c


@requires_torch
@settings(max_examples=40)
@given(block_cases(), st.booleans())
def test_unfold_matches_torch(case, noncontiguous):
    kw, size, _, lead, c = case
    check_op([lead + (c,) + size], lambda x: TF.unfold(x, **kw), lambda x: unfold(x, **kw),
             noncontiguous=noncontiguous)


@requires_torch
@settings(max_examples=40)
@given(block_cases(), st.booleans())
def test_fold_matches_torch(case, noncontiguous):
    kw, size, out, lead, c = case
    shape = lead + (c * kw["kernel_size"][0] * kw["kernel_size"][1], out[0] * out[1])
    check_op([shape], lambda x: TF.fold(x, size, **kw), lambda x: fold(x, size, **kw),
             noncontiguous=noncontiguous)


@requires_torch
def test_unfold_fold_float32_and_empty_batch():
    check_op([(2, 3, 5, 6)], lambda x: TF.unfold(x, (2, 3), padding=1),
             lambda x: unfold(x, (2, 3), padding=1), dtype=np.float32)
    check_op([(0, 3, 4, 4)], lambda x: TF.unfold(x, 2), lambda x: unfold(x, 2))
    check_op([(0, 12, 9)], lambda x: TF.fold(x, (4, 4), 2), lambda x: fold(x, (4, 4), 2))


def test_unfold_fold_gradcheck():
    kw = dict(kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=(2, 1))
    check_grad(lambda x: unfold(x, **kw), [(2, 2, 4, 5)])
    check_grad(lambda x: fold(x, (4, 5), **kw), [(2, 12, 9)])


def test_fold_is_the_adjoint_of_unfold():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 5, 6))
    y = rng.normal(size=(2, 3 * 6, 15))
    kw = dict(kernel_size=(2, 3), dilation=(2, 1), padding=1, stride=(1, 2))
    ux = unfold(lamina.tensor(x), **kw).numpy()
    fy = fold(lamina.tensor(y), (5, 6), **kw).numpy()
    assert ux.shape == y.shape
    np.testing.assert_allclose((ux * y).sum(), (x * fy).sum(), rtol=1e-12)


@requires_torch
@pytest.mark.parametrize("f,shape", [
    (lambda L, x: L.unfold(x, 7), (2, 3, 5, 6)),                # kernel bigger than input
    (lambda L, x: L.unfold(x, 0), (2, 3, 5, 6)),
    (lambda L, x: L.unfold(x, 2, stride=0), (2, 3, 5, 6)),
    (lambda L, x: L.unfold(x, 2, padding=-1), (2, 3, 5, 6)),
    (lambda L, x: L.unfold(x, 2), (1, 2, 3, 5, 6)),             # 5-D
    (lambda L, x: L.unfold(x, 2), (5, 6)),                      # 2-D
    (lambda L, x: L.unfold(x, 2), (2, 0, 4, 4)),                # no channels
    (lambda L, x: L.fold(x, (5, 5), 2), (2, 12, 20)),           # wrong block count
    (lambda L, x: L.fold(x, (5, 6), 2), (2, 13, 20)),           # channels not divisible
    (lambda L, x: L.fold(x, (5, 6, 1), 2), (2, 12, 20)),
    (lambda L, x: L.fold(x, (5, 6), 2), (1, 2, 12, 20)),        # 4-D
])
def test_errors_like_torch(f, shape):
    import lamina.nn.functional as LF
    check_raises_like(lambda x: f(TF, x), lambda x: f(LF, x), [shape])


def test_error_messages_name_the_op():
    with pytest.raises(ValueError, match="^unfold: "):
        unfold(lamina.zeros(2, 3, 5, 6), 7)
    with pytest.raises(ValueError, match="^fold: "):
        fold(lamina.zeros(2, 12, 20), (5, 5), 2)
    with pytest.raises(TypeError, match="^unfold: kernel_size"):
        unfold(lamina.zeros(2, 3, 5, 6), (1, 2, 3))
