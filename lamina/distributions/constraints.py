"""Constraints: where a parameter or a value may lie (``torch.distributions.constraints``).

Each constraint's ``check(value)`` returns a boolean NumPy array with one entry per event
(the last ``event_dim`` dims are reduced). Distributions use them in ``arg_constraints`` (their
parameters) and ``support`` (their values) when ``validate_args`` is on.
"""

from __future__ import annotations

import numpy as np

from lamina.errors import LaminaValueError

__all__ = ["Constraint", "real", "real_vector", "positive", "nonnegative", "unit_interval",
           "boolean", "simplex", "one_hot", "nonnegative_integer", "greater_than",
           "interval", "half_open_interval", "integer_interval", "positive_definite",
           "lower_cholesky", "independent", "dependent"]


def _arr(value):
    return np.asarray(getattr(value, "data", value))


class Constraint:
    """A region: ``check(value)`` says, per event, whether ``value`` lies in it."""

    is_discrete = False
    event_dim = 0

    def check(self, value) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return type(self).__name__.lstrip("_") + "()"


class _Dependent(Constraint):
    """A support that depends on other parameters (checked by the distribution itself)."""

    def check(self, value):
        raise LaminaValueError("dependent: this constraint cannot be checked on its own")


class _Real(Constraint):
    def check(self, value):
        v = _arr(value)
        return v == v                     # not nan


class _IndependentConstraint(Constraint):
    def __init__(self, base: Constraint, reinterpreted_batch_ndims: int):
        self.base = base
        self.reinterpreted_batch_ndims = reinterpreted_batch_ndims
        self.event_dim = base.event_dim + reinterpreted_batch_ndims
        self.is_discrete = base.is_discrete

    def check(self, value):
        ok = self.base.check(value)
        n = self.reinterpreted_batch_ndims
        return ok.reshape(ok.shape[:ok.ndim - n] + (-1,)).all(-1) if n else ok

    def __repr__(self):
        return f"Independent({self.base!r}, {self.reinterpreted_batch_ndims})"


class _GreaterThan(Constraint):
    def __init__(self, lower_bound, strict: bool = True):
        self.lower_bound = lower_bound
        self.strict = strict

    def check(self, value):
        v, lb = _arr(value), _arr(self.lower_bound)
        return v > lb if self.strict else v >= lb

    def __repr__(self):
        op = "GreaterThan" if self.strict else "GreaterThanEq"
        return f"{op}(lower_bound={_short(self.lower_bound)})"


class _Interval(Constraint):
    def __init__(self, lower_bound, upper_bound, closed_upper: bool = True):
        self.lower_bound, self.upper_bound = lower_bound, upper_bound
        self.closed_upper = closed_upper

    def check(self, value):
        v = _arr(value)
        hi = _arr(self.upper_bound)
        return (v >= _arr(self.lower_bound)) & ((v <= hi) if self.closed_upper else (v < hi))

    def __repr__(self):
        kind = "Interval" if self.closed_upper else "HalfOpenInterval"
        return (f"{kind}(lower_bound={_short(self.lower_bound)}, "
                f"upper_bound={_short(self.upper_bound)})")


class _IntegerInterval(Constraint):
    is_discrete = True

    def __init__(self, lower_bound, upper_bound):
        self.lower_bound, self.upper_bound = lower_bound, upper_bound

    def check(self, value):
        v = _arr(value)
        return (v % 1 == 0) & (v >= _arr(self.lower_bound)) & (v <= _arr(self.upper_bound))

    def __repr__(self):
        return (f"IntegerInterval(lower_bound={_short(self.lower_bound)}, "
                f"upper_bound={_short(self.upper_bound)})")


class _NonnegativeInteger(Constraint):
    is_discrete = True

    def check(self, value):
        v = _arr(value)
        return (v % 1 == 0) & (v >= 0)


class _Boolean(Constraint):
    is_discrete = True

    def check(self, value):
        v = _arr(value)
        return (v == 0) | (v == 1)


class _Simplex(Constraint):
    event_dim = 1

    def check(self, value):
        v = _arr(value)
        return (v >= 0).all(-1) & (np.abs(v.sum(-1) - 1) < 1e-6)


class _OneHot(Constraint):
    is_discrete = True
    event_dim = 1

    def check(self, value):
        v = _arr(value)
        return ((v == 0) | (v == 1)).all(-1) & (v.sum(-1) == 1)


class _RealVector(Constraint):
    event_dim = 1

    def check(self, value):
        v = _arr(value)
        return (v == v).all(-1)


class _PositiveDefinite(Constraint):
    event_dim = 2

    def check(self, value):
        v = _arr(value)
        sym = np.allclose(v, np.swapaxes(v, -1, -2), atol=1e-6)
        if not sym:
            return np.zeros(v.shape[:-2], dtype=bool)
        return np.linalg.eigvalsh(v).min(-1) > 0


class _LowerCholesky(Constraint):
    event_dim = 2

    def check(self, value):
        v = _arr(value)
        lower = (np.triu(v, 1) == 0).all((-2, -1))
        return lower & (np.einsum("...ii->...i", v) > 0).all(-1)


def _short(x):
    a = _arr(x)
    return repr(a.item()) if a.size == 1 else f"<array of shape {a.shape}>"


dependent = _Dependent()
real = _Real()
real_vector = _RealVector()
positive = _GreaterThan(0.0)
nonnegative = _GreaterThan(0.0, strict=False)
unit_interval = _Interval(0.0, 1.0)
boolean = _Boolean()
simplex = _Simplex()
one_hot = _OneHot()
nonnegative_integer = _NonnegativeInteger()
positive_definite = _PositiveDefinite()
lower_cholesky = _LowerCholesky()
greater_than = _GreaterThan
interval = _Interval
integer_interval = _IntegerInterval
independent = _IndependentConstraint


def half_open_interval(lower_bound, upper_bound) -> Constraint:
    """``[lower_bound, upper_bound)``."""
    return _Interval(lower_bound, upper_bound, closed_upper=False)
