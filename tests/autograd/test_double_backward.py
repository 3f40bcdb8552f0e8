"""Gradients of gradients (``create_graph=True``) against PyTorch's double backward, and
lamina's ``gradgradcheck`` on every covered op.

For each case: ``y = f(x)``, a random output gradient ``v`` (itself requiring grad), the
recorded first derivatives ``g = grad(y, x, v, create_graph=True)``, then the gradients of
``sum(g * w)`` (``w`` random) with respect to ``x`` (the Hessian-vector product) and ``v``
(the Jacobian-vector product ``J w``): all compared with torch.autograd.grad in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lamina
from lamina.autograd import Function, GradcheckError, gradgradcheck
from tests.helpers import make_arrays, requires_torch, torch
from tests.strategies import broadcastable_pair, shapes

TOL = dict(rtol=1e-7, atol=1e-10)
I64 = np.int64


def _libs(lib):
    return lib, lib.nn.functional


def _grads(lib, ys, xs, vs, ws):
    """First derivatives (recorded) and the second-order gradients of sum(g * w)."""
    diff = [x for x in xs if x.requires_grad]
    pairs = [(y, v) for y, v in zip(ys, vs) if y.requires_grad]
    gs = lib.autograd.grad([y for y, _ in pairs], diff, [v for _, v in pairs],
                           create_graph=True, allow_unused=True)
    terms = [(g * w).sum() for g, w in zip(gs, ws) if g is not None and g.requires_grad]
    hs = [None] * (len(diff) + len(vs))
    if terms:
        s = terms[0]
        for t in terms[1:]:
            s = s + t
        hs = lib.autograd.grad(s, diff + list(vs), allow_unused=True)
    return gs, hs


def _np(t):
    return None if t is None else t.detach().numpy()


def check_double(fn, shapes, lamina_fn=None, seed=0, low=-2.0, high=2.0, positive=False,
                 gradgrad=True, tol=TOL):
    """Compare lamina's double backward of ``fn(lib, F, *xs)`` with PyTorch's, then run
    ``gradgradcheck`` on it. Integer arrays in ``shapes`` are indices (no gradient)."""
    if torch is None:
        pytest.skip("torch not installed: PyTorch parity checks skipped")
    lamina_fn = lamina_fn or fn
    arrays = make_arrays(shapes, np.float64, seed, low, high, positive)
    rng = np.random.default_rng(seed + 1)

    def run(lib, f):
        xs = [lib.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
        out = f(*_libs(lib), *xs)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        ys = [o for o in outs
              if (o.dtype.is_floating_point if lib is torch else o.dtype.kind == "f")]
        return xs, ys

    txs, tys = run(torch, fn)
    lxs, lys = run(lamina, lamina_fn)
    v_arr = [rng.standard_normal(tuple(y.shape)) for y in tys]
    w_arr = [rng.standard_normal(a.shape) for a in arrays if a.dtype.kind == "f"]
    tv = [torch.tensor(v, requires_grad=True) for v in v_arr]
    lv = [lamina.tensor(v, requires_grad=True) for v in v_arr]
    tgs, ths = _grads(torch, tys, txs, tv, [torch.tensor(w) for w in w_arr])
    lgs, lhs = _grads(lamina, lys, lxs, lv, [lamina.tensor(w) for w in w_arr])
    for k, (tg, lg) in enumerate(zip(tgs, lgs)):
        if tg is None:
            assert lg is None or np.all(_np(lg) == 0), f"first derivative {k}: expected none"
            continue
        assert lg is not None, f"first derivative {k}: lamina gives none"
        np.testing.assert_allclose(_np(lg), _np(tg), **tol,
                                   err_msg=f"first derivative {k} differs from PyTorch")
    for k, (th, lh) in enumerate(zip(ths, lhs)):
        if th is None:
            assert lh is None or np.all(_np(lh) == 0), \
                f"second-order gradient {k}: PyTorch gives none, lamina {_np(lh)}"
            continue
        if lh is None:      # no path in lamina: PyTorch's must then be zero
            np.testing.assert_array_equal(_np(th), 0, err_msg=f"second-order gradient {k}")
            continue
        np.testing.assert_allclose(_np(lh), _np(th), **tol,
                                   err_msg=f"second-order gradient {k} differs from PyTorch")
    if gradgrad:
        xs = [lamina.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
        assert gradgradcheck(lambda *t: lamina_fn(*_libs(lamina), *t), xs)


def _idx(*shape, high, seed=3):
    return np.random.default_rng(seed).integers(0, high, size=shape).astype(I64)


# (name, fn(lib, F, *xs), shapes, options): fn runs the same in torch and lamina
CASES = [
    # element-wise binary, with broadcasting and size-1 dims
    ("add", lambda m, F, a, b: a + b, [(3, 4), (4,)], {}),
    ("sub", lambda m, F, a, b: a - b, [(2, 1, 3), (4, 1)], {}),
    ("mul", lambda m, F, a, b: (a * b) * a, [(3, 4), (1, 4)], {}),
    ("mul_scalar", lambda m, F, a: 3.0 * a * a, [(2, 3)], {}),
    ("div", lambda m, F, a, b: a / b, [(3, 4), (4,)], dict(positive=True)),
    ("pow", lambda m, F, a, b: a ** b, [(3, 4), (3, 4)], dict(positive=True)),
    ("pow_scalar", lambda m, F, a: a ** 3, [(5,)], {}),
    ("rpow", lambda m, F, a: 2.0 ** a, [(5,)], {}),
    ("maximum", lambda m, F, a, b: m.maximum(a, b) * a, [(3, 4), (4,)], {}),
    ("minimum", lambda m, F, a, b: m.minimum(a, b) * b, [(3, 4), (3, 1)], {}),
    ("where", lambda m, F, a, b: m.where(a > 0, a * b, b * b), [(3, 4), (4,)], {}),
    ("atan2", lambda m, F, a, b: m.atan2(a, b), [(3, 4), (4,)], {}),
    ("hypot", lambda m, F, a, b: m.hypot(a, b), [(3, 4), (4,)], {}),
    ("logaddexp", lambda m, F, a, b: m.logaddexp(a, b), [(3, 4), (4,)], {}),
    ("logaddexp2", lambda m, F, a, b: m.logaddexp2(a, b), [(3, 4), (3, 4)], {}),
    ("xlogy", lambda m, F, a, b: m.xlogy(a, b), [(3, 4), (3, 4)], dict(positive=True)),
    ("lerp", lambda m, F, a, b, w: m.lerp(a, b, w), [(3, 4), (3, 4), (3, 4)], {}),
    ("remainder", lambda m, F, a, b: m.remainder(a, b) * a, [(3, 4), (3, 4)],
     dict(positive=True)),
    ("fmod", lambda m, F, a, b: m.fmod(a, b) * a, [(3, 4), (3, 4)], dict(positive=True)),
    ("empty", lambda m, F, a, b: (a * b).tanh(), [(0, 3), (3,)], {}),
    # element-wise unary
    ("exp", lambda m, F, a: a.exp(), [(3, 4)], {}),
    ("log", lambda m, F, a: a.log(), [(3, 4)], dict(positive=True)),
    ("log1p", lambda m, F, a: a.log1p(), [(3, 4)], dict(positive=True)),
    ("log2", lambda m, F, a: a.log2(), [(3, 4)], dict(positive=True)),
    ("log10", lambda m, F, a: a.log10(), [(3, 4)], dict(positive=True)),
    ("sqrt", lambda m, F, a: a.sqrt(), [(3, 4)], dict(positive=True)),
    ("rsqrt", lambda m, F, a: a.rsqrt(), [(3, 4)], dict(positive=True)),
    ("abs", lambda m, F, a: a.abs() * a, [(3, 4)], {}),
    ("neg", lambda m, F, a: (-a) * a, [(3, 4)], {}),
    ("sign", lambda m, F, a: a.sign() * a * a, [(3, 4)], {}),
    ("clamp", lambda m, F, a: a.clamp(-1.0, 1.0) * a, [(3, 4)], {}),
    ("sin", lambda m, F, a: a.sin(), [(3, 4)], {}),
    ("cos", lambda m, F, a: a.cos(), [(3, 4)], {}),
    ("tan", lambda m, F, a: a.tan(), [(3, 4)], dict(low=-1.0, high=1.0)),
    ("tanh", lambda m, F, a: a.tanh(), [(3, 4)], {}),
    ("sigmoid", lambda m, F, a: a.sigmoid(), [(3, 4)], {}),
    ("asin", lambda m, F, a: a.asin(), [(3, 4)], dict(low=-0.9, high=0.9)),
    ("acos", lambda m, F, a: a.acos(), [(3, 4)], dict(low=-0.9, high=0.9)),
    ("atan", lambda m, F, a: a.atan(), [(3, 4)], {}),
    ("sinh", lambda m, F, a: a.sinh(), [(3, 4)], {}),
    ("cosh", lambda m, F, a: a.cosh(), [(3, 4)], {}),
    ("asinh", lambda m, F, a: a.asinh(), [(3, 4)], {}),
    ("acosh", lambda m, F, a: (a + 1.5).acosh(), [(3, 4)], dict(positive=True)),
    ("atanh", lambda m, F, a: a.atanh(), [(3, 4)], dict(low=-0.9, high=0.9)),
    ("exp2", lambda m, F, a: a.exp2(), [(3, 4)], {}),
    ("expm1", lambda m, F, a: a.expm1(), [(3, 4)], {}),
    ("erf", lambda m, F, a: a.erf(), [(3, 4)], {}),
    ("erfc", lambda m, F, a: a.erfc(), [(3, 4)], {}),
    ("erfinv", lambda m, F, a: a.erfinv(), [(3, 4)], dict(low=-0.9, high=0.9)),
    ("lgamma", lambda m, F, a: a.lgamma(), [(3, 4)], dict(positive=True)),
    ("frac", lambda m, F, a: a.frac() * a, [(3, 4)], {}),
    ("nan_to_num", lambda m, F, a: a.nan_to_num() * a, [(3, 4)], {}),
    ("cast", lambda m, F, a: a.float().double() * a, [(3, 4)], dict(gradgrad=False)),
    # activations
    ("relu", lambda m, F, a: F.relu(a) * a, [(3, 4)], {}),
    ("relu6", lambda m, F, a: F.relu6(a * 4) * a, [(3, 4)], {}),
    ("leaky_relu", lambda m, F, a: F.leaky_relu(a, 0.1) * a, [(3, 4)], {}),
    ("elu", lambda m, F, a: F.elu(a, 0.7), [(3, 4)], {}),
    ("gelu", lambda m, F, a: F.gelu(a), [(3, 4)], {}),
    ("gelu_tanh", lambda m, F, a: F.gelu(a, approximate="tanh"), [(3, 4)], {}),
    ("silu", lambda m, F, a: F.silu(a), [(3, 4)], {}),
    ("softplus", lambda m, F, a: F.softplus(a, beta=2.0, threshold=3.0), [(3, 4)], {}),
    ("hardtanh", lambda m, F, a: F.hardtanh(a) * a, [(3, 4)], {}),
    ("hardswish", lambda m, F, a: F.hardswish(a * 3), [(3, 4)], {}),
    ("logsigmoid", lambda m, F, a: F.logsigmoid(a), [(3, 4)], {}),
    ("softsign", lambda m, F, a: F.softsign(a), [(3, 4)], {}),
    ("selu", lambda m, F, a: F.selu(a), [(3, 4)], {}),
    ("celu", lambda m, F, a: F.celu(a, 0.5), [(3, 4)], {}),
    ("mish", lambda m, F, a: F.mish(a), [(3, 4)], {}),
    ("tanhshrink", lambda m, F, a: F.tanhshrink(a), [(3, 4)], {}),
    ("threshold", lambda m, F, a: F.threshold(a, 0.1, -1.0) * a, [(3, 4)], {}),
    ("prelu", lambda m, F, a, w: F.prelu(a, w) * a, [(2, 3, 4), (3,)], {}),
    ("prelu_shared", lambda m, F, a, w: F.prelu(a, w) * a, [(2, 3), (1,)], {}),
    # reductions
    ("sum", lambda m, F, a: (a.sum(1) ** 2), [(3, 4)], {}),
    ("sum_keepdim", lambda m, F, a: (a.sum((0, 2), keepdim=True) ** 2), [(2, 3, 4)], {}),
    ("mean", lambda m, F, a: (a.mean(-1) ** 2), [(3, 4)], {}),
    ("mean_all", lambda m, F, a: a.mean() ** 2, [(3, 4)], {}),
    ("max_all", lambda m, F, a: a.max() * a, [(3, 4)], {}),
    ("max_dim", lambda m, F, a: a.max(1).values * a.sum(1), [(3, 4)], {}),
    ("min_dim_keep", lambda m, F, a: a.min(0, keepdim=True)[0] * a, [(3, 4)], {}),
    ("amax", lambda m, F, a: a.amax((0, 2)) ** 2, [(2, 3, 4)], {}),
    ("var", lambda m, F, a: a.var(1), [(3, 4)], {}),
    ("std", lambda m, F, a: a.std(), [(3, 4)], {}),
    ("var_keep", lambda m, F, a: a.var(0, keepdim=True, correction=0), [(3, 4)], {}),
    ("prod", lambda m, F, a: a.prod(1), [(3, 4)], {}),
    ("logsumexp", lambda m, F, a: a.logsumexp(1), [(3, 4)], {}),
    ("norm", lambda m, F, a: a.norm(), [(3, 4)], {}),
    ("norm_dim", lambda m, F, a: a.norm(dim=1), [(3, 4)], {}),
    ("norm_p3", lambda m, F, a: a.norm(p=3, dim=0), [(3, 4)], {}),
    ("norm_p1", lambda m, F, a: a.norm(p=1, dim=0) * a, [(3, 4)], {}),
    ("softmax", lambda m, F, a: F.softmax(a, dim=1), [(3, 4)], {}),
    ("softmax0", lambda m, F, a: F.softmax(a, dim=0), [(3, 4)], {}),
    ("log_softmax", lambda m, F, a: F.log_softmax(a, dim=-1), [(3, 4)], {}),
    ("cumsum", lambda m, F, a: a.cumsum(1) ** 2, [(3, 4)], {}),
    # matmul family
    ("mm", lambda m, F, a, b: (a @ b).tanh(), [(3, 4), (4, 5)], {}),
    ("bmm", lambda m, F, a, b: m.bmm(a, b) ** 2, [(2, 3, 4), (2, 4, 2)], {}),
    ("matmul_bcast", lambda m, F, a, b: (a @ b) ** 2, [(2, 3, 4), (4, 2)], {}),
    ("matvec", lambda m, F, a, b: (a @ b) ** 2, [(3, 4), (4,)], {}),
    ("dot", lambda m, F, a, b: m.dot(a, b) ** 2, [(4,), (4,)], {}),
    ("outer", lambda m, F, a, b: m.outer(a, b) ** 2, [(3,), (4,)], {}),
    ("linear", lambda m, F, x, w, b: F.linear(x, w, b).tanh(), [(2, 3), (4, 3), (4,)], {}),
    ("linear_3d", lambda m, F, x, w: F.linear(x, w) ** 2, [(2, 2, 3), (4, 3)], {}),
    # movement
    ("reshape", lambda m, F, a: a.reshape(4, 3) * a.reshape(4, 3), [(3, 4)], {}),
    ("view", lambda m, F, a: a.view(-1) ** 2, [(3, 4)], {}),
    ("permute", lambda m, F, a: a.permute(2, 0, 1) ** 2, [(2, 3, 4)], {}),
    ("transpose", lambda m, F, a: a.transpose(0, 1) ** 2, [(3, 4)], {}),
    ("expand", lambda m, F, a: a.expand(2, 3, 4) ** 2, [(3, 1)], {}),
    ("cat", lambda m, F, a, b: m.cat([a, b * b], 0) ** 2, [(2, 3), (1, 3)], {}),
    ("stack", lambda m, F, a, b: m.stack([a, b], 1) ** 2, [(2, 3), (2, 3)], {}),
    ("split", lambda m, F, a: [p ** 2 for p in a.split([1, 3], 1)], [(3, 4)], {}),
    ("chunk_one", lambda m, F, a: a.chunk(2, 0)[1] ** 2, [(4, 3)], {}),
    ("flip", lambda m, F, a: a.flip(0) * a, [(3, 4)], {}),
    ("repeat", lambda m, F, a: a.repeat(2, 1) ** 2, [(3, 4)], {}),
    ("squeeze", lambda m, F, a: a.squeeze(1) ** 2, [(3, 1, 4)], {}),
    ("unsqueeze", lambda m, F, a: a.unsqueeze(0) ** 2, [(3, 4)], {}),
    ("flatten", lambda m, F, a: a.flatten(1) ** 2, [(2, 3, 4)], {}),
    ("pad", lambda m, F, a: (getattr(F, "pad", None) or m.pad)(a, (1, 2, 0, 1), value=0.5) ** 2,
     [(2, 3)], {}),
    ("narrow", lambda m, F, a: a.narrow(1, 1, 2) ** 2, [(3, 4)], {}),
    ("movedim", lambda m, F, a: a.movedim(0, 2) ** 2, [(2, 3, 4)], {}),
    # indexing
    ("getitem_basic", lambda m, F, a: a[1:, ::2] ** 2, [(3, 4)], {}),
    ("getitem_int", lambda m, F, a: a[1] ** 2, [(3, 4)], {}),
    ("getitem_adv", lambda m, F, a, i: a[i] ** 2, [(3, 4), _idx(5, high=3)], {}),
    ("getitem_mixed", lambda m, F, a, i: a[:, i] ** 2, [(3, 4), _idx(2, 2, high=4)], {}),
    ("gather", lambda m, F, a, i: a.gather(1, i) ** 2, [(3, 4), _idx(3, 2, high=4)], {}),
    ("index_select", lambda m, F, a, i: a.index_select(0, i) ** 2, [(3, 4), _idx(4, high=3)],
     {}),
    ("masked_fill", lambda m, F, a: a.masked_fill(a > 0.5, 2.0) ** 2, [(3, 4)], {}),
    ("scatter_add", lambda m, F, a, s, i: a.scatter_add(1, i, s) ** 2,
     [(3, 4), (3, 2), _idx(3, 2, high=4)], {}),
    ("take_along_dim", lambda m, F, a, i: m.take_along_dim(a, i, 1) ** 2,
     [(3, 4), _idx(3, 2, high=4)], {}),
    # losses
    ("mse", lambda m, F, x, t: F.mse_loss(x.tanh(), t), [(3, 4), (3, 4)], {}),
    ("mse_sum", lambda m, F, x, t: F.mse_loss(x * x, t, reduction="sum"), [(3, 4), (3, 4)],
     {}),
    ("l1", lambda m, F, x, t: F.l1_loss(x * x, t), [(3, 4), (3, 4)], {}),
    ("smooth_l1", lambda m, F, x, t: F.smooth_l1_loss(x * 2, t, beta=0.5), [(3, 4), (3, 4)],
     {}),
    ("huber", lambda m, F, x, t: F.huber_loss(x * 2, t, reduction="none", delta=0.7),
     [(3, 4), (3, 4)], {}),
    ("cross_entropy", lambda m, F, x, t: F.cross_entropy(x, t), [(4, 5), _idx(4, high=5)], {}),
    ("cross_entropy_2d", lambda m, F, x, t: F.cross_entropy(x, t, reduction="sum"),
     [(2, 3, 2, 2), _idx(2, 2, 2, high=3)], {}),
    ("cross_entropy_opts", lambda m, F, x, t: F.cross_entropy(
        x, t, weight=m.tensor([0.5, 2.0, 1.5], dtype=m.float64), ignore_index=1,
        label_smoothing=0.2), [(6, 3), np.array([0, 1, 2, 2, 1, 0], I64)], {}),
    ("cross_entropy_smooth", lambda m, F, x, t: F.cross_entropy(x, t, label_smoothing=0.1),
     [(4, 3), _idx(4, high=3)], {}),
    ("cross_entropy_probs", lambda m, F, x, p: F.cross_entropy(x, p.softmax(1)),
     [(4, 3), (4, 3)], {}),
    ("nll", lambda m, F, x, t: F.nll_loss(F.log_softmax(x, 1), t), [(4, 5), _idx(4, high=5)],
     {}),
    ("bce", lambda m, F, x, t: F.binary_cross_entropy(x.sigmoid(), t.sigmoid()),
     [(3, 4), (3, 4)], {}),
    ("bce_logits", lambda m, F, x, t: F.binary_cross_entropy_with_logits(
        x, t.sigmoid(), pos_weight=m.tensor([1.0, 2.0, 0.5, 3.0], dtype=m.float64)),
     [(3, 4), (3, 4)], {}),
    ("kl_div", lambda m, F, x, t: F.kl_div(F.log_softmax(x, 1), t.softmax(1),
                                           reduction="batchmean"), [(3, 4), (3, 4)], {}),
    ("kl_div_log", lambda m, F, x, t: F.kl_div(x, t, reduction="sum", log_target=True),
     [(3, 4), (3, 4)], {}),
    # conv, pool, normalisation
    ("conv1d", lambda m, F, x, w, b: F.conv1d(x, w, b, padding=1).tanh(),
     [(2, 2, 5), (3, 2, 3), (3,)], {}),
    ("conv2d", lambda m, F, x, w, b: F.conv2d(x, w, b, stride=2, padding=1).tanh(),
     [(2, 2, 5, 5), (3, 2, 3, 3), (3,)], {}),
    ("conv2d_groups", lambda m, F, x, w: F.conv2d(x, w, groups=2, dilation=2) ** 2,
     [(1, 4, 5, 5), (4, 2, 2, 2)], {}),
    ("conv_transpose2d", lambda m, F, x, w, b: F.conv_transpose2d(
        x, w, b, stride=2, padding=1, output_padding=1).tanh(),
     [(1, 2, 3, 3), (2, 3, 3, 3), (3,)], {}),
    ("max_pool2d", lambda m, F, x: F.max_pool2d(x, 2) ** 2, [(2, 2, 4, 4)], {}),
    ("max_pool2d_pad", lambda m, F, x: F.max_pool2d(x, 3, stride=2, padding=1) ** 2,
     [(1, 2, 5, 5)], {}),
    ("max_pool1d", lambda m, F, x: F.max_pool1d(x, 2) ** 2, [(2, 2, 6)], {}),
    ("avg_pool2d", lambda m, F, x: F.avg_pool2d(x, 2, padding=1) ** 2, [(2, 2, 4, 4)], {}),
    ("adaptive_avg_pool2d", lambda m, F, x: F.adaptive_avg_pool2d(x, (2, 3)) ** 2,
     [(1, 2, 5, 5)], {}),
    ("global_avg_pool", lambda m, F, x: F.adaptive_avg_pool2d(x, 1) ** 2, [(2, 3, 4, 4)], {}),
    ("adaptive_max_pool2d", lambda m, F, x: F.adaptive_max_pool2d(x, 2) ** 2,
     [(1, 2, 5, 5)], {}),
    ("batch_norm", lambda m, F, x, w, b: F.batch_norm(x, None, None, w, b, training=True)
     .tanh(), [(4, 3, 2), (3,), (3,)], {}),
    ("layer_norm", lambda m, F, x, w, b: F.layer_norm(x, (4,), w, b).tanh(),
     [(3, 4), (4,), (4,)], {}),
    ("group_norm", lambda m, F, x: F.group_norm(x, 2).tanh(), [(2, 4, 3)], {}),
    ("batch_norm_eval", lambda m, F, x, w, b: F.batch_norm(
        x, m.tensor([0.1, -0.2, 0.3], dtype=m.float64), m.tensor([1.5, 0.5, 2.0], dtype=m.float64),
        w, b, training=False).tanh(), [(4, 3, 2), (3,), (3,)], {}),
    ("rms_norm", lambda m, F, x, w: F.rms_norm(x, (4,), w, eps=1e-6).tanh(), [(3, 4), (4,)],
     {}),
    ("sdpa", lambda m, F, q, k, v: F.scaled_dot_product_attention(q, k, v).tanh(),
     [(2, 3, 4), (2, 5, 4), (2, 5, 3)], {}),
    ("sdpa_causal_mask", lambda m, F, q, k, v, b: F.scaled_dot_product_attention(
        q, k, v, attn_mask=b).tanh() + F.scaled_dot_product_attention(
        q, k, v, is_causal=True).tanh(), [(1, 3, 4), (1, 3, 4), (1, 3, 2), (3, 3)], {}),
    # more element-wise, reduction, indexing and linear algebra ops
    ("copysign", lambda m, F, a, b: m.copysign(a, b) * a, [(3, 4), (4,)], {}),
    ("sinc", lambda m, F, a: m.sinc(a), [(3, 4)], {}),
    ("amin", lambda m, F, a: a.amin(1) ** 2, [(3, 4)], {}),
    ("scatter", lambda m, F, a, s, i: a.scatter(1, i, s) ** 2,
     [(3, 4), (3, 2), np.array([[0, 2], [1, 3], [3, 0]], I64)], {}),
    ("cumprod", lambda m, F, a: a.cumprod(1), [(3, 4)], {}),
    ("logcumsumexp", lambda m, F, a: a.logcumsumexp(0), [(3, 4)], {}),
    ("cummax", lambda m, F, a: a.cummax(1)[0] ** 2, [(3, 4)], {}),
    ("inv", lambda m, F, a: m.linalg.inv(a + 3 * m.eye(3, dtype=m.float64)), [(2, 3, 3)], {}),
    ("solve", lambda m, F, a, b: m.linalg.solve(a + 3 * m.eye(3, dtype=m.float64), b),
     [(3, 3), (3, 2)], {}),
    ("det", lambda m, F, a: m.linalg.det(a + 2 * m.eye(3, dtype=m.float64)), [(2, 3, 3)], {}),
    ("slogdet", lambda m, F, a: m.linalg.slogdet(a + 2 * m.eye(3, dtype=m.float64))[1],
     [(3, 3)], {}),
    ("linalg_vector_norm", lambda m, F, a: m.linalg.vector_norm(a, 3, dim=1), [(3, 4)], {}),
    # other shapes: negative dims, size-1 dims, 0-d and 3-d inputs
    ("sum_neg_dim", lambda m, F, a: a.sum(-2) ** 2, [(2, 1, 3)], {}),
    ("mean_size1", lambda m, F, a: a.mean((0, 1), keepdim=True) * a, [(1, 1, 3)], {}),
    ("scalar_chain", lambda m, F, a: (a.exp() * a).tanh(), [()], {}),
    ("softmax_3d", lambda m, F, a: F.softmax(a, dim=-2), [(2, 3, 2)], {}),
    ("log_softmax_3d", lambda m, F, a: F.log_softmax(a, dim=0), [(2, 3, 2)], {}),
    ("max_neg_dim", lambda m, F, a: a.max(-1).values ** 2, [(2, 3, 4)], {}),
    ("var_dims", lambda m, F, a: a.var((0, 2)), [(2, 3, 4)], {}),
    ("logsumexp_dims", lambda m, F, a: a.logsumexp((0, -1)), [(2, 3, 4)], {}),
    ("gather_neg", lambda m, F, a, i: a.gather(-1, i) ** 2, [(2, 3), _idx(2, 3, high=3)], {}),
    ("matmul_batch_bcast", lambda m, F, a, b: (a @ b).tanh(), [(2, 1, 3, 4), (3, 4, 2)], {}),
    ("linear_1d", lambda m, F, x, w, b: F.linear(x, w, b).tanh(), [(3,), (2, 3), (2,)], {}),
    # shaping
    ("tril", lambda m, F, a: m.tril(a, -1) ** 2, [(2, 3, 4)], {}),
    ("triu", lambda m, F, a: a.triu(1) ** 2, [(4, 3)], {}),
    ("diag", lambda m, F, a, b: m.diag(a, 1) ** 2 + m.diag(b).sum() ** 2, [(3,), (3, 4)], {}),
    ("diagonal", lambda m, F, a: m.diagonal(a, -1, 2, 0) ** 2, [(3, 2, 4)], {}),
    ("diag_embed", lambda m, F, a: m.diag_embed(a, 1, -1, 0) ** 2, [(2, 3)], {}),
    ("trace", lambda m, F, a: m.trace(a) ** 2, [(3, 4)], {}),
    ("roll", lambda m, F, a: m.roll(a, (1, -2), (0, -1)) ** 2 * a, [(3, 4)], {}),
    ("roll_flat", lambda m, F, a: m.roll(a, 5) ** 2 * a, [(3, 4)], {}),
    ("rot90", lambda m, F, a: m.rot90(a, 3, (1, 2)) ** 2, [(2, 3, 4)], {}),
    ("tile", lambda m, F, a: m.tile(a, (2, 1, 3)) ** 2, [(2, 3)], {}),
    ("repeat_interleave", lambda m, F, a: a.repeat_interleave(m.tensor([1, 0, 2]), dim=0) ** 2,
     [(3, 2)], {}),
    ("unbind", lambda m, F, a: m.unbind(a, 1)[0] ** 2 * m.unbind(a, 1)[2], [(2, 3)], {}),
    ("meshgrid", lambda m, F, a, b: (lambda g: g[0] ** 2 * g[1])(m.meshgrid(a, b, indexing="ij")),
     [(3,), (4,)], {}),
    ("tensor_unfold", lambda m, F, a: a.unfold(1, 3, 2) ** 2, [(2, 7)], {}),
    # scattering
    ("take", lambda m, F, a, i: m.take(a, i) ** 2, [(3, 4), np.array([[0, -1], [5, 5]], I64)],
     {}),
    ("scatter_reduce_sum", lambda m, F, a, s, i: a.scatter_reduce(1, i, s, "sum") ** 2,
     [(3, 4), (3, 2), _idx(3, 2, high=4)], {}),
    ("scatter_reduce_mean", lambda m, F, a, s, i: a.scatter_reduce(
        0, i, s, "mean", include_self=False) ** 2, [(3, 4), (2, 4), _idx(2, 4, high=3)], {}),
    ("scatter_reduce_amax", lambda m, F, a, s, i: a.scatter_reduce(1, i, s, "amax") ** 2,
     [(3, 4), (3, 3), _idx(3, 3, high=4)], {}),
    ("scatter_reduce_amin", lambda m, F, a, s, i: a.scatter_reduce(
        1, i, s, "amin", include_self=False) ** 2, [(3, 4), (3, 3), _idx(3, 3, high=4)], {}),
    ("index_add", lambda m, F, a, s, i: a.index_add(1, i, s, alpha=2.0) ** 2,
     [(3, 4), (3, 3), np.array([0, 2, 0], I64)], {}),
    ("index_copy", lambda m, F, a, s, i: a.index_copy(0, i, s) ** 2,
     [(3, 4), (2, 4), np.array([2, 0], I64)], {}),
    ("index_fill", lambda m, F, a, i: a.index_fill(1, i, -1.5) ** 2,
     [(3, 4), np.array([1, 3], I64)], {}),
    ("index_fill_tensor", lambda m, F, a, v, i: a.index_fill(0, i, v) ** 2 * a,
     [(3, 4), (), np.array([2], I64)], {}),
    ("masked_scatter", lambda m, F, a, s: a.masked_scatter(a > 0, s) ** 2, [(3, 4), (14,)], {}),
    # contraction
    ("einsum_matmul", lambda m, F, a, b: m.einsum("bij,bjk->bik", a, b).tanh(),
     [(2, 3, 4), (2, 4, 2)], {}),
    ("einsum_three", lambda m, F, a, b, c: m.einsum("ij,jk,k->i", a, b, c).tanh(),
     [(2, 3), (3, 4), (4,)], {}),
    ("einsum_diag_bcast", lambda m, F, a, b: m.einsum("ii,...i->...i", a, b) ** 2,
     [(3, 3), (2, 1, 3)], {}),
    ("einsum_unary", lambda m, F, a: m.einsum("ijk->ki", a) ** 2, [(2, 3, 4)], {}),
    ("tensordot", lambda m, F, a, b: m.tensordot(a, b, dims=([1, 2], [0, 1])).tanh(),
     [(2, 3, 4), (3, 4, 2)], {}),
    ("kron", lambda m, F, a, b: m.kron(a, b) ** 2, [(2, 3), (3, 2)], {}),
    ("cross", lambda m, F, a, b: m.cross(a, b, dim=0) ** 2, [(3, 4), (3, 1)], {}),
    # padding, fold, 3-d conv and pools, interpolation
    ("pad_reflect", lambda m, F, x: F.pad(x, (2, 1, 1, 0), mode="reflect") ** 2,
     [(1, 2, 3, 4)], {}),
    ("pad_replicate", lambda m, F, x: F.pad(x, (1, 2), mode="replicate") ** 2, [(2, 2, 3)], {}),
    ("pad_circular", lambda m, F, x: F.pad(x, (1, 1, 2, 0, 0, 1), mode="circular") ** 2,
     [(1, 1, 2, 3, 3)], {}),
    ("unfold_im2col", lambda m, F, x: F.unfold(x, 2, padding=1, stride=2) ** 2,
     [(1, 2, 4, 3)], {}),
    ("fold_col2im", lambda m, F, x: F.fold(x, (3, 4), 2) ** 2, [(1, 8, 6)], {}),
    ("conv3d", lambda m, F, x, w, b: F.conv3d(x, w, b, padding=1, stride=(1, 2, 1)).tanh(),
     [(1, 2, 3, 4, 3), (2, 2, 2, 2, 2), (2,)], {}),
    ("conv_transpose3d", lambda m, F, x, w, b: F.conv_transpose3d(
        x, w, b, stride=2, padding=1, output_padding=1).tanh(),
     [(1, 2, 2, 2, 2), (2, 1, 3, 3, 3), (1,)], {}),
    ("max_pool3d", lambda m, F, x: F.max_pool3d(x, 2, stride=1, padding=1) ** 2,
     [(1, 2, 3, 3, 3)], {}),
    ("avg_pool3d", lambda m, F, x: F.avg_pool3d(x, 2, padding=1) ** 2, [(1, 2, 3, 4, 3)], {}),
    ("adaptive_avg_pool3d", lambda m, F, x: F.adaptive_avg_pool3d(x, (2, 1, 2)) ** 2,
     [(1, 2, 3, 3, 5)], {}),
    ("adaptive_max_pool3d", lambda m, F, x: F.adaptive_max_pool3d(x, 2) ** 2,
     [(1, 2, 3, 4, 3)], {}),
    ("interp_nearest", lambda m, F, x: F.interpolate(x, scale_factor=2, mode="nearest") ** 2,
     [(1, 2, 3)], {}),
    ("interp_bilinear", lambda m, F, x: F.interpolate(
        x, size=(5, 3), mode="bilinear", align_corners=False) ** 2, [(1, 2, 3, 4)], {}),
    ("interp_bicubic", lambda m, F, x: F.interpolate(
        x, scale_factor=1.5, mode="bicubic", align_corners=True) ** 2, [(1, 1, 3, 3)], {}),
    ("interp_trilinear", lambda m, F, x: F.interpolate(x, size=(3, 2, 4), mode="trilinear")
     ** 2, [(1, 1, 2, 3, 2)], {}),
    ("interp_area", lambda m, F, x: F.interpolate(x, size=3, mode="area") ** 2, [(1, 2, 7)], {}),
    ("interp_nearest_exact", lambda m, F, x: F.interpolate(
        x, size=(5, 2), mode="nearest-exact") ** 2, [(1, 1, 3, 3)], {}),
    ("interp_linear", lambda m, F, x: F.interpolate(x, size=7, mode="linear",
                                                    align_corners=True) ** 2, [(2, 1, 4)], {}),
]


def _cdist_ref(m, F, a, b, p):
    """cdist from the differences (PyTorch's own cdist has no double backward)."""
    d = (a.unsqueeze(-2) - b.unsqueeze(-3)).abs()
    if p == float("inf"):
        return d.amax(-1)
    return (d ** p).sum(-1) ** (1.0 / p)


@requires_torch
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, float("inf")])
def test_cdist_double_backward_matches_torch_formula(p):
    check_double(lambda m, F, a, b: _cdist_ref(m, F, a, b, p).tanh(), [(2, 3, 4), (1, 5, 4)],
                 lamina_fn=lambda m, F, a, b: m.cdist(a, b, p=p).tanh())


