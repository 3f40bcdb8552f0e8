"""Resizing: ``interpolate`` (PyTorch's ``F.interpolate``) for 3-, 4- and 5-D inputs with
modes ``nearest``, ``nearest-exact``, ``linear``, ``bilinear``, ``bicubic``, ``trilinear`` and
``area``.

Every mode but ``area`` is separable: each spatial axis is resampled on its own, output
position ``i`` being a weighted sum of a few input positions (its *taps*):

- ``nearest``: one tap, ``min(floor(i * scale), n - 1)`` computed in float32 (PyTorch's
  legacy rule, which is not the pixel-centre one); for 4-D inputs an axis whose size stays
  or doubles is copied or halved (``i`` or ``i // 2``) whatever the scale factor, as
  PyTorch's 2-D kernel does. PyTorch's 1-D and 3-D *backward* kernels take those shortcuts
  too while their forwards do not, so there (e.g. a size 3 axis scaled by 2.3 to 6) their
  gradient is not the adjoint of their output; lamina's is;
- ``nearest-exact``: one tap, ``min(floor((i + 0.5) * scale), n - 1)``;
- ``linear`` (and each axis of ``bilinear`` / ``trilinear``): two taps around the source
  position ``scale * (i + 0.5) - 0.5`` (clamped at 0), or ``i * (n - 1) / (out - 1)`` with
  ``align_corners``; an axis whose size does not change reads position ``i`` with weights
  ``(1, 0)``, as PyTorch does (so an inf there gives ``inf + 0 * inf = NaN`` as in PyTorch);
- ``bicubic``: four taps ``floor(src) - 1 .. floor(src) + 2`` with Keys' cubic
  convolution weights (``A = -0.75``), taps beyond the border clamped to it (PyTorch's
  bounded access), the source position not clamped. (PyTorch's bicubic backward copies an
  axis whose size is unchanged even when a scale factor moved the taps in forward; lamina's
  gradient is the adjoint of the forward there too.)

``scale`` is ``1 / scale_factor`` when a scale factor is given (and not recomputed),
otherwise ``in / out``; the arithmetic is done in the input's dtype, as PyTorch's CPU kernels
do. The forward gathers the taps (so a NaN only reaches the outputs that read it); the
backward is the transposed resampling matrix of each axis, one product per axis.
``area`` is adaptive average pooling to the output size.
"""

from __future__ import annotations

import math

import numpy as np

from lamina.autograd.function import Function
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor

__all__ = ["interpolate"]

_MODES = {"nearest": (1, 2, 3), "nearest-exact": (1, 2, 3), "area": (1, 2, 3),
          "linear": (1,), "bilinear": (2,), "bicubic": (2,), "trilinear": (3,)}
_CUBIC_A = -0.75


# --- one axis --------------------------------------------------------------------------------

def _scale(n_in, n_out, align_corners, scale_factor, dt):
    """PyTorch's ``area_pixel_compute_scale`` in dtype ``dt``."""
    if align_corners:
        return dt(n_in - 1) / dt(n_out - 1) if n_out > 1 else dt(0)
    if scale_factor is not None and scale_factor > 0:
        return dt(1.0 / scale_factor)
    return dt(n_in) / dt(n_out)


def _centre_source(scale, dst, dt):
    """``scale * (dst + 0.5) - 0.5`` rounded once to ``dt``: PyTorch's CPU kernels are built
    for FMA machines, where the compiler fuses this into one multiply-add; a wider type
    stands in for the fused operation (exact for float32), so a source that lands just off
    an integer (weight 0 or not, which decides whether an inf next to it gives NaN) lands
    as in PyTorch."""
    wide = np.float64 if dt == np.float32 else np.longdouble
    return (wide(scale) * (dst + dt(0.5)).astype(wide) - wide(0.5)).astype(dt)


