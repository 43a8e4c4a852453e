"""3-D pooling (max, average, adaptive), LP pooling, max unpooling and fractional max pooling.

The windowed pools gather every window's elements from the flattened volumes into a
trailing axis (one differentiable gather) and reduce it; the window positions are computed once
in numpy. Re-exported by ``nn.functional``.
"""

import numpy as np

from .. import _C
from .._arg_check import check_bool
from .._dtype_names import not_implemented_for
from . import functional as F
from ._windows import _adaptive_max_along
from .modules.utils import _list_with_default, _ntuple, _pair, _single, _triple


def _x(s):
    return "x".join(str(v) for v in s)


def _pool_out_size(n, k, s, p, d, ceil_mode):
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _window_index(sizes, kernel, stride, padding, dilation, out_sizes):
    """Flat positions, in the unpadded volume, of every element of every window: (L, K) int64 with
    -1 where a window element falls in the padding. Windows run in row-major order, elements
    within a window likewise."""
    index = np.zeros((1, 1), dtype=np.int64)
    inside = np.ones((1, 1), dtype=bool)
    for n, k, s, p, d, o in zip(sizes, kernel, stride, padding, dilation, out_sizes):
        pos = np.arange(o)[:, None] * s + np.arange(k)[None, :] * d - p  # (o, k) along this dim
        valid = (pos >= 0) & (pos < n)
        rows = index.shape[0] * o
        index = (index[:, None, :, None] * n + pos[None, :, None, :]).reshape(rows, -1)
        inside = (inside[:, None, :, None] & valid[None, :, None, :]).reshape(rows, -1)
    return np.where(inside, index, -1)


def _gather_windows(x, index, fill):
    """(N, C, *spatial) -> (N, C, L, K): the elements of the windows ``index`` (L, K) over the
    flattened spatial dims, ``fill`` where the index is -1 (padding). The fill is one extra element
    gathered from, never written into the input, so no inf meets a zero in the gradient."""
    n, c = x.shape[0], x.shape[1]
    flat = x.reshape(n, c, -1)
    flat = _C.cat([flat, _C.full((n, c, 1), fill, dtype=x.dtype, device=x.device)], 2)
    idx = _C.from_numpy(np.where(index < 0, flat.shape[2] - 1, index).reshape(-1)).to(x.device)
    return flat.index_select(2, idx).reshape(n, c, *index.shape)


def _batched(input, dims, message):
    if input.dim() not in (dims + 1, dims + 2) or any(s == 0 for s in input.shape[-dims - 1:]):
        raise RuntimeError(message)
    return (input, True) if input.dim() == dims + 2 else (input.unsqueeze(0), False)


# ----- max_pool3d / avg_pool3d --------------------------------------------------------------------

def _pool3d_args(kernel_size, stride, padding, dilation, name):
    k = _triple(kernel_size)
    s = k if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) else _triple(stride)
    p, d = _triple(padding), _triple(dilation)
    for name_, vals in (("kernel_size", k), ("stride", s), ("dilation", d)):
        if any(v <= 0 for v in vals):
            raise RuntimeError(f"{name}: {name_} must be greater than zero, but got {list(vals)}")
    for pi, ki, di in zip(p, k, d):
        if pi < 0:
            raise RuntimeError(f"pad must be non-negative, but got pad: {pi}")
        if pi > (di * (ki - 1) + 1) // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={pi}, "
                               f"kernel_size={ki} and dilation={di}")
    return k, s, p, d


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    ceil_mode = check_bool(ceil_mode, "max_pool3d_with_indices", "ceil_mode", 6)
    x, batched = _batched(input, 3, "non-empty 4D or 5D (batch mode) tensor expected for input")
    if not x.is_floating_point():
        raise not_implemented_for("max_pool3d_with_indices_cpu", x.dtype)
    k, s, p, d = _pool3d_args(kernel_size, stride, padding, dilation, "max_pool3d")
    sizes = list(x.shape[2:])
    out = [_pool_out_size(n, *a, ceil_mode) for n, *a in zip(sizes, k, s, p, d)]
    if any(o < 1 for o in out):
        c = x.shape[1]
        raise RuntimeError(f"Given input size: ({_x([c] + sizes)}). Calculated output size: ({_x([c] + out)}). "
                           "Output size is too small")
    index = _window_index(sizes, k, s, p, d, out)
    best = _gather_windows(x, index, float("-inf")).max(-1)
    # Each window's argmax as its flat position in the D*H*W volume.
    index_t = _C.from_numpy(index).to(x.device)
    n, c = x.shape[0], x.shape[1]
    flat_idx = index_t.expand(n, c, *index.shape).gather(-1, best.indices.unsqueeze(-1)).squeeze(-1)
    values, indices = best.values.reshape(n, c, *out), flat_idx.reshape(n, c, *out)
    if not batched:
        values, indices = values.squeeze(0), indices.squeeze(0)
    return values, indices


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """3-D max pooling over (N, C, D, H, W) or (C, D, H, W) input; with ``return_indices`` also the
    argmax positions (flat within each D*H*W volume)."""
    ceil_mode = check_bool(ceil_mode, "max_pool3d", "ceil_mode", 6)
    values, indices = max_pool3d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode)
    return (values, indices) if return_indices else values


