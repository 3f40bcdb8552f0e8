"""The 3-D conv and pooling layers, Fold/Unfold, the padding layers and Upsample in every
mode against torch.nn on the same weights (outputs, input and parameter gradients, float64),
plus F.normalize and F.one_hot parity."""

import numpy as np
import pytest

import lamina
import lamina.nn as nn
import lamina.nn.functional as F
from tests.helpers import check_op, check_raises_like, requires_torch, torch
from tests.nn.module_parity import check_module

if torch is not None:
    import torch.nn.functional as TF

pytestmark = requires_torch


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


def _same(name, *args, **kwargs):
    """The lamina and torch layers of one name built with the same arguments."""
    torch.manual_seed(0)
    return getattr(torch.nn, name)(*args, **kwargs), getattr(nn, name)(*args, **kwargs)


@pytest.mark.parametrize("args,kwargs,shape", [
    ((2, 4, 3), dict(padding=1), (2, 2, 4, 5, 6)),
    ((4, 6, (1, 2, 3)), dict(stride=(1, 2, 1), dilation=(2, 1, 1), groups=2, bias=False),
     (1, 4, 5, 6, 7)),
    ((2, 3, 3), dict(padding="same"), (2, 4, 4, 4)),                   # unbatched
    ((2, 3, 3), dict(padding=1, padding_mode="reflect"), (1, 2, 4, 5, 6)),
    ((2, 3, 3), dict(padding=(1, 2, 1), padding_mode="replicate"), (1, 2, 4, 5, 6)),
    ((2, 3, 3), dict(padding=2, padding_mode="circular"), (1, 2, 4, 5, 6)),
])
def test_conv3d_layer(args, kwargs, shape):
    tm, lm = _same("Conv3d", *args, **kwargs)
    check_module(tm, lm, lambda m, lib, x: m(x), [_x(shape)])


@pytest.mark.parametrize("args,kwargs,shape", [
    ((4, 2, 3), dict(stride=2, padding=1, output_padding=1), (2, 4, 3, 2, 3)),
    ((4, 6, (2, 1, 3)), dict(stride=(1, 2, 1), groups=2, dilation=(1, 1, 2), bias=False),
     (1, 4, 2, 3, 2)),
])
def test_conv_transpose3d_layer(args, kwargs, shape):
    tm, lm = _same("ConvTranspose3d", *args, **kwargs)
    check_module(tm, lm, lambda m, lib, x: m(x), [_x(shape)])


def test_conv_transpose3d_output_size():
    tm, lm = _same("ConvTranspose3d", 2, 3, 3, stride=2)
    check_module(tm, lm, lambda m, lib, x: m(x, output_size=(8, 7, 10)), [_x((1, 2, 3, 3, 4))])


def test_conv3d_default_init_and_state_dict_layout():
    tm, lm = _same("Conv3d", 3, 8, (2, 3, 4))
    assert {k: tuple(v.shape) for k, v in lm.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in tm.state_dict().items()}
    bound = 1 / np.sqrt(3 * 2 * 3 * 4)
    assert np.abs(lm.weight.detach().numpy()).max() <= bound
    assert np.abs(lm.bias.detach().numpy()).max() <= bound
    assert repr(lm) == repr(tm)


@pytest.mark.parametrize("name,args,kwargs", [
    ("MaxPool3d", (2,), {}),
    ("MaxPool3d", ((2, 3, 2),), dict(stride=1, padding=1, dilation=(1, 1, 2), ceil_mode=True)),
    ("AvgPool3d", (3,), dict(stride=2, padding=1, count_include_pad=False, ceil_mode=True)),
    ("AvgPool3d", (2,), dict(divisor_override=5)),
    ("AdaptiveAvgPool3d", ((2, None, 3),), {}),
    ("AdaptiveMaxPool3d", (2,), {}),
])
def test_pool3d_layers(name, args, kwargs):
    tm, lm = _same(name, *args, **kwargs)
    check_module(tm, lm, lambda m, lib, x: m(x), [_x((2, 3, 5, 6, 7))])
    check_module(tm, lm, lambda m, lib, x: m(x), [_x((3, 4, 5, 6))])


def test_max_pool3d_layer_return_indices():
    tm, lm = _same("MaxPool3d", 2, return_indices=True)
    out = check_module(tm, lm, lambda m, lib, x: m(x), [_x((1, 2, 4, 4, 4))])
    assert out[1].dtype == lamina.int64


def test_fold_unfold_layers_and_round_trip():
    tm, lm = _same("Unfold", (2, 3), dilation=(1, 2), padding=1, stride=(2, 1))
    check_module(tm, lm, lambda m, lib, x: m(x), [_x((2, 3, 5, 6))])
    tm, lm = _same("Fold", (5, 6), (2, 3), dilation=(1, 2), padding=1, stride=(2, 1))
    check_module(tm, lm, lambda m, lib, x: m(x), [_x((2, 18, 12))])
    assert repr(lm) == repr(tm)
    # fold(unfold(x)) multiplies each pixel by the number of blocks that cover it
    x = lamina.tensor(_x((1, 2, 4, 4)))
    kw = dict(kernel_size=2, stride=1)
    counts = nn.Fold((4, 4), **kw)(nn.Unfold(**kw)(lamina.ones(1, 2, 4, 4)))
    np.testing.assert_allclose(nn.Fold((4, 4), **kw)(nn.Unfold(**kw)(x)).numpy(),
                               (x * counts).numpy())


