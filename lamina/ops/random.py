"""Random sampling: ``multinomial``, ``bernoulli``, ``normal``, ``poisson`` and the in-place
samplers (``uniform_``, ``normal_``, ``bernoulli_``, ``exponential_``, ``random_``,
``cauchy_``, ``log_normal_``, ``geometric_``).

Every function takes ``generator=`` (a ``lamina.Generator``) and otherwise draws from the global
generator that ``lamina.manual_seed`` seeds. Draws come from NumPy's PCG64 generator, so a seed
gives the same numbers in lamina on every run and machine, but not PyTorch's numbers: lamina
matches PyTorch's distributions, shapes, dtypes and errors, not its bit streams.

None of these is differentiable, as in PyTorch (the gradient of ``normal(mean, std)`` with
respect to ``mean`` and ``std`` is zero there; lamina returns a tensor without a graph; use
``lamina.distributions.Normal.rsample`` for a reparameterized sample).

This module also carries the global-generator functions under the names ``torch.random``
has (``lamina.random.manual_seed``, ``lamina.random.get_rng_state``...).
"""

from __future__ import annotations

import numpy as np

from lamina.backend import (  # noqa: F401  (re-exported as lamina.random.*, torch's names)
    Generator,
    as_dtype,
    default_generator,
    fork_rng,
    get_default_dtype,
    get_rng_state,
    initial_seed,
    is_floating,
    manual_seed,
    rng,
    scalar_name,
    seed,
    set_rng_state,
    torch_name,
)
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.ops.elementwise import _inplace, add, mul
from lamina.tensor import Tensor, _make

__all__ = ["multinomial", "bernoulli", "normal", "poisson", "uniform_", "normal_",
           "bernoulli_", "exponential_", "random_", "cauchy_", "log_normal_", "geometric_"]


