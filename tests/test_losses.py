"""The losses written in Python: the margin and likelihood losses, SmoothL1 / Huber and KL divergence.
Values against NumPy formulas (float64), gradients against finite differences, PyTorch parity
(values, gradients, reductions), PyTorch's errors word for word, the modules against their
functionals, legacy reduction flags and module reprs."""

import re
import warnings
from functools import partial

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
import rustgrad.nn.functional as F
from rustgrad.autograd import gradcheck

from op_testing import r, n, random_array, t64, close, both, check_parity
from op_testing import seed  # noqa: F401 (an autouse fixture: rg.manual_seed(0) before each test)


def pm1(*shape):
    return rg.tensor(np.where(np.random.default_rng(1).random(shape) > 0.5, 1.0, -1.0))


# ----- margin and likelihood losses: values against NumPy -----------------------------------------

def test_values_against_numpy():
    a, b, c = r(4, 5), r(4, 5), r(4, 5)
    y = pm1(4)
    na, nb, nc, ny = n(a), n(b), n(c), n(y)
    cos = (na * nb).sum(1) / np.sqrt(((na * na).sum(1) + 1e-12) * ((nb * nb).sum(1) + 1e-12))
    exp = np.where(ny == 1, 1 - cos, np.maximum(cos - 0.2, 0)).mean()
    assert F.cosine_embedding_loss(a, b, y, margin=0.2).item() == pytest.approx(exp, rel=1e-12)
    x1, x2 = r(6), r(6)
    y6 = pm1(6)
    exp = np.maximum(-n(y6) * (n(x1) - n(x2)) + 0.3, 0).sum()
    assert F.margin_ranking_loss(x1, x2, y6, margin=0.3, reduction="sum").item() == pytest.approx(exp, rel=1e-12)
    dp = np.linalg.norm(na - nb + 1e-6, axis=1)
    dn = np.linalg.norm(na - nc + 1e-6, axis=1)
    ds = np.linalg.norm(nb - nc + 1e-6, axis=1)
    np.testing.assert_allclose(n(F.triplet_margin_loss(a, b, c, margin=1.5, swap=True, reduction="none")),
                               np.maximum(1.5 + dp - np.minimum(dn, ds), 0), rtol=1e-12)
    yy = pm1(4, 5)
    exp = np.where(n(yy) == 1, na, np.maximum(1.0 - na, 0)).mean()
    assert F.hinge_embedding_loss(a, yy).item() == pytest.approx(exp, rel=1e-12)
    assert F.soft_margin_loss(a, yy).item() == pytest.approx(np.log1p(np.exp(-n(yy) * na)).mean(), rel=1e-12)
    t01 = (yy + 1) / 2
    w = r(5, grad=False, positive=True)
    ls = -(n(t01) * np.log(1 / (1 + np.exp(-na))) + (1 - n(t01)) * np.log(1 / (1 + np.exp(na)))) * n(w)
    np.testing.assert_allclose(n(F.multilabel_soft_margin_loss(a, t01, weight=w, reduction="none")),
                               ls.sum(1) / 5, rtol=1e-12)
    counts = rg.tensor([[0.0, 1, 2, 3, 7]] * 4, dtype=rg.float64)
    nt = n(counts)
    st = np.where(nt > 1, nt * np.log(np.where(nt > 1, nt, 1)) - nt + 0.5 * np.log(2 * np.pi * np.where(nt > 1, nt, 1)),
                  0)
    np.testing.assert_allclose(n(F.poisson_nll_loss(a, counts, full=True, reduction="none")),
                               np.exp(na) - nt * na + st, rtol=1e-12)
    p = r(4, 5, positive=True)
    np.testing.assert_allclose(n(F.poisson_nll_loss(p, counts, log_input=False, reduction="none")),
                               n(p) - nt * np.log(n(p) + 1e-8), rtol=1e-12)
    var = r(4, 5, positive=True)
    exp = (0.5 * (np.log(n(var)) + (na - nb) ** 2 / n(var)) + 0.5 * np.log(2 * np.pi)).sum()
    assert F.gaussian_nll_loss(a, b, var, full=True, reduction="sum").item() == pytest.approx(exp, rel=1e-12)
    tgt = rg.tensor([0, 4, 2, 2])
    wm = rg.tensor([1.0, 2, 3, 4, 5], dtype=rg.float64)
    exp = []
    for i in range(4):
        k = int(tgt[i])
        z = np.maximum(0.5 - na[i, k] + na[i], 0) ** 2 * n(wm)[k]
        z[k] = 0
        exp.append(z.sum() / 5)
    np.testing.assert_allclose(n(F.multi_margin_loss(a, tgt, p=2, margin=0.5, weight=wm, reduction="none")), exp,
                               rtol=1e-12)


