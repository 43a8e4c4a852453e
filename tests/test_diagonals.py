"""Diagonals and triangles: diag, diagonal, diag_embed, trace, tril / triu: values against NumPy
(float64; diag_embed against PyTorch), gradients against finite differences, dtypes and in-place
forms, PyTorch's errors, and (when torch is installed) values and gradients against PyTorch."""

import math
import re
from functools import partial

import numpy as np
import pytest

import rustgrad as rg
from rustgrad.autograd import gradcheck

from op_testing import r, n, random_array, t64, close, check_parity, check_parity_case
from op_testing import seed  # noqa: F401 (an autouse fixture: rg.manual_seed(0) before each test)


RNG = np.random.default_rng(0)  # this module's own stream (arr, and the parity cotangents)
arr = partial(random_array, RNG)
_check_parity = partial(check_parity, rng=RNG)


# ----- diag, diagonal, diag_embed, trace ----------------------------------------------------------

@pytest.mark.parametrize("k", [-2, -1, 0, 1, 3, 5])
def test_diag(k):
    m, v = r(3, 4), r(3)
    np.testing.assert_array_equal(n(rg.diag(m, k)), np.diag(n(m), k))
    np.testing.assert_array_equal(n(v.diag(k)), np.diag(n(v), k))
    assert gradcheck(lambda x: rg.diag(x, k), (v,))
    if np.diag(n(m), k).size:
        assert gradcheck(lambda x: x.diag(k), (m,))


@pytest.mark.parametrize("offset,d1,d2", [(0, 0, 1), (1, 1, 3), (-1, -1, 0), (2, 3, 2), (-2, 2, 1)])
def test_diagonal(offset, d1, d2):
    x = r(2, 3, 4, 5)
    np.testing.assert_array_equal(n(rg.diagonal(x, offset, d1, d2)), np.diagonal(n(x), offset, d1, d2))
    assert gradcheck(lambda t: t.diagonal(offset, d1, d2), (x,))


def test_diag_embed_and_trace():
    torch = pytest.importorskip("torch")
    x = r(2, 3)
    for args in [(0, -2, -1), (1, 0, 2), (-1, 2, 0), (2, 1, 0)]:
        np.testing.assert_array_equal(n(rg.diag_embed(x, *args)), torch.diag_embed(torch.from_numpy(n(x)), *args))
        assert gradcheck(lambda t: t.diag_embed(*args), (x,))
    m = r(3, 4)
    assert rg.trace(m).item() == pytest.approx(np.trace(n(m)))
    assert gradcheck(rg.trace, (m,))
    t = rg.trace(rg.tensor([[1, 2], [3, 4]]))
    assert t.dtype == rg.int64 and t.item() == 5


@pytest.mark.parametrize("fn,msg,exc", [
    (lambda: rg.diag(rg.zeros(2, 3, 4)), "diag(): Supports 1D or 2D tensors. Got 3D", RuntimeError),
    (lambda: rg.diagonal(rg.zeros(2, 3), 0, 1, 1), "diagonal dimensions cannot be identical 1, 1", RuntimeError),
    (lambda: rg.diagonal(rg.zeros(2, 3), 0, 0, 2),
     "Dimension out of range (expected to be in range of [-2, 1], but got 2)", IndexError),
    (lambda: rg.diag_embed(rg.zeros(2, 3), 0, 1, 1), "diagonal dimensions cannot be identical 1, 1", RuntimeError),
    (lambda: rg.trace(rg.zeros(3)), "trace: expected a matrix, but got tensor with dim 1", RuntimeError),
])
def test_diagonal_op_errors(fn, msg, exc):
    with pytest.raises(exc, match=re.escape(msg)):
        fn()


# ----- tril and triu ------------------------------------------------------------------------------

@pytest.mark.parametrize("diagonal", [0, 1, -1, 3, -4, 10])
@pytest.mark.parametrize("shape", [(3, 4), (4, 3), (2, 3, 3), (2, 1, 3, 5), (2, 0, 3)])
def test_tril_triu_values(diagonal, shape):
    x = arr(*shape)
    close(rg.tril(t64(x), diagonal), np.tril(x, diagonal))
    close(rg.triu(t64(x), diagonal), np.triu(x, diagonal))
    close(t64(x).tril(diagonal=diagonal), np.tril(x, diagonal))
    close(t64(x).triu(diagonal), np.triu(x, diagonal))


