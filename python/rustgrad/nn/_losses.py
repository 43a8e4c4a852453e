"""The losses written as compositions of tensor ops (autograd and the devices come from the ops they
use): smooth L1, Huber, KL divergence, and the margin and likelihood losses. The losses that are one
Rust op (cross_entropy, nll_loss, mse_loss, l1_loss, binary_cross_entropy[_with_logits]) are in
``nn.functional``, which re-exports these.
"""

import math
import warnings

from .. import _C
from .._arg_check import check_bool, check_float
from .._dtype_names import require_floating, scalar_name
from . import functional as F
from ._reduction import _broadcast_pair, _broadcast_shape, _legacy_reduction, _reduce, _reduction, _size_warning


# ----- regression and divergence losses -----------------------------------------------------------

def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 * d**2 / beta where |d| < beta, else |d| - 0.5 * beta (d = input - target); L1 when beta is 0."""
    _size_warning(input, target)
    reduction = _reduction(reduction, size_average, reduce)
    input, target = _broadcast_pair(input, target)
    if beta == 0.0:
        return _C.l1_loss(input, target, reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    if not input.is_floating_point() and not target.is_floating_point():
        require_floating(input, "smooth_l1")
    d = (input - target).abs()
    return _reduce(_C.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta), reduction)


def _huber(input, target, delta):
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    if not input.is_floating_point() and not target.is_floating_point():
        require_floating(input, "huber")
    d = (input - target).abs()
    return _C.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 * d**2 where |d| < delta, else delta * (|d| - 0.5 * delta) (d = input - target),
    optionally weighted elementwise."""
    _size_warning(input, target)
    expanded_input, expanded_target = _broadcast_pair(input, target)
    if weight is None:
        reduction = _reduction(reduction)
        return _reduce(_huber(expanded_input, expanded_target, delta), reduction)
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    loss = _huber(expanded_input, expanded_target, delta) * weight
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"Invalid reduction mode: {reduction}. Expected one of 'none', 'mean', 'sum'.")
    return _reduce(loss, reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL divergence of log-probabilities ``input`` from ``target`` (probabilities, or log-probabilities
    with ``log_target``); 'batchmean' divides the sum by the batch size."""
    log_target = check_bool(log_target, "kl_div", "log_target")
    if size_average is not None or reduce is not None:
        reduction_ = _legacy_reduction(size_average, reduce)
    else:
        if reduction == "mean":
            warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                          "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                          "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                          stacklevel=2)
        reduction_ = "sum" if reduction == "batchmean" else _reduction(reduction)
    if not input.is_floating_point() or not target.is_floating_point():
        raise RuntimeError("kl_div: Integral inputs not supported.")
    batch = input.size(0) if input.dim() != 0 else None
    target, input = _broadcast_pair(target, input)
    if log_target:
        out = target.exp() * (target - input)
    else:
        # xlogy(target, target): 0 where target is 0.
        out = _C.where(target == 0, 0.0, target * target.log()) - target * input
    reduced = _reduce(out, reduction_)
    if reduction == "batchmean" and batch is not None:
        reduced = reduced / batch
    return reduced


# ----- margin and likelihood losses ---------------------------------------------------------------

def _sizes(t):
    return str(list(t.shape))


def _not_differentiable(fn, name, t):
    """PyTorch's refusal of a gradient for an argument its kernel does not differentiate."""
    if t is not None and t.requires_grad and _C.is_grad_enabled():
        raise RuntimeError(f"The function '{fn}' is not differentiable with respect to argument '{name}'. This input "
                           "cannot have requires_grad True.")


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1."""
    reduction = _reduction(reduction, size_average, reduce)
    targ_dim = target.dim()
    if targ_dim not in (0, 1):
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if targ_dim == 1:
        if input1.dim() != 2 or input2.dim() != 2:
            raise RuntimeError(f"1D target tensor expects 2D input tensors, but found inputs with sizes "
                               f"{_sizes(input1)} and {_sizes(input2)}.")
    elif input1.dim() != 1 or input2.dim() != 1:
        raise RuntimeError(f"0D target tensor expects 1D input tensors, but found inputs with sizes "
                           f"{_sizes(input1)} and {_sizes(input2)}.")
    eps = 1e-12
    prod_sum = (input1 * input2).sum(targ_dim)
    mag1 = (input1 * input1).sum(targ_dim) + eps
    mag2 = (input2 * input2).sum(targ_dim) + eps
    cos = prod_sum / (mag1 * mag2).sqrt()
    pos = 1 - cos
    neg = (cos - margin).clamp_min(0)
    out = _C.where(target == 1, pos, 0.0) + _C.where(target == -1, neg, 0.0)
    return _reduce(out, reduction)


def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    """max(0, -target * (input1 - input2) + margin)."""
    reduction = _reduction(reduction, size_average, reduce)
    if input1.dim() != input2.dim() or input1.dim() != target.dim():
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                           f"input1: {input1.size()}, input2: {input2.size()}, target: {target.size()} ")
    return _reduce((-target * (input1 - input2) + margin).clamp_min(0), reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    """max(0, margin + d(anchor, positive) - d(anchor, negative)), d the pairwise p-norm distance
    (with ``swap``, d(anchor, negative) is the smaller of it and d(positive, negative))."""
    reduction = _reduction(reduction, size_average, reduce)
    swap = check_bool(swap, "triplet_margin_loss", "swap", 7)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    a_dim, p_dim, n_dim = anchor.dim(), positive.dim(), negative.dim()
    if not (a_dim == p_dim and p_dim == n_dim):
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the same number of "
                           f"dimensions, but got: anchor {a_dim}D, positive {p_dim}D, and negative {n_dim}D inputs")
    dist_pos = F.pairwise_distance(anchor, positive, p, eps)
    dist_neg = F.pairwise_distance(anchor, negative, p, eps)
    if swap:
        dist_neg = _C.Tensor.minimum(dist_neg, F.pairwise_distance(positive, negative, p, eps))
    return _reduce((margin + dist_pos - dist_neg).clamp_min(0), reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    """input where target is 1, max(0, margin - input) where it is -1."""
    reduction = _reduction(reduction, size_average, reduce)
    _broadcast_shape(target.shape, input.shape)
    margin_clamp = (margin - input).clamp_min(0)
    out = _C.where(target != 1, margin_clamp, 0.0) + _C.where(target != -1, input, 0.0)
    return _reduce(out, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-target * input))."""
    reduction = _reduction(reduction, size_average, reduce)
    _broadcast_shape(input.shape, target.shape)
    _not_differentiable("soft_margin_loss", "target", target)
    return _reduce((-input * target).exp().log1p(), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """Per-class binary logistic losses, averaged over the classes (the last dim)."""
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    loss = -(target * F.logsigmoid(input) + (1 - target) * F.logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    class_dim = input.dim() - 1
    c = input.size(class_dim)
    loss = loss.sum(class_dim) / c
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(reduction + " is not valid")


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    """exp(input) - target * input (``log_input``), or input - target * log(input + eps); ``full`` adds
    the Stirling term target * log(target) - target + 0.5 * log(2 pi target) where target > 1."""
    log_input = check_bool(log_input, "poisson_nll_loss", "log_input", 3)
    full = check_bool(full, "poisson_nll_loss", "full", 4)
    eps = check_float(eps, "poisson_nll_loss", "eps", 5)
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not a valid value for reduction")
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        t = target if target.is_floating_point() else target.to(loss.dtype)
        safe = _C.where(t <= 1, 2.0, t)
        stirling = safe * safe.log() - safe + 0.5 * (2 * math.pi * safe).log()
        loss = loss + _C.where(t <= 1, 0.0, stirling)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """0.5 * (log(var) + (input - target)**2 / var) (+ 0.5 log(2 pi) when ``full``), var clamped at
    ``eps`` (the clamp passes the gradient through, as PyTorch's no-grad clamp of a clone)."""
    if isinstance(var, float):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = var * _C.ones_like(input)
    elif bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif input.dim() == var.dim() and sum(y for x, y in zip(input.shape, var.shape) if x != y) == 1:
            pass
        else:
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    var = var + (var.detach().clamp(min=eps) - var.detach())
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction="mean"):
    """sum over j != y of max(0, margin - x[y] + x[j])**p (times weight[y]), over the number of classes."""
    reduction = _reduction(reduction, size_average, reduce)
    if p != 1 and p != 2:
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.dim() != 1:
        raise ValueError("weight must be one-dimensional")
    ndims = input.dim()
    if not ((ndims == 2 and input.size(1) != 0) or (ndims == 1 and input.size(0) != 0) or ndims == 0):
        raise RuntimeError(f"Expected non-empty vector or matrix with optional 0-dim batch size, but got: "
                           f"{_sizes(input)}")
    nframe = 1 if ndims <= 1 else input.size(0)
    dim = 1 if ndims == 0 else input.size(ndims - 1)
    if target.dim() > 1 or target.numel() != nframe:
        raise RuntimeError(f"multi_margin_loss: target tensor should be 1-D with size equal to the number of input "
                           f"samples (batch size). Expected target size [{nframe}], but got {_sizes(target)}. Input "
                           f"has shape {_sizes(input)}.")
    if weight is not None and weight.numel() != dim:
        raise RuntimeError(f"inconsistent weight size, expected {dim} but got {_sizes(weight)}")
    _not_differentiable("multi_margin_loss", "weight", weight)
    if target.dtype != _C.int64:
        raise RuntimeError(f"expected scalar type Long but found {scalar_name(target.dtype)}")
    if target.numel() and not target.is_cuda and (int(target.min()) < 0 or int(target.max()) >= dim):
        raise RuntimeError("target out of range")
    x = input.reshape(nframe, dim)
    y = target.reshape(nframe, 1)
    x_y = x.gather(1, y)
    z = (margin - x_y + x).clamp_min(0)
    if p == 2:
        z = z * z
    if weight is not None:
        z = z * weight.index_select(0, y.reshape(-1)).reshape(nframe, 1)
    z = _C.where(_C.arange(dim, device=input.device) == y, 0.0, z)
    loss = z.sum(1) / dim
    if reduction == "none":
        return loss.reshape(target.shape)
    return _reduce(loss, reduction)