# ----- gradients ----------------------------------------------------------------------------------

GRADS = {
    "cosine_embedding": lambda a, b, c: F.cosine_embedding_loss(a, b, pm1(4), margin=-0.5),
    "margin_ranking": lambda a, b, c: F.margin_ranking_loss(a, b, pm1(4, 5), margin=0.1, reduction="sum"),
    "triplet": lambda a, b, c: F.triplet_margin_loss(a, b, c, margin=3.0),
    "triplet_swap_p1": lambda a, b, c: F.triplet_margin_loss(a, b, c, margin=3.0, p=1, swap=True, reduction="none"),
    "hinge": lambda a, b, c: F.hinge_embedding_loss(a, pm1(4, 5), margin=4.0),
    "soft_margin": lambda a, b, c: F.soft_margin_loss(a, pm1(4, 5)),
    "multilabel_soft_margin": lambda a, b, c: F.multilabel_soft_margin_loss(a, (pm1(4, 5) + 1) / 2, weight=c[0]),
    "poisson": lambda a, b, c: F.poisson_nll_loss(a, b.abs(), full=True),
    "poisson_no_log": lambda a, b, c: F.poisson_nll_loss(a.abs() + 0.1, b, log_input=False, reduction="none"),
    "gaussian": lambda a, b, c: F.gaussian_nll_loss(a, b, c.abs() + 0.1),
    "gaussian_var_col": lambda a, b, c: F.gaussian_nll_loss(a, b, c[:, :1].abs() + 0.1),
    "multi_margin": lambda a, b, c: F.multi_margin_loss(a, rg.tensor([0, 4, 2, 1]), margin=5.0,
                                                        weight=rg.tensor([1.0, 0.5, 2.0, 1.5, 3.0], dtype=rg.float64)),
    "multi_margin_p2": lambda a, b, c: F.multi_margin_loss(a, rg.tensor([0, 4, 2, 1]), p=2, margin=5.0),
}


@pytest.mark.parametrize("name", sorted(GRADS))
def test_gradcheck(name):
    assert gradcheck(GRADS[name], (r(4, 5), r(4, 5), r(4, 5)))


# ----- PyTorch parity -----------------------------------------------------------------------------

PARITY = {
    "cosine_embedding": lambda m, a, b, c: m.nn.functional.cosine_embedding_loss(a, b, m.tensor(
        [1.0, -1, -1, 1], dtype=m.float64), margin=0.1),
    "cosine_embedding_0d": lambda m, a, b, c: m.nn.functional.cosine_embedding_loss(a[0], b[0], m.tensor(
        -1.0, dtype=m.float64), margin=-0.9, reduction="none"),
    "margin_ranking": lambda m, a, b, c: m.nn.functional.margin_ranking_loss(a, b, m.sign(c), margin=0.2,
                                                                             reduction="none"),
    "triplet": lambda m, a, b, c: m.nn.functional.triplet_margin_loss(a, b, c, margin=2.0, p=3, swap=True),
    "triplet_1d": lambda m, a, b, c: m.nn.functional.triplet_margin_loss(a[0], b[0], c[0], reduction="sum"),
    "hinge": lambda m, a, b, c: m.nn.functional.hinge_embedding_loss(a, m.sign(c), margin=0.5, reduction="sum"),
    "soft_margin": lambda m, a, b, c: m.nn.functional.soft_margin_loss(a, m.sign(c).detach(), reduction="none"),
    "multilabel": lambda m, a, b, c: m.nn.functional.multilabel_soft_margin_loss(a, (m.sign(c) + 1) / 2),
    "poisson": lambda m, a, b, c: m.nn.functional.poisson_nll_loss(a, (b * 3).abs().floor(), full=True),
    "poisson_nolog": lambda m, a, b, c: m.nn.functional.poisson_nll_loss(a.abs(), b.abs(), log_input=False,
                                                                         reduction="sum"),
    "gaussian": lambda m, a, b, c: m.nn.functional.gaussian_nll_loss(a, b, c.abs(), full=True, eps=0.3),
    "gaussian_col": lambda m, a, b, c: m.nn.functional.gaussian_nll_loss(a, b, c[:, 0].abs(), reduction="none"),
    "multi_margin": lambda m, a, b, c: m.nn.functional.multi_margin_loss(a, m.tensor([1, 0, 3, 4]), margin=0.7,
                                                                         weight=c[1].detach().abs()),
    "multi_margin_p2": lambda m, a, b, c: m.nn.functional.multi_margin_loss(a, m.tensor([1, 0, 3, 4]), p=2,
                                                                            reduction="none"),
    "multi_margin_1d": lambda m, a, b, c: m.nn.functional.multi_margin_loss(a[0], m.tensor(2), reduction="none"),
}


