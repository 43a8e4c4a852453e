"""Activations written in Python as compositions of existing ops (hardswish, hardsigmoid, mish,
softsign, tanhshrink, selu, logsigmoid, threshold, glu, prelu) and their modules: values against
NumPy in float64, gradients against finite differences (and at the branch points), in-place forms,
PyTorch's errors word for word, the modules against their functionals, reprs, and (when torch is
installed) values and gradients against PyTorch in float32 and float64."""

import re
from functools import partial

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
import rustgrad.nn.functional as F
from rustgrad.autograd import gradcheck

from op_testing import random_array, t64, close, check_parity
from op_testing import seed  # noqa: F401 (an autouse fixture: rg.manual_seed(0) before each test)


RNG = np.random.default_rng(0)  # this module's own stream (arr, and the parity cotangents)
arr = partial(random_array, RNG)
_check_parity = partial(check_parity, rng=RNG)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softplus(x):
    return np.log1p(np.exp(x))


# Inputs that hit the branch points exactly (and stay away from them for the gradient checks).
EDGES = np.array([-5.0, -3.0, -2.5, -1.0, 0.0, 0.5, 1.0, 2.9, 3.0, 4.0])
SMOOTH = np.array([-5.0, -2.5, -1.0, -0.3, 0.4, 1.2, 2.6, 4.0])


# ----- activations: NumPy references --------------------------------------------------------------