def _nearest_taps(n_in, n_out, scale_factor, exact, shortcut):
    if shortcut and n_out in (n_in, 2 * n_in):     # PyTorch's 2-D kernel: copy or halve
        return [(np.arange(n_out) * n_in // n_out, None)]
    scale = _scale(n_in, n_out, False, scale_factor, np.float32)   # always float32
    dst = np.arange(n_out, dtype=np.float32)
    if exact:
        dst = dst + np.float32(0.5)
    src = np.floor(dst * scale).astype(np.int64)
    return [(np.minimum(src, n_in - 1), None)]


def _linear_taps(n_in, n_out, scale_factor, align_corners, dt):
    if n_in == n_out:           # PyTorch: an unchanged axis reads i with weights (1, 0)
        i = np.arange(n_out)
        return [(i, np.ones(n_out, dt)), (i, np.zeros(n_out, dt))]
    scale = _scale(n_in, n_out, align_corners, scale_factor, dt)
    dst = np.arange(n_out, dtype=dt)
    if align_corners:
        src = scale * dst
    else:
        src = np.maximum(_centre_source(scale, dst, dt), dt(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    lam = np.clip(src - i0.astype(dt), dt(0), dt(1))
    i1 = i0 + (i0 < n_in - 1)
    return [(i0, dt(1) - lam), (i1, lam)]


def _cubic_taps(n_in, n_out, scale_factor, align_corners, dt):
    scale = _scale(n_in, n_out, align_corners, scale_factor, dt)
    dst = np.arange(n_out, dtype=dt)
    src = scale * dst if align_corners else _centre_source(scale, dst, dt)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    t = np.clip(src - i0.astype(dt), dt(0), dt(1))
    a = dt(_CUBIC_A)

    def near(x):            # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):             # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    weights = [far(t + 1), near(t), near(1 - t), far(2 - t)]
    return [(np.clip(i0 - 1 + j, 0, n_in - 1), w) for j, w in enumerate(weights)]


def _matrix(taps, n_in, dt):
    """The (out, in) resampling matrix of one axis's taps (for the backward)."""
    n_out = len(taps[0][0])
    m = np.zeros((n_out, n_in), dt)
    rows = np.arange(n_out)
    for idx, w in taps:
        np.add.at(m, (rows, idx), 1 if w is None else w)
    return m


class ResampleFn(Function):
    """Resample the last ``len(axes)`` dims, each by its taps ``[(index, weight), ...]``
    (weight None: a plain gather); backward multiplies by each axis's transposed matrix."""

    @staticmethod
    def forward(ctx, x, axes):
        nd = len(axes)
        y = x
        for a, taps in enumerate(axes):
            ax = x.ndim - nd + a
            bshape = (-1,) + (1,) * (nd - 1 - a)      # a weight per position along ax
            acc = None
            for idx, w in taps:
                v = np.take(y, idx, axis=ax)
                if w is not None:
                    v *= w.reshape(bshape)
                acc = v if acc is None else acc + v
            y = acc
        ctx.sizes = x.shape[x.ndim - nd:]
        return y

    @staticmethod
    def backward(ctx, g):
        axes = ctx.inputs[1]
        nd = len(axes)
        for a, (taps, n_in) in enumerate(zip(axes, ctx.sizes)):
            ax = g.ndim - nd + a
            m = _matrix(taps, n_in, g.dtype)
            g = np.moveaxis(np.moveaxis(g, ax, -1) @ m, -1, ax)
        return g, None


# --- argument handling -----------------------------------------------------------------------

def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _output_sizes(x, nd, size, scale_factor, recompute_scale_factor, op):
    """(output sizes, scale factors passed on to the kernels or None per axis)."""
    spatial = tuple(x.shape[2:])
    if size is not None and scale_factor is not None:
        raise LaminaValueError(f"{op}: only one of size or scale_factor should be defined")
    if size is not None:
        if recompute_scale_factor:
            raise LaminaValueError(f"{op}: recompute_scale_factor is not meaningful with an "
                                   "explicit size")
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * nd
        if len(sizes) != nd:
            raise LaminaValueError(f"{op}: input and output must have the same number of "
                                   f"spatial dimensions, but got input with spatial dims "
                                   f"{list(spatial)} and output size {size}")
        if not all(_is_int(s) for s in sizes):
            raise LaminaTypeError(f"{op}: expected size to be one of int or a sequence of "
                                  f"ints, got {size!r}")
        return tuple(int(s) for s in sizes), [None] * nd
    if scale_factor is None:
        raise LaminaValueError(f"{op}: either size or scale_factor should be defined")
    factors = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else \
        (scale_factor,) * nd
    if len(factors) != nd:
        raise LaminaValueError(f"{op}: input and scale_factor must have the same number of "
                               f"spatial dimensions, but got input with spatial dims "
                               f"{list(spatial)} and scale_factor {scale_factor}")
    if not all(isinstance(f, (int, float, np.integer, np.floating)) and not isinstance(f, bool)
               for f in factors):
        raise LaminaTypeError(f"{op}: scale_factor must be a float or a sequence of floats, "
                              f"got {scale_factor!r}")
    sizes = tuple(math.floor(n * float(f)) for n, f in zip(spatial, factors))
    if recompute_scale_factor:
        return sizes, [None] * nd
    return sizes, [float(f) for f in factors]


def interpolate(input, size=None, scale_factor=None, mode: str = "nearest",
                align_corners=None, recompute_scale_factor=None,
                antialias: bool = False) -> Tensor:
    """Resize the spatial dims of an ``(N, C, L)``, ``(N, C, H, W)`` or ``(N, C, D, H, W)``
    input to ``size`` or by ``scale_factor`` (the output size is ``floor(in * factor)``).

    Modes: ``'nearest'``, ``'nearest-exact'`` and ``'area'`` for 3-, 4- and 5-D inputs,
    ``'linear'`` (3-D), ``'bilinear'`` and ``'bicubic'`` (4-D), ``'trilinear'`` (5-D); the
    interpolating modes take ``align_corners`` (default False). With a ``scale_factor`` the
    source positions use ``1 / scale_factor`` unless ``recompute_scale_factor`` asks for
    ``in / out``, as in PyTorch. ``antialias=True`` is not implemented in lamina.

    >>> interpolate(lamina.randn(1, 3, 4, 4), scale_factor=2, mode="bicubic").shape
    (1, 3, 8, 8)
    """
    op = "interpolate"
    if not isinstance(input, Tensor):
        raise LaminaTypeError(f"{op}: expected a Tensor, got {type(input).__name__}")
    if mode not in _MODES:
        raise LaminaValueError(f"{op}: unknown mode {mode!r}, expected one of "
                               f"{', '.join(_MODES)}")
    nd = input.ndim - 2
    if nd not in (1, 2, 3):
        raise LaminaValueError(f"{op}: only 3-D, 4-D and 5-D inputs are supported, got "
                               f"{input.ndim}-D input (mode {mode!r})")
    if nd not in _MODES[mode]:
        want = {1: "3-D", 2: "4-D", 3: "5-D"}[_MODES[mode][0]]
        raise LaminaValueError(f"{op}: got {input.ndim}-D input, but {mode} mode needs {want} "
                               "input")
    if mode in ("nearest", "nearest-exact", "area"):
        if align_corners is not None:
            raise LaminaValueError(f"{op}: align_corners option can only be set with the "
                                   "interpolating modes: linear | bilinear | bicubic | "
                                   "trilinear")
    if antialias:
        if mode not in ("bilinear", "bicubic"):
            raise LaminaValueError(f"{op}: anti-alias option is restricted to bilinear and "
                                   "bicubic modes and requires a 4-D tensor as input")
        raise NotImplementedError(f"{op}: antialias=True is not implemented in lamina")
    out, factors = _output_sizes(input, nd, size, scale_factor, recompute_scale_factor, op)
    if input._data.dtype.kind != "f":
        raise LaminaValueError(f"{op}: expected a floating input, got {input.dtype}")
    spatial = tuple(input.shape[2:])
    if min(spatial) < 1 or min(out) < 1:
        raise LaminaValueError(f"{op}: input and output sizes should be greater than 0, but "
                               f"got input {spatial} and output {out}")
    if input.shape[1] == 0:
        raise LaminaValueError(f"{op}: expected a non-empty channel dim, got shape "
                               f"{tuple(input.shape)}")
    if mode == "area":
        from lamina.ops import pool, pool3d  # noqa: PLC0415  (pool re-exports interpolate)

        fn = {1: pool.adaptive_avg_pool1d, 2: pool.adaptive_avg_pool2d,
              3: pool3d.adaptive_avg_pool3d}[nd]
        return fn(input, out)
    dt = input._data.dtype.type
    ac = bool(align_corners)
    axes = []
    for n_in, n_out, f in zip(spatial, out, factors):
        if mode in ("nearest", "nearest-exact"):
            axes.append(_nearest_taps(n_in, n_out, f, mode == "nearest-exact",
                                      mode == "nearest" and nd == 2))
        elif mode == "bicubic":
            axes.append(_cubic_taps(n_in, n_out, f, ac, dt))
        else:
            axes.append(_linear_taps(n_in, n_out, f, ac, dt))
    return ResampleFn.apply(input, tuple(axes))
