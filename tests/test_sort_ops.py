"""movedim/moveaxis, median/nanmedian, kthvalue, mode, quantile/nanquantile, msort: values against
NumPy (float64), gradients against finite differences, PyTorch parity, errors with PyTorch's words."""

import re
import warnings

import numpy as np
import pytest

import rustgrad as rg
from rustgrad.autograd import gradcheck

from op_testing import n
from op_testing import seed  # noqa: F401 (an autouse fixture: rg.manual_seed(0) before each test)

NAN = float("nan")


def distinct(*shape, grad=True):
    """float64 values with no ties (so the selected index is unique and finite differences are smooth)."""
    n = int(np.prod(shape)) if shape else 1
    a = np.random.default_rng(n).permutation(n).astype(np.float64).reshape(shape) * 0.37 + 0.1
    x = rg.tensor(a, dtype=rg.float64)
    return x.requires_grad_() if grad else x


# ----- movedim ------------------------------------------------------------------------------------

MOVES = [(0, 2), (-1, 0), ((0, 1), (2, 0)), ([0, 2], [-1, 1]), ((), ()), ((0, 1, 2), (2, 1, 0))]


@pytest.mark.parametrize("src,dst", MOVES)
def test_movedim_values(src, dst):
    x = distinct(2, 3, 4, grad=False)
    expect = np.moveaxis(n(x), src, dst)
    np.testing.assert_array_equal(n(x.movedim(src, dst)), expect)
    np.testing.assert_array_equal(n(rg.moveaxis(x, src, dst)), expect)
    np.testing.assert_array_equal(n(x.moveaxis(src, dst)), expect)
    np.testing.assert_array_equal(n(rg.movedim(x, src, dst)), expect)


def test_movedim_grad_and_scalar():
    x = distinct(2, 3, 4)
    assert gradcheck(lambda t: rg.movedim(t, (0, 1), (2, 0)) * rg.arange(24, dtype=rg.float64).reshape(3, 4, 2), (x,))
    s = rg.tensor(2.0)
    assert s.movedim(0, -1).shape == () and s.movedim(-1, 0).item() == 2.0


@pytest.mark.parametrize("src,dst,exc,msg", [
    ((0, 1), (0,), RuntimeError, "movedim: Invalid source or destination dims: source ([0, 1] dims) should contain "
                                 "the same number of dims as destination ([0] dims)"),
    ((0, 0), (1, 2), RuntimeError, "movedim: repeated dim in `source` ([0, 0])"),
    ((0, 1), (1, 1), RuntimeError, "movedim: repeated dim in `destination` ([1, 1])"),
    (5, 0, IndexError, "Dimension out of range (expected to be in range of [-3, 2], but got 5)"),
    (0, -4, IndexError, "Dimension out of range (expected to be in range of [-3, 2], but got -4)"),
])
def test_movedim_errors(src, dst, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)):
        rg.zeros(2, 3, 4).movedim(src, dst)


def test_movedim_type_error():
    with pytest.raises(TypeError, match=re.escape("movedim() received an invalid combination of arguments")):
        rg.zeros(2, 3).movedim(0.5, 1)


def test_movedim_torch():
    torch = pytest.importorskip("torch")
    a = np.arange(120.0).reshape(2, 3, 4, 5)
    for src, dst in MOVES + [((0, 2), (3, 0)), ((-1, -2), (0, 1))]:
        np.testing.assert_array_equal(n(rg.tensor(a).movedim(src, dst)), torch.tensor(a).movedim(src, dst).numpy())


# ----- median / nanmedian -------------------------------------------------------------------------

