"""embedding_bag / nn.EmbeddingBag: modes sum/mean/max, offsets (with include_last_offset), 2-D
input, per_sample_weights, padding_idx, empty bags, from_pretrained: values and weight gradients
against PyTorch, gradcheck, errors."""

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
import rustgrad.nn.functional as F
from rustgrad.autograd import gradcheck
from nn_parity import raises_like

torch = pytest.importorskip("torch")
TF = torch.nn.functional
RNG = np.random.default_rng(0)
WEIGHT = RNG.standard_normal((10, 3))


def _compare(kwargs, input, offsets=None, psw=None):
    w_rg, w_t = rg.tensor(WEIGHT, requires_grad=True), torch.tensor(WEIGHT, requires_grad=True)
    args_rg = dict(kwargs, offsets=None if offsets is None else rg.tensor(offsets))
    args_t = dict(kwargs, offsets=None if offsets is None else torch.tensor(offsets))
    if psw is not None:
        args_rg["per_sample_weights"] = rg.tensor(psw)
        args_t["per_sample_weights"] = torch.tensor(psw)
    out_rg = F.embedding_bag(rg.tensor(input), w_rg, **args_rg)
    out_t = TF.embedding_bag(torch.tensor(input), w_t, **args_t)
    np.testing.assert_allclose(out_rg.detach().numpy(), out_t.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = RNG.standard_normal(tuple(out_t.shape))
    (out_rg * rg.tensor(g)).sum().backward()
    (out_t * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(w_rg.grad.numpy(), w_t.grad.numpy(), rtol=1e-12, atol=1e-12)


IDX = np.array([1, 2, 4, 5, 4, 3, 2, 9, 0, 0], dtype=np.int64)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("offsets, last", [([0, 3, 3, 7], False), ([0, 2, 5, 10], True), ([0], False),
                                           ([0, 4, 10], False)])
def test_offsets_match_torch(mode, offsets, last):
    _compare({"mode": mode, "include_last_offset": last}, IDX, np.array(offsets, dtype=np.int64))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_2d_input_and_padding_idx_match_torch(mode):
    _compare({"mode": mode}, IDX.reshape(2, 5))
    _compare({"mode": mode, "padding_idx": 4}, IDX, np.array([0, 2, 4, 8], dtype=np.int64))
    _compare({"mode": mode, "padding_idx": 0}, IDX.reshape(5, 2))


def test_per_sample_weights_match_torch():
    psw = RNG.standard_normal(10)
    _compare({"mode": "sum"}, IDX, np.array([0, 3, 6], dtype=np.int64), psw)
    _compare({"mode": "sum", "padding_idx": 2}, IDX.reshape(2, 5), None, psw.reshape(2, 5))


def test_gradcheck_weight_and_per_sample_weights():
    w = rg.tensor(RNG.standard_normal((6, 2)), requires_grad=True)
    psw = rg.tensor(RNG.standard_normal(5), requires_grad=True)
    idx, off = rg.tensor([1, 2, 2, 5, 0]), rg.tensor([0, 2])
    assert gradcheck(lambda w, p: F.embedding_bag(idx, w, off, mode="sum", per_sample_weights=p), (w, psw))
    assert gradcheck(lambda w: F.embedding_bag(idx, w, off, mode="mean"), (w,))
    assert gradcheck(lambda w: F.embedding_bag(idx, w, off, mode="max"), (w,))


def test_module_matches_torch():
    m_t = torch.nn.EmbeddingBag(10, 3, mode="sum", padding_idx=2).double()
    m_rg = nn.EmbeddingBag(10, 3, mode="sum", padding_idx=2).double()
    assert repr(m_rg) == repr(m_t) and list(m_rg.state_dict()) == list(m_t.state_dict())
    assert (m_rg.weight.detach().numpy()[2] == 0).all()
    assert repr(nn.EmbeddingBag(5, 2)) == repr(torch.nn.EmbeddingBag(5, 2))
    m_rg.load_state_dict({"weight": rg.tensor(m_t.weight.detach().numpy())})
    out_rg = m_rg(rg.tensor(IDX), rg.tensor([0, 4]), per_sample_weights=rg.tensor(np.arange(10.0)))
    out_t = m_t(torch.tensor(IDX), torch.tensor([0, 4]), per_sample_weights=torch.tensor(np.arange(10.0)))
    np.testing.assert_allclose(out_rg.detach().numpy(), out_t.detach().numpy(), rtol=1e-12)


def test_from_pretrained():
    emb = rg.tensor(WEIGHT)
    bag = nn.EmbeddingBag.from_pretrained(emb, mode="max")
    assert not bag.weight.requires_grad and bag.mode == "max"
    ref = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(WEIGHT), mode="max")
    np.testing.assert_allclose(bag(rg.tensor(IDX.reshape(5, 2))).numpy(),
                               ref(torch.tensor(IDX.reshape(5, 2))).numpy(), rtol=1e-12)
    assert nn.EmbeddingBag.from_pretrained(emb, freeze=False).weight.requires_grad


@pytest.mark.parametrize("call", [
    lambda F, t: F.embedding_bag(t.tensor([1, 2]), t.randn(5, 3)),
    lambda F, t: F.embedding_bag(t.tensor([1, 2]), t.randn(5, 3), t.tensor([0]), per_sample_weights=t.ones(2)),
    lambda F, t: F.embedding_bag(t.tensor([1, 2]), t.randn(5, 3), t.tensor([0]), mode="foo"),
    lambda F, t: F.embedding_bag(t.tensor([1, 2]), t.randn(5, 3), t.tensor([[0]])),
    lambda F, t: F.embedding_bag(t.tensor([1, 2]), t.randn(5, 3), t.tensor([0, 3])),
    lambda F, t: F.embedding_bag(t.tensor([1, 7]), t.randn(5, 3), t.tensor([0])),
])
def test_errors_match_torch(call):
    raises_like(torch, lambda: call(F, rg), lambda: call(TF, torch))


def test_unsupported_options_raise():
    with pytest.raises(NotImplementedError, match="sparse"):
        F.embedding_bag(rg.tensor([1, 2]), rg.randn(5, 3), rg.tensor([0]), sparse=True)
    with pytest.raises(ValueError, match="if input is 2D, then offsets has to be None, as input is treated is a "
                                         "mini-batch of fixed length sequences. However, found offsets of type"):
        F.embedding_bag(rg.tensor([[1, 2]]), rg.randn(5, 3), rg.tensor([0]))


@pytest.mark.parametrize("mode", ["sum", "mean"])
@pytest.mark.parametrize("padding_idx", [None, 4])
def test_scale_grad_by_freq_matches_torch(mode, padding_idx):
    _compare({"mode": mode, "scale_grad_by_freq": True, "padding_idx": padding_idx}, IDX,
             np.array([0, 3, 6], dtype=np.int64))
    _compare({"mode": mode, "scale_grad_by_freq": True}, IDX.reshape(2, 5))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_max_norm_matches_torch(mode):
    w_rg, w_t = rg.tensor(WEIGHT * 3), torch.tensor(WEIGHT * 3)
    for norm_type in (2.0, 1.0):
        out_rg = F.embedding_bag(rg.tensor(IDX), w_rg, rg.tensor([0, 4]), max_norm=1.5, norm_type=norm_type, mode=mode)
        out_t = TF.embedding_bag(torch.tensor(IDX), w_t, torch.tensor([0, 4]), max_norm=1.5, norm_type=norm_type,
                                 mode=mode)
        np.testing.assert_allclose(out_rg.numpy(), out_t.numpy(), rtol=1e-12)
        np.testing.assert_allclose(w_rg.numpy(), w_t.numpy(), rtol=1e-12)  # the rows renormalised in place
    m = nn.EmbeddingBag(10, 3, max_norm=1.0)
    m(rg.tensor([1, 2]), rg.tensor([0]))
    assert np.linalg.norm(m.weight.detach().numpy()[[1, 2]], axis=1).max() <= 1.0 + 1e-6


def test_max_mode_refuses_scale_grad_by_freq():
    raises_like(torch, lambda: F.embedding_bag(rg.tensor([1, 2]), rg.randn(5, 3), rg.tensor([0]), mode="max",
                                               scale_grad_by_freq=True),
                lambda: TF.embedding_bag(torch.tensor([1, 2]), torch.randn(5, 3), torch.tensor([0]), mode="max",
                                         scale_grad_by_freq=True))


def test_embedding_max_norm_and_scale_grad_by_freq_match_torch():
    idx = np.array([[1, 2, 1], [4, 1, 2]])
    for kwargs in ({"max_norm": 1.0}, {"max_norm": 2.0, "norm_type": 1.0}, {"scale_grad_by_freq": True},
                   {"scale_grad_by_freq": True, "padding_idx": 2}):
        w_rg, w_t = rg.tensor(WEIGHT * 2, requires_grad=True), torch.tensor(WEIGHT * 2, requires_grad=True)
        out_rg, out_t = F.embedding(rg.tensor(idx), w_rg, **kwargs), TF.embedding(torch.tensor(idx), w_t, **kwargs)
        np.testing.assert_allclose(out_rg.detach().numpy(), out_t.detach().numpy(), rtol=1e-12)
        g = RNG.standard_normal(tuple(out_t.shape))
        (out_rg * rg.tensor(g)).sum().backward()
        (out_t * torch.tensor(g)).sum().backward()
        np.testing.assert_allclose(w_rg.grad.numpy(), w_t.grad.numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(w_rg.detach().numpy(), w_t.detach().numpy(), rtol=1e-12)
    m = nn.Embedding(10, 3, max_norm=0.5)
    m(rg.tensor([3]))
    assert np.linalg.norm(m.weight.detach().numpy()[3]) <= 0.5 + 1e-6
    with pytest.raises(NotImplementedError, match="sparse"):
        F.embedding(rg.tensor([1]), rg.randn(3, 2), sparse=True)
