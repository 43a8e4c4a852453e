"""``rustgrad.nn.functional``: the stateless neural-network ops, as ``torch.nn.functional``.

This module is the public namespace. The functions defined here normalise their arguments the way
PyTorch's do (ints to pairs, defaults, reduction strings including the legacy
``size_average``/``reduce`` flags) and call one Rust op in ``rustgrad._C`` (the fused kernels and
their backward rules live there), or compose a few tensor ops. The larger compositions live by
topic and are re-exported at the end: ``_attention`` (scaled_dot_product_attention,
multi_head_attention_forward), ``_losses`` (the losses written in Python), ``_windows`` (conv1d,
the 1-D pools, adaptive max pooling, unfold/fold) and ``_grid`` (affine_grid, grid_sample).
"""

import math
import warnings

from .. import _C
from .._arg_check import check_bool as _check_bool, check_tensor as _check_tensor
from .._dtype_names import legacy_type_name as _legacy_type_name
from .._dtype_names import require_floating as _require_floating
from .._dtype_names import scalar_name as _scalar_name
from ._reduction import _broadcast_pair, _broadcast_shape, _legacy_reduction, _reduction, _size_warning  # noqa: F401
from .modules.utils import _list_with_default, _pair, _single  # noqa: F401
from ._embedding_options import renorm_rows_, scale_grad_by_freq as _scale_grad_by_freq

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
# issue-16 nn coverage: the functions composed in the topic files imported at the end
__all__ += [
    "celu", "celu_", "selu_", "hardshrink", "softshrink", "rrelu", "rrelu_", "gumbel_softmax",
    "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
    "conv3d", "conv_transpose1d", "conv_transpose3d", "conv_tbc",
    "max_pool3d", "max_pool3d_with_indices", "avg_pool3d", "adaptive_avg_pool3d", "adaptive_max_pool3d",
    "adaptive_max_pool3d_with_indices", "lp_pool1d", "lp_pool2d", "lp_pool3d", "max_unpool1d", "max_unpool2d",
    "max_unpool3d", "fractional_max_pool2d", "fractional_max_pool2d_with_indices", "fractional_max_pool3d",
    "fractional_max_pool3d_with_indices", "rms_norm", "local_response_norm", "bilinear", "pdist",
    "channel_shuffle", "native_channel_shuffle", "upsample_nearest", "upsample_bilinear",
    "multilabel_margin_loss", "triplet_margin_with_distance_loss", "embedding_bag", "ctc_loss",
    "linear_cross_entropy", "assert_int_or_pair", "boolean_dispatch",
]


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalises over the trailing ``normalized_shape`` dims, then ``* weight + bias``."""
    if not isinstance(normalized_shape, (tuple, list)) or not all(
            isinstance(d, int) and not isinstance(d, bool) for d in normalized_shape):
        raise TypeError("layer_norm(): argument 'normalized_shape' (position 2) must be tuple of ints, not "
                        f"{type(normalized_shape).__name__}")
    return _C.layer_norm(input, list(normalized_shape), weight, bias, float(eps))


# ----- embeddings ---------------------------------------------------------------------------------

def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Rows of ``weight`` picked by the int64 ``input``; the row ``padding_idx`` gets no gradient."""
    if weight.dim() != 2:
        raise RuntimeError("'weight' must be 2-D")
    if not isinstance(input, Tensor):
        raise TypeError(f"embedding(): argument 'indices' (position 2) must be Tensor, not {type(input).__name__}")
    if input.dtype != _C.int64:
        kind = _legacy_type_name(input.dtype)
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got torch.{kind} instead (while checking arguments for embedding)")
    num = weight.size(0)
    if padding_idx is not None:
        if padding_idx > 0:
            assert padding_idx < num, "Padding_idx must be within num_embeddings"
        elif padding_idx < 0:
            assert padding_idx >= -num, "Padding_idx must be within num_embeddings"
            padding_idx = num + padding_idx
    if sparse:
        raise NotImplementedError("embedding: sparse gradients are not supported (sparse=True)")
    # index_select counts negative positions from the end; embedding refuses them (checked on the
    # host only, where it costs no device round trip).
    if not input.is_cuda and input.numel() and int(input.min()) < 0:
        raise IndexError("index out of range in self")
    if max_norm is not None:
        renorm_rows_(weight, input, float(max_norm), float(norm_type))
    out = weight.index_select(0, input.reshape(-1)).reshape(*input.shape, weight.size(1))
    if scale_grad_by_freq:
        out = _scale_grad_by_freq(out, input)
    if padding_idx is not None and out.requires_grad:
        # The padding row's uses pass no gradient back to it (as PyTorch's embedding_backward).
        out = _C.where((input == padding_idx).unsqueeze(-1), out.detach(), out)
    return out


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
        raise RuntimeError(f"prelu: Type promoting not supported. Got {_scalar_name(input.dtype)} and "
                           f"{_scalar_name(weight.dtype)}")
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


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) over (N, C, H, W) or unbatched (C, H, W) input; ``padding``
    is an int, a pair, ``'same'`` or ``'valid'`` (the op checks the arguments)."""
    padding = padding if isinstance(padding, str) else _pair(padding)
    return _C.conv2d(input, weight, bias, _pair(stride), padding, _pair(dilation), int(groups))


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution: the gradient of conv2d with respect to its input, as an op."""
    return _C.conv_transpose2d(input, weight, bias, _pair(stride), _pair(padding), _pair(output_padding),
                               int(groups), _pair(dilation))


# ----- pooling ------------------------------------------------------------------------------------

