"""cumsum: values against numpy (every dim, strided input, dtypes), gradients by finite differences,
PyTorch's dtype rules and errors, and parity with PyTorch when it is installed."""

import re

import numpy as np
import pytest

import rustgrad as rg
from rustgrad.autograd import gradcheck, gradgradcheck


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 4, 5), (2, 300, 70)])
def test_matches_numpy_every_dim(shape):
    x = np.random.default_rng(0).standard_normal(shape)
    for dim in range(-len(shape), len(shape)):
        np.testing.assert_allclose(rg.tensor(x).cumsum(dim).numpy(), np.cumsum(x, axis=dim), rtol=1e-12,
                                   atol=1e-12)
    # float32 sums in double, as PyTorch's CPU kernel: no drift over long rows.
    x32 = np.full((1, 100_000), 0.1, dtype=np.float32)
    got = rg.tensor(x32).cumsum(1).numpy()[0, -1]
    assert abs(got - 10_000.0) < 1e-2


def test_strided_and_scalar_and_empty():
    x = np.random.default_rng(1).standard_normal((4, 6))
    np.testing.assert_allclose(rg.tensor(x).t().cumsum(1).numpy(), np.cumsum(x.T, axis=1), rtol=1e-12)
    np.testing.assert_allclose(rg.tensor(x)[:, ::2].cumsum(0).numpy(), np.cumsum(x[:, ::2], axis=0), rtol=1e-12)
    assert rg.tensor(2.5).cumsum(0).item() == 2.5
    assert rg.zeros(0, 3).cumsum(0).shape == (0, 3)


def test_dtypes():
    assert rg.tensor([1, 2, 3]).cumsum(0).tolist() == [1, 3, 6]
    assert rg.tensor([1, 2, 3]).cumsum(0).dtype == rg.int64
    b = rg.tensor([True, False, True]).cumsum(0)
    assert b.dtype == rg.int64 and b.tolist() == [1, 1, 2]
    f = rg.cumsum(rg.tensor([1, 2, 3]), 0, dtype=rg.float64)
    assert f.dtype == rg.float64 and f.tolist() == [1.0, 3.0, 6.0]
    big = rg.tensor([2**62, 2**62])
    assert big.cumsum(0).tolist() == [2**62, -(2**63)]  # wraps, as PyTorch


def test_gradients():
    x = rg.tensor(np.random.default_rng(2).standard_normal((3, 4, 5)), requires_grad=True)
    for dim in (0, 1, 2, -1):
        assert gradcheck(lambda t: t.cumsum(dim), (x,))
    assert gradgradcheck(lambda t: t.cumsum(1) * t, (x,))
    g = rg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    g.cumsum(0).sum().backward()
    assert g.grad.tolist() == [3.0, 2.0, 1.0]


def test_errors():
    with pytest.raises(IndexError, match=re.escape(
            "Dimension out of range (expected to be in range of [-1, 0], but got 1)")):
        rg.ones(3).cumsum(1)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).standard_normal((3, 7, 5))
    for dtype in ("float32", "float64"):
        for dim in (0, 1, -1):
            out = []
            for lib in (rg, torch):
                t = lib.tensor(x.astype(dtype), requires_grad=True)
                y = t.cumsum(dim)
                (y * y).sum().backward()
                out.append((y.detach().numpy(), t.grad.numpy()))
            tol = 1e-5 if dtype == "float32" else 1e-12
            for a, b in zip(*out):
                np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