def _tensor(x, op: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise LaminaTypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    return x


def _need_floating(d, op: str) -> None:
    if not is_floating(d):
        raise LaminaValueError(f"{op}: not implemented for dtype {torch_name(d)} (PyTorch: "
                               f"not implemented for '{scalar_name(d)}'); a floating dtype is "
                               "needed")


def _number(v, name: str, op: str) -> float:
    if isinstance(v, Tensor):
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise LaminaTypeError(f"{op}: {name} must be a number, got {type(v).__name__}")
    return float(v)


# --- multinomial -----------------------------------------------------------------------------

def multinomial(input, num_samples: int, replacement: bool = False, *,  # noqa: A002
                generator=None) -> Tensor:
    """Draw ``num_samples`` category indices from each row of ``input`` (1-D or 2-D), whose
    entries are non-negative weights (they need not sum to 1). Returns int64 indices of shape
    ``(num_samples,)`` or ``(rows, num_samples)``.

    Without replacement every row's indices are distinct (the order is the order of drawing:
    the first index is a draw from the whole row, the next from the rest, ...), so
    ``num_samples`` may not exceed the number of categories; categories of weight zero are
    drawn only once every other one has been, as in PyTorch.
    """
    p = _tensor(input, "multinomial")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
        raise LaminaTypeError(f"multinomial: argument 'num_samples' must be int, not "
                              f"{type(num_samples).__name__}")
    if p._data.ndim not in (1, 2):
        raise LaminaValueError(f"multinomial: prob_dist must be 1 or 2 dim, got "
                               f"{p._data.ndim} dims")
    _need_floating(p._data.dtype, "multinomial")
    n = int(num_samples)
    w = p._data.astype(np.float64).reshape(p._data.shape[0] if p._data.ndim == 2 else 1,
                                            p._data.shape[-1])
    cats = w.shape[1]
    if n <= 0:
        raise LaminaValueError(f"multinomial: cannot sample n_sample <= 0 samples (got {n})")
    if not replacement and n > cats:
        raise LaminaValueError(f"multinomial: cannot sample n_sample > prob_dist.size(-1) "
                               f"samples without replacement ({n} > {cats})")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise LaminaValueError("multinomial: probability tensor contains either `inf`, `nan` "
                               "or element < 0")
    total = w.sum(axis=1)
    if w.shape[0] and np.any(total <= 0):
        raise LaminaValueError("multinomial: invalid multinomial distribution (sum of "
                               "probabilities <= 0)")
    g = rng(generator)
    if replacement:
        # inverse CDF: each uniform draw lands in one category's slice of [0, 1); dividing
        # by the last cumulative sum makes it exactly 1, so no draw falls past the end, and a
        # zero weight's slice is empty
        cdf = np.cumsum(w, axis=1)
        cdf /= cdf[:, -1:]
        u = g.random((w.shape[0], n))
        out = np.stack([np.searchsorted(c, ui, side="right") for c, ui in zip(cdf, u)]) \
            if w.shape[0] else np.empty((0, n), np.int64)
    else:
        # exponential races (Gumbel-top-k): the k smallest E_i / w_i, E_i ~ Exp(1), are a
        # draw of k categories without replacement, in the order of drawing. Zero weights
        # (key inf) come only after every positive one, in random order (PyTorch also returns
        # them then, in an order of its own)
        with np.errstate(divide="ignore"):
            keys = g.standard_exponential(w.shape) / w
        out = np.lexsort((g.random(w.shape), keys), axis=1)[:, :n]
    out = out.astype(np.int64)
    return _make(out.reshape(p._data.shape[:-1] + (n,)))


# --- bernoulli, poisson, normal --------------------------------------------------------------

def bernoulli(input, p=None, *, generator=None) -> Tensor:  # noqa: A002
    """0/1 draws shaped and typed like ``input``: each element is 1 with probability equal to
    that element of ``input`` (a floating tensor in ``[0, 1]``), or with probability ``p``
    (a float) for every element when ``p`` is given (any dtype of ``input`` then)."""
    x = _tensor(input, "bernoulli")
    if p is not None:
        q = _number(p, "p", "bernoulli")
        if not 0 <= q <= 1:
            raise LaminaValueError(f"bernoulli: expects p to be in [0, 1], but got p={p}")
        return bernoulli_(_make(np.empty_like(x._data)), q, generator=generator)
    _need_floating(x._data.dtype, "bernoulli")
    probs = x._data.astype(np.float64)
    if not np.all((probs >= 0) & (probs <= 1)):      # NaN fails both
        raise LaminaValueError("bernoulli: expected every probability in [0, 1] (PyTorch: "
                               "Expected p_in >= 0 && p_in <= 1 to be true, but got false.)")
    draws = rng(generator).random(probs.shape) < probs
    return _make(draws.astype(x._data.dtype))


def poisson(input, generator=None) -> Tensor:  # noqa: A002
    """Poisson draws with the rates in ``input`` (a floating tensor of non-negative rates);
    the result has ``input``'s shape and dtype. An infinite rate is not supported by
    NumPy's sampler: lamina raises where PyTorch returns a value."""
    x = _tensor(input, "poisson")
    _need_floating(x._data.dtype, "poisson")
    lam = x._data.astype(np.float64)
    if not np.all(lam >= 0):
        raise LaminaValueError("poisson: invalid Poisson rate, expected rate to be non-negative")
    if not np.all(np.isfinite(lam)):
        raise LaminaValueError("poisson: an infinite rate is not supported by lamina's "
                               "sampler (NumPy's)")
    return _make(rng(generator).poisson(lam).astype(x._data.dtype))


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad: bool = False, out=None) -> Tensor:
    """Normal draws, PyTorch's four forms:

    - ``normal(mean: Tensor, std: Tensor)``: one draw per element of their broadcast shape,
      of ``mean``'s dtype (as PyTorch; ``std`` is not promoted with it);
    - ``normal(mean: Tensor, std: float = 1.0)`` and ``normal(mean: float, std: Tensor)``;
    - ``normal(mean: float, std: float, size)``: ``size`` draws of the default dtype (or
      ``dtype``).

    Tensor forms take the floating dtype of the tensors (promoted together). ``std`` must be
    non-negative. The result has no gradient (see the module docstring).
    """
    if out is not None:
        raise NotImplementedError("normal: out= is not supported by lamina")
    if device is not None:
        from lamina.device import check_device
        check_device(device, "normal")
    tm, ts = isinstance(mean, Tensor), isinstance(std, Tensor)
    if not tm and not ts:
        if size is None:
            raise LaminaTypeError("normal: received an invalid combination of arguments - got "
                                  "two numbers; give a size, or a tensor mean or std")
        from lamina.creation import _size
        shape = _size((size,), "normal")
        m, s = _number(mean, "mean", "normal"), _number(std, "std", "normal")
        if not s >= 0:
            raise LaminaValueError(f"normal: expects std >= 0.0, but found std {std}")
        d = get_default_dtype() if dtype is None else as_dtype(dtype)
        _need_floating(d, "normal")
        arr = rng(generator).normal(m, s, shape).astype(d)
        t = _make(arr)
        return t.requires_grad_(True) if requires_grad else t
    if size is not None:
        raise LaminaTypeError("normal: size is only accepted with a number mean and std")
    for v in (mean, std):
        if isinstance(v, Tensor):
            _need_floating(v._data.dtype, "normal")
    if ts:
        s = std._data
        if not np.all(s >= 0):
            raise LaminaValueError("normal: expects all elements of std >= 0.0")
    else:
        s = _number(std, "std", "normal")
        if not s >= 0:
            raise LaminaValueError(f"normal: expects std >= 0.0, but found std {std}")
    m = mean._data if tm else _number(mean, "mean", "normal")
    if tm:
        d = mean._data.dtype        # PyTorch: mean's dtype, even with a wider std
    else:
        d = (mean if tm else std)._data.dtype
    try:
        shape = np.broadcast_shapes(np.shape(m), np.shape(s))
    except ValueError:
        raise LaminaValueError(f"normal: the shapes of mean {tuple(np.shape(m))} and std "
                               f"{tuple(np.shape(s))} cannot be broadcast together") from None
    z = rng(generator).standard_normal(shape)
    arr = np.asarray(np.asarray(m, np.float64) + np.asarray(s, np.float64) * z).astype(d)
    return _make(arr)


