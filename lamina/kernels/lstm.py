"""The LSTM layer's fast path: feature-major state, one GEMM per step, compiled gate passes.

The reference ``lamina.ops.rnn.LSTM`` keeps the batch-major layout a student expects: an
input-projection GEMM for all steps, then per step one GEMM with ``W_hh`` and about 25
element-wise ufuncs. Here every per-step array is feature-major, ``(features, batch)``:

- a step is ONE GEMM ``[W_hh | W_ih | b] @ [h; x_t; 1]`` straight into the gate block (input
  projection and bias included), which OpenBLAS runs faster with two threads than
  ``h (B, H) @ W.T`` (23 vs 33 us forward, 26 vs 36 us backward at 32x128x512 float32);
- the sigmoid rows of the stacked weights are halved (exact), so one ``tanh`` over the block
  gives all four gates (``sigmoid(x) = (1 + tanh(x/2)) / 2``);
- the element-wise work between two GEMMs is one compiled call (``LSTMKernels``): backward
  17 ufuncs -> 1 call, forward 10 -> 5 (NumPy's SIMD tanh stays: faster than numba's);
- the operands of all steps sit side by side in ``hx (K, T+1, B)``, so the gradients of
  W_hh, W_ih and the biases are ONE GEMM ``dg (4H, T*B) @ hx.T`` after the backward loop;
- the big work arrays come from the buffer pool (``lamina.kernels.memory``).

Values: the reference's up to the summation order of the GEMMs (K = H + I + 1 terms in one
product instead of two products and a sum). Measured (training step T=32, input 32, hidden
128, batch 32, linear head, Adam, float32, 2-core AMD EPYC, one BLAS thread, median of 5):
11.6 ms against the reference's 20.6.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from lamina import dispatch
from lamina.kernels.jit import kernels
from lamina.kernels.memory import buffer
from lamina.ops.rnn import LSTM

__all__ = ["LSTMKernels", "lstm_kernels", "LSTMCompiled"]


class LSTMKernels(NamedTuple):
    """The compiled passes of one LSTM step and of the layer's set-up."""

    forward_gates: Callable   # sigmoid from tanh for i, f, o; c = f * c_prev + i * g
    backward_step: Callable   # one step's gate gradients, dc and dh update
    hidden: Callable          # h_t = o * tanh(c_t) into its strided column of hx
    steps_to_rows: Callable   # (T, 4H, B) -> (4H, T, B)
    transpose: Callable       # blocked w.T into a contiguous array
    setup: Callable           # the stacked step weights and the inputs gathered into hx


# The kernels do exactly the operations of the NumPy steps they replace, in the same order and
# precision (constants passed in the array dtype, no fast-math). The transcendental functions
# stay in NumPy: its SIMD tanh is several times faster than numba's scalar one on these
# machines. A rational float32 tanh written in numba vectorizes only with
# error_model="numpy" (numba otherwise checks each division for zero: 67 vs 7 us per 16K
# elements) and then merely matches NumPy's (7-8.6 vs 8.7 us); a fused forward step built on
# it took as long as the calls it replaced (13.6 vs 13.2 us).

