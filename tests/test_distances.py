"""Distances: F.cosine_similarity, F.pairwise_distance and their modules, rustgrad.cdist: values
against NumPy in float64 (zero vectors, eps, every p), gradients against finite differences,
PyTorch's errors word for word, the modules against their functionals, reprs, and (when torch is
installed) values and gradients against PyTorch."""

import math
import re
from functools import partial

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
import rustgrad.nn.functional as F
from rustgrad.autograd import gradcheck

from op_testing import r, n, random_array, t64, close, check_parity, check_parity_case
from op_testing import seed  # noqa: F401 (an autouse fixture: rg.manual_seed(0) before each test)


RNG = np.random.default_rng(0)  # this module's own stream (arr, and the parity cotangents)
arr = partial(random_array, RNG)
_check_parity = partial(check_parity, rng=RNG)


# ----- cosine_similarity and pairwise_distance ----------------------------------------------------

def np_cosine(a, b, dim, eps):
    a, b = np.broadcast_arrays(a, b)
    na = np.maximum(np.sqrt((a * a).sum(dim, keepdims=True)), eps)
    nb = np.maximum(np.sqrt((b * b).sum(dim, keepdims=True)), eps)
    return ((a / na) * (b / nb)).sum(dim)


@pytest.mark.parametrize("shapes,dim", [(((4, 5), (4, 5)), 1), (((4, 5), (5,)), -1), (((2, 3, 4), (3, 1)), 0),
                                        (((5,), (5,)), 0)])
def test_cosine_similarity_values_and_gradcheck(shapes, dim):
    a, b = arr(*shapes[0]), arr(*shapes[1])
    close(F.cosine_similarity(t64(a), t64(b), dim), np_cosine(a, b, dim, 1e-8))
    assert gradcheck(lambda x, y: F.cosine_similarity(x, y, dim), (t64(a, True), t64(b, True)))


def test_cosine_similarity_zero_vector_and_eps():
    a = arr(3, 4)
    a[1] = 0
    b = arr(3, 4)
    close(F.cosine_similarity(t64(a), t64(b)), np_cosine(a, b, 1, 1e-8))
    close(F.cosine_similarity(t64(a), t64(b), eps=10.0), np_cosine(a, b, 1, 10.0))
    # A zero row: the norm's gradient is 0 there (no nan), as PyTorch's.
    x = t64(a, True)
    F.cosine_similarity(x, t64(b)).sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    close(x.grad[1], b[1] / np.linalg.norm(b[1]) / 1e-8, atol=1e-6)


def test_cosine_similarity_errors_and_dtypes():
    with pytest.raises(RuntimeError, match=re.escape("The size of tensor a (3) must match the size of tensor b (2) "
                                                     "at non-singleton dimension 0")):
        F.cosine_similarity(rg.randn(3, 4), rg.randn(2, 4))
    with pytest.raises(IndexError, match=re.escape("Dimension out of range (expected to be in range of [-2, 1], "
                                                   "but got 2)")):
        F.cosine_similarity(rg.randn(3, 4), rg.randn(3, 4), dim=2)
    with pytest.raises(RuntimeError, match=re.escape("expected common dtype to be floating point, yet common dtype "
                                                     "is Long")):
        F.cosine_similarity(rg.tensor([1, 2]), rg.tensor([1, 2]), dim=0)
    out = F.cosine_similarity(rg.tensor([1, 2]), rg.tensor([1.0, 2.0]), dim=0)
    assert out.dtype == rg.float32 and abs(out.item() - 1.0) < 1e-6


def np_pairwise(a, b, p, eps, keepdim):
    d = np.abs(a - b + eps)
    axis = max(np.ndim(a), np.ndim(b)) - 1
    if p == math.inf:
        r = d.max(axis, keepdims=True)
    elif p == -math.inf:
        r = d.min(axis, keepdims=True)
    elif p == 0:
        r = (d != 0).sum(axis, keepdims=True).astype(np.float64)
    else:
        r = (d ** p).sum(axis, keepdims=True) ** (1 / p)
    return r if keepdim else r.squeeze(axis)


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 0.5, -1.0, math.inf, -math.inf, 0.0])
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance_values(p, keepdim):
    a, b = arr(4, 5), arr(4, 5)
    close(F.pairwise_distance(t64(a), t64(b), p=p, keepdim=keepdim), np_pairwise(a, b, p, 1e-6, keepdim))
    close(F.pairwise_distance(t64(a), t64(b[0]), p=p, eps=0.1), np_pairwise(a, b[0], p, 0.1, False))


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, -1.0, math.inf])
def test_pairwise_distance_gradcheck(p):
    assert gradcheck(lambda x, y: F.pairwise_distance(x, y, p), (t64(arr(3, 4), True), t64(arr(4), True)))


def test_pairwise_distance_shapes_and_errors():
    assert F.pairwise_distance(rg.randn(4), rg.randn(4)).shape == ()
    assert F.pairwise_distance(rg.tensor(1.0), rg.tensor(3.0)).shape == ()
    assert F.pairwise_distance(rg.randn(3, 4), rg.randn(3, 4), keepdim=True).shape == (3, 1)
    assert F.pairwise_distance(rg.tensor([1, 2]), rg.tensor([1, 3])).dtype == rg.float32
    with pytest.raises(RuntimeError, match=re.escape("The size of tensor a (3) must match the size of tensor b (2) "
                                                     "at non-singleton dimension 0")):
        F.pairwise_distance(rg.randn(3, 4), rg.randn(2, 4))


