"""einsum, tensordot, kron, baddbmm/addbmm, diagonals, trace, roll, cdist, fmod, logaddexp, hypot,
logit, frac, nansum/nanmean, count_nonzero, repeat_interleave, meshgrid, cartesian_prod: values
against NumPy (float64), gradients against finite differences, PyTorch parity, errors."""

import math
import re
import warnings

import numpy as np
import pytest

import rustgrad as rg
from rustgrad.autograd import gradcheck


@pytest.fixture(autouse=True)
def seed():
    rg.manual_seed(0)


def r(*shape, grad=True):
    x = rg.randn(*shape, dtype=rg.float64)
    return x.requires_grad_() if grad else x


def n(t):
    return t.detach().numpy()


EINSUM = [
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("ij->", [(2, 3)]),
    ("i,j->ij", [(2,), (3,)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
    ("i,i", [(3,), (3,)]),
    ("ijk->kji", [(2, 3, 4)]),
    ("bi,Ai", [(2, 3), (4, 3)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("iij->j", [(3, 3, 4)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("...", [(2, 3)]),
    ("i...->...", [(2, 3, 4)]),
    ("ab,cd->abcd", [(2, 3), (4, 5)]),
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
    ("ij,kj", [(1, 3), (4, 3)]),
    ("ij,j->i", [(3, 1), (4,)]),
    (" b i j , b j k -> b k i ", [(2, 3, 4), (2, 4, 2)]),
]


@pytest.mark.parametrize("eq,shapes", EINSUM)
def test_einsum_values_and_grad(eq, shapes):
    ops = [r(*s) for s in shapes]
    out = rg.einsum(eq, *ops)
    expected = np.einsum(eq.replace(" ", ""), *[n(o) for o in ops])
    assert tuple(out.shape) == expected.shape
    np.testing.assert_allclose(n(out), expected, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda *xs: rg.einsum(eq, *xs), ops)


def test_einsum_list_form():
    a, b = r(2, 3), r(3, 4)
    np.testing.assert_allclose(n(rg.einsum("ij,jk", [a, b])), n(a) @ n(b))


@pytest.mark.parametrize("eq,shapes,msg", [
    ("ij,jk", [(2, 3)], "einsum(): fewer operands were provided than specified in the equation"),
    ("ijk,jk->ik", [(2, 3), (3, 4)], "einsum(): the number of subscripts in the equation (3) does not match the "
                                     "number of dimensions (2) for operand 0 and no ellipsis was given"),
    ("ij,jk->ii", [(2, 3), (3, 4)], "einsum(): output subscript i appears more than once in the output"),
    ("ij,jk->iz", [(2, 3), (3, 4)], "einsum(): output subscript z does not appear in the equation for any input "
                                    "operand"),
    ("ij,kk->ik", [(2, 3), (3, 4)], "einsum(): subscript k is repeated for operand 1 but the sizes don't match, "
                                    "4 != 3"),
    ("ij,ik->jk", [(2, 3), (3, 4)], "einsum(): subscript i has size 3 for operand 1 which does not broadcast with "
                                    "previously seen size 2"),
    ("i1,jk->ik", [(2, 3), (3, 4)], "einsum(): invalid subscript given at index 1 in the equation string, "
                                    "subscripts must be in [a-zA-Z]"),
    ("i..j", [(2, 3)], "einsum(): found '.' for operand 0 that is not part of any ellipsis"),
    ("i...j...", [(2, 3)], "einsum(): found '.' for operand 0 for which an ellipsis was already found"),
])
def test_einsum_errors(eq, shapes, msg):
    with pytest.raises(RuntimeError, match=re.escape(msg)):
        rg.einsum(eq, *[r(*s, grad=False) for s in shapes])


@pytest.mark.parametrize("dims,sa,sb", [(0, (2, 3), (4,)), (1, (2, 3), (3, 4)), (2, (2, 3, 4), (3, 4, 5)),
                                         (([2, 1], [1, 0]), (2, 3, 4), (3, 4, 5)), (([0], [1]), (3, 4), (2, 3)),
                                         ([[-1], [0]], (2, 3), (3, 2))])
def test_tensordot(dims, sa, sb):
    a, b = r(*sa), r(*sb)
    np_dims = dims if isinstance(dims, int) else tuple(dims)
    np.testing.assert_allclose(n(rg.tensordot(a, b, dims)), np.tensordot(n(a), n(b), np_dims), rtol=1e-12)
    assert gradcheck(lambda x, y: rg.tensordot(x, y, dims), (a, b))


@pytest.mark.parametrize("dims,msg", [
    (3, "tensordot expects dims < ndim_a or ndim_b, but got dims=3"),
    (-1, "tensordot expects dims >= 0, but got dims=-1"),
    (([0], [0]), "contracted dimensions need to match, but first has size 2 in dim 0 and second has size 3 in dim 0"),
    (([0, 1], [0]), "both dimension lists should have same length"),
])
def test_tensordot_errors(dims, msg):
    with pytest.raises(RuntimeError, match=re.escape(msg)):
        rg.tensordot(r(2, 3), r(3, 4), dims)


@pytest.mark.parametrize("sa,sb", [((2, 3), (4, 1, 2)), ((3,), (2,)), ((2, 2), (2, 2))])
def test_kron(sa, sb):
    a, b = r(*sa), r(*sb)
    np.testing.assert_allclose(n(rg.kron(a, b)), np.kron(n(a), n(b)))
    np.testing.assert_allclose(n(a.kron(b)), np.kron(n(a), n(b)))
    assert gradcheck(rg.kron, (a, b))


def test_baddbmm_addbmm():
    i3, i2, b1, b2 = r(3, 4), r(3, 4), r(2, 3, 5), r(2, 5, 4)
    np.testing.assert_allclose(n(rg.baddbmm(i3, b1, b2, beta=0.5, alpha=2)),
                               0.5 * n(i3) + 2 * np.matmul(n(b1), n(b2)), rtol=1e-12)
    np.testing.assert_allclose(n(rg.addbmm(i2, b1, b2, beta=0.5, alpha=2)),
                               0.5 * n(i2) + 2 * np.matmul(n(b1), n(b2)).sum(0), rtol=1e-12)
    assert gradcheck(lambda a, x, y: rg.baddbmm(a, x, y, beta=0.5, alpha=2), (i3, b1, b2))
    assert gradcheck(lambda a, x, y: a.addbmm(x, y, alpha=3), (i2, b1, b2))
    nan = rg.full((3, 4), math.nan, dtype=rg.float64)
    assert not rg.baddbmm(nan, b1, b2, beta=0).isnan().any()
    x = r(2, 3, 4, grad=False)
    x.baddbmm_(b1.detach(), b2.detach())
    assert x.shape == (2, 3, 4)


@pytest.mark.parametrize("fn,args,msg", [
    (rg.baddbmm, ((2, 3, 4), (2, 3, 5), (2, 4, 4)),
     "Expected size for first two dimensions of batch2 tensor to be: [2, 5] but got: [2, 4]."),
    (rg.baddbmm, ((2, 3, 4), (3, 5), (2, 5, 4)), "batch1 must be a 3D tensor"),
    (rg.baddbmm, ((2, 3, 3), (2, 3, 5), (2, 5, 4)),
     "The expanded size of the tensor (4) must match the existing size (3) at non-singleton dimension 2.  Target "
     "sizes: [2, 3, 4].  Tensor sizes: [2, 3, 3]"),
    (rg.addbmm, ((3, 4), (2, 3, 5), (2, 4, 4)), "Incompatible matrix sizes for bmm (3x5 and 4x4)"),
    (rg.addbmm, ((3, 4), (2, 3, 5), (3, 5, 4)), "batch1 and batch2 must have same number of batches, got 2 and 3"),
])
def test_bmm_family_errors(fn, args, msg):
    with pytest.raises(RuntimeError, match=re.escape(msg)):
        fn(*[r(*s, grad=False) for s in args])


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
    (lambda: rg.roll(rg.zeros(2, 3), (1, 2), (0,)), "shifts and dimensions must align. shifts: 2, dims:1",
     RuntimeError),
    (lambda: rg.roll(rg.zeros(2, 3), 1, 2), "Dimension out of range (expected to be in range of [-2, 1], but got 2)",
     IndexError),
    (lambda: rg.roll(rg.zeros(2, 3), (), ()), "`shifts` required", RuntimeError),
])
def test_shape_op_errors(fn, msg, exc):
    with pytest.raises(exc, match=re.escape(msg)):
        fn()


@pytest.mark.parametrize("shifts,dims", [(1, 0), ((1, -7), (0, 3)), (3, None), (-2, -1), ((0, 5), (1, 2))])
def test_roll(shifts, dims):
    x = r(2, 3, 4, 5)
    np.testing.assert_array_equal(n(rg.roll(x, shifts, dims)), np.roll(n(x), shifts, dims))
    assert gradcheck(lambda t: t.roll(shifts, dims), (x,))


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


def test_fmod_values_and_grad():
    a = rg.tensor([-5.5, 5.5, 3.0, -3.2, 7.0, 5.0], dtype=rg.float64)
    b = rg.tensor([2.0, -2.0, 0.7, 1.5, -0.3, 0.1], dtype=rg.float64)
    np.testing.assert_array_equal(n(rg.fmod(a, b)), np.fmod(n(a), n(b)))
    np.testing.assert_array_equal(n(a.fmod(1.5)), np.fmod(n(a), 1.5))
    assert rg.fmod(rg.tensor([5, -5]), 3).tolist() == [2, -2]
    out = rg.fmod(rg.tensor([5, -5]), 2.5)
    assert out.dtype == rg.float32 and out.tolist() == [0.0, -0.0]
    x, y = r(4), r(4)
    y = (y.detach().abs() + 0.5).requires_grad_()
    assert gradcheck(rg.fmod, (x * 3, y))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        rg.fmod(rg.tensor([5, 3]), 0)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        rg.fmod(rg.tensor([5, 3]), rg.tensor([0, 1]))


def test_logaddexp_hypot_logit_frac():
    a, b = r(5), r(5)
    np.testing.assert_allclose(n(rg.logaddexp(a, b)), np.logaddexp(n(a), n(b)), rtol=1e-14)
    inf = math.inf
    out = rg.logaddexp(rg.tensor([-inf, inf, inf, 1.0]), rg.tensor([-inf, inf, -inf, 1.0]))
    np.testing.assert_allclose(n(out), np.logaddexp([-inf, inf, inf, 1.0], [-inf, inf, -inf, 1.0]))
    assert gradcheck(lambda x, y: x.logaddexp(y), (a, b))
    np.testing.assert_allclose(n(rg.hypot(a, b)), np.hypot(n(a), n(b)), rtol=1e-14)
    assert gradcheck(rg.hypot, (a, b))
    p = rg.rand(6, dtype=rg.float64).requires_grad_()
    np.testing.assert_allclose(n(rg.logit(p)), np.log(n(p) / (1 - n(p))), rtol=1e-12)
    assert gradcheck(lambda x: x.logit(0.2), (p,))
    assert gradcheck(rg.logit, (p,))
    edge = rg.tensor([0.0, 1e-3, 0.5, 1.0], dtype=rg.float64, requires_grad=True)
    rg.logit(edge, eps=1e-3).sum().backward()
    assert edge.grad[0].item() == 0 and edge.grad[3].item() == 0 and edge.grad[1].item() == pytest.approx(1001.001)
    np.testing.assert_array_equal(n(rg.frac(a)), n(a) - np.trunc(n(a)))
    assert gradcheck(lambda x: (x * 3).frac(), (a,))


@pytest.mark.parametrize("fn,msg", [
    (lambda t: rg.logaddexp(t, t), "\"logaddexp_cpu\" not implemented for 'Long'"),
    (lambda t: rg.hypot(t, t), "\"hypot_cpu\" not implemented for 'Long'"),
    (lambda t: rg.frac(t), "\"frac_cpu\" not implemented for 'Long'"),
    (lambda t: rg.nanmean(t), "nanmean(): expected input to have floating point or complex dtype but got Long"),
])
def test_integer_errors(fn, msg):
    with pytest.raises(NotImplementedError, match=re.escape(msg)):
        fn(rg.tensor([5, 3]))


@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), ((0, 1), False)])
def test_nansum_nanmean(dim, keepdim):
    x = r(3, 4, grad=False)
    x[0, 1] = math.nan
    x[2, 2] = math.nan
    x.requires_grad_()
    kw = {} if dim is None else {"axis": dim, "keepdims": keepdim}
    rkw = {} if dim is None else {"dim": dim, "keepdim": keepdim}
    np.testing.assert_allclose(n(rg.nansum(x, **rkw)), np.nansum(n(x), **kw), rtol=1e-12)
    np.testing.assert_allclose(n(x.nanmean(**rkw)), np.nanmean(n(x), **kw), rtol=1e-12)
    rg.nanmean(x, **rkw).sum().backward()
    assert x.grad[0, 1].item() == 0 and not x.grad.isnan().any()
    y = r(3, 4)
    assert gradcheck(lambda t: rg.nansum(t, **rkw), (y,))
    assert gradcheck(lambda t: rg.nanmean(t, **rkw), (y,))


def test_count_nonzero():
    x = rg.tensor([[0, 1, 2], [0, 0, 3]])
    assert rg.count_nonzero(x).item() == 3
    assert x.count_nonzero(0).tolist() == [0, 1, 2]
    assert rg.count_nonzero(x, (0, 1)).item() == 3
    assert rg.count_nonzero(x.double(), -1).tolist() == [2, 1]
    with pytest.raises(RuntimeError, match=re.escape("dim 0 appears multiple times in the list of dims")):
        rg.count_nonzero(x, (0, 0))


def test_repeat_interleave():
    x = r(2, 3)
    np.testing.assert_array_equal(n(rg.repeat_interleave(x, 2)), np.repeat(n(x), 2))
    np.testing.assert_array_equal(n(x.repeat_interleave(rg.tensor([1, 0, 3]), 1)), np.repeat(n(x), [1, 0, 3], 1))
    np.testing.assert_array_equal(n(x.repeat_interleave(rg.tensor(2), 0)), np.repeat(n(x), 2, 0))
    assert rg.repeat_interleave(rg.tensor([2, 0, 1])).tolist() == [0, 0, 2]
    assert gradcheck(lambda t: t.repeat_interleave(rg.tensor([2, 1]), 0), (x,))
    for repeats, msg in [
        (rg.tensor([1, 2]), "repeats must have the same size as input along dim, but got repeats.size(0) = 2 and "
                            "input.size(1) = 3"),
        (rg.tensor([1, -2, 1]), "repeats can not be negative"),
        (-1, "Repeats must be non-negative"),
        (rg.tensor([[1, 2, 1]]), "repeats must be 0-dim or 1-dim tensor"),
    ]:
        with pytest.raises(RuntimeError, match=re.escape(msg)):
            rg.repeat_interleave(x, repeats, 1)


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid_cartesian_prod(indexing):
    a, b, c = r(2), r(3), r(4)
    outs = rg.meshgrid(a, b, c, indexing=indexing)
    for o, e in zip(outs, np.meshgrid(n(a), n(b), n(c), indexing=indexing)):
        np.testing.assert_array_equal(n(o), e)
    assert gradcheck(lambda x, y: rg.meshgrid(x, y, indexing=indexing)[0] * rg.meshgrid(x, y, indexing=indexing)[1],
                     (a, b))
    prod = rg.cartesian_prod(a, b)
    import itertools
    np.testing.assert_array_equal(n(prod), np.array(list(itertools.product(n(a), n(b)))))
    assert gradcheck(lambda x, y: rg.cartesian_prod(x, y), (a, b))


def test_meshgrid_errors_and_warning():
    with pytest.warns(UserWarning, match="it will be required to pass the indexing argument"):
        rg.meshgrid(rg.zeros(2), rg.zeros(3))
    with pytest.raises(RuntimeError, match=re.escape('torch.meshgrid: indexing must be one of "xy" or "ij", but '
                                                     'received: foo')):
        rg.meshgrid(rg.zeros(2), rg.zeros(3), indexing="foo")
    with pytest.raises(RuntimeError, match="meshgrid expects all tensors to have the same dtype"):
        rg.meshgrid(rg.zeros(2), rg.zeros(3, dtype=rg.float64), indexing="ij")
    with pytest.raises(RuntimeError, match=re.escape("Expect a 1D vector, but got shape [2, 3]")):
        rg.cartesian_prod(rg.zeros(2, 3), rg.zeros(2))


# ----- PyTorch parity -----------------------------------------------------------------------------

def _pair(shape, torch, positive=False):
    x = np.random.default_rng(sum(shape) + len(shape)).standard_normal(shape)
    if positive:
        x = np.abs(x) + 0.5
    return (rg.tensor(x, dtype=rg.float64, requires_grad=True), torch.tensor(x, dtype=torch.float64,
                                                                           requires_grad=True))


PARITY = {
    "einsum_bmm": (lambda m, a, b: m.einsum("bij,bjk->bik", a, b), [(2, 3, 4), (2, 4, 5)]),
    "einsum_attn": (lambda m, a, b: m.einsum("bhqd,bhkd->bhqk", a, b), [(2, 2, 3, 4), (2, 2, 5, 4)]),
    "einsum_ell": (lambda m, a, b: m.einsum("...ij,...jk", a, b), [(2, 1, 3, 4), (5, 4, 2)]),
    "einsum_diag": (lambda m, a: m.einsum("iij->ji", a), [(3, 3, 2)]),
    "tensordot": (lambda m, a, b: m.tensordot(a, b, dims=([1, 0], [0, 2])), [(3, 4), (4, 2, 3)]),
    "kron": (lambda m, a, b: m.kron(a, b), [(2, 3), (3, 2)]),
    "baddbmm": (lambda m, i, a, b: m.baddbmm(i, a, b, beta=0.3, alpha=-1.5), [(3, 1), (2, 3, 4), (2, 4, 5)]),
    "addbmm": (lambda m, i, a, b: m.addbmm(i, a, b, beta=2, alpha=0.5), [(5,), (2, 3, 4), (2, 4, 5)]),
    "diag": (lambda m, a: m.diag(a, -1), [(4, 3)]),
    "diag_vec": (lambda m, a: m.diag(a, 2), [(3,)]),
    "diagonal": (lambda m, a: m.diagonal(a, 1, 2, 0), [(3, 2, 4)]),
    "diag_embed": (lambda m, a: m.diag_embed(a, -1, 0, 2), [(2, 3)]),
    "trace": (lambda m, a: m.trace(a), [(3, 4)]),
    "roll": (lambda m, a: m.roll(a, (2, -1), (1, 0)), [(3, 4)]),
    "roll_flat": (lambda m, a: m.roll(a, 5), [(3, 4)]),
    "cdist2": (lambda m, a, b: m.cdist(a, b), [(2, 5, 3), (2, 4, 3)]),
    "cdist1": (lambda m, a, b: m.cdist(a, b, p=1.0), [(5, 3), (4, 3)]),
    "cdist_inf": (lambda m, a, b: m.cdist(a, b, p=float("inf")), [(5, 3), (4, 3)]),
    "logaddexp": (lambda m, a, b: m.logaddexp(a, b), [(3, 4), (4,)]),
    "hypot": (lambda m, a, b: m.hypot(a, b), [(3, 4), (3, 4)]),
    "logit_eps": (lambda m, a: m.logit(m.sigmoid(a), eps=0.3), [(3, 4)]),
    "frac": (lambda m, a: m.frac(a * 3), [(3, 4)]),
    "nanmean": (lambda m, a: m.nanmean(m.where(a > 1, a * math.nan, a), 1), [(3, 4)]),
    "nansum": (lambda m, a: m.nansum(m.where(a > 1, a * math.nan, a), 0), [(3, 4)]),
    "repeat_interleave": (lambda m, a: m.repeat_interleave(a, 2, dim=1), [(3, 4)]),
    "cartesian_prod": (lambda m, a, b: m.cartesian_prod(a, b), [(3,), (2,)]),
}


@pytest.mark.parametrize("name", sorted(PARITY))
def test_torch_parity(name):
    torch = pytest.importorskip("torch")
    fn, shapes = PARITY[name]
    pairs = [_pair(s, torch) for s in shapes]
    ours = fn(rg, *[p[0] for p in pairs])
    theirs = fn(torch, *[p[1] for p in pairs])
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(n(ours), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(7).standard_normal(tuple(ours.shape))
    ours.backward(rg.tensor(g, dtype=rg.float64))
    theirs.backward(torch.tensor(g, dtype=torch.float64))
    for (a, b) in pairs:
        np.testing.assert_allclose(n(a.grad), b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_fmod_torch_parity():
    torch = pytest.importorskip("torch")
    a = np.array([-5.5, 5.5, 3.0, -3.2, 7.0, 5.0])
    b = np.array([2.0, -2.0, 0.7, 1.5, -0.3, 0.1])
    ra, rb = rg.tensor(a, requires_grad=True), rg.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    out, tout = rg.fmod(ra, rb), torch.fmod(ta, tb)
    np.testing.assert_array_equal(n(out), tout.detach().numpy())
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_array_equal(n(ra.grad), ta.grad.numpy())
    np.testing.assert_array_equal(n(rb.grad), tb.grad.numpy())
    for x, y in [([5, -7, 9], 4), ([5, -7, 9], 2.5), ([5.5, -7.25], 2)]:
        ours, theirs = rg.fmod(rg.tensor(x), y), torch.fmod(torch.tensor(x), y)
        assert ours.tolist() == theirs.tolist()
        assert str(ours.dtype).split(".")[1] == str(theirs.dtype).split(".")[1]
