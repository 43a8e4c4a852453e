"""The graph arena and the thread-safe engine (issue 2, point 5)."""

import gc
import os
import subprocess
import sys
import threading
import time

import pytest

import rustgrad as rg
from rustgrad.autograd import graph_nodes


def test_live_nodes_return_after_backward():
    gc.collect()
    before = graph_nodes()
    x = rg.randn(10, requires_grad=True)
    y = (x * 2).exp().sum()
    assert graph_nodes() >= before + 3
    y.backward()
    del y
    gc.collect()
    assert graph_nodes() == before


def test_live_nodes_return_when_graph_dropped_without_backward():
    gc.collect()
    before = graph_nodes()
    x = rg.randn(10, requires_grad=True)
    y = x
    for _ in range(100):
        y = (y * 1.0001).tanh()
    assert graph_nodes() >= before + 200
    del y
    gc.collect()
    assert graph_nodes() == before


def test_million_op_chain_backward_and_drop():
    x = rg.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(1_000_000):
        y = y + 0.0
    before_drop = graph_nodes()
    assert before_drop >= 1_000_000
    y.backward()
    assert x.grad.item() == 1.0
    del y
    gc.collect()
    assert graph_nodes() < 100


def test_million_op_chain_dropped_without_backward():
    x = rg.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(1_000_000):
        y = y * 1.0
    del y
    gc.collect()
    assert graph_nodes() < 100


class _Scale(rg.autograd.Function):
    """A custom Function: its backward runs Python code, taking the GIL, inside the Rust engine."""

    @staticmethod
    def forward(ctx, x, k):
        ctx.k = k
        return x * k

    @staticmethod
    def backward(ctx, g):
        return g * ctx.k, None


@pytest.mark.parametrize("through", ["builtin_ops", "custom_function"])
def test_threads_share_a_leaf_and_sum_exactly(through):
    w = rg.ones(1000, dtype=rg.float64, requires_grad=True)
    errors = []

    def scaled(k):
        return (w * float(k)) if through == "builtin_ops" else _Scale.apply(w, float(k))

    def work(k):
        try:
            for _ in range(25):
                scaled(k).sum().backward()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "backward deadlocked"
    assert not errors
    expected = 25.0 * sum(range(1, 9))
    assert w.grad.min().item() == expected and w.grad.max().item() == expected


def test_python_thread_runs_while_matmul_computes():
    a = rg.randn(2048, 2048)
    b = rg.randn(2048, 2048)
    ticks = []
    done = threading.Event()

    def ticker():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=ticker)
    t.start()
    time.sleep(0.01)
    start = time.perf_counter()
    for _ in range(3):
        _ = a @ b
    end = time.perf_counter()
    done.set()
    t.join()
    during = [x for x in ticks if start < x < end]
    # The ticker wakes every millisecond; with the GIL held by the matmul it could not run at all.
    assert len(during) >= max(3, int((end - start) / 0.001 * 0.2)), (len(during), end - start)


def test_backward_releases_the_gil():
    x = rg.randn(512, 512, requires_grad=True)
    y = (x @ x).tanh().sum()
    ticks = []
    done = threading.Event()

    def ticker():
        while not done.is_set():
            ticks.append(1)
            time.sleep(0.0005)

    t = threading.Thread(target=ticker)
    t.start()
    y.backward()
    done.set()
    t.join()
    assert x.grad.shape == (512, 512)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_parallel_ops_work_in_a_forked_child():
    # DataLoader workers fork: the child has none of the parent's pool threads, and a job must
    # not wait for them.
    code = """
import os, numpy as np, rustgrad
rustgrad.set_num_threads(2)
x = rustgrad.randn(600, 600)
want = (x @ x).numpy()
pid = os.fork()
if pid == 0:
    ok = np.allclose((x @ x).numpy(), want, rtol=1e-5, atol=1e-4) and float((x + 1).sum()) != 0
    os._exit(0 if ok else 1)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_set_num_threads_takes_effect_at_any_time():
    # A fresh process, so that the count set here is the only one. As in PyTorch, the pool can be
    # resized after ops ran; results do not depend on the count.
    code = """
import numpy as np, rustgrad
x = rustgrad.randn(600, 600)
rustgrad.set_num_threads(1)
one = (x @ x).numpy()
rustgrad.set_num_threads(3)
assert rustgrad.get_num_threads() == 3
three = (x @ x).numpy()
rustgrad.set_num_threads(2)
assert rustgrad.get_num_threads() == 2
two = (x @ x).numpy()
np.testing.assert_allclose(one, three, rtol=1e-5, atol=1e-4)
np.testing.assert_allclose(one, two, rtol=1e-5, atol=1e-4)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
