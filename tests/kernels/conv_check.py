"""Shared by the conv fast-path tests: run conv2d forward and backward on a chosen floor, and
compare two floors within the float summation-order bound (``tests.helpers``)."""

import numpy as np

import lamina
from lamina import dispatch
from lamina.ops import conv
from tests.helpers import assert_sum_order_close


def laid_out(a, order):
    """``a`` with the same values, its memory ordered by the axes ``order``."""
    if order is None:
        return a
    return np.ascontiguousarray(a.transpose(order)).transpose(np.argsort(order))


def batch_last(a):
    """``a`` laid out (C, H, W, N) in memory, like a conv output."""
    return laid_out(a, (1, 2, 3, 0))


def run(fast, xa, wa, ba, ga, x_grad=True, **kw):
    """conv2d(x, w, b, **kw) and the gradients of ``sum(y * ga)`` on the fast floor (``fast``)
    or the reference one; returns (type of the node that ran, [y, gx, gw, gb])."""
    with dispatch.fast_paths(fast):
        x = lamina.tensor(xa, requires_grad=x_grad)
        w = lamina.tensor(wa, requires_grad=True)
        b = None if ba is None else lamina.tensor(ba, requires_grad=True)
        y = conv.conv2d(x, w, b, **kw)
        node = type(y._ctx)
        (y * lamina.tensor(ga)).sum().backward()
    grads = [None if t is None or t.grad is None else t.grad._data.copy() for t in (x, w, b)]
    return node, [y._data.copy()] + grads


def abs_sums(xa, wa, ba, ga, **kw):
    """sum(|terms|) of every output and gradient element, in float64 (the reference conv of
    |x|, |w|, |b| with output gradient |g|), and the number of terms of each sum."""
    x = lamina.tensor(np.abs(xa).astype(np.float64), requires_grad=True)
    w = lamina.tensor(np.abs(wa).astype(np.float64), requires_grad=True)
    b = None if ba is None else lamina.tensor(np.abs(ba).astype(np.float64))
    with dispatch.fast_paths(False):
        y = conv.conv2d(x, w, b, **kw)
        y.backward(lamina.tensor(np.abs(ga).astype(np.float64)))
    o, cg, kh, kw_ = wa.shape
    n, _, ho, wo = ga.shape
    sums = [y._data, x.grad._data, w.grad._data, np.abs(ga).astype(np.float64).sum(axis=(0, 2, 3))]
    terms = [cg * kh * kw_ + 1, o * kh * kw_, n * ho * wo, n * ho * wo]
    return sums, terms


def assert_floors_agree(fast_out, ref_out, xa, wa, ba, ga, dtype, **kw):
    """The fast and reference results (as ``run`` returns them) agree up to the order of
    their sums: bit-for-bit equality is not asked, since the paths add in different orders
    (BLAS blocking depends on the CPU's SIMD width)."""
    sums, terms = abs_sums(xa, wa, ba, ga, **kw)
    names = ["output", "input grad", "weight grad", "bias grad"]
    for p, q, s, k, name in zip(fast_out, ref_out, sums, terms, names):
        assert (p is None) == (q is None), name
        if p is not None:
            assert_sum_order_close(p, q, s, k, dtype, err_msg=name)
