"""Layer and group normalisation."""

import numbers

from ... import _C
from ...autograd import Function
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["LayerNorm", "GroupNorm"]


class LayerNorm(Module):
    """Normalises over the trailing ``normalized_shape`` dims, with a learnt per-element affine map."""

    __constants__ = ["normalized_shape", "eps", "elementwise_affine"]

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if self.elementwise_affine:
            self.weight = Parameter(_C.empty(*self.normalized_shape, device=device, dtype=dtype))
            if bias:
                self.bias = Parameter(_C.empty(*self.normalized_shape, device=device, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return ("{normalized_shape}, eps={eps}, elementwise_affine={elementwise_affine}, "
                "bias={use_bias}".format(**self.__dict__, use_bias=self.bias is not None))


class GroupNorm(Module):
    """Normalises (N, C, *) input over groups of ``num_channels / num_groups`` channels, with a learnt
    per-channel affine map."""

    __constants__ = ["num_groups", "num_channels", "eps", "affine"]

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        if self.affine:
            self.weight = Parameter(_C.empty(num_channels, device=device, dtype=dtype))
            if bias:
                self.bias = Parameter(_C.empty(num_channels, device=device, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input):
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return "{num_groups}, {num_channels}, eps={eps}, affine={affine}, bias={use_bias}".format(
            **self.__dict__, use_bias=self.bias is not None)


# ----- issue-16 nn coverage: RMSNorm, LocalResponseNorm, CrossMapLRN2d -----------------------------

__all__ += ["RMSNorm", "LocalResponseNorm", "CrossMapLRN2d"]


class RMSNorm(Module):
    """x / sqrt(mean(x^2) + eps) over the trailing ``normalized_shape`` dims, times a learnt weight
    (initialised to ones); ``eps`` None means the dtype's machine epsilon."""

    __constants__ = ["normalized_shape", "eps", "elementwise_affine"]

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if self.elementwise_affine:
            self.weight = Parameter(_C.empty(*self.normalized_shape, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.elementwise_affine:
            init.ones_(self.weight)

    def forward(self, x):
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return "{normalized_shape}, eps={eps}, elementwise_affine={elementwise_affine}".format(**self.__dict__)


class LocalResponseNorm(Module):
    """Normalisation of each channel by the squares of its ``size`` neighbouring channels."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return "{size}, alpha={alpha}, beta={beta}, k={k}".format(**self.__dict__)


def _cross_map_scale(input, size, alpha, k):
    """PyTorch's running-window sum, kept as it is: channel c sums the squares of channels
    0 .. c + (size - 1) // 2 less channels 1 .. c - pre_pad (channel 0 never leaves the window);
    then k + alpha / size * sum."""
    channels = input.shape[1]
    pre_pad = (size - 1) // 2 + 1
    cumulative = (input * input).cumsum(1)
    upper = [min(c + pre_pad - 1, channels - 1) for c in range(channels)]
    window = cumulative.index_select(1, _C.tensor(upper, dtype=_C.int64, device=input.device))
    if channels > pre_pad + 1:
        lower = [max(c - pre_pad, 0) for c in range(channels)]
        dropped = cumulative.index_select(1, _C.tensor(lower, dtype=_C.int64, device=input.device))
        window = window - (dropped - cumulative.narrow(1, 0, 1))
    return window * (alpha / size) + k


class _CrossMapLRN2dFunction(Function):
    """Forward as above; backward is PyTorch's (Lua Torch's) formula, which assumes a window
    centred on each channel, so the gradients are PyTorch's rather than the forward's derivative."""

    @staticmethod
    def forward(ctx, input, size, alpha, beta, k):
        scale = _cross_map_scale(input, size, alpha, k)
        output = input * scale.pow(-beta)
        ctx.save_for_backward(input, output, scale)
        ctx.settings = (size, alpha, beta)
        return output

    @staticmethod
    def backward(ctx, grad_output):
        input, output, scale = ctx.saved_tensors
        size, alpha, beta = ctx.settings
        channels = input.shape[1]
        ratio = grad_output * output / scale
        # ratio sits at offset int(size - (size - 1) / 2) of a (C + size - 1)-channel zero buffer;
        # channel c accumulates the buffer's channels c .. c + size - 1.
        front = int(size - (size - 1) / 2)
        padded = F.pad(ratio, [0, 0, 0, 0, front, size - 1 - front])
        accum = padded.narrow(1, 0, channels)
        for offset in range(1, size):
            accum = accum + padded.narrow(1, offset, channels)
        grad_input = scale.pow(-beta) * grad_output - (2 * alpha * beta / size) * input * accum
        return grad_input, None, None, None, None


class CrossMapLRN2d(Module):
    """Local response normalisation across the channels of (N, C, H, W) input (Lua Torch's form):
    x / (k + alpha / size * sum of x^2 over ``size`` channels centred on the channel)^beta."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1):
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input):
        if input.dim() != 4:
            raise ValueError(f"CrossMapLRN2d: Expected input to be 4D, got {input.dim()}D instead.")
        return _CrossMapLRN2dFunction.apply(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return "{size}, alpha={alpha}, beta={beta}, k={k}".format(**self.__dict__)
