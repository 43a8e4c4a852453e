"""``autocast``: mixed precision regions, as ``torch.amp.autocast``.

Each device type (``"cpu"``, ``"cuda"``) has its own per-thread state: enabled or not, and the
lower-precision dtype (bfloat16 on the CPU, float16 on CUDA by default). Inside an enabled region
the ops listed in ``_casting`` cast their inputs: matrix products and convolutions to the autocast
dtype, the numerically touchy ops (losses, and on CUDA softmax, exp, log, sums, norms...) to
float32, the concatenations to their widest input type.
"""

import functools
import threading
import warnings

from . import _casting

__all__ = ["autocast", "custom_fwd", "custom_bwd", "is_autocast_available", "is_autocast_enabled", "get_autocast_dtype",
           "set_autocast_enabled", "set_autocast_dtype"]

# The device types PyTorch's device strings know; any other raises PyTorch's error.
_DEVICE_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga", "maia", "xla",
                 "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone")
# Where rustgrad can run, and so where autocast can cast.
_RUSTGRAD_DEVICE_TYPES = ("cpu", "cuda")


def _check_device_type(device_type):
    if device_type not in _DEVICE_TYPES:
        raise RuntimeError(f"Expected one of {', '.join(_DEVICE_TYPES)} device type at start of device string: "
                           f"{device_type}")


class _State(threading.local):
    def __init__(self):
        self.enabled = {}
        self.dtype = {}


_state = _State()


def _default_dtype(device_type):
    import rustgrad

    name = "float16" if device_type == "cuda" else "bfloat16"
    return getattr(rustgrad, name, None)


def is_autocast_available(device_type):
    """Whether autocast can be used for ``device_type`` (a string such as ``"cuda"``)."""
    _check_device_type(device_type)
    return device_type in _RUSTGRAD_DEVICE_TYPES


def is_autocast_enabled(device_type=None):
    """Whether autocast is on for ``device_type`` in this thread (CUDA's when not given, as in PyTorch)."""
    if device_type is None:
        device_type = "cuda"
    if not isinstance(device_type, str):
        raise TypeError(f"is_autocast_enabled(): argument 'device_type' (position 1) must be str, not "
                        f"{type(device_type).__name__}")
    _check_device_type(device_type)
    return _state.enabled.get(device_type, False)


def set_autocast_enabled(device_type, enabled):
    _check_device_type(device_type)
    if not isinstance(enabled, bool):
        raise TypeError(f"set_autocast_enabled(): argument 'enabled' (position 2) must be bool, not "
                        f"{type(enabled).__name__}")
    _state.enabled[device_type] = enabled
    if enabled:
        _casting.install()


def get_autocast_dtype(device_type):
    """The lower-precision dtype autocast uses for ``device_type`` in this thread."""
    _check_device_type(device_type)
    return _state.dtype.get(device_type) or _default_dtype(device_type)


def set_autocast_dtype(device_type, dtype):
    import rustgrad

    _check_device_type(device_type)
    if not isinstance(dtype, rustgrad.dtype):
        raise TypeError(f"set_autocast_dtype(): argument 'dtype' (position 2) must be torch.dtype, not "
                        f"{type(dtype).__name__}")
    _state.dtype[device_type] = dtype


def active_dtype(device_type):
    """The autocast dtype for tensors on ``device_type``, or None where autocast is off (used by
    ``_casting``'s wrappers)."""
    if not _state.enabled.get(device_type, False):
        return None
    return get_autocast_dtype(device_type)