# ops whose double backward PyTorch does not implement: gradgradcheck only
GRADGRAD_ONLY = [
    ("hardsigmoid", lambda F, a: F.hardsigmoid(a * 4) * a, [(3, 4)]),
]


@pytest.mark.parametrize("name,fn,shapes", GRADGRAD_ONLY, ids=[c[0] for c in GRADGRAD_ONLY])
def test_gradgradcheck_only(name, fn, shapes):
    xs = [lamina.tensor(a, requires_grad=True) for a in make_arrays(shapes)]
    assert gradgradcheck(lambda *t: fn(lamina.nn.functional, *t), xs)


@requires_torch
@pytest.mark.parametrize("name,fn,shapes,opts", CASES, ids=[c[0] for c in CASES])
def test_double_backward_matches_torch(name, fn, shapes, opts):
    check_double(fn, shapes, **opts)


@requires_torch
def test_fused_batch_norm_relu_matches_torch_unfused():
    check_double(lambda m, F, x, w, b: F.relu(F.batch_norm(x, None, None, w, b, training=True)),
                 [(4, 3, 2), (3,), (3,)],
                 lamina_fn=lambda m, F, x, w, b: F.batch_norm_relu(x, None, None, w, b,
                                                                   training=True))


BINARY = {
    "add": lambda a, b: (a + b) * a,
    "mul": lambda a, b: a * b * b,
    "div": lambda a, b: a / (b * b + 1),
    "maximum": lambda a, b: (a.tanh() * 0 + a).maximum(b) * a,
    "where": lambda a, b: (a * b).sigmoid() * (a - b),
}


