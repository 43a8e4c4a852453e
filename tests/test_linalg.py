"""rustgrad.linalg.vector_norm / matrix_norm / norm: values against numpy.linalg.norm (float64),
gradients against finite differences, PyTorch parity, errors with PyTorch's words."""

import math
import re

import numpy as np
import pytest

import rustgrad as rg
from rustgrad.autograd import gradcheck

from op_testing import n

INF = math.inf


def r(*shape, grad=True, seed=0):
    a = np.random.default_rng(seed + len(shape)).standard_normal(shape)
    x = rg.tensor(a, dtype=rg.float64)
    return x.requires_grad_() if grad else x


def np_vector_norm(a, ord, axis, keepdims):
    axis = tuple(range(a.ndim)) if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
    x = np.abs(a)
    if ord == INF:
        return x.max(axis=axis, keepdims=keepdims)
    if ord == -INF:
        return x.min(axis=axis, keepdims=keepdims)
    if ord == 0:
        return (x != 0).sum(axis=axis, keepdims=keepdims).astype(a.dtype)
    return (x ** ord).sum(axis=axis, keepdims=keepdims) ** (1.0 / ord)


ORDS = [2, 1, 3, 0.5, 0, INF, -INF, -1]


@pytest.mark.parametrize("ord", ORDS)
@pytest.mark.parametrize("dim,keepdim", [(None, False), (None, True), (1, False), ((0, 2), True), (-1, False)])
def test_vector_norm_values(ord, dim, keepdim):
    x = r(2, 3, 4, grad=False)
    expect = np_vector_norm(n(x), ord, dim, keepdim)
    got = rg.linalg.vector_norm(x, ord, dim, keepdim)
    assert got.shape == expect.shape
    np.testing.assert_allclose(n(got), expect, rtol=1e-12)
    if dim is None and not keepdim and ord not in (0, 0.5, -1, 3):
        np.testing.assert_allclose(n(got), np.linalg.norm(n(x).reshape(-1), ord), rtol=1e-12)


def test_vector_norm_dtype_and_scalar():
    x = r(3, 4, grad=False).float()
    out = rg.linalg.vector_norm(x, dtype=rg.float64)
    assert out.dtype == rg.float64
    np.testing.assert_allclose(out.item(), np.linalg.norm(n(x).astype(np.float64)), rtol=1e-12)
    assert rg.linalg.vector_norm(rg.tensor(-3.0)).item() == 3.0
    assert rg.linalg.vector_norm(rg.zeros(0, 3)).item() == 0.0
    assert rg.linalg.vector_norm(rg.zeros(0, 3), INF, dim=1).shape == (0,)


@pytest.mark.parametrize("ord", [2, 1, 3, INF, -INF, -1.5])
def test_vector_norm_grad(ord):
    assert gradcheck(lambda t: rg.linalg.vector_norm(t, ord, dim=1), (r(3, 4),))
    assert gradcheck(lambda t: rg.linalg.vector_norm(t, ord), (r(2, 3),))


