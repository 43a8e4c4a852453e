"""The elementwise ops composed in python/rustgrad/_ops_math.py (atan2, copysign, fmax/fmin, gcd/lcm,
the bitwise ops, nan_to_num...), their in-place variants and PyTorch's aliases: values, dtypes and
errors against PyTorch, gradients by finite differences in float64."""

import math

import numpy as np
import pytest

import rustgrad as rg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
X = RNG.uniform(-2, 2, (3, 4))
Y = RNG.uniform(-2, 2, (3, 4))
SPECIAL = np.array([[1.5, -2.0, 0.0, -0.0, 3.0], [np.nan, 2.0, -1.0, 4.0, 0.5], [np.inf, -np.inf, 0.0, -0.0, 1.0]])
OTHER = np.array([[2.0, 0.0, -1.0, 0.0, -0.0], [1.0, np.nan, -3.0, 0.0, 2.0], [0.0, 0.0, -0.0, -0.0, np.nan]])
IA = np.array([[12, -18, 0, 7], [5, 9, -4, 100]])
IB = np.array([[8, 6, 0, -3], [0, 27, 6, 75]])


def both(fn):
    """``fn`` applied to rustgrad and to PyTorch (it receives the module and a tensor constructor)."""
    return fn(rg, rg.tensor), fn(torch, torch.tensor)


def assert_same(ours, theirs):
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    tol = 1e-12 if ours.dtype == rg.float64 else 1e-6
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=tol, atol=tol, equal_nan=True)
    # The sign of zero too (copysign, atan2 and signbit tell -0.0 from 0.0).
    if ours.is_floating_point():
        mine, ref = ours.detach().numpy(), theirs.detach().numpy()
        numbers = ~np.isnan(ref)
        np.testing.assert_array_equal(np.signbit(mine[numbers]), np.signbit(ref[numbers]))


VALUE_CASES = {
    "atan2": lambda m, T: m.atan2(T(SPECIAL), T(OTHER)),
    "arctan2": lambda m, T: T(X).arctan2(T(Y)),
    "atan2_scalar_other": lambda m, T: T(X).atan2(T(0.5)),
    "copysign": lambda m, T: m.copysign(T(SPECIAL), T(OTHER)),
    "copysign_number": lambda m, T: T(X).copysign(-1.0),
    "copysign_int": lambda m, T: T(IA).copysign(T(IB)),
    "signbit": lambda m, T: m.signbit(T(OTHER)),
    "signbit_int": lambda m, T: T(IA).signbit(),
    "deg2rad": lambda m, T: m.deg2rad(T(X)),
    "rad2deg_int": lambda m, T: T(IA).rad2deg(),
    "logaddexp2": lambda m, T: m.logaddexp2(T(SPECIAL), T(OTHER)),
    "float_power": lambda m, T: m.float_power(T(X).float(), 2),
    "float_power_tensor": lambda m, T: T(np.abs(X)).float_power(T(Y).float()),
    "fmax": lambda m, T: m.fmax(T(SPECIAL), T(OTHER)),
    "fmin": lambda m, T: T(SPECIAL).fmin(T(OTHER)),
    "fmax_int": lambda m, T: T(IA).fmax(T(IB)),
    "heaviside": lambda m, T: m.heaviside(T(SPECIAL), T(OTHER)),
    "gcd": lambda m, T: m.gcd(T(IA), T(IB)),
    "lcm": lambda m, T: T(IA).lcm(T(IB)),
    "ldexp": lambda m, T: m.ldexp(T(X), T(np.array([[1], [2], [-3]]))),
    "sinc": lambda m, T: m.sinc(T(SPECIAL[:2])),
    "nan_to_num": lambda m, T: m.nan_to_num(T(SPECIAL)),
    "nan_to_num_float32": lambda m, T: T(SPECIAL).float().nan_to_num(1.0, posinf=5.0),
    "nan_to_num_int": lambda m, T: T(IA).nan_to_num(),
    "isposinf": lambda m, T: m.isposinf(T(SPECIAL)),
    "isneginf": lambda m, T: T(SPECIAL).isneginf(),
    "isreal": lambda m, T: T(X).isreal(),
    "positive": lambda m, T: m.positive(T(X)),
    "bitwise_and": lambda m, T: m.bitwise_and(T(IA), T(IB)),
    "bitwise_or": lambda m, T: T(IA).bitwise_or(T(IB)),
    "bitwise_xor_number": lambda m, T: T(IA).bitwise_xor(3),
    "bitwise_and_bool": lambda m, T: T(IA > 0).bitwise_and(T(IB > 0)),
    "bitwise_not": lambda m, T: T(IA).bitwise_not(),
    "bitwise_not_bool": lambda m, T: m.bitwise_not(T(IA > 0)),
    "bitwise_left_shift": lambda m, T: T(IA).bitwise_left_shift(2),
    "bitwise_right_shift": lambda m, T: m.bitwise_right_shift(T(IA), T(np.array([1, 2, 3, 70]))),
    # aliases
    "absolute": lambda m, T: m.absolute(T(X)),
    "arcsin": lambda m, T: T(X / 2).arcsin(),
    "arccos": lambda m, T: m.arccos(T(X / 2)),
    "arctan": lambda m, T: T(X).arctan(),
    "arcsinh": lambda m, T: T(X).arcsinh(),
    "arccosh": lambda m, T: m.arccosh(T(np.abs(X) + 1)),
    "arctanh": lambda m, T: T(X / 2).arctanh(),
    "multiply": lambda m, T: m.multiply(T(X), 2),
    "divide": lambda m, T: T(X).divide(T(Y), rounding_mode="floor"),
    "subtract": lambda m, T: T(X).subtract(T(Y), alpha=2),
    "greater": lambda m, T: m.greater(T(X), T(Y)),
    "greater_equal": lambda m, T: T(X).greater_equal(0),
    "less": lambda m, T: T(X).less(T(Y)),
    "less_equal": lambda m, T: m.less_equal(T(X), 0.5),
    "not_equal": lambda m, T: T(IA).not_equal(T(IB)),
    "fix": lambda m, T: m.fix(T(X * 3)),
    "swapdims": lambda m, T: T(X).swapdims(0, 1),
    "sgn": lambda m, T: T(X).sgn(),
}