@requires_torch
@settings(max_examples=10)
@given(pair=broadcastable_pair(max_dims=3, max_side=3), op=st.sampled_from(sorted(BINARY)),
       transpose=st.booleans())
def test_binary_double_backward_broadcasting(pair, op, transpose):
    """Broadcasting, size-0 and size-1 dims and non-contiguous inputs through the recorded
    backward's sum-to-shape."""
    fn = BINARY[op]
    sa, sb = pair
    if transpose and len(sa) >= 2:
        sa = sa[:-2] + sa[-2:][::-1]

    def f(m, F, a, b):
        if transpose and a.ndim >= 2:
            a = a.transpose(-1, -2)       # a non-contiguous view
        return fn(a, b)
    check_double(f, [sa, sb], gradgrad=False)


SHAPING = {
    "tril": lambda m, a, k: m.tril(a, k) ** 2,
    "triu": lambda m, a, k: m.triu(a, k) ** 2,
    "diagonal": lambda m, a, k: m.diagonal(a, k, -1, -2) ** 2,
    "roll": lambda m, a, k: m.roll(a, k, -2) ** 2 * a,
    "rot90": lambda m, a, k: m.rot90(a, k, (-1, 0)) ** 2,
    "unfold": lambda m, a, k: a.unfold(-1, min(abs(k), a.shape[-1]), 1) ** 2,
}