# --- in-place samplers -----------------------------------------------------------------------

def _fill(t: Tensor, values: np.ndarray, op: str) -> Tensor:
    """Write ``values`` into ``t`` in place with the checks of every in-place op (a leaf that
    requires grad is refused under grad mode; the version counter moves). Where ``t`` is part
    of a graph its gradient through the fill is zero, as in PyTorch."""
    arr = np.asarray(values).astype(t._data.dtype, copy=False)

    def filled(x):
        new = _make(arr)
        return add(mul(x, 0), new) if x.requires_grad else new

    return _inplace(t, op, filled)


def uniform_(self, from_=0.0, to=1.0, *, generator=None, **kw) -> Tensor:
    """Fill with uniform draws from ``[from_, to)`` (floating tensors). PyTorch names the
    first argument ``from``, a Python keyword: pass it positionally or as ``from_``."""
    t = _tensor(self, "uniform_")
    from_ = kw.pop("from", from_)
    _no_extra(kw, "uniform_")
    _need_floating(t._data.dtype, "uniform_")
    lo, hi = _number(from_, "from", "uniform_"), _number(to, "to", "uniform_")
    if lo > hi:
        raise LaminaValueError(f"uniform_: expects to return a [from, to) range, but found "
                               f"from={from_} > to={to}")
    return _fill(t, rng(generator).uniform(lo, hi, t._data.shape), "uniform_")


def normal_(self, mean=0.0, std=1.0, *, generator=None) -> Tensor:
    """Fill with draws from N(mean, std^2) (floating tensors)."""
    t = _tensor(self, "normal_")
    _need_floating(t._data.dtype, "normal_")
    m, s = _number(mean, "mean", "normal_"), _number(std, "std", "normal_")
    if not s >= 0:
        raise LaminaValueError(f"normal_: expects std >= 0.0, but found std {std}")
    return _fill(t, rng(generator).normal(m, s, t._data.shape), "normal_")


def bernoulli_(self, p=0.5, *, generator=None) -> Tensor:
    """Fill with 0/1 draws that are 1 with probability ``p`` (a number, or a tensor of
    probabilities broadcast to this tensor's shape); any dtype."""
    t = _tensor(self, "bernoulli_")
    g = rng(generator)
    if isinstance(p, Tensor):
        probs = p._data.astype(np.float64)
        if not np.all((probs >= 0) & (probs <= 1)):
            raise LaminaValueError("bernoulli_: expected every probability in [0, 1] (PyTorch: "
                                   "Expected p_in >= 0 && p_in <= 1 to be true, but got false.)")
        try:
            probs = np.broadcast_to(probs, t._data.shape)
        except ValueError:
            raise LaminaValueError(f"bernoulli_: p of shape {tuple(probs.shape)} cannot be "
                                   f"broadcast to the tensor's shape {tuple(t.shape)}") from None
    else:
        probs = _number(p, "p", "bernoulli_")
        if not 0 <= probs <= 1:
            raise LaminaValueError(f"bernoulli_: expects p to be in [0, 1], but got p={p}")
    return _fill(t, g.random(t._data.shape) < probs, "bernoulli_")


def exponential_(self, lambd=1.0, *, generator=None) -> Tensor:
    """Fill with draws from the exponential distribution of rate ``lambd`` (density
    ``lambd * exp(-lambd x)``); floating tensors."""
    t = _tensor(self, "exponential_")
    if not is_floating(t._data.dtype):
        raise LaminaValueError(f"exponential_: Exponential distribution is a continuous "
                               f"probability distribution. dtype must be a floating point but "
                               f"you specified {torch_name(t._data.dtype)}")
    lam = _number(lambd, "lambd", "exponential_")
    if not lam > 0:
        raise LaminaValueError(f"exponential_: expects lambda > 0.0, but found lambda={lambd}")
    return _fill(t, rng(generator).standard_exponential(t._data.shape) / lam, "exponential_")


