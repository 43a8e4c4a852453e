"""conv3d, conv_transpose1d, conv_transpose3d and conv_tbc, composed from the 2-D ops: a 3-D kernel
is a sum over its depth taps of 2-D convolutions of depth slices (the slices batched into one call
per tap). Re-exported by ``nn.functional``."""

from .. import _C
from . import functional as F
from .modules.utils import _single, _triple


def _sizes(t):
    return " x ".join(str(s) for s in t)


def _check_conv3d(input, weight, bias, groups):
    if input.dim() not in (4, 5):
        raise RuntimeError("Expected 4D (unbatched) or 5D (batched) input to conv3d, but got input of size: "
                           f"{list(input.shape)}")
    if weight.dim() != 5:
        raise RuntimeError(f"Expected {weight.dim()}-dimensional input for {weight.dim()}-dimensional weight "
                           f"{list(weight.shape)}, but got {input.dim()}-dimensional input of size {list(input.shape)} "
                           "instead")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    channels = input.shape[-4]
    if channels != weight.shape[1] * groups:
        batched = list(input.shape) if input.dim() == 5 else [1] + list(input.shape)
        raise RuntimeError(f"Given groups={groups}, weight of size {list(weight.shape)}, expected input{batched} to "
                           f"have {weight.shape[1] * groups} channels, but got {channels} channels instead")
    if bias is not None and (bias.dim() != 1 or bias.numel() != weight.shape[0]):
        raise RuntimeError(f"Given weight of size {list(weight.shape)}, expected bias to be 1-dimensional with "
                           f"{weight.shape[0]} elements, but got bias of size {list(bias.shape)} instead")