@requires_torch
@settings(max_examples=10)
@given(shape=shapes(min_dims=2, max_dims=4, max_side=3), op=st.sampled_from(sorted(SHAPING)),
       k=st.integers(-2, 2), transpose=st.booleans())
def test_shaping_double_backward_shapes(shape, op, k, transpose):
    """The linear shaping ops on size-0 and size-1 dims, negative dims and offsets, and
    non-contiguous inputs."""
    fn = SHAPING[op]
    if transpose:
        shape = shape[:-2] + shape[-2:][::-1]

    def f(m, F, a):
        return fn(m, a.transpose(-1, -2) if transpose else a, k)
    check_double(f, [shape], gradgrad=False)


@requires_torch
@settings(max_examples=10)
@given(pair=broadcastable_pair(max_dims=2, max_side=3), sizes=shapes(3, 3, 1, 3))
def test_einsum_double_backward_broadcast_batch(pair, sizes):
    """``einsum`` with ``...`` batch dims that broadcast (the gradients sum back to each
    operand's shape), against PyTorch."""
    i, j, n = sizes
    check_double(lambda m, F, a, b: m.einsum("...ij,...jk->...ik", a, b).tanh(),
                 [pair[0] + (i, j), pair[1] + (j, n)], gradgrad=False)


# --- the classic uses ------------------------------------------------------------------------

