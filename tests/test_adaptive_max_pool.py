"""F.adaptive_max_pool1d / adaptive_max_pool2d and nn.AdaptiveMaxPool1d / 2d: values and indices
against PyTorch and a NumPy loop, gradients against PyTorch and finite differences, reprs and
PyTorch's errors."""

import re

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
import rustgrad.nn.functional as F
from rustgrad.autograd import gradcheck

from op_testing import n
from op_testing import seed  # noqa: F401 (an autouse fixture: rg.manual_seed(0) before each test)


@pytest.mark.parametrize("size", [(3, 4), (7, 9), 1, (5, 2), (None, 4), (4, None), 6])
def test_adaptive_max_pool2d_values_indices_grad(size):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 9))
    rx, tx = rg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, idx = F.adaptive_max_pool2d(rx, size, return_indices=True)
    tout, tidx = torch.nn.functional.adaptive_max_pool2d(tx, size, return_indices=True)
    np.testing.assert_array_equal(n(out), tout.detach().numpy())
    np.testing.assert_array_equal(n(idx), tidx.numpy())
    g = np.random.default_rng(2).standard_normal(tuple(out.shape))
    out.backward(rg.tensor(g))
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(n(rx.grad), tx.grad.numpy())


def test_adaptive_max_pool_against_numpy_and_gradcheck():
    x = rg.randn(1, 2, 5, 7, dtype=rg.float64)
    out = F.adaptive_max_pool2d(x, (3, 4))
    expected = np.empty((1, 2, 3, 4))
    for i in range(3):
        for j in range(4):
            h0, h1 = (i * 5) // 3, -(-((i + 1) * 5) // 3)
            w0, w1 = (j * 7) // 4, -(-((j + 1) * 7) // 4)
            expected[..., i, j] = n(x)[..., h0:h1, w0:w1].max((-1, -2))
    np.testing.assert_array_equal(n(out), expected)
    assert gradcheck(lambda t: F.adaptive_max_pool2d(t, (3, 4)), (x.requires_grad_(),))
    y = rg.randn(2, 3, 10, dtype=rg.float64, requires_grad=True)
    o1, i1 = F.adaptive_max_pool1d(y, 4, return_indices=True)
    assert o1.shape == (2, 3, 4)
    np.testing.assert_array_equal(np.take_along_axis(n(y), n(i1), -1), n(o1))
    assert gradcheck(lambda t: F.adaptive_max_pool1d(t, 3), (y,))


def test_adaptive_max_pool_modules():
    torch = pytest.importorskip("torch")
    for ours, theirs in [(nn.AdaptiveMaxPool2d(3), torch.nn.AdaptiveMaxPool2d(3)),
                         (nn.AdaptiveMaxPool2d((3, None), return_indices=True),
                          torch.nn.AdaptiveMaxPool2d((3, None), return_indices=True)),
                         (nn.AdaptiveMaxPool1d(3), torch.nn.AdaptiveMaxPool1d(3))]:
        assert repr(ours) == repr(theirs)
    x = np.random.default_rng(0).standard_normal((3, 6, 5))
    out, idx = nn.AdaptiveMaxPool2d((4, None), return_indices=True)(rg.tensor(x))
    tout, tidx = torch.nn.AdaptiveMaxPool2d((4, None), return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(n(out), tout.numpy())
    np.testing.assert_array_equal(n(idx), tidx.numpy())
    np.testing.assert_array_equal(n(nn.AdaptiveMaxPool1d(2)(rg.tensor(x))),
                                  torch.nn.AdaptiveMaxPool1d(2)(torch.tensor(x)).numpy())


@pytest.mark.parametrize("fn,exc,msg", [
    (lambda: F.adaptive_max_pool2d(rg.zeros(2, 3), 2), RuntimeError,
     "adaptive_max_pool2d(): Expected 3D or 4D tensor, but got: [2, 3]"),
    (lambda: F.adaptive_max_pool2d(rg.zeros(2, 3, 4), (2, 2, 2)), ValueError, "Input dimension should be at least 4"),
    (lambda: F.adaptive_max_pool2d(rg.zeros(2, 0, 4), 2), RuntimeError,
     "adaptive_max_pool2d(): Expected input to have non-zero size for non-batch dimensions, but input has sizes "
     "[2, 0, 4] with dimension 1 being empty"),
    (lambda: F.adaptive_max_pool2d(rg.zeros(2, 3, 4, dtype=rg.int64), 2), NotImplementedError,
     "\"adaptive_max_pool2d\" not implemented for 'Long'"),
    (lambda: F.adaptive_max_pool1d(rg.zeros(2), 2), RuntimeError,
     "Expected 2 to 3 dimensions, but got 1-dimensional tensor for argument #1 'self' (while checking arguments for "
     "adaptive_max_pool1d)"),
    (lambda: F.adaptive_max_pool1d(rg.zeros(2, 3), (2, 2)), RuntimeError,
     "adaptive_max_pool1d() argument 'output_size' should contain one int (got 2)"),
])
def test_adaptive_max_pool_errors(fn, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)):
        fn()
