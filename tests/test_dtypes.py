"""Dtypes (issue #14): every dtype pair promotes as in PyTorch, ops keep PyTorch's result
dtypes and values, casting follows PyTorch's rules, and ``iinfo``/``finfo`` match.

Values are compared exactly where both libraries compute the same exactly rounded operation
(integer arithmetic, casts, one IEEE operation per element); float16 and bfloat16 results,
which PyTorch computes through float32 and rounds, are compared exactly as well where each
element takes one rounding.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lamina
from tests.helpers import requires_torch, torch
from tests.strategies import broadcastable_pair

NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32",
         "float64"]
if not hasattr(lamina, "bfloat16"):     # no ml_dtypes: bfloat16 is not a lamina dtype
    NAMES.remove("bfloat16")
SCALARS = [True, 3, -200, 1000, 2.5]


def ldt(name):
    return getattr(lamina, name)


def tdt(name):
    return getattr(torch, name)


def tname(d) -> str:
    return str(d).replace("torch.", "")


def sample(name, shape, seed=0):
    """The same values as a NumPy array (as float64, int64 or bool) for both libraries:
    small integers for integer dtypes, values exactly representable in every float dtype."""
    rng = np.random.default_rng(seed)
    if name == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    if name == "uint8":
        return rng.integers(0, 6, shape)
    if name.startswith("int"):
        return rng.integers(-5, 6, shape)
    return rng.integers(-16, 17, shape) / 4.0       # multiples of 1/4: exact in bfloat16


def pair(name, shape, seed=0):
    a = sample(name, shape, seed)
    return (lamina.tensor(a).to(ldt(name)),
            torch.tensor(a).to(tdt(name)))


def to_np(t):
    """A torch or lamina tensor's values as float64/int64/bool NumPy (bfloat16 via float32)."""
    if isinstance(t, lamina.Tensor):
        d = t.dtype
        if lamina.dtypes.is_floating(d):
            return t.detach().to(lamina.float64).numpy()
        return t.detach().numpy()
    if t.dtype.is_floating_point:
        return t.detach().to(torch.float64).numpy()
    return t.detach().numpy()


def same(lt, tt):
    assert str(lt.dtype) == tname(tt.dtype), (lt.dtype, tt.dtype)
    assert tuple(lt.shape) == tuple(tt.shape)
    np.testing.assert_array_equal(to_np(lt), to_np(tt))


# --- promotion tables -------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("a,b", list(itertools.product(NAMES, NAMES)))
def test_promote_types_every_pair(a, b):
    assert str(lamina.promote_types(ldt(a), ldt(b))) == tname(
        torch.promote_types(tdt(a), tdt(b)))


@requires_torch
@pytest.mark.parametrize("a,b", list(itertools.product(NAMES, NAMES)))
@pytest.mark.parametrize("dims", [(1, 1), (1, 0), (0, 1), (0, 0)])
def test_result_type_tensors_and_zero_dim(a, b, dims):
    la, ta = pair(a, (2,) * dims[0])
    lb, tb = pair(b, (2,) * dims[1], seed=1)
    want = tname(torch.result_type(ta, tb))
    assert str(lamina.result_type(la, lb)) == want
    if a != "bool" or b != "bool":
        same(lamina.add(la, lb), torch.add(ta, tb))        # the op agrees with the table


@requires_torch
@pytest.mark.parametrize("a", NAMES)
@pytest.mark.parametrize("s", SCALARS)
@pytest.mark.parametrize("dim", [1, 0])
def test_result_type_with_python_scalars(a, s, dim):
    la, ta = pair(a, (3,) * dim)
    assert str(lamina.result_type(la, s)) == tname(torch.result_type(ta, s))
    if a == "bool" and isinstance(s, bool):
        return
    same(la + s, ta + s)
    same(s * la, s * ta)


