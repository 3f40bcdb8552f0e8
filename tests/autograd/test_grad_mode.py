"""Grad mode (``no_grad``, ``enable_grad``, ``set_grad_enabled``) is per thread, as in PyTorch:
a ``no_grad`` block in one thread never stops another thread from recording its graph."""

import threading

import torch

import lamina


def _in_thread(fn):
    """Run ``fn`` in a new thread and return its result (re-raising its exception)."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as e:      # noqa: BLE001 - handed back to the caller
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_new_thread_starts_with_grad_enabled_like_pytorch():
    with torch.no_grad():
        expected = _in_thread(torch.is_grad_enabled)
    with lamina.no_grad():
        got = _in_thread(lamina.is_grad_enabled)
        assert not lamina.is_grad_enabled()
    assert got is expected is True
    assert lamina.is_grad_enabled()


def test_no_grad_in_one_thread_does_not_stop_recording_in_another():
    """One thread sits in ``no_grad`` while the other builds 300 graphs: all 300 record."""
    inside = threading.Event()
    done = threading.Event()
    recorded = []

    def idle_in_no_grad():
        with lamina.no_grad():
            inside.set()
            done.wait(timeout=30)

    def record():
        inside.wait(timeout=30)
        x = lamina.ones(3, requires_grad=True)
        for _ in range(300):
            recorded.append((x * 2.0).sum().grad_fn is not None)
        done.set()

    threads = [threading.Thread(target=idle_in_no_grad), threading.Thread(target=record)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(recorded) == 300
    assert lamina.is_grad_enabled()


def test_overlapping_no_grad_blocks_in_two_threads_leave_grad_mode_on():
    """A enters, B enters, A exits, B exits: with one process-wide flag, B restores the
    ``False`` it saw on entry and grad mode stays off for everyone afterwards."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def a():
        with lamina.no_grad():
            a_in.set()
            b_in.wait(timeout=30)
        a_out.set()
        return lamina.is_grad_enabled()

    def b():
        a_in.wait(timeout=30)
        with lamina.no_grad():
            b_in.set()
            a_out.wait(timeout=30)
        return lamina.is_grad_enabled()

    results = {}
    threads = [threading.Thread(target=lambda f=f: results.setdefault(f.__name__, f()))
               for f in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"a": True, "b": True}
    assert lamina.is_grad_enabled()
    assert _in_thread(lamina.is_grad_enabled)
    x = lamina.ones(2, requires_grad=True)
    assert (x * 3.0).requires_grad


def test_decorated_function_in_a_thread_leaves_other_threads_recording():
    started, release = threading.Event(), threading.Event()

    @lamina.no_grad()
    def work():
        started.set()
        release.wait(timeout=30)
        return lamina.is_grad_enabled()

    result = {}
    t = threading.Thread(target=lambda: result.setdefault("inside", work()))
    t.start()
    started.wait(timeout=30)
    x = lamina.ones(2, requires_grad=True)
    y = x * 2.0
    release.set()
    t.join()
    assert y.requires_grad and y.grad_fn is not None
    assert result == {"inside": False}
    assert lamina.is_grad_enabled()


def test_set_grad_enabled_as_a_call_is_per_thread():
    def off():
        lamina.set_grad_enabled(False)
        return lamina.is_grad_enabled()

    assert _in_thread(off) is False
    assert lamina.is_grad_enabled()


def test_grad_mode_context_managers_nest_and_restore():
    with lamina.no_grad():
        assert not lamina.is_grad_enabled()
        with lamina.enable_grad():
            assert lamina.is_grad_enabled()
            with lamina.set_grad_enabled(False):
                assert not lamina.is_grad_enabled()
            assert lamina.is_grad_enabled()
        assert not lamina.is_grad_enabled()
    assert lamina.is_grad_enabled()
