"""multilabel_margin_loss and triplet_margin_with_distance_loss, composed from tensor ops.
Re-exported by ``nn.functional``."""

import numpy as np

from .. import _C
from . import functional as F
from ._reduction import _reduce, _reduction


def _label_masks(target, classes):
    """From (N, C) targets listing class indices up to the first -1: which target slots are in use
    (N, C), and which classes are targets (N, C). Targets are never differentiable: numpy is fine."""
    t = target.detach().cpu().numpy()
    used = np.cumprod(t >= 0, axis=1).astype(bool)
    if np.any(t[used] >= classes):
        raise RuntimeError("argument #2 'target' is out of range")
    is_target = np.zeros(t.shape, dtype=bool)
    rows, slots = np.nonzero(used)
    is_target[rows, t[rows, slots]] = True
    return used, is_target


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """sum over target classes j and non-target classes i of max(0, 1 - (x[j] - x[i])), / C; the
    target lists class indices, ended by the first -1."""
    reduction = _reduction(reduction, size_average, reduce)
    if target.dtype != _C.int64:
        raise RuntimeError(f"expected scalar type Long but found {F._scalar_name(target.dtype)}")
    if input.dim() > 2 or list(target.shape) != list(input.shape):
        raise RuntimeError(f"inconsistent target size: {list(target.shape)} for input of size: {list(input.shape)}")
    batched = input.dim() == 2
    x = input.reshape(-1, input.shape[-1]) if input.dim() > 0 else input.reshape(1, 1)
    tgt = target.reshape(x.shape)
    classes = x.shape[1]
    used, is_target = _label_masks(tgt, classes)
    device = x.device
    used_t = _C.from_numpy(used).to(device=device, dtype=x.dtype)
    others = _C.from_numpy(~is_target).to(device=device, dtype=x.dtype)
    picked = x.gather(1, tgt.clamp_min(0))  # x[y_j] per slot j
    margins = (1 - picked.unsqueeze(2) + x.unsqueeze(1)).clamp_min(0)  # (N, slot j, class i)
    loss = (margins * used_t.unsqueeze(2) * others.unsqueeze(1)).sum((1, 2)) / classes
    if not batched:
        loss = loss.reshape(())
    return _reduce(loss, reduction)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0,
                                      swap=False, reduction="mean"):
    """max(0, margin + d(anchor, positive) - d(anchor, negative)) for any distance function d
    (pairwise_distance by default); with ``swap`` the negative distance is min(d(a, n), d(p, n))."""
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    a_dim, p_dim, n_dim = anchor.dim(), positive.dim(), negative.dim()
    if not (a_dim == p_dim and p_dim == n_dim):
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the same number of "
                           f"dimensions, but got: anchor {a_dim}D, positive {p_dim}D, and negative {n_dim}D inputs")
    distance = distance_function if distance_function is not None else F.pairwise_distance
    dist_pos = distance(anchor, positive)
    dist_neg = distance(anchor, negative)
    if swap:
        dist_neg = _C.Tensor.minimum(dist_neg, distance(positive, negative))
    return _reduce((margin + dist_pos - dist_neg).clamp_min(0), reduction)
