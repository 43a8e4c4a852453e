"""The scaled-dot-product-attention kernel switches of ``torch.backends.cuda``.

rustgrad's ``scaled_dot_product_attention`` has one kernel, the math one (matmul, softmax,
matmul), on every device. The flash, memory-efficient and cuDNN kernels are never used, so they
can be switched on and off freely (switched on they are allowed, not used); the math kernel cannot
be switched off, since nothing would be left to run.
"""

import contextlib
import warnings

_enabled = {"flash": True, "mem_efficient": True, "math": True, "cudnn": True}


def _set(name, enabled):
    if not isinstance(enabled, bool):
        # PyTorch's message names set_sdp_use_math for all but the cuDNN switch; so does ours.
        setter = "set_sdp_use_cudnn" if name == "cudnn" else "set_sdp_use_math"
        raise RuntimeError(f"{setter} expects a bool, but got {type(enabled).__name__}")
    if name == "math" and not enabled:
        raise NotImplementedError("rustgrad.backends.cuda.enable_math_sdp(False): the math kernel is the only "
                                  "scaled_dot_product_attention kernel rustgrad has; it cannot be disabled")
    _enabled[name] = enabled


def flash_sdp_enabled():
    return _enabled["flash"]


def enable_flash_sdp(enabled):
    _set("flash", enabled)


def mem_efficient_sdp_enabled():
    return _enabled["mem_efficient"]


def enable_mem_efficient_sdp(enabled):
    _set("mem_efficient", enabled)


def math_sdp_enabled():
    return _enabled["math"]


def enable_math_sdp(enabled):
    _set("math", enabled)


def cudnn_sdp_enabled():
    return _enabled["cudnn"]


def enable_cudnn_sdp(enabled):
    _set("cudnn", enabled)


@contextlib.contextmanager
def sdp_kernel(enable_flash=True, enable_math=True, enable_mem_efficient=True, enable_cudnn=True):
    """Deprecated in PyTorch (for ``torch.nn.attention.sdpa_kernel``): sets the switches for the block."""
    warnings.warn("`torch.backends.cuda.sdp_kernel()` is deprecated. In the future, this context manager will be "
                  "removed. Please see `torch.nn.attention.sdpa_kernel()` for the new context manager, with updated "
                  "signature.", FutureWarning, stacklevel=3)
    previous = dict(_enabled)
    try:
        _set("math", enable_math)
        _set("flash", enable_flash)
        _set("mem_efficient", enable_mem_efficient)
        _set("cudnn", enable_cudnn)
        yield
    finally:
        _enabled.update(previous)