PADS = [(f"{kind}Pad{n}d", n) for kind in ("Reflection", "Replication", "Circular", "Zero")
        for n in (1, 2, 3)]


@pytest.mark.parametrize("name,n", PADS)
@pytest.mark.parametrize("padding", ["int", "tuple"])
def test_padding_layers(name, n, padding):
    amounts = 2 if padding == "int" else (2, 1, 0, 2, 1, 1)[:2 * n]
    tm, lm = _same(name, amounts)
    shape = (2, 3, 4, 5, 3)[-(n + 2):]
    check_module(tm, lm, lambda m, lib, x: m(x), [_x(shape)])
    check_module(tm, lm, lambda m, lib, x: m(x), [_x(shape[1:])])      # unbatched
    assert repr(lm) == repr(tm)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_constant_padding_layers(n):
    tm, lm = _same(f"ConstantPad{n}d", (1, 2, 0, 1, 2, 0)[:2 * n], 1.5)
    check_module(tm, lm, lambda m, lib, x: m(x), [_x((2, 3, 4, 5, 3)[-(n + 2):])])
    assert repr(lm) == repr(tm)


def test_padding_layer_errors_like_torch():
    check_raises_like(lambda x: torch.nn.ReflectionPad1d(4)(x),
                      lambda x: nn.ReflectionPad1d(4)(x), [(1, 2, 4)])
    check_raises_like(lambda x: torch.nn.CircularPad2d(5)(x),
                      lambda x: nn.CircularPad2d(5)(x), [(1, 2, 4, 4)])
    with pytest.raises(TypeError, match="ReflectionPad2d: padding must be"):
        nn.ReflectionPad2d((1, 2, 3))


@pytest.mark.parametrize("mode,shape,kwargs", [
    ("nearest", (1, 2, 3, 4, 5), dict(scale_factor=2)),
    ("nearest-exact", (1, 2, 3, 4), dict(size=(5, 7))),
    ("area", (1, 2, 6, 5), dict(size=(3, 2))),
    ("linear", (1, 2, 5), dict(scale_factor=1.5, align_corners=True)),
    ("bilinear", (1, 2, 3, 4), dict(scale_factor=(2.0, 1.5))),
    ("bicubic", (1, 2, 3, 4), dict(size=(6, 5), align_corners=True)),
    ("trilinear", (1, 2, 3, 2, 4), dict(scale_factor=2, recompute_scale_factor=True)),
])
def test_upsample_layer_every_mode(mode, shape, kwargs):
    tm, lm = _same("Upsample", mode=mode, **kwargs)
    check_module(tm, lm, lambda m, lib, x: m(x), [_x(shape)])


# --- F.normalize and F.one_hot ---------------------------------------------------------------

@pytest.mark.parametrize("shape,kwargs", [
    ((3, 4), {}), ((2, 3, 4), dict(p=1, dim=-1)), ((4,), dict(dim=0)),
    ((3, 4), dict(p=3.5, dim=0)), ((3, 0), {}), ((2, 3), dict(p=float("inf"))),
    ((2, 1, 3), dict(eps=0.5)),
])
def test_normalize_matches_torch(shape, kwargs):
    check_op([shape], lambda x: TF.normalize(x, **kwargs), lambda x: F.normalize(x, **kwargs))
    check_op([shape], lambda x: TF.normalize(x, **kwargs), lambda x: F.normalize(x, **kwargs),
             noncontiguous=True)


def test_normalize_zero_rows_and_gradcheck():
    x = np.zeros((3, 4))
    x[1] = [1.0, -2.0, 0.5, 3.0]
    check_op([x], lambda t: TF.normalize(t), lambda t: F.normalize(t))
    assert lamina.autograd.gradcheck(lambda t: F.normalize(t, p=3, dim=0),
                                     [lamina.tensor(_x((3, 4)), requires_grad=True)])


def test_normalize_errors():
    check_raises_like(lambda x: TF.normalize(x, dim=2), lambda x: F.normalize(x, dim=2),
                      [(3, 4)])
    with pytest.raises(ValueError, match="^normalize: "):
        F.normalize(lamina.tensor([1, 2]))


@pytest.mark.parametrize("values,num_classes", [([1, 2], 2), ([1, 2], 0), ([], 0), ([], -1),
                                                ([1, -1], 3), ([1, 2], -2)])
def test_one_hot_errors_like_torch(values, num_classes):
    with pytest.raises(RuntimeError):
        TF.one_hot(torch.tensor(values, dtype=torch.int64), num_classes)
    with pytest.raises(ValueError, match="^one_hot: "):
        F.one_hot(lamina.tensor(np.array(values, dtype=np.int64)), num_classes)


def test_one_hot_parity():
    for values, k in (([[0, 3], [2, 1]], -1), ([], 3), ([4], 6), (2, 3)):
        t = np.array(values, dtype=np.int64)
        got = F.one_hot(lamina.tensor(t), k)
        want = TF.one_hot(torch.tensor(t), k).numpy()
        assert got.dtype == lamina.int64
        np.testing.assert_array_equal(got.numpy(), want)