def cauchy_(self, median=0.0, sigma=1.0, *, generator=None) -> Tensor:
    """Fill with draws from the Cauchy distribution ``median + sigma * tan(pi (U - 1/2))``;
    floating tensors."""
    t = _tensor(self, "cauchy_")
    if not is_floating(t._data.dtype):
        raise LaminaValueError(f"cauchy_: Cauchy distribution is a continuous probability "
                               f"distribution. dtype must be a floating point but you specified "
                               f"{torch_name(t._data.dtype)}")
    m, s = _number(median, "median", "cauchy_"), _number(sigma, "sigma", "cauchy_")
    if not s > 0:
        raise LaminaValueError(f"cauchy_: expects sigma > 0.0, but found sigma={sigma}")
    return _fill(t, m + s * rng(generator).standard_cauchy(t._data.shape), "cauchy_")


def log_normal_(self, mean=1.0, std=2.0, *, generator=None) -> Tensor:
    """Fill with ``exp(N(mean, std^2))`` draws: ``mean`` and ``std`` are those of the
    logarithm, as in PyTorch; floating tensors."""
    t = _tensor(self, "log_normal_")
    _need_floating(t._data.dtype, "log_normal_")
    m, s = _number(mean, "mean", "log_normal_"), _number(std, "std", "log_normal_")
    if not s > 0:
        raise LaminaValueError(f"log_normal_: expects std > 0.0, but found std={std}")
    return _fill(t, rng(generator).lognormal(m, s, t._data.shape), "log_normal_")


def geometric_(self, p, *, generator=None) -> Tensor:
    """Fill with the number of Bernoulli(``p``) trials up to and including the first success
    (values 1, 2, ...); any numeric dtype."""
    t = _tensor(self, "geometric_")
    q = _number(p, "p", "geometric_")
    if not 0 < q < 1:
        raise LaminaValueError(f"geometric_: expects p to be in (0, 1), but got p={p}")
    return _fill(t, rng(generator).geometric(q, t._data.shape), "geometric_")


def random_(self, *args, generator=None, **kw) -> Tensor:
    """Fill with integers drawn uniformly: ``random_()`` from ``[0, max]`` where ``max`` is the
    dtype's largest integer (``2^mantissa`` for floating dtypes: every integer up to it is
    exact), ``random_(to)`` from ``[0, to)``, ``random_(from, to)`` from ``[from, to)``.
    PyTorch names the first argument ``from``, a Python keyword: pass it positionally or in
    ``**{"from": v}``."""
    t = _tensor(self, "random_")
    lo = kw.pop("from", kw.pop("from_", None))
    hi = kw.pop("to", None)
    _no_extra(kw, "random_")
    if len(args) > 2:
        raise LaminaTypeError(f"random_: takes at most 2 positional arguments, got {len(args)}")
    if len(args) == 2:
        lo, hi = args
    elif len(args) == 1 and lo is None and hi is None:
        hi = args[0]                            # random_(to)
    elif len(args) == 1:
        lo = args[0]
    d = t._data.dtype
    lo_ok, hi_ok = _integer_range(d)
    lo = 0 if lo is None else int(lo)
    hi = hi_ok + 1 if hi is None else int(hi)
    if lo >= hi:
        raise LaminaValueError(f"random_: expects 'from' to be less than 'to', but got "
                               f"from={lo} >= to={hi}")
    if lo < lo_ok:
        raise LaminaValueError(f"random_: from is out of bounds for {torch_name(d)}")
    if hi - 1 > hi_ok:
        raise LaminaValueError(f"random_: to - 1 is out of bounds for {torch_name(d)}")
    if hi - lo > 2 ** 63:                       # int64's whole range: NumPy draws it as uint64
        draws = rng(generator).integers(0, 2 ** 64, t._data.shape, dtype=np.uint64)
        return _fill(t, draws.view(np.int64), "random_")
    return _fill(t, rng(generator).integers(lo, hi, t._data.shape, dtype=np.int64), "random_")


_MANTISSA = {"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}


def _integer_range(d) -> tuple:
    """The integers a dtype holds exactly, as ``random_`` may draw them."""
    if d.kind == "b":
        return 0, 1
    if d.kind in "iu":
        i = np.iinfo(d)
        return int(i.min), int(i.max)
    m = 2 ** _MANTISSA[torch_name(d)]
    return -m, m


def _no_extra(kw, op):
    if kw:
        raise LaminaTypeError(f"{op}() got unexpected keyword arguments {sorted(kw)}")