@requires_torch
@pytest.mark.parametrize("default", ["float32", "float64"])
def test_python_float_promotes_to_the_default_dtype(default):
    lamina.set_default_dtype(ldt(default))
    torch.set_default_dtype(tdt(default))
    try:
        for a in NAMES:
            la, ta = pair(a, (2,))
            assert str((la * 0.5).dtype) == tname((ta * 0.5).dtype)
            assert str(lamina.result_type(la, 0.5)) == tname(torch.result_type(ta, 0.5))
    finally:
        lamina.set_default_dtype(lamina.float32)
        torch.set_default_dtype(torch.float32)


@requires_torch
@pytest.mark.parametrize("a,b", list(itertools.product(NAMES, NAMES)))
def test_can_cast_every_pair(a, b):
    assert lamina.can_cast(ldt(a), ldt(b)) == torch.can_cast(tdt(a), tdt(b))


# --- ops keep PyTorch's result dtypes and values ------------------------------------------------

BINARY = {
    "sub": lambda m, x, y: m.sub(x, y),
    "mul": lambda m, x, y: m.mul(x, y),
    "div": lambda m, x, y: m.div(x, y),
    "maximum": lambda m, x, y: m.maximum(x, y),
    "minimum": lambda m, x, y: m.minimum(x, y),
    "where": lambda m, x, y: m.where(x > 0, x, y),
    "eq": lambda m, x, y: m.eq(x, y),
    "lt": lambda m, x, y: m.lt(x, y),
    "cat": lambda m, x, y: m.cat([x, y]),
    "stack": lambda m, x, y: m.stack([x, y]),
}


@requires_torch
@pytest.mark.parametrize("op", sorted(BINARY))
@pytest.mark.parametrize("a,b", list(itertools.product(NAMES, NAMES)))
def test_binary_ops_dtype_and_values(op, a, b):
    la, ta = pair(a, (4,))
    lb, tb = pair(b, (4,), seed=1)
    fn = BINARY[op]
    try:
        want = fn(torch, ta, tb)
    except RuntimeError:
        with pytest.raises(lamina.LaminaError):
            fn(lamina, la, lb)
        return
    got = fn(lamina, la, lb)
    if op == "div" and "float" not in tname(want.dtype) or want.dtype in (torch.float16,
                                                                          torch.bfloat16):
        # one rounding of the exact quotient in both; compare through float64
        assert str(got.dtype) == tname(want.dtype)
        np.testing.assert_array_equal(to_np(got), to_np(want))
    else:
        same(got, want)


INT_NAMES = ["uint8", "int8", "int16", "int32", "int64"]


