"""Gradients at the points where a formula alone goes wrong: norms at zero vectors and zero
elements, products with zeros, and clamp-like functions at their bounds. PyTorch's values."""

import re

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn.functional as F
from rustgrad.autograd import gradcheck, gradgradcheck

ROWS = [[0.0, 0.0, 0.0], [1.0, -2.0, 0.0], [2.0, -2.0, 1.0]]


def grad_of(f, values):
    x = rg.tensor(values, dtype=rg.float64, requires_grad=True)
    (g,) = rg.autograd.grad(f(x).sum(), x)
    return np.array(g.tolist())


def np_norm_grad(x, p):
    """PyTorch's vector-norm gradient, row by row, written out."""
    out = np.zeros_like(x)
    for i, row in enumerate(x):
        a = np.abs(row)
        if p == 1:
            out[i] = np.sign(row)
        elif np.isinf(p):
            n = a.max() if p > 0 else a.min()
            if n == 0:
                continue
            at = a == n
            out[i] = np.sign(row) * at / at.sum()
        else:
            n = (a ** p).sum() ** (1 / p) if (p > 0 or (a > 0).all()) else 0.0
            if n == 0:
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                out[i] = np.where(a == 0, 0.0, row * np.abs(row) ** (p - 2) / n ** (p - 1))
    return out


@pytest.mark.parametrize("p", [1, 2, 3, 0.5, -1, float("inf"), float("-inf")])
def test_norm_gradient_at_zeros(p):
    g = grad_of(lambda x: x.norm(p, dim=1), ROWS)
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g, np_norm_grad(np.array(ROWS), p), rtol=1e-12, atol=1e-15)


def test_norm_values_and_p0():
    x = rg.tensor(ROWS, dtype=rg.float64)
    np.testing.assert_allclose(x.norm(0, dim=1).tolist(), [0.0, 2.0, 3.0])
    np.testing.assert_allclose(x.norm(float("-inf"), dim=1).tolist(), [0.0, 0.0, 1.0])
    np.testing.assert_allclose(x.norm(0.5, dim=1).tolist(), [0.0, (1 + 2 ** 0.5) ** 2, (2 * 2 ** 0.5 + 1) ** 2])
    # p=0 counts: no gradient flows (PyTorch's output does not require grad).
    assert not rg.tensor([1.0, 2.0], requires_grad=True).norm(0).requires_grad
    with pytest.raises(NotImplementedError, match=re.escape(
            "linalg.vector_norm: Expected a floating point or complex tensor as input. Got Long")):
        rg.tensor([1, 2]).norm()


@pytest.mark.parametrize("p", [2, 3, 1.5, float("inf")])
def test_norm_finite_differences(p):
    x = rg.tensor([[0.3, -1.2, 2.0], [1.5, 0.7, -0.4]], dtype=rg.float64, requires_grad=True)
    assert gradcheck(lambda x: x.norm(p, dim=1), (x,))
    if not np.isinf(p):
        assert gradgradcheck(lambda x: x.norm(p, dim=1), (x,))


def test_prod_gradient_with_zeros():
    x = [[2.0, 0.0, 3.0], [0.0, 0.0, 1.0], [1.0, 2.0, 3.0]]
    np.testing.assert_array_equal(grad_of(lambda t: t.prod(1), x), [[0, 6, 0], [0, 0, 0], [6, 3, 2]])
    np.testing.assert_array_equal(grad_of(lambda t: t.prod(), [[2.0, 0.0], [3.0, 4.0]]), [[0, 24], [0, 0]])
    np.testing.assert_array_equal(grad_of(lambda t: t.prod(), x), np.zeros((3, 3)))
    y = rg.tensor([[0.5, 0.0, 3.0], [1.5, -2.0, 0.7]], dtype=rg.float64, requires_grad=True)
    assert gradcheck(lambda t: t.prod(1), (y,))
    assert gradgradcheck(lambda t: t.prod(1), (y,))


X = [-1.0, 0.0, 1.0, 6.0, 3.0, -2.0, 7.0]


@pytest.mark.parametrize("f,expected", [
    (lambda x: F.hardtanh(x), [0, 1, 0, 0, 0, 0, 0]),
    (lambda x: F.relu6(x), [0, 0, 1, 0, 1, 0, 0]),
    (lambda x: x.clamp(-1, 1), [0, 1, 0, 0, 0, 0, 0]),
    (lambda x: x.clamp(min=-1), [0, 1, 1, 1, 1, 0, 1]),
    (lambda x: x.clamp(max=1), [1, 1, 0, 0, 0, 1, 0]),
    (lambda x: x.clamp_min(0), [0, 0, 1, 1, 1, 0, 1]),
    (lambda x: F.relu(x), [0, 0, 1, 1, 1, 0, 1]),
])
def test_clamp_gradient_is_zero_at_the_bounds(f, expected):
    np.testing.assert_array_equal(grad_of(f, X), expected)
    # The fused kernel and the differentiable form (create_graph) agree.
    x = rg.tensor(X, dtype=rg.float64, requires_grad=True)
    (g,) = rg.autograd.grad(f(x).sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.detach().numpy(), expected)


def test_edges_match_torch():
    torch = pytest.importorskip("torch")
    cases = [lambda m, x: x.norm(p, dim=1) for p in (1, 2, 3, 0.5, -1, float("inf"), float("-inf"))]
    cases += [lambda m, x: x.prod(1), lambda m, x: m.nn.functional.hardtanh(x),
              lambda m, x: m.nn.functional.relu6(x * 3), lambda m, x: x.clamp(-1, 1)]
    for f in cases:
        grads = []
        for m in (rg, torch):
            x = m.tensor(ROWS + [[1.0, -1.0, 6.0]], dtype=m.float64, requires_grad=True)
            (g,) = m.autograd.grad(f(m, x).sum(), x)
            grads.append(np.array(g.tolist()))
        np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("op", ["remainder", "fmod"])
def test_remainder_and_fmod_gradients(op):
    # Away from the jumps (a / b not an integer) both are smooth: d/da = 1, d/db = -q(a / b).
    a = rg.tensor([5.5, -3.2, 7.3, -0.4], dtype=rg.float64, requires_grad=True)
    b = rg.tensor([2.1, 2.3, -3.1, 0.7], dtype=rg.float64, requires_grad=True)
    assert gradcheck(lambda a, b: getattr(a, op)(b), (a, b))
    ga, gb = rg.autograd.grad(getattr(a, op)(b).sum(), [a, b])
    q = np.floor if op == "remainder" else np.trunc
    np.testing.assert_array_equal(ga.tolist(), [1.0] * 4)
    np.testing.assert_allclose(gb.tolist(), -q(np.array(a.tolist()) / np.array(b.tolist())), rtol=1e-15)
    expected = np.fmod if op == "fmod" else np.remainder
    np.testing.assert_allclose(getattr(a, op)(b).tolist(), expected(a.tolist(), b.tolist()), rtol=1e-15)
    ints = rg.tensor([5, -5, 7, -7])
    assert getattr(ints, op)(3).tolist() == expected([5, -5, 7, -7], 3).tolist()
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        getattr(ints, op)(0)