@kernels
def lstm_kernels(numba) -> LSTMKernels:
    """The compiled passes (an ``LSTMKernels``), or None (no numba, turned off, or a dtype
    other than float32/float64)."""

    # act[t] (4H, B) holds tanh of the gate pre-activations (i, f, g, o; i, f, o at half
    # scale), cbuf[si] and cbuf[so] (H, B) the previous and the new cell state (whole arrays
    # and indices: no per-step views in Python). 2-D loops with the batch innermost: 4 us per
    # step at H=128, B=32 float32 (6 us as four flat passes)
    @numba.njit(cache=True, nogil=True)
    def forward_gates(act, cbuf, t, si, so, hid, half):
        a, cp, c = act[t], cbuf[si], cbuf[so]
        nb = a.shape[1]
        for j in range(hid):
            for b in range(nb):
                i = a[j, b] * half + half
                f = a[hid + j, b] * half + half
                o = a[3 * hid + j, b] * half + half
                a[j, b] = i
                a[hid + j, b] = f
                a[3 * hid + j, b] = o
                c[j, b] = f * cp[j, b] + i * a[2 * hid + j, b]

    # step t of the backward: gates act[t], tanh(c_t) tcs[t], c_{t-1} cbuf[p], the running
    # dh and dc, output dgs[t], all C-contiguous, so one flat loop over H*B that LLVM
    # vectorizes (the 2-D loop over four gate rows did not): 7.5 vs 17 us per step at
    # H=128, B=32 float32
    @numba.njit(cache=True, nogil=True)
    def backward_step(act, tcs, cbuf, t, p, dh, dc, dgs, dys, has_dy, hid, one):
        a, tc, cp, d = act[t], tcs[t], cbuf[p], dgs[t]
        n = hid * a.shape[1]
        af = a.reshape(4 * n)
        df = d.reshape(4 * n)
        tcf, cpf = tc.reshape(n), cp.reshape(n)
        dhf, dcf = dh.reshape(n), dc.reshape(n)
        if has_dy:
            dyf = dys[t].reshape(n)
            for k in range(n):
                dhf[k] = dhf[k] + dyf[k]
        for k in range(n):
            i, f, g, o = af[k], af[n + k], af[2 * n + k], af[3 * n + k]
            t, h = tcf[k], dhf[k]
            x = dcf[k] + (one - t * t) * o * h
            df[k] = x * g * ((one - i) * i)
            df[n + k] = x * cpf[k] * ((one - f) * f)
            df[2 * n + k] = x * ((one - g * g) * i)
            df[3 * n + k] = h * t * ((one - o) * o)
            dcf[k] = x * f

    # h_t = o * tanh(c_t) into its column of hx, a (H, B) block with rows (T+1)*B apart: NumPy
    # runs its inner loop once per 32-element row there (~6 us per step at the benchmark's
    # size in a training step, vs ~2 us here)
    @numba.njit(cache=True, nogil=True)
    def hidden(act, tcs, hx, t, so, hid):
        a, tc = act[t], tcs[t]
        nb = tc.shape[1]
        for j in range(hid):
            h = hx[j, so]
            o = a[3 * hid + j]
            y = tc[j]
            for b in range(nb):
                h[b] = o[b] * y[b]

    # dgs (T, 4H, B) -> dgm (4H, T, B), B-element rows: NumPy's copyto runs its inner loop
    # once per row (16K calls at the benchmark's size)
    @numba.njit(cache=True, nogil=True)
    def steps_to_rows(src, dst):
        t_len, g4, nb = src.shape
        for g in range(g4):
            for t in range(t_len):
                s = src[t, g]
                d = dst[g, t]
                for b in range(nb):
                    d[b] = s[b]

    # w (4H, H) -> out (H, 4H) in 16-row blocks (np.ascontiguousarray(w.T): ~85 us at the
    # benchmark's size, this ~50 us)
    @numba.njit(cache=True, nogil=True)
    def transpose(w, out):
        n, m = w.shape
        for i0 in range(0, n, 16):
            for j in range(m):
                for i in range(i0, min(i0 + 16, n)):
                    out[j, i] = w[i, j]

    # the step weights [W_hh | W_ih | b_ih + b_hh] with the sigmoid rows (i, f, o) halved, and
    # the inputs into their rows of hx (a transposing gather), one pass each (the NumPy
    # path's seven array operations, two of them with one inner loop per short row)
    @numba.njit(cache=True, nogil=True)
    def setup(w_ih, w_hh, b_ih, b_hh, bias, x3, wcat, hx, rd, half, one):
        g4, hid = w_hh.shape
        isz = w_ih.shape[1]
        for r in range(g4):
            s = one if 2 * hid <= r < 3 * hid else half
            for j in range(hid):
                wcat[r, j] = w_hh[r, j] * s
            for j in range(isz):
                wcat[r, hid + j] = w_ih[r, j] * s
            if bias:
                wcat[r, hid + isz] = (b_ih[r] + b_hh[r]) * s
        t_len, bsz = x3.shape[0], x3.shape[1]
        for t in range(t_len):
            for i in range(isz):
                row = hx[hid + i, rd + t]
                for b in range(bsz):
                    row[b] = x3[t, b, i]
        if bias:
            hx[hid + isz] = one

    return LSTMKernels(forward_gates, backward_step, hidden, steps_to_rows, transpose, setup)



