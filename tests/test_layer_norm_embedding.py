"""layer_norm / nn.LayerNorm and embedding / nn.Embedding: values against numpy, gradients by finite
differences, PyTorch's errors, and parity with PyTorch when it is installed."""

import re

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn.functional as F
from rustgrad.autograd import gradcheck, gradgradcheck


def np_layer_norm(x, k, w=None, b=None, eps=1e-5):
    axes = tuple(range(x.ndim - k, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


LN_CASES = [((4, 6), (6,)), ((2, 3, 4, 5), (4, 5)), ((3, 7), (3, 7)), ((5, 1), (1,)), ((1000, 33), (33,)),
            ((2, 40, 500), (500,))]


@pytest.mark.parametrize("shape,ns", LN_CASES)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_matches_numpy(shape, ns, affine):
    x, w, b = rand(*shape), rand(*ns, seed=1), rand(*ns, seed=2)
    y = F.layer_norm(rg.tensor(x), ns, rg.tensor(w) if affine else None, rg.tensor(b) if affine else None)
    expected = np_layer_norm(x, len(ns), w if affine else None, b if affine else None)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape,ns", LN_CASES[:4])
def test_layer_norm_gradients(shape, ns):
    x = rg.tensor(rand(*shape), requires_grad=True)
    w = rg.tensor(rand(*ns, seed=1), requires_grad=True)
    b = rg.tensor(rand(*ns, seed=2), requires_grad=True)
    fn = lambda x, w, b: F.layer_norm(x, ns, w, b, 1e-3)  # noqa: E731
    assert gradcheck(fn, (x, w, b))
    assert gradgradcheck(fn, (x, w, b))
    assert gradcheck(lambda x: F.layer_norm(x, ns), (x,))
    assert gradcheck(lambda x, b: F.layer_norm(x, ns, None, b), (x, b))


def test_layer_norm_backward_matches_formula():
    # The fused backward against the closed form, on a size that runs rows in parallel.
    x, w, g = rand(300, 257), rand(257, seed=1), rand(300, 257, seed=2)
    X, W, B = (rg.tensor(a, requires_grad=True) for a in (x, w, np.zeros(257)))
    (F.layer_norm(X, (257,), W, B) * rg.tensor(g)).sum().backward()
    mean, var = x.mean(1, keepdims=True), x.var(1, keepdims=True)
    invstd = 1 / np.sqrt(var + 1e-5)
    xhat = (x - mean) * invstd
    gw = g * w
    dx = invstd * (gw - gw.mean(1, keepdims=True) - xhat * (gw * xhat).mean(1, keepdims=True))
    np.testing.assert_allclose(X.grad.numpy(), dx, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(W.grad.numpy(), (g * xhat).sum(0), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(B.grad.numpy(), g.sum(0), rtol=1e-12, atol=1e-10)


def test_layer_norm_float32_and_thread_count():
    x = rand(64, 40, 300)
    ref = np_layer_norm(x, 1)
    results = []
    for threads in (1, 2):
        old = rg.get_num_threads()
        rg.set_num_threads(threads)
        try:
            X = rg.tensor(x.astype(np.float32), requires_grad=True)
            W = rg.ones(300, requires_grad=True)
            F.layer_norm(X, (300,), W).square().sum().backward()
            results.append((X.grad.numpy(), W.grad.numpy()))
            np.testing.assert_allclose(F.layer_norm(X, (300,)).detach().numpy(), ref, rtol=1e-4, atol=1e-5)
        finally:
            rg.set_num_threads(old)
    # The weight gradient's partial sums do not depend on the thread count.
    np.testing.assert_array_equal(results[0][1], results[1][1])
    np.testing.assert_array_equal(results[0][0], results[1][0])


def test_layer_norm_empty_and_non_contiguous():
    assert F.layer_norm(rg.randn(0, 3), (3,)).shape == (0, 3)
    assert F.layer_norm(rg.randn(2, 0), (0,)).shape == (2, 0)
    x = rand(5, 7)
    y = F.layer_norm(rg.tensor(x).t(), (5,))
    np.testing.assert_allclose(y.numpy(), np_layer_norm(x.T, 1), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("call,exc,msg", [
    (lambda: F.layer_norm(rg.randn(4, 6), (5,)), RuntimeError,
     "Given normalized_shape=[5], expected input with shape [*, 5], but got input of size[4, 6]"),
    (lambda: F.layer_norm(rg.randn(4, 6), (2, 6)), RuntimeError,
     "Given normalized_shape=[2, 6], expected input with shape [*, 2, 6], but got input of size[4, 6]"),
    (lambda: F.layer_norm(rg.randn(4, 6), (6,), weight=rg.ones(5)), RuntimeError,
     "Expected weight to be of same shape as normalized_shape, but got weight of shape [5] and "
     "normalized_shape = [6]"),
    (lambda: F.layer_norm(rg.randn(4, 6), (6,), bias=rg.ones(5)), RuntimeError,
     "Expected bias to be of same shape as normalized_shape, but got bias of shape [5] and normalized_shape = [6]"),
    (lambda: F.layer_norm(rg.randn(4, 6), ()), RuntimeError,
     "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one element, but got "
     "normalized_shape = []"),
    (lambda: F.layer_norm(rg.ones(4, 6).long(), (6,)), NotImplementedError,
     "\"LayerNormKernelImpl\" not implemented for 'Long'"),
    (lambda: F.layer_norm(rg.randn(4, 6), 6), TypeError,
     "layer_norm(): argument 'normalized_shape' (position 2) must be tuple of ints, not int"),
])
def test_layer_norm_errors(call, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)):
        call()


def test_layer_norm_module():
    m = rg.nn.LayerNorm(5)
    assert repr(m) == "LayerNorm((5,), eps=1e-05, elementwise_affine=True, bias=True)"
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    assert m.weight.tolist() == [1.0] * 5 and m.bias.tolist() == [0.0] * 5
    plain = rg.nn.LayerNorm((2, 3), elementwise_affine=False, bias=False)
    assert repr(plain) == "LayerNorm((2, 3), eps=1e-05, elementwise_affine=False, bias=False)"
    assert list(plain.parameters()) == [] and plain.weight is None
    assert list(rg.nn.LayerNorm(4, bias=False).state_dict()) == ["weight"]
    x = rg.randn(3, 5)
    with rg.no_grad():
        m.weight.mul_(2.0)
    np.testing.assert_allclose(m(x).detach().numpy(), 2 * np_layer_norm(x.numpy(), 1), rtol=1e-5, atol=1e-5)


# ----- embedding --------------------------------------------------------------------------------

def test_embedding_rows_and_gradient():
    w = rand(6, 4)
    idx = np.array([[0, 2, 2], [5, 1, 0]])
    W = rg.tensor(w, requires_grad=True)
    out = F.embedding(rg.tensor(idx), W)
    np.testing.assert_array_equal(out.detach().numpy(), w[idx])
    g = rand(2, 3, 4, seed=3)
    (out * rg.tensor(g)).sum().backward()
    expected = np.zeros_like(w)
    np.add.at(expected, idx.reshape(-1), g.reshape(-1, 4))
    np.testing.assert_allclose(W.grad.numpy(), expected, rtol=1e-12)
    assert gradcheck(lambda w: F.embedding(rg.tensor(idx), w), (rg.tensor(w, requires_grad=True),))


@pytest.mark.parametrize("padding_idx", [2, -4])
def test_embedding_padding_row_gets_no_gradient(padding_idx):
    W = rg.tensor(rand(6, 3), requires_grad=True)
    F.embedding(rg.tensor([[2, 1], [2, 2]]), W, padding_idx=padding_idx).sum().backward()
    grad = W.grad.numpy()
    assert grad[2].tolist() == [0.0, 0.0, 0.0]
    assert grad[1].tolist() == [1.0, 1.0, 1.0]


def test_embedding_module():
    e = rg.nn.Embedding(10, 3, padding_idx=0)
    assert repr(e) == "Embedding(10, 3, padding_idx=0)"
    assert e.weight.shape == (10, 3) and e.weight[0].tolist() == [0.0, 0.0, 0.0]
    assert e(rg.tensor([1, 0])).shape == (2, 3)
    assert rg.nn.Embedding(5, 2, padding_idx=-1).padding_idx == 4
    pre = rg.nn.Embedding.from_pretrained(rg.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert not pre.weight.requires_grad and pre(rg.tensor([1])).tolist() == [[3.0, 4.0]]
    assert rg.nn.Embedding.from_pretrained(rg.ones(2, 2), freeze=False).weight.requires_grad


@pytest.mark.parametrize("call,exc,msg", [
    (lambda: F.embedding(rg.tensor([0, 7]), rg.randn(5, 3)), IndexError, "index out of range in self"),
    (lambda: F.embedding(rg.tensor([-1, 1]), rg.randn(5, 3)), IndexError, "index out of range in self"),
    (lambda: F.embedding(rg.tensor([0.0, 1.0]), rg.randn(5, 3)), RuntimeError,
     "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; but got "
     "torch.FloatTensor instead (while checking arguments for embedding)"),
    (lambda: F.embedding(rg.tensor([0, 1]), rg.randn(5)), RuntimeError, "'weight' must be 2-D"),
    (lambda: F.embedding(rg.tensor([0, 1]), rg.randn(5, 3), padding_idx=5), AssertionError,
     "Padding_idx must be within num_embeddings"),
    (lambda: rg.nn.Embedding(5, 3, padding_idx=-6), AssertionError, "Padding_idx must be within num_embeddings"),
    (lambda: F.embedding([0, 1], rg.randn(5, 3)), TypeError,
     "embedding(): argument 'indices' (position 2) must be Tensor, not list"),
])
def test_embedding_errors(call, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)):
        call()


# ----- PyTorch parity ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape,ns", LN_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_layer_norm_matches_torch(shape, ns, dtype):
    torch = pytest.importorskip("torch")
    x, w, b, g = (rand(*s, seed=i).astype(dtype) for i, s in enumerate([shape, ns, ns, shape]))
    results = []
    for lib in (rg, torch):
        X, W, B = (lib.tensor(a, requires_grad=True) for a in (x, w, b))
        y = lib.nn.functional.layer_norm(X, ns, W, B)
        (y * lib.tensor(g)).sum().backward()
        results.append([t.detach().numpy() for t in (y, X.grad, W.grad, B.grad)])
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == "float32" else dict(rtol=1e-10, atol=1e-10)
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, **tol)


def test_embedding_matches_torch():
    torch = pytest.importorskip("torch")
    w, idx = rand(9, 4), np.random.default_rng(5).integers(0, 9, size=(3, 7))
    results = []
    for lib in (rg, torch):
        W = lib.tensor(w, requires_grad=True)
        out = lib.nn.functional.embedding(lib.tensor(idx), W, padding_idx=3)
        (out * out).sum().backward()
        results.append((out.detach().numpy(), W.grad.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
