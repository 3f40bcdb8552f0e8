"""``Distribution``: the base class of every probability distribution (PyTorch's interface).

A distribution has a ``batch_shape`` (independent, differently parametrized copies) and an
``event_shape`` (the shape of one draw). ``sample(sample_shape)`` returns a tensor of shape
``sample_shape + batch_shape + event_shape`` with no gradient; ``rsample`` (where
``has_rsample``) draws the same way through a differentiable function of the parameters and
parameter-free noise (the reparametrization trick), so gradients flow to the parameters.
``log_prob``, ``entropy``, ``cdf`` and ``icdf`` are lamina ops, differentiable with respect to
the parameters.
"""

from __future__ import annotations

import numbers

import numpy as np

import lamina
from lamina.backend import Generator, get_default_dtype, rng
from lamina.distributions import constraints
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor

__all__ = ["Distribution", "broadcast_all"]


def _shape(shape, who: str) -> tuple:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        out = tuple(int(s) for s in shape)
    except TypeError:
        raise LaminaTypeError(f"{who}: expected a shape (tuple of ints), got "
                              f"{type(shape).__name__}") from None
    if any(s < 0 for s in out) or any(isinstance(s, bool) for s in shape):
        raise LaminaValueError(f"{who}: expected non-negative sizes, got {out}")
    return out


def broadcast_all(*values, names=None, who: str = "distribution") -> tuple:
    """Turn numbers and tensors into floating tensors of one broadcast shape.

    Numbers become tensors of the tensors' dtype (the default dtype when all are numbers);
    integer tensors are cast to it. Gradients flow back through the broadcast to the
    caller's tensors.
    """
    names = names or [f"argument {i}" for i in range(len(values))]
    dtype = None
    for v, n in zip(values, names):
        if isinstance(v, Tensor):
            if v.dtype.kind == "f":
                dtype = v.dtype if dtype is None else lamina.backend.promote_types(dtype,
                                                                                  v.dtype)
        elif isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise LaminaTypeError(f"{who}: {n} must be a Tensor or a real number, got "
                                  f"{type(v).__name__}")
    dtype = dtype or get_default_dtype()
    ts = [v.to(dtype) if isinstance(v, Tensor) and v.dtype != dtype else
          (v if isinstance(v, Tensor) else lamina.tensor(float(v), dtype=dtype))
          for v in values]
    try:
        shape = np.broadcast_shapes(*(t.shape for t in ts))
    except ValueError:
        raise LaminaValueError(f"{who}: the shapes of " + ", ".join(
            f"{n} {tuple(t.shape)}" for n, t in zip(names, ts)) + " do not broadcast") from None
    return tuple(t if t.shape == shape else lamina.broadcast_to(t, shape) for t in ts)