def _avg_divisors(sizes, k, s, p, out, count_include_pad):
    """Per-window divisor, PyTorch's rule: the window clipped to the padded input, or (without
    count_include_pad) to the input itself."""
    total = np.ones((1,), dtype=np.float64)
    for n, ki, si, pi, o in zip(sizes, k, s, p, out):
        start = np.arange(o) * si - pi
        end = np.minimum(start + ki, n + pi)
        if count_include_pad:
            count = end - start
        else:
            count = np.minimum(end, n) - np.maximum(start, 0)
        total = (total[:, None] * count[None, :]).reshape(-1)
    return total


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """3-D average pooling over (N, C, D, H, W) or (C, D, H, W) input."""
    ceil_mode = check_bool(ceil_mode, "avg_pool3d", "ceil_mode")
    count_include_pad = check_bool(count_include_pad, "avg_pool3d", "count_include_pad")
    x, batched = _batched(input, 3, "non-empty 4D or 5D (batch mode) tensor expected for input")
    k, s, p, d = _pool3d_args(kernel_size, stride, padding, 1, "avg_pool3d")
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    sizes = list(x.shape[2:])
    if any(n + 2 * pi < ki for n, pi, ki in zip(sizes, p, k)):
        raise RuntimeError(f"input image (T: {sizes[0]} H: {sizes[1]} W: {sizes[2]}) smaller than kernel size "
                           f"(kT: {k[0]} kH: {k[1]} kW: {k[2]})")
    out = [_pool_out_size(n, ki, si, pi, 1, ceil_mode) for n, ki, si, pi in zip(sizes, k, s, p)]
    sums = _gather_windows(x, _window_index(sizes, k, s, p, d, out), 0.0).sum(-1)
    if divisor_override is not None:
        result = sums / divisor_override
    else:
        div = _avg_divisors(sizes, k, s, p, out, count_include_pad)
        result = sums / _C.from_numpy(div).to(device=x.device, dtype=x.dtype)
    result = result.reshape(x.shape[0], x.shape[1], *out)
    return result if batched else result.squeeze(0)


# ----- adaptive 3-D pooling -----------------------------------------------------------------------

def _adaptive_sizes(output_size, input, name):
    if isinstance(output_size, (list, tuple)) and len(output_size) != 3:
        raise RuntimeError(f"{name}: internal error: output_size.size() must be 3")
    return _triple(_list_with_default(output_size, input.size()))


def adaptive_avg_pool3d(input, output_size):
    """Average pooling of (N, C, D, H, W) or (C, D, H, W) input to ``output_size`` (PyTorch's
    bins [floor(i n / o), ceil((i + 1) n / o)); the box mean is the mean of per-dim means)."""
    if input.dim() not in (4, 5):
        raise RuntimeError(f"adaptive_avg_pool3d(): Expected 4D or 5D tensor, but got {list(input.shape)}")
    size = _adaptive_sizes(output_size, input, "adaptive_avg_pool3d")
    out = input
    for dim, o in zip((-3, -2, -1), size):
        n = out.shape[dim]
        parts = [out.narrow(dim, (i * n) // o, -(-((i + 1) * n) // o) - (i * n) // o).mean(dim, keepdim=True)
                 for i in range(o)]
        out = _C.cat(parts, dim)
    return out


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=False):
    if input.dim() not in (4, 5):
        raise RuntimeError(f"adaptive_max_pool3d(): Expected 4D or 5D tensor, but got: {list(input.shape)}")
    if not input.is_floating_point():
        raise not_implemented_for("adaptive_max_pool3d_cpu", input.dtype)
    od, oh, ow = _adaptive_sizes(output_size, input, "adaptive_max_pool3d")
    d, h, w = input.shape[-3:]
    # Separable: along W, then H, then D, carrying the flat D*H*W index of each maximum along.
    cols, col_idx = _adaptive_max_along(input, -1, ow)
    base = _C.arange(h, device=input.device).reshape(h, 1) * w + col_idx
    rows, row_idx = _adaptive_max_along(cols, -2, oh, base)
    base = _C.arange(d, device=input.device).reshape(d, 1, 1) * (h * w) + row_idx
    return _adaptive_max_along(rows, -3, od, base)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    out, idx = adaptive_max_pool3d_with_indices(input, output_size)
    return (out, idx) if return_indices else out


