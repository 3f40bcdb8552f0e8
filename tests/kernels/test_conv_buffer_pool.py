"""The buffer pool (``lamina.kernels.memory``) under the conv fast paths: a recycled buffer is
never one that is still alive, and clearing the pool changes no result."""

import numpy as np

import lamina
from lamina.ops.conv import conv2d


def test_conv_buffer_pool_never_reuses_live_arrays(fast_conv):
    """Outputs kept alive and graphs backpropagated twice are untouched by later calls."""
    rng = np.random.default_rng(0)
    w = lamina.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    xs = [lamina.tensor(rng.standard_normal((2, 3, 6, 6)), requires_grad=True)
          for _ in range(3)]
    ys = [conv2d(x, w, padding=1) for x in xs]
    assert type(ys[0]._ctx).__module__ == "lamina.kernels.conv"     # a pooling fast path
    copies = [y._data.copy() for y in ys]
    loss = (ys[0] * ys[0]).sum()
    loss.backward(retain_graph=True)
    g1 = xs[0].grad._data.copy(), w.grad._data.copy()
    for x in xs[1:]:
        (conv2d(x, w, padding=1) ** 2).sum().backward()     # churn the pool
    for x, c in zip(xs, copies):                            # recycled (dirty) buffers
        np.testing.assert_array_equal(conv2d(x, w, padding=1)._data, c)
    for y, c in zip(ys, copies):
        np.testing.assert_array_equal(y._data, c)
    xs[0].grad = None
    w.grad = None
    loss.backward()
    np.testing.assert_array_equal(xs[0].grad._data, g1[0])
    np.testing.assert_array_equal(w.grad._data, g1[1])


def test_clear_buffer_pool(fast_conv):
    from lamina.kernels import memory as C

    x = lamina.randn(2, 3, 8, 8)
    w = lamina.randn(4, 3, 3, 3)
    a = conv2d(x, w, padding=1)._data.copy()
    C.clear_buffer_pool()
    assert not C._POOL
    np.testing.assert_array_equal(conv2d(x, w, padding=1)._data, a)
