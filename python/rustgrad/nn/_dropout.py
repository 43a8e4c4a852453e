"""The dropout variants: channel-wise (dropout1d/2d/3d), SELU-preserving alpha dropout and its
channel-wise form. Re-exported by ``nn.functional``."""

import warnings

from .. import _C
from .._arg_check import check_bool
from . import functional as F

# The negative saturation of SELU (scale * alpha), the value alpha dropout drops to.
_SELU_NEG = 1.7580993408473766


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _keep_mask(input, p, feature):
    """Bernoulli(1 - p) draws: one per element, or (feature) one per (sample, channel)."""
    if feature:
        if input.dim() < 2:
            raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
        shape = list(input.shape[:2]) + [1] * (input.dim() - 2)
    else:
        shape = list(input.shape)
    return (_C.rand(shape, dtype=input.dtype, device=input.device) >= p).to(input.dtype)


def _dropout_impl(input, p, training, inplace, feature, alpha):
    _check_p(p)
    fn = {(False, False): "dropout", (True, False): "feature_dropout", (False, True): "alpha_dropout",
          (True, True): "feature_alpha_dropout"}[feature, alpha]
    training = check_bool(training, fn, "train", 3)
    if p == 0 or not training or input.numel() == 0:
        return input
    if alpha and not input.is_floating_point():
        raise RuntimeError(f"result type Float can't be cast to the desired output type {F._scalar_name(input.dtype)}")
    if p == 1:
        out = input * _C.zeros((), dtype=input.dtype, device=input.device)
        return F._inplace_result(input, out) if inplace else out
    keep = _keep_mask(input, p, feature)
    if alpha:
        # Dropped units go to -scale*alpha of SELU; a and b restore zero mean and unit variance.
        a = 1.0 / ((_SELU_NEG * _SELU_NEG * p + 1) * (1 - p)) ** 0.5
        b = (keep - 1) * (_SELU_NEG * a) + _SELU_NEG * a * p
        out = input * (keep * a) + b
    else:
        out = input * (keep / (1 - p))
    return F._inplace_result(input, out) if inplace else out


def _feature_dropout(input, p, training, inplace):
    return _dropout_impl(input, p, training, inplace, feature=True, alpha=False)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of (N, C, L) or (C, L) input with probability ``p``."""
    _check_p(p)
    if input.dim() not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {input.dim()}D input. Note that "
                           "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial dimension, a "
                           "channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
    return _unbatched_feature_dropout(input, p, training, inplace, batched=input.dim() == 3)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of (N, C, H, W) input with probability ``p`` (a 3-D input is taken as
    (N, C, L), as PyTorch still does, with its warning)."""
    _check_p(p)
    ndim = input.dim()
    if ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {ndim}-D input to dropout2d, which is deprecated and will result in an "
                      "error in a future release. To retain the behavior and silence this warning, please use dropout "
                      "instead. Note that dropout2d exists to provide channel-wise dropout on inputs with 2 spatial "
                      "dimensions, a channel dimension, and an optional batch dimension (i.e. 3D or 4D inputs).",
                      stacklevel=2)
    if ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior "
                      "is desired - input is interpreted as shape (N, C, L), where C is the channel dim. This behavior "
                      "will change in a future release to interpret the input as one without a batch dimension, i.e. "
                      "shape (C, H, W). To maintain the 1D channel-wise dropout behavior, please switch to using "
                      "dropout1d instead.", stacklevel=2)
    return _feature_dropout(input, p, training, inplace)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W) input with probability ``p``."""
    _check_p(p)
    ndim = input.dim()
    if ndim not in (4, 5):
        warnings.warn(f"dropout3d: Received a {ndim}-D input to dropout3d, which is deprecated and will result in an "
                      "error in a future release. To retain the behavior and silence this warning, please use dropout "
                      "instead. Note that dropout3d exists to provide channel-wise dropout on inputs with 3 spatial "
                      "dimensions, a channel dimension, and an optional batch dimension (i.e. 4D or 5D inputs).",
                      stacklevel=2)
    return _unbatched_feature_dropout(input, p, training, inplace, batched=ndim == 5)


def _unbatched_feature_dropout(input, p, training, inplace, batched):
    if batched:
        return _feature_dropout(input, p, training, inplace)
    out = _feature_dropout(input.unsqueeze(0), p, training, False).squeeze(0)
    return F._inplace_result(input, out) if inplace and training and p > 0 else out


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout that keeps SELU's self-normalising mean and variance (dropped units go to SELU's
    negative saturation, then an affine map restores the statistics)."""
    return _dropout_impl(input, p, training, inplace, feature=False, alpha=True)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Alpha dropout of whole channels."""
    return _dropout_impl(input, p, training, inplace, feature=True, alpha=True)
