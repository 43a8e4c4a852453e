"""The activations, losses, distances, layers and tensor ops written in Python as compositions of
existing ops: values against NumPy in float64, gradients against finite differences, PyTorch's
errors word for word, the modules against their functionals, and (when torch is installed) values
and gradients against PyTorch."""

import math
import re
import warnings

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
import rustgrad.nn.functional as F
from rustgrad.autograd import gradcheck


@pytest.fixture(autouse=True)
def seed():
    rg.manual_seed(0)


RNG = np.random.default_rng(0)


def arr(*shape, scale=2.0):
    return RNG.standard_normal(shape) * scale


def t64(a, requires_grad=False):
    return rg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def close(x, expected, atol=1e-12):
    np.testing.assert_allclose(x.detach().numpy(), expected, rtol=1e-12, atol=atol)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softplus(x):
    return np.log1p(np.exp(x))


# Inputs that hit the branch points exactly (and stay away from them for the gradient checks).
EDGES = np.array([-5.0, -3.0, -2.5, -1.0, 0.0, 0.5, 1.0, 2.9, 3.0, 4.0])
SMOOTH = np.array([-5.0, -2.5, -1.0, -0.3, 0.4, 1.2, 2.6, 4.0])

# ----- activations: NumPy references ----------------------------------------------------------------

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


# ----- glu -------------------------------------------------------------------------------------------

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


# ----- prelu -----------------------------------------------------------------------------------------

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


# ----- distances -------------------------------------------------------------------------------------

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


# ----- losses ----------------------------------------------------------------------------------------

def np_reduce(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](loss)


def np_smooth_l1(x, y, beta):
    d = np.abs(x - y)
    if beta == 0:
        return d
    return np.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)


def np_huber(x, y, delta):
    d = np.abs(x - y)
    return np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))


def loss_inputs():
    x, y = arr(4, 5), arr(4, 5)
    x[0, :3] = y[0, :3] + np.array([0.0, 0.5, -0.5])  # |d| == 0, beta and delta at 0.5
    return x, y


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("beta", [1.0, 0.5, 2.5, 0.0])
def test_smooth_l1_loss_values(reduction, beta):
    x, y = loss_inputs()
    close(F.smooth_l1_loss(t64(x), t64(y), reduction=reduction, beta=beta),
          np_reduce(np_smooth_l1(x, y, beta), reduction))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("delta", [1.0, 0.5, 2.5])
def test_huber_loss_values(reduction, delta):
    x, y = loss_inputs()
    close(F.huber_loss(t64(x), t64(y), reduction=reduction, delta=delta), np_reduce(np_huber(x, y, delta), reduction))
    w = RNG.random((4, 5))
    close(F.huber_loss(t64(x), t64(y), reduction=reduction, delta=delta, weight=t64(w)),
          np_reduce(np_huber(x, y, delta) * w, reduction))


def test_smooth_l1_and_huber_relation():
    # Huber with delta equals delta * SmoothL1 with beta = delta: a wrong factor in either is caught.
    x, y = arr(3, 4), arr(3, 4)
    close(F.huber_loss(t64(x), t64(y), delta=0.7), 0.7 * F.smooth_l1_loss(t64(x), t64(y), beta=0.7).item())