def lower_median(a):
    s = np.sort(a.reshape(-1))
    return s[(len(s) - 1) // 2]


@pytest.mark.parametrize("shape", [(7,), (6,), (3, 4), (2, 3, 5)])
def test_median_all(shape):
    x = distinct(*shape, grad=False)
    assert x.median().item() == lower_median(n(x))
    assert rg.median(x).item() == lower_median(n(x))
    assert x.median().shape == ()


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_median_dim(dim, keepdim):
    x = distinct(4, 5, grad=False)
    a = n(x)
    out = x.median(dim, keepdim=keepdim)
    assert type(out).__name__ == "median" and out._fields == ("values", "indices")
    m = a.shape[dim]
    expect_idx = np.take(np.argsort(a, axis=dim, kind="stable"), [(m - 1) // 2], axis=dim)
    expect_val = np.take_along_axis(a, expect_idx, axis=dim)
    if not keepdim:
        expect_idx, expect_val = expect_idx.squeeze(dim), expect_val.squeeze(dim)
    np.testing.assert_array_equal(n(out.values), expect_val)
    np.testing.assert_array_equal(n(out.indices), expect_idx)


def test_median_nan():
    a = np.array([[3.0, NAN, 1.0, NAN, 2.0], [1.0, 4.0, 2.0, 0.0, 5.0]])
    x = rg.tensor(a)
    v, i = x.median(1)
    assert np.isnan(v[0].item()) and i[0].item() == 1  # the first NaN
    assert v[1].item() == np.median(a[1]) and i[1].item() == 2
    assert np.isnan(x.median().item())
    v, i = x.nanmedian(1)
    np.testing.assert_array_equal(n(v), [2.0, 2.0])
    np.testing.assert_array_equal(n(i), [4, 2])
    assert x.nanmedian().item() == 2.0  # lower median of the non-NaN values [0, 1, 1, 2, 2, 3, 4, 5]
    v, i = rg.tensor([[NAN, NAN]]).nanmedian(1)
    assert np.isnan(v.item()) and i.item() == 0
    # nanmedian of even counts is the lower one, as np.nanpercentile(..., method="lower")
    b = np.array([4.0, NAN, 1.0, 3.0, 2.0])
    assert rg.tensor(b).nanmedian().item() == np.nanpercentile(b, 50, method="lower")


def test_median_int_and_scalar():
    assert rg.tensor([4, 1, 3, 2]).median().item() == 2
    assert rg.tensor([4, 1, 3, 2]).median().dtype == rg.int64
    v, i = rg.tensor(5.0).median(0)
    assert v.shape == () and i.shape == () and v.item() == 5.0 and i.item() == 0
    assert np.isnan(rg.tensor([]).median().item())


def test_median_grad():
    assert gradcheck(lambda t: t.median(), (distinct(3, 5),))
    assert gradcheck(lambda t: t.median(1).values, (distinct(3, 5),))
    assert gradcheck(lambda t: t.median(0, keepdim=True)[0], (distinct(4, 3),))
    assert gradcheck(lambda t: t.nanmedian(1).values, (distinct(3, 4),))
    x = distinct(6)
    x.median().backward()
    g = n(x.grad)
    assert g.sum() == 1.0 and g[np.argsort(n(x))[2]] == 1.0


def test_median_errors():
    with pytest.raises(IndexError, match=re.escape("median(): Expected reduction dim 1 to have non-zero size.")):
        rg.zeros(2, 0).median(1)
    with pytest.raises(IndexError, match=re.escape("Dimension out of range (expected to be in range of [-2, 1], "
                                                   "but got 2)")):
        rg.zeros(2, 3).median(2)


# ----- kthvalue / mode / msort --------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("dim", [0, -1])
def test_kthvalue(k, dim):
    x = distinct(5, 5, grad=False)
    a = n(x)
    v, i = x.kthvalue(k, dim)
    np.testing.assert_array_equal(n(v), np.take(np.sort(a, axis=dim), k - 1, axis=dim))
    np.testing.assert_array_equal(n(i), np.take(np.argsort(a, axis=dim), k - 1, axis=dim))
    v2, _ = rg.kthvalue(x, k, dim, keepdim=True)
    assert v2.shape[dim % 2] == 1
    assert type(x.kthvalue(k, dim)).__name__ == "kthvalue"


def test_kthvalue_grad_and_errors():
    assert gradcheck(lambda t: t.kthvalue(2, 1)[0], (distinct(3, 4),))
    for k in (0, 6):
        with pytest.raises(RuntimeError, match=re.escape("kthvalue(): selected number k out of range for dimension 1")):
            rg.zeros(2, 5).kthvalue(k, -1)
    v, i = rg.tensor(3.0).kthvalue(1)
    assert v.item() == 3.0 and i.item() == 0


def test_mode():
    v, i = rg.tensor([1, 3, 3, 1, 2, 2]).mode()
    assert v.item() == 1 and i.item() == 3  # the smallest of the most frequent, its last occurrence
    x = rg.tensor([[1.0, 3, 3, 1, 2, 2], [4, 4, 4, 1, NAN, NAN], [3, NAN, 1, NAN, 2, 0]])
    v, i = x.mode(1)
    np.testing.assert_array_equal(n(v), [1.0, 4.0, 0.0])
    np.testing.assert_array_equal(n(i), [3, 2, 5])
    v, i = rg.mode(x.t(), 0, keepdim=True)
    assert v.shape == (1, 3) and type(x.mode()).__name__ == "mode"
    a = np.random.default_rng(0).integers(0, 4, (5, 9))
    vals, idx = rg.tensor(a).mode(1)
    for row, val, ind in zip(a, n(vals), n(idx)):
        u, c = np.unique(row, return_counts=True)
        assert val == u[np.argmax(c)] and ind == np.nonzero(row == val)[0][-1]
    with pytest.raises(IndexError, match=re.escape("mode(): Expected reduction dim 0 to have non-zero size.")):
        rg.tensor([]).mode()


def test_mode_grad():
    x = rg.tensor([[1.0, 2.0, 2.0, 3.0]], dtype=rg.float64, requires_grad=True)
    x.mode(1).values.sum().backward()
    np.testing.assert_array_equal(n(x.grad), [[0.0, 0.0, 1.0, 0.0]])


def test_msort():
    x = distinct(4, 3)
    np.testing.assert_array_equal(n(rg.msort(x)), np.sort(n(x), axis=0))
    np.testing.assert_array_equal(n(x.msort()), np.sort(n(x), axis=0))
    assert gradcheck(lambda t: rg.msort(t) * rg.arange(12, dtype=rg.float64).reshape(4, 3), (x,))
    assert rg.msort(rg.tensor(3.0)).item() == 3.0


# ----- quantile -----------------------------------------------------------------------------------

METHODS = ["linear", "lower", "higher", "midpoint", "nearest"]


@pytest.mark.parametrize("interpolation", METHODS)
@pytest.mark.parametrize("dim,keepdim", [(None, False), (None, True), (0, False), (1, True), (-1, False)])
def test_quantile_values(interpolation, dim, keepdim):
    x = distinct(4, 7, grad=False)
    a = n(x)
    qs = [0.0, 0.1, 0.25, 0.5, 0.73, 1.0]
    got = x.quantile(rg.tensor(qs, dtype=rg.float64), dim=dim, keepdim=keepdim, interpolation=interpolation)
    expect = np.quantile(a, qs, axis=dim, keepdims=keepdim, method=interpolation)
    assert got.shape == expect.shape
    np.testing.assert_allclose(n(got), expect, rtol=1e-12, atol=1e-12)
    one = rg.quantile(x, 0.3, dim, keepdim, interpolation=interpolation)
    np.testing.assert_allclose(n(one), np.quantile(a, 0.3, axis=dim, keepdims=keepdim, method=interpolation),
                               rtol=1e-12)


def test_nanquantile_values():
    a = np.array([[3.0, NAN, 1.0, NAN, 2.0], [1.5, 4.0, 2.0, 0.0, 5.0], [NAN, NAN, NAN, NAN, NAN]])
    x = rg.tensor(a)
    for method in METHODS:
        for q in (0.0, 0.3, 0.5, 1.0):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # numpy: All-NaN slice
                expect = np.nanquantile(a, q, axis=1, method=method)
            np.testing.assert_allclose(n(x.nanquantile(q, dim=1, interpolation=method)), expect, rtol=1e-12)
            expect = np.quantile(a, q, axis=1, method=method)
            np.testing.assert_allclose(n(x.quantile(q, dim=1, interpolation=method)), expect, rtol=1e-12)
    assert rg.nanquantile(x, 0.5).item() == np.nanquantile(a, 0.5)


@pytest.mark.parametrize("interpolation", ["linear", "midpoint", "lower", "nearest"])
def test_quantile_grad(interpolation):
    q = rg.tensor([0.2, 0.5, 0.9], dtype=rg.float64)
    assert gradcheck(lambda t: t.quantile(q, dim=1, interpolation=interpolation), (distinct(3, 6),))
    assert gradcheck(lambda t: t.nanquantile(0.35, interpolation=interpolation), (distinct(2, 5),))


def test_quantile_errors():
    x = rg.zeros(2, 5)
    cases = [
        (lambda: x.quantile(1.5), "quantile() q must be in the range [0, 1] but got 1.5"),
        (lambda: x.quantile(rg.tensor([[0.5]])), "quantile() q must be a scalar or 1D tensor"),
        (lambda: rg.tensor([1, 2]).quantile(0.5), "quantile() input tensor must be either float or double dtype"),
        (lambda: x.quantile(0.5, interpolation="foo"),
         "quantile() interpolation must be one of linear, lower, higher, midpoint or nearest, but got foo"),
        (lambda: x.quantile(rg.tensor([0.5, 2.0])), "quantile() q values must be in the range [0, 1]"),
        (lambda: x.quantile(rg.tensor([0.5], dtype=rg.float64)),
         "quantile() q tensor must be same dtype as the input tensor"),
        (lambda: rg.tensor([]).quantile(0.5), "quantile() input tensor must be non-empty"),
        (lambda: x.nanquantile(-0.5), "quantile() q must be in the range [0, 1] but got -0.5"),
    ]
    for fn, msg in cases:
        with pytest.raises(RuntimeError, match=re.escape(msg)):
            fn()


# ----- PyTorch parity -----------------------------------------------------------------------------

def test_torch_parity_values_indices_grads():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(3).permutation(60).astype(np.float64).reshape(3, 4, 5) / 7.0
    q = [0.1, 0.5, 0.77]
    ops = [
        lambda m, t: t.median(),
        lambda m, t: t.nanmedian(),
        lambda m, t: t.median(1),
        lambda m, t: t.median(-1, keepdim=True),
        lambda m, t: t.nanmedian(0),
        lambda m, t: t.kthvalue(2, 1),
        lambda m, t: m.kthvalue(t, 4, -1, True),
        lambda m, t: t.quantile(0.3),
        lambda m, t: t.quantile(m.tensor(q, dtype=m.float64), dim=2, keepdim=True),
        lambda m, t: m.nanquantile(t, m.tensor(q, dtype=m.float64), dim=0, interpolation="midpoint"),
        lambda m, t: t.quantile(0.45, dim=1, interpolation="nearest"),
        lambda m, t: t.quantile(0.45, dim=1, interpolation="higher"),
        lambda m, t: m.msort(t),
        lambda m, t: m.movedim(t, (0, 2), (1, 0)),
    ]
    for op in ops:
        x = rg.tensor(a, requires_grad=True)
        y = torch.tensor(a, requires_grad=True)
        rx, ry = op(rg, x), op(torch, y)
        if isinstance(ry, tuple):
            np.testing.assert_array_equal(n(rx[1]), ry[1].numpy())
            rx, ry = rx[0], ry[0]
        np.testing.assert_allclose(n(rx), ry.detach().numpy(), rtol=1e-12)
        w = np.random.default_rng(1).standard_normal(ry.shape)
        (rx * rg.tensor(w)).sum().backward()
        (ry * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(n(x.grad), y.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_torch_parity_nan():
    torch = pytest.importorskip("torch")
    a = np.array([[3.0, NAN, 1.0, NAN, 2.0], [1.5, 4.0, 2.0, 0.0, 5.0], [NAN] * 5, [1, 1, 2, 2, 3]])
    for name in ["median", "nanmedian"]:
        rx, ry = getattr(rg.tensor(a), name)(1), getattr(torch.tensor(a), name)(1)
        np.testing.assert_array_equal(n(rx.values), ry.values.numpy())
        # an all-NaN row's nanmedian index is whatever PyTorch's nth_element leaves there
        rows = [0, 1, 2, 3] if name == "median" else [0, 1, 3]
        np.testing.assert_array_equal(n(rx.indices)[rows], ry.indices.numpy()[rows])
    for name in ["quantile", "nanquantile"]:
        for method in METHODS:
            rx = getattr(rg.tensor(a), name)(rg.tensor([0.2, 0.5], dtype=rg.float64), 1, interpolation=method)
            ry = getattr(torch.tensor(a), name)(torch.tensor([0.2, 0.5], dtype=torch.float64), 1,
                                                interpolation=method)
            np.testing.assert_array_equal(n(rx), ry.numpy())
    rx, ry = rg.tensor(a[:2]).mode(1), torch.tensor(a[:2]).mode(1)
    np.testing.assert_array_equal(n(rx.values), ry.values.numpy())
    np.testing.assert_array_equal(n(rx.indices), ry.indices.numpy())


def test_torch_parity_float32_quantile():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(5).standard_normal((4, 9)).astype(np.float32)
    for method in METHODS:
        rx = rg.tensor(a).quantile(rg.tensor([0.1, 0.6]), dim=1, interpolation=method)
        ry = torch.tensor(a).quantile(torch.tensor([0.1, 0.6]), dim=1, interpolation=method)
        np.testing.assert_allclose(n(rx), ry.numpy(), rtol=1e-6, atol=1e-6)


def test_quantile_nearest_rounds_half_to_even():
    x = rg.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=rg.float64)
    q = [0.125, 0.375, 0.625, 0.875]  # ranks 0.5, 1.5, 2.5, 3.5
    got = x.quantile(rg.tensor(q, dtype=rg.float64), interpolation="nearest")
    np.testing.assert_array_equal(n(got), [1.0, 3.0, 3.0, 5.0])
    np.testing.assert_array_equal(n(got), np.quantile(n(x), q, method="nearest"))
