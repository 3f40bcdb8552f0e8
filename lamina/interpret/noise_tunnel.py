"""``NoiseTunnel``: average an attribution over noisy copies of the input (Captum's
semantics): SmoothGrad (Smilkov et al., 2017), its square, and VarGrad (Adebayo et al.,
2018).

For ``S = nt_samples`` draws ``x_s = x + N(0, stdev^2)`` (``stdev`` absolute, per input)::

    smoothgrad    = 1/S sum_s A(x_s)
    smoothgrad_sq = 1/S sum_s A(x_s)^2
    vargrad       = smoothgrad_sq - smoothgrad^2
"""

from __future__ import annotations

import numbers

import numpy as np

from lamina.backend import Generator, rng
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.interpret._common import (
    expand_args,
    expand_target,
    format_inputs,
    format_output,
    per_input,
)
from lamina.tensor import Tensor, _make

__all__ = ["NoiseTunnel"]

_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")


class NoiseTunnel:
    """Wrap an attribution method (``Saliency(model)``, ``IntegratedGradients(model)``, ...).

    The noise comes from lamina's global generator (``lamina.manual_seed``) or the
    ``generator`` given to ``attribute``. Draw order, as Captum's: per batch of noise
    samples, one ``normal(0, stdev, (N * samples, ...))`` draw per input, where each
    example's samples are consecutive rows.

    >>> nt = NoiseTunnel(Saliency(model))
    >>> nt.attribute(x, nt_type="smoothgrad", nt_samples=25, stdevs=0.15, target=3)
    """

    def __init__(self, attribution_method):
        if not hasattr(attribution_method, "attribute"):
            raise LaminaTypeError(f"NoiseTunnel: expected an attribution method (with .attribute), "
                                  f"got {type(attribution_method).__name__}")
        self.attribution_method = attribution_method

    def attribute(self, inputs, nt_type: str = "smoothgrad", nt_samples: int = 5,
                  nt_samples_batch_size: int | None = None, stdevs=1.0,
                  draw_baseline_from_distrib: bool = False,
                  generator: Generator | None = None, **kwargs):
        """Args:
            inputs: a tensor or a tuple of tensors.
            nt_type: ``"smoothgrad"``, ``"smoothgrad_sq"`` or ``"vargrad"``.
            nt_samples: the number of noisy copies per example.
            nt_samples_batch_size: at most this many copies per example in one call of the
                wrapped method (memory; it changes which numbers are drawn when).
            stdevs: the noise's standard deviation, or a tuple of one per input.
            generator: a ``lamina.Generator`` for the noise (default: the global one).
            **kwargs: passed to the wrapped method's ``attribute`` (``target``,
                ``baselines``, ``additional_forward_args``, ``return_convergence_delta``,
                ...); per-example tensors among them are repeated to match the copies.
        Returns:
            The smoothed attributions (and, with ``return_convergence_delta``, the deltas of
            every noisy copy, ``(N * nt_samples,)``).
        """
        op = "NoiseTunnel.attribute"
        if nt_type not in _TYPES:
            raise LaminaValueError(f"{op}: nt_type must be one of {', '.join(_TYPES)}, got "
                                   f"{nt_type!r}")
        if not isinstance(nt_samples, int) or nt_samples < 1:
            raise LaminaValueError(f"{op}: nt_samples must be a positive int, got {nt_samples!r}")
        if draw_baseline_from_distrib:
            raise NotImplementedError(f"{op}: draw_baseline_from_distrib=True is not "
                                      "supported")
        arrays, is_tuple = format_inputs(inputs, op)
        sds = per_input(stdevs, len(arrays), is_tuple, "stdevs", op)
        for s in sds:
            if not isinstance(s, numbers.Real) or s < 0:
                raise LaminaValueError(f"{op}: stdevs must be non-negative numbers, got {stdevs!r}")
        batch = nt_samples if nt_samples_batch_size is None else min(nt_samples,
                                                                      nt_samples_batch_size)
        parts = [batch] * (nt_samples // batch)
        if nt_samples % batch:
            parts.append(nt_samples % batch)
        n = arrays[0].shape[0]
        r = rng(generator)
        want_delta = bool(kwargs.get("return_convergence_delta", False))
        total = [np.zeros_like(a) for a in arrays]
        total_sq = [np.zeros_like(a) for a in arrays]
        deltas = []
        for reps in parts:
            noisy = [np.repeat(a, reps, axis=0) + r.normal(0.0, s, (n * reps,) + a.shape[1:])
                     for a, s in zip(arrays, sds)]
            noisy = [x.astype(a.dtype, copy=False) for x, a in zip(noisy, arrays)]
            kw = self._expand_kwargs(kwargs, n, reps)
            res = self.attribution_method.attribute(
                tuple(_make(x) for x in noisy) if is_tuple else _make(noisy[0]), **kw)
            if want_delta:
                res, delta = res
                deltas.append(delta._data)
            res = res if isinstance(res, tuple) else (res,)
            for i, a in enumerate(res):
                a = a._data.reshape((n, reps) + a.shape[1:])
                total[i] += a.sum(axis=1)
                total_sq[i] += (a * a).sum(axis=1)
        mean = [t / nt_samples for t in total]
        mean_sq = [t / nt_samples for t in total_sq]
        if nt_type == "smoothgrad":
            out = mean
        elif nt_type == "smoothgrad_sq":
            out = mean_sq
        else:
            out = [q - m * m for m, q in zip(mean, mean_sq)]
        out = format_output(out, is_tuple)
        return (out, _make(np.concatenate(deltas))) if want_delta else out

    @staticmethod
    def _expand_kwargs(kwargs: dict, n: int, reps: int) -> dict:
        kw = dict(kwargs)
        if "target" in kw:
            kw["target"] = expand_target(kw["target"], n, reps, True)
        if "additional_forward_args" in kw and kw["additional_forward_args"] is not None:
            a = kw["additional_forward_args"]
            expanded = expand_args(a if isinstance(a, tuple) else (a,), n, reps, True)
            kw["additional_forward_args"] = expanded if isinstance(a, tuple) else expanded[0]
        if "baselines" in kw and kw["baselines"] is not None:
            b = kw["baselines"]
            items = b if isinstance(b, tuple) else (b,)
            items = tuple(_make(np.repeat(v._data if isinstance(v, Tensor) else v, reps, axis=0))
                          if isinstance(v, (Tensor, np.ndarray)) and v.ndim > 0
                          and v.shape[0] == n and n > 1 else v for v in items)
            kw["baselines"] = items if isinstance(b, tuple) else items[0]
        return kw