def _pool_stride(stride, kernel_size):
    if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0):
        return _pair(kernel_size)
    return _pair(stride)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return _C.max_pool2d(input, _pair(kernel_size), _pool_stride(stride, kernel_size), _pair(padding),
                         _pair(dilation), _check_bool(ceil_mode, "max_pool2d_with_indices", "ceil_mode", 6), True)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max pooling; ``stride`` defaults to ``kernel_size``; with ``return_indices`` also the argmax
    positions (flat within each H*W plane)."""
    return _C.max_pool2d(input, _pair(kernel_size), _pool_stride(stride, kernel_size), _pair(padding),
                         _pair(dilation), _check_bool(ceil_mode, "max_pool2d", "ceil_mode", 6), bool(return_indices))


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _C.avg_pool2d(input, _pair(kernel_size), _pool_stride(stride, kernel_size), _pair(padding),
                         _check_bool(ceil_mode, "avg_pool2d", "ceil_mode"),
                         _check_bool(count_include_pad, "avg_pool2d", "count_include_pad"), divisor_override)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size; None entries keep the input's size."""
    size = _list_with_default(output_size, input.size())
    return _C.adaptive_avg_pool2d(input, _pair(size))


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
    out = _C.dropout(input, float(p), _check_bool(training, "dropout", "train", 3))
    return _inplace_result(input, out) if inplace and training else out


def _verify_batch_size(size):
    size_prods = size[0]
    for i in range(len(size) - 2):
        size_prods *= size[i + 2]
    if size_prods == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {size}")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalisation over dim 1; updates ``running_mean``/``running_var`` in place when training."""
    training = _check_bool(training, "batch_norm", "training", 6)
    if training:
        _verify_batch_size(input.size())
    return _C.batch_norm(input, running_mean, running_var, weight, bias, training, float(momentum), float(eps))


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
    _check_tensor(weight, "group_norm", "weight", 3)
    _check_tensor(bias, "group_norm", "bias", 4)
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
    for position, (name, value) in enumerate((("weight", weight), ("bias", bias), ("running_mean", running_mean),
                                              ("running_var", running_var)), start=2):
        _check_tensor(value, "instance_norm", name, position)
    use_input_stats = _check_bool(use_input_stats, "instance_norm", "use_input_stats", 6)
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
    # issue-16 nn coverage: the padded-dims / input-rank combinations PyTorch supports
    if len(pad) // 2 not in (1, 2, 3) or input.dim() not in (len(pad) // 2 + 1, len(pad) // 2 + 2):
        raise NotImplementedError(f"Padding size {len(pad)} is not supported for {input.dim()}D input tensor.\n"
                                  "Supported combinations for non-constant padding:\n"
                                  "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
                                  "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
                                  "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
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
        if mode == "circular" and (left < 0 or right < 0):
            # Negative circular padding crops first; the rest wraps around what is left (as PyTorch).
            crop_left, crop_right = max(-left, 0), max(-right, 0)
            out = out.narrow(d, crop_left, out.shape[d] - crop_left - crop_right)
            left, right = max(left, 0), max(right, 0)
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


# ----- the compositions that live by topic (imported last: they use the functions above) ----------

from ._attention import (  # noqa: E402,F401
    _canonical_mask, _in_projection, _in_projection_packed, _mha_shape_check, _none_or_dtype,
    multi_head_attention_forward, scaled_dot_product_attention,
)
from ._grid import affine_grid, grid_sample  # noqa: E402
from ._losses import (  # noqa: E402
    cosine_embedding_loss, gaussian_nll_loss, hinge_embedding_loss, huber_loss, kl_div, margin_ranking_loss,
    multi_margin_loss, multilabel_soft_margin_loss, poisson_nll_loss, smooth_l1_loss, soft_margin_loss,
    triplet_margin_loss,
)
from ._windows import (  # noqa: E402
    adaptive_avg_pool1d, adaptive_max_pool1d, adaptive_max_pool1d_with_indices, adaptive_max_pool2d,
    adaptive_max_pool2d_with_indices, avg_pool1d, conv1d, fold, max_pool1d, max_pool1d_with_indices, unfold,
)
# issue-16 nn coverage
from ._activations import celu, celu_, gumbel_softmax, hardshrink, rrelu, rrelu_, selu_, softshrink  # noqa: E402
from ._convs import conv3d, conv_tbc, conv_transpose1d, conv_transpose3d  # noqa: E402
from ._ctc import ctc_loss  # noqa: E402
from ._dropout import alpha_dropout, dropout1d, dropout2d, dropout3d, feature_alpha_dropout  # noqa: E402
from ._dispatch_helpers import assert_int_or_pair, boolean_dispatch  # noqa: E402
from ._embedding_bag import embedding_bag  # noqa: E402
from ._linear_cross_entropy import linear_cross_entropy  # noqa: E402
from ._margin_losses import multilabel_margin_loss, triplet_margin_with_distance_loss  # noqa: E402
from ._norms import local_response_norm, rms_norm  # noqa: E402
from ._pairwise import bilinear, pdist  # noqa: E402
from ._pool3d import (  # noqa: E402
    adaptive_avg_pool3d, adaptive_max_pool3d, adaptive_max_pool3d_with_indices, avg_pool3d,
    fractional_max_pool2d, fractional_max_pool2d_with_indices, fractional_max_pool3d,
    fractional_max_pool3d_with_indices, lp_pool1d, lp_pool2d, lp_pool3d, max_pool3d, max_pool3d_with_indices,
    max_unpool1d, max_unpool2d, max_unpool3d,
)
from ._resample import channel_shuffle, native_channel_shuffle, upsample_bilinear, upsample_nearest  # noqa: E402
