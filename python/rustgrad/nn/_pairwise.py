"""bilinear and pdist, composed from products and norms. Re-exported by ``nn.functional``."""

import numpy as np

from .. import _C


def bilinear(input1, input2, weight, bias=None):
    """y_o = x1^T W_o x2 + b_o over the trailing feature dims of (*, in1) and (*, in2) inputs, with
    an (out, in1, in2) weight."""
    if input1.dim() != input2.dim():
        raise RuntimeError(f"bilinear(): input dimensions do not match: got {input1.dim()} and {input2.dim()}")
    for i in range(input1.dim() - 1):
        if input1.shape[i] != input2.shape[i]:
            raise RuntimeError(f"bilinear(): input batch dimensions do not match at dim {i}: got "
                               f"{input1.shape[i]} and {input2.shape[i]}")
    if weight.dim() != 3:
        raise RuntimeError(f"bilinear(): weight must be three-dimensional: got {weight.dim()}")
    if input1.shape[-1] != weight.shape[1]:
        raise RuntimeError(f"bilinear(): input1 size does not match weight size: got {input1.shape[-1]} but "
                           f"expected {weight.shape[1]}")
    if input2.shape[-1] != weight.shape[2]:
        raise RuntimeError(f"bilinear(): input2 size does not match weight size: got {input2.shape[-1]} but "
                           f"expected {weight.shape[2]}")
    if bias is not None and bias.numel() != weight.shape[0]:
        raise RuntimeError(f"bilinear(): bias size does not match weight size: got {bias.numel()} but expected "
                           f"{weight.shape[0]}")
    lead = list(input1.shape[:-1])
    x1 = input1.reshape(-1, input1.shape[-1])
    x2 = input2.reshape(-1, input2.shape[-1])
    # (B, in1) @ (in1, out * in2) -> (B, out, in2), then contracted with x2 over in2.
    left = x1.matmul(weight.permute(1, 0, 2).reshape(weight.shape[1], -1)).reshape(-1, weight.shape[0],
                                                                                 weight.shape[2])
    out = left.matmul(x2.unsqueeze(-1)).squeeze(-1)
    if bias is not None:
        out = out + bias
    return out.reshape(*lead, weight.shape[0])


def pdist(input, p=2):
    """The p-norm distances between all pairs of rows of an (N, M) input: the upper triangle of
    cdist, row-major, N * (N - 1) / 2 values."""
    if input.dim() != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.dim()}D")
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    if not input.is_floating_point():
        raise RuntimeError(f"pdist only supports floating-point dtypes, {input.dtype} given")
    n = input.shape[0]
    rows, cols = np.triu_indices(n, 1)
    if len(rows) == 0:
        return _C.zeros(0, dtype=input.dtype, device=input.device)
    first = input.index_select(0, _C.from_numpy(rows.astype(np.int64)).to(input.device))
    second = input.index_select(0, _C.from_numpy(cols.astype(np.int64)).to(input.device))
    diff = first - second
    if p == float("inf"):
        # PyTorch's pdist passes the full gradient to every coordinate that ties for the maximum
        # (a norm would split it): the max's value plus a zero whose gradient is that.
        size = diff.abs()
        top = size.max(1).values.detach()
        ties = (size == top.unsqueeze(1)).detach().to(diff.dtype)
        return top + ((size - size.detach()) * ties).sum(1)
    return diff.norm(p, 1)
