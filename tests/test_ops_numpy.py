"""Forward results against NumPy on random shapes, with hypothesis drawing shapes and broadcasting."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import rustgrad as rg

SETTINGS = settings(max_examples=40, deadline=None)


def shapes(min_dims=0, max_dims=4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=6)


def arrays(shape, dtype=np.float64, lo=-3.0, hi=3.0):
    return hnp.arrays(dtype, shape, elements=st.floats(lo, hi, allow_nan=False, width=64))


@st.composite
def broadcast_pair(draw):
    a, b = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=5)).input_shapes
    return draw(arrays(a)), draw(arrays(b))


BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "maximum": (rg.maximum, np.maximum),
    "minimum": (rg.minimum, np.minimum),
    "eq": (lambda a, b: a == b, np.equal),
    "lt": (lambda a, b: a < b, np.less),
    "ge": (lambda a, b: a >= b, np.greater_equal),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(pair=broadcast_pair())
def test_binary_broadcasting(name, pair):
    ours, theirs = BINARY[name]
    a, b = pair
    got = ours(rg.tensor(a), rg.tensor(b)).numpy()
    np.testing.assert_allclose(got, theirs(a, b), rtol=1e-12)


@SETTINGS
@given(pair=broadcast_pair())
def test_division_and_float32(pair):
    a, b = pair
    b = np.where(np.abs(b) < 0.1, 1.0, b)
    np.testing.assert_allclose((rg.tensor(a) / rg.tensor(b)).numpy(), a / b, rtol=1e-12)
    got32 = (rg.tensor(a, dtype=rg.float32) * rg.tensor(b, dtype=rg.float32)).numpy()
    np.testing.assert_allclose(got32, (a.astype(np.float32) * b.astype(np.float32)), rtol=1e-6)


UNARY = {
    "exp": (lambda t: t.exp(), np.exp, False),
    "log": (lambda t: t.log(), np.log, True),
    "sqrt": (lambda t: t.sqrt(), np.sqrt, True),
    "rsqrt": (lambda t: t.rsqrt(), lambda x: 1 / np.sqrt(x), True),
    "abs": (lambda t: t.abs(), np.abs, False),
    "sin": (lambda t: t.sin(), np.sin, False),
    "cos": (lambda t: t.cos(), np.cos, False),
    "tanh": (lambda t: t.tanh(), np.tanh, False),
    "sigmoid": (lambda t: t.sigmoid(), lambda x: 1 / (1 + np.exp(-x)), False),
    "relu": (lambda t: t.relu(), lambda x: np.maximum(x, 0), False),
    "neg": (lambda t: -t, np.negative, False),
    "clamp": (lambda t: t.clamp(-1, 0.5), lambda x: np.clip(x, -1, 0.5), False),
    "pow3": (lambda t: t ** 3, lambda x: x ** 3, False),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@SETTINGS
@given(data=st.data())
def test_unary(name, data):
    ours, theirs, positive = UNARY[name]
    x = data.draw(arrays(data.draw(shapes()), lo=0.1 if positive else -3.0))
    np.testing.assert_allclose(ours(rg.tensor(x)).numpy(), theirs(x), rtol=1e-12, atol=1e-15)


@SETTINGS
@given(data=st.data())
def test_non_contiguous_inputs(data):
    x = data.draw(arrays(data.draw(shapes(min_dims=2))))
    t = rg.tensor(x).transpose(0, -1)
    np.testing.assert_allclose((t * 2 + t.exp()).numpy(), np.swapaxes(x, 0, -1) * 2 + np.exp(np.swapaxes(x, 0, -1)))


@SETTINGS
@given(data=st.data())
def test_reductions(data):
    x = data.draw(arrays(data.draw(shapes(min_dims=1))))
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    keep = data.draw(st.booleans())
    t = rg.tensor(x)
    np.testing.assert_allclose(t.sum(dim, keepdim=keep).numpy(), x.sum(dim, keepdims=keep), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(t.mean(dim, keepdim=keep).numpy(), x.mean(dim, keepdims=keep), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(t.max(dim, keepdim=keep).values.numpy(), x.max(dim, keepdims=keep))
    np.testing.assert_array_equal(t.argmax(dim).numpy(), x.argmax(dim))
    np.testing.assert_array_equal(t.argmin(dim).numpy(), x.argmin(dim))
    np.testing.assert_allclose(t.sum().item(), x.sum(), rtol=1e-12, atol=1e-12)
    if x.shape[dim] > 1:
        np.testing.assert_allclose(t.var(dim).numpy(), x.var(dim, ddof=1), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(t.std(dim, unbiased=False).numpy(), x.std(dim), rtol=1e-10, atol=1e-12)


@SETTINGS
@given(data=st.data())
def test_softmax(data):
    x = data.draw(arrays(data.draw(shapes(min_dims=1))))
    dim = data.draw(st.integers(0, x.ndim - 1))
    e = np.exp(x - x.max(dim, keepdims=True))
    expected = e / e.sum(dim, keepdims=True)
    np.testing.assert_allclose(rg.tensor(x).softmax(dim).numpy(), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(rg.tensor(x).log_softmax(dim).numpy(), np.log(expected), rtol=1e-10, atol=1e-12)


@st.composite
def matmul_operands(draw):
    m, k, n = (draw(st.integers(1, 7)) for _ in range(3))
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3)).input_shapes
    kind = draw(st.sampled_from(["vv", "mv", "vm", "mm"]))
    if kind == "vv":
        return draw(arrays((k,))), draw(arrays((k,)))
    if kind == "mv":
        return draw(arrays(batch[0] + (m, k))), draw(arrays((k,)))
    if kind == "vm":
        return draw(arrays((k,))), draw(arrays(batch[1] + (k, n)))
    return draw(arrays(batch[0] + (m, k))), draw(arrays(batch[1] + (k, n)))


@SETTINGS
@given(ops=matmul_operands())
def test_matmul(ops):
    a, b = ops
    np.testing.assert_allclose((rg.tensor(a) @ rg.tensor(b)).numpy(), a @ b, rtol=1e-10, atol=1e-12)


def test_matmul_float32_large_against_float64():
    rg.manual_seed(0)
    a = rg.randn(200, 300, dtype=rg.float64)
    b = rg.randn(300, 100, dtype=rg.float64)
    exact = (a @ b).numpy()
    got = (a.float() @ b.float()).numpy()
    np.testing.assert_allclose(got, exact, rtol=1e-4, atol=1e-4)
    # transposed operands without copies
    np.testing.assert_allclose((b.t() @ a.t()).numpy(), exact.T, rtol=1e-12)


@pytest.mark.parametrize("m,k,n", [(64, 784, 128), (67, 2100, 129), (40, 3136, 200), (600, 300, 300)])
def test_matmul_and_linear_across_threading_regimes(m, k, n):
    # One thread, rows split over threads (ragged last block), and gemm's own threads.
    rng = np.random.default_rng(0)
    a, w, bias = rng.standard_normal((m, k)), rng.standard_normal((n, k)), rng.standard_normal(n)
    np.testing.assert_allclose((rg.tensor(a) @ rg.tensor(w).t()).numpy(), a @ w.T, rtol=1e-10, atol=1e-10)
    got = rg.nn.functional.linear(rg.tensor(a), rg.tensor(w), rg.tensor(bias)).numpy()
    np.testing.assert_allclose(got, a @ w.T + bias, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(data=st.data())
def test_views_match_numpy(data):
    x = data.draw(arrays(data.draw(shapes(min_dims=2, max_dims=4))))
    t = rg.tensor(x)
    perm = data.draw(st.permutations(range(x.ndim)))
    np.testing.assert_array_equal(t.permute(*perm).numpy(), x.transpose(perm))
    np.testing.assert_array_equal(t.permute(*perm).reshape(-1).numpy(), x.transpose(perm).reshape(-1))
    np.testing.assert_array_equal(t[..., ::2].numpy(), x[..., ::2])
    np.testing.assert_array_equal(t.flatten().numpy(), x.reshape(-1))
    np.testing.assert_array_equal(rg.cat([t, t], 0).numpy(), np.concatenate([x, x], 0))
    np.testing.assert_array_equal(rg.stack([t, t], -1).numpy(), np.stack([x, x], -1))
    idx = data.draw(hnp.arrays(np.int64, data.draw(shapes(min_dims=1, max_dims=2)), elements=st.integers(0, x.shape[0] - 1)))
    np.testing.assert_array_equal(t[rg.tensor(idx)].numpy(), x[idx])
    mask = x > 0
    np.testing.assert_array_equal(t[rg.tensor(mask)].numpy(), x[mask])


@SETTINGS
@given(data=st.data())
def test_integer_arithmetic(data):
    shape = data.draw(shapes())
    a = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(-50, 50)))
    b = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(1, 9)))
    ta, tb = rg.tensor(a), rg.tensor(b)
    np.testing.assert_array_equal((ta + tb).numpy(), a + b)
    np.testing.assert_array_equal((ta * tb).numpy(), a * b)
    np.testing.assert_array_equal((ta // tb).numpy(), a // b)
    np.testing.assert_array_equal((ta % tb).numpy(), a % b)
    np.testing.assert_allclose((ta / tb).numpy(), (a / b).astype(np.float32), rtol=1e-6)
