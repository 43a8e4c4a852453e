"""bilinear / nn.Bilinear, pdist, channel_shuffle / nn.ChannelShuffle / native_channel_shuffle and
the deprecated upsample_nearest / upsample_bilinear: values and gradients against PyTorch,
gradcheck, parameters, errors."""

import warnings

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
import rustgrad.nn.functional as F
from rustgrad.autograd import gradcheck
from nn_parity import check, copy_module, raises_like

torch = pytest.importorskip("torch")
TF = torch.nn.functional
RNG = np.random.default_rng(0)


def arr(*shape):
    return RNG.standard_normal(shape)


@pytest.mark.parametrize("lead", [(4,), (2, 3), ()])
def test_bilinear_matches_torch(lead):
    check(torch, F.bilinear, TF.bilinear, arr(*lead, 3), arr(*lead, 2), arr(5, 3, 2), arr(5))
    check(torch, lambda a, b, w: F.bilinear(a, b, w), lambda a, b, w: TF.bilinear(a, b, w), arr(*lead, 3),
          arr(*lead, 2), arr(5, 3, 2))


def test_bilinear_gradcheck_and_module():
    a, b = rg.tensor(arr(2, 3), requires_grad=True), rg.tensor(arr(2, 2), requires_grad=True)
    w, bias = rg.tensor(arr(4, 3, 2), requires_grad=True), rg.tensor(arr(4), requires_grad=True)
    assert gradcheck(F.bilinear, (a, b, w, bias))
    m_rg, m_t = nn.Bilinear(3, 2, 4).double(), torch.nn.Bilinear(3, 2, 4).double()
    assert repr(m_rg) == repr(m_t)
    assert [(k, tuple(v.shape)) for k, v in m_rg.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in m_t.state_dict().items()]
    bound = 1 / np.sqrt(3)
    assert np.abs(m_rg.weight.detach().numpy()).max() <= bound
    copy_module(m_t, m_rg)
    check(torch, m_rg, m_t, arr(5, 3), arr(5, 2))
    assert nn.Bilinear(3, 2, 4, bias=False).bias is None
    assert repr(nn.Bilinear(3, 2, 4, bias=False)) == repr(torch.nn.Bilinear(3, 2, 4, bias=False))


@pytest.mark.parametrize("call", [
    lambda F, t: F.bilinear(t.randn(2, 3), t.randn(2, 4), t.randn(5, 3, 5)),
    lambda F, t: F.bilinear(t.randn(2, 3), t.randn(3, 4), t.randn(5, 3, 4)),
    lambda F, t: F.bilinear(t.randn(2, 3), t.randn(2, 4), t.randn(5, 4, 4)),
    lambda F, t: F.bilinear(t.randn(2, 3), t.randn(2, 4), t.randn(5, 3, 4), t.randn(4)),
    lambda F, t: F.pdist(t.randn(2, 4, 3)),
    lambda F, t: F.pdist(t.randn(4, 3), p=-1),
    lambda F, t: F.channel_shuffle(t.randn(2, 5, 3), 2),
    lambda F, t: F.channel_shuffle(t.randn(2, 4, 3), 0),
    lambda F, t: F.channel_shuffle(t.randn(2, 4), 2),
])
def test_errors_match_torch(call):
    raises_like(torch, lambda: call(F, rg), lambda: call(TF, torch))


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 0.0, float("inf")])
def test_pdist_matches_torch(p):
    check(torch, lambda x: F.pdist(x, p), lambda x: TF.pdist(x, p), arr(5, 3), grad=p != 0.0)
    assert F.pdist(rg.randn(1, 3)).shape == (0,)


def test_pdist_gradcheck():
    x = rg.tensor(arr(4, 3), requires_grad=True)
    assert gradcheck(lambda t: F.pdist(t), (x,))
    assert gradcheck(lambda t: F.pdist(t, 1.5), (x,))


@pytest.mark.parametrize("shape, groups", [((2, 6, 3), 2), ((1, 12, 2, 2), 3), ((2, 4, 1, 2, 2), 4)])
def test_channel_shuffle_matches_torch(shape, groups):
    check(torch, lambda x: F.channel_shuffle(x, groups), lambda x: TF.channel_shuffle(x, groups), arr(*shape))
    # PyTorch's native_channel_shuffle has no derivative; ours is channel_shuffle itself.
    check(torch, lambda x: F.native_channel_shuffle(x, groups), lambda x: TF.native_channel_shuffle(x, groups),
          arr(*shape), grad=False)
    m_rg, m_t = nn.ChannelShuffle(groups), torch.nn.ChannelShuffle(groups)
    assert repr(m_rg) == repr(m_t)
    check(torch, m_rg, m_t, arr(*shape))


def test_deprecated_upsample_functions():
    x = arr(1, 2, 3, 4)
    for name, kw in (("upsample_nearest", {"scale_factor": 2}), ("upsample_bilinear", {"size": (5, 7)}),
                     ("upsample_bilinear", {"scale_factor": 2})):
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            out = getattr(F, name)(rg.tensor(x), **kw)
        with warnings.catch_warnings(record=True) as expected:
            warnings.simplefilter("always")
            ref = getattr(TF, name)(torch.tensor(x), **kw)
        np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-10)
        assert [str(w.message) for w in got] == [str(w.message) for w in expected]


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, float("inf")])
def test_pdist_ties_gradient_matches_torch(p):
    rows = np.array([[1.0, 2.0], [1.0, 3.0], [0.0, 1.0], [2.5, 2.0]])  # equal |differences| in some pairs
    check(torch, lambda x: F.pdist(x, p), lambda x: TF.pdist(x, p), rows)
