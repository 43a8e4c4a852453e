"""Sampling from categorical distributions: ``multinomial`` (as ``torch.multinomial``).

With replacement, each draw inverts the row's cumulative distribution at a uniform number (a
binary search in the running sum, so categories of probability 0 are never drawn). Without
replacement, the draws are the ``num_samples`` smallest of ``E_i / p_i`` with ``E_i`` standard
exponential: the order in which independent exponential clocks of rates ``p_i`` ring, which is
exactly successive sampling without replacement (the exponential form of the Gumbel-top-k trick).
"""

import operator

from . import _C
from ._ops_search import searchsorted

__all__ = ["multinomial"]


def multinomial(input, num_samples, replacement=False, *, generator=None, out=None):
    """Draws ``num_samples`` category indices per row of ``input`` (1-d, or 2-d: one distribution
    per row), each with probability proportional to its weight; int64 result."""
    if not isinstance(num_samples, int) or isinstance(num_samples, bool):
        try:
            num_samples = operator.index(num_samples)
        except TypeError:
            raise TypeError("multinomial(): argument 'num_samples' (position 2) must be int, not "
                            f"{type(num_samples).__name__}") from None
    if input.dim() not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if not input.is_floating_point():
        scalar_name = {"int64": "Long", "bool": "Bool"}.get(str(input.dtype).split(".")[-1], str(input.dtype))
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: {scalar_name}")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    categories = input.shape[-1]
    if not replacement and num_samples > categories:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    # Everything below reads detached data: no graph is recorded.
    weights = input.detach().double()
    rows = weights if weights.dim() == 2 else weights.unsqueeze(0)
    if not bool(rows.isfinite().all()) or bool((rows < 0).any()):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    totals = rows.sum(-1, keepdim=True)
    if bool((totals <= 0).any()):
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    shape = (rows.shape[0], num_samples)
    if replacement:
        running = rows.cumsum(-1)
        u = _C.rand(*shape, generator=generator, dtype=rows.dtype, device=rows.device) * totals
        picks = searchsorted(running, u, right=True)
        # u < total exactly, but a product can round up to it: such a draw takes the last
        # category of positive weight, never one of weight 0.
        positions = _C.arange(categories, dtype=rows.dtype, device=rows.device)
        last_positive = (rows.gt(0).double() * positions).max(-1, keepdim=True).values.long()
        picks = picks.minimum(last_positive)
    else:
        u = _C.rand(rows.shape[0], categories, generator=generator, dtype=rows.dtype, device=rows.device)
        clocks = -(1.0 - u).log() / rows  # Exp(1) / p; p = 0 rings last (inf)
        picks = clocks.topk(num_samples, dim=-1, largest=False).indices
    result = picks if input.dim() == 2 else picks.squeeze(0)
    if out is not None:
        if tuple(out.shape) != tuple(result.shape) or out.dtype != result.dtype:
            raise RuntimeError(f"multinomial(): out must be an int64 tensor of shape {list(result.shape)}, got "
                               f"{out.dtype} of shape {list(out.shape)}")
        return out.copy_(result)
    return result

