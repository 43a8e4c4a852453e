"""``nn.utils.skip_init``: a module instance whose parameters are left with unspecified values."""

import inspect

from ..modules.module import Module

__all__ = ["skip_init"]


def skip_init(module_cls, *args, **kwargs):
    """An instance of ``module_cls(*args, **kwargs)`` whose parameters and buffers hold unspecified values.

    PyTorch builds it on the "meta" device and then allocates uninitialized memory; rustgrad has no meta
    device, so the module is built directly on ``device`` (its initialization runs, and the values it leaves
    are as unspecified as PyTorch's)."""
    if not issubclass(module_cls, Module):
        raise RuntimeError(f"Expected a Module; got {module_cls}")
    if "device" not in inspect.signature(module_cls).parameters:
        raise RuntimeError("Module must support a 'device' arg to skip initialization")
    kwargs.setdefault("device", "cpu")
    return module_cls(*args, **kwargs)