@requires_torch
@pytest.mark.parametrize("a,b", list(itertools.product(INT_NAMES + ["float32"], INT_NAMES)))
@pytest.mark.parametrize("mode", ["floor", "trunc"])
def test_div_rounding_mode_keeps_integer_dtype(a, b, mode):
    la, ta = pair(a, (6,))
    lb, tb = lamina.tensor([1, 2, 3, 4, 5, 3]).to(ldt(b)), torch.tensor([1, 2, 3, 4, 5, 3]).to(
        tdt(b))
    same(lamina.div(la, lb, rounding_mode=mode), torch.div(ta, tb, rounding_mode=mode))
    same(lamina.div(la, 2, rounding_mode=mode), torch.div(ta, 2, rounding_mode=mode))
    same(la // lb, ta // tb)


@requires_torch
@pytest.mark.parametrize("a,b", list(itertools.product(INT_NAMES + ["float16", "float32"],
                                                       INT_NAMES)))
def test_remainder_and_fmod(a, b):
    la, ta = pair(a, (6,))
    lb, tb = lamina.tensor([1, 2, 3, 4, 5, 3]).to(ldt(b)), torch.tensor([1, 2, 3, 4, 5, 3]).to(
        tdt(b))
    same(lamina.remainder(la, lb), torch.remainder(ta, tb))
    same(lamina.fmod(la, lb), torch.fmod(ta, tb))
    same(la % 3, ta % 3)


@requires_torch
@pytest.mark.parametrize("a", INT_NAMES + ["float16", "float32"])
@pytest.mark.parametrize("e", [0, 2, 3])
def test_integer_pow_keeps_dtype(a, e):
    la, ta = pair(a, (5,))
    same(la ** e, ta ** e)
    same(lamina.pow(la, lamina.tensor([e]).to(ldt(a))), torch.pow(ta, torch.tensor([e]).to(
        tdt(a))))
    if a in INT_NAMES:
        same(2 ** la.abs(), 2 ** ta.abs())


@requires_torch
@pytest.mark.parametrize("a", [n for n in NAMES if n != "bfloat16"])
def test_reductions_keep_pytorch_dtypes(a):
    la, ta = pair(a, (3, 4))
    same(la.sum(), ta.sum())
    same(la.sum(0), ta.sum(0))
    same(la.prod(1), ta.prod(1))
    if a != "bool":
        same(la.max(), ta.max())
        same(la.min(0).values, ta.min(0).values)
        same(la.amax(1), ta.amax(1))
        same(la.cumsum(0), ta.cumsum(0))
    if a.startswith("float"):
        same(la.mean(), ta.mean())


@requires_torch
@pytest.mark.parametrize("name", ["float16", "bfloat16"])
def test_half_sums_and_matmul_accumulate_in_float32(name):
    if name not in NAMES:
        pytest.skip("ml_dtypes not installed: no bfloat16")
    # 4096 ones plus small terms: accumulated in half precision the sum would stall at 2048
    a = np.ones(4096)
    la, ta = lamina.tensor(a).to(ldt(name)), torch.tensor(a).to(tdt(name))
    same(la.sum(), ta.sum())
    same(la.mean(), ta.mean())
    m = np.random.default_rng(0).integers(-3, 4, (8, 300)) / 2.0
    lm, tm = lamina.tensor(m).to(ldt(name)), torch.tensor(m).to(tdt(name))
    same(lm @ lm.T, tm @ tm.T)         # exact in float32: both round the exact result once
    assert (lm @ lm.T).dtype == ldt(name)


# --- casting ----------------------------------------------------------------------------------

CAST_VALUES = np.array([-3.7, -1.5, -0.5, 0.0, 0.5, 1.5, 2.5, 100.9, 127.0, 200.0])


@requires_torch
@pytest.mark.parametrize("src", NAMES)
@pytest.mark.parametrize("dst", NAMES)
def test_to_casts_like_pytorch(src, dst):
    base = CAST_VALUES if src.startswith(("float", "bfloat")) else np.array([0, 1, 2, 5, 100])
    if src == "bool":
        base = np.array([True, False, True])
    if src in ("uint8",) or dst == "uint8":
        base = np.abs(base)           # negative floats to uint8 are undefined in C
    if src.startswith(("float", "bfloat")) and dst.startswith(("int", "uint")):
        base = base[np.abs(base) < 127]   # out-of-range float -> int is undefined in C too
    ls, ts = lamina.tensor(base).to(ldt(src)), torch.tensor(base).to(tdt(src))
    same(ls.to(ldt(dst)), ts.to(tdt(dst)))
    # copy_ casts into the destination's dtype
    ld, td = lamina.zeros(len(base), dtype=ldt(dst)), torch.zeros(len(base), dtype=tdt(dst))
    ld.copy_(ls)
    td.copy_(ts)
    same(ld, td)


@requires_torch
def test_integer_narrowing_wraps_like_pytorch():
    v = np.array([0, 127, 128, 255, 256, -1, -129, 70000, -70000, 2**40 + 3])
    for d in INT_NAMES:
        same(lamina.tensor(v).to(ldt(d)), torch.tensor(v).to(tdt(d)))
    for d in INT_NAMES:         # a Python int that does not fit wraps too
        la, ta = pair(d, (3,))
        same(la + 1000, ta + 1000)
        same(la * -70000, ta * -70000)


def test_tensor_methods_for_dtypes():
    x = lamina.tensor([1.7, -2.2])
    assert x.int().dtype == lamina.int32 and x.int().tolist() == [1, -2]
    assert x.short().dtype == lamina.int16
    assert x.char().dtype == lamina.int8
    assert x.byte().dtype == lamina.uint8
    assert x.half().dtype == lamina.float16 == lamina.half
    assert x.long().dtype == lamina.int64
    assert x.half().is_floating_point() and not x.int().is_floating_point()
    if hasattr(lamina, "bfloat16"):
        b = x.bfloat16()
        assert b.dtype == lamina.bfloat16 and b.is_floating_point()
        assert "dtype=lamina.bfloat16" in repr(b)
        assert b.requires_grad_().requires_grad
    assert (lamina.short, lamina.int, lamina.char, lamina.byte) == (
        lamina.int16, lamina.int32, lamina.int8, lamina.uint8)


def test_numpy_arrays_keep_their_dtype():
    for d in ["int8", "int16", "int32", "uint8", "float16"]:
        a = np.arange(3).astype(d)
        assert lamina.tensor(a).dtype == np.dtype(d)
        assert lamina.as_tensor(a).dtype == np.dtype(d)
        assert lamina.from_numpy(a).dtype == np.dtype(d)
    assert lamina.tensor(np.arange(3, dtype=np.uint32)).dtype == lamina.int64  # no uint32


@requires_torch
def test_inplace_result_that_cannot_be_cast_raises_like_pytorch():
    for name in INT_NAMES:
        lt, tt = pair(name, (3,))
        with pytest.raises(RuntimeError, match="can't be cast"):
            tt.add_(0.5)
        with pytest.raises(lamina.LaminaValueError,
                           match="result type Float can't be cast to the desired output type"):
            lt.add_(0.5)
        with pytest.raises(lamina.LaminaValueError, match="can't be cast"):
            lt.mul_(lamina.ones(3))
    lb = lamina.tensor([True, False])
    with pytest.raises(lamina.LaminaValueError, match="result type Long can't be cast to the "
                       "desired output type Bool"):
        lb.add_(1)
    h = lamina.ones(2, dtype=lamina.float16)
    h.add_(lamina.ones(2, dtype=lamina.float64))     # same category: cast down, as PyTorch
    assert h.dtype == lamina.float16 and h.tolist() == [2.0, 2.0]
    i8 = lamina.tensor([100], dtype=lamina.int8)
    i8.add_(1000)                                    # wraps like PyTorch's int8
    assert i8.tolist() == [torch.tensor([100], dtype=torch.int8).add_(1000).item()]


# --- iinfo / finfo ----------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("name", [n for n in NAMES if not n.startswith(("float", "bfloat", "b"))])
def test_iinfo(name):
    got, want = lamina.iinfo(ldt(name)), torch.iinfo(tdt(name))
    assert (got.bits, got.min, got.max, got.dtype) == (want.bits, want.min, want.max,
                                                       want.dtype)


@requires_torch
@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith(("float", "bfloat"))])
def test_finfo(name):
    got, want = lamina.finfo(ldt(name)), torch.finfo(tdt(name))
    for f in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
        assert getattr(got, f) == getattr(want, f), f


