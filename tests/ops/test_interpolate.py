"""interpolate in every mode for 3-, 4- and 5-D inputs against PyTorch (values, gradients,
NaN/inf placement, errors), and gradcheck."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lamina
from lamina.ops.resample import interpolate
from tests.helpers import check_grad, check_op, check_raises_like, requires_torch, torch

if torch is not None:
    import torch.nn.functional as TF

MODES = {"nearest": (1, 2, 3), "nearest-exact": (1, 2, 3), "area": (1, 2, 3),
         "linear": (1,), "bilinear": (2,), "bicubic": (2,), "trilinear": (3,)}
INTERPOLATING = ("linear", "bilinear", "bicubic", "trilinear")


@st.composite
def resize_cases(draw):
    mode = draw(st.sampled_from(sorted(MODES)))
    nd = draw(st.sampled_from(MODES[mode]))
    spatial = tuple(draw(st.integers(1, 6)) for _ in range(nd))
    kw = {"mode": mode}
    if mode in INTERPOLATING:
        kw["align_corners"] = draw(st.sampled_from([None, False, True]))
    if draw(st.booleans()):
        kw["size"] = tuple(draw(st.integers(1, 9)) for _ in range(nd))
    else:
        factors = st.sampled_from([0.5, 0.7, 1.0, 1.1, 1.5, 2.0, 2.3, 3.0])
        kw["scale_factor"] = draw(factors) if draw(st.booleans()) else \
            tuple(draw(factors) for _ in range(nd))
        kw["recompute_scale_factor"] = draw(st.sampled_from([None, False, True]))
        sf = kw["scale_factor"]
        sf = sf if isinstance(sf, tuple) else (sf,) * nd
        if min(int(n * f) for n, f in zip(spatial, sf)) < 1:
            kw["scale_factor"] = 2.0
    return (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + spatial, kw


def _torch_backward_is_adjoint(shape, kw):
    """PyTorch's backward kernels take index shortcuts their forwards do not: nearest (1-D and
    3-D) when an axis keeps or doubles its size, bicubic when it keeps it, under a scale
    factor that is not 1 or 2. There PyTorch's gradient is not the adjoint of its output;
    lamina's is (gradcheck below), so only the values are compared."""
    sf = kw.get("scale_factor")
    if sf is None or kw.get("recompute_scale_factor") or kw.get("align_corners"):
        return True
    nd = len(shape) - 2
    sf = sf if isinstance(sf, tuple) else (sf,) * nd
    for n, f in zip(shape[2:], sf):
        out = int(n * f)
        if kw["mode"] == "nearest" and nd != 2 and out in (n, 2 * n) and f not in (1.0, 2.0):
            return False
        if kw["mode"] == "bicubic" and out == n and f != 1.0:
            return False
    return True


@requires_torch
@settings(max_examples=80)
@given(resize_cases(), st.booleans())
def test_interpolate_matches_torch(case, noncontiguous):
    shape, kw = case
    check_op([shape], lambda x: TF.interpolate(x, **kw), lambda x: interpolate(x, **kw),
             grad=_torch_backward_is_adjoint(shape, kw), noncontiguous=noncontiguous)


@requires_torch
@settings(max_examples=30)
@given(resize_cases())
def test_interpolate_float32(case):
    shape, kw = case
    check_op([shape], lambda x: TF.interpolate(x, **kw), lambda x: interpolate(x, **kw),
             dtype=np.float32, grad=_torch_backward_is_adjoint(shape, kw))


@requires_torch
@pytest.mark.parametrize("mode,shape", [("nearest", (1, 1, 3)), ("nearest", (1, 1, 2, 3, 3)),
                                        ("bicubic", (1, 1, 5, 4))])
def test_gradient_is_the_adjoint_where_torch_backward_is_not(mode, shape):
    # sizes kept (1.1) or doubled (2.3): values match PyTorch, gradients pass gradcheck
    sf = 1.1 if mode == "bicubic" else 2.3
    check_op([shape], lambda x: TF.interpolate(x, scale_factor=sf, mode=mode),
             lambda x: interpolate(x, scale_factor=sf, mode=mode), grad=False)
    check_grad(lambda x: interpolate(x, scale_factor=sf, mode=mode), [shape])