@pytest.mark.parametrize("name", sorted(PARITY))
def test_torch_parity(name):
    torch = pytest.importorskip("torch")
    gen = np.random.default_rng(3)
    arrays = [gen.standard_normal((4, 5)) for _ in range(3)]
    ours = [rg.tensor(x, requires_grad=True) for x in arrays]
    theirs = [torch.tensor(x, requires_grad=True) for x in arrays]
    out, tout = PARITY[name](rg, *ours), PARITY[name](torch, *theirs)
    assert tuple(out.shape) == tuple(tout.shape)
    np.testing.assert_allclose(n(out), tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    out.sum().backward()
    tout.sum().backward()
    for x, tx in zip(ours, theirs):
        if tx.grad is None:
            assert x.grad is None or not n(x.grad).any()
        else:
            np.testing.assert_allclose(n(x.grad), tx.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("module,args", [
    ("CosineEmbeddingLoss", {"margin": 0.1}), ("MarginRankingLoss", {"margin": 0.5}),
    ("TripletMarginLoss", {"margin": 2.0, "p": 1, "swap": True}), ("HingeEmbeddingLoss", {"margin": 2.0}),
    ("SoftMarginLoss", {"reduction": "sum"}), ("MultiLabelSoftMarginLoss", {"reduction": "none"}),
    ("PoissonNLLLoss", {"log_input": False, "full": True}), ("GaussianNLLLoss", {"full": True, "eps": 1e-3}),
    ("MultiMarginLoss", {"p": 2, "margin": 0.3}),
])
def test_modules_match_torch(module, args):
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(nn, module)(**args), getattr(torch.nn, module)(**args)
    assert repr(ours) == repr(theirs)
    gen = np.random.default_rng(5)
    x = [gen.standard_normal((4, 5)) for _ in range(3)]
    if module in ("CosineEmbeddingLoss",):
        inputs = [x[0], x[1], np.array([1.0, -1, 1, -1])]
    elif module in ("MarginRankingLoss",):
        inputs = [x[0], x[1], np.sign(x[2])]
    elif module == "TripletMarginLoss":
        inputs = x
    elif module in ("HingeEmbeddingLoss", "SoftMarginLoss"):
        inputs = [x[0], np.sign(x[1])]
    elif module == "MultiLabelSoftMarginLoss":
        inputs = [x[0], (np.sign(x[1]) + 1) / 2]
    elif module == "PoissonNLLLoss":
        inputs = [np.abs(x[0]), np.floor(np.abs(x[1]) * 3)]
    elif module == "GaussianNLLLoss":
        inputs = [x[0], x[1], np.abs(x[2])]
    else:
        inputs = [x[0], np.array([0, 1, 4, 2])]
    out = ours(*[rg.tensor(v) for v in inputs])
    tout = theirs(*[torch.tensor(v) for v in inputs])
    np.testing.assert_allclose(n(out), tout.numpy(), rtol=1e-10)


def test_legacy_reduction_flags():
    a, y = r(3, 4), pm1(3, 4)
    with pytest.warns(UserWarning, match=re.escape("please use reduction='sum' instead.")):
        out = F.soft_margin_loss(a, y, size_average=False)
    assert out.item() == pytest.approx(F.soft_margin_loss(a, y, reduction="sum").item())
    with pytest.warns(UserWarning, match=re.escape("please use reduction='none' instead.")):
        out = F.poisson_nll_loss(a, y.abs(), reduce=False)
    assert out.shape == (3, 4)
    with pytest.warns(UserWarning):
        m = nn.HingeEmbeddingLoss(size_average=False)
    assert m.reduction == "sum"
    with pytest.warns(UserWarning):
        m = nn.MultiMarginLoss(reduce=False)
    assert m.reduction == "none"


# ----- errors -------------------------------------------------------------------------------------

def z(*shape, dtype=rg.float64):
    return rg.zeros(*shape, dtype=dtype)


@pytest.mark.parametrize("fn,exc,msg", [
    (lambda: F.cosine_embedding_loss(z(3, 4), z(3, 4), rg.ones(3, 1)), RuntimeError,
     "0D or 1D target tensor expected, multi-target not supported"),
    (lambda: F.cosine_embedding_loss(z(2, 3, 4), z(2, 3, 4), rg.ones(2)), RuntimeError,
     "1D target tensor expects 2D input tensors, but found inputs with sizes [2, 3, 4] and [2, 3, 4]."),
    (lambda: F.cosine_embedding_loss(z(2, 4), z(2, 4), rg.ones(())), RuntimeError,
     "0D target tensor expects 1D input tensors, but found inputs with sizes [2, 4] and [2, 4]."),
    (lambda: F.cosine_embedding_loss(z(3, 4), z(3, 4), z(2)), RuntimeError,
     "The size of tensor a (2) must match the size of tensor b (3) at non-singleton dimension 0"),
    (lambda: F.margin_ranking_loss(z(3), z(4), z(3)), RuntimeError,
     "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 0"),
    (lambda: F.margin_ranking_loss(z(3), z(3, 1), z(3)), RuntimeError,
     "margin_ranking_loss : All input tensors should have same dimension but got sizes: input1: "),
    (lambda: F.triplet_margin_loss(z(4), z(4), z(3, 4)), RuntimeError,
     "The anchor, positive, and negative tensors are expected to have the same number of dimensions, but got: "
     "anchor 1D, positive 1D, and negative 2D inputs"),
    (lambda: F.triplet_margin_loss(z(4), z(4), z(4), margin=-1), ValueError, "margin must be greater than 0, got -1"),
    (lambda: nn.TripletMarginLoss(margin=-1), ValueError,
     "TripletMarginLoss: expected margin to be greater than 0, got -1 instead"),
    (lambda: F.hinge_embedding_loss(z(3, 4), z(3, 5)), RuntimeError,
     "The size of tensor a (5) must match the size of tensor b (4) at non-singleton dimension 1"),
    (lambda: F.soft_margin_loss(z(3, 4), z(3, 5)), RuntimeError,
     "The size of tensor a (4) must match the size of tensor b (5) at non-singleton dimension 1"),
    (lambda: F.gaussian_nll_loss(z(3, 4), z(3, 4), -rg.ones(3, 4)), ValueError, "var has negative entry/entries"),
    (lambda: F.gaussian_nll_loss(z(3, 4), z(3, 4), -1.0), ValueError, "var has negative entry/entries"),
    (lambda: F.gaussian_nll_loss(z(3, 4), z(3, 4), rg.ones(4)), ValueError, "var is of incorrect size"),
    (lambda: F.gaussian_nll_loss(z(3, 4), z(3, 4), rg.ones(3, 4), reduction="foo"), ValueError, "foo is not valid"),
    (lambda: F.multilabel_soft_margin_loss(z(3, 4), z(3, 4), reduction="foo"), ValueError, "foo is not valid"),
    (lambda: F.multi_margin_loss(z(3, 4), rg.tensor([0, 1, 4])), RuntimeError, "target out of range"),
    (lambda: F.multi_margin_loss(z(3, 4), rg.tensor([0, 1])), RuntimeError,
     "multi_margin_loss: target tensor should be 1-D with size equal to the number of input samples (batch size). "
     "Expected target size [3], but got [2]. Input has shape [3, 4]."),
    (lambda: F.multi_margin_loss(z(3, 4), rg.tensor([0, 1, 2]), p=3), ValueError, "only p == 1 and p == 2 supported"),
    (lambda: F.multi_margin_loss(z(3, 4), rg.tensor([0, 1, 2]), weight=rg.ones(3)), RuntimeError,
     "inconsistent weight size, expected 4 but got [3]"),
    (lambda: F.multi_margin_loss(z(2, 4), rg.tensor([0, 1]), weight=rg.ones(1, 4)), ValueError,
     "weight must be one-dimensional"),
    (lambda: F.multi_margin_loss(z(2, 3, 4), rg.tensor([0, 1])), RuntimeError,
     "Expected non-empty vector or matrix with optional 0-dim batch size, but got: [2, 3, 4]"),
    (lambda: F.multi_margin_loss(z(3, 4), z(3)), RuntimeError, "expected scalar type Long but found Double"),
    (lambda: F.multi_margin_loss(z(3, 4), rg.tensor([0, 1, 2]), weight=rg.ones(4, requires_grad=True)), RuntimeError,
     "The function 'multi_margin_loss' is not differentiable with respect to argument 'weight'. This input cannot "
     "have requires_grad True."),
    (lambda: F.soft_margin_loss(z(3, 4), rg.ones(3, 4, requires_grad=True)), RuntimeError,
     "The function 'soft_margin_loss' is not differentiable with respect to argument 'target'. This input cannot "
     "have requires_grad True."),
    (lambda: nn.MultiMarginLoss(p=3), ValueError, "only p == 1 and p == 2 supported"),
    (lambda: nn.MultiMarginLoss(weight=rg.ones(3, 3)), ValueError,
     "MultiMarginLoss: expected weight to be None or 1D tensor, got 2D instead"),
])
def test_errors(fn, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)):
        fn()


@pytest.mark.parametrize("fn", [
    lambda: F.soft_margin_loss(z(2), z(2), reduction="foo"),
    lambda: F.hinge_embedding_loss(z(2), z(2), reduction="foo"),
    lambda: F.poisson_nll_loss(z(2), z(2), reduction="foo"),
    lambda: F.multi_margin_loss(z(2, 3), rg.tensor([0, 1]), reduction="foo"),
    lambda: F.margin_ranking_loss(z(2), z(2), z(2), reduction="foo"),
    lambda: F.cosine_embedding_loss(z(2, 3), z(2, 3), z(2), reduction="foo"),
    lambda: F.triplet_margin_loss(z(2, 3), z(2, 3), z(2, 3), reduction="foo"),
])
def test_bad_reduction(fn):
    with pytest.raises(ValueError, match=re.escape("foo is not a valid value for reduction")):
        fn()


# ----- SmoothL1, Huber and KL divergence ----------------------------------------------------------

RNG = np.random.default_rng(0)  # this module's own stream (arr, and the parity cotangents)
arr = partial(random_array, RNG)
_check_parity = partial(check_parity, rng=RNG)


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


# ----- SmoothL1, Huber and KL divergence modules --------------------------------------------------

LOSS_MODULES = [
    (nn.SmoothL1Loss(beta=0.5), lambda a, b: F.smooth_l1_loss(a, b, beta=0.5)),
    (nn.SmoothL1Loss(reduction="sum"), lambda a, b: F.smooth_l1_loss(a, b, reduction="sum")),
    (nn.HuberLoss(delta=2.0), lambda a, b: F.huber_loss(a, b, delta=2.0)),
    (nn.HuberLoss(reduction="none"), lambda a, b: F.huber_loss(a, b, reduction="none")),
    (nn.KLDivLoss(reduction="batchmean"), lambda a, b: F.kl_div(a, b, reduction="batchmean")),
    (nn.KLDivLoss(reduction="sum", log_target=True), lambda a, b: F.kl_div(a, b, reduction="sum", log_target=True)),
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


REPRS = [(nn.SmoothL1Loss(), "SmoothL1Loss()"), (nn.HuberLoss(), "HuberLoss()"), (nn.KLDivLoss(), "KLDivLoss()")]


@pytest.mark.parametrize("module,text", REPRS, ids=[t for _, t in REPRS])
def test_module_repr(module, text):
    assert repr(module) == text


# ----- SmoothL1, Huber and KL divergence: PyTorch parity (values and gradients, float32 and float64) ---

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
    rgs, ts = both(torch, inp, target)
    F.kl_div(*rgs, reduction="sum").backward()
    torch.nn.functional.kl_div(*ts, reduction="sum").backward()
    np.testing.assert_allclose(rgs[0].grad.numpy(), ts[0].grad.numpy(), rtol=1e-12)
    np.testing.assert_array_equal(np.isnan(rgs[1].grad.numpy()), np.isnan(ts[1].grad.numpy()))


def test_torch_parity_modules_repr():
    torch = pytest.importorskip("torch")
    for name, args, kwargs in [("SmoothL1Loss", (), {"beta": 0.5}), ("HuberLoss", (), {}), ("KLDivLoss", (), {})]:
        assert repr(getattr(nn, name)(*args, **kwargs)) == repr(getattr(torch.nn, name)(*args, **kwargs))


def test_torch_parity_error_messages():
    """The same bad calls in both libraries raise the same type with the same message."""
    torch = pytest.importorskip("torch")
    cases = [
        lambda m: m.nn.functional.smooth_l1_loss(m.randn(3), m.randn(3), beta=-1.0),
        lambda m: m.nn.functional.huber_loss(m.randn(3), m.randn(3), delta=0.0),
        lambda m: m.nn.functional.kl_div(m.randn(3), m.randn(3), reduction="foo"),
        lambda m: m.nn.functional.kl_div(m.tensor([1, 2]), m.tensor([1, 2]), reduction="sum"),
        lambda m: m.nn.HuberLoss(delta="1"),
    ]
    for case in cases:
        with pytest.raises(Exception) as expected:
            case(torch)
        with pytest.raises(type(expected.value), match=re.escape(str(expected.value))):
            case(rg)