@pytest.mark.parametrize("name", ["tril", "triu"])
def test_tril_triu_gradcheck_dtypes_and_inplace(name):
    ref = getattr(np, name)
    assert gradcheck(lambda t: getattr(rg, name)(t, 1), (t64(arr(2, 3, 4), True),))
    ints = rg.tensor(np.arange(12).reshape(3, 4))
    out = getattr(ints, name)(-1)
    assert out.dtype == rg.int64 and out.tolist() == ref(np.arange(12).reshape(3, 4), -1).tolist()
    bools = getattr(rg.ones(3, 3, dtype=rg.bool), name)()
    assert bools.dtype == rg.bool and bools.tolist() == ref(np.ones((3, 3), dtype=bool)).tolist()
    nan = getattr(rg.full((2, 2), math.nan), name)()
    assert np.isnan(nan.numpy()).sum() == 3  # zeros replace the NaNs off the triangle
    x = t64(arr(3, 3))
    expected = ref(x.numpy(), 1)
    assert getattr(x, name + "_")(1) is x
    close(x, expected)


@pytest.mark.parametrize("name", ["tril", "triu"])
def test_tril_triu_errors(name):
    with pytest.raises(RuntimeError, match=re.escape(f"{name}: input tensor must have at least 2 dimensions")):
        getattr(rg, name)(rg.randn(3))
    with pytest.raises(RuntimeError, match=re.escape(f"{name}: input tensor must have at least 2 dimensions")):
        getattr(rg.tensor(1.0), name)()
    with pytest.raises(TypeError, match=re.escape(f"{name}(): argument 'diagonal' (position 2) must be int, not "
                                                  "float")):
        getattr(rg, name)(rg.randn(3, 4), 1.5)
    with pytest.raises(TypeError, match=re.escape(f"{name}(): argument 'diagonal' (position 1) must be int, not "
                                                  "bool")):
        getattr(rg.randn(3, 4), name)(True)
    with pytest.raises(TypeError, match=re.escape(f"{name}_(): argument 'diagonal' must be int, not str")):
        getattr(rg.randn(3, 4), name + "_")(diagonal="1")
    # A 0-dim integer tensor is accepted as the diagonal.
    assert getattr(rg, name)(rg.ones(2, 2), rg.tensor(1)).tolist() == getattr(np, name)(np.ones((2, 2)), 1).tolist()


# ----- PyTorch parity -----------------------------------------------------------------------------

PARITY = {
    "diag": (lambda m, a: m.diag(a, -1), [(4, 3)]),
    "diag_vec": (lambda m, a: m.diag(a, 2), [(3,)]),
    "diagonal": (lambda m, a: m.diagonal(a, 1, 2, 0), [(3, 2, 4)]),
    "diag_embed": (lambda m, a: m.diag_embed(a, -1, 0, 2), [(2, 3)]),
    "trace": (lambda m, a: m.trace(a), [(3, 4)]),
}


@pytest.mark.parametrize("name", sorted(PARITY))
def test_torch_parity(name):
    check_parity_case(PARITY, name)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_parity_tril_triu(dtype):
    torch = pytest.importorskip("torch")
    for d in (0, 1, -2):
        _check_parity(torch, lambda x: rg.tril(x, d), lambda x: torch.tril(x, d), arr(2, 3, 4), dtype=dtype)
        _check_parity(torch, lambda x: rg.triu(x, d), lambda x: torch.triu(x, d), arr(2, 3, 4), dtype=dtype)


def test_torch_parity_error_messages():
    """The same bad calls in both libraries raise the same type with the same message."""
    torch = pytest.importorskip("torch")
    cases = [
        lambda m: m.tril(m.randn(3)),
        lambda m: m.triu(m.randn(3, 4), 1.5),
        lambda m: m.randn(3, 4).tril(diagonal=0.5),
        lambda m: m.randn(3, 4).triu_(2.0),
    ]
    for case in cases:
        with pytest.raises(Exception) as expected:
            case(torch)
        with pytest.raises(type(expected.value), match=re.escape(str(expected.value))):
            case(rg)
