"""``rustgrad.nn.functional``: the stateless neural-network ops, as ``torch.nn.functional``.

Each function normalises its arguments the way PyTorch's does (ints to pairs, defaults,
reduction strings including the legacy ``size_average``/``reduce`` flags) and then calls one Rust
op in ``rustgrad._C`` (the fused kernels and their backward rules live there).
"""

import math
import warnings

from .. import _C
from .modules.utils import _list_with_default, _pair, _single

Tensor = _C.Tensor

__all__ = [
    "affine_grid", "grid_sample",
    "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "gelu", "elu", "elu_", "selu", "silu", "softplus",
    "hardtanh", "hardtanh_", "logsigmoid", "sigmoid", "tanh", "softmax", "softmin", "log_softmax", "hardswish",
    "hardsigmoid", "mish", "softsign", "tanhshrink", "glu", "threshold", "threshold_", "prelu", "linear",
    "conv1d", "conv2d", "conv_transpose2d", "max_pool1d", "max_pool1d_with_indices", "avg_pool1d",
    "adaptive_avg_pool1d", "max_pool2d", "max_pool2d_with_indices", "avg_pool2d", "adaptive_avg_pool2d", "interpolate",
    "upsample", "pixel_shuffle", "pixel_unshuffle", "dropout", "batch_norm", "group_norm", "instance_norm",
    "layer_norm", "embedding", "flatten", "one_hot", "pad", "normalize",
    "cross_entropy", "nll_loss", "cosine_similarity", "pairwise_distance", "mse_loss", "l1_loss", "smooth_l1_loss",
    "huber_loss", "kl_div", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "scaled_dot_product_attention", "multi_head_attention_forward",
    "cosine_embedding_loss", "margin_ranking_loss", "triplet_margin_loss", "hinge_embedding_loss", "soft_margin_loss",
    "multilabel_soft_margin_loss", "poisson_nll_loss", "gaussian_nll_loss", "multi_margin_loss",
    "adaptive_max_pool1d", "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d", "adaptive_max_pool2d_with_indices",
    "unfold", "fold",
]


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalises over the trailing ``normalized_shape`` dims, then ``* weight + bias``."""
    if not isinstance(normalized_shape, (tuple, list)) or not all(
            isinstance(d, int) and not isinstance(d, bool) for d in normalized_shape):
        raise TypeError("layer_norm(): argument 'normalized_shape' (position 2) must be tuple of ints, not "
                        f"{type(normalized_shape).__name__}")
    return _C.layer_norm(input, list(normalized_shape), weight, bias, float(eps))


# ----- embeddings ---------------------------------------------------------------------------------

_LEGACY_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
                      "bfloat16": "BFloat16Tensor", "int64": "LongTensor", "int32": "IntTensor",
                      "int16": "ShortTensor", "int8": "CharTensor", "uint8": "ByteTensor", "bool": "BoolTensor"}


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Rows of ``weight`` picked by the int64 ``input``; the row ``padding_idx`` gets no gradient."""
    if weight.dim() != 2:
        raise RuntimeError("'weight' must be 2-D")
    if not isinstance(input, Tensor):
        raise TypeError(f"embedding(): argument 'indices' (position 2) must be Tensor, not {type(input).__name__}")
    if input.dtype != _C.int64:
        kind = _LEGACY_TYPE_NAMES.get(str(input.dtype).split(".")[-1], str(input.dtype))
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got torch.{kind} instead (while checking arguments for embedding)")
    num = weight.size(0)
    if padding_idx is not None:
        if padding_idx > 0:
            assert padding_idx < num, "Padding_idx must be within num_embeddings"
        elif padding_idx < 0:
            assert padding_idx >= -num, "Padding_idx must be within num_embeddings"
            padding_idx = num + padding_idx
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not supported yet")
    # index_select counts negative positions from the end; embedding refuses them (checked on the
    # host only, where it costs no device round trip).
    if not input.is_cuda and input.numel() and int(input.min()) < 0:
        raise IndexError("index out of range in self")
    out = weight.index_select(0, input.reshape(-1)).reshape(*input.shape, weight.size(1))
    if padding_idx is not None and out.requires_grad:
        # The padding row's uses pass no gradient back to it (as PyTorch's embedding_backward).
        out = _C.where((input == padding_idx).unsqueeze(-1), out.detach(), out)
    return out


# ----- reductions ---------------------------------------------------------------------------------

def _legacy_reduction(size_average, reduce, emit_warning=True):
    """The reduction string for the deprecated ``size_average``/``reduce`` flags (as PyTorch)."""
    if size_average is None:
        size_average = True
    if reduce is None:
        reduce = True
    if size_average and reduce:
        ret = "mean"
    elif reduce:
        ret = "sum"
    else:
        ret = "none"
    if emit_warning:
        warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{ret}' instead.",
                      stacklevel=3)
    return ret


def _reduction(reduction, size_average=None, reduce=None):
    if size_average is not None or reduce is not None:
        return _legacy_reduction(size_average, reduce)
    if reduction == "elementwise_mean":
        warnings.warn("reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.",
                      stacklevel=3)
        return "mean"
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _broadcast_shape(a, b):
    """NumPy's broadcast of two shapes, with PyTorch's message when they do not broadcast."""
    a, b = tuple(a), tuple(b)
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + a
    b = (1,) * (n - len(b)) + b
    out = []
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y and x != 1 and y != 1:
            raise RuntimeError(f"The size of tensor a ({x}) must match the size of tensor b ({y}) at "
                               f"non-singleton dimension {i}")
        out.append(x if y == 1 else y)
    return tuple(out)


def _broadcast_pair(input, target):
    shape = _broadcast_shape(input.shape, target.shape)
    if tuple(input.shape) != shape:
        input = input.expand(*shape)
    if tuple(target.shape) != shape:
        target = target.expand(*shape)
    return input, target


# ----- activations --------------------------------------------------------------------------------

