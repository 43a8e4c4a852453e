"""Sliding-window ops composed from the 2-D ones: conv1d and the 1-D pools (the 2-D op on a unit
height), adaptive max pooling, and unfold/fold (im2col as a gather). Re-exported by ``nn.functional``.
"""

from .. import _C
from .._arg_check import check_bool
from .._dtype_names import not_implemented_for
from . import functional as F
from .modules.utils import _list_with_default, _pair, _single


# ----- 1-D convolution ----------------------------------------------------------------------------

def _one(name, value, message=None):
    """An int or a one-element sequence (a 1-d op's size argument) as an int."""
    value = _single(value)
    if len(value) != 1:
        if message is None:
            message = (f"expected {name} to be a single integer value or a list of 1 values to match the convolution "
                       f"dimensions, but got {name}={list(value)}")
        raise RuntimeError(message.format(n=len(value)))
    return int(value[0])


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation) over (N, C, L) or unbatched (C, L) input.

    Computed by the 2-D op on a unit height: (N, C, 1, L) with a (C_out, C_in / groups, 1, k) kernel.
    """
    if input.dim() not in (2, 3):
        raise RuntimeError("Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: "
                           f"{list(input.shape)}")
    if weight.dim() < 3:
        raise RuntimeError("weight should have at least three dimensions")
    if weight.dim() != 3:
        raise RuntimeError(f"Expected {weight.dim()}-dimensional input for {weight.dim()}-dimensional weight "
                           f"{list(weight.shape)}, but got {input.dim()}-dimensional input of size {list(input.shape)} "
                           "instead")
    if bias is not None and (bias.dim() != 1 or bias.numel() != weight.shape[0]):
        raise RuntimeError(f"Given weight of size {list(weight.shape)}, expected bias to be 1-dimensional with "
                           f"{weight.shape[0]} elements, but got bias of size {list(bias.shape)} instead")
    stride_ = _one("stride", stride)
    dilation_ = _one("dilation", dilation)
    groups = int(groups)
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if padding == "same" and stride_ != 1:
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        padding_ = padding
    else:
        padding_ = (0, _one("padding", padding))
    channels = input.shape[-2]
    if channels != weight.shape[1] * groups:
        batched = list(input.shape) if input.dim() == 3 else [1] + list(input.shape)
        raise RuntimeError(f"Given groups={groups}, weight of size {list(weight.shape)}, expected input{batched} to "
                           f"have {weight.shape[1] * groups} channels, but got {channels} channels instead")
    pad_l = padding_[1] if not isinstance(padding_, str) else 0
    padded = input.shape[-1] + 2 * pad_l
    kernel = dilation_ * (weight.shape[-1] - 1) + 1
    if padding_ != "same" and padded < kernel:
        raise RuntimeError(f"Calculated padded input size per channel: ({padded}). Kernel size: ({kernel}). Kernel "
                           "size can't be greater than actual input size")
    out = _C.conv2d(input.unsqueeze(-2), weight.unsqueeze(-2), bias, (1, stride_), padding_, (1, dilation_), groups)
    return out.squeeze(-2)


# ----- 1-D pooling --------------------------------------------------------------------------------

def _check_pool1d_input(input, name):
    if input.dim() not in (2, 3):
        raise RuntimeError(f"Expected 2 to 3 dimensions, but got {input.dim()}-dimensional tensor for argument #1 "
                           f"'self' (while checking arguments for {name})")


def _pool1d_args(name, kernel_size, stride):
    if name == "max_pool1d":
        k = _one("kernel_size", kernel_size,
                 "max_pool1d() kernel_size must be an int, list of ints or tuple of ints of size 1 but got size {n}")
    else:
        k = _one("kernel_size", kernel_size, f"{name}() argument 'kernel_size' should contain one int (got {{n}})")
    if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0):
        return k, k
    if name == "max_pool1d":
        return k, _one("stride", stride, "max_pool1d() stride must be None, an int, list of ints, or tuple of ints "
                                         "of size 1 but got size {n}")
    return k, _one("stride", stride, f"{name}() argument 'stride' should contain one int (got {{n}})")


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1-D max pooling over (N, C, L) or (C, L) input (the 2-D op on a unit height); with
    ``return_indices`` also the argmax positions along L."""
    ceil_mode = check_bool(ceil_mode, "max_pool1d", "ceil_mode", 6)
    if input.dim() not in (2, 3):
        raise RuntimeError("max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for "
                           f"input, but got:{list(input.shape)}")
    k, s = _pool1d_args("max_pool1d", kernel_size, stride)
    p = _one("padding", padding, "max_pool1d() padding must be an int, list of ints, or tuple of ints of size 1 "
                                 "but got size {n}")
    d = _one("dilation", dilation, "max_pool1d() dilation must be an int, list of ints or tuple of ints of size 1 "
                                   "but got size {n}")
    if k <= 0:
        raise RuntimeError(f"max_pool1d() kernel_size must be greater than zero, but got {k}")
    if s <= 0:
        raise RuntimeError(f"max_pool1d() stride must be greater than zero, but got {s}")
    if p < 0:
        raise RuntimeError(f"max_pool1d() padding must be non-negative, but got {p}")
    if p > k // 2:
        raise RuntimeError(f"max_pool1d() padding should be at most half of kernel size, but got padding={p} and "
                           f"kernel_size={k}")
    if d <= 0:
        raise RuntimeError(f"max_pool1d() dilation must be greater than zero, but got {d}")
    n = input.shape[-1]
    span = n + 2 * p - d * (k - 1) - 1
    out_len = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out_len - 1) * s >= n + p:
        out_len -= 1
    if out_len < 1:
        raise RuntimeError(f"max_pool1d() Invalid computed output size: {out_len}")
    out = _C.max_pool2d(input.unsqueeze(-2), (1, k), (1, s), (0, p), (1, d), ceil_mode, bool(return_indices))
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling over (N, C, L) or (C, L) input (the 2-D op on a unit height)."""
    _check_pool1d_input(input, "avg_pool1d")
    ceil_mode = check_bool(ceil_mode, "avg_pool1d", "ceil_mode")
    count_include_pad = check_bool(count_include_pad, "avg_pool1d", "count_include_pad")
    k, s = _pool1d_args("avg_pool1d", kernel_size, stride)
    p = _one("padding", padding, "avg_pool1d() argument 'padding' should contain one int (got {n})")
    if s == 0:
        raise RuntimeError("stride should not be zero")
    if k <= 0:
        raise RuntimeError(f"kernel size should be greater than zero, but got kH: 1 kW: {k}")
    if s < 0:
        raise RuntimeError(f"stride should be greater than zero, but got dH: 1 dW: {s}")
    if p < 0:
        raise RuntimeError(f"pad must be non-negative, but got pad: {p}")
    if p > k // 2:
        raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={p}, kernel_size={k} "
                           "and dilation=1")
    n = input.shape[-1]
    span = n + 2 * p - k
    out_len = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out_len - 1) * s >= n + p:
        out_len -= 1
    if out_len < 1:
        c = input.shape[-2]
        raise RuntimeError(f"Given input size: ({c}x1x{n}). Calculated output size: ({c}x1x{out_len}). Output size "
                           "is too small")
    out = _C.avg_pool2d(input.unsqueeze(-2), (1, k), (1, s), (0, p), ceil_mode, count_include_pad, None)
    return out.squeeze(-2)


def adaptive_avg_pool1d(input, output_size):
    """Average pooling of (N, C, L) or (C, L) input to ``output_size`` positions."""
    _check_pool1d_input(input, "adaptive_avg_pool1d")
    size = _single(output_size)
    if len(size) != 1:
        raise RuntimeError(f"adaptive_avg_pool1d() argument 'output_size' should contain one int (got {len(size)})")
    return _C.adaptive_avg_pool2d(input.unsqueeze(-2), (1, int(size[0]))).squeeze(-2)


# ----- adaptive max pooling -----------------------------------------------------------------------

def _adaptive_bins(n, out):
    """PyTorch's adaptive pooling bins: [floor(i * n / out), ceil((i + 1) * n / out))."""
    return [((i * n) // out, -(-((i + 1) * n) // out)) for i in range(out)]


def _adaptive_max_along(x, dim, out, base_idx=None):
    """Max over each adaptive bin of ``dim``: values and the (global along ``dim``) argmax, the
    first maximum of each bin. ``base_idx`` (same shape as x) carries earlier indices along."""
    n = x.shape[dim]
    values, indices = [], []
    for start, end in _adaptive_bins(n, out):
        m = x.narrow(dim, start, end - start).max(dim, keepdim=True)
        values.append(m.values)
        idx = m.indices + start
        if base_idx is not None:
            idx = base_idx.narrow(dim, start, end - start).gather(dim, m.indices)
        indices.append(idx)
    return _C.cat(values, dim), _C.cat(indices, dim)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):
    if input.dim() not in (3, 4):
        raise RuntimeError(f"adaptive_max_pool2d(): Expected 3D or 4D tensor, but got: {list(input.shape)}")
    if isinstance(output_size, (list, tuple)) and len(output_size) != 2:
        raise ValueError("Input dimension should be at least 4")
    oh, ow = _pair(_list_with_default(output_size, input.size()))
    for i in range(1, input.dim()):
        if input.shape[i] == 0:
            raise RuntimeError(f"adaptive_max_pool2d(): Expected input to have non-zero size for non-batch dimensions, "
                               f"but input has sizes {list(input.shape)} with dimension {i} being empty")
    if oh < 0 or ow < 0:
        bad = oh if oh < 0 else ow
        raise RuntimeError(f"Trying to create tensor with negative dimension {bad}: "
                           f"{list(input.shape[:-2]) + [oh, ow]}")
    if not input.is_floating_point():
        raise not_implemented_for("adaptive_max_pool2d", input.dtype)
    h, w = input.shape[-2], input.shape[-1]
    if oh == 0 or ow == 0:
        shape = list(input.shape[:-2]) + [oh, ow]
        return (_C.zeros(shape, dtype=input.dtype, device=input.device),
                _C.zeros(shape, dtype=_C.int64, device=input.device))
    # The max is separable: along W within each column bin, then along H within each row bin
    # (keeping the first maximum in row-major order, as PyTorch's scan).
    cols, col_idx = _adaptive_max_along(input, -1, ow)
    rows_base = _C.arange(h, device=input.device).reshape(h, 1) * w + col_idx
    return _adaptive_max_along(cols, -2, oh, rows_base)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed output size (non-uniform bins as PyTorch); with ``return_indices`` also
    the argmax positions (flat within each H*W plane)."""
    out, idx = adaptive_max_pool2d_with_indices(input, output_size)
    return (out, idx) if return_indices else out


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):
    if input.dim() not in (2, 3):
        raise RuntimeError(f"Expected 2 to 3 dimensions, but got {input.dim()}-dimensional tensor for argument #1 "
                           "'self' (while checking arguments for adaptive_max_pool1d)")
    size = _single(output_size)
    if len(size) != 1:
        raise RuntimeError(f"adaptive_max_pool1d() argument 'output_size' should contain one int (got {len(size)})")
    out, idx = adaptive_max_pool2d_with_indices(input.unsqueeze(-2), (1, int(size[0])))
    return out.squeeze(-2), idx.squeeze(-2)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    out, idx = adaptive_max_pool1d_with_indices(input, output_size)
    return (out, idx) if return_indices else out


# ----- unfold / fold ------------------------------------------------------------------------------

def _im2col_args(kernel_size, dilation, padding, stride):
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = (_pair(kernel_size), _pair(dilation), _pair(padding), _pair(stride))
    if kh <= 0 or kw <= 0:
        raise RuntimeError(f"kernel size should be greater than zero, but got kernel_height: {kh} kernel_width: {kw}")
    if sh <= 0 or sw <= 0:
        raise RuntimeError(f"stride should be greater than zero, but got stride_height: {sh} stride_width: {sw}")
    if ph < 0 or pw < 0:
        raise RuntimeError(f"padding should be non-negative, but got pad_height: {ph} pad_width: {pw}")
    if dh <= 0 or dw <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got dilation_height: {dh} dilation_width: {dw}")
    return (kh, kw), (dh, dw), (ph, pw), (sh, sw)


def _im2col_index(h, w, k, d, p, s):
    """Flat positions in the padded (h + 2p) x (w + 2p) plane of every kernel tap of every block:
    shape (kh * kw, oh * ow), and the number of blocks (oh, ow)."""
    import numpy as np

    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = k, d, p, s
    oh = (h + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    ow = (w + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    wp = w + 2 * pw
    rows = (np.arange(kh)[:, None, None, None] * dh + np.arange(oh)[None, None, :, None] * sh)
    cols = (np.arange(kw)[None, :, None, None] * dw + np.arange(max(ow, 0))[None, None, None, :] * sw)
    idx = (rows * wp + cols).reshape(kh * kw, -1) if oh > 0 and ow > 0 else np.zeros((kh * kw, 0), np.int64)
    return idx.astype(np.int64), oh, ow


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """im2col: (N, C, H, W) -> (N, C * kh * kw, L), each column one sliding block (one index_select
    of the zero-padded planes)."""
    if input.dim() not in (3, 4):
        raise RuntimeError("Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and non-zero dimensions "
                           f"for input, but got: {list(input.shape)}")
    k, d, p, s = _im2col_args(kernel_size, dilation, padding, stride)
    batched = input.dim() == 4
    x = input if batched else input.unsqueeze(0)
    n, c, h, w = x.shape
    idx, oh, ow = _im2col_index(h, w, k, d, p, s)
    if oh < 1 or ow < 1:
        raise RuntimeError(f"Given input with spatial size ({h}, {w}), kernel_size=({k[0]}, {k[1]}), dilation=({d[0]}, "
                           f"{d[1]}), padding=({p[0]}, {p[1]}), calculated shape of the array of sliding blocks as "
                           f"({oh}, {ow}), but its components must be at least one.")
    if p != (0, 0):
        x = F.pad(x, (p[1], p[1], p[0], p[0]))
    flat = x.reshape(n, c, -1)
    index = _C.from_numpy(idx.reshape(-1)).to(input.device)
    out = flat.index_select(2, index).reshape(n, c * k[0] * k[1], oh * ow)
    return out if batched else out.squeeze(0)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """col2im, the adjoint of ``unfold``: sums the blocks of (N, C * kh * kw, L) into (N, C, H, W)
    (one index_add into the zero-padded planes, then the padding cropped)."""
    if input.dim() not in (2, 3) or any(sz == 0 for sz in input.shape[-2:]):
        raise RuntimeError("Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and non-zero "
                           f"dimensions for input, but got: {list(input.shape)}")
    k, d, p, s = _im2col_args(kernel_size, dilation, padding, stride)
    h, w = _pair(output_size)
    batched = input.dim() == 3
    x = input if batched else input.unsqueeze(0)
    n, ck, length = x.shape
    if ck % (k[0] * k[1]) != 0:
        raise RuntimeError(f"Expected size of input's dimension 1 to be divisible by the product of kernel_size, but "
                           f"got input.size(1)={ck} and kernel_size=({k[0]}, {k[1]}).")
    idx, oh, ow = _im2col_index(h, w, k, d, p, s)
    if oh * ow != length:
        raise RuntimeError(f"Given output_size=({h}, {w}), kernel_size=({k[0]}, {k[1]}), dilation=({d[0]}, {d[1]}), "
                           f"padding=({p[0]}, {p[1]}), stride=({s[0]}, {s[1]}), expected size of input's dimension 2 "
                           f"to match the calculated number of sliding blocks {oh} * {ow} = {oh * ow}, but got "
                           f"input.size(2)={length}.")
    c = ck // (k[0] * k[1])
    hp, wp = h + 2 * p[0], w + 2 * p[1]
    planes = _C.zeros(n, c, hp * wp, dtype=input.dtype, device=input.device)
    index = _C.from_numpy(idx.reshape(-1)).to(input.device)
    out = planes.index_add(2, index, x.reshape(n, c, -1)).reshape(n, c, hp, wp)
    if p != (0, 0):
        out = out[:, :, p[0]:p[0] + h, p[1]:p[1] + w]
    return out if batched else out.squeeze(0)
