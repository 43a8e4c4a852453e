"""Products and contractions: einsum, tensordot, kron, outer, addmm, baddbmm / addbmm: values against
NumPy (float64), gradients against finite differences, PyTorch's errors, and (when torch is
installed) values and gradients against PyTorch."""

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


# ----- einsum -------------------------------------------------------------------------------------

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


# ----- tensordot and kron -------------------------------------------------------------------------

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


# ----- addmm, outer, baddbmm and addbmm -----------------------------------------------------------

@pytest.mark.parametrize("kw", [{}, {"beta": 0.5, "alpha": -2.0}, {"beta": 0, "alpha": 3}])
@pytest.mark.parametrize("bias_shape", [(3,), (2, 1), (2, 3), ()])
def test_addmm_values_and_gradcheck(kw, bias_shape):
    c, a, b = arr(*bias_shape), arr(2, 4), arr(4, 3)
    expected = kw.get("beta", 1) * c + kw.get("alpha", 1) * (a @ b)
    close(rg.addmm(t64(c), t64(a), t64(b), **kw), expected)
    close(t64(c).addmm(t64(a), t64(b), **kw), expected)
    inputs = (t64(c, True), t64(a, True), t64(b, True)) if kw.get("beta", 1) else (t64(c), t64(a, True), t64(b, True))
    assert gradcheck(lambda x, y, z: rg.addmm(x, y, z, **kw), inputs)


def test_addmm_beta_zero_ignores_nan():
    out = rg.addmm(t64([math.nan] * 3), t64(arr(2, 4)), t64(arr(4, 3)), beta=0)
    assert np.isfinite(out.numpy()).all()


def test_addmm_errors():
    with pytest.raises(RuntimeError, match=re.escape("addmm: self must be a matrix, got 1-D tensor")):
        rg.addmm(rg.randn(3), rg.randn(4), rg.randn(4, 3))
    with pytest.raises(RuntimeError, match=re.escape("addmm: mat2 must be a matrix, got 3-D tensor")):
        rg.addmm(rg.randn(3), rg.randn(2, 4), rg.randn(4, 3, 3))
    with pytest.raises(RuntimeError, match=re.escape("addmm: mat1 and mat2 shapes cannot be multiplied (2x4 and "
                                                     "5x3)")):
        rg.addmm(rg.randn(3), rg.randn(2, 4), rg.randn(5, 3))
    with pytest.raises(RuntimeError, match=re.escape("self and mat2 must have the same dtype, but got Float and "
                                                     "Double")):
        rg.addmm(rg.randn(3), rg.randn(2, 4, dtype=rg.float64), rg.randn(4, 3, dtype=rg.float64))
    with pytest.raises(RuntimeError, match=re.escape("mat1 and mat2 must have the same dtype, but got Float and "
                                                     "Double")):
        rg.addmm(rg.randn(3, dtype=rg.float64), rg.randn(2, 4), rg.randn(4, 3, dtype=rg.float64))
    with pytest.raises(RuntimeError, match=re.escape("The expanded size of the tensor (3) must match the existing "
                                                     "size (5) at non-singleton dimension 1.  Target sizes: [2, 3].  "
                                                     "Tensor sizes: [5]")):
        rg.addmm(rg.randn(5), rg.randn(2, 4), rg.randn(4, 3))
    with pytest.raises(TypeError):
        rg.addmm(rg.randn(3), rg.randn(2, 4), rg.randn(4, 3), 0.5)  # beta and alpha are keyword-only


def test_outer():
    a, b = arr(3), arr(4)
    close(rg.outer(t64(a), t64(b)), np.outer(a, b))
    close(t64(a).outer(t64(b)), np.outer(a, b))
    assert gradcheck(rg.outer, (t64(a, True), t64(b, True)))
    with pytest.raises(RuntimeError, match=re.escape("outer: Expected 1-D argument self, but got 2-D")):
        rg.outer(rg.randn(3, 1), rg.randn(3))
    with pytest.raises(RuntimeError, match=re.escape("outer: Expected 1-D argument vec2, but got 0-D")):
        rg.outer(rg.randn(3), rg.tensor(1.0))


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


# ----- PyTorch parity -----------------------------------------------------------------------------

PARITY = {
    "einsum_bmm": (lambda m, a, b: m.einsum("bij,bjk->bik", a, b), [(2, 3, 4), (2, 4, 5)]),
    "einsum_attn": (lambda m, a, b: m.einsum("bhqd,bhkd->bhqk", a, b), [(2, 2, 3, 4), (2, 2, 5, 4)]),
    "einsum_ell": (lambda m, a, b: m.einsum("...ij,...jk", a, b), [(2, 1, 3, 4), (5, 4, 2)]),
    "einsum_diag": (lambda m, a: m.einsum("iij->ji", a), [(3, 3, 2)]),
    "tensordot": (lambda m, a, b: m.tensordot(a, b, dims=([1, 0], [0, 2])), [(3, 4), (4, 2, 3)]),
    "kron": (lambda m, a, b: m.kron(a, b), [(2, 3), (3, 2)]),
    "baddbmm": (lambda m, i, a, b: m.baddbmm(i, a, b, beta=0.3, alpha=-1.5), [(3, 1), (2, 3, 4), (2, 4, 5)]),
    "addbmm": (lambda m, i, a, b: m.addbmm(i, a, b, beta=2, alpha=0.5), [(5,), (2, 3, 4), (2, 4, 5)]),
}


@pytest.mark.parametrize("name", sorted(PARITY))
def test_torch_parity(name):
    check_parity_case(PARITY, name)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_parity_addmm_outer(dtype):
    torch = pytest.importorskip("torch")
    c, a, b = arr(3), arr(2, 4), arr(4, 3)
    for kw in ({}, {"beta": 0.5, "alpha": -2.0}):
        _check_parity(torch, lambda x, y, z: rg.addmm(x, y, z, **kw), lambda x, y, z: torch.addmm(x, y, z, **kw),
                      c, a, b, dtype=dtype)
    _check_parity(torch, rg.outer, torch.outer, arr(3), arr(4), dtype=dtype)


def test_torch_parity_error_messages():
    """The same bad calls in both libraries raise the same type with the same message."""
    torch = pytest.importorskip("torch")
    cases = [
        lambda m: m.addmm(m.randn(3), m.randn(2, 4), m.randn(5, 3)),
        lambda m: m.addmm(m.randn(5), m.randn(2, 4), m.randn(4, 3)),
        lambda m: m.outer(m.randn(3, 1), m.randn(3)),
        lambda m: m.randn(2, 3).addmm(None, m.randn(3, 3)),
        lambda m: m.addmm(m.randn(3), m.randn(2, 3), 1.0),
        lambda m: m.outer(m.randn(3), 3.5),
        lambda m: m.randn(3).addmm(m.randn(2, 3), m.randn(3, 3), beta="a"),
    ]
    for case in cases:
        with pytest.raises(Exception) as expected:
            case(torch)
        with pytest.raises(type(expected.value), match=re.escape(str(expected.value))):
            case(rg)