def test_info_errors():
    with pytest.raises(lamina.LaminaTypeError, match="iinfo: expected an integer dtype"):
        lamina.iinfo(lamina.float32)
    with pytest.raises(TypeError):              # PyTorch: torch.bool is not supported
        lamina.iinfo(lamina.bool)
    with pytest.raises(lamina.LaminaTypeError, match="finfo: expected a floating dtype"):
        lamina.finfo(lamina.int32)
    assert lamina.finfo().dtype == "float32"


# --- broadcasting shapes with mixed dtypes (hypothesis) ---------------------------------------

@requires_torch
@given(broadcastable_pair(0, 3, 0, 3), st.sampled_from(NAMES), st.sampled_from(NAMES),
       st.sampled_from(["add", "mul", "maximum", "where"]))
def test_mixed_dtype_broadcasting(shapes, a, b, op):
    sa, sb = shapes
    la, ta = pair(a, sa)
    lb, tb = pair(b, sb, seed=1)
    fn = {"add": lambda m, x, y: m.add(x, y), "mul": lambda m, x, y: m.mul(x, y),
          "maximum": lambda m, x, y: m.maximum(x, y),
          "where": lambda m, x, y: m.where(m.ones((), dtype=m.bool), x, y)}[op]
    try:
        want = fn(torch, ta, tb)
    except RuntimeError:
        with pytest.raises(lamina.LaminaError):
            fn(lamina, la, lb)
        return
    same(fn(lamina, la, lb), want)