class Distribution:
    """Base class: subclasses set ``arg_constraints``, ``support`` and implement the rest.

    Args:
        batch_shape: the shape over which parameters are batched.
        event_shape: the shape of a single sample.
        validate_args: check the parameters (here) and values (in ``log_prob``/``cdf``)
            against ``arg_constraints`` and ``support``; ``None`` takes the class default
            (on, as in PyTorch; ``Distribution.set_default_validate_args(False)`` turns it
            off).
    """

    has_rsample = False
    has_enumerate_support = False
    arg_constraints: dict = {}
    support = None
    _validate_default = True

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        if value not in (True, False):
            raise LaminaValueError("Distribution.set_default_validate_args: expected True or "
                                   "False, "
                                   f"got {value!r}")
        Distribution._validate_default = value

    def __init__(self, batch_shape=(), event_shape=(), validate_args: bool | None = None):
        name = type(self).__name__
        self._batch_shape = _shape(batch_shape, f"{name}: batch_shape")
        self._event_shape = _shape(event_shape, f"{name}: event_shape")
        if validate_args is not None and validate_args not in (True, False):
            raise LaminaTypeError(f"{name}: validate_args must be a bool or None, got "
                                  f"{validate_args!r}")
        self._validate_args = (Distribution._validate_default if validate_args is None
                               else validate_args)
        if self._validate_args:
            for param, constraint in self.arg_constraints.items():
                if constraints.dependent is constraint or param not in self.__dict__:
                    continue                 # lazy (probs vs logits) or checked elsewhere
                value = self.__dict__[param]
                ok = constraint.check(value)
                if not np.all(ok):
                    raise LaminaValueError(
                        f"{name}: expected parameter {param} (shape {tuple(value.shape)}) to "
                        f"satisfy the constraint {constraint!r}, but found invalid values: "
                        f"{_describe_bad(value, ok)}")

    # --- shapes -----------------------------------------------------------------------
    @property
    def batch_shape(self) -> tuple:
        return self._batch_shape

    @property
    def event_shape(self) -> tuple:
        return self._event_shape

    def _extended_shape(self, sample_shape=()) -> tuple:
        return (_shape(sample_shape, f"{type(self).__name__}.sample: sample_shape")
                + self._batch_shape + self._event_shape)

    def expand(self, batch_shape, _instance=None):
        """The same distribution with parameters broadcast to ``batch_shape`` (no copy)."""
        name = type(self).__name__
        batch_shape = _shape(batch_shape, f"{name}.expand: batch_shape")
        try:
            ok = np.broadcast_shapes(self._batch_shape, batch_shape) == batch_shape
        except ValueError:
            ok = False
        if not ok:
            raise LaminaValueError(f"{name}.expand: cannot expand batch_shape {self._batch_shape} "
                                   f"to "
                                   f"{batch_shape}")
        params = {}
        for pname, ev in self._expand_params().items():
            v = getattr(self, pname)
            params[pname] = lamina.broadcast_to(v, batch_shape + tuple(v.shape[v.ndim - ev:])
                                                if ev else batch_shape)
        return type(self)(**params, **self._expand_extra(), validate_args=False)

    def _expand_params(self) -> dict:
        """``{parameter name: its number of event dims}`` used by ``expand``."""
        raise NotImplementedError(f"{type(self).__name__}.expand is not implemented")

    def _expand_extra(self) -> dict:
        return {}

    # --- statistics -------------------------------------------------------------------
    @property
    def mean(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.mean is not implemented")

    @property
    def mode(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.mode is not implemented")

    @property
    def variance(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.variance is not implemented")

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    def entropy(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.entropy is not implemented")

    def log_prob(self, value) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.log_prob is not implemented")

    def cdf(self, value) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.cdf is not implemented")

    def icdf(self, value) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.icdf is not implemented")

    def perplexity(self) -> Tensor:
        return self.entropy().exp()

    # --- sampling ---------------------------------------------------------------------
    def sample(self, sample_shape=(), generator: Generator | None = None) -> Tensor:
        """A draw of shape ``sample_shape + batch_shape + event_shape``, without gradient."""
        with lamina.no_grad():
            return self.rsample(sample_shape, generator=generator).detach()

    def rsample(self, sample_shape=(), generator: Generator | None = None) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.rsample: this distribution is not "
                                  "reparametrizable (has_rsample is False); use sample()")

    def sample_n(self, n: int, generator: Generator | None = None) -> Tensor:
        return self.sample((n,), generator=generator)

    @staticmethod
    def _rng(generator, who):
        if generator is not None and not isinstance(generator, Generator):
            raise LaminaTypeError(f"{who}: generator must be a lamina.Generator, got "
                                  f"{type(generator).__name__}")
        return rng(generator)

    # --- validation -------------------------------------------------------------------
    def _value(self, value, who: str, dtype=None) -> Tensor:
        """``value`` as a tensor (numbers allowed), checked against the support."""
        name = f"{type(self).__name__}.{who}"
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            value = lamina.tensor(float(value), dtype=dtype or self._dtype())
        elif not isinstance(value, Tensor):
            raise LaminaTypeError(f"{name}: value must be a Tensor, got {type(value).__name__}")
        n_event = len(self._event_shape)
        vshape = tuple(value.shape)
        if len(vshape) < n_event or vshape[len(vshape) - n_event:] != self._event_shape:
            raise LaminaValueError(f"{name}: value of shape {vshape} does not end in the event "
                                   f"shape {self._event_shape}")
        try:
            np.broadcast_shapes(vshape, self._batch_shape + self._event_shape)
        except ValueError:
            raise LaminaValueError(f"{name}: value of shape {vshape} does not broadcast with "
                                   f"batch_shape + event_shape "
                                   f"{self._batch_shape + self._event_shape}") from None
        if self._validate_args and self.support is not None and who != "icdf":
            ok = self.support.check(value)
            if not np.all(ok):
                raise LaminaValueError(f"{name}: expected value to lie in the support "
                                       f"{self.support!r}, but found invalid values: "
                                       f"{_describe_bad(value, ok)}")
        return value

    def _dtype(self):
        return get_default_dtype()

    def __repr__(self) -> str:
        parts = []
        for p in self.arg_constraints:
            if p in self.__dict__:
                v = self.__dict__[p]
                parts.append(f"{p}: {v.item() if v.numel() == 1 else tuple(v.shape)}")
        return f"{type(self).__name__}({', '.join(parts)})"


def _describe_bad(value, ok) -> str:
    a = np.asarray(getattr(value, "data", value))
    bad = ~np.broadcast_to(np.asarray(ok), a.shape[:np.ndim(ok)])
    vals = a[bad] if bad.shape == a.shape else a
    vals = np.asarray(vals).ravel()[:5]
    return np.array2string(vals, precision=4, separator=", ")