def _corners(mode):
    return (False, True) if mode in INTERPOLATING else (None,)


@pytest.mark.parametrize("mode,nd,align_corners", [
    (m, nd, ac) for m, nds in MODES.items() for nd in nds for ac in _corners(m)])
def test_gradcheck(mode, nd, align_corners):
    kw = {"mode": mode, "size": (5, 2, 3)[:nd], "align_corners": align_corners}
    check_grad(lambda x: interpolate(x, **kw), [(1, 2) + (3, 4, 2)[:nd]])


_NAN_CASES = [
    ("linear", (1, 1, 1), 3), ("linear", (1, 1, 2), 5), ("bilinear", (1, 1, 2, 2), 5),
    ("bicubic", (1, 1, 2, 2), 5), ("trilinear", (1, 1, 1, 1, 1), 3),
    ("trilinear", (1, 1, 2, 1, 2), 3), ("nearest", (1, 1, 2, 2), 3),
    ("nearest-exact", (1, 1, 2, 2, 2), 3), ("area", (1, 1, 4, 4), 2),
]


@requires_torch
@pytest.mark.parametrize("mode,shape,size,align_corners", [
    c + (ac,) for c in _NAN_CASES for ac in _corners(c[0])])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_and_inf_reach_the_outputs_they_reach_in_torch(mode, shape, size, align_corners,
                                                          dtype):
    x = np.random.default_rng(0).normal(size=shape).astype(dtype)
    x.flat[0] = np.inf
    x.flat[-1] = np.nan
    kw = dict(size=size, mode=mode, align_corners=align_corners)
    with np.errstate(invalid="ignore"):
        check_op([x], lambda t: TF.interpolate(t, **kw), lambda t: interpolate(t, **kw),
                 grad=False, dtype=dtype)


@requires_torch
@pytest.mark.parametrize("f", [
    lambda F, x: F.interpolate(x, scale_factor=2, mode="bilinear"),       # 3-D, needs 4-D
    lambda F, x: F.interpolate(x, scale_factor=2, mode="trilinear"),
    lambda F, x: F.interpolate(x, scale_factor=2, mode="bicubic"),
    lambda F, x: F.interpolate(x, scale_factor=2, mode="cubic"),          # unknown mode
    lambda F, x: F.interpolate(x, scale_factor=2, align_corners=True),    # nearest
    lambda F, x: F.interpolate(x, size=2, scale_factor=2),
    lambda F, x: F.interpolate(x),
    lambda F, x: F.interpolate(x, size=(2, 2)),
    lambda F, x: F.interpolate(x, size=2.0),
    lambda F, x: F.interpolate(x, scale_factor=(2, 2)),
    lambda F, x: F.interpolate(x, size=2, recompute_scale_factor=True),
    lambda F, x: F.interpolate(x, scale_factor=0.2),                      # empty output
    lambda F, x: F.interpolate(x, size=0),
    lambda F, x: F.interpolate(x[0], scale_factor=2),                     # 2-D input
    lambda F, x: F.interpolate(x, scale_factor=2, mode="linear", antialias=True),
])
def test_errors_like_torch(f):
    import lamina.nn.functional as LF
    check_raises_like(lambda x: f(TF, x), lambda x: f(LF, x), [(1, 2, 3)])


def test_error_messages_name_the_op():
    with pytest.raises(ValueError, match="^interpolate: got 3-D input, but bilinear mode"):
        interpolate(lamina.zeros(1, 2, 3), scale_factor=2, mode="bilinear")
    with pytest.raises(ValueError, match="^interpolate: input and output sizes"):
        interpolate(lamina.zeros(1, 2, 3), size=0)
    with pytest.raises(NotImplementedError, match="antialias"):
        interpolate(lamina.zeros(1, 2, 3, 3), scale_factor=2, mode="bilinear", antialias=True)
