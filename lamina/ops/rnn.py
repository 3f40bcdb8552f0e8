"""Recurrent layers as single ops: a whole RNN (tanh/relu), LSTM or GRU layer over a
sequence, one or both directions, is ONE autograd node with a hand-written backward through
time.

PyTorch's formulas and gate order::

    RNN:  h' = act(W_ih x + b_ih + W_hh h + b_hh)
    LSTM: i, f, g, o = split(W_ih x + b_ih + W_hh h + b_hh)     (sigma, sigma, tanh, sigma)
          c' = f * c + i * g;   h' = o * tanh(c')
    GRU:  r, z = sigma(W_i{r,z} x + b_i{r,z} + W_h{r,z} h + b_h{r,z})
          n = tanh(W_in x + b_in + r * (W_hn h + b_hn));   h' = (1 - z) * n + z * h

How: the input projections of all time steps are one GEMM ``(T*B, I) @ W_ih.T``; the loop
over time does one small GEMM and a handful of in-place ufuncs per step into preallocated
buffers (``out=``). Inside the op the LSTM gates are reordered (i, f, o, g) so the three
sigmoid gates are one contiguous slice, and every sigmoid row of the weights is pre-scaled by
1/2 so one ``tanh`` over the whole gate block gives both kinds (``sigmoid(x) = (1 +
tanh(x/2)) / 2``). Backward runs the recurrence in reverse, storing the gate gradients of all
steps, then forms the weight gradients and the input gradient as large GEMMs after the loop.
With numba installed (optional) each LSTM step's element-wise work between its GEMMs is one
compiled call (see ``_lstm_kernels``), bit-identical to the NumPy path.
"""

from __future__ import annotations

import os

import numpy as np

from lamina.autograd.function import Function
from lamina.ops.conv import _buffer
from lamina.tensor import Tensor