def _mlp_params(lib, seed=0):
    rng = np.random.default_rng(seed)
    sizes = [(5, 4), (6, 5), (3, 6)]
    ps = []
    for o, i in sizes:
        ps.append(lib.tensor(rng.standard_normal((o, i)) / np.sqrt(i), requires_grad=True))
        ps.append(lib.tensor(rng.standard_normal(o) * 0.1, requires_grad=True))
    return ps


def _mlp(lib, F, x, ps):
    h = F.linear(x, ps[0], ps[1]).tanh()
    h = F.gelu(F.linear(h, ps[2], ps[3])) + F.relu(h).sum(1, keepdim=True)
    return F.linear(h.sigmoid(), ps[4], ps[5])


@requires_torch
def test_hessian_vector_product_of_mlp_loss():
    """H v for the parameters of a small tanh/gelu/relu/sigmoid MLP under cross-entropy."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((7, 4))
    t = rng.integers(0, 3, 7)
    vs = [rng.standard_normal(p.shape) for p in _mlp_params(lamina)]
    res = {}
    for lib in (torch, lamina):
        F = lib.nn.functional
        ps = _mlp_params(lib)
        loss = F.cross_entropy(_mlp(lib, F, lib.tensor(x), ps), lib.tensor(t))
        gs = lib.autograd.grad(loss, ps, create_graph=True)
        dot = sum((g * lib.tensor(v)).sum() for g, v in zip(gs, vs))
        res[lib.__name__] = lib.autograd.grad(dot, ps)
    for a, b in zip(res["lamina"], res["torch"]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), **TOL)


class _Critic:
    """conv2d + leaky_relu + linear, as in a WGAN-GP critic."""

    def __init__(self, lib, seed=0):
        rng = np.random.default_rng(seed)
        self.w1 = lib.tensor(rng.standard_normal((4, 2, 3, 3)) * 0.3, requires_grad=True)
        self.b1 = lib.tensor(rng.standard_normal(4) * 0.1, requires_grad=True)
        self.w2 = lib.tensor(rng.standard_normal((1, 4 * 3 * 3)) * 0.3, requires_grad=True)
        self.b2 = lib.tensor(rng.standard_normal(1) * 0.1, requires_grad=True)
        self.lib = lib

    def params(self):
        return [self.w1, self.b1, self.w2, self.b2]

    def __call__(self, x):
        F = self.lib.nn.functional
        h = F.leaky_relu(F.conv2d(x, self.w1, self.b1, stride=2, padding=1), 0.2)
        return F.linear(h.flatten(1), self.w2, self.b2)


@requires_torch
def test_wgan_gp_gradient_penalty():
    """The gradient penalty ``(||d critic / d x_hat|| - 1)^2`` and its gradient with respect
    to the critic's parameters (through the gradient: the double backward)."""
    rng = np.random.default_rng(2)
    real, fake = rng.standard_normal((3, 2, 6, 6)), rng.standard_normal((3, 2, 6, 6))
    eps = rng.uniform(size=(3, 1, 1, 1))
    res = {}
    for lib in (torch, lamina):
        critic = _Critic(lib)
        x_hat = lib.tensor(eps * real + (1 - eps) * fake, requires_grad=True)
        out = critic(x_hat)
        (g,) = lib.autograd.grad(out, x_hat, grad_outputs=lib.ones_like(out),
                                 create_graph=True)
        gp = ((g.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
        loss = critic(lib.tensor(fake)).mean() - critic(lib.tensor(real)).mean() + 10 * gp
        loss.backward()
        res[lib.__name__] = [gp.detach().numpy()] + [p.grad.numpy() for p in critic.params()]
    for a, b in zip(res["lamina"], res["torch"]):
        np.testing.assert_allclose(a, b, **TOL)


@requires_torch
@pytest.mark.parametrize("order", [2, 3])
def test_tanh_sigmoid_chain_higher_derivatives(order):
    """d^n/dx^n of sigmoid(tanh(2 x) * x) by repeated grad(create_graph=True)."""
    x0 = np.linspace(-2, 2, 7)
    res = {}
    for lib in (torch, lamina):
        x = lib.tensor(x0, requires_grad=True)
        y = (lib.tanh(2 * x) * x).sigmoid().tanh()
        for _ in range(order):
            (y,) = lib.autograd.grad(y.sum(), x, create_graph=True)
        res[lib.__name__] = y.detach().numpy()
    np.testing.assert_allclose(res["lamina"], res["torch"], **TOL)


THIRD_ORDER = {
    "einsum_three": (lambda m, a, b, c: m.einsum("ij,jk,k->i", a, b, c).tanh(),
                     [(2, 3), (3, 4), (4,)]),
    "cross": (lambda m, a, b: m.cross(a, b, dim=0).tanh(), [(3, 4), (3, 1)]),
    "conv3d": (lambda m, x, w: m.nn.functional.conv3d(x, w, padding=1).tanh(),
               [(1, 2, 3, 3, 3), (2, 2, 2, 2, 2)]),
    "scatter_reduce_amax": (lambda m, a, s: a.scatter_reduce(
        1, m.tensor(np.array([[0, 1, 1]] * 3)), s, "amax").tanh(), [(3, 4), (3, 3)]),
    "max_pool3d": (lambda m, x: m.nn.functional.max_pool3d(x.tanh(), 2).tanh(),
                   [(1, 1, 4, 4, 2)]),
}


@requires_torch
@pytest.mark.parametrize("name", sorted(THIRD_ORDER))
def test_third_order_gradients_of_new_ops(name):
    """Gradients of ``sum(h^2)``, ``h`` the recorded gradient of ``sum(g^2)``, ``g`` the
    recorded gradient of ``f``: third derivatives through MultilinearGrad, BilinearGrad and
    the selection ops, against PyTorch."""
    fn, shapes = THIRD_ORDER[name]
    arrays = make_arrays(shapes)
    res = {}
    for lib in (torch, lamina):
        xs = [lib.tensor(a, requires_grad=True) for a in arrays]
        gs = lib.autograd.grad(fn(lib, *xs).sum(), xs, create_graph=True)
        hs = lib.autograd.grad(sum((g * g).sum() for g in gs), xs, create_graph=True)
        res[lib.__name__] = [t.detach().numpy() for t in
                             lib.autograd.grad(sum((h * h).sum() for h in hs), xs)]
    for a, b in zip(res["lamina"], res["torch"]):
        np.testing.assert_allclose(a, b, **TOL)


def test_scatter_reduce_prod_double_backward_raises_naming_the_mode():
    a = lamina.tensor([1.0, 2.0, 3.0], dtype=lamina.float64, requires_grad=True)
    y = a.scatter_reduce(0, lamina.tensor([0, 0]), a[:2] * 2, "prod").sum()
    with pytest.raises(lamina.LaminaError, match=r"ScatterReduce: double backward "
                       r"\(create_graph=True\) is not implemented for reduce='prod'"):
        lamina.autograd.grad(y, a, create_graph=True)


def test_backward_create_graph_leaves_a_grad_with_a_graph():
    x = lamina.tensor([0.5, -1.0, 2.0], dtype=lamina.float64, requires_grad=True)
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad and x.grad.grad_fn is not None
    np.testing.assert_allclose(x.grad.detach().numpy(), 3 * np.array([0.5, -1.0, 2.0]) ** 2)
    g = x.grad
    x.grad = None
    g.sum().backward()          # d/dx sum(3 x^2) = 6 x
    np.testing.assert_allclose(x.grad.numpy(), 6 * np.array([0.5, -1.0, 2.0]))


def test_create_graph_accumulates_into_existing_grad():
    x = lamina.tensor([1.0, 2.0], dtype=lamina.float64, requires_grad=True)
    (x * x).sum().backward(create_graph=True)
    (x * x * x).sum().backward(create_graph=True)
    np.testing.assert_allclose(x.grad.detach().numpy(), [2 + 3, 4 + 12])
    assert x.grad.requires_grad


def test_create_graph_retains_the_graph_by_default():
    x = lamina.tensor([1.0, 2.0], dtype=lamina.float64, requires_grad=True)
    y = (x.exp() * x).sum()
    (g1,) = lamina.autograd.grad(y, x, create_graph=True)
    (g2,) = lamina.autograd.grad(y, x, create_graph=True)      # the graph is still there
    np.testing.assert_allclose(g1.detach().numpy(), g2.detach().numpy())


def test_create_graph_with_retain_graph_false():
    """retain_graph=False frees the forward graph as backward walks it. A recorded gradient
    that needs only leaves (here made by linear ops and a power of the leaf) can still
    be differentiated; one that refers to freed intermediates raises the usual error
    (lamina frees a node's edges with its saved arrays: see the docs of Tensor.backward)."""
    x = lamina.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=lamina.float64, requires_grad=True)
    y = ((x ** 3)[:, 1].reshape(2, 1) + x.amax(1, keepdim=True)).sum()
    (g,) = lamina.autograd.grad(y, x, create_graph=True, retain_graph=False)
    (h,) = lamina.autograd.grad((g * g).sum(), x)
    # g = [[1, 3 x01^2], [0, 3 x11^2 + 1]] (the maxima: x00 and x11)
    want = np.array([[0.0, 2 * (3 * 4) * 6 * -2], [0.0, 2 * (3 * 9 + 1) * 6 * 3]])
    np.testing.assert_allclose(h.numpy(), want)
    with pytest.raises(lamina.LaminaValueError, match="second time"):
        lamina.autograd.grad(y, x)
    z = x.exp()
    (g,) = lamina.autograd.grad((z.tanh()).sum(), x, create_graph=True, retain_graph=False)
    with pytest.raises(lamina.LaminaValueError, match="second time"):
        lamina.autograd.grad(g.sum(), x)


def test_create_graph_for_an_intermediate_tensor():
    x = lamina.tensor([0.3, -1.0, 2.0], dtype=lamina.float64, requires_grad=True)
    h = x.tanh()
    (gh,) = lamina.autograd.grad((h ** 2).sum(), h, create_graph=True)     # 2 h
    (gx,) = lamina.autograd.grad(gh.sum(), x)
    np.testing.assert_allclose(gx.numpy(), 2 * (1 - np.tanh([0.3, -1.0, 2.0]) ** 2))
    h = x.tanh()
    h.retain_grad()
    (h ** 2).sum().backward(create_graph=True)
    assert h.grad.requires_grad
    np.testing.assert_allclose(h.grad.detach().numpy(), 2 * np.tanh([0.3, -1.0, 2.0]))


def test_hooks_fire_in_create_graph_mode():
    x = lamina.tensor([1.0, 2.0], dtype=lamina.float64, requires_grad=True)
    h = x * x
    seen = []
    h.register_hook(lambda g: seen.append(g) or g * 2)
    x.register_hook(lambda g: seen.append(g))
    (gx,) = lamina.autograd.grad(h.sum(), x, create_graph=True)
    assert len(seen) == 2 and all(isinstance(s, lamina.Tensor) for s in seen)
    np.testing.assert_allclose(gx.detach().numpy(), [4.0, 8.0])     # 2 * 2x
    (ggx,) = lamina.autograd.grad(gx.sum(), x)
    np.testing.assert_allclose(ggx.numpy(), [4.0, 4.0])


class _NoGraph(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a * a

    @staticmethod
    def backward(ctx, g):
        return 2 * g * ctx.saved[0]


def test_uncovered_op_raises_naming_it():
    x = lamina.tensor([1.0, 2.0], dtype=lamina.float64, requires_grad=True)
    y = _NoGraph.apply(x).sum()
    with pytest.raises(lamina.LaminaError, match=r"_NoGraph: double backward "
                       r"\(create_graph=True\) is not implemented for this op"):
        lamina.autograd.grad(y, x, create_graph=True)
    # the first-order gradient still works
    (g,) = lamina.autograd.grad(y, x)
    np.testing.assert_allclose(g.numpy(), [2.0, 4.0])


def test_uncovered_builtin_op_raises_naming_it():
    x = lamina.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=lamina.float64, requires_grad=True)
    with pytest.raises(lamina.LaminaError, match="Cholesky: double backward"):
        lamina.autograd.grad(lamina.linalg.cholesky(x).sum(), x, create_graph=True)


class _WrongSecond(Function):
    """x^3 with a correct first derivative whose recorded form is wrong (6x instead of 3x^2
    differentiates to 6 rather than 6x)."""

    @staticmethod
    def forward(ctx, a):
        return a ** 3

    @staticmethod
    def backward(ctx, g):
        return 3 * g * ctx.inputs[0]._data ** 2

    @staticmethod
    def backward_graph(ctx, g):
        x = ctx.inputs[0]
        return g * (3 * x.detach() * x)


def test_gradgradcheck_passes_and_catches_a_wrong_second_derivative():
    x = lamina.tensor([0.3, -1.2, 2.0], dtype=lamina.float64, requires_grad=True)
    assert gradgradcheck(lambda t: (t.tanh() * t).sigmoid(), (x,))
    assert gradgradcheck(lambda t: t.sin(), (x,), grad_outputs=(lamina.tensor(
        [1.0, 2.0, 3.0], dtype=lamina.float64, requires_grad=True),))
    with pytest.raises(GradcheckError):
        gradgradcheck(_WrongSecond.apply, (x,))
    assert not gradgradcheck(_WrongSecond.apply, (x,), raise_exception=False)


def test_first_order_gradients_unchanged_by_create_graph():
    """The recorded walk and the array walk give the same first derivatives (same formulas
    up to rounding)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4))
    ps = _mlp_params(lamina)[:2]
    F = lamina.nn.functional
    out = {}
    for cg in (False, True):
        for p in ps:
            p.grad = None
        xt = lamina.tensor(x, requires_grad=True)
        F.log_softmax(F.linear(xt, ps[0], ps[1]).tanh(), 1).sum().backward(create_graph=cg)
        out[cg] = [xt.grad.detach().numpy()] + [p.grad.detach().numpy() for p in ps]
    for a, b in zip(out[False], out[True]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_dropout_double_backward_uses_the_same_mask():
    x = lamina.randn(4, 5, dtype=lamina.float64, requires_grad=True)
    y = lamina.nn.functional.dropout(x, 0.4)
    mask = y.detach().numpy() / x.detach().numpy()          # 0 or 1 / 0.6
    v = lamina.randn(4, 5, dtype=lamina.float64, requires_grad=True)
    (g,) = lamina.autograd.grad(y, x, v, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), v.detach().numpy() * mask)
    w = np.arange(20.0).reshape(4, 5)
    (gv,) = lamina.autograd.grad((g * lamina.tensor(w)).sum(), v)
    np.testing.assert_allclose(gv.numpy(), w * mask)


def _kernel_net(lib, x, w, wt, gamma, beta, fused, stride):
    F = lib.nn.functional
    h = F.conv2d(x, w, padding=1, stride=stride)
    h = F.batch_norm_relu(h, None, None, gamma, beta, training=True) if fused else \
        F.relu(F.batch_norm(h, None, None, gamma, beta, training=True))
    h = F.max_pool2d(h, 2)
    h = F.conv_transpose2d(h, wt, stride=2)
    return F.adaptive_avg_pool2d(h.tanh(), 1).sum()


def _nodes(y):
    seen, todo = set(), [y.grad_fn]
    while todo:
        n = todo.pop()
        if n is None or not hasattr(n, "inputs") or n in seen:
            continue
        seen.add(n)
        todo += [f for f, _ in n.next_functions]
    return seen


# (out channels, in channels, stride, fused BatchNorm+ReLU): with numba, the first conv runs
# Conv2dDirect, Conv2dSmallChannels and Conv2dCompiled in turn
KERNEL_NETS = [(4, 3, 1, False), (4, 3, 1, True), (16, 3, 1, False), (8, 6, 2, True)]


@pytest.mark.parametrize("o,c,stride,fused", KERNEL_NETS)
def test_compiled_kernel_functions_have_a_double_backward(o, c, stride, fused):
    """The compiled Functions lamina.dispatch picks (conv, ReLU, batch norm, pooling; float32)
    inherit the reference ops' backward_graph: grad-of-grad through them matches the reference
    ops run with the fast paths off."""
    from lamina.kernels.conv import compiled

    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in
              [(2, c, 8, 8), (o, c, 3, 3), (o, 2, 2, 2), (o,), (o,)]]
    res = {}
    for on in (True, False):
        with lamina.dispatch.fast_paths(on):
            ts = [lamina.tensor(a, requires_grad=True) for a in arrays]
            y = _kernel_net(lamina, *ts, fused, stride)
            if on and compiled(np.float32) is not None:
                assert any(type(n).__module__.startswith("lamina.kernels")
                           for n in _nodes(y)), "no compiled Function ran"
            gs = lamina.autograd.grad(y, ts[:3], create_graph=True)
            s = sum((g * g).sum() for g in gs)
            res[on] = [h.numpy() for h in lamina.autograd.grad(s, ts)]
    for a, b in zip(res[True], res[False]):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=1e-5)


def test_compiled_relu_has_a_double_backward():
    """ReluCompiled where numba is available (else the reference Relu: the same check)."""
    x = lamina.randn(64, 1024, requires_grad=True)       # big enough for the compiled ReLU
    y = lamina.nn.functional.relu(x)
    v = lamina.randn(64, 1024, requires_grad=True)
    (g,) = lamina.autograd.grad(y, x, v, create_graph=True)
    (gv,) = lamina.autograd.grad((g * 3.0).sum(), v)
    np.testing.assert_array_equal(gv.numpy(), 3.0 * (x.detach().numpy() > 0))


@requires_torch
@pytest.mark.parametrize("kind,bidirectional,batch_first,dtype", [
    ("LSTM", False, False, np.float64), ("LSTM", True, True, np.float64),
    ("LSTM", True, False, np.float32), ("GRU", True, True, np.float64),
    ("RNN", False, False, np.float64), ("RNN_RELU", True, False, np.float64)])
def test_recurrent_double_backward_matches_torch(kind, bidirectional, batch_first, dtype):
    """Hessian-vector products through an LSTM, GRU or RNN layer (its fused Function,
    compiled or not, is differentiated through its composition of recorded ops) against
    PyTorch's."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4, 2)).astype(dtype)
    d = 2 if bidirectional else 1
    h0 = (rng.standard_normal((d, 3 if batch_first else 4, 5)) * 0.5).astype(dtype)
    res, params = {}, {}
    for lib in (torch, lamina):          # torch first: its initial weights are copied
        lib.manual_seed(0)
        kw = dict(bidirectional=bidirectional, batch_first=batch_first)
        if kind == "RNN_RELU":
            m = lib.nn.RNN(2, 5, nonlinearity="relu", **kw)
        else:
            m = getattr(lib.nn, kind)(2, 5, **kw)
        if lib is lamina:
            m = m.to(lamina.float64) if dtype == np.float64 else m
            for name, p in m.named_parameters():
                p._data[...] = params[name]
        else:
            m = m.double() if dtype == np.float64 else m
            params.update((n, p.detach().numpy().copy()) for n, p in m.named_parameters())
        xt = lib.tensor(x, requires_grad=True)
        ht = lib.tensor(h0, requires_grad=True)
        if kind == "LSTM":
            out, (hn, cn) = m(xt, (ht, lib.zeros_like(ht)))
        else:
            out, hn = m(xt, ht)
            cn = hn.sin()
        loss = (out.tanh() ** 2).sum() + (hn * cn).sum()
        ps = [p for _, p in m.named_parameters()]
        gs = lib.autograd.grad(loss, [xt, ht] + ps, create_graph=True)
        vs = np.random.default_rng(8)
        dot = sum((g * lib.tensor(vs.standard_normal(tuple(g.shape)).astype(dtype))).sum()
                  for g in gs)
        res[lib.__name__] = [h.detach().numpy() for h in lib.autograd.grad(dot, [xt, ht] + ps)]
    tol = TOL if dtype == np.float64 else dict(rtol=1e-3, atol=1e-4)
    for a, b in zip(res["lamina"], res["torch"]):
        np.testing.assert_allclose(a, b, **tol)
