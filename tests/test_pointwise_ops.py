"""Elementwise ops: fmod, logaddexp, hypot, logit, frac, addcmul / addcdiv, lerp, isinf / isfinite:
values against NumPy (float64; edge values, integer dtypes), gradients against finite differences,
in-place forms, PyTorch's errors, and (when torch is installed) values and gradients against
PyTorch."""

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


# ----- fmod, logaddexp, hypot, logit, frac --------------------------------------------------------

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
])
def test_integer_errors(fn, msg):
    with pytest.raises(NotImplementedError, match=re.escape(msg)):
        fn(rg.tensor([5, 3]))


# ----- addcmul, addcdiv, lerp, isinf, isfinite ----------------------------------------------------

def test_addcmul_addcdiv():
    c, a, b = arr(3), arr(2, 1), arr(3) + 5
    close(rg.addcmul(t64(c), t64(a), t64(b), value=0.3), c + 0.3 * a * b)
    close(t64(c).addcmul(t64(a), t64(b)), c + a * b)
    close(rg.addcdiv(t64(c), t64(a), t64(b), value=-2), c - 2 * a / b)
    close(t64(c).addcdiv(t64(a), t64(b)), c + a / b)
    args = (t64(c, True), t64(a, True), t64(b, True))
    assert gradcheck(lambda x, y, z: rg.addcmul(x, y, z, value=0.3), args)
    assert gradcheck(lambda x, y, z: rg.addcdiv(x, y, z, value=-2), args)
    assert rg.addcmul(rg.tensor([1, 2]), rg.tensor([1, 2]), rg.tensor([3, 4])).tolist() == [4, 10]
    with pytest.raises(RuntimeError, match=re.escape("Integer division with addcdiv is no longer supported, and in "
                                                     "a future  release addcdiv will perform a true division")):
        rg.addcdiv(rg.tensor([1.0, 2.0]), rg.tensor([1, 2]), rg.tensor([1, 2]))
    with pytest.raises(RuntimeError, match=re.escape("The size of tensor a (3) must match the size of tensor b (2) "
                                                     "at non-singleton dimension 0")):
        rg.addcmul(rg.randn(3), rg.randn(2), rg.randn(3))
    with pytest.raises(TypeError):
        rg.addcmul(rg.randn(3), rg.randn(3), rg.randn(3), 2)  # value is keyword-only


def test_inplace_addc_and_lerp():
    c, a, b = arr(3), arr(3), arr(3) + 5
    x = t64(c)
    assert x.addcmul_(t64(a), t64(b), value=2) is x
    close(x, c + 2 * a * b)
    x = t64(c)
    assert x.addcdiv_(t64(a), t64(b)) is x
    close(x, c + a / b)
    x = t64(c)
    assert x.lerp_(t64(a), 0.25) is x
    close(x, c + 0.25 * (a - c))
    for op in (lambda t: t.addcmul_(rg.randn(2, 3), rg.randn(3)), lambda t: t.lerp_(rg.randn(2, 3), 0.5)):
        with pytest.raises(RuntimeError, match=re.escape("output with shape [3] doesn't match the broadcast shape "
                                                         "[2, 3]")):
            op(rg.randn(3))
    with pytest.raises(RuntimeError, match=re.escape("a leaf Variable that requires grad is being used in an "
                                                     "in-place operation.")):
        rg.randn(3, requires_grad=True).addcmul_(rg.randn(3), rg.randn(3))


@pytest.mark.parametrize("weight", [0.3, 0.7, -0.6, 1.5, "tensor"])
def test_lerp_values_and_gradcheck(weight):
    s, e = arr(2, 3), arr(3)
    w = RNG.random((4, 1, 1)) * 1.6 - 0.3 if weight == "tensor" else weight
    expected = s + w * (e - s)
    wt = t64(w) if weight == "tensor" else w
    close(rg.lerp(t64(s), t64(e), wt), expected, atol=1e-12)
    close(t64(s).lerp(t64(e), wt), expected, atol=1e-12)
    if weight == "tensor":
        assert gradcheck(rg.lerp, (t64(s, True), t64(e, True), t64(w, True)))
    else:
        assert gradcheck(lambda a, b: rg.lerp(a, b, weight), (t64(s, True), t64(e, True)))


def test_lerp_exact_at_the_ends():
    # The two-sided formula: weight 1 gives ``end`` exactly, weight 0 gives ``start`` exactly.
    s, e = rg.tensor([1e8, 0.1]), rg.tensor([0.3, -1e8])
    assert rg.lerp(s, e, 1.0).tolist() == e.tolist()
    assert rg.lerp(s, e, 0.0).tolist() == s.tolist()


def test_lerp_errors():
    with pytest.raises(RuntimeError, match=re.escape("expected dtype float for `end` but got dtype double")):
        rg.lerp(rg.randn(3), rg.randn(3, dtype=rg.float64), 0.3)
    with pytest.raises(RuntimeError, match=re.escape("expected dtype float for `weight` but got dtype double")):
        rg.lerp(rg.randn(3), rg.randn(3), rg.rand(3, dtype=rg.float64))
    with pytest.raises(RuntimeError, match=re.escape("expected dtype float for `weight` but got dtype long int")):
        rg.lerp(rg.randn(3), rg.randn(3), rg.tensor([1, 2, 3]))
    assert rg.lerp(rg.randn(3), rg.randn(3), rg.tensor(0.5, dtype=rg.float64)).dtype == rg.float32  # 0-dim: a scalar
    with pytest.raises(NotImplementedError, match=re.escape("\"lerp_kernel_scalar\" not implemented for 'Long'")):
        rg.lerp(rg.tensor([1, 2]), rg.tensor([1, 2]), 0.5)
    with pytest.raises(NotImplementedError, match=re.escape("\"lerp_kernel_tensor\" not implemented for 'Long'")):
        rg.lerp(rg.tensor([1, 2]), rg.tensor([1, 2]), rg.tensor([1, 2]))