def _inplace_result(input, out):
    """Writes ``out`` into ``input`` (the in-place form of an out-of-place Rust op)."""
    input.copy_(out)
    return input


def relu(input, inplace=False):
    """max(x, 0) elementwise."""
    return input.relu_() if inplace else input.relu()


def relu_(input):
    return input.relu_()


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    out = _C.hardtanh(input, float(min_val), float(max_val))
    return _inplace_result(input, out) if inplace else out


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    out = _C.leaky_relu(input, float(negative_slope))
    return _inplace_result(input, out) if inplace else out


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, inplace=True)


def gelu(input, approximate="none"):
    """GELU; ``approximate='tanh'`` uses the tanh approximation, as PyTorch."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return _C.gelu(input, approximate)


def elu(input, alpha=1.0, inplace=False):
    out = _C.elu(input, float(alpha))
    return _inplace_result(input, out) if inplace else out


def elu_(input, alpha=1.0):
    return elu(input, alpha, inplace=True)


def selu(input, inplace=False):
    alpha = 1.6732632423543772848170429916717
    scale = 1.0507009873554804934193349852946
    out = _C.elu(input, alpha) * scale
    return _inplace_result(input, out) if inplace else out


def silu(input, inplace=False):
    out = _C.silu(input)
    return _inplace_result(input, out) if inplace else out


def softplus(input, beta=1.0, threshold=20.0):
    return _C.softplus(input, float(beta), float(threshold))


def logsigmoid(input):
    return -_C.softplus(-input, 1.0, 20.0)


def sigmoid(input):
    return input.sigmoid()


def tanh(input):
    return input.tanh()


_DTYPE_NAMES = {"int64": "Long", "bool": "Bool", "float32": "Float", "float64": "Double"}


def _dtype_name(dtype):
    return _DTYPE_NAMES[repr(dtype).split(".")[-1]]


def _require_floating(input, kernel):
    """PyTorch's error for a floating-point-only kernel given an integer or bool tensor."""
    if not input.is_floating_point():
        raise NotImplementedError(f"\"{kernel}_{input.device.type}\" not implemented for '{_dtype_name(input.dtype)}'")


def hardswish(input, inplace=False):
    """x * relu6(x + 3) / 6."""
    _require_floating(input, "hardswish")
    out = _C.where(input <= -3.0, 0.0, _C.where(input < 3.0, input * (input + 3.0) / 6.0, input))
    return _inplace_result(input, out) if inplace else out


def hardsigmoid(input, inplace=False):
    """relu6(x + 3) / 6."""
    _require_floating(input, "hardsigmoid")
    out = _C.where(input <= -3.0, 0.0, _C.where(input >= 3.0, 1.0, (input + 3.0) / 6.0))
    return _inplace_result(input, out) if inplace else out


def mish(input, inplace=False):
    """x * tanh(softplus(x))."""
    _require_floating(input, "mish")
    out = input * _C.softplus(input, 1.0, 20.0).tanh()
    return _inplace_result(input, out) if inplace else out


def softsign(input):
    """x / (1 + |x|)."""
    return input / (input.abs() + 1)


def tanhshrink(input):
    """x - tanh(x)."""
    return input - input.tanh()


def glu(input, dim=-1):
    """a * sigmoid(b), with ``input`` split in halves a, b along ``dim``."""
    if input.dim() == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    _require_floating(input, "glu")
    size = input.size(dim)
    if size % 2 != 0:
        wrapped = dim + input.dim() if dim < 0 else dim
        raise RuntimeError(f"Halving dimension must be even, but dimension {wrapped} is size {size}")
    a, b = input.chunk(2, dim)
    return a * b.sigmoid()


def _threshold(input, threshold, value, inplace=False):
    """x where x > threshold, else ``value``."""
    if not input.is_floating_point():
        threshold, value = int(threshold), int(value)
    out = _C.where(input > threshold, input, _C.full((), value, dtype=input.dtype, device=input.device))
    return _inplace_result(input, out) if inplace else out


# Named _threshold because its argument ``threshold`` hides the function (as PyTorch).
threshold = _threshold


def threshold_(input, threshold, value):
    return _threshold(input, threshold, value, inplace=True)


def prelu(input, weight):
    """max(0, x) + weight * min(0, x); a 1-D ``weight`` of more than one element runs over dim 1."""
    if input.dtype != weight.dtype:
        raise RuntimeError(f"prelu: Type promoting not supported. Got {_dtype_name(input.dtype)} and "
                           f"{_dtype_name(weight.dtype)}")
    ndim = input.dim()
    if weight.numel() != 1:
        if ndim == 0:
            raise RuntimeError("Not allow zero-dim input tensor.")
        channels = input.size(1) if ndim > 1 else 1
        if channels != weight.numel():
            raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                               f"{weight.numel()} and channel size = {channels}.")
    if weight.dim() > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.dim()}")
    _require_floating(input, "prelu")
    if ndim != weight.dim():
        shape = [1] * ndim
        if ndim > 1:
            shape[1] = weight.numel()
        weight = weight.reshape(shape)
    return _C.where(input > 0, input, weight * input)