@pytest.mark.parametrize("name", sorted(VALUE_CASES))
def test_values_match_pytorch(name):
    ours, theirs = both(VALUE_CASES[name])
    assert_same(ours, theirs)


INPLACE_CASES = {
    "tan_": lambda T: T(X / 2).tan_(),
    "arcsin_": lambda T: T(X / 3).arcsin_(),
    "sinh_": lambda T: T(X).sinh_(),
    "log10_": lambda T: T(np.abs(X)).log10_(),
    "exp2_": lambda T: T(X).exp2_(),
    "sin_": lambda T: T(X).sin_(),
    "round_": lambda T: T(X * 3).round_(),
    "square_": lambda T: T(IA).square_(),
    "atan2_": lambda T: T(X).atan2_(T(Y)),
    "copysign_": lambda T: T(X).copysign_(T(Y)),
    "gt_": lambda T: T(X).gt_(0),
    "eq_": lambda T: T(IA).eq_(T(IB)),
    "logical_and_": lambda T: T(X).logical_and_(T(Y > 0)),
    "clamp_min_": lambda T: T(X).clamp_min_(0.5),
    "cumsum_": lambda T: T(IA).cumsum_(1),
    "floor_divide_": lambda T: T(IA).floor_divide_(3),
    "gcd_": lambda T: T(IA).gcd_(T(IB)),
    "bitwise_and_": lambda T: T(IA).bitwise_and_(T(IB)),
    "nan_to_num_": lambda T: T(SPECIAL).nan_to_num_(),
    "float_power_": lambda T: T(X).float_power_(2),
    "multiply_": lambda T: T(X).multiply_(T(Y)),
    "negative_": lambda T: T(X).negative_(),
}


@pytest.mark.parametrize("name", sorted(INPLACE_CASES))
def test_inplace_writes_into_self(name):
    ours_in, theirs_in = [], []

    def ours_t(a):
        t = rg.tensor(a)
        ours_in.append(t)
        return t

    def theirs_t(a):
        t = torch.tensor(a)
        theirs_in.append(t)
        return t

    ours = INPLACE_CASES[name](ours_t)
    theirs = INPLACE_CASES[name](theirs_t)
    assert ours is ours_in[0]
    assert_same(ours, theirs)


@pytest.mark.parametrize("call", [
    lambda T: T([1, 2]).sin_(),
    lambda T: T([1.5, 2.5]).float().float_power_(2),
    lambda T: T([1.5, 2.5]).gcd(T([1, 2])),
    lambda T: T([1.5, 2.5]).bitwise_and(T([1, 2])),
    lambda T: T([1.5, 2.5]).heaviside(T([1, 2])),
    lambda T: T([1.5, 2.5]).bitwise_not(),
])
def test_errors_match_pytorch(call):
    with pytest.raises(Exception) as theirs:
        call(torch.tensor)
    with pytest.raises(type(theirs.value)) as ours:
        call(rg.tensor)
    assert str(ours.value) == str(theirs.value)