@requires_torch
def test_out_of_range_python_ints_in_where_and_clamp_raise_like_pytorch():
    la, ta = pair("int8", (4,))
    for fn in (lambda m, x: m.where(x > 0, x, 1000), lambda m, x: m.clamp(x, 0, 1000)):
        with pytest.raises(RuntimeError, match="overflow"):
            fn(torch, ta)
        with pytest.raises(lamina.LaminaValueError, match="overflow"):
            fn(lamina, la)
    same(lamina.where(la > 0, la, 100), torch.where(ta > 0, ta, 100))
    same(lamina.clamp(la, -2, 3), torch.clamp(ta, -2, 3))
    same(lamina.where(la > 0, la, 2.5), torch.where(ta > 0, ta, 2.5))


@requires_torch
@pytest.mark.parametrize("name", INT_NAMES)
def test_integer_reduction_dtype_argument(name):
    v = np.array([[100, 100, 100], [7, -3, 2]]) if name != "uint8" else np.array([[200, 100, 9]])
    la, ta = lamina.tensor(v).to(ldt(name)), torch.tensor(v).to(tdt(name))
    for d in ("int8", "int16", "int64"):
        same(la.sum(dtype=ldt(d)), ta.sum(dtype=tdt(d)))
        same(la.sum(1, dtype=ldt(d)), ta.sum(1, dtype=tdt(d)))
        same(la.prod(1, dtype=ldt(d)), ta.prod(1, dtype=tdt(d)))