# ----- cdist --------------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.0, 0.5, 1.0, 2.0, 3.0, math.inf])
def test_cdist(p):
    a, b = r(2, 5, 3), r(4, 3)
    expected = (np.abs(n(a)[:, :, None, :] - n(b)[None, None, :, :]) ** p).sum(-1) ** (1 / p) if p not in (
        0, math.inf) else None
    d = np.abs(n(a)[:, :, None, :] - n(b)[None, None, :, :])
    if p == 0:
        expected = (d != 0).sum(-1)
    elif p == math.inf:
        expected = d.max(-1)
    out = rg.cdist(a, b, p)
    assert out.shape == (2, 5, 4)
    np.testing.assert_allclose(n(out), expected, rtol=1e-12)
    if p >= 1:
        assert gradcheck(lambda x, y: rg.cdist(x, y, p), (a, b))


def test_cdist_zero_distance_gradient_is_zero():
    x = r(3, 2)
    out = rg.cdist(x, x.detach())
    out.sum().backward()
    assert not x.grad.isnan().any()
    np.testing.assert_allclose(n(out.diagonal()), 0)


@pytest.mark.parametrize("a,b,kw,msg", [
    ((3,), (3,), {}, "cdist only supports at least 2D tensors, X1 got: 1D"),
    ((3, 4), (3, 5), {}, "X1 and X2 must have the same number of columns. X1: 4 X2: 5"),
    ((3, 4), (3, 4), {"p": -1}, "cdist only supports non-negative p values"),
    ((2, 3, 4), (3, 3, 4), {}, "The size of tensor a (2) must match the size of tensor b (3) at non-singleton "
                               "dimension 0"),
])
def test_cdist_errors(a, b, kw, msg):
    with pytest.raises(RuntimeError, match=re.escape(msg)):
        rg.cdist(rg.zeros(*a), rg.zeros(*b), **kw)
    with pytest.raises(RuntimeError, match=re.escape("cdist only supports floating-point dtypes, X1 got: Long")):
        rg.cdist(rg.zeros(3, 4, dtype=rg.int64), rg.zeros(3, 4, dtype=rg.int64))


# ----- modules ------------------------------------------------------------------------------------

MODULES = [
    (nn.CosineSimilarity(dim=0, eps=0.5), lambda a, b: F.cosine_similarity(a, b, 0, 0.5)),
    (nn.PairwiseDistance(p=1.0, eps=0.1, keepdim=True), lambda a, b: F.pairwise_distance(a, b, 1.0, 0.1, True)),
]


@pytest.mark.parametrize("module,fn", MODULES, ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else "")
def test_two_input_module_forward_is_the_functional(module, fn):
    a, b = t64(np.log(RNG.random((3, 4)))), t64(RNG.random((3, 4)))
    close(module(a, b), fn(a, b).numpy())


REPRS = [(nn.CosineSimilarity(), "CosineSimilarity()"), (nn.PairwiseDistance(), "PairwiseDistance()")]


@pytest.mark.parametrize("module,text", REPRS, ids=[t for _, t in REPRS])
def test_module_repr(module, text):
    assert repr(module) == text


# ----- PyTorch parity (values and gradients, float32 and float64) ---------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_parity_distances(dtype):
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    a, b = arr(4, 5), arr(4, 5)
    a[1] = 0.0
    for dim in (1, 0, -1):
        _check_parity(torch, lambda x, y: F.cosine_similarity(x, y, dim),
                      lambda x, y: TF.cosine_similarity(x, y, dim), a, b, dtype=dtype)
    _check_parity(torch, F.cosine_similarity, TF.cosine_similarity, a, b[0], dtype=dtype)
    for p in (2.0, 1.0, 3.0, 0.5, -1.0, math.inf, -math.inf, 0.0):
        for keepdim in (False, True):
            _check_parity(torch, lambda x, y: F.pairwise_distance(x, y, p, keepdim=keepdim),
                          lambda x, y: TF.pairwise_distance(x, y, p, keepdim=keepdim), a, b, dtype=dtype)
    _check_parity(torch, F.pairwise_distance, TF.pairwise_distance, a, b[0], dtype=dtype)
    _check_parity(torch, F.pairwise_distance, TF.pairwise_distance, a[0], b[0], dtype=dtype)


PARITY = {
    "cdist2": (lambda m, a, b: m.cdist(a, b), [(2, 5, 3), (2, 4, 3)]),
    "cdist1": (lambda m, a, b: m.cdist(a, b, p=1.0), [(5, 3), (4, 3)]),
    "cdist_inf": (lambda m, a, b: m.cdist(a, b, p=float("inf")), [(5, 3), (4, 3)]),
}


@pytest.mark.parametrize("name", sorted(PARITY))
def test_torch_parity(name):
    check_parity_case(PARITY, name)


def test_torch_parity_modules_repr():
    torch = pytest.importorskip("torch")
    for name in ("CosineSimilarity", "PairwiseDistance"):
        assert repr(getattr(nn, name)()) == repr(getattr(torch.nn, name)())


def test_torch_parity_error_messages():
    """The same bad calls in both libraries raise the same type with the same message."""
    torch = pytest.importorskip("torch")
    cases = [
        lambda m: m.nn.functional.cosine_similarity(m.randn(3, 4), m.randn(2, 4)),
        lambda m: m.nn.functional.cosine_similarity(m.randn(3, 4), m.randn(3, 4), dim=2),
        lambda m: m.nn.functional.pairwise_distance(m.randn(3, 4), m.randn(2, 4)),
        lambda m: m.nn.functional.cosine_similarity(m.tensor([1, 2]), m.tensor([1, 2]), dim=0),
    ]
    for case in cases:
        with pytest.raises(Exception) as expected:
            case(torch)
        with pytest.raises(type(expected.value), match=re.escape(str(expected.value))):
            case(rg)
