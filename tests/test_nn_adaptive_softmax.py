"""nn.AdaptiveLogSoftmaxWithLoss: parameters, forward (output and loss), log_prob and predict
against PyTorch with copied weights, gradients, gradcheck, errors."""

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
from rustgrad.autograd import gradcheck
from nn_parity import copy_module

torch = pytest.importorskip("torch")
RNG = np.random.default_rng(0)


def _pair(**kwargs):
    m_t = torch.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6], **kwargs).double()
    m_rg = nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6], **kwargs).double()
    copy_module(m_t, m_rg)
    return m_rg, m_t


@pytest.mark.parametrize("head_bias", [False, True])
def test_forward_matches_torch(head_bias):
    m_rg, m_t = _pair(head_bias=head_bias, div_value=2.0)
    assert repr(m_rg) == repr(m_t)
    assert [(k, tuple(v.shape)) for k, v in m_rg.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in m_t.state_dict().items()]
    x = RNG.standard_normal((12, 8))
    target = np.array([0, 9, 3, 5, 7, 1, 2, 8, 6, 4, 9, 0])
    x_rg, x_t = rg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_rg, out_t = m_rg(x_rg, rg.tensor(target)), m_t(x_t, torch.tensor(target))
    np.testing.assert_allclose(out_rg.output.detach().numpy(), out_t.output.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(out_rg.loss.item(), out_t.loss.item(), rtol=1e-10)
    out_rg.loss.backward()
    out_t.loss.backward()
    np.testing.assert_allclose(x_rg.grad.numpy(), x_t.grad.numpy(), rtol=1e-9, atol=1e-12)
    for (name, p_rg), (_, p_t) in zip(m_rg.named_parameters(), m_t.named_parameters()):
        np.testing.assert_allclose(p_rg.grad.numpy(), p_t.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


def test_log_prob_predict_and_unbatched():
    m_rg, m_t = _pair(div_value=2.0)
    x = RNG.standard_normal((20, 8)) * 3
    np.testing.assert_allclose(m_rg.log_prob(rg.tensor(x)).detach().numpy(),
                               m_t.log_prob(torch.tensor(x)).detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(np.exp(m_rg.log_prob(rg.tensor(x)).detach().numpy()).sum(1), 1.0, rtol=1e-10)
    np.testing.assert_array_equal(m_rg.predict(rg.tensor(x)).numpy(), m_t.predict(torch.tensor(x)).numpy())
    out_rg = m_rg(rg.tensor(x[0]), rg.tensor(7))
    out_t = m_t(torch.tensor(x[0]), torch.tensor(7))
    assert tuple(out_rg.output.shape) == tuple(out_t.output.shape) == ()
    np.testing.assert_allclose(out_rg.output.item(), out_t.output.item(), rtol=1e-10)


def test_gradcheck():
    m = nn.AdaptiveLogSoftmaxWithLoss(4, 6, [2, 4], div_value=2.0).double()
    x = rg.tensor(RNG.standard_normal((5, 4)), requires_grad=True)
    assert gradcheck(lambda t: m(t, rg.tensor([0, 5, 2, 3, 1])).loss, (x,))


def test_errors():
    with pytest.raises(ValueError, match="cutoffs should be a sequence of length larger than 0"):
        nn.AdaptiveLogSoftmaxWithLoss(4, 6, [])
    with pytest.raises(ValueError, match="cutoffs should be a sequence of unique, positive integers"):
        nn.AdaptiveLogSoftmaxWithLoss(4, 6, [3, 2])
    m = nn.AdaptiveLogSoftmaxWithLoss(4, 6, [2])
    with pytest.raises(RuntimeError, match=r"Target values should be in \[0, 5\], but values in range \[0, 6\]"):
        m(rg.randn(2, 4), rg.tensor([0, 6]))
    with pytest.raises(RuntimeError, match="Input and target should have the same size in the batch dimension."):
        m(rg.randn(3, 4), rg.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="0D or 1D target tensor expected, multi-target not supported"):
        m(rg.randn(3, 4), rg.tensor([[0, 1]]))
