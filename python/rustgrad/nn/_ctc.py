"""ctc_loss: the Connectionist Temporal Classification loss, the forward (alpha) recursion in log
space over time, vectorised over the batch and the label positions; autograd differentiates the
recursion. Re-exported by ``nn.functional``."""

import numpy as np

from .. import _C
from ._reduction import _reduction

# Stands for log(0): finite, so that the recursion's gradient has no inf - inf (NaN) terms; a
# loss this large means no alignment exists and is reported as inf.
_LOG_ZERO = -1e30


def _lengths(value):
    if isinstance(value, _C.Tensor):
        return [int(v) for v in value.reshape(-1).tolist()]
    if isinstance(value, int):
        return [value]
    return [int(v) for v in value]


def _logsumexp(terms):
    stacked = _C.stack(terms, 0)
    top = stacked.max(0).values.detach()
    return top + (stacked - top).exp().sum(0).log()


def _label_lists(targets, target_lengths, batch):
    t = targets.detach().cpu().numpy().astype(np.int64)
    if targets.dim() == 1:  # the targets of the batch concatenated
        ends = np.cumsum(target_lengths)
        return [t[e - n:e] for e, n in zip(ends, target_lengths)]
    longest = max(target_lengths) if target_lengths else 0
    if t.shape[1] < longest:
        raise RuntimeError(f"Expected tensor to have size at least {longest} at dimension 1, but got size "
                           f"{t.shape[1]} for argument #2 'targets' (while checking arguments for "
                           "ctc_loss_allocate_outputs)")
    return [t[i, :n] for i, n in enumerate(target_lengths)]


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    """-log of the total probability of all alignments of each target (labels, no blanks) to the
    (T, N, C) per-frame log-probabilities. ``reduction='mean'`` divides each loss by its target
    length, then averages over the batch."""
    reduction = _reduction(reduction)
    batched = log_probs.dim() == 3
    if log_probs.dim() not in (2, 3):
        raise RuntimeError(f"ctc_loss: expected log_probs to be 2-D or 3-D, but got {log_probs.dim()}-D")
    lp = log_probs if batched else log_probs.unsqueeze(1)
    if not batched and targets.dim() == 1:
        targets = targets.unsqueeze(0)
    steps, batch, classes = lp.shape
    if lp.numel() == 0:
        raise RuntimeError("log_probs tensor must not be empty")
    in_lens = _lengths(input_lengths)
    tgt_lens = _lengths(target_lengths)
    if not 0 <= blank < classes:
        raise RuntimeError("blank must be in label range")
    if len(in_lens) != batch:
        raise RuntimeError("input_lengths must be of size batch_size")
    if len(tgt_lens) != batch:
        raise RuntimeError("target_lengths must be of size batch_size")
    for name, values, top in (("input_lengths", in_lens, steps), ("target_lengths", tgt_lens, None)):
        for v in values:
            if v < 0:
                raise RuntimeError(f"Expected {name} to have value at least 0, but got value {v} (while checking "
                                   "arguments for ctc_loss_allocate_outputs)")
            if top is not None and v > top:
                raise RuntimeError(f"Expected {name} to have value at most {top}, but got value {v} (while checking "
                                   "arguments for ctc_loss_allocate_outputs)")
    labels = _label_lists(targets, tgt_lens, batch)
    width = 2 * max(tgt_lens, default=0) + 1
    # The extended label sequence: blank, l1, blank, l2, ..., blank (padded with blanks).
    ext = np.full((batch, width), blank, dtype=np.int64)
    skip = np.zeros((batch, width), dtype=bool)
    for n, seq in enumerate(labels):
        ext[n, 1:2 * len(seq):2] = seq
        # A label may be reached from two states back (skipping a blank) unless it repeats.
        skip[n, 3:2 * len(seq):2] = seq[1:] != seq[:-1]
    device = lp.device
    ext_t = _C.from_numpy(ext).to(device)
    emit = lp.gather(2, ext_t.unsqueeze(0).expand(steps, batch, width))  # (T, N, width)
    log_zero = _C.full((batch, 1), _LOG_ZERO, dtype=lp.dtype, device=device)
    skip_t = _C.from_numpy(skip).to(device)
    start = np.full((batch, width), _LOG_ZERO)
    start[:, 0] = 0.0
    start[np.array(tgt_lens) > 0, 1] = 0.0
    alpha = emit[0] + _C.from_numpy(start).to(device=device, dtype=lp.dtype)
    in_lens_t = _C.tensor(in_lens, dtype=_C.int64, device=device).unsqueeze(1)
    for t in range(1, steps):
        one_back = _C.cat([log_zero, alpha[:, :-1]], 1)
        two_back = _C.cat([log_zero, log_zero, alpha[:, :-2]], 1)[:, :width]
        two_back = _C.where(skip_t, two_back, log_zero.expand(batch, width))
        step = _logsumexp([alpha, one_back, two_back]) + emit[t]
        alpha = _C.where(in_lens_t > t, step, alpha)
    # The alignment ends on the last label or the blank after it.
    last = np.array([2 * n for n in tgt_lens], dtype=np.int64)
    before = np.maximum(last - 1, 0)
    ends_last = alpha.gather(1, _C.from_numpy(last).to(device).unsqueeze(1)).squeeze(1)
    ends_before = alpha.gather(1, _C.from_numpy(before).to(device).unsqueeze(1)).squeeze(1)
    has_label = _C.from_numpy(np.array(tgt_lens) > 0).to(device)
    ends_before = _C.where(has_label, ends_before, _C.full((), _LOG_ZERO, dtype=lp.dtype, device=device))
    loss = -_logsumexp([ends_last, ends_before])
    # PyTorch's backward returns exp(log_probs) - posterior for the frames t < input_length: the
    # true gradient (-posterior) plus exp(log_probs). Add a term that is exactly zero forward and
    # has that gradient, so log_probs.grad matches PyTorch's even when log_probs is a leaf.
    frames = (_C.arange(steps, device=device).unsqueeze(1) < in_lens_t.reshape(1, batch)).to(lp.dtype)
    mass = (lp.exp() * frames.unsqueeze(2)).sum((0, 2))
    loss = loss + (mass - mass.detach())
    # No frames at all: only the empty target has an alignment (probability 1).
    no_frames = _C.from_numpy(np.array(in_lens) == 0).to(device)
    loss = _C.where(no_frames & ~has_label, _C.zeros((), dtype=lp.dtype, device=device), loss)
    impossible = (loss > -_LOG_ZERO / 2).detach() | (no_frames & has_label)
    filler = 0.0 if zero_infinity else float("inf")
    loss = _C.where(impossible, _C.full((), filler, dtype=lp.dtype, device=device), loss)
    if reduction == "mean":
        divisor = _C.tensor([max(n, 1) for n in tgt_lens], dtype=lp.dtype, device=device)
        return (loss / divisor).mean()
    if reduction == "sum":
        return loss.sum()
    return loss if batched else loss.squeeze(0)