def _get_softmax_dim(name, ndim, stacklevel):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X "
                  "as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim`` (implicit dim, with a warning, when None, as PyTorch)."""
    if dim is None:
        dim = _get_softmax_dim("softmax", input.dim(), _stacklevel)
    return input.softmax(dim, dtype=dtype)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _get_softmax_dim("softmin", input.dim(), _stacklevel)
    return (-input).softmax(dim, dtype=dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _get_softmax_dim("log_softmax", input.dim(), _stacklevel)
    return input.log_softmax(dim, dtype=dtype)


# ----- linear and convolution ---------------------------------------------------------------------

def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` as one fused op."""
    return _C.linear(input, weight, bias)


def _conv_padding(padding):
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        return padding
    return _pair(padding)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) over (N, C, H, W) or unbatched (C, H, W) input."""
    return _C.conv2d(input, weight, bias, _pair(stride), _conv_padding(padding), _pair(dilation), int(groups))


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution: the gradient of conv2d with respect to its input, as an op."""
    return _C.conv_transpose2d(input, weight, bias, _pair(stride), _pair(padding), _pair(output_padding),
                               int(groups), _pair(dilation))


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


# ----- pooling ------------------------------------------------------------------------------------

def _pool_stride(stride, kernel_size):
    if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0):
        return _pair(kernel_size)
    return _pair(stride)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return _C.max_pool2d(input, _pair(kernel_size), _pool_stride(stride, kernel_size), _pair(padding),
                         _pair(dilation), bool(ceil_mode), True)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max pooling; ``stride`` defaults to ``kernel_size``; with ``return_indices`` also the argmax
    positions (flat within each H*W plane)."""
    return _C.max_pool2d(input, _pair(kernel_size), _pool_stride(stride, kernel_size), _pair(padding),
                         _pair(dilation), bool(ceil_mode), bool(return_indices))


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _C.avg_pool2d(input, _pair(kernel_size), _pool_stride(stride, kernel_size), _pair(padding),
                         bool(ceil_mode), bool(count_include_pad), divisor_override)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size; None entries keep the input's size."""
    size = _list_with_default(output_size, input.size())
    return _C.adaptive_avg_pool2d(input, _pair(size))


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
    out = _C.max_pool2d(input.unsqueeze(-2), (1, k), (1, s), (0, p), (1, d), bool(ceil_mode), bool(return_indices))
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling over (N, C, L) or (C, L) input (the 2-D op on a unit height)."""
    _check_pool1d_input(input, "avg_pool1d")
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
    out = _C.avg_pool2d(input.unsqueeze(-2), (1, k), (1, s), (0, p), bool(ceil_mode), bool(count_include_pad), None)
    return out.squeeze(-2)


def adaptive_avg_pool1d(input, output_size):
    """Average pooling of (N, C, L) or (C, L) input to ``output_size`` positions."""
    _check_pool1d_input(input, "adaptive_avg_pool1d")
    size = _single(output_size)
    if len(size) != 1:
        raise RuntimeError(f"adaptive_avg_pool1d() argument 'output_size' should contain one int (got {len(size)})")
    return _C.adaptive_avg_pool2d(input.unsqueeze(-2), (1, int(size[0]))).squeeze(-2)


# ----- resampling ---------------------------------------------------------------------------------

_INTERPOLATING_MODES = ("linear", "bilinear", "bicubic", "trilinear")


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resizes (N, C, H, W) input to ``size`` or by ``scale_factor`` ('nearest', 'bilinear', 'area')."""
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False

    dim = input.dim() - 2
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    elif size is not None:
        scale_factors = None
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(
                    "Input and output must have the same number of spatial dimensions, but got input with spatial "
                    f"dimensions of {list(input.shape[2:])} and output size of {size}. Please provide input tensor "
                    "in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) format.")
            output_size = [int(s) for s in size]
        else:
            output_size = [int(size) for _ in range(dim)]
    elif scale_factor is not None:
        output_size = None
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError(
                    "Input and scale_factor must have the same number of spatial dimensions, but got input with "
                    f"spatial dimensions of {list(input.shape[2:])} and scale_factor of shape {scale_factor}. "
                    "Please provide input tensor in (N, C, d1, d2, ...,dK) format and scale_factor in "
                    "(s1, s2, ...,sK) format.")
            scale_factors = [float(s) for s in scale_factor]
        else:
            scale_factors = [float(scale_factor) for _ in range(dim)]
    else:
        raise ValueError("either size or scale_factor should be defined")

    if recompute_scale_factor is not None and recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if mode == "area" and output_size is None:
        recompute_scale_factor = True
    if recompute_scale_factor is not None and recompute_scale_factor:
        output_size = [int(math.floor(float(input.size(i + 2)) * scale_factors[i])) for i in range(dim)]
        scale_factors = None
    if antialias and not (mode in ("bilinear", "bicubic") and input.dim() == 4):
        raise ValueError("Anti-alias option is restricted to bilinear and bicubic modes and requires a 4-D tensor "
                         "as input")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported by rustgrad")

    if output_size is None:
        # The output size PyTorch's kernels compute from the scale factors.
        output_size = [int(math.floor(float(input.size(i + 2)) * scale_factors[i])) for i in range(dim)]

    if input.dim() == 4:
        if mode == "nearest":
            return _C.interpolate(input, tuple(output_size), "nearest", None,
                                  None if scale_factors is None else tuple(scale_factors))
        if mode == "bilinear":
            return _C.interpolate(input, tuple(output_size), "bilinear", bool(align_corners),
                                  None if scale_factors is None else tuple(scale_factors))
        if mode == "area":
            return adaptive_avg_pool2d(input, output_size)
    if input.dim() == 3 and mode in ("nearest", "linear", "area"):
        # 1-d resampling as the 2-d op on a unit height.
        scales = None if scale_factors is None else [1.0] + scale_factors
        x = input.unsqueeze(-2)
        if mode == "nearest":
            out = _C.interpolate(x, (1, output_size[0]), "nearest", None, None if scales is None else tuple(scales))
        elif mode == "linear":
            out = _C.interpolate(x, (1, output_size[0]), "bilinear", bool(align_corners),
                                 None if scales is None else tuple(scales))
        else:
            out = _C.adaptive_avg_pool2d(x, (1, output_size[0]))
        return out.squeeze(-2)
    if input.dim() == 3 and mode == "bilinear":
        raise NotImplementedError("Got 3D input, but bilinear mode needs 4D input")
    if input.dim() == 5 and mode == "bilinear":
        raise NotImplementedError("Got 5D input, but bilinear mode needs 4D input")
    if input.dim() in (3, 4, 5):
        raise NotImplementedError(f"interpolate: mode '{mode}' for {input.dim()}D input is not supported by "
                                  "rustgrad (it has nearest, linear and area for 3D input, nearest, bilinear and area "
                                  "for 4D input)")
    raise NotImplementedError(
        f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.dim()}D) for the modes: "
        f"nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact (got {mode})")


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    warnings.warn("nn.functional.upsample is deprecated. Use nn.functional.interpolate instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def pixel_shuffle(input, upscale_factor):
    """(*, C * r * r, H, W) -> (*, C, H * r, W * r), as a reshape and a permute."""
    r = int(upscale_factor)
    if input.dim() < 3:
        raise RuntimeError("pixel_shuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.dim()} dimension(s)")
    if r <= 0:
        raise RuntimeError(f"pixel_shuffle expects a positive upscale_factor, but got {r}")
    c, h, w = input.shape[-3:]
    if c % (r * r) != 0:
        raise RuntimeError("pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                           f"upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    batch = list(input.shape[:-3])
    nb = len(batch)
    x = input.reshape(batch + [c // (r * r), r, r, h, w])
    x = x.permute(*range(nb), nb, nb + 3, nb + 1, nb + 4, nb + 2)
    return x.reshape(batch + [c // (r * r), h * r, w * r])


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H * r, W * r) -> (*, C * r * r, H, W): the inverse of :func:`pixel_shuffle`."""
    r = int(downscale_factor)
    if input.dim() < 3:
        raise RuntimeError("pixel_unshuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.dim()} dimension(s)")
    if r <= 0:
        raise RuntimeError(f"pixel_unshuffle expects a positive downscale_factor, but got {r}")
    c, h, w = input.shape[-3:]
    if h % r != 0:
        raise RuntimeError("pixel_unshuffle expects height to be divisible by downscale_factor, but "
                           f"input.size(-2)={h} is not divisible by {r}")
    if w % r != 0:
        raise RuntimeError("pixel_unshuffle expects width to be divisible by downscale_factor, but "
                           f"input.size(-1)={w} is not divisible by {r}")
    batch = list(input.shape[:-3])
    nb = len(batch)
    x = input.reshape(batch + [c, h // r, r, w // r, r])
    x = x.permute(*range(nb), nb, nb + 2, nb + 4, nb + 1, nb + 3)
    return x.reshape(batch + [c * r * r, h // r, w // r])


# ----- regularisation and normalisation -----------------------------------------------------------

def dropout(input, p=0.5, training=True, inplace=False):
    """Zeroes each element with probability ``p`` and scales the rest by 1/(1-p) when training."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    out = _C.dropout(input, float(p), bool(training))
    return _inplace_result(input, out) if inplace and training else out


def _verify_batch_size(size):
    size_prods = size[0]
    for i in range(len(size) - 2):
        size_prods *= size[i + 2]
    if size_prods == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {size}")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalisation over dim 1; updates ``running_mean``/``running_var`` in place when training."""
    if training:
        _verify_batch_size(input.size())
    return _C.batch_norm(input, running_mean, running_var, weight, bias, bool(training), float(momentum),
                         float(eps))


def _affine_per_channel(out, weight, bias):
    """``out * weight + bias`` with (C,) weight and bias broadcast over dim 1 of (N, C, *)."""
    shape = [1, out.shape[1]] + [1] * (out.dim() - 2)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalises (N, C, *) input over each group of C / num_groups channels (and all positions),
    then ``* weight + bias`` per channel: layer_norm over the flattened groups."""
    if input.dim() < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.dim()}")
    n, c = input.shape[0], input.shape[1]
    if num_groups <= 0 or c % num_groups != 0:
        raise RuntimeError("Expected number of channels in input to be divisible by num_groups, but got input of "
                           f"shape {list(input.shape)} and num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t.dim() != 1 or t.numel() != c):
            raise RuntimeError(f"Expected {name} to be a vector of size equal to the number of channels in input, "
                               f"but got {name} of shape {list(t.shape)} and input of shape {list(input.shape)}")
    x = input.reshape(n, num_groups, -1)
    out = _C.layer_norm(x, [x.shape[-1]], None, None, float(eps)).reshape(input.shape)
    return _affine_per_channel(out, weight, bias)


def _verify_spatial_size(size):
    size_prods = 1
    for i in range(2, len(size)):
        size_prods *= size[i]
    if size_prods == 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size {size}")


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalises each (sample, channel) plane of (N, C, *) input over its positions: batch_norm on
    a (1, N * C, *) view; running statistics (when given) are averaged over the batch."""
    if use_input_stats:
        _verify_spatial_size(input.size())
    n, c = input.shape[0], input.shape[1]
    x = input.reshape(1, n * c, -1)
    rm = running_mean.repeat(n) if running_mean is not None else None
    rv = running_var.repeat(n) if running_var is not None else None
    out = _C.batch_norm(x, rm, rv, None, None, bool(use_input_stats), float(momentum), float(eps))
    if use_input_stats:
        with_grad = _C.is_grad_enabled()
        _C._set_grad_enabled(False)
        try:
            if running_mean is not None:
                running_mean.copy_(rm.reshape(n, c).mean(0))
            if running_var is not None:
                running_var.copy_(rv.reshape(n, c).mean(0))
        finally:
            _C._set_grad_enabled(with_grad)
    return _affine_per_channel(out.reshape(input.shape), weight, bias)


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """``input / max(||input||_p, eps)`` along ``dim``."""
    denom = input.norm(p, dim, keepdim=True).clamp_min(eps).expand_as(input)
    return input / denom


def _clamped_norm(x, dim, eps):
    """The 2-norm along ``dim`` (kept), clamped below at ``eps`` with the gradient of the unclamped
    norm, as PyTorch's cosine_similarity (whose norm has a zero gradient at a zero vector)."""
    sq = (x * x).sum(dim, keepdim=True)
    nonzero = sq > 0
    norm = _C.where(nonzero, _C.where(nonzero, sq, 1.0).sqrt(), 0.0)
    detached = norm.detach()
    return norm + (detached.clamp_min(eps) - detached)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps)) along ``dim`` (which is removed)."""
    if not x1.is_floating_point() and not x2.is_floating_point():
        common = "Bool" if x1.dtype == _C.bool and x2.dtype == _C.bool else "Long"
        raise RuntimeError(f"expected common dtype to be floating point, yet common dtype is {common}")
    if not x1.is_floating_point():
        x1 = x1.to(x2.dtype)
    if not x2.is_floating_point():
        x2 = x2.to(x1.dtype)
    x1, x2 = _broadcast_pair(x1, x2)
    return ((x1 / _clamped_norm(x1, dim, eps)) * (x2 / _clamped_norm(x2, dim, eps))).sum(dim)


def _vector_norm(x, p, dim, keepdim):
    if p == 0:
        # The count of nonzeros; the second term keeps the graph (PyTorch's gradient is zero).
        return (x != 0).to(x.dtype).sum(dim, keepdim) + x.abs().clamp_max(0.0).sum(dim, keepdim)
    if p == -math.inf:
        return x.abs().min(dim, keepdim).values
    return x.norm(p, dim, keepdim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last dim."""
    dim = max(x1.dim(), x2.dim()) - 1
    return _vector_norm(x1 - x2 + eps, p, dim, keepdim)


# ----- shapes -------------------------------------------------------------------------------------

def flatten(input, start_dim=0, end_dim=-1):
    return input.flatten(start_dim, end_dim)


def one_hot(tensor, num_classes=-1):
    """Class indices (int64) to one-hot rows of ``num_classes`` (inferred as max + 1 when -1)."""
    if not isinstance(tensor, Tensor) or tensor.dtype != _C.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        if tensor.numel() == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(tensor.max().item()) + 1
    elif num_classes < -1:
        raise RuntimeError("num_classes should be positive")
    if tensor.numel() > 0:
        if int(tensor.min().item()) < 0:
            raise RuntimeError("Class values must be non-negative.")
        if int(tensor.max().item()) >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
    classes = _C.arange(num_classes, device=tensor.device)
    return (tensor.unsqueeze(-1) == classes).long()


def pad(input, pad, mode="constant", value=None):
    """Pads the last ``len(pad) // 2`` dims; ``pad`` is (left, right) for the last dim first.

    Negative padding crops. Modes: 'constant' (with ``value``), 'reflect', 'replicate', 'circular'.
    """
    pad = [int(p) for p in pad]
    if len(pad) % 2 != 0:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.dim():
        raise RuntimeError("Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(pad)} and input of dimension {input.dim()}")
    if mode == "constant":
        return _pad_constant(input, pad, 0.0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument.')
    return _pad_indexed(input, pad, mode)


def _pad_constant(input, pad, value):
    ndim = input.dim()
    shape = list(input.shape)
    # Negative padding crops first (a view), then what is left is placed into a filled tensor.
    cropped = input
    out_shape = list(shape)
    for i in range(len(pad) // 2):
        d = ndim - 1 - i
        left, right = pad[2 * i], pad[2 * i + 1]
        new = shape[d] + left + right
        if new < 0:
            raise RuntimeError(f"The input size {shape[d]}, plus negative padding {left} and {right} resulted in a "
                               f"negative output size, which is invalid. Check dimension {d} of your input.")
        out_shape[d] = new
        start = max(-left, 0)
        stop = shape[d] - max(-right, 0)
        cropped = cropped.narrow(d, start, max(stop - start, 0))
    out = _C.full(out_shape, value, dtype=input.dtype, device=input.device)
    index = [slice(None)] * ndim
    for i in range(len(pad) // 2):
        d = ndim - 1 - i
        start = max(pad[2 * i], 0)
        index[d] = slice(start, start + cropped.shape[d])
    if cropped.numel() > 0:
        out[tuple(index)] = cropped
    return out


def _pad_indexed(input, pad, mode):
    """Reflect/replicate/circular padding as an index_select per padded dim (differentiable)."""
    out = input
    ndim = input.dim()
    for i in range(len(pad) // 2):
        d = ndim - 1 - i
        left, right = pad[2 * i], pad[2 * i + 1]
        n = out.shape[d]
        if mode == "reflect" and (left >= n or right >= n):
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding input dimension, "
                               f"but got: padding ({left}, {right}) at dimension {d} of input {list(input.shape)}")
        if mode == "circular" and (left > n or right > n):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        idx = []
        for j in range(-left, n + right):
            if mode == "replicate":
                idx.append(min(max(j, 0), n - 1))
            elif mode == "reflect":
                k = j
                if k < 0:
                    k = -k
                if k >= n:
                    k = 2 * (n - 1) - k
                idx.append(k)
            else:
                idx.append(j % n)
        out = out.index_select(d, _C.tensor(idx, dtype=_C.int64, device=input.device))
    return out


# ----- losses -------------------------------------------------------------------------------------

def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Cross-entropy between logits and class indices (int64) or class probabilities, in one fused
    log-softmax + NLL op."""
    reduction = _reduction(reduction, size_average, reduce)
    return _C.cross_entropy(input, target, weight, int(ignore_index), reduction, float(label_smoothing))


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    reduction = _reduction(reduction, size_average, reduce)
    return _C.nll_loss(input, target, weight, int(ignore_index), reduction)


def _size_warning(input, target):
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({target.size()}) that is different to the input size ({input.size()}). "
                      "This will likely lead to incorrect results due to broadcasting. Please ensure they have the "
                      "same size.", stacklevel=3)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean squared error (broadcasting with a warning when the shapes differ, as PyTorch)."""
    _size_warning(input, target)
    reduction = _reduction(reduction, size_average, reduce)
    input, target = _broadcast_pair(input, target)
    return _C.mse_loss(input, target, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    _size_warning(input, target)
    reduction = _reduction(reduction, size_average, reduce)
    input, target = _broadcast_pair(input, target)
    return _C.l1_loss(input, target, reduction)


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


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
        _require_floating(input, "smooth_l1")
    d = (input - target).abs()
    return _reduce(_C.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta), reduction)


def _huber(input, target, delta):
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    if not input.is_floating_point() and not target.is_floating_point():
        _require_floating(input, "huber")
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


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """BCE between probabilities ``input`` and ``target`` of the same shape."""
    reduction = _reduction(reduction, size_average, reduce)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({target.size()}) that is different to the input size "
                         f"({input.size()}) is deprecated. Please ensure they have the same size.")
    if weight is not None:
        shape = _broadcast_shape(target.shape, weight.shape)
        weight = weight.expand(*shape)
    return _C.binary_cross_entropy(input, target, weight, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    """Sigmoid + BCE in one numerically stable op."""
    reduction = _reduction(reduction, size_average, reduce)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.size()}) must be the same as input size ({input.size()})")
    return _C.binary_cross_entropy_with_logits(input, target, weight, pos_weight, reduction)



# ----- attention ----------------------------------------------------------------------------------

# The names PyTorch's C++ checks give dtypes in their messages.
_C_DTYPE_NAMES = {"float32": "float", "float64": "double", "int64": "long int", "bool": "bool"}


def _c_dtype_name(dtype):
    name = repr(dtype).split(".")[-1]
    return _C_DTYPE_NAMES.get(name, name)


def _safe_softmax(x, dim):
    """Softmax along ``dim`` that gives 0 (not NaN) on rows that are all -inf, as PyTorch's
    ``_safe_softmax``; those rows also pass a zero (not NaN) gradient back."""
    masked_rows = (x == float("-inf")).all(dim, keepdim=True)
    out = _C.where(masked_rows, 0.0, x).softmax(dim)
    return _C.where(masked_rows, 0.0, out)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """``softmax(query @ key^T * scale + mask) @ value`` over the last two dims (PyTorch's math backend).

    ``attn_mask`` is boolean (True: the pair takes part) or floating (added to the scores); ``is_causal``
    masks with a top-left lower triangle; ``scale`` defaults to ``1 / sqrt(query.size(-1))``; with
    ``enable_gqa`` the key and value heads (dim -3) are repeated to match the query's. Rows that
    attend to nothing give 0.
    """
    if query.dtype != key.dtype or query.dtype != value.dtype:
        raise RuntimeError("Expected query, key, and value to have the same dtype, but got query.dtype: "
                           f"{_c_dtype_name(query.dtype)} key.dtype: {_c_dtype_name(key.dtype)} and value.dtype: "
                           f"{_c_dtype_name(value.dtype)} instead.")
    if query.device.type != key.device.type or query.device.type != value.device.type:
        raise RuntimeError("Expected query, key, and value to have the same device type, but got query.device: "
                           f"{query.device} key.device: {key.device} and value.device: {value.device} instead.")
    if query.dim() < 2 or key.dim() < 2 or value.dim() < 2:
        raise RuntimeError("Expected query, key, and value to all be  at least 2 dimensional, but got query.dim: "
                           f"{query.dim()} key.dim: {key.dim()} and value.dim: {value.dim()} instead.")
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True")
    if attn_mask is not None and attn_mask.dtype not in (_C.bool, _C.float32, query.dtype):
        raise RuntimeError("Expected attn_mask dtype to be bool or float or to match query dtype, but got "
                           f"attn_mask.dtype: {_c_dtype_name(attn_mask.dtype)} and  query.dtype: "
                           f"{_c_dtype_name(query.dtype)} instead.")
    if enable_gqa:
        q_heads, k_heads, v_heads = query.size(-3), key.size(-3), value.size(-3)
        if q_heads % k_heads != 0 or q_heads % v_heads != 0:
            raise RuntimeError("Number of heads in key and value must divide the number of heads in query")
        key = _repeat_heads(key, q_heads // k_heads)
        value = _repeat_heads(value, q_heads // v_heads)
    if dropout_p < 0.0 or dropout_p > 1.0:
        raise RuntimeError(f"dropout probability has to be between 0 and 1, but got {dropout_p}")

    # As PyTorch's math backend: both operands scaled by sqrt(scale) (the sign goes on the query).
    if scale is None:
        scale = 1.0 / math.sqrt(query.size(-1))
    root = math.sqrt(abs(scale))
    attn = (query * (-root if scale < 0 else root)) @ (key.transpose(-2, -1) * root)
    if is_causal:
        causal = _C.ones((query.size(-2), key.size(-2)), dtype=_C.bool, device=query.device).tril()
        attn = attn.masked_fill(causal.logical_not(), float("-inf"))
    elif attn_mask is not None:
        if attn_mask.dtype == _C.bool:
            attn = attn.masked_fill(attn_mask.logical_not(), float("-inf"))
        else:
            attn = attn + attn_mask.to(attn.dtype)
    attn = _safe_softmax(attn, -1)
    if dropout_p > 0.0:
        attn = dropout(attn, dropout_p)
    return attn @ value


def _repeat_heads(x, repeats):
    """``x.repeat_interleave(repeats, dim=-3)``."""
    if repeats == 1:
        return x
    shape = tuple(x.shape)
    expanded = x.unsqueeze(-3).expand(*shape[:-2], repeats, *shape[-2:])
    return expanded.reshape(*shape[:-3], shape[-3] * repeats, *shape[-2:])


def _none_or_dtype(input):
    if input is None:
        return None
    if isinstance(input, Tensor):
        return input.dtype
    raise RuntimeError("input to _none_or_dtype() must be None or torch.Tensor")


def _canonical_mask(mask, mask_name, other_type, other_name, target_type, check_other=True):
    """A boolean mask (True: masked out) as a float mask of 0 and -inf in ``target_type``."""
    if mask is not None:
        mask_is_float = mask.is_floating_point()
        if mask.dtype != _C.bool and not mask_is_float:
            raise AssertionError(f"only bool and floating types of {mask_name} are supported")
        if check_other and other_type is not None and mask.dtype != other_type:
            warnings.warn(f"Support for mismatched {mask_name} and {other_name} is deprecated. Use same type for "
                          "both instead.", stacklevel=2)
        if not mask_is_float:
            mask = _C.zeros(tuple(mask.shape), dtype=target_type, device=mask.device).masked_fill(
                mask, float("-inf"))
    return mask


def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads):
    """Checks the ranks of the inputs and masks; True when the input is batched (3-D)."""
    if query.dim() == 3:
        if key.dim() != 3 or value.dim() != 3:
            raise AssertionError("For batched (3-D) `query`, expected `key` and `value` to be 3-D but found "
                                 f"{key.dim()}-D and {value.dim()}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.dim() != 2:
            raise AssertionError("For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D but "
                                 f"found {key_padding_mask.dim()}-D tensor instead")
        if attn_mask is not None and attn_mask.dim() not in (2, 3):
            raise AssertionError("For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but "
                                 f"found {attn_mask.dim()}-D tensor instead")
        return True
    if query.dim() == 2:
        if key.dim() != 2 or value.dim() != 2:
            raise AssertionError("For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but found "
                                 f"{key.dim()}-D and {value.dim()}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.dim() != 1:
            raise AssertionError("For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` or 1-D but "
                                 f"found {key_padding_mask.dim()}-D tensor instead")
        if attn_mask is not None:
            if attn_mask.dim() not in (2, 3):
                raise AssertionError("For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D "
                                     f"but found {attn_mask.dim()}-D tensor instead")
            if attn_mask.dim() == 3:
                expected_shape = (num_heads, query.shape[0], key.shape[0])
                if tuple(attn_mask.shape) != expected_shape:
                    raise AssertionError(f"Expected `attn_mask` shape to be {expected_shape} but got "
                                         f"{attn_mask.shape}")
        return False
    raise AssertionError(f"query should be unbatched 2D or batched 3D tensor but received {query.dim()}-D query "
                         "tensor")