@pytest.mark.parametrize("name", ["smooth_l1_loss", "huber_loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_smooth_losses_gradcheck(name, reduction):
    x, y = arr(3, 4), arr(3, 4)
    kw = {"beta": 0.8} if name == "smooth_l1_loss" else {"delta": 0.8}
    fn = getattr(F, name)
    assert gradcheck(lambda a, b: fn(a, b, reduction=reduction, **kw), (t64(x, True), t64(y, True)))


def test_smooth_losses_gradient_at_the_threshold():
    # |d| == beta takes the linear branch (PyTorch: sign(d)); d == 0 has gradient 0.
    x = t64([0.5, -0.5, 0.0], True)
    F.smooth_l1_loss(x, t64([0.0, 0.0, 0.0]), beta=0.5, reduction="sum").backward()
    close(x.grad, [1.0, -1.0, 0.0])
    x = t64([2.0, -2.0, 0.0], True)
    F.huber_loss(x, t64([0.0, 0.0, 0.0]), delta=2.0, reduction="sum").backward()
    close(x.grad, [2.0, -2.0, 0.0])


def test_smooth_losses_broadcast_with_warning():
    x, y = arr(3, 4), arr(4)
    for fn, ref in ((F.smooth_l1_loss, np_smooth_l1), (F.huber_loss, np_huber)):
        with pytest.warns(UserWarning, match=re.escape("Using a target size (rustgrad.Size([4])) that is different "
                                                       "to the input size (rustgrad.Size([3, 4]))")):
            out = fn(t64(x), t64(y))
        close(out, ref(x, y, 1.0).mean())


def test_smooth_losses_errors():
    x, y = rg.randn(3, 4), rg.randn(3, 4)
    with pytest.raises(RuntimeError, match=re.escape("smooth_l1_loss does not support negative values for beta.")):
        F.smooth_l1_loss(x, y, beta=-1.0)
    for delta in (0.0, -1.0):
        with pytest.raises(RuntimeError, match=re.escape("huber_loss does not support non-positive values for "
                                                         "delta.")):
            F.huber_loss(x, y, delta=delta)
    for fn in (F.smooth_l1_loss, F.huber_loss):
        with pytest.raises(ValueError, match=re.escape("foo is not a valid value for reduction")):
            fn(x, y, reduction="foo")
        with pytest.raises(RuntimeError, match=re.escape("The size of tensor a (3) must match the size of tensor b "
                                                         "(2) at non-singleton dimension 0")), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(x, rg.randn(2, 4))
    with pytest.raises(NotImplementedError, match=re.escape("\"smooth_l1_cpu\" not implemented for 'Long'")):
        F.smooth_l1_loss(rg.tensor([1, 2]), rg.tensor([1, 3]))
    with pytest.raises(NotImplementedError, match=re.escape("\"huber_cpu\" not implemented for 'Long'")):
        F.huber_loss(rg.tensor([1, 2]), rg.tensor([1, 3]))
    with pytest.raises(ValueError, match=re.escape("Weights and input must have the same size.")):
        F.huber_loss(x, y, weight=rg.ones(4))
    with pytest.raises(ValueError, match=re.escape("Invalid reduction mode: foo. Expected one of 'none', 'mean', "
                                                   "'sum'.")):
        F.huber_loss(x, y, reduction="foo", weight=rg.ones(3, 4))


def test_smooth_l1_legacy_flags():
    x, y = arr(3, 4), arr(3, 4)
    with pytest.warns(UserWarning, match=re.escape("size_average and reduce args will be deprecated, please use "
                                                   "reduction='sum' instead.")):
        out = F.smooth_l1_loss(t64(x), t64(y), size_average=False)
    close(out, np_smooth_l1(x, y, 1.0).sum())


def np_kl(inp, target, log_target):
    if log_target:
        return np.exp(target) * (target - inp)
    with np.errstate(divide="ignore", invalid="ignore"):
        xlogy = np.where(target == 0, 0.0, target * np.log(np.where(target == 0, 1.0, target)))
    return xlogy - target * inp


KL_MEAN_WARNING = ("reduction: 'mean' divides the total loss by both the batch size and the support size."
                   "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                   "'mean' will be changed to behave the same as 'batchmean' in the next major release.")


@pytest.mark.parametrize("reduction", ["sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_values(reduction, log_target):
    inp = np.log(RNG.random((4, 5)))
    target = RNG.random((4, 5))
    target[0, 0] = 0.0
    if log_target:
        target = np.log(target + 0.01)
    loss = np_kl(inp, target, log_target)
    expected = loss.sum() / 4 if reduction == "batchmean" else np_reduce(loss, reduction)
    close(F.kl_div(t64(inp), t64(target), reduction=reduction, log_target=log_target), expected)


def test_kl_div_mean_warns_and_averages_everything():
    inp, target = np.log(RNG.random((4, 5))), RNG.random((4, 5))
    with pytest.warns(UserWarning, match=re.escape(KL_MEAN_WARNING)):
        out = F.kl_div(t64(inp), t64(target))
    close(out, np_kl(inp, target, False).mean())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.kl_div(t64(inp), t64(target), reduction="batchmean")


def test_kl_div_batchmean_divides_by_the_input_batch():
    # Broadcast target: the divisor is input.size(0), not the broadcast shape's; 0-dim input is not divided.
    inp, target = np.log(RNG.random(5)), RNG.random((3, 5))
    close(F.kl_div(t64(inp), t64(target), reduction="batchmean"), np_kl(inp, target, False).sum() / 5)
    close(F.kl_div(t64(-1.0), t64(0.5), reduction="batchmean"), np_kl(-1.0, 0.5, False))


def test_kl_div_legacy_flags():
    inp, target = np.log(RNG.random((4, 5))), RNG.random((4, 5))
    with pytest.warns(UserWarning, match=re.escape("size_average and reduce args will be deprecated, please use "
                                                   "reduction='sum' instead.")):
        out = F.kl_div(t64(inp), t64(target), size_average=False)
    close(out, np_kl(inp, target, False).sum())


@pytest.mark.parametrize("reduction", ["sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_gradcheck(reduction, log_target):
    inp = t64(np.log(RNG.random((3, 4))), True)
    target = t64(np.log(RNG.random((3, 4))) if log_target else RNG.random((3, 4)) + 0.1, True)
    assert gradcheck(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target), (inp, target))


def test_kl_div_errors():
    x = rg.randn(3, 4)
    with pytest.raises(ValueError, match=re.escape("foo is not a valid value for reduction")):
        F.kl_div(x, x, reduction="foo")
    with pytest.raises(RuntimeError, match=re.escape("The size of tensor a (2) must match the size of tensor b (3) "
                                                     "at non-singleton dimension 0")):
        F.kl_div(x, rg.rand(2, 4), reduction="sum")
    with pytest.raises(RuntimeError, match=re.escape("kl_div: Integral inputs not supported.")):
        F.kl_div(rg.tensor([1, 2]), rg.tensor([1, 3]), reduction="sum")


# ----- modules ---------------------------------------------------------------------------------------

MODULES = [
    (nn.SELU(), F.selu), (nn.Mish(), F.mish), (nn.Hardswish(), F.hardswish), (nn.Hardsigmoid(), F.hardsigmoid),
    (nn.LogSigmoid(), F.logsigmoid), (nn.Tanhshrink(), F.tanhshrink), (nn.Softsign(), F.softsign),
    (nn.Threshold(0.2, -1.0), lambda x: F.threshold(x, 0.2, -1.0)), (nn.GLU(), F.glu),
    (nn.GLU(0), lambda x: F.glu(x, 0)),
    (nn.Softmin(1), lambda x: F.softmin(x, 1)),
    (nn.ZeroPad2d((1, 2, 0, 3)), lambda x: F.pad(x, (1, 2, 0, 3))),
    (nn.ConstantPad2d(1, 2.5), lambda x: F.pad(x, (1, 1, 1, 1), value=2.5)),
]


@pytest.mark.parametrize("module,fn", MODULES, ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else "")
def test_module_forward_is_the_functional(module, fn):
    x = t64(arr(2, 4, 6))
    close(module(x), fn(x).numpy())


LOSS_MODULES = [
    (nn.SmoothL1Loss(beta=0.5), lambda a, b: F.smooth_l1_loss(a, b, beta=0.5)),
    (nn.SmoothL1Loss(reduction="sum"), lambda a, b: F.smooth_l1_loss(a, b, reduction="sum")),
    (nn.HuberLoss(delta=2.0), lambda a, b: F.huber_loss(a, b, delta=2.0)),
    (nn.HuberLoss(reduction="none"), lambda a, b: F.huber_loss(a, b, reduction="none")),
    (nn.KLDivLoss(reduction="batchmean"), lambda a, b: F.kl_div(a, b, reduction="batchmean")),
    (nn.KLDivLoss(reduction="sum", log_target=True), lambda a, b: F.kl_div(a, b, reduction="sum", log_target=True)),
    (nn.CosineSimilarity(dim=0, eps=0.5), lambda a, b: F.cosine_similarity(a, b, 0, 0.5)),
    (nn.PairwiseDistance(p=1.0, eps=0.1, keepdim=True), lambda a, b: F.pairwise_distance(a, b, 1.0, 0.1, True)),
]


@pytest.mark.parametrize("module,fn", LOSS_MODULES, ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else "")
def test_two_input_module_forward_is_the_functional(module, fn):
    a, b = t64(np.log(RNG.random((3, 4)))), t64(RNG.random((3, 4)))
    close(module(a, b), fn(a, b).numpy())


def test_legacy_flags_on_loss_modules():
    with pytest.warns(UserWarning, match=re.escape("reduction='sum'")):
        assert nn.SmoothL1Loss(size_average=False).reduction == "sum"
    with pytest.warns(UserWarning, match=re.escape("reduction='none'")):
        assert nn.KLDivLoss(reduce=False).reduction == "none"
    with pytest.raises(TypeError, match=re.escape("delta must be a float or int, got: <class 'str'>")):
        nn.HuberLoss(delta="1")


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
    (nn.SmoothL1Loss(), "SmoothL1Loss()"), (nn.HuberLoss(), "HuberLoss()"), (nn.KLDivLoss(), "KLDivLoss()"),
    (nn.CosineSimilarity(), "CosineSimilarity()"), (nn.PairwiseDistance(), "PairwiseDistance()"),
    (nn.ConstantPad2d(2, 3.5), "ConstantPad2d(padding=(2, 2, 2, 2), value=3.5)"),
    (nn.ConstantPad2d((1, 2, 3, 4), 1), "ConstantPad2d(padding=(1, 2, 3, 4), value=1)"),
    (nn.ZeroPad2d(2), "ZeroPad2d((2, 2, 2, 2))"),
]


@pytest.mark.parametrize("module,text", REPRS, ids=[t for _, t in REPRS])
def test_module_repr(module, text):
    assert repr(module) == text


def test_pad_modules_shapes():
    x = rg.randn(1, 2, 3, 4)
    assert nn.ZeroPad2d((1, 2, 0, 3))(x).shape == (1, 2, 6, 7)
    assert nn.ConstantPad2d(-1, 0.0)(x).shape == (1, 2, 1, 2)


# ----- tensor ops ------------------------------------------------------------------------------------

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


def test_get_default_dtype():
    assert rg.get_default_dtype() == rg.float32
    assert rg.randn(2).dtype == rg.get_default_dtype()


# ----- PyTorch parity (values and gradients, float32 and float64) ----------------------------------

def _both(torch, *arrays, dtype="float64"):
    rgs = [rg.tensor(np.asarray(a, dtype=dtype), requires_grad=True) for a in arrays]
    ts = [torch.tensor(np.asarray(a, dtype=dtype), requires_grad=True) for a in arrays]
    return rgs, ts


def _check_parity(torch, rg_fn, torch_fn, *arrays, dtype="float64", grad_tol=None):
    rgs, ts = _both(torch, *arrays, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, ref = rg_fn(*rgs), torch_fn(*ts)
    tol = 1e-12 if dtype == "float64" else 1e-5
    if grad_tol is None:
        grad_tol = tol
    assert tuple(out.shape) == tuple(ref.shape)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=tol, atol=tol)
    g = np.asarray(RNG.standard_normal(tuple(ref.shape)), dtype=dtype)
    out.backward(rg.tensor(g))
    ref.backward(torch.tensor(g))
    for a, b in zip(rgs, ts):
        if b.grad is None:
            continue
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=grad_tol, atol=grad_tol)


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


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_torch_parity_smooth_losses(reduction, dtype):
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    x, y = loss_inputs()
    for beta in (1.0, 0.5, 0.0):
        _check_parity(torch, lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction, beta=beta),
                      lambda a, b: TF.smooth_l1_loss(a, b, reduction=reduction, beta=beta), x, y, dtype=dtype)
    for delta in (1.0, 0.5, 2.0):
        _check_parity(torch, lambda a, b: F.huber_loss(a, b, reduction=reduction, delta=delta),
                      lambda a, b: TF.huber_loss(a, b, reduction=reduction, delta=delta), x, y, dtype=dtype)
    w = RNG.random((4, 5))
    _check_parity(torch, lambda a, b, c: F.huber_loss(a, b, reduction=reduction, weight=c),
                  lambda a, b, c: TF.huber_loss(a, b, reduction=reduction, weight=c), x, y, w, dtype=dtype)
    _check_parity(torch, lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction),
                  lambda a, b: TF.smooth_l1_loss(a, b, reduction=reduction), x, y[0], dtype=dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_torch_parity_kl_div(reduction, log_target, dtype):
    torch = pytest.importorskip("torch")
    inp = np.log(RNG.random((4, 5)))
    target = RNG.random((4, 5))
    if log_target:
        target = np.log(target)
    _check_parity(torch, lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target),
                  lambda a, b: torch.nn.functional.kl_div(a, b, reduction=reduction, log_target=log_target),
                  inp, target, dtype=dtype)


def test_torch_parity_kl_div_zero_target_gradient():
    # xlogy(0, 0) is 0; the target's gradient there is nan in both (0 / 0 in PyTorch's formula).
    torch = pytest.importorskip("torch")
    inp, target = np.log(RNG.random((2, 3))), RNG.random((2, 3))
    target[0, 1] = 0.0
    rgs, ts = _both(torch, inp, target)
    F.kl_div(*rgs, reduction="sum").backward()
    torch.nn.functional.kl_div(*ts, reduction="sum").backward()
    np.testing.assert_allclose(rgs[0].grad.numpy(), ts[0].grad.numpy(), rtol=1e-12)
    np.testing.assert_array_equal(np.isnan(rgs[1].grad.numpy()), np.isnan(ts[1].grad.numpy()))


def test_torch_parity_modules_repr():
    torch = pytest.importorskip("torch")
    specs = [("SELU", (), {"inplace": True}), ("Mish", (), {}), ("Hardswish", (), {}), ("Hardsigmoid", (), {}),
             ("LogSigmoid", (), {}), ("Tanhshrink", (), {}), ("Softsign", (), {}), ("Threshold", (0.1, 20), {}),
             ("GLU", (1,), {}), ("PReLU", (3, 0.1), {}), ("Softmin", (1,), {}), ("SmoothL1Loss", (), {"beta": 0.5}),
             ("HuberLoss", (), {}), ("KLDivLoss", (), {}), ("CosineSimilarity", (), {}), ("PairwiseDistance", (), {}),
             ("ConstantPad2d", ((1, 2, 3, 4), 1.5), {}), ("ZeroPad2d", (2,), {})]
    for name, args, kwargs in specs:
        assert repr(getattr(nn, name)(*args, **kwargs)) == repr(getattr(torch.nn, name)(*args, **kwargs))
    assert list(nn.PReLU(3).state_dict()) == list(torch.nn.PReLU(3).state_dict())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_parity_tensor_ops(dtype):
    torch = pytest.importorskip("torch")
    c, a, b = arr(3), arr(2, 4), arr(4, 3)
    for kw in ({}, {"beta": 0.5, "alpha": -2.0}):
        _check_parity(torch, lambda x, y, z: rg.addmm(x, y, z, **kw), lambda x, y, z: torch.addmm(x, y, z, **kw),
                      c, a, b, dtype=dtype)
    _check_parity(torch, rg.outer, torch.outer, arr(3), arr(4), dtype=dtype)
    s, t1, t2 = arr(3), arr(2, 1), arr(3) + 5
    _check_parity(torch, lambda x, y, z: rg.addcmul(x, y, z, value=0.3),
                  lambda x, y, z: torch.addcmul(x, y, z, value=0.3), s, t1, t2, dtype=dtype)
    _check_parity(torch, lambda x, y, z: rg.addcdiv(x, y, z, value=-2),
                  lambda x, y, z: torch.addcdiv(x, y, z, value=-2), s, t1, t2, dtype=dtype)
    for w in (0.3, 0.7, -0.6, 1.5):
        _check_parity(torch, lambda x, y: rg.lerp(x, y, w), lambda x, y: torch.lerp(x, y, w), arr(2, 3), arr(3),
                      dtype=dtype)
    _check_parity(torch, rg.lerp, torch.lerp, arr(2, 3), arr(3), RNG.random((4, 1, 1)) * 1.6 - 0.3, dtype=dtype)
    for d in (0, 1, -2):
        _check_parity(torch, lambda x: rg.tril(x, d), lambda x: torch.tril(x, d), arr(2, 3, 4), dtype=dtype)
        _check_parity(torch, lambda x: rg.triu(x, d), lambda x: torch.triu(x, d), arr(2, 3, 4), dtype=dtype)
    x = np.array([1.0, math.inf, -math.inf, math.nan, 0.0], dtype=dtype)
    assert rg.isinf(rg.tensor(x)).tolist() == torch.isinf(torch.tensor(x)).tolist()
    assert rg.isfinite(rg.tensor(x)).tolist() == torch.isfinite(torch.tensor(x)).tolist()


def test_torch_parity_error_messages():
    """The same bad calls in both libraries raise the same type with the same message."""
    torch = pytest.importorskip("torch")
    cases = [
        lambda m: m.nn.functional.glu(m.randn(3, 5)),
        lambda m: m.nn.functional.glu(m.tensor(1.0)),
        lambda m: m.nn.functional.prelu(m.randn(3, 4), m.tensor([0.1, 0.2])),
        lambda m: m.nn.functional.prelu(m.randn(3, 4), m.randn(2, 2)),
        lambda m: m.nn.functional.smooth_l1_loss(m.randn(3), m.randn(3), beta=-1.0),
        lambda m: m.nn.functional.huber_loss(m.randn(3), m.randn(3), delta=0.0),
        lambda m: m.nn.functional.kl_div(m.randn(3), m.randn(3), reduction="foo"),
        lambda m: m.nn.functional.cosine_similarity(m.randn(3, 4), m.randn(2, 4)),
        lambda m: m.nn.functional.cosine_similarity(m.randn(3, 4), m.randn(3, 4), dim=2),
        lambda m: m.nn.functional.pairwise_distance(m.randn(3, 4), m.randn(2, 4)),
        lambda m: m.addmm(m.randn(3), m.randn(2, 4), m.randn(5, 3)),
        lambda m: m.addmm(m.randn(5), m.randn(2, 4), m.randn(4, 3)),
        lambda m: m.outer(m.randn(3, 1), m.randn(3)),
        lambda m: m.lerp(m.randn(3), m.randn(3, dtype=m.float64), 0.5),
        lambda m: m.tril(m.randn(3)),
        lambda m: m.triu(m.randn(3, 4), 1.5),
        lambda m: m.randn(3, 4).tril(diagonal=0.5),
        lambda m: m.randn(3, 4).triu_(2.0),
        lambda m: m.randn(3).addcmul_(m.randn(2, 3), m.randn(3)),
        lambda m: m.addcmul(m.randn(3), m.randn(2), m.randn(3)),
        lambda m: m.addcdiv(m.randn(3), m.randn(3), m.randn(2, 1, 2)),
        lambda m: m.lerp(m.randn(3), m.randn(2), 0.5),
        lambda m: m.lerp(m.randn(3), m.randn(3), m.rand(4, 2)),
        lambda m: m.addcdiv(m.tensor([1, 2]), m.tensor([1, 2]), m.tensor([1, 2])),
        lambda m: m.lerp(m.tensor([1, 2]), m.tensor([1, 2]), 0.5),
        lambda m: m.nn.functional.hardswish(m.tensor([1, 2])),
        lambda m: m.nn.functional.kl_div(m.tensor([1, 2]), m.tensor([1, 2]), reduction="sum"),
        lambda m: m.nn.functional.prelu(m.randn(3), m.rand(1, dtype=m.float64)),
        lambda m: m.nn.functional.cosine_similarity(m.tensor([1, 2]), m.tensor([1, 2]), dim=0),
        lambda m: m.nn.HuberLoss(delta="1"),
        lambda m: m.randn(2, 3).addcdiv(None, None),
        lambda m: m.addcdiv(m.randn(3), "a", m.randn(3)),
        lambda m: m.randn(2, 3).addmm(None, m.randn(3, 3)),
        lambda m: m.addmm(m.randn(3), m.randn(2, 3), 1.0),
        lambda m: m.outer(m.randn(3), 3.5),
        lambda m: m.randn(3).addcmul(m.randn(3), m.randn(3), value="a"),
        lambda m: m.randn(3).addcmul_(m.randn(3), 3),
        lambda m: m.randn(3).addmm(m.randn(2, 3), m.randn(3, 3), beta="a"),
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
