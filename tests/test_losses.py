"""Margin and likelihood losses: values against NumPy formulas (float64), gradients against finite
differences, PyTorch parity (values, gradients, reductions), errors and module reprs."""

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


def r(*shape, grad=True, positive=False):
    x = rg.randn(*shape, dtype=rg.float64)
    if positive:
        x = x.abs() + 0.5
    return x.requires_grad_() if grad else x


def n(t):
    return t.detach().numpy()


def pm1(*shape):
    return rg.tensor(np.where(np.random.default_rng(1).random(shape) > 0.5, 1.0, -1.0))


# ----- values against NumPy -----------------------------------------------------------------------

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