def _in_projection_packed(q, k, v, w, b=None):
    """q, k, v through the packed (3E, E) projection ``w`` (rows in q, k, v order)."""
    E = q.size(-1)
    if k is v and q is k:
        proj = linear(q, w, b)
        return proj.chunk(3, -1)
    if k is v:
        # Encoder-decoder attention: key and value share one projection.
        w_q, w_kv = w.split([E, E * 2])
        b_q, b_kv = (None, None) if b is None else b.split([E, E * 2])
        k_proj, v_proj = linear(k, w_kv, b_kv).chunk(2, -1)
        return linear(q, w_q, b_q), k_proj, v_proj
    w_q, w_k, w_v = w.chunk(3)
    b_q, b_k, b_v = (None, None, None) if b is None else b.chunk(3)
    return linear(q, w_q, b_q), linear(k, w_k, b_k), linear(v, w_v, b_v)


def _in_projection(q, k, v, w_q, w_k, w_v, b_q=None, b_k=None, b_v=None):
    """q, k, v through their own projections (``kdim``/``vdim`` other than ``embed_dim``)."""
    Eq, Ek, Ev = q.size(-1), k.size(-1), v.size(-1)
    for name, w, shape in (("query", w_q, (Eq, Eq)), ("key", w_k, (Eq, Ek)), ("value", w_v, (Eq, Ev))):
        if tuple(w.shape) != shape:
            raise AssertionError(f"expecting {name} weights shape of {shape}, but got {w.shape}")
    for name, bias in (("query", b_q), ("key", b_k), ("value", b_v)):
        if bias is not None and tuple(bias.shape) != (Eq,):
            raise AssertionError(f"expecting {name} bias shape of {(Eq,)}, but got {bias.shape}")
    return linear(q, w_q, b_q), linear(k, w_k, b_k), linear(v, w_v, b_v)


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """The forward of ``nn.MultiheadAttention`` (sequence-first: (L, N, E) or unbatched (L, E)).

    Returns ``(output, weights)``; weights are None unless ``need_weights``, averaged over the heads
    unless ``average_attn_weights`` is False.
    """
    is_batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:
        query = query.unsqueeze(1)
        key = key.unsqueeze(1)
        value = value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)

    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]

    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", _none_or_dtype(attn_mask),
                                       "attn_mask", query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                           "method `generate_square_subsequent_mask` to create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        # The hint alone drives scaled_dot_product_attention.
        attn_mask = None
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype, check_other=False)
        if key_padding_mask is not None:
            # The merged mask is no longer causal.
            is_causal = False

    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if key.shape[:2] != value.shape[:2]:
            raise AssertionError(f"key's sequence and batch dims {key.shape[:2]} do not match value's "
                                 f"{value.shape[:2]}")
    elif key.shape != value.shape:
        raise AssertionError(f"key shape {key.shape} does not match value shape {value.shape}")

    if not use_separate_proj_weight:
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        q, k, v = _in_projection_packed(query, key, value, in_proj_weight, in_proj_bias)
    else:
        for name, w in (("q", q_proj_weight), ("k", k_proj_weight), ("v", v_proj_weight)):
            if w is None:
                raise AssertionError(f"use_separate_proj_weight is True but {name}_proj_weight is None")
        b_q, b_k, b_v = (None, None, None) if in_proj_bias is None else in_proj_bias.chunk(3)
        q, k, v = _in_projection(query, key, value, q_proj_weight, k_proj_weight, v_proj_weight, b_q, b_k, b_v)

    if attn_mask is not None:
        if attn_mask.dim() == 2:
            correct_2d_size = (tgt_len, src_len)
            if tuple(attn_mask.shape) != correct_2d_size:
                raise RuntimeError(f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be "
                                   f"{correct_2d_size}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.dim() == 3:
            correct_3d_size = (bsz * num_heads, tgt_len, src_len)
            if tuple(attn_mask.shape) != correct_3d_size:
                raise RuntimeError(f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be "
                                   f"{correct_3d_size}.")
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.dim()} is not supported")

    if bias_k is not None and bias_v is not None:
        if static_k is not None:
            raise AssertionError("bias cannot be added to static key.")
        if static_v is not None:
            raise AssertionError("bias cannot be added to static value.")
        k = _C.cat([k, bias_k.repeat(1, bsz, 1)])
        v = _C.cat([v, bias_v.repeat(1, bsz, 1)])
        if attn_mask is not None:
            attn_mask = pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = pad(key_padding_mask, (0, 1))
    elif bias_k is not None:
        raise AssertionError("bias_k is set but bias_v is None")
    elif bias_v is not None:
        raise AssertionError("bias_v is set but bias_k is None")

    # (B * H, L, head_dim), batch first.
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    if static_k is None:
        k = k.reshape(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    else:
        if static_k.size(0) != bsz * num_heads:
            raise AssertionError(f"expecting static_k.size(0) of {bsz * num_heads}, but got {static_k.size(0)}")
        if static_k.size(2) != head_dim:
            raise AssertionError(f"expecting static_k.size(2) of {head_dim}, but got {static_k.size(2)}")
        k = static_k
    if static_v is None:
        v = v.reshape(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    else:
        if static_v.size(0) != bsz * num_heads:
            raise AssertionError(f"expecting static_v.size(0) of {bsz * num_heads}, but got {static_v.size(0)}")
        if static_v.size(2) != head_dim:
            raise AssertionError(f"expecting static_v.size(2) of {head_dim}, but got {static_v.size(2)}")
        v = static_v

    if add_zero_attn:
        zero_attn_shape = (bsz * num_heads, 1, head_dim)
        k = _C.cat([k, _C.zeros(zero_attn_shape, dtype=k.dtype, device=k.device)], 1)
        v = _C.cat([v, _C.zeros(zero_attn_shape, dtype=v.dtype, device=v.device)], 1)
        if attn_mask is not None:
            attn_mask = pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = pad(key_padding_mask, (0, 1))

    src_len = k.size(1)

    if key_padding_mask is not None:
        if key_padding_mask.shape[0] != bsz:
            raise AssertionError(f"Expected key_padded_mask.shape[0] to be {bsz}, but got "
                                 f"{key_padding_mask.shape[0]}")
        if key_padding_mask.shape[1] != src_len:
            raise AssertionError(f"Expected key_padded_mask.shape[1] to be {src_len}, but got "
                                 f"{key_padding_mask.shape[1]}")
        key_padding_mask = (key_padding_mask.reshape(bsz, 1, 1, src_len).expand(-1, num_heads, -1, -1)
                            .reshape(bsz * num_heads, 1, src_len))
        attn_mask = key_padding_mask if attn_mask is None else attn_mask + key_padding_mask

    if not training:
        dropout_p = 0.0

    if need_weights:
        E = q.shape[-1]
        q_scaled = q * math.sqrt(1.0 / float(E))
        if is_causal and attn_mask is None:
            raise AssertionError("FIXME: is_causal not implemented for need_weights")
        if attn_mask is not None and attn_mask.dtype != q_scaled.dtype:
            # PyTorch adds the mask with baddbmm, which takes no mixed dtypes.
            raise RuntimeError(f"Input dtypes must be the same, got: input {_c_dtype_name(attn_mask.dtype)}, batch1: "
                               f"{_c_dtype_name(q_scaled.dtype)}, batch2: {_c_dtype_name(k.dtype)}")
        attn_output_weights = q_scaled @ k.transpose(-2, -1)
        if attn_mask is not None:
            attn_output_weights = attn_mask + attn_output_weights
        attn_output_weights = softmax(attn_output_weights, dim=-1)
        if dropout_p > 0.0:
            attn_output_weights = dropout(attn_output_weights, p=dropout_p)
        attn_output = attn_output_weights @ v
        attn_output = attn_output.transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        attn_output = linear(attn_output, out_proj_weight, out_proj_bias)
        attn_output = attn_output.reshape(tgt_len, bsz, attn_output.size(1))
        attn_output_weights = attn_output_weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            attn_output_weights = attn_output_weights.mean(dim=1)
        if not is_batched:
            attn_output = attn_output.squeeze(1)
            attn_output_weights = attn_output_weights.squeeze(0)
        return attn_output, attn_output_weights

    if attn_mask is not None:
        if attn_mask.size(0) == 1 and attn_mask.dim() == 3:
            attn_mask = attn_mask.unsqueeze(0)
        else:
            attn_mask = attn_mask.reshape(bsz, num_heads, -1, src_len)
    q = q.reshape(bsz, num_heads, tgt_len, head_dim)
    k = k.reshape(bsz, num_heads, src_len, head_dim)
    v = v.reshape(bsz, num_heads, src_len, head_dim)
    attn_output = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    attn_output = attn_output.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    attn_output = linear(attn_output, out_proj_weight, out_proj_bias)
    attn_output = attn_output.reshape(tgt_len, bsz, attn_output.size(1))
    if not is_batched:
        attn_output = attn_output.squeeze(1)
    return attn_output, None


# ----- margin and likelihood losses (compositions) ------------------------------------------------

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
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    a_dim, p_dim, n_dim = anchor.dim(), positive.dim(), negative.dim()
    if not (a_dim == p_dim and p_dim == n_dim):
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the same number of "
                           f"dimensions, but got: anchor {a_dim}D, positive {p_dim}D, and negative {n_dim}D inputs")
    dist_pos = pairwise_distance(anchor, positive, p, eps)
    dist_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        dist_neg = _C.Tensor.minimum(dist_neg, pairwise_distance(positive, negative, p, eps))
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
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
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
        raise RuntimeError(f"expected scalar type Long but found {_dtype_name(target.dtype)}")
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


# ----- adaptive max pooling, unfold/fold (compositions) -------------------------------------------

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
        raise NotImplementedError(f"\"adaptive_max_pool2d\" not implemented for '{_dtype_name(input.dtype)}'")
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
        x = pad(x, (p[1], p[1], p[0], p[0]))
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


from ._grid import affine_grid, grid_sample  # noqa: E402