@pytest.mark.parametrize("ord", ["fro", 1, -1, INF, -INF])
@pytest.mark.parametrize("dim", [(-2, -1), (0, 2), (2, 0), (1, 0)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_matrix_norm_values(ord, dim, keepdim):
    x = r(3, 4, 5, grad=False)
    expect = np.linalg.norm(n(x), ord, axis=dim, keepdims=keepdim)
    got = rg.linalg.matrix_norm(x, ord, dim, keepdim)
    assert got.shape == expect.shape
    np.testing.assert_allclose(n(got), expect, rtol=1e-12)


@pytest.mark.parametrize("ord", ["fro", 1, -1, INF, -INF])
def test_matrix_norm_grad(ord):
    assert gradcheck(lambda t: rg.linalg.matrix_norm(t, ord), (r(2, 3, 4),))
    assert gradcheck(lambda t: rg.linalg.norm(t, ord), (r(4, 3),))


@pytest.mark.parametrize("ord,dim,shape", [
    (None, None, (3, 4, 2)), (None, None, (5,)), (2, None, (5,)), (INF, None, (5,)), ("fro", None, (3, 4)),
    (1, None, (3, 4)), (-INF, None, (3, 4)), (None, 1, (3, 4)), (3, (0,), (3, 4)), (None, (0, 1), (3, 4, 2)),
    (INF, (2, 0), (3, 4, 2)), ("fro", (1, 2), (3, 4, 2)),
])
def test_norm_dispatch(ord, dim, shape):
    x = r(*shape, grad=False)
    a = n(x)
    got = rg.linalg.norm(x, ord, dim)
    if dim is None and ord is None:
        expect = np.linalg.norm(a.reshape(-1))
    else:
        expect = np.linalg.norm(a, ord, axis=dim)
    np.testing.assert_allclose(n(got), expect, rtol=1e-12)
    np.testing.assert_allclose(n(rg.linalg.norm(x, ord, dim, keepdim=True)),
                               np.linalg.norm(a.reshape(-1), keepdims=True).reshape([1] * a.ndim)
                               if dim is None and ord is None else np.linalg.norm(a, ord, axis=dim, keepdims=True),
                               rtol=1e-12)


@pytest.mark.parametrize("call,exc,msg", [
    (lambda A: rg.linalg.vector_norm(A, ord="fro"), TypeError, "linalg_vector_norm(): argument 'ord' must be Number, not str"),
    (lambda A: rg.linalg.vector_norm(rg.tensor([1, 2])), NotImplementedError,
     "linalg.vector_norm: Expected a floating point or complex tensor as input. Got Long"),
    (lambda A: rg.linalg.vector_norm(A, dtype=rg.long), RuntimeError,
     "linalg.vector_norm: dtype should be floating point or complex, but got Long"),
    (lambda A: rg.linalg.vector_norm(rg.zeros(0, 3), ord=INF), RuntimeError,
     "linalg.vector_norm cannot compute the inf norm on an empty tensor because the operation does not have an identity"),
    (lambda A: rg.linalg.vector_norm(rg.zeros(0, 3), ord=-1), RuntimeError,
     "linalg.vector_norm cannot compute the -1 norm on an empty tensor because the operation does not have an identity"),
    (lambda A: rg.linalg.vector_norm(A, dim=(0, 0)), RuntimeError, "dim 0 appears multiple times in the list of dims"),
    (lambda A: rg.linalg.vector_norm(A, dim=2), IndexError,
     "Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    (lambda A: rg.linalg.matrix_norm(A, ord=3), RuntimeError, "linalg.matrix_norm: Order 3 not supported."),
    (lambda A: rg.linalg.matrix_norm(A, ord="foo"), RuntimeError, "linalg.matrix_norm: Order foo not supported."),
    (lambda A: rg.linalg.matrix_norm(rg.randn(3)), RuntimeError,
     "linalg.matrix_norm: The input tensor A must have at least 2 dimensions."),
    (lambda A: rg.linalg.matrix_norm(A, dim=(0, 0)), RuntimeError, "linalg.matrix_norm: dims must be different. Got (0, 0)"),
    (lambda A: rg.linalg.norm(A, ord=3), RuntimeError, "linalg.matrix_norm: Order 3 not supported."),
    (lambda A: rg.linalg.norm(rg.randn(2, 3, 4), ord=2), RuntimeError,
     "linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got 3D."),
    (lambda A: rg.linalg.norm(rg.randn(2, 3, 4), ord="fro"), RuntimeError,
     "linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got 3D."),
    (lambda A: rg.linalg.norm(rg.randn(2, 3, 4), dim=(0, 1, 2)), RuntimeError,
     "linalg.norm: If dim is specified, it must be of length 1 or 2. Got [0, 1, 2]"),
    (lambda A: rg.linalg.norm(rg.randn(3), ord="fro"), RuntimeError,
     "linalg.matrix_norm: The input tensor A must have at least 2 dimensions."),
])
def test_errors(call, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)):
        call(rg.randn(3, 4))


@pytest.mark.parametrize("ord", ["nuc", 2, -2])
def test_svd_norms_not_implemented(ord):
    with pytest.raises(NotImplementedError, match="SVD"):
        rg.linalg.matrix_norm(rg.randn(3, 4), ord)


def test_torch_parity():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(11).standard_normal((3, 4, 5))
    ops = [
        lambda m, t: m.linalg.vector_norm(t),
        lambda m, t: m.linalg.vector_norm(t, 1, dim=(0, 2), keepdim=True),
        lambda m, t: m.linalg.vector_norm(t, INF, dim=-1),
        lambda m, t: m.linalg.vector_norm(t, -INF, dim=0),
        lambda m, t: m.linalg.vector_norm(t, 0, dim=1),
        lambda m, t: m.linalg.vector_norm(t, 3.5),
        lambda m, t: m.linalg.vector_norm(t, -2, dim=2),
        lambda m, t: m.linalg.matrix_norm(t),
        lambda m, t: m.linalg.matrix_norm(t, 1, dim=(0, 2), keepdim=True),
        lambda m, t: m.linalg.matrix_norm(t, -1),
        lambda m, t: m.linalg.matrix_norm(t, INF, dim=(2, 1)),
        lambda m, t: m.linalg.matrix_norm(t, -INF),
        lambda m, t: m.linalg.norm(t),
        lambda m, t: m.linalg.norm(t[0], INF),
        lambda m, t: m.linalg.norm(t[0, 0], 1),
        lambda m, t: m.linalg.norm(t, 1, dim=(1, 2)),
        lambda m, t: m.linalg.norm(t, dim=1, keepdim=True),
    ]
    for op in ops:
        x = rg.tensor(a, requires_grad=True)
        y = torch.tensor(a, requires_grad=True)
        rx, ry = op(rg, x), op(torch, y)
        np.testing.assert_allclose(n(rx), ry.detach().numpy(), rtol=1e-12)
        w = np.random.default_rng(2).standard_normal(ry.shape)
        (rx * rg.tensor(w)).sum().backward()
        (ry * torch.tensor(w)).sum().backward()
        if y.grad is None:  # ord=0: PyTorch leaves the gradient undefined, rustgrad gives zeros
            assert not n(x.grad).any()
            continue
        np.testing.assert_allclose(n(x.grad), y.grad.numpy(), rtol=1e-10, atol=1e-12)
    x32 = np.random.default_rng(3).standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_allclose(n(rg.linalg.norm(rg.tensor(x32), dtype=rg.float64)),
                               torch.linalg.norm(torch.tensor(x32), dtype=torch.float64).numpy(), rtol=1e-12)
