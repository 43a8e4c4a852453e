"""rms_norm and local_response_norm, composed from reductions. Re-exported by ``nn.functional``."""

from .._type_info import finfo
from . import functional as F


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """x / sqrt(mean(x^2 over the trailing ``normalized_shape`` dims) + eps) * weight; ``eps``
    defaults to the dtype's machine epsilon, as PyTorch."""
    if isinstance(normalized_shape, int):
        normalized_shape = [normalized_shape]
    shape = [int(d) for d in normalized_shape]
    k = len(shape)
    if k == 0:
        raise RuntimeError("Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one "
                           "element, but got normalized_shape = []")
    if weight is not None and list(weight.shape) != shape:
        raise RuntimeError(f"Expected weight to be of same shape as normalized_shape, but got weight of shape "
                           f"{list(weight.shape)} and normalized_shape = {shape}")
    if input.dim() < k or list(input.shape[-k:]) != shape:
        raise RuntimeError(f"Given normalized_shape={shape}, expected input with shape [*{', '.join(map(str, shape))}]"
                           f", but got input of size{list(input.shape)}")
    if eps is None:
        eps = finfo(input.dtype).eps
    dims = list(range(-k, 0))
    out = input * (input.pow(2).mean(dims, keepdim=True) + eps).rsqrt()
    return out * weight if weight is not None else out


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """x / (k + alpha / size * sum of x^2 over ``size`` neighbouring channels)^beta (channels dim 1,
    the window zero-padded: size // 2 before, (size - 1) // 2 after)."""
    dim = input.dim()
    if dim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality                          input (got {dim} dimensions)")
    if input.numel() == 0:
        return input
    squares = F.pad(input * input, [0, 0] * (dim - 2) + [size // 2, (size - 1) // 2])
    channels = input.shape[1]
    window = squares.narrow(1, 0, channels)
    for offset in range(1, size):
        window = window + squares.narrow(1, offset, channels)
    div = (window / size).mul(alpha).add(k).pow(beta)
    return input / div