ACTIVATIONS = {
    "hardswish": (F.hardswish, lambda x: np.where(x <= -3, 0, np.where(x >= 3, x, x * (x + 3) / 6))),
    "hardsigmoid": (F.hardsigmoid, lambda x: np.clip(x + 3, 0, 6) / 6),
    "mish": (F.mish, lambda x: x * np.tanh(softplus(x))),
    "softsign": (F.softsign, lambda x: x / (1 + np.abs(x))),
    "tanhshrink": (F.tanhshrink, lambda x: x - np.tanh(x)),
    "selu": (F.selu, lambda x: 1.0507009873554804934193349852946 * np.where(
        x > 0, x, 1.6732632423543772848170429916717 * np.expm1(x))),
    "logsigmoid": (F.logsigmoid, lambda x: -softplus(-x)),
    "threshold": (lambda x: F.threshold(x, 0.5, -2.0), lambda x: np.where(x > 0.5, x, -2.0)),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_values(name):
    fn, ref = ACTIVATIONS[name]
    x = np.concatenate([EDGES, arr(20)])
    close(fn(t64(x)), ref(x))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_gradcheck(name):
    fn, _ = ACTIVATIONS[name]
    assert gradcheck(fn, (t64(SMOOTH.reshape(2, 4), True),))


def test_activation_gradients_at_the_branch_points():
    # PyTorch's backward formulas: 0 at x == -3 and 1 at x == 3 for hardswish, 0 at both ends for
    # hardsigmoid, 0 where x == threshold.
    x = t64([-3.0, 3.0, 0.0], True)
    F.hardswish(x).sum().backward()
    close(x.grad, [0.0, 1.0, 0.5])
    x = t64([-3.0, 3.0, 0.0], True)
    F.hardsigmoid(x).sum().backward()
    close(x.grad, [0.0, 0.0, 1 / 6])
    x = t64([1.0, 3.0, 0.0], True)
    F.threshold(x, 1.0, 7.0).sum().backward()
    close(x.grad, [0.0, 1.0, 0.0])


def test_threshold_keeps_dtype_and_inplace():
    out = F.threshold(rg.tensor([1, 2, 3]), 1.5, 5)
    assert out.dtype == rg.int64 and out.tolist() == [5, 2, 3]
    x = t64([-1.0, 2.0])
    assert F.threshold(x, 0.0, 9.0, inplace=True) is x and x.tolist() == [9.0, 2.0]
    y = t64([-1.0, 2.0])
    assert F.threshold_(y, 0.0, 1.0) is y and y.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("name", ["hardswish", "hardsigmoid", "mish"])
def test_activation_inplace(name):
    x = t64(arr(5))
    expected = getattr(F, name)(x).numpy()
    assert getattr(F, name)(x, inplace=True) is x
    close(x, expected)


@pytest.mark.parametrize("name,kernel", [("hardswish", "hardswish"), ("hardsigmoid", "hardsigmoid"),
                                         ("mish", "mish"), ("glu", "glu")])
def test_float_only_activations_refuse_integers(name, kernel):
    with pytest.raises(NotImplementedError, match=re.escape(f"\"{kernel}_cpu\" not implemented for 'Long'")):
        getattr(F, name)(rg.tensor([[1, 2]]))


# ----- glu ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_glu_values_and_gradcheck(dim):
    x = arr(4, 6)
    a, b = np.split(x, 2, axis=dim)
    close(F.glu(t64(x), dim), a * sigmoid(b))
    assert gradcheck(lambda t: F.glu(t, dim), (t64(x, True),))


def test_glu_errors():
    with pytest.raises(RuntimeError, match=re.escape("Halving dimension must be even, but dimension 1 is size 5")):
        F.glu(rg.randn(3, 5))
    with pytest.raises(RuntimeError, match=re.escape("Halving dimension must be even, but dimension 0 is size 3")):
        F.glu(rg.randn(3, 4), 0)
    with pytest.raises(RuntimeError, match=re.escape("glu does not support scalars because halving size must be "
                                                     "even")):
        F.glu(rg.tensor(1.0))
    with pytest.raises(IndexError, match=re.escape("Dimension out of range (expected to be in range of [-2, 1], "
                                                   "but got 2)")):
        F.glu(rg.randn(3, 4), 2)


# ----- prelu --------------------------------------------------------------------------------------

def test_prelu_values_shared_and_per_channel():
    x = np.concatenate([EDGES, arr(14)]).reshape(2, 3, 4)
    close(F.prelu(t64(x), t64([0.25])), np.where(x > 0, x, 0.25 * x))
    w = np.array([0.1, -0.2, 0.3])
    close(F.prelu(t64(x), t64(w)), np.where(x > 0, x, w[None, :, None] * x))
    # 1-D input: the channel size is 1; 0-dim input with a one-element weight.
    close(F.prelu(t64([-2.0, 3.0]), t64([0.5])), [-1.0, 3.0])
    close(F.prelu(t64(-2.0), t64([0.5])), -1.0)


def test_prelu_gradcheck_and_gradient_at_zero():
    x = t64(arr(2, 3, 2) + 0.1, True)
    w = t64([0.1, -0.2, 0.3], True)
    assert gradcheck(F.prelu, (x, w))
    x = t64([0.0, -1.0, 2.0], True)
    w = t64([0.25], True)
    F.prelu(x, w).sum().backward()
    close(x.grad, [0.25, 0.25, 1.0])  # PyTorch takes the negative branch at 0
    close(w.grad, [-1.0])


def test_prelu_errors():
    x = rg.randn(3, 4)
    msg = "Mismatch of parameter numbers and input channel size. Found parameter numbers = 2 and channel size = 4."
    with pytest.raises(RuntimeError, match=re.escape(msg)):
        F.prelu(x, rg.tensor([0.1, 0.2]))
    msg = "Mismatch of parameter numbers and input channel size. Found parameter numbers = 4 and channel size = 1."
    with pytest.raises(RuntimeError, match=re.escape(msg)):
        F.prelu(rg.randn(4), rg.tensor([0.1, 0.2, 0.3, 0.4]))
    with pytest.raises(RuntimeError, match=re.escape("Not allow zero-dim input tensor.")):
        F.prelu(rg.tensor(1.0), rg.tensor([0.1, 0.2]))
    with pytest.raises(RuntimeError, match=re.escape("prelu: Expected `weight` to be a scalar or 1D tensor, but "
                                                     "got: ndim = 2")):
        F.prelu(x, rg.randn(2, 2))
    with pytest.raises(RuntimeError, match=re.escape("prelu: Type promoting not supported. Got Float and Double")):
        F.prelu(x, rg.tensor([0.1], dtype=rg.float64))
    with pytest.raises(NotImplementedError, match=re.escape("\"prelu_cpu\" not implemented for 'Long'")):
        F.prelu(rg.tensor([1, -2]), rg.tensor([1]))


# ----- modules ------------------------------------------------------------------------------------

MODULES = [
    (nn.SELU(), F.selu), (nn.Mish(), F.mish), (nn.Hardswish(), F.hardswish), (nn.Hardsigmoid(), F.hardsigmoid),
    (nn.LogSigmoid(), F.logsigmoid), (nn.Tanhshrink(), F.tanhshrink), (nn.Softsign(), F.softsign),
    (nn.Threshold(0.2, -1.0), lambda x: F.threshold(x, 0.2, -1.0)), (nn.GLU(), F.glu),
    (nn.GLU(0), lambda x: F.glu(x, 0)),
    (nn.Softmin(1), lambda x: F.softmin(x, 1)),
]


@pytest.mark.parametrize("module,fn", MODULES, ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else "")
def test_module_forward_is_the_functional(module, fn):
    x = t64(arr(2, 4, 6))
    close(module(x), fn(x).numpy())


def test_prelu_module_parameter():
    m = nn.PReLU(3, init=0.1, dtype=rg.float64)
    assert isinstance(m.weight, nn.Parameter) and m.weight.requires_grad
    assert [name for name, _ in m.named_parameters()] == ["weight"]
    assert list(m.state_dict()) == ["weight"]
    close(m.weight, [0.1, 0.1, 0.1])
    x = t64(arr(2, 3, 4))
    close(m(x), F.prelu(x, m.weight).detach().numpy())
    m(x).sum().backward()
    assert m.weight.grad is not None and tuple(m.weight.grad.shape) == (3,)
    one = nn.PReLU()
    assert tuple(one.weight.shape) == (1,) and one.weight.dtype == rg.float32
    close(one.weight, [0.25])
    one.weight.data.fill_(0.5)
    fresh = nn.PReLU()
    fresh.load_state_dict(one.state_dict())
    close(fresh.weight, [0.5])


REPRS = [
    (nn.SELU(), "SELU()"), (nn.SELU(inplace=True), "SELU(inplace=True)"), (nn.Mish(), "Mish()"),
    (nn.Hardswish(), "Hardswish()"), (nn.Hardsigmoid(), "Hardsigmoid()"), (nn.LogSigmoid(), "LogSigmoid()"),
    (nn.Tanhshrink(), "Tanhshrink()"), (nn.Softsign(), "Softsign()"),
    (nn.Threshold(0.1, 20), "Threshold(threshold=0.1, value=20)"),
    (nn.Threshold(0.1, 20.0, True), "Threshold(threshold=0.1, value=20.0, inplace=True)"),
    (nn.GLU(), "GLU(dim=-1)"), (nn.PReLU(3), "PReLU(num_parameters=3)"), (nn.Softmin(), "Softmin(dim=None)"),
]


@pytest.mark.parametrize("module,text", REPRS, ids=[t for _, t in REPRS])
def test_module_repr(module, text):
    assert repr(module) == text


# ----- PyTorch parity (values and gradients, float32 and float64) ---------------------------------

PARITY_UNARY = ["hardswish", "hardsigmoid", "mish", "softsign", "tanhshrink", "selu", "logsigmoid", "glu"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", PARITY_UNARY)
def test_torch_parity_activations(name, dtype):
    torch = pytest.importorskip("torch")
    x = np.concatenate([EDGES, arr(14)]).reshape(4, 6)
    # PyTorch's hardsigmoid backward multiplies by float32(1/6) even in float64; rustgrad's slope is 1/6.
    grad_tol = 1e-7 if name == "hardsigmoid" else None
    _check_parity(torch, getattr(F, name), getattr(torch.nn.functional, name), x, dtype=dtype, grad_tol=grad_tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_parity_threshold_prelu(dtype):
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    x = np.concatenate([EDGES, arr(14)]).reshape(2, 3, 4)
    _check_parity(torch, lambda t: F.threshold(t, 1.0, -2.0), lambda t: TF.threshold(t, 1.0, -2.0), x, dtype=dtype)
    _check_parity(torch, F.prelu, TF.prelu, x, [0.25], dtype=dtype)
    _check_parity(torch, F.prelu, TF.prelu, x, [0.1, -0.2, 0.3], dtype=dtype)
    _check_parity(torch, F.prelu, TF.prelu, x[0, 0], [0.3], dtype=dtype)


def test_torch_parity_modules_repr():
    torch = pytest.importorskip("torch")
    specs = [("SELU", (), {"inplace": True}), ("Mish", (), {}), ("Hardswish", (), {}), ("Hardsigmoid", (), {}),
             ("LogSigmoid", (), {}), ("Tanhshrink", (), {}), ("Softsign", (), {}), ("Threshold", (0.1, 20), {}),
             ("GLU", (1,), {}), ("PReLU", (3, 0.1), {}), ("Softmin", (1,), {})]
    for name, args, kwargs in specs:
        assert repr(getattr(nn, name)(*args, **kwargs)) == repr(getattr(torch.nn, name)(*args, **kwargs))
    assert list(nn.PReLU(3).state_dict()) == list(torch.nn.PReLU(3).state_dict())


def test_torch_parity_error_messages():
    """The same bad calls in both libraries raise the same type with the same message."""
    torch = pytest.importorskip("torch")
    cases = [
        lambda m: m.nn.functional.glu(m.randn(3, 5)),
        lambda m: m.nn.functional.glu(m.tensor(1.0)),
        lambda m: m.nn.functional.prelu(m.randn(3, 4), m.tensor([0.1, 0.2])),
        lambda m: m.nn.functional.prelu(m.randn(3, 4), m.randn(2, 2)),
        lambda m: m.nn.functional.hardswish(m.tensor([1, 2])),
        lambda m: m.nn.functional.prelu(m.randn(3), m.rand(1, dtype=m.float64)),
    ]
    for case in cases:
        with pytest.raises(Exception) as expected:
            case(torch)
        with pytest.raises(type(expected.value), match=re.escape(str(expected.value))):
            case(rg)
