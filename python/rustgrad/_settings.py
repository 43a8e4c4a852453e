"""Process-wide switches, as PyTorch's: float32 matmul precision, deterministic algorithms and the
default device."""

import warnings

from . import _C

__all__ = [
    "set_float32_matmul_precision", "get_float32_matmul_precision", "use_deterministic_algorithms",
    "are_deterministic_algorithms_enabled", "is_deterministic_algorithms_warn_only_enabled", "set_default_device",
    "get_default_device",
]

_PRECISIONS = ("highest", "high", "medium")
_precision = "highest"
_deterministic = False
_deterministic_warn_only = False


def set_float32_matmul_precision(precision):
    """"highest": float32 matmuls (and convolutions) in full float32; "high" and "medium": they may use
    TF32 tensor cores on GPUs that have them (rustgrad's "medium" is "high": it has no bfloat16 path
    for float32 GEMMs). The same switch as ``rustgrad.backends.cuda.matmul.allow_tf32``."""
    global _precision
    if not isinstance(precision, str):
        raise RuntimeError(f"set_float32_matmul_precision expects a str, but got {type(precision).__name__}")
    if precision not in _PRECISIONS:
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current"
                      "setFloat32MatmulPrecision call has no effect.", stacklevel=2)
        return
    from .backends.cuda import matmul

    _precision = precision
    matmul.allow_tf32 = precision != "highest"


def get_float32_matmul_precision():
    from .backends.cuda import matmul

    if not matmul.allow_tf32:
        return "highest"
    return "high" if _precision == "highest" else _precision


def use_deterministic_algorithms(mode, *, warn_only=False):
    """Records the request. rustgrad's CPU kernels are deterministic; on CUDA, the backward of
    scatter/index_add, pooling and interpolation accumulate with atomic adds, whose float sums can
    differ in the last bits from run to run: a warning says so when CUDA is in use."""
    global _deterministic, _deterministic_warn_only
    if not isinstance(mode, bool):
        raise TypeError(f"_set_deterministic_algorithms(): argument 'mode' (position 1) must be bool, not "
                        f"{type(mode).__name__}")
    if not isinstance(warn_only, bool):
        raise TypeError(f"_set_deterministic_algorithms(): argument 'warn_only' must be bool, not "
                        f"{type(warn_only).__name__}")
    _deterministic, _deterministic_warn_only = mode, warn_only
    if mode:
        from . import cuda

        if cuda.is_available():
            warnings.warn("rustgrad: the CUDA backward kernels of scatter_add/index_add, pooling and interpolation "
                          "accumulate with atomic adds and are not deterministic; they are not refused under "
                          "use_deterministic_algorithms(True)", stacklevel=2)


def are_deterministic_algorithms_enabled():
    return _deterministic


def is_deterministic_algorithms_warn_only_enabled():
    return _deterministic_warn_only


def set_default_device(device):
    """Only the CPU (or None, meaning the CPU) can be the default device for now: factories without
    ``device=`` create CPU tensors. Other devices raise NotImplementedError; pass ``device=`` or move
    tensors and modules with ``.to(device)``."""
    if device is None:
        return
    if isinstance(device, int):
        device = f"cuda:{device}"
    device = _C.device(device) if not isinstance(device, _C.device) else device
    if device.type != "cpu":
        raise NotImplementedError(f"rustgrad.set_default_device({str(device)!r}): a default device other than the "
                                  "CPU is not implemented yet; pass device= to factories or use .to(device)")


def get_default_device():
    return _C.device("cpu")