class _Direction(NamedTuple):
    """What one direction's forward keeps for its backward (feature-major)."""

    w_ih: np.ndarray
    w_hh: np.ndarray
    gates: np.ndarray     # (T, 4H, B) i, f, g, o after their activations
    tanh_c: np.ndarray    # (T, H, B)
    cells: np.ndarray     # (T+1, H, B) the cell states, slot t+1 (reverse: t) written at t
    hx: np.ndarray        # (K, T+1, B) the step operands [h; x; 1]


def _forward(k, x3, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse):
    """Run one direction over ``x3`` (T, B, I) (any strides); ``h0``, ``c0`` are (B, H) or
    None (zeros). Returns (y as an (H, T, B) view, h_T (H, B), c_T (H, B), _Direction)."""
    t_len, bsz, isz = x3.shape
    hid = w_hh.shape[1]
    dt = x3.dtype
    kdim = hid + isz + (b_ih is not None)
    half = dt.type(0.5)
    # the weights of one step side by side, the sigmoid rows (i, f, o) at half scale
    wcat = np.empty((4 * hid, kdim), dt)
    # step t reads slot t of hx and writes h_t into slot t + 1 (reverse: reads t + 1,
    # writes t); the first slot read holds h0
    hx = buffer((kdim, t_len + 1, bsz), dt)
    rd = 1 if reverse else 0
    bias = b_ih is not None
    k.setup(w_ih, w_hh, b_ih if bias else w_hh[0], b_hh if bias else w_hh[0], bias, x3,
            wcat, hx, rd, half, dt.type(1.0))
    first = t_len if reverse else 0
    cells = buffer((t_len + 1, hid, bsz), dt)
    hx[:hid, first] = 0 if h0 is None else h0.T
    cells[first] = 0 if c0 is None else c0.T
    gates = buffer((t_len, 4 * hid, bsz), dt)
    tanh_c = buffer((t_len, hid, bsz), dt)
    # the GEMM writes a scratch block that stays in cache (it zeroes its output first) and
    # tanh moves the result into gates[t]: 3.5% off the forward at the benchmark's size
    z = np.empty((4 * hid, bsz), dt)
    for t in (range(t_len - 1, -1, -1) if reverse else range(t_len)):
        si, so = t + rd, t + 1 - rd
        if si == first and h0 is None:          # h0 = 0: only the input and bias columns
            np.matmul(wcat[:, hid:], hx[hid:, si], out=z)
        else:
            np.matmul(wcat, hx[:, si], out=z)
        np.tanh(z, out=gates[t])
        k.forward_gates(gates, cells, t, si, so, hid, half)
        np.tanh(cells[so], out=tanh_c[t])
        k.hidden(gates, tanh_c, hx, t, so, hid)
    last = 0 if reverse else t_len
    y = hx[:hid, :t_len] if reverse else hx[:hid, 1:]
    return y, hx[:hid, last], cells[last], _Direction(w_ih, w_hh, gates, tanh_c, cells, hx)


def _backward(k, sv, dy, dh_n, dc_n, reverse, need_w, need_x, need_h0):
    """Backward through time for one direction; ``dy`` is (T, H, B) C-contiguous or None,
    ``dh_n``, ``dc_n`` (B, H) or None. Returns (dW (4H, K), the gradient of the stacked
    ``[W_hh | W_ih | b]``, or None; gx2 (T*B, I) or None; dh0 (H, B) (meaningless unless
    ``need_h0``); dc0 (H, B))."""
    t_len, g4, bsz = sv.gates.shape
    hid = g4 // 4
    dt = sv.gates.dtype
    dh = np.zeros((hid, bsz), dt) if dh_n is None else np.ascontiguousarray(dh_n.T)
    dc = np.zeros((hid, bsz), dt) if dc_n is None else np.ascontiguousarray(dc_n.T)
    # dh_{t-1} = W_hh.T @ dg_t with W_hh.T contiguous: 3.3 us (~10%) faster per GEMM than
    # on the transposed view with two threads
    w_t = np.empty((hid, g4), dt)
    k.transpose(sv.w_hh, w_t)
    dgs = buffer((t_len, g4, bsz), dt)              # gate gradients, step-contiguous
    rd = 1 if reverse else 0                        # cells slot of the previous cell state
    dys = sv.gates if dy is None else dy            # the kernel's placeholder when None
    order = range(t_len) if reverse else range(t_len - 1, -1, -1)
    for t in order:
        k.backward_step(sv.gates, sv.tanh_c, sv.cells, t, t + rd, dh, dc, dgs, dys,
                        dy is not None, hid, dt.type(1.0))
        if t != order[-1] or need_h0:           # dh0 only when h0 needs it
            np.matmul(w_t, dgs[t], out=dh)
    if not (need_w or need_x):
        return None, None, dh, dc
    # (4H, T*B), the steps side by side: one transposing copy (~0.2 ms at the benchmark's
    # size) buys contiguous per-step blocks for the kernel and the GEMM in the loop
    dgm = buffer((g4, t_len, bsz), dt)
    k.steps_to_rows(dgs, dgm)
    dgm = dgm.reshape(g4, t_len * bsz)
    dw = gx2 = None
    if need_w:
        kdim = sv.hx.shape[0]
        dw = dgm @ sv.hx[:, rd:rd + t_len].reshape(kdim, t_len * bsz).T
    if need_x:
        gx2 = dgm.T @ sv.w_ih
    return dw, gx2, dh, dc


