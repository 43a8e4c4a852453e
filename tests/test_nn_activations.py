"""The activations added for PyTorch parity: CELU, Hardshrink, Softshrink, RReLU, Softmax2d, selu_,
gumbel_softmax (modules and functions): values and gradients against PyTorch, gradcheck, errors."""

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
import rustgrad.nn.functional as F
from rustgrad.autograd import gradcheck
from nn_parity import check, raises_like

torch = pytest.importorskip("torch")
RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4, 5)) * 2


@pytest.mark.parametrize("name, kwargs", [("celu", {}), ("celu", {"alpha": 0.5}), ("hardshrink", {}),
                                          ("hardshrink", {"lambd": 1.2}), ("softshrink", {}),
                                          ("softshrink", {"lambd": 0.8}), ("rrelu", {}),
                                          ("rrelu", {"lower": 0.2, "upper": 0.4})])
def test_functional_matches_torch(name, kwargs):
    check(torch, lambda x: getattr(F, name)(x, **kwargs), lambda x: getattr(torch.nn.functional, name)(x, **kwargs), X)


@pytest.mark.parametrize("name", ["celu", "hardshrink", "softshrink", "rrelu"])
def test_gradcheck(name):
    x = rg.tensor(RNG.standard_normal(7) * 2, requires_grad=True)
    assert gradcheck(lambda t: getattr(F, name)(t), (x,))


@pytest.mark.parametrize("module, args", [("CELU", (0.7,)), ("Hardshrink", (0.3,)), ("Softshrink", (0.3,)),
                                          ("RReLU", (0.1, 0.3)), ("Softmax2d", ())])
def test_modules_match_torch(module, args):
    m_rg, m_t = getattr(nn, module)(*args).eval(), getattr(torch.nn, module)(*args).eval()
    check(torch, m_rg, m_t, X)
    assert repr(m_rg) == repr(m_t)


def test_softmax2d_4d_and_error():
    check(torch, nn.Softmax2d(), torch.nn.Softmax2d(), RNG.standard_normal((2, 3, 4, 5)))
    raises_like(torch, lambda: nn.Softmax2d()(rg.randn(3, 4)), lambda: torch.nn.Softmax2d()(torch.randn(3, 4)))


def test_inplace_forms():
    x = rg.tensor(X.copy())
    out = F.celu_(x, 0.5)
    assert out is x
    np.testing.assert_allclose(x.numpy(), torch.nn.functional.celu(torch.tensor(X), 0.5).numpy(), rtol=1e-12)
    x = rg.tensor(X.copy())
    F.selu_(x)
    np.testing.assert_allclose(x.numpy(), torch.nn.functional.selu(torch.tensor(X)).numpy(), rtol=1e-12)
    x = rg.tensor(X.copy())
    F.rrelu_(x)
    np.testing.assert_allclose(x.numpy(), torch.nn.functional.rrelu(torch.tensor(X)).numpy(), rtol=1e-12)
    assert repr(nn.CELU(inplace=True)) == repr(torch.nn.CELU(inplace=True))
    assert repr(nn.RReLU(inplace=True)) == repr(torch.nn.RReLU(inplace=True))


def test_rrelu_training_slopes_in_range():
    x = rg.tensor(-np.abs(RNG.standard_normal(2000)) - 0.1, requires_grad=True)
    y = F.rrelu(x, 0.1, 0.3, training=True)
    slope = (y / x).detach().numpy()
    assert slope.min() >= 0.1 and slope.max() <= 0.3 and slope.std() > 0.03
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), slope, rtol=1e-12)
    pos = rg.tensor([1.0, 2.0])
    assert F.rrelu(pos, training=True).tolist() == [1.0, 2.0]
    m = nn.RReLU()
    assert (m(x.detach()) / x.detach()).std().item() > 0.0  # training mode draws slopes
    m.eval()
    np.testing.assert_allclose((m(x.detach()) / x.detach()).numpy(), (1 / 8 + 1 / 3) / 2, rtol=1e-12)


@pytest.mark.parametrize("call", [
    lambda F, t: F.softshrink(t.randn(4), -1.0),
    lambda F, t: F.celu(t.randn(4), 0.0),
    lambda F, t: F.celu(t.tensor([1, 2]), 1.0),
    lambda F, t: F.hardshrink(t.tensor([1, 2])),
    lambda F, t: F.rrelu(t.randn(4), 0.5, 0.1, True),
])
def test_errors_match_torch(call):
    raises_like(torch, lambda: call(F, rg), lambda: call(torch.nn.functional, torch))


def test_gumbel_softmax():
    logits = rg.tensor(RNG.standard_normal((500, 4)), requires_grad=True)
    soft = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(soft.sum(-1).detach().numpy(), 1.0, rtol=1e-12)
    hard = F.gumbel_softmax(logits, hard=True)
    h = hard.detach().numpy()
    assert set(np.unique(h)) <= {0.0, 1.0} and (h.sum(-1) == 1).all()
    # Straight-through: the gradient is the soft sample's, so it is non-zero.
    (hard * rg.tensor(RNG.standard_normal((500, 4)))).sum().backward()
    assert np.abs(logits.grad.numpy()).sum() > 0
    # Samples follow softmax(logits): a strongly preferred class wins almost always.
    sharp = rg.tensor([[0.0, 5.0, 0.0]]).expand(1000, 3)
    assert (F.gumbel_softmax(sharp, hard=True).argmax(-1) == 1).float().mean().item() > 0.9
    assert F.gumbel_softmax(rg.randn(2, 3, 4), dim=1).shape == (2, 3, 4)


@pytest.mark.parametrize("module, args", [("ReLU6", ()), ("ELU", (0.7,)), ("SiLU", ()), ("Softplus", (2.0, 5.0)),
                                          ("Hardtanh", (-0.5, 0.8))])
def test_older_activation_modules_match_torch(module, args):
    m_rg, m_t = getattr(nn, module)(*args), getattr(torch.nn, module)(*args)
    assert repr(m_rg) == repr(m_t)
    check(torch, m_rg, m_t, X)


@pytest.mark.parametrize("name, args", [("leaky_relu_", (0.2,)), ("elu_", (0.5,)), ("hardtanh_", (-0.5, 0.5))])
def test_older_inplace_functions_match_torch(name, args):
    x = rg.tensor(X.copy())
    assert getattr(F, name)(x, *args) is x
    ref = getattr(torch.nn.functional, name)(torch.tensor(X.copy()), *args)
    np.testing.assert_allclose(x.numpy(), ref.numpy(), rtol=1e-12)
