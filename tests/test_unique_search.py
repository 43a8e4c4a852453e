"""unique/unique_consecutive, bincount, histc, searchsorted, bucketize: values against NumPy, PyTorch
parity, errors with PyTorch's words (none of them is differentiable in PyTorch)."""

import re

import numpy as np
import pytest

import rustgrad as rg

from op_testing import n

NAN = float("nan")


def ints(seed, shape, hi=5):
    return np.random.default_rng(seed).integers(0, hi, shape)


# ----- unique -------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(0,), (1,), (10,), (3, 4), (2, 3, 4)])
def test_unique_values(shape):
    a = ints(sum(shape), shape)
    u, inv, cnt = np.unique(a, return_inverse=True, return_counts=True)
    x = rg.tensor(a)
    np.testing.assert_array_equal(n(rg.unique(x)), u)
    ru, rinv, rcnt = x.unique(return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(n(ru), u)
    np.testing.assert_array_equal(n(rinv), inv.reshape(a.shape))
    np.testing.assert_array_equal(n(rcnt), cnt)
    assert rinv.shape == x.shape and ru.dtype == rg.int64
    ru, rcnt = rg.unique(x, sorted=False, return_counts=True)
    np.testing.assert_array_equal(n(ru), u)
    np.testing.assert_array_equal(n(ru)[n(rinv)], a)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_unique_dim(dim):
    a = ints(dim + 7, (6, 4), hi=2)
    a = np.concatenate([a, a[:2]], axis=0) if dim == 0 else np.concatenate([a, a[:, :2]], axis=1)
    u, inv, cnt = np.unique(a, axis=dim, return_inverse=True, return_counts=True)
    ru, rinv, rcnt = rg.unique(rg.tensor(a), dim=dim, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(n(ru), u)
    np.testing.assert_array_equal(n(rinv), inv.reshape(-1))
    np.testing.assert_array_equal(n(rcnt), cnt)


def test_unique_float_nan():
    x = rg.tensor([1.0, NAN, 2.0, NAN, 1.0], dtype=rg.float64)
    u, c = x.unique(return_counts=True)
    np.testing.assert_array_equal(n(u), [1.0, 2.0, NAN, NAN])  # NaNs are not merged, as PyTorch
    np.testing.assert_array_equal(n(c), [2, 1, 1, 1])
    assert u.dtype == rg.float64


def test_unique_consecutive():
    a = np.array([3, 1, 1, 2, 3, 3, 3, 1])
    x = rg.tensor(a)
    u, inv, cnt = rg.unique_consecutive(x, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(n(u), [3, 1, 2, 3, 1])
    np.testing.assert_array_equal(n(inv), [0, 1, 1, 2, 3, 3, 3, 4])
    np.testing.assert_array_equal(n(cnt), [1, 2, 1, 3, 1])
    np.testing.assert_array_equal(n(x.unique_consecutive()), [3, 1, 2, 3, 1])
    m = rg.tensor([[1, 2], [1, 2], [0, 5], [1, 2]])
    u, cnt = m.unique_consecutive(dim=0, return_counts=True)
    np.testing.assert_array_equal(n(u), [[1, 2], [0, 5], [1, 2]])
    np.testing.assert_array_equal(n(cnt), [2, 1, 1])
    u, inv = m.unique_consecutive(dim=1, return_inverse=True)
    np.testing.assert_array_equal(n(u), n(m)) and np.testing.assert_array_equal(n(inv), [0, 1])


def test_unique_errors():
    with pytest.raises(IndexError, match=re.escape("Dimension out of range (expected to be in range of [-2, 1], "
                                                   "but got 2)")):
        rg.zeros(2, 2).unique(dim=2)


def test_unique_torch():
    torch = pytest.importorskip("torch")
    for a in [ints(1, (4, 5)), np.array([1.0, NAN, 2.0, NAN, 1.0]), ints(2, (7, 3), hi=2)]:
        for dim in [None, 0, 1] if a.ndim == 2 else [None]:
            for fn in ("unique", "unique_consecutive"):
                r = getattr(rg, fn)(rg.tensor(a), return_inverse=True, return_counts=True, dim=dim)
                t = getattr(torch, fn)(torch.tensor(a), return_inverse=True, return_counts=True, dim=dim)
                for x, y in zip(r, t):
                    np.testing.assert_array_equal(n(x), y.numpy())


# ----- bincount -----------------------------------------------------------------------------------

def test_bincount_values():
    a = ints(3, (20,), hi=7)
    x = rg.tensor(a)
    np.testing.assert_array_equal(n(rg.bincount(x)), np.bincount(a))
    np.testing.assert_array_equal(n(x.bincount(minlength=12)), np.bincount(a, minlength=12))
    w = np.random.default_rng(0).standard_normal(20)
    out = rg.bincount(x, rg.tensor(w), minlength=3)
    np.testing.assert_allclose(n(out), np.bincount(a, w, minlength=3), rtol=1e-12)
    assert out.dtype == rg.float64 and rg.bincount(x).dtype == rg.int64
    assert x.bincount(rg.tensor(w.astype(np.float32))).dtype == rg.float32
    assert x.bincount(rg.tensor(a)).dtype == rg.float64  # integer weights count in float64, as PyTorch
    assert rg.bincount(rg.tensor([], dtype=rg.int64)).shape == (0,)


@pytest.mark.parametrize("call,exc,msg", [
    (lambda: rg.bincount(rg.tensor([-1, 2])), RuntimeError, "bincount only supports 1-d non-negative integral inputs."),
    (lambda: rg.bincount(rg.tensor([[1]])), RuntimeError, "bincount only supports 1-d non-negative integral inputs."),
    (lambda: rg.bincount(rg.tensor([1.0])), NotImplementedError, "\"bincount_cpu\" not implemented for 'Float'"),
    (lambda: rg.bincount(rg.tensor([1, 2]), rg.tensor([1.0])), RuntimeError,
     "weights should be 1-d and have the same length as input"),
    (lambda: rg.bincount(rg.tensor([1, 2]), minlength=-1), RuntimeError, "minlength should be >= 0"),
])
def test_bincount_errors(call, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)):
        call()


def test_bincount_torch():
    torch = pytest.importorskip("torch")
    a = ints(4, (30,), hi=9)
    w = np.random.default_rng(1).standard_normal(30).astype(np.float32)
    np.testing.assert_array_equal(n(rg.bincount(rg.tensor(a), minlength=11)), torch.bincount(torch.tensor(a),
                                                                                            minlength=11).numpy())
    np.testing.assert_allclose(n(rg.bincount(rg.tensor(a), rg.tensor(w))),
                               torch.bincount(torch.tensor(a), torch.tensor(w)).numpy(), rtol=1e-6, atol=1e-6)


# ----- histc --------------------------------------------------------------------------------------

def test_histc_values():
    a = np.random.default_rng(5).standard_normal(200)
    x = rg.tensor(a, dtype=rg.float64)
    expect, _ = np.histogram(a, bins=10, range=(a.min(), a.max()))
    np.testing.assert_array_equal(n(rg.histc(x, bins=10)), expect)
    expect, _ = np.histogram(a[(a >= -1) & (a <= 1.5)], bins=7, range=(-1, 1.5))
    out = x.histc(7, -1, 1.5)
    np.testing.assert_array_equal(n(out), expect)
    assert out.dtype == rg.float64 and rg.histc(rg.tensor([1.0, 2.0])).shape == (100,)
    np.testing.assert_array_equal(n(rg.histc(rg.tensor([1.0, 1.0]), bins=4)), [0, 0, 2, 0])  # range [0, 2]
    np.testing.assert_array_equal(n(rg.histc(rg.tensor([1.0, 2, 1, 4, 5]), bins=4, min=0, max=3)), [0, 2, 1, 0])
    np.testing.assert_array_equal(n(rg.histc(rg.tensor([]), bins=3)), [0, 0, 0])


@pytest.mark.parametrize("call,exc,msg", [
    (lambda: rg.histc(rg.tensor([1, 2]), bins=4), NotImplementedError, "\"histogram_cpu\" not implemented for 'Long'"),
    (lambda: rg.histc(rg.tensor([1.0, 2.0]), bins=0), RuntimeError,
     "torch.histogram(): bins must be > 0, but got 0 for dimension 0"),
    (lambda: rg.histc(rg.tensor([1.0, 2.0]), bins=4, min=3, max=1), RuntimeError,
     "torch.histc: max must be larger than min"),
    (lambda: rg.histc(rg.tensor([1.0, NAN]), bins=4), RuntimeError, "torch.histc: range of [-nan, -nan] is not finite"),
    (lambda: rg.histc(rg.tensor([1.0, float("inf")]), bins=4), RuntimeError,
     "torch.histc: range of [1, inf] is not finite"),
])
def test_histc_errors(call, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)):
        call()


def test_histc_torch():
    torch = pytest.importorskip("torch")
    for dtype in (np.float32, np.float64):
        a = (np.random.default_rng(6).standard_normal(500) * 3).astype(dtype)
        for bins, lo, hi in [(10, 0, 0), (13, -2, 2.5), (7, -0.3, 0.9), (1, 0, 0)]:
            np.testing.assert_array_equal(n(rg.histc(rg.tensor(a), bins, lo, hi)),
                                          torch.histc(torch.tensor(a), bins, lo, hi).numpy())


# ----- searchsorted / bucketize -------------------------------------------------------------------

def test_searchsorted_values():
    s = np.sort(np.random.default_rng(7).integers(0, 20, 15)).astype(np.float64)
    v = np.arange(-1, 22, 0.5)
    for side in ("left", "right"):
        expect = np.searchsorted(s, v, side=side)
        np.testing.assert_array_equal(n(rg.searchsorted(rg.tensor(s), rg.tensor(v), side=side)), expect)
        np.testing.assert_array_equal(n(rg.searchsorted(rg.tensor(s), rg.tensor(v), right=side == "right")), expect)
        np.testing.assert_array_equal(n(rg.bucketize(rg.tensor(v), rg.tensor(s), right=side == "right")), expect)
    v2 = v[:40].reshape(5, 8)
    np.testing.assert_array_equal(n(rg.searchsorted(rg.tensor(s), rg.tensor(v2))), np.searchsorted(s, v2))
    assert rg.searchsorted(rg.tensor(s), 5.5).shape == ()
    assert rg.searchsorted(rg.tensor([1, 3, 5]), 3.5).item() == 2
    assert rg.bucketize(3, rg.tensor([1, 3, 5]), right=True).item() == 2
    # a NaN value sorts after everything, as in sort (and PyTorch)
    np.testing.assert_array_equal(n(rg.searchsorted(rg.tensor([1.0, 2.0]), rg.tensor([NAN, NAN]), side="left")), [2, 2])


def test_searchsorted_batched_and_sorter():
    s = np.sort(np.random.default_rng(8).standard_normal((3, 6)), axis=1)
    v = np.random.default_rng(9).standard_normal((3, 4))
    out = rg.searchsorted(rg.tensor(s), rg.tensor(v), right=True)
    np.testing.assert_array_equal(n(out), [np.searchsorted(s[i], v[i], side="right") for i in range(3)])
    raw = np.array([5.0, 1.0, 3.0])
    out = rg.searchsorted(rg.tensor(raw), rg.tensor([2.0, 4.0, 6.0]), sorter=rg.tensor(np.argsort(raw)))
    np.testing.assert_array_equal(n(out), np.searchsorted(raw, [2.0, 4.0, 6.0], sorter=np.argsort(raw)))
    assert rg.searchsorted(rg.tensor([1, 3]), rg.tensor([2]), out_int32=True).dtype == rg.int32


@pytest.mark.parametrize("call,msg", [
    (lambda s: rg.searchsorted(s, rg.tensor([3]), side="left", right=True),
     "torch.searchsorted(): side and right can't be set to opposites, got side of left while right was True"),
    (lambda s: rg.searchsorted(s, rg.tensor([3]), side="foo"),
     "torch.searchsorted(): side can only be 'left' or 'right' but got foo"),
    (lambda s: rg.searchsorted(rg.tensor([[1, 3], [2, 4]]), rg.tensor([2, 3])),
     "torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 dimensions of boundaries "
     "tensor and input value tensor must match, but we got boundaries tensor [2, 2] and input value tensor [2]"),
    (lambda s: rg.searchsorted(rg.tensor(1), rg.tensor([1])),
     "torch.searchsorted(): boundaries tensor should have positive dimension, but got 0 dimension"),
    (lambda s: rg.bucketize(rg.tensor([3]), rg.tensor([[1, 2]])), "boundaries tensor must be 1 dimension, but got dim(2)"),
])
def test_searchsorted_errors(call, msg):
    with pytest.raises(RuntimeError, match=re.escape(msg)):
        call(rg.tensor([1, 3, 5]))


def test_searchsorted_torch():
    torch = pytest.importorskip("torch")
    s = np.array([[-1.0, 0.0, 0.0, 2.0, 7.0], [1.0, 1.0, 3.0, 4.0, 9.0]])  # NaN values go last
    v = np.array([[0.0, NAN, 2.0, -5.0], [1.0, 3.5, 9.0, NAN]])
    for right in (False, True):
        np.testing.assert_array_equal(n(rg.searchsorted(rg.tensor(s), rg.tensor(v), right=right)),
                                      torch.searchsorted(torch.tensor(s), torch.tensor(v), right=right).numpy())
        np.testing.assert_array_equal(n(rg.bucketize(rg.tensor(v), rg.tensor(s[1]), right=right)),
                                      torch.bucketize(torch.tensor(v), torch.tensor(s[1]), right=right).numpy())


def test_type_errors():
    with pytest.raises(TypeError, match=re.escape("bincount(): argument 'weights' (position 1) must be Tensor, not str")):
        rg.tensor([1, 2]).bincount("x")
    with pytest.raises(TypeError, match=re.escape("searchsorted(): argument 'sorted_sequence' (position 1) must be "
                                                  "Tensor, not list")):
        rg.searchsorted([1, 2], rg.tensor([1]))