def _compiled(x) -> bool:
    """The kernels exist for ``x``'s dtype (float32/float64, numba present and on)."""
    return lstm_kernels(x.dtype) is not None


@dispatch.register("lstm", applies=_compiled)
class LSTMCompiled(LSTM):
    """``LSTM`` on feature-major state with compiled gate passes (see the module docstring)."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_ih_r, w_hh_r, b_ih_r, b_hh_r,
                batch_first):
        k = lstm_kernels(x.dtype)
        xt = x.transpose(1, 0, 2) if batch_first else x
        directions = [(w_ih, w_hh, b_ih, b_hh)]
        if w_ih_r is not None:
            directions.append((w_ih_r, w_hh_r, b_ih_r, b_hh_r))
        ys, hs, cs, ctx.directions = [], [], [], []
        ctx.save_for_backward(x)
        for d, weights in enumerate(directions):
            y, h, c, sv = _forward(k, xt, None if h0 is None else h0[d],
                                   None if c0 is None else c0[d], *weights, reverse=d == 1)
            ys.append(y.transpose(1, 2, 0))             # (H, T, B) -> (T, B, H)
            hs.append(h.T)
            cs.append(c.T)
            ctx.directions.append(sv)
        ctx.batch_first = batch_first
        y = ys[0] if len(ys) == 1 else np.concatenate(ys, axis=2)
        if batch_first:
            y = y.transpose(1, 0, 2)
        return y, np.stack(hs), np.stack(cs)

    @staticmethod
    def backward(ctx, gy, gh, gc):
        k = lstm_kernels(ctx.directions[0].gates.dtype)
        t_len, _, bsz = ctx.directions[0].gates.shape
        hid, isz = ctx.directions[0].w_hh.shape[1], ctx.directions[0].w_ih.shape[1]
        need_x, need_h0, need_c0 = ctx.needs_input_grad[:3]
        if gy is not None and ctx.batch_first:
            gy = gy.transpose(1, 0, 2)
        gx2, dh0, dc0, weight_grads = None, [], [], []
        for d, sv in enumerate(ctx.directions):
            dy = None
            if gy is not None:      # (T, B, H) -> the feature-major (T, H, B)
                dy = np.ascontiguousarray(gy[:, :, d * hid:(d + 1) * hid].transpose(0, 2, 1))
            need_w = any(ctx.needs_input_grad[3 + 4 * d:7 + 4 * d])
            dw, gx_d, dh, dc = _backward(k, sv, dy, None if gh is None else gh[d],
                                         None if gc is None else gc[d], d == 1, need_w,
                                         need_x, need_h0)
            dh0.append(dh.T)
            dc0.append(dc.T)
            if gx_d is not None:
                gx2 = gx_d if gx2 is None else gx2 + gx_d
            if dw is None:
                weight_grads.append((None,) * 4)
            else:
                # dw's columns are [W_hh | W_ih | b]; the engine copies views it keeps
                db = dw[:, -1] if dw.shape[1] > hid + isz else None
                weight_grads.append((dw[:, hid:hid + isz], dw[:, :hid], db, db))
        if len(weight_grads) == 1:
            weight_grads.append((None,) * 4)
        gx = None
        if need_x:
            gx = gx2.reshape(t_len, bsz, -1)
            gx = gx.transpose(1, 0, 2) if ctx.batch_first else gx
        return (gx, np.stack(dh0) if need_h0 else None, np.stack(dc0) if need_c0 else None,
                *weight_grads[0], *weight_grads[1], None)