def test_isinf_isfinite():
    x = np.array([1.0, math.inf, -math.inf, math.nan, 0.0, -2.5])
    for dtype in (rg.float32, rg.float64):
        t = rg.tensor(x, dtype=dtype)
        assert rg.isinf(t).tolist() == np.isinf(x).tolist() == t.isinf().tolist()
        assert rg.isfinite(t).tolist() == np.isfinite(x).tolist() == t.isfinite().tolist()
        assert rg.isnan(t).tolist() == np.isnan(x).tolist()
        assert rg.isinf(t).dtype == rg.bool and rg.isfinite(t).dtype == rg.bool
    ints = rg.tensor([[1, 2], [3, 4]])
    assert rg.isinf(ints).tolist() == [[False, False], [False, False]]
    assert rg.isfinite(ints).tolist() == [[True, True], [True, True]]
    assert rg.isfinite(rg.tensor([True])).tolist() == [True]


# ----- PyTorch parity -----------------------------------------------------------------------------

PARITY = {
    "logaddexp": (lambda m, a, b: m.logaddexp(a, b), [(3, 4), (4,)]),
    "hypot": (lambda m, a, b: m.hypot(a, b), [(3, 4), (3, 4)]),
    "logit_eps": (lambda m, a: m.logit(m.sigmoid(a), eps=0.3), [(3, 4)]),
    "frac": (lambda m, a: m.frac(a * 3), [(3, 4)]),
}


@pytest.mark.parametrize("name", sorted(PARITY))
def test_torch_parity(name):
    check_parity_case(PARITY, name)


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


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_parity_addcmul_addcdiv_lerp_isinf(dtype):
    torch = pytest.importorskip("torch")
    s, t1, t2 = arr(3), arr(2, 1), arr(3) + 5
    _check_parity(torch, lambda x, y, z: rg.addcmul(x, y, z, value=0.3),
                  lambda x, y, z: torch.addcmul(x, y, z, value=0.3), s, t1, t2, dtype=dtype)
    _check_parity(torch, lambda x, y, z: rg.addcdiv(x, y, z, value=-2),
                  lambda x, y, z: torch.addcdiv(x, y, z, value=-2), s, t1, t2, dtype=dtype)
    for w in (0.3, 0.7, -0.6, 1.5):
        _check_parity(torch, lambda x, y: rg.lerp(x, y, w), lambda x, y: torch.lerp(x, y, w), arr(2, 3), arr(3),
                      dtype=dtype)
    _check_parity(torch, rg.lerp, torch.lerp, arr(2, 3), arr(3), RNG.random((4, 1, 1)) * 1.6 - 0.3, dtype=dtype)
    x = np.array([1.0, math.inf, -math.inf, math.nan, 0.0], dtype=dtype)
    assert rg.isinf(rg.tensor(x)).tolist() == torch.isinf(torch.tensor(x)).tolist()
    assert rg.isfinite(rg.tensor(x)).tolist() == torch.isfinite(torch.tensor(x)).tolist()


def test_torch_parity_error_messages():
    """The same bad calls in both libraries raise the same type with the same message."""
    torch = pytest.importorskip("torch")
    cases = [
        lambda m: m.lerp(m.randn(3), m.randn(3, dtype=m.float64), 0.5),
        lambda m: m.randn(3).addcmul_(m.randn(2, 3), m.randn(3)),
        lambda m: m.addcmul(m.randn(3), m.randn(2), m.randn(3)),
        lambda m: m.addcdiv(m.randn(3), m.randn(3), m.randn(2, 1, 2)),
        lambda m: m.lerp(m.randn(3), m.randn(2), 0.5),
        lambda m: m.lerp(m.randn(3), m.randn(3), m.rand(4, 2)),
        lambda m: m.addcdiv(m.tensor([1, 2]), m.tensor([1, 2]), m.tensor([1, 2])),
        lambda m: m.lerp(m.tensor([1, 2]), m.tensor([1, 2]), 0.5),
        lambda m: m.randn(2, 3).addcdiv(None, None),
        lambda m: m.addcdiv(m.randn(3), "a", m.randn(3)),
        lambda m: m.randn(3).addcmul(m.randn(3), m.randn(3), value="a"),
        lambda m: m.randn(3).addcmul_(m.randn(3), 3),
    ]
    for case in cases:
        with pytest.raises(Exception) as expected:
            case(torch)
        with pytest.raises(type(expected.value), match=re.escape(str(expected.value))):
            case(rg)
    # The argument parser's message for lerp lists the overloads; the first line is the same.
    for case in (lambda m: m.randn(3).lerp(None, 0.5), lambda m: m.lerp(m.randn(3), m.randn(3), [1]),
                 lambda m: m.randn(3).lerp_(m.randn(3), "a")):
        with pytest.raises(TypeError) as expected:
            case(torch)
        with pytest.raises(TypeError, match=re.escape(str(expected.value).splitlines()[0])):
            case(rg)
