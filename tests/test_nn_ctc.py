"""ctc_loss / nn.CTCLoss: values against PyTorch for padded and concatenated targets, every
reduction, zero_infinity, blank, unbatched input; gradients through log_softmax against PyTorch
(whose ctc backward assumes log_softmax inputs), gradcheck in float64, errors."""

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

T, N, C = 12, 3, 5
LOGITS = RNG.standard_normal((T, N, C))
TARGETS = np.array([[1, 2, 2, 3], [4, 4, 0, 0], [3, 1, 4, 2]])  # blank 0 only as padding
TARGET_LENGTHS = [4, 2, 3]
INPUT_LENGTHS = [12, 9, 7]


def _run(reduction="mean", zero_infinity=False, blank=0, logits=LOGITS, targets=TARGETS, in_lens=INPUT_LENGTHS,
         tgt_lens=TARGET_LENGTHS, concatenated=False, length_tensors=False):
    z_rg, z_t = rg.tensor(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
    if concatenated:
        flat = np.concatenate([row[:n] for row, n in zip(targets, tgt_lens)])
        t_rg, t_t = rg.tensor(flat), torch.tensor(flat)
    else:
        t_rg, t_t = rg.tensor(targets), torch.tensor(targets)
    lens_rg, lens_t = (in_lens, tgt_lens), (in_lens, tgt_lens)
    if length_tensors:
        lens_rg = (rg.tensor(in_lens), rg.tensor(tgt_lens))
        lens_t = (torch.tensor(in_lens), torch.tensor(tgt_lens))
    out_rg = F.ctc_loss(z_rg.log_softmax(-1), t_rg, *lens_rg, blank, reduction, zero_infinity)
    out_t = TF.ctc_loss(z_t.log_softmax(-1), t_t, *lens_t, blank, reduction, zero_infinity)
    np.testing.assert_allclose(out_rg.detach().numpy(), out_t.detach().numpy(), rtol=1e-9)
    if np.isfinite(out_t.detach().numpy()).all() or zero_infinity:
        g = RNG.standard_normal(tuple(out_t.shape))
        (out_rg * rg.tensor(g)).sum().backward()
        (out_t * torch.tensor(g)).sum().backward()
        np.testing.assert_allclose(z_rg.grad.numpy(), z_t.grad.numpy(), rtol=1e-7, atol=1e-10)
    return out_rg


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("concatenated", [False, True])
def test_matches_torch(reduction, concatenated):
    _run(reduction, concatenated=concatenated)


def test_tensor_lengths_and_blank():
    targets = np.where(TARGETS == 4, 0, TARGETS)  # labels 0..3, blank 4
    targets[1, :2] = [2, 1]
    _run("none", blank=4, targets=targets, length_tensors=True)
    _run("mean", blank=4, targets=targets, length_tensors=True, concatenated=True)


def test_impossible_alignment_and_zero_infinity():
    in_lens = [12, 1, 7]  # one frame cannot emit two labels
    out = _run("none", in_lens=in_lens)
    assert np.isinf(out.detach().numpy()[1])
    _run("none", zero_infinity=True, in_lens=in_lens)
    _run("mean", zero_infinity=True, in_lens=in_lens)
    # Repeated labels need a blank between them: 2 frames cannot emit "4 4".
    _run("none", zero_infinity=True, in_lens=[12, 3, 7])
    _run("none", in_lens=[12, 2, 7])


def test_empty_target():
    _run("none", tgt_lens=[4, 0, 3])
    _run("mean", tgt_lens=[4, 0, 3])


def test_unbatched_matches_torch():
    lp = LOGITS[:, 0]
    z_rg, z_t = rg.tensor(lp), torch.tensor(lp)
    out_rg = F.ctc_loss(z_rg.log_softmax(-1), rg.tensor([1, 2]), [10], [2], reduction="none")
    out_t = TF.ctc_loss(z_t.log_softmax(-1), torch.tensor([1, 2]), [10], [2], reduction="none")
    np.testing.assert_allclose(out_rg.numpy(), out_t.numpy(), rtol=1e-10)
    assert tuple(out_rg.shape) == tuple(out_t.shape)


def test_gradcheck_through_log_softmax():
    lp = rg.tensor(RNG.standard_normal((5, 2, 3)), requires_grad=True)
    targets = rg.tensor([[1, 2], [1, 1]])
    assert gradcheck(lambda x: F.ctc_loss(x.log_softmax(-1), targets, [5, 5], [2, 2], reduction="sum"), (lp,))
    assert gradcheck(lambda x: F.ctc_loss(x.log_softmax(-1), targets, [5, 4], [2, 2], reduction="none"), (lp,))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_leaf_log_probs_gradient_is_pytorchs(reduction):
    """PyTorch's documented usage: log_probs made a leaf after log_softmax. Its backward is
    exp(log_probs) - posterior (not the derivative with respect to log_probs alone); rustgrad's too."""
    lp = np.log(np.random.default_rng(3).dirichlet(np.ones(C), size=(T, N)))
    a, b = rg.tensor(lp, requires_grad=True), torch.tensor(lp, requires_grad=True)
    out_rg = F.ctc_loss(a, rg.tensor(TARGETS), INPUT_LENGTHS, TARGET_LENGTHS, reduction=reduction)
    out_t = TF.ctc_loss(b, torch.tensor(TARGETS), INPUT_LENGTHS, TARGET_LENGTHS, reduction=reduction)
    np.testing.assert_allclose(out_rg.detach().numpy(), out_t.detach().numpy(), rtol=1e-10)
    g = np.random.default_rng(4).standard_normal(tuple(out_t.shape))
    (out_rg * rg.tensor(g)).sum().backward()
    (out_t * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_module():
    m_rg, m_t = nn.CTCLoss(blank=0, zero_infinity=True), torch.nn.CTCLoss(blank=0, zero_infinity=True)
    assert repr(m_rg) == repr(m_t) and m_rg.blank == 0 and m_rg.zero_infinity
    lp = LOGITS
    out_rg = m_rg(rg.tensor(lp).log_softmax(-1), rg.tensor(TARGETS), INPUT_LENGTHS, TARGET_LENGTHS)
    out_t = m_t(torch.tensor(lp).log_softmax(-1), torch.tensor(TARGETS), INPUT_LENGTHS, TARGET_LENGTHS)
    np.testing.assert_allclose(out_rg.numpy(), out_t.numpy(), rtol=1e-10)
    assert nn.CTCLoss(reduction="sum").reduction == "sum"


LP = torch.randn(5, 2, 4).log_softmax(2)


@pytest.mark.parametrize("call", [
    lambda F, t, lp: F.ctc_loss(lp, t.tensor([[1, 2], [1, 1]]), [5, 5], [2, 3]),
    lambda F, t, lp: F.ctc_loss(lp, t.tensor([[1, 2], [1, 1]]), [5, 6], [2, 2]),
    lambda F, t, lp: F.ctc_loss(lp, t.tensor([[1, 2], [1, 1]]), [5], [2, 2]),
    lambda F, t, lp: F.ctc_loss(lp, t.tensor([[1, 2], [1, 1]]), [5, 5], [2, 2], blank=4),
    lambda F, t, lp: F.ctc_loss(lp, t.tensor([[1, 2], [1, 1]]), [5, 5], [2, -1]),
    lambda F, t, lp: F.ctc_loss(lp, t.tensor([[1, 2], [1, 1]]), [5, 5], [2, 2], reduction="foo"),
])
def test_errors_match_torch(call):
    raises_like(torch, lambda: call(F, rg, rg.tensor(LP.numpy())), lambda: call(TF, torch, LP))


def test_empty_log_probs_error_matches_torch():
    raises_like(torch, lambda: F.ctc_loss(rg.zeros(0, 2, 3), rg.tensor([[1], [1]]), [0, 0], [0, 1]),
                lambda: TF.ctc_loss(torch.zeros(0, 2, 3), torch.tensor([[1], [1]]), [0, 0], [0, 1]))