def _same_padding(kernel, dilation):
    """F.pad's (left, right) list for 'same' padding of the last three dims (extra on the right)."""
    pads = []
    for k, d in zip(reversed(kernel), reversed(dilation)):
        total = d * (k - 1)
        pads += [total // 2, total - total // 2]
    return pads


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution (cross-correlation) over (N, C, D, H, W) or unbatched (C, D, H, W) input."""
    groups = int(groups)
    _check_conv3d(input, weight, bias, groups)
    stride, dilation = _triple(stride), _triple(dilation)
    kernel = tuple(weight.shape[2:])
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if padding == "same" and any(s != 1 for s in stride):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        pads = _same_padding(kernel, dilation) if padding == "same" else [0] * 6
    else:
        p = _triple(padding)
        if any(v < 0 for v in p):
            raise RuntimeError("negative padding is not supported")
        pads = [p[2], p[2], p[1], p[1], p[0], p[0]]
    batched = input.dim() == 5
    x = input if batched else input.unsqueeze(0)
    if any(pads):
        x = F.pad(x, pads)
    n, c, depth, h, w = x.shape
    reach = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    if any(size < r for size, r in zip((depth, h, w), reach)):
        raise RuntimeError(f"Calculated padded input size per channel: ({_sizes((depth, h, w))}). Kernel size: "
                           f"({_sizes(reach)}). Kernel size can't be greater than actual input size")
    out_depth = (depth - reach[0]) // stride[0] + 1
    total = None
    for tap in range(kernel[0]):
        rows = [o * stride[0] + tap * dilation[0] for o in range(out_depth)]
        slices = x.index_select(2, _C.tensor(rows, dtype=_C.int64, device=x.device))
        planes = slices.transpose(1, 2).reshape(n * out_depth, c, h, w)
        y = _C.conv2d(planes, weight[:, :, tap], None, stride[1:], (0, 0), dilation[1:], groups)
        total = y if total is None else total + y
    out = total.reshape(n, out_depth, *total.shape[1:]).transpose(1, 2)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1, 1)
    return out if batched else out.squeeze(0)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-D transposed convolution over (N, C, L) or (C, L) input (the 2-D op on a unit height)."""
    if input.dim() not in (2, 3):
        raise RuntimeError("Expected 2D (unbatched) or 3D (batched) input to conv_transpose1d, but got input of "
                           f"size: {list(input.shape)}")
    if weight.dim() != 3:
        raise RuntimeError(f"Expected {weight.dim()}-dimensional input for {weight.dim()}-dimensional weight "
                           f"{list(weight.shape)}, but got {input.dim()}-dimensional input of size {list(input.shape)} "
                           "instead")
    batched = input.dim() == 3
    x = input if batched else input.unsqueeze(0)
    (s,), (p,), (op,), (d,) = _single(stride), _single(padding), _single(output_padding), _single(dilation)
    out = _C.conv_transpose2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1, s), (0, p), (0, op), int(groups), (1, d))
    out = out.squeeze(2)
    return out if batched else out.squeeze(0)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """3-D transposed convolution over (N, C, D, H, W) or (C, D, H, W) input: each depth tap is a
    2-D transposed convolution of every input slice, added at depth i * stride + tap * dilation."""
    if input.dim() not in (4, 5):
        raise RuntimeError("Expected 4D (unbatched) or 5D (batched) input to conv_transpose3d, but got input of "
                           f"size: {list(input.shape)}")
    if weight.dim() != 5:
        raise RuntimeError(f"Expected {weight.dim()}-dimensional input for {weight.dim()}-dimensional weight "
                           f"{list(weight.shape)}, but got {input.dim()}-dimensional input of size {list(input.shape)} "
                           "instead")
    stride, padding, dilation = _triple(stride), _triple(padding), _triple(dilation)
    output_padding = _triple(output_padding)
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
        (opd, oph, opw), (sd, sh, sw), (dd, dh, dw) = output_padding, stride, dilation
        raise RuntimeError("output padding must be smaller than either stride or dilation, but got "
                           f"output_padding_depth: {opd} output_padding_height: {oph} output_padding_width: {opw} "
                           f"stride_depth: {sd} stride_height: {sh} stride_width: {sw} dilation_depth: {dd} "
                           f"dilation_height: {dh} dilation_width: {dw}")
    batched = input.dim() == 5
    x = input if batched else input.unsqueeze(0)
    n, c, depth, h, w = x.shape
    if c != weight.shape[0]:
        raise RuntimeError(f"Given transposed=1, weight of size {list(weight.shape)}, expected input{list(x.shape)} to "
                           f"have {weight.shape[0]} channels, but got {c} channels instead")
    kd = weight.shape[2]
    out_depth = (depth - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kd - 1) + 1 + output_padding[0]
    if out_depth <= 0:
        raise RuntimeError(f"Given input size per channel: ({_sizes((depth, h, w))}). Calculated output size per "
                           f"channel: ({out_depth} x ...). Output size is too small")
    planes = x.transpose(1, 2).reshape(n * depth, c, h, w)
    full_depth = out_depth + 2 * padding[0]
    acc = None
    for tap in range(kd):
        y = _C.conv_transpose2d(planes, weight[:, :, tap], None, stride[1:], padding[1:], output_padding[1:],
                                int(groups), dilation[1:])
        y = y.reshape(n, depth, *y.shape[1:])
        if acc is None:
            acc = _C.zeros((n, full_depth, *y.shape[2:]), dtype=y.dtype, device=y.device)
        rows = [i * stride[0] + tap * dilation[0] for i in range(depth)]
        acc = acc.index_add(1, _C.tensor(rows, dtype=_C.int64, device=y.device), y)
    out = acc.narrow(1, padding[0], out_depth).transpose(1, 2)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1, 1)
    return out if batched else out.squeeze(0)


def conv_tbc(input, weight, bias, pad=0):
    """1-D convolution of time-batch-channel input (T, B, C_in) with a (K, C_in, C_out) weight and
    (C_out,) bias, zero-padded by ``pad`` on both ends of time: conv1d on permuted views."""
    if input.dim() != 3:
        raise RuntimeError("Input must have 3 dims: time, batch, in_channel")
    if weight.dim() != 3:
        raise RuntimeError("Weight tensor must have 3 dims: kernel_width, in_channels, out_channels.")
    if bias.dim() != 1:
        raise RuntimeError("Bias must be 1-D")
    if input.shape[2] != weight.shape[1]:
        raise RuntimeError("Input dim 2 (input channels) is not == dim 1 in the weight tensor")
    if weight.shape[2] != bias.shape[0]:
        raise RuntimeError("Bias size must equal dim 2 in the weight tensor (output channels).")
    out = F.conv1d(input.permute(1, 2, 0), weight.permute(2, 1, 0), bias, 1, int(pad))
    return out.permute(2, 0, 1)