# ----- LP pooling ---------------------------------------------------------------------------------

def _lp_finish(out, window, norm_type):
    return (out.sign() * out.abs().relu()).mul(window).pow(1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum over each window of x^p)^(1/p), as PyTorch: the average pool of x^p times the window size."""
    (k,) = _single(kernel_size)
    out = F.avg_pool1d(input.pow(norm_type), k, stride if stride is not None else None, 0, ceil_mode)
    return _lp_finish(out, k, norm_type)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    kw, kh = _pair(kernel_size)
    out = F.avg_pool2d(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    return _lp_finish(out, kw * kh, norm_type)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    kd, kw, kh = _triple(kernel_size)
    out = avg_pool3d(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    return _lp_finish(out, kd * kw * kh, norm_type)


# ----- max unpooling ------------------------------------------------------------------------------

def _unpool_output_size(input, kernel_size, stride, padding, output_size, dims):
    in_sizes = list(input.shape[-dims:])
    default = [(n - 1) * s - 2 * p + k for n, k, s, p in zip(in_sizes, kernel_size, stride, padding)]
    if output_size is None:
        return default
    requested = list(output_size)
    if len(requested) == dims + 2:
        requested = requested[2:]
    if len(requested) != dims:
        raise ValueError(f"output_size should be a sequence containing {dims} or {dims + 2} elements, but it has a "
                         f"length of '{len(requested)}'")
    for i, (size, base, s) in enumerate(zip(requested, default, stride)):
        if not (base - s < size < base + s):
            raise ValueError(f'invalid output_size "{output_size}" (dim {i} must be between {base - s} and '
                             f"{base + s})")
    return requested


def _max_unpool(input, indices, kernel_size, stride, padding, output_size, dims):
    ntuple = _ntuple(dims)
    k = ntuple(kernel_size)
    s = k if stride is None else ntuple(stride)
    p = ntuple(padding)
    if indices.dtype != _C.int64:
        raise RuntimeError(f"elements in indices should be type int64 but got: {F._scalar_name(indices.dtype)}")
    if list(indices.shape) != list(input.shape):
        raise RuntimeError(f"Expected shape of indices to be same as that of the input tensor ({list(input.shape)}) "
                           f"but got indices tensor with shape: {list(indices.shape)}")
    out_sizes = _unpool_output_size(input, k, s, p, output_size, dims)
    lead = list(input.shape[:-dims])
    plane = int(np.prod(out_sizes))
    flat_in = input.reshape(*lead, -1)
    flat_idx = indices.reshape(*lead, -1)
    if flat_idx.numel() > 0:
        lo, hi = int(flat_idx.min().item()), int(flat_idx.max().item())
        if lo < 0 or hi >= plane:
            bad = hi if hi >= plane else lo
            raise RuntimeError(f"Found an invalid max index: {bad} (output volumes are of size {_x(out_sizes)})")
    out = _C.zeros(*lead, plane, dtype=input.dtype, device=input.device).scatter(-1, flat_idx, flat_in)
    return out.reshape(*lead, *out_sizes)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The partial inverse of max_pool1d: each value placed at its index, zeros elsewhere."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 1)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The partial inverse of max_pool2d: each value placed at its flat H*W index, zeros elsewhere."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 2)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The partial inverse of max_pool3d: each value placed at its flat D*H*W index, zeros elsewhere."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 3)


# ----- fractional max pooling ---------------------------------------------------------------------

def _intervals(samples, in_size, out_size, pool, np_dtype):
    """PyTorch's pseudo-random window starts for each sample u (any shape S): floor((i + u) * alpha)
    - floor(u * alpha), the last at in_size - pool; shape S + (out_size,); computed in the input's
    precision, as PyTorch does."""
    last = np.full(samples.shape + (1,), in_size - pool, dtype=np.int64)
    if out_size == 1:
        return last
    alpha = np_dtype(in_size - pool) / np_dtype(out_size - 1)
    u = samples.astype(np_dtype)[..., None]
    i = np.arange(out_size - 1).astype(np_dtype)
    starts = ((i + u) * alpha).astype(np.int64) - (u * alpha).astype(np.int64)
    return np.concatenate([starts, last], axis=-1)


def _fractional_max_pool(input, kernel_size, output_size, output_ratio, _random_samples, dims, name):
    ntuple = _ntuple(dims)
    if output_size is None and output_ratio is None:
        raise ValueError(f"{name} requires specifying either an output_size or an output_ratio")
    if input.dim() not in (dims + 1, dims + 2):
        raise RuntimeError(f"{name}(): Expected {dims + 1}D or {dims + 2}D tensor, but got: {list(input.shape)}")
    k = ntuple(kernel_size)
    if output_size is None:
        ratio = ntuple(output_ratio)
        output_size = [int(input.size(-dims + i) * ratio[i]) for i in range(dims)]
    out = list(ntuple(output_size))
    batched = input.dim() == dims + 2
    x = input if batched else input.unsqueeze(0)
    n, c = x.shape[0], x.shape[1]
    sizes = list(x.shape[2:])
    for o, ki, size in zip(out, k, sizes):
        if o + ki - 1 > size:
            raise RuntimeError(f"{name}(): pool size {ki} too large relative to input size {size} and output size {o}")
    if _random_samples is None:
        _random_samples = _C.rand(n, c, dims, dtype=x.dtype, device=x.device)
    if list(_random_samples.shape) != [n, c, dims]:
        raise RuntimeError(f"{name}(): Expected _random_samples to have shape [{n}, {c}, {dims}], but got "
                           f"{list(_random_samples.shape)}")
    samples = _random_samples.detach().cpu().numpy()
    np_dtype = np.float64 if x.dtype == _C.float64 else np.float32
    # PyTorch's sample order: width first for 2-D; depth, height, width for 3-D.
    order = [1, 0] if dims == 2 else [0, 1, 2]
    # Flat positions of every window element, for all (sample, channel) planes at once: (N * C, L, K).
    flat = np.zeros((n * c, 1, 1), dtype=np.int64)
    for i in range(dims):
        starts = _intervals(samples[:, :, order[i]].reshape(-1), sizes[i], out[i], k[i], np_dtype)
        pos = starts[:, :, None] + np.arange(k[i])[None, None, :]  # (N * C, out_i, k_i)
        rows, cols = flat.shape[1] * out[i], flat.shape[2] * k[i]
        flat = (flat[:, :, None, :, None] * sizes[i] + pos[:, None, :, None, :]).reshape(n * c, rows, cols)
    index = flat.reshape(n, c, *flat.shape[1:])
    idx = _C.from_numpy(index).to(x.device)
    windows = x.reshape(n, c, -1).gather(2, idx.reshape(n, c, -1)).reshape(index.shape)
    best = windows.max(-1)
    positions = idx.gather(-1, best.indices.unsqueeze(-1)).squeeze(-1)
    values, indices = best.values.reshape(n, c, *out), positions.reshape(n, c, *out)
    if not batched:
        values, indices = values.squeeze(0), indices.squeeze(0)
    return values, indices


def fractional_max_pool2d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=False, _random_samples=None):
    return _fractional_max_pool(input, kernel_size, output_size, output_ratio, _random_samples, 2,
                                "fractional_max_pool2d")


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                          _random_samples=None):
    """Max pooling over pseudo-randomly placed k x k windows (Graham's fractional max pooling)."""
    out, idx = fractional_max_pool2d_with_indices(input, kernel_size, output_size, output_ratio, True,
                                                  _random_samples)
    return (out, idx) if return_indices else out


def fractional_max_pool3d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=False, _random_samples=None):
    return _fractional_max_pool(input, kernel_size, output_size, output_ratio, _random_samples, 3,
                                "fractional_max_pool3d")


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                          _random_samples=None):
    """3-D fractional max pooling."""
    out, idx = fractional_max_pool3d_with_indices(input, kernel_size, output_size, output_ratio, True,
                                                  _random_samples)
    return (out, idx) if return_indices else out
