"""``rustgrad.cuda.amp.autocast``: ``rustgrad.amp.autocast("cuda", ...)`` with PyTorch's deprecation warning."""

import warnings

from ...amp import autocast_mode


class autocast(autocast_mode.autocast):  # noqa: N801 (PyTorch's name)
    def __init__(self, enabled=True, dtype=None, cache_enabled=True):
        warnings.warn("`torch.cuda.amp.autocast(args...)` is deprecated. Please use "
                      "`torch.amp.autocast('cuda', args...)` instead.", FutureWarning, stacklevel=2)
        if dtype is None:
            dtype = autocast_mode._default_dtype("cuda")
        super().__init__("cuda", enabled=enabled, dtype=dtype, cache_enabled=cache_enabled)


def custom_fwd(fwd=None, *, cast_inputs=None):
    """``rustgrad.amp.custom_fwd(..., device_type="cuda")`` with PyTorch's deprecation warning."""
    warnings.warn("`torch.cuda.amp.custom_fwd(args...)` is deprecated. Please use "
                  "`torch.amp.custom_fwd(args..., device_type='cuda')` instead.", FutureWarning, stacklevel=2)
    return autocast_mode.custom_fwd(fwd, device_type="cuda", cast_inputs=cast_inputs)


def custom_bwd(bwd):
    """``rustgrad.amp.custom_bwd(..., device_type="cuda")`` with PyTorch's deprecation warning."""
    warnings.warn("`torch.cuda.amp.custom_bwd(args...)` is deprecated. Please use "
                  "`torch.amp.custom_bwd(args..., device_type='cuda')` instead.", FutureWarning, stacklevel=2)
    return autocast_mode.custom_bwd(bwd, device_type="cuda")