class autocast:  # noqa: N801 (PyTorch's name)
    """A context manager (and decorator) that turns autocast on or off for ``device_type``.

    ``dtype`` defaults to bfloat16 on the CPU and float16 on CUDA; ``enabled=False`` turns autocast
    off inside the region (regions nest); ``cache_enabled`` is accepted (rustgrad keeps no cast
    cache: each op casts its inputs again).
    """

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        import rustgrad

        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        _check_device_type(device_type)
        if dtype is None:
            dtype = get_autocast_dtype(device_type)
        self.device = device_type
        self.fast_dtype = dtype
        self._cache_enabled = True if cache_enabled is None else cache_enabled
        if device_type == "cuda" and enabled:
            from .. import cuda

            if not cuda.is_available():
                warnings.warn("CUDA is not available or torch_xla is imported. Disabling autocast.")
                enabled = False
            elif dtype == getattr(rustgrad, "bfloat16", None) and not cuda.is_bf16_supported():
                raise RuntimeError("Current CUDA Device does not support bfloat16. Please switch dtype to float16.")
        elif device_type == "cpu" and enabled:
            supported = [getattr(rustgrad, name, None) for name in ("bfloat16", "float16")]
            if dtype not in [d for d in supported if d is not None]:
                warnings.warn("In CPU autocast, but the target dtype is not supported. Disabling autocast.\n"
                              "CPU Autocast only supports dtypes of torch.bfloat16, torch.float16 currently.")
                enabled = False
        elif device_type not in _RUSTGRAD_DEVICE_TYPES and enabled:
            # Tensors never live on such a device in rustgrad: there is nothing to cast.
            enabled = False
        self._enabled = enabled
        if not isinstance(enabled, bool):
            raise TypeError(f"set_autocast_enabled(): argument 'enabled' (position 2) must be bool, not "
                            f"{type(enabled).__name__}")
        if not isinstance(dtype, rustgrad.dtype) and (dtype is not None or self._enabled):
            # (dtype is None only in a build without half dtypes, where nothing can be cast anyway.)
            raise TypeError(f"set_autocast_dtype(): argument 'dtype' (position 2) must be torch.dtype, not "
                            f"{type(dtype).__name__}")

    def __enter__(self):
        self._previous = (_state.enabled.get(self.device, False), get_autocast_dtype(self.device))
        _state.enabled[self.device] = self._enabled
        _state.dtype[self.device] = self.fast_dtype
        if self._enabled:
            _casting.install()
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        _state.enabled[self.device], _state.dtype[self.device] = self._previous
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def decorate_autocast(*args, **kwargs):
            with autocast(self.device, self.fast_dtype, self._enabled, self._cache_enabled):
                return func(*args, **kwargs)

        return decorate_autocast


def _check_device_type_arg(device_type):
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")


def custom_fwd(fwd=None, *, device_type, cast_inputs=None):
    """Decorates the ``forward`` of an ``autograd.Function``: it runs with the caller's autocast
    state (noted so that ``custom_bwd`` gives ``backward`` the same), or, with ``cast_inputs``,
    with autocast off and its floating inputs on ``device_type`` cast to ``cast_inputs`` when the
    caller is in an autocast region."""
    _check_device_type_arg(device_type)
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def decorate_fwd(*args, **kwargs):
        ctx = args[0]
        ctx._dtype = get_autocast_dtype(device_type)
        if cast_inputs is None:
            ctx._fwd_used_autocast = is_autocast_enabled(device_type)
            return fwd(*args, **kwargs)
        ctx._fwd_used_autocast = False
        if not is_autocast_enabled(device_type):
            return fwd(*args, **kwargs)
        with autocast(device_type=device_type, enabled=False):
            args = [ctx] + [_casting._cast(a, cast_inputs, device_type) for a in args[1:]]
            kwargs = {k: _casting._cast(v, cast_inputs, device_type) for k, v in kwargs.items()}
            return fwd(*args, **kwargs)

    return decorate_fwd


def custom_bwd(bwd=None, *, device_type):
    """Decorates the ``backward`` of an ``autograd.Function``: it runs with the autocast state its
    ``custom_fwd`` forward ran with."""
    _check_device_type_arg(device_type)
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)

    @functools.wraps(bwd)
    def decorate_bwd(*args, **kwargs):
        ctx = args[0]
        with autocast(device_type=device_type, enabled=ctx._fwd_used_autocast, dtype=ctx._dtype):
            return bwd(*args, **kwargs)

    return decorate_bwd
