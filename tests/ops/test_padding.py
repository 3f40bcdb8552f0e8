"""F.pad's reflect / replicate / circular modes against PyTorch (values, gradients, errors),
plus gradcheck, for 1-, 2- and 3-D padding of batched and unbatched inputs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lamina
from lamina.ops.movement import pad
from lamina.ops.padding import source_index
from tests.helpers import check_grad, check_op, check_raises_like, requires_torch, torch

if torch is not None:
    import torch.nn.functional as TF

MODES = ["reflect", "replicate", "circular"]


@st.composite
def pad_cases(draw):
    """A mode, an input shape and amounts PyTorch accepts (negative ones crop)."""
    mode = draw(st.sampled_from(MODES))
    n = draw(st.integers(1, 3))
    batched = draw(st.booleans())
    spatial = tuple(draw(st.integers(1, 5)) for _ in range(n))
    lead = (draw(st.integers(1, 2)),) * batched + (draw(st.integers(1, 2)),)
    amounts = []
    for size in reversed(spatial):                 # F.pad lists the last dim first
        if mode == "reflect":
            lo, hi = -(size - 1), size - 1
        elif mode == "replicate":
            lo, hi = -(size - 1), 4
        else:
            lo, hi = -(size - 1), size
        b = draw(st.integers(max(lo, -1), hi))
        a = draw(st.integers(max(lo, -1), hi))
        if size + b + a < 1 or (mode == "circular" and max(b, a) > size - max(-b, 0)
                                - max(-a, 0)):
            b, a = abs(b), abs(a)                  # keep the case valid
            b, a = min(b, hi), min(a, hi)
        amounts += [b, a]
    return mode, lead + spatial, tuple(amounts)


@requires_torch
@settings(max_examples=60)
@given(pad_cases(), st.booleans())
def test_pad_modes_match_torch(case, noncontiguous):
    mode, shape, p = case
    check_op([shape], lambda x: TF.pad(x, p, mode=mode), lambda x: pad(x, p, mode=mode),
             noncontiguous=noncontiguous)


@requires_torch
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape,p", [
    ((2, 3, 5), (2, 3)), ((3, 5), (4, 1)), ((1, 2, 4, 5), (1, 2, 3, 0)),
    ((2, 4, 5), (-1, 2, 3, 1)), ((1, 2, 3, 4, 5), (1, 2, 2, 1, 0, 2)),
    ((2, 3, 4, 5), (1, 0, 2, 1, 2, 1)), ((2, 3, 1), (0, 0)), ((0, 3, 4), (1, 1)),
    ((2, 1, 1, 1, 1), (0, 0, 0, 0, 0, 0)),
])
def test_pad_modes_fixed_cases(mode, shape, p):
    check_op([shape], lambda x: TF.pad(x, p, mode=mode), lambda x: pad(x, p, mode=mode))


@requires_torch
@pytest.mark.parametrize("p", [(-1, 3), (3, -1), (-2, 2), (2, -3), (-4, 1), (-5, 0),
                               (-1, -1)])
def test_circular_crops_before_wrapping(p):
    # PyTorch crops by the negative amount first and wraps around the rest
    check_op([(1, 2, 5)], lambda x: TF.pad(x, p, mode="circular"),
             lambda x: pad(x, p, mode="circular"))


@requires_torch
@pytest.mark.parametrize("mode", MODES)
def test_pad_modes_float32(mode):
    check_op([(2, 3, 4, 5)], lambda x: TF.pad(x, (1, 2, 3, 0), mode=mode),
             lambda x: pad(x, (1, 2, 3, 0), mode=mode), dtype=np.float32)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape,p", [((2, 4), (2, 3)), ((1, 3, 4), (1, 2, 2, 0)),
                                     ((1, 3, 3, 3), (1, 1, 2, 0, 0, 2))])
def test_pad_modes_gradcheck(mode, shape, p):
    check_grad(lambda x: pad(x, p, mode=mode), [shape])


def test_reflect_gradient_sums_the_copies():
    x = lamina.tensor([[[1.0, 2.0, 3.0]]], requires_grad=True)
    pad(x, (2, 2), mode="reflect").sum().backward()
    # output: 3 2 | 1 2 3 | 2 1  -> position 0 read twice, 1 three times, 2 twice
    np.testing.assert_array_equal(x.grad.numpy(), [[[2.0, 3.0, 2.0]]])


def test_source_index_rules():
    np.testing.assert_array_equal(source_index(4, 2, 3, "reflect"), [2, 1, 0, 1, 2, 3, 2, 1, 0])
    np.testing.assert_array_equal(source_index(3, 2, 2, "replicate"), [0, 0, 0, 1, 2, 2, 2])
    np.testing.assert_array_equal(source_index(3, 2, 2, "circular"), [1, 2, 0, 1, 2, 0, 1])


def test_integer_inputs_pad():
    x = lamina.tensor(np.arange(6).reshape(1, 2, 3))
    out = pad(x, (1, 1), mode="replicate")
    assert out.dtype == lamina.int64
    np.testing.assert_array_equal(out.numpy(), [[[0, 0, 1, 2, 2], [3, 3, 4, 5, 5]]])


@requires_torch
@pytest.mark.parametrize("mode,shape,p", [
    ("reflect", (1, 3, 4), (4, 0)),              # reflect needs padding < size
    ("reflect", (1, 3, 4), (-3, -1)),            # output too small
    ("replicate", (1, 3, 4), (-2, -2)),
    ("circular", (1, 3, 4), (5, 0)),             # wraps around more than once
    ("circular", (1, 3, 4), (-3, -2)),           # negative output size
    ("reflect", (4,), (1, 1)),                   # 1-D input: no non-constant padding
    ("replicate", (1, 1, 1, 3, 4), (1, 1, 1, 1)),  # 5-D input with 2-D padding
    ("circular", (1, 2, 3, 4, 5, 6), (1, 1, 1, 1, 1, 1)),
    ("reflect", (1, 3, 4), (1, 1, 1)),           # odd length
    ("reflect", (2, 0, 4), (1, 1)),              # empty non-batch dim
    ("replicate", (2, 3, 0), (0, 0)),
])
def test_pad_mode_errors_like_torch(mode, shape, p):
    check_raises_like(lambda x: TF.pad(x, p, mode=mode), lambda x: pad(x, p, mode=mode),
                      [shape])


def test_pad_mode_error_messages():
    with pytest.raises(ValueError, match="pad: padding size should be less than"):
        pad(lamina.zeros(1, 3, 4), (4, 0), mode="reflect")
    with pytest.raises(ValueError, match="pad: padding value causes wrapping around"):
        pad(lamina.zeros(1, 3, 4), (5, 0), mode="circular")
    with pytest.raises(ValueError, match="doesn't take in value"):
        pad(lamina.zeros(1, 3, 4), (1, 0), mode="reflect", value=2.0)
    with pytest.raises(ValueError, match="pad: mode 'reflect' pads 1, 2 or 3 trailing dims"):
        pad(lamina.zeros(4), (1, 1), mode="reflect")