def test_atan2_signed_zeros_and_axes():
    y = np.array([0.0, -0.0, 0.0, -0.0, 1.0, -1.0, 0.0])
    x = np.array([0.0, 0.0, -0.0, -0.0, 0.0, -0.0, -2.0])
    ours, theirs = both(lambda m, T: m.atan2(T(y), T(x)))
    assert_same(ours, theirs)


GRAD_CASES = {
    "atan2": (lambda a, b: rg.atan2(a, b), [X, Y]),
    "atan2_on_axis": (lambda a, b: rg.atan2(a, b), [X, np.where(np.abs(Y) < 1, 0.0, Y)]),
    "copysign": (lambda a, b: a.copysign(b), [X, Y]),
    "deg2rad": (lambda a: a.deg2rad(), [X]),
    "rad2deg": (lambda a: rg.rad2deg(a), [X]),
    "logaddexp2": (lambda a, b: a.logaddexp2(b), [X, Y]),
    "float_power": (lambda a, b: rg.float_power(a, b), [np.abs(X) + 0.5, Y]),
    "fmax": (lambda a, b: a.fmax(b), [X, Y]),
    "fmin": (lambda a, b: rg.fmin(a, b), [X, Y]),
    "ldexp": (lambda a: a.ldexp(rg.tensor([[1], [2], [-3]])), [X]),
    "sinc": (lambda a: a.sinc(), [np.where(np.abs(X) < 0.3, 0.0, X)]),
    "nan_to_num": (lambda a: (a.log()).nan_to_num(), [X]),
    "positive": (lambda a: a.positive(), [X]),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradients_by_finite_differences(name):
    fn, arrays = GRAD_CASES[name]
    inputs = [rg.tensor(a, requires_grad=True) for a in arrays]
    assert rg.autograd.gradcheck(fn, inputs)


@pytest.mark.parametrize("name", ["fmax", "fmin", "copysign", "atan2"])
def test_gradients_match_pytorch_at_ties_and_special_points(name):
    a = np.array([1.0, 2.0, -1.0, 0.0, np.nan, 3.0])
    b = np.array([1.0, np.nan, 2.0, 0.0, 1.0, -0.0])
    ours = [rg.tensor(a, requires_grad=True), rg.tensor(b, requires_grad=True)]
    theirs = [torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)]
    getattr(rg, name)(*ours).sum().backward()
    getattr(torch, name)(*theirs).sum().backward()
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), equal_nan=True)


def test_inplace_on_a_leaf_that_requires_grad_raises():
    x = rg.tensor([0.5], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.tan_()


def test_heaviside_joins_the_graph_and_its_backward_raises_as_in_pytorch():
    for m in (rg, torch):
        x = m.tensor([0.0, 1.0], requires_grad=True)
        y = m.heaviside(x, m.tensor([0.5, 0.5]))
        assert y.requires_grad
        with pytest.raises(RuntimeError, match="derivative for aten::heaviside is not implemented"):
            y.sum().backward()


def test_positive_of_bool_raises_as_in_pytorch():
    for m in (rg, torch):
        with pytest.raises(NotImplementedError, match="on a bool tensor is not supported"):
            m.positive(m.tensor([True]))


def test_math_constants():
    assert rg.deg2rad(rg.tensor([180.0])).item() == pytest.approx(math.pi)


def test_bitwise_operators_on_integer_tensors_are_bitwise():
    """`a & b` of integer tensors is bitwise (it used to be the logical and: [True, True])."""
    torch = pytest.importorskip("torch")
    for lib in (rg, torch):
        a, b = lib.tensor([6, 3, -8]), lib.tensor([3, 5, 7])
        got = [(a & b).tolist(), (a | b).tolist(), (a ^ b).tolist(), (a & 1).tolist(), (1 | a).tolist(),
               (~a).tolist(), (lib.tensor([True, False]) & lib.tensor([True, True])).tolist(),
               (lib.tensor([1, 2], dtype=lib.int32) & lib.tensor([3, 3], dtype=lib.uint8)).dtype == lib.int32]
        assert got == [[2, 1, 0], [7, 7, -1], [5, 6, -1], [0, 1, 0], [7, 3, -7], [-7, -4, 7], [True, False], True]
    with pytest.raises(TypeError, match=r"^~ \(operator.invert\) is only implemented on integer and Boolean-type "
                                        r"tensors$"):
        ~rg.tensor([1.0])
    with pytest.raises(NotImplementedError, match="\"bitwise_and_cpu\" not implemented for 'Float'"):
        rg.tensor([1.0]) & rg.tensor([2.0])
