"""multilabel_margin_loss / MultiLabelMarginLoss, triplet_margin_with_distance_loss /
TripletMarginWithDistanceLoss and the NLLLoss2d alias: values and gradients against PyTorch,
gradcheck, errors."""

import warnings

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
import rustgrad.nn.functional as F
from rustgrad.autograd import gradcheck
from nn_parity import check, raises_like

torch = pytest.importorskip("torch")
TF = torch.nn.functional
RNG = np.random.default_rng(0)

TARGET = np.array([[3, 0, -1, 1], [1, 2, 3, 0], [-1, 2, 1, 0], [2, 2, -1, 0]])


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_multilabel_margin_loss_matches_torch(reduction):
    t_rg, t_t = rg.tensor(TARGET), torch.tensor(TARGET)
    check(torch, lambda x: F.multilabel_margin_loss(x, t_rg, reduction=reduction),
          lambda x: TF.multilabel_margin_loss(x, t_t, reduction=reduction), RNG.standard_normal((4, 4)))
    m_rg, m_t = nn.MultiLabelMarginLoss(reduction=reduction), torch.nn.MultiLabelMarginLoss(reduction=reduction)
    assert repr(m_rg) == repr(m_t)
    check(torch, lambda x: m_rg(x, t_rg), lambda x: m_t(x, t_t), RNG.standard_normal((4, 4)))


def test_multilabel_margin_loss_1d_and_gradcheck():
    t1 = np.array([2, 0, -1, 1, 3])
    check(torch, lambda x: F.multilabel_margin_loss(x, rg.tensor(t1), reduction="none"),
          lambda x: TF.multilabel_margin_loss(x, torch.tensor(t1), reduction="none"), RNG.standard_normal(5))
    x = rg.tensor(RNG.standard_normal((4, 4)), requires_grad=True)
    assert gradcheck(lambda t: F.multilabel_margin_loss(t, rg.tensor(TARGET)), (x,))


@pytest.mark.parametrize("call", [
    lambda F, t: F.multilabel_margin_loss(t.randn(3, 4), t.zeros(3, 4)),
    lambda F, t: F.multilabel_margin_loss(t.randn(3, 4), t.full((3, 4), 5)),
    lambda F, t: F.multilabel_margin_loss(t.randn(3, 4), t.zeros(3, 3, dtype=t.int64)),
    lambda F, t: F.triplet_margin_with_distance_loss(t.randn(3, 4), t.randn(3, 4), t.randn(3), margin=0),
    lambda F, t: F.triplet_margin_with_distance_loss(t.randn(3, 4), t.randn(3, 4), t.randn(3)),
])
def test_errors_match_torch(call):
    raises_like(torch, lambda: call(F, rg), lambda: call(TF, torch))


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_triplet_with_distance_matches_torch(swap, reduction):
    check(torch, lambda a, p, n: F.triplet_margin_with_distance_loss(a, p, n, swap=swap, reduction=reduction,
                                                                     margin=2.0),
          lambda a, p, n: TF.triplet_margin_with_distance_loss(a, p, n, swap=swap, reduction=reduction, margin=2.0),
          RNG.standard_normal((5, 3)), RNG.standard_normal((5, 3)), RNG.standard_normal((5, 3)))


def test_triplet_with_custom_distance_and_module():
    def cos_rg(a, b):
        return 1 - F.cosine_similarity(a, b)

    def cos_t(a, b):
        return 1 - TF.cosine_similarity(a, b)

    arrays = [RNG.standard_normal((6, 4)) for _ in range(3)]
    m_rg = nn.TripletMarginWithDistanceLoss(distance_function=cos_rg, margin=0.5, swap=True)
    m_t = torch.nn.TripletMarginWithDistanceLoss(distance_function=cos_t, margin=0.5, swap=True)
    check(torch, m_rg, m_t, *arrays)
    assert repr(nn.TripletMarginWithDistanceLoss()) == repr(torch.nn.TripletMarginWithDistanceLoss())
    with pytest.raises(ValueError, match="TripletMarginWithDistanceLoss: expected margin to be greater than 0, got "
                                         "-1 instead"):
        nn.TripletMarginWithDistanceLoss(margin=-1)
    a, p, n = (rg.tensor(x, requires_grad=True) for x in arrays)
    assert gradcheck(lambda a, p, n: F.triplet_margin_with_distance_loss(a, p, n, distance_function=cos_rg),
                     (a, p, n))


def test_nll_loss_2d_alias():
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        m_rg = nn.NLLLoss2d()
    assert any(issubclass(w.category, FutureWarning) and "NLLLoss2d" in str(w.message) for w in got)
    with pytest.warns(FutureWarning):
        m_t = torch.nn.NLLLoss2d()
    assert repr(m_rg) == repr(m_t)
    target = RNG.integers(0, 3, (2, 4, 5))
    check(torch, lambda x: m_rg(x.log_softmax(1), rg.tensor(target)),
          lambda x: m_t(x.log_softmax(1), torch.tensor(target)), RNG.standard_normal((2, 3, 4, 5)))
