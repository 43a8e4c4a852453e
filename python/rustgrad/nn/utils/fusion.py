"""``nn.utils.fuse_conv_bn_eval`` / ``fuse_linear_bn_eval`` and their weight versions: fold an eval-mode
BatchNorm into the preceding convolution or linear layer (``y = gamma * (Wx + b - mean) / sqrt(var + eps) +
beta`` becomes one layer)."""

import copy

from ... import _C
from ..parameter import Parameter

__all__ = ["fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights"]


def _bn_affine(bn_rm, bn_w, bn_b):
    ones = _C.ones(bn_rm.shape, dtype=bn_rm.dtype, device=bn_rm.device)
    zeros = _C.zeros(bn_rm.shape, dtype=bn_rm.dtype, device=bn_rm.device)
    return (ones if bn_w is None else bn_w), (zeros if bn_b is None else bn_b), zeros


def fuse_conv_bn_weights(conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b, transpose=False):
    """The fused (weight, bias) Parameters of a convolution followed by an eval-mode BatchNorm."""
    weight_dtype = conv_w.dtype
    bias_dtype = conv_b.dtype if conv_b is not None else weight_dtype
    bn_w, bn_b, zeros = _bn_affine(bn_rm, bn_w, bn_b)
    if conv_b is None:
        conv_b = zeros
    scale = bn_w * (bn_rv + bn_eps).rsqrt()
    # The output channels are dim 0 of a convolution's weight, dim 1 of a transposed one's.
    shape = [1, -1] if transpose else [-1, 1]
    shape += [1] * (conv_w.dim() - 2)
    fused_w = (conv_w * scale.reshape(shape)).to(dtype=weight_dtype)
    fused_b = ((conv_b - bn_rm) * scale + bn_b).to(dtype=bias_dtype)
    return Parameter(fused_w, conv_w.requires_grad), Parameter(fused_b, conv_b.requires_grad)


def fuse_conv_bn_eval(conv, bn, transpose=False):
    """A copy of the eval-mode ``conv`` with the eval-mode BatchNorm ``bn`` folded in."""
    assert not (conv.training or bn.training), "Fusion only for eval!"
    fused = copy.deepcopy(conv)
    assert bn.running_mean is not None and bn.running_var is not None
    fused.weight, fused.bias = fuse_conv_bn_weights(fused.weight, fused.bias, bn.running_mean, bn.running_var,
                                                    bn.eps, bn.weight, bn.bias, transpose)
    return fused


def fuse_linear_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b):
    """The fused (weight, bias) Parameters of a linear layer followed by an eval-mode BatchNorm."""
    bn_w, bn_b, zeros = _bn_affine(bn_rm, bn_w, bn_b)
    if linear_b is None:
        linear_b = zeros
    scale = bn_w * (bn_rv + bn_eps).rsqrt()
    fused_w = linear_w * scale.unsqueeze(-1)
    fused_b = (linear_b - bn_rm) * scale + bn_b
    return Parameter(fused_w, linear_w.requires_grad), Parameter(fused_b, linear_b.requires_grad)


def fuse_linear_bn_eval(linear, bn):
    """A copy of the eval-mode ``linear`` with the eval-mode BatchNorm ``bn`` folded in."""
    assert not (linear.training or bn.training), "Fusion only for eval!"
    assert linear.out_features == bn.num_features or bn.num_features == 1, (
        "To fuse, linear.out_features == bn.num_features or bn.num_features == 1, got "
        f"linear.out_features={linear.out_features} and bn.num_features={bn.num_features}")
    assert bn.running_mean is not None and bn.running_var is not None
    fused = copy.deepcopy(linear)
    fused.weight, fused.bias = fuse_linear_bn_weights(fused.weight, fused.bias, bn.running_mean, bn.running_var,
                                                      bn.eps, bn.weight, bn.bias)
    return fused
