"""``rustgrad.cpu.amp.autocast``: ``rustgrad.amp.autocast("cpu", ...)`` with PyTorch's deprecation warning."""

import warnings

from ...amp import autocast_mode


class autocast(autocast_mode.autocast):  # noqa: N801 (PyTorch's name)
    def __init__(self, enabled=True, dtype=None, cache_enabled=True):
        warnings.warn("`torch.cpu.amp.autocast(args...)` is deprecated. Please use "
                      "`torch.amp.autocast('cpu', args...)` instead.", FutureWarning, stacklevel=2)
        if dtype is None:
            dtype = autocast_mode._default_dtype("cpu")
        super().__init__("cpu", enabled=enabled, dtype=dtype, cache_enabled=cache_enabled)