def test_without_ml_dtypes_bfloat16_says_what_to_install():
    import subprocess
    import sys
    code = ("import sys; sys.modules['ml_dtypes'] = None\n"
            "import lamina\n"
            "try:\n    lamina.bfloat16\nexcept AttributeError as e:\n    print('A', e)\n"
            "try:\n    lamina.ones(2).bfloat16()\nexcept lamina.LaminaTypeError as e:\n"
            "    print('T', e)\n"
            "print((lamina.ones(2).half() + 1).dtype)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("A lamina.bfloat16: bfloat16 needs the ml_dtypes package")
    assert lines[1].startswith("T unsupported dtype bfloat16: bfloat16 needs the ml_dtypes")
    assert lines[2] == "float16"


@requires_torch
@pytest.mark.parametrize("values,name", [([300], "int8"), ([-1], "uint8"), ([-255], "uint8"),
                                         ([-256], "uint8"), ([2.5, -3.9], "int8"),
                                         ([40000], "int16"), ([2 ** 31], "int32"),
                                         ([True, False], "uint8")])
def test_tensor_from_python_numbers_checks_overflow_like_pytorch(values, name):
    try:
        want = torch.tensor(values, dtype=tdt(name))
    except RuntimeError:
        with pytest.raises(lamina.LaminaValueError, match="tensor: value cannot be converted"):
            lamina.tensor(values, dtype=ldt(name))
        return
    same(lamina.tensor(values, dtype=ldt(name)), want)


@requires_torch
@pytest.mark.parametrize("name", ["float16", "bfloat16"])
def test_half_gradients_keep_the_dtype(name):
    if name not in NAMES:
        pytest.skip("ml_dtypes not installed: no bfloat16")
    m = np.random.default_rng(0).integers(-3, 4, (4, 6)) / 2.0
    lx = lamina.tensor(m).to(ldt(name)).requires_grad_()
    tx = torch.tensor(m).to(tdt(name)).requires_grad_()
    ((lx @ lx.T).sum() * lx.mean() + (lx * 0.5).sum()).backward()
    ((tx @ tx.T).sum() * tx.mean() + (tx * 0.5).sum()).backward()
    same(lx.grad, tx.grad)


@requires_torch
def test_all_any_keep_uint8_and_fmod_keeps_narrow_ints():
    la, ta = pair("uint8", (2, 3))
    same(la.all(), ta.all())
    same(la.any(1), ta.any(1))
    li, ti = pair("int32", ())
    same(lamina.fmod(li, 2), torch.fmod(ti, 2))


HALF_OPS = {
    "relu": lambda m, x, w: m.relu(x), "softmax": lambda m, x, w: x.softmax(1),
    "log_softmax": lambda m, x, w: x.log_softmax(1), "sigmoid": lambda m, x, w: m.sigmoid(x),
    "tanh": lambda m, x, w: m.tanh(x), "linear": lambda m, x, w: m.nn.functional.linear(x, w),
    "max": lambda m, x, w: x.max(), "argmax": lambda m, x, w: x.argmax(1),
    "cumsum": lambda m, x, w: x.cumsum(1), "var": lambda m, x, w: x.var(1),
    "std": lambda m, x, w: x.std(), "exp": lambda m, x, w: x.exp(),
    "clamp": lambda m, x, w: x.clamp(-1, 1), "sqrt": lambda m, x, w: x.abs().sqrt(),
    "norm": lambda m, x, w: x.norm(), "sort": lambda m, x, w: x.sort(1)[0],
    "where": lambda m, x, w: m.where(x > 0, x, 0.0), "prod": lambda m, x, w: x.prod(1),
    "logsumexp": lambda m, x, w: x.logsumexp(1), "cat": lambda m, x, w: m.cat([x, x.float()]),
    "round": lambda m, x, w: x.round(), "mean": lambda m, x, w: x.mean(0),
    "bmm": lambda m, x, w: m.bmm(x[None], x.T[None]), "neg": lambda m, x, w: -x,
}


@requires_torch
@pytest.mark.parametrize("name", ["float16", "bfloat16"])
@pytest.mark.parametrize("op", sorted(HALF_OPS))
def test_half_precision_ops_keep_dtype_and_values(name, op):
    """Within 4 units of the half dtype's precision of PyTorch (which computes these through
    float32 and rounds; lamina's NumPy loops round some intermediates differently)."""
    if name not in NAMES:
        pytest.skip("ml_dtypes not installed: no bfloat16")
    m = np.random.default_rng(0).integers(-8, 9, (4, 6)) / 4.0
    w = np.random.default_rng(1).integers(-8, 9, (3, 6)) / 4.0
    got = HALF_OPS[op](lamina, lamina.tensor(m).to(ldt(name)), lamina.tensor(w).to(ldt(name)))
    want = HALF_OPS[op](torch, torch.tensor(m).to(tdt(name)), torch.tensor(w).to(tdt(name)))
    assert str(got.dtype) == tname(want.dtype)
    g, t = to_np(got), to_np(want)
    eps = 2.0 ** (-7 if name == "bfloat16" else -10)
    np.testing.assert_allclose(g, t, rtol=4 * eps, atol=4 * eps * max(1.0, np.abs(t).max()))


@requires_torch
@pytest.mark.parametrize("name", ["float16", "bfloat16"])
@pytest.mark.parametrize("expr", ["x * 1e30", "x * 1e6", "1e30 * x", "x / 1e30", "x / 3",
                                  "x * 0.1", "x + 1e30", "x - 1e30", "x - 0.1", "x * 100000",
                                  "x + 1", "x / 1e-8"])
def test_half_tensor_with_python_number_like_pytorch(name, expr):
    """mul/div compute in float32 with the number unrounded (0 * 1e30 is 0, not NaN);
    add/sub round the number to the half dtype first, as PyTorch does."""
    if name not in NAMES:
        pytest.skip("ml_dtypes not installed: no bfloat16")
    v = np.array([0.0, 1e-4, np.inf, 2.0, -3.5, 1000.0])
    got = eval(expr, {"x": lamina.tensor(v).to(ldt(name))})
    same(got, eval(expr, {"x": torch.tensor(v).to(tdt(name))}))
