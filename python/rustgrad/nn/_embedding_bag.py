"""embedding_bag: sums, means or maxima of bags of embedding rows, composed from index_select and
index_add (the bag layout is computed on the host from the indices and offsets). Re-exported by
``nn.functional``."""

import numpy as np

from .. import _C
from . import functional as F
from ._embedding_options import renorm_rows_, scale_grad_by_freq as _scale_grad_by_freq


def _bag_layout(input, offsets, include_last_offset):
    """(flat indices, bag id of each index, number of bags) for 2-D input or 1-D input + offsets."""
    if input.dim() == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is a mini-batch of "
                             f"fixed length sequences. However, found offsets of type {type(offsets)}")
        bags, length = input.shape
        return input.reshape(-1), np.repeat(np.arange(bags), length), bags
    if input.dim() != 1:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.dim()}")
    if offsets is None:
        raise ValueError("offsets has to be a 1D Tensor but got None")
    if offsets.dim() != 1:
        raise ValueError("offsets has to be a 1D Tensor")
    starts = offsets.detach().cpu().numpy().astype(np.int64)
    n = input.shape[0]
    if len(starts) and starts[0] != 0:
        raise RuntimeError("offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start from "
                           f"position 0. However, got {starts[0]}")
    if len(starts) and starts[-1] > n:
        raise RuntimeError(f"offsets[-1] can not be greater than input's length {n} but got offsets[-1] of "
                           f"{starts[-1]}")
    if np.any(np.diff(starts) < 0):
        raise RuntimeError("offsets must be non-decreasing")
    bags = len(starts) - 1 if include_last_offset else len(starts)
    # Bag b holds positions [starts[b], starts[b + 1]); the last (without include_last_offset) runs to n.
    bag_of = np.searchsorted(starts[:bags], np.arange(n), side="right") - 1 if bags else np.zeros(0, np.int64)
    if include_last_offset:
        bag_of = np.where(np.arange(n) < (starts[-1] if len(starts) else 0), bag_of, -1)
    return input, bag_of, bags


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """Reduces bags of rows of ``weight``: each row of 2-D ``input`` is a bag, or 1-D ``input`` is cut
    into bags at ``offsets``. ``mode`` 'sum' (optionally weighted by ``per_sample_weights``), 'mean'
    or 'max'; indices equal to ``padding_idx`` are left out; an empty bag gives zeros."""
    if weight.dtype == _C.int64 and input.is_floating_point():
        input, weight = weight, input  # PyTorch still accepts the old (weight, input) order
    if mode not in ("sum", "mean", "max"):
        raise ValueError("mode has to be one of sum, mean or max")
    if per_sample_weights is not None and list(per_sample_weights.shape) != list(input.shape):
        raise ValueError(f"embedding_bag: If per_sample_weights ({per_sample_weights.shape}) is not None, then it "
                         f"must have the same shape as the input ({input.shape})")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError("embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                  f"supported for mode='sum' (got mode='{mode}'). Please open a feature request on "
                                  "GitHub.")
    if weight.dim() != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension {weight.dim()}")
    if scale_grad_by_freq and mode == "max":
        raise ValueError("max mode does not support scaling the gradient by the frequency")
    if sparse:
        raise NotImplementedError("embedding_bag: sparse gradients are not supported (sparse=True)")
    if input.dtype != _C.int64:
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got torch.{F._legacy_type_name(input.dtype)} instead (while checking "
                           "arguments for embedding_bag)")
    num = weight.shape[0]
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise AssertionError("padding_idx must be within the number of embeddings")
        padding_idx = padding_idx + num if padding_idx < 0 else padding_idx
    flat, bag_of, bags = _bag_layout(input, offsets, include_last_offset)
    idx = flat.detach().cpu().numpy().astype(np.int64)
    bad = np.nonzero((idx < 0) | (idx >= num))[0]
    if len(bad):
        raise RuntimeError(f"Index {bad[0]} of input takes value {idx[bad[0]]} which is not in the valid range "
                           f"[0, {num})")
    # Indices that take part: in a bag, and not the padding index.
    keep = bag_of >= 0
    if padding_idx is not None:
        keep &= idx != padding_idx
    positions = np.nonzero(keep)[0]
    device = weight.device
    picked = _C.from_numpy(idx[positions]).to(device)
    if max_norm is not None:
        renorm_rows_(weight, flat, float(max_norm), float(norm_type))
    rows = weight.index_select(0, picked)
    if scale_grad_by_freq:
        rows = _scale_grad_by_freq(rows, picked)
    bag_ids = _C.from_numpy(bag_of[positions].astype(np.int64)).to(device)
    dim = weight.shape[1]
    if mode == "max":
        return _bag_max(rows, bag_of[positions], bags, dim)
    if per_sample_weights is not None:
        psw = per_sample_weights.reshape(-1).index_select(0, _C.from_numpy(positions.astype(np.int64)).to(device))
        rows = rows * psw.unsqueeze(1)
    out = _C.zeros(bags, dim, dtype=weight.dtype, device=device).index_add(0, bag_ids, rows)
    if mode == "mean":
        counts = np.bincount(bag_of[positions], minlength=bags).astype(np.float64)
        out = out / _C.from_numpy(np.maximum(counts, 1)).to(device=device, dtype=weight.dtype).unsqueeze(1)
    return out


def _bag_max(rows, bag_of, bags, dim):
    """Per-bag elementwise maximum: the rows laid out as (bags, longest bag, dim) with -inf filling,
    reduced over the middle axis; empty bags give zeros."""
    counts = np.bincount(bag_of, minlength=bags)
    longest = int(counts.max()) if bags and len(bag_of) else 0
    if longest == 0:
        return _C.zeros(bags, dim, dtype=rows.dtype, device=rows.device)
    # Slot of each row: its rank inside its bag (bags are contiguous and in order).
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(len(bag_of)) - first[bag_of]
    layout = np.full((bags, longest), len(bag_of), dtype=np.int64)
    layout[bag_of, slot] = np.arange(len(bag_of))
    filler = _C.full((1, dim), float("-inf"), dtype=rows.dtype, device=rows.device)
    table = _C.cat([rows, filler], 0)
    grid = table.index_select(0, _C.from_numpy(layout.reshape(-1)).to(rows.device)).reshape(bags, longest, dim)
    out = grid.max(1).values
    empty = _C.from_numpy(counts == 0).to(rows.device).unsqueeze(1)
    return _C.where(empty, _C.zeros((), dtype=rows.dtype, device=rows.device), out)