__all__ = ["rnn_layer"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _lstm_perm(h):
    """Row order of the internal gate block (i, f, o, g) in PyTorch's (i, f, g, o)."""
    r = np.arange(h)
    return np.concatenate([r, r + h, r + 3 * h, r + 2 * h])


def _scale(mode, h, dtype):
    """Per-row factor on the pre-activations: 1/2 on sigmoid gates (tanh trick)."""
    if mode == "LSTM":
        return np.concatenate([np.full(3 * h, 0.5), np.ones(h)]).astype(dtype)
    if mode == "GRU":
        return np.concatenate([np.full(2 * h, 0.5), np.ones(h)]).astype(dtype)
    return None


# --- optional compiled LSTM gate kernels -----------------------------------------------------
# With numba installed (an optional extra, never required), the element-wise work of one LSTM
# time step between two GEMMs runs as one compiled loop instead of a chain of small ufunc
# calls: the backward step (17 ufuncs) becomes one call, the forward step 10 -> 5. The
# kernels do exactly the NumPy fallback's operations in the same order and precision (the
# constants are passed in the array dtype, no fast-math), so both paths give the same bits;
# tests/ops/test_speed_paths.py checks that. The transcendental functions stay in NumPy
# (its SIMD tanh is several times faster than numba's scalar one on these machines).
# LAMINA_NUMBA=0 turns the kernels off.

_USE_NUMBA = os.environ.get("LAMINA_NUMBA", "1") != "0"
_KERNELS: list = []


def _lstm_kernels(dtype):
    """``(forward_gates, backward_step)`` compiled with numba, or None (no numba, turned off,
    or a dtype other than float32/float64)."""
    if not _USE_NUMBA or np.dtype(dtype) not in (np.float32, np.float64):
        return None
    if _KERNELS:
        return _KERNELS[0]
    try:
        return _build_lstm_kernels()
    except Exception:     # no usable numba (e.g. nowhere to cache): NumPy it is
        _KERNELS.append(None)
        return None


def _build_lstm_kernels():
    """Compile the kernels (called once, by the function above)."""
    try:
        import numba
    except ImportError:
        _KERNELS.append(None)
        return None

    # row views and plain 1-D loops: numba then vectorizes them (2-D indexing with offsets
    # ran 2.8x slower, 19.5 vs 7.0 us per backward step at 32x128, float32)
    @numba.njit(cache=True, nogil=True)
    def forward_gates(a, cp, c, hid, half):
        # a holds tanh of the (i, f, o at half scale, g) pre-activations
        for b in range(a.shape[0]):
            s = a[b, :3 * hid]
            for j in range(3 * hid):
                s[j] = s[j] * half + half
            ai, af, ag = a[b, :hid], a[b, hid:2 * hid], a[b, 3 * hid:]
            cpr, cr = cp[b], c[b]
            for j in range(hid):
                cr[j] = af[j] * cpr[j] + ai[j] * ag[j]

    @numba.njit(cache=True, nogil=True)
    def backward_step(a, tc, cp, dh, dc, d, dy, has_dy, hid, one):
        if has_dy:
            for b in range(a.shape[0]):
                dhr, dyr = dh[b], dy[b]
                for j in range(hid):
                    dhr[j] = dhr[j] + dyr[j]
        for b in range(a.shape[0]):
            ai, af = a[b, :hid], a[b, hid:2 * hid]
            ao, ag = a[b, 2 * hid:3 * hid], a[b, 3 * hid:]
            di, df = d[b, :hid], d[b, hid:2 * hid]
            do, dg = d[b, 2 * hid:3 * hid], d[b, 3 * hid:]
            tcr, cpr, dhr, dcr = tc[b], cp[b], dh[b], dc[b]
            for j in range(hid):
                i, f, o, g = ai[j], af[j], ao[j], ag[j]
                t, h = tcr[j], dhr[j]
                x = dcr[j] + (one - t * t) * o * h
                di[j] = x * g * ((one - i) * i)
                df[j] = x * cpr[j] * ((one - f) * f)
                do[j] = h * t * ((one - o) * o)
                dg[j] = x * ((one - g * g) * i)
                dcr[j] = x * f

    _KERNELS.append((forward_gates, backward_step))
    return _KERNELS[0]


# --- one direction, forward ------------------------------------------------------------------

def _dir_forward(mode, x2, t_len, bsz, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse):
    """Run one direction. Returns (y (T,B,H) view, h_T, c_T or None, saved state dict)."""
    hid = w_hh.shape[1]
    dt = x2.dtype
    if mode == "LSTM":
        perm = _lstm_perm(hid)
        w_ih, w_hh = w_ih[perm], w_hh[perm]
        b_ih = None if b_ih is None else b_ih[perm]
        b_hh = None if b_hh is None else b_hh[perm]
    scale = _scale(mode, hid, dt)
    # input projections of every step: one GEMM; biases folded in (b_hh too, except GRU's n)
    w_in = w_ih if scale is None else w_ih * scale[:, None]
    xp = np.matmul(x2, w_in.T, out=_buffer((x2.shape[0], w_in.shape[0]), np.dtype(dt)))
    bias = None
    if b_ih is not None:
        bias = b_ih.copy()
        if mode != "GRU":
            bias += b_hh
        else:
            bias[:2 * hid] += b_hh[:2 * hid]
        if scale is not None:
            bias *= scale
        xp += bias
    act = xp.reshape(t_len, bsz, -1)
    # a contiguous (H, G*H) copy: the per-step GEMM runs ~1.5x faster than on a transposed
    # view (116 vs 184 us for 32x128 @ 128x512 float32 on OpenBLAS, one thread)
    whh_t = np.ascontiguousarray((w_hh if scale is None else w_hh * scale[:, None]).T)
    hbuf = _buffer((t_len + 1, bsz, hid), np.dtype(dt))
    first = t_len if reverse else 0
    hbuf[first] = h0
    if reverse:
        prev_of, out_of = (lambda t: t + 1), (lambda t: t)
        order = range(t_len - 1, -1, -1)
    else:
        prev_of, out_of = (lambda t: t), (lambda t: t + 1)
        order = range(t_len)
    saved = {"w_ih": w_ih, "w_hh": w_hh, "act": act, "hbuf": hbuf}
    h3 = 3 * hid
    if mode == "LSTM":
        cbuf = _buffer((t_len + 1, bsz, hid), np.dtype(dt))
        cbuf[first] = c0
        tcs = _buffer((t_len, bsz, hid), np.dtype(dt))
        tmp = np.empty((bsz, 4 * hid), dt)
        tmph = np.empty((bsz, hid), dt)
        kern = _lstm_kernels(dt)
        if kern is not None:
            gates, half = kern[0], dt.type(0.5)
            for t in order:
                p, o = prev_of(t), out_of(t)
                a = act[t]
                np.matmul(hbuf[p], whh_t, out=tmp)
                a += tmp
                np.tanh(a, out=a)
                gates(a, cbuf[p], cbuf[o], hid, half)
                np.tanh(cbuf[o], out=tcs[t])
                np.multiply(a[:, 2 * hid:h3], tcs[t], out=hbuf[o])
            order = ()
        for t in order:
            p, o = prev_of(t), out_of(t)
            a = act[t]
            np.matmul(hbuf[p], whh_t, out=tmp)
            a += tmp
            np.tanh(a, out=a)
            s = a[:, :h3]
            s *= 0.5
            s += 0.5
            c = cbuf[o]
            np.multiply(a[:, hid:2 * hid], cbuf[p], out=c)
            np.multiply(a[:, :hid], a[:, h3:], out=tmph)
            c += tmph
            np.tanh(c, out=tcs[t])
            np.multiply(a[:, 2 * hid:h3], tcs[t], out=hbuf[o])
        saved.update(cbuf=cbuf, tcs=tcs)
        c_last = cbuf[0] if reverse else cbuf[t_len]
    elif mode == "GRU":
        hh = _buffer((t_len, bsz, 3 * hid), np.dtype(dt))
        # b_hr, b_hz are folded into the input projections; b_hn stays inside r * (...)
        bhn = None if b_hh is None else b_hh[2 * hid:]
        tmph = np.empty((bsz, hid), dt)
        h2 = 2 * hid
        for t in order:
            p, o = prev_of(t), out_of(t)
            a = act[t]
            ht = hh[t]
            np.matmul(hbuf[p], whh_t, out=ht)
            if bhn is not None:
                ht[:, 2 * hid:] += bhn
            rz = a[:, :h2]
            rz += ht[:, :h2]
            np.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5
            n = a[:, h2:]
            np.multiply(a[:, :hid], ht[:, h2:], out=tmph)
            n += tmph
            np.tanh(n, out=n)
            hn = hbuf[o]
            np.subtract(hbuf[p], n, out=hn)
            hn *= a[:, hid:h2]
            hn += n
        saved["hh"] = hh
        c_last = None
    else:
        tmp = np.empty((bsz, hid), dt)
        relu = mode == "RNN_RELU"
        for t in order:
            p, o = prev_of(t), out_of(t)
            np.matmul(hbuf[p], whh_t, out=tmp)
            ho = hbuf[o]
            np.add(act[t], tmp, out=ho)
            if relu:
                np.maximum(ho, 0, out=ho)
            else:
                np.tanh(ho, out=ho)
        c_last = None
    y = hbuf[:t_len] if reverse else hbuf[1:]
    h_last = hbuf[0] if reverse else hbuf[t_len]
    return y, h_last, c_last, saved


# --- one direction, backward -----------------------------------------------------------------

def _dir_backward(mode, sv, dy, dh_n, dc_n, reverse, t_len, bsz, need_c0):
    """Backward through time for one direction.

    Returns (d_in (T*B, G*H) gradient of the input projections, d_hh (T*B, G*H) gradient of
    the recurrent pre-activations, h_prev (T*B, H), dh0, dc0), all in the internal gate
    order."""
    hbuf, act = sv["hbuf"], sv["act"]
    w_hh = sv["w_hh"]
    hid = w_hh.shape[1]
    dt = hbuf.dtype
    dh = np.zeros((bsz, hid), dt) if dh_n is None else dh_n.astype(dt, copy=True)
    if reverse:
        prev_of = lambda t: t + 1     # noqa: E731
        order = range(t_len)
        hprev = hbuf[1:]
    else:
        prev_of = lambda t: t         # noqa: E731
        order = range(t_len - 1, -1, -1)
        hprev = hbuf[:t_len]
    h2, h3 = 2 * hid, 3 * hid
    if mode == "LSTM":
        cbuf, tcs = sv["cbuf"], sv["tcs"]
        dc = np.zeros((bsz, hid), dt) if dc_n is None else dc_n.astype(dt, copy=True)
        dg = _buffer((t_len, bsz, 4 * hid), np.dtype(dt))
        tmp = np.empty((bsz, hid), dt)
        sd = np.empty((bsz, h3), dt)
        kern = _lstm_kernels(dt)
        if kern is not None:
            step, one = kern[1], dt.type(1.0)
            has_dy = dy is not None
            for t in order:
                d = dg[t]
                step(act[t], tcs[t], cbuf[prev_of(t)], dh, dc, d, dy[t] if has_dy else dh,
                     has_dy, hid, one)
                np.matmul(d, w_hh, out=dh)
            order = ()
        for t in order:
            a = act[t]
            if dy is not None:
                dh += dy[t]
            i, f, o, g = a[:, :hid], a[:, hid:h2], a[:, h2:h3], a[:, h3:]
            tc = tcs[t]
            d = dg[t]
            # sigmoid' = s (1 - s) for i, f, o at once
            np.subtract(1.0, a[:, :h3], out=sd)
            sd *= a[:, :h3]
            np.multiply(dh, tc, out=d[:, h2:h3])            # do (before sigmoid')
            # dc += dh * o * (1 - tanh(c)^2)
            np.multiply(tc, tc, out=tmp)
            np.subtract(1.0, tmp, out=tmp)
            tmp *= o
            tmp *= dh
            dc += tmp
            np.multiply(dc, g, out=d[:, :hid])              # di
            np.multiply(dc, cbuf[prev_of(t)], out=d[:, hid:h2])   # df
            d[:, :h3] *= sd
            np.multiply(g, g, out=tmp)                      # dg = dc * i * (1 - g^2)
            np.subtract(1.0, tmp, out=tmp)
            tmp *= i
            np.multiply(dc, tmp, out=d[:, h3:])
            dc *= f
            np.matmul(d, w_hh, out=dh)
        d_in = dg.reshape(t_len * bsz, -1)
        return d_in, d_in, hprev.reshape(t_len * bsz, hid), dh, (dc if need_c0 else None)
    if mode == "GRU":
        hh = sv["hh"]
        dx = _buffer((t_len, bsz, 3 * hid), np.dtype(dt))
        dhh = _buffer((t_len, bsz, 3 * hid), np.dtype(dt))
        tmp = np.empty((bsz, hid), dt)
        dn = np.empty((bsz, hid), dt)
        rec = np.empty((bsz, hid), dt)
        for t in order:
            a = act[t]
            if dy is not None:
                dh += dy[t]
            r, z, n = a[:, :hid], a[:, hid:h2], a[:, h2:]
            hp = hbuf[prev_of(t)]
            dxt, dht = dx[t], dhh[t]
            # dn_pre = dh (1 - z) (1 - n^2)
            np.subtract(1.0, z, out=dn)
            dn *= dh
            np.multiply(n, n, out=tmp)
            np.subtract(1.0, tmp, out=tmp)
            dn *= tmp
            dxt[:, h2:] = dn
            np.multiply(dn, r, out=dht[:, h2:])
            # dr_pre = dn_pre * hn * r (1 - r)
            np.multiply(dn, hh[t][:, h2:], out=dxt[:, :hid])
            # dz_pre = dh * (h_prev - n) * z (1 - z)
            np.subtract(hp, n, out=dxt[:, hid:h2])
            dxt[:, hid:h2] *= dh
            np.subtract(1.0, a[:, :h2], out=dht[:, :h2])
            dht[:, :h2] *= a[:, :h2]
            dxt[:, :h2] *= dht[:, :h2]
            dht[:, :h2] = dxt[:, :h2]
            np.matmul(dht, w_hh, out=rec)
            dh *= z
            dh += rec
        return (dx.reshape(t_len * bsz, -1), dhh.reshape(t_len * bsz, -1),
                hprev.reshape(t_len * bsz, hid), dh, None)
    relu = mode == "RNN_RELU"
    da = _buffer((t_len, bsz, hid), np.dtype(dt))
    for t in order:
        ho = hbuf[prev_of(t) - 1] if reverse else hbuf[t + 1]
        if dy is not None:
            dh += dy[t]
        d = da[t]
        if relu:
            np.greater(ho, 0, out=d)
            d *= dh
        else:
            np.multiply(ho, ho, out=d)
            np.subtract(1.0, d, out=d)
            d *= dh
        np.matmul(d, w_hh, out=dh)
    d_in = da.reshape(t_len * bsz, hid)
    return d_in, d_in, hprev.reshape(t_len * bsz, hid), dh, None


# --- the Function ----------------------------------------------------------------------------

class RNNLayerFn(Function):
    """One recurrent layer (one or two directions) over a whole sequence.

    forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_ih_r, w_hh_r, b_ih_r, b_hh_r, mode,
    batch_first) -> (y, h_n) or (y, h_n, c_n); ``h0``/``c0`` are ``(D, B, H)`` or None."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_ih_r, w_hh_r, b_ih_r, b_hh_r,
                mode, batch_first):
        xt = x.transpose(1, 0, 2) if batch_first else x
        t_len, bsz, isz = xt.shape
        hid = w_hh.shape[1]
        ndir = 1 if w_ih_r is None else 2
        dt = x.dtype
        x2 = np.ascontiguousarray(xt).reshape(t_len * bsz, isz)
        if h0 is None:
            h0 = np.zeros((ndir, bsz, hid), dt)
        if mode == "LSTM" and c0 is None:
            c0 = np.zeros((ndir, bsz, hid), dt)
        dirs = [(w_ih, w_hh, b_ih, b_hh)]
        if ndir == 2:
            dirs.append((w_ih_r, w_hh_r, b_ih_r, b_hh_r))
        ys, hs, cs, saves = [], [], [], []
        for d, (wi, wh, bi, bh) in enumerate(dirs):
            y, hl, cl, sv = _dir_forward(mode, x2, t_len, bsz, h0[d],
                                         None if c0 is None else c0[d], wi, wh, bi, bh,
                                         reverse=d == 1)
            ys.append(y)
            hs.append(hl)
            cs.append(cl)
            saves.append(sv)
        y = ys[0] if ndir == 1 else np.concatenate(ys, axis=2)
        ctx.state = (saves, x2, t_len, bsz, ndir)
        ctx.save_for_backward(x)
        if batch_first:
            y = y.transpose(1, 0, 2)
        h_n = np.stack(hs)
        if mode == "LSTM":
            return y, h_n, np.stack(cs)
        return y, h_n

    @staticmethod
    def backward(ctx, gy, gh, gc=None):
        saves, x2, t_len, bsz, ndir = ctx.state
        mode, batch_first = ctx.inputs[11:13]
        need = ctx.needs_input_grad
        hid = saves[0]["w_hh"].shape[1]
        if gy is not None and batch_first:
            gy = gy.transpose(1, 0, 2)
        grads = [None] * 13
        gx2 = None
        dh0, dc0 = [], []
        for d, sv in enumerate(saves):
            dy = None if gy is None else gy[:, :, d * hid:(d + 1) * hid]
            d_in, d_hh, hprev, dh, dc = _dir_backward(
                mode, sv, dy, None if gh is None else gh[d], None if gc is None else gc[d],
                d == 1, t_len, bsz, mode == "LSTM" and need[2])
            dh0.append(dh)
            dc0.append(dc)
            base = 3 + 4 * d
            inv = np.argsort(_lstm_perm(hid)) if mode == "LSTM" else None

            def unperm(a, inv=inv):
                return a if inv is None else a[inv]

            if need[0]:
                part = d_in @ sv["w_ih"]
                gx2 = part if gx2 is None else gx2 + part
            if need[base]:
                grads[base] = unperm(d_in.T @ x2)
            if need[base + 1]:
                grads[base + 1] = unperm(d_hh.T @ hprev)
            if need[base + 2] or need[base + 3]:
                # column sums as one BLAS matrix-vector product; LSTM and RNN share them
                ones = np.ones(d_in.shape[0], d_in.dtype)
                s_in = unperm(ones @ d_in)
                s_hh = s_in if d_hh is d_in else unperm(ones @ d_hh)
                if need[base + 2]:
                    grads[base + 2] = s_in
                if need[base + 3]:
                    grads[base + 3] = s_hh if s_hh is not s_in else s_in.copy()
        if need[0]:
            gx = gx2.reshape(t_len, bsz, -1)
            grads[0] = gx.transpose(1, 0, 2) if batch_first else gx
        if need[1]:
            grads[1] = np.stack(dh0)
        if mode == "LSTM" and need[2]:
            grads[2] = np.stack(dc0)
        return tuple(grads)


def rnn_layer(mode: str, input: Tensor, weights, hx=None, cx=None,
              batch_first: bool = False):
    """Run one recurrent layer over a whole sequence as a single op.

    Args:
        mode: ``'RNN_TANH'``, ``'RNN_RELU'``, ``'LSTM'`` or ``'GRU'``.
        input: ``(T, B, I)`` (or ``(B, T, I)`` with ``batch_first``).
        weights: one ``(w_ih, w_hh, b_ih, b_hh)`` tuple per direction (biases may be None),
            in PyTorch's layouts: ``w_ih (G*H, I)``, ``w_hh (G*H, H)``.
        hx, cx: initial states ``(D, B, H)`` or None for zeros (``cx`` for LSTM only).

    Returns:
        ``(output, h_n)`` or, for LSTM, ``(output, h_n, c_n)``; ``output`` is ``(T, B, D*H)``
        (``(B, T, D*H)`` with ``batch_first``), ``h_n``/``c_n`` are ``(D, B, H)``.
    """
    if mode not in _GATES:
        raise ValueError(f"rnn_layer: unknown mode {mode!r}, expected one of "
                         f"{sorted(_GATES)}")
    if not isinstance(input, Tensor):
        raise TypeError(f"rnn_layer: expected a Tensor input, got {type(input).__name__}")
    if input.data.ndim != 3:
        raise ValueError(f"rnn_layer: expected a 3-D input, got shape {tuple(input.shape)}")
    if len(weights) not in (1, 2):
        raise ValueError(f"rnn_layer: expected weights for 1 or 2 directions, got "
                         f"{len(weights)}")
    dt = input.data.dtype
    gates = _GATES[mode]
    w0 = weights[0]
    hid = w0[1].shape[1]
    isz = input.shape[2]
    t_len = input.shape[1] if batch_first else input.shape[0]
    bsz = input.shape[0] if batch_first else input.shape[1]
    if t_len == 0:
        raise ValueError("rnn_layer: expected a sequence of length at least 1")
    for wi, wh, bi, bh in weights:
        for name, t, shape in (("weight_ih", wi, (gates * hid, isz)),
                               ("weight_hh", wh, (gates * hid, hid)),
                               ("bias_ih", bi, (gates * hid,)),
                               ("bias_hh", bh, (gates * hid,))):
            if t is None and name.startswith("bias"):
                continue
            if tuple(t.shape) != shape:
                raise RuntimeError(f"rnn_layer ({mode}): {name} has shape {tuple(t.shape)}, "
                                   f"expected {shape} for input size {isz} and hidden size "
                                   f"{hid}")
            if t.data.dtype != dt:
                raise RuntimeError(f"rnn_layer ({mode}): input is {dt} but {name} is "
                                   f"{t.dtype}")
    ndir = len(weights)
    for name, s in (("hx", hx), ("cx", cx)):
        if s is not None and tuple(s.shape) != (ndir, bsz, hid):
            raise RuntimeError(f"rnn_layer ({mode}): expected {name} of shape "
                               f"{(ndir, bsz, hid)}, got {tuple(s.shape)}")
    if mode != "LSTM":
        cx = None
    wr = weights[1] if ndir == 2 else (None, None, None, None)
    return RNNLayerFn.apply(input, hx, cx, *w0, *wr, mode, bool(batch_first))
