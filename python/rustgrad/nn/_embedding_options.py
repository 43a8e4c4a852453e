"""The options embedding and embedding_bag share: ``max_norm`` (rows renormalised in place when
looked up) and ``scale_grad_by_freq`` (each looked-up row's gradient divided by how often its
index occurs in the mini-batch)."""

import numpy as np

from .. import _C


def renorm_rows_(weight, indices, max_norm, norm_type):
    """Scales, in place and outside autograd, every row of ``weight`` named in ``indices`` whose
    ``norm_type``-norm exceeds ``max_norm`` to norm max_norm (PyTorch's embedding_renorm_)."""
    rows = np.unique(indices.detach().cpu().numpy().reshape(-1))
    if rows.size == 0:
        return
    index = _C.from_numpy(rows.astype(np.int64)).to(weight.device)
    with_grad = _C.is_grad_enabled()
    _C._set_grad_enabled(False)
    try:
        picked = weight.index_select(0, index)
        norms = picked.norm(norm_type, 1, keepdim=True)
        scale = _C.where(norms > max_norm, max_norm / (norms + 1e-7), _C.ones_like(norms))
        weight[index] = picked * scale
    finally:
        _C._set_grad_enabled(with_grad)


def scale_grad_by_freq(rows, indices):
    """``rows`` (one looked-up row per index, any leading shape) with the gradient of each divided
    by the number of times its index occurs in ``indices``; the values are unchanged exactly."""
    flat = indices.detach().cpu().numpy().reshape(-1)
    _, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    scale = _C.from_numpy((1.0 / counts[inverse]).reshape(tuple(indices.shape) + (1,))).to(
        device=rows.device, dtype=rows.dtype)
    scaled = rows * scale
    # Forward: rows + (scaled - scaled) == rows bit for bit; backward: only through ``scaled``.
    return rows.detach() + (scaled - scaled.detach())
