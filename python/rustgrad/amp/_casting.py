"""Where autocast hooks into the ops: one wrapper per listed op, installed the first time an
autocast region is entered (scripts that never use autocast pay nothing).

The lists follow PyTorch's autocast op lists for the ops rustgrad has, per device type:
``LOWER`` ops cast their floating inputs to the autocast dtype, ``FP32`` ops to float32 and
``PROMOTE`` ops to their widest floating input type. float64 inputs and tensors on another device
type are left alone. An op called from inside a listed op is not cast again (as in PyTorch, where
the autocast layer is passed once per op).
"""

import functools
import threading

from .. import _C

_BOTH = ("cpu", "cuda")
_CUDA = ("cuda",)
_CPU = ("cpu",)

_LOSSES = ("cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div",
           "binary_cross_entropy_with_logits", "margin_ranking_loss", "hinge_embedding_loss", "soft_margin_loss",
           "triplet_margin_loss", "multi_margin_loss", "multilabel_margin_loss", "cosine_embedding_loss",
           "poisson_nll_loss", "ctc_loss")

# (where the op lives, its name, the policy, the device types the policy applies on)
_TENSOR, _TORCH, _FUNCTIONAL = "Tensor", "rustgrad", "nn.functional"
OPS = [
    *[(_TENSOR, name, "lower", _BOTH) for name in ("matmul", "__matmul__", "mm", "bmm", "addmm", "addbmm", "baddbmm")],
    *[(_TENSOR, name, "lower", _CUDA) for name in ("mv", "addmv", "addr")],
    *[(_TORCH, name, "lower", _CUDA) for name in ("einsum", "chain_matmul")],
    *[(_FUNCTIONAL, name, "lower", _BOTH) for name in (
        "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "prelu",
        "scaled_dot_product_attention")],
    *[(_TENSOR, name, "fp32", _CUDA) for name in (
        "acos", "asin", "cosh", "erfinv", "exp", "expm1", "log", "log10", "log2", "log1p", "reciprocal", "rsqrt",
        "sinh", "tan", "pow", "__pow__", "softmax", "log_softmax", "cumsum", "cumprod", "sum", "norm", "logsumexp",
        "dist", "renorm")],
    *[(_TENSOR, name, "fp32", _BOTH) for name in ("prod",)],
    *[(_TENSOR, name, "fp32", _CPU) for name in ("quantile", "nanquantile", "trace")],
    *[(_TORCH, name, "fp32", _BOTH) for name in ("cdist",)],
    *[(_TORCH, name, "fp32", _CPU) for name in ("quantile", "nanquantile", "trace")],
    *[(_FUNCTIONAL, name, "fp32", _CUDA) for name in (
        "softplus", "layer_norm", "group_norm", "cosine_similarity", "softmax", "log_softmax", "interpolate",
        "upsample", "pdist")],
    *[(_FUNCTIONAL, name, "fp32", _BOTH) for name in _LOSSES + ("grid_sample",)],
    *[(_FUNCTIONAL, name, "fp32", _CPU) for name in (
        "binary_cross_entropy", "max_pool3d", "avg_pool3d", "adaptive_avg_pool3d")],
    *[(_FUNCTIONAL, name, "unsafe", _CUDA) for name in ("binary_cross_entropy",)],
    *[(_TORCH, name, "promote", _BOTH) for name in ("cat", "concat", "concatenate", "stack")],
    *[(_TENSOR, name, "promote", _BOTH) for name in ("index_copy",)],
    *[(_TORCH, name, "promote", _CUDA) for name in ("tensordot", "addcdiv", "addcmul")],
    *[(_TENSOR, name, "promote", _CUDA) for name in ("addcdiv", "addcmul", "atan2", "cross", "dot", "scatter_add")],
    *[(_FUNCTIONAL, name, "promote", _CUDA) for name in ("bilinear",)],
]

_UNSAFE_BCE = ("torch.nn.functional.binary_cross_entropy and torch.nn.BCELoss are unsafe to autocast.\n"
               "Many models use a sigmoid layer right before the binary cross entropy layer.\n"
               "In this case, combine the two layers using torch.nn.functional.binary_cross_entropy_with_logits\n"
               "or torch.nn.BCEWithLogitsLoss.  binary_cross_entropy_with_logits and BCEWithLogits are\n"
               "safe to autocast.")


class _Inside(threading.local):
    active = False


_inside = _Inside()
_install_lock = threading.Lock()
_installed = False


def _tensors(values):
    for value in values:
        if isinstance(value, _C.Tensor):
            yield value
        elif isinstance(value, (list, tuple)):
            yield from _tensors(value)


def _eligible(value, device_type):
    """A floating tensor on ``device_type`` that is not float64: what autocast may cast."""
    return (isinstance(value, _C.Tensor) and value.is_floating_point() and value.device.type == device_type
            and value.dtype != _C.float64)


def _cast(value, dtype, device_type):
    if _eligible(value, device_type):
        return value if value.dtype == dtype else value.to(dtype)
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(_cast(v, dtype, device_type) for v in value)
    return value


def _promote(a, b):
    """PyTorch's promotion of two floating dtypes: float16 with bfloat16 gives float32."""
    if a == b:
        return a
    size_a, size_b = (_C.empty(0, dtype=d).element_size() for d in (a, b))
    if size_a == size_b:
        return _C.float32
    return a if size_a > size_b else b


def _widest(values, device_type):
    """The widest floating dtype among the eligible tensors (None when there is none)."""
    widest = None
    for tensor in _tensors(values):
        if _eligible(tensor, device_type):
            widest = tensor.dtype if widest is None else _promote(widest, tensor.dtype)
    return widest


def _wrap(op, policy, device_types):
    from .autocast_mode import active_dtype

    @functools.wraps(op)
    def autocast_op(*args, **kwargs):
        if _inside.active:
            return op(*args, **kwargs)
        first = next(_tensors(list(args) + list(kwargs.values())), None)
        device_type = None if first is None else first.device.type
        dtype = active_dtype(device_type) if device_type in device_types else None
        if dtype is None:
            return op(*args, **kwargs)
        if policy == "unsafe":
            raise RuntimeError(_UNSAFE_BCE)
        if policy == "fp32":
            dtype = _C.float32
        elif policy == "promote":
            dtype = _widest(list(args) + list(kwargs.values()), device_type)
            if dtype is None:
                return op(*args, **kwargs)
        args = [_cast(a, dtype, device_type) for a in args]
        kwargs = {k: _cast(v, dtype, device_type) for k, v in kwargs.items()}
        _inside.active = True
        try:
            return op(*args, **kwargs)
        finally:
            _inside.active = False

    autocast_op._autocast_policies = {device_type: policy for device_type in device_types}
    autocast_op._autocast_original = op
    return autocast_op


def _homes():
    import rustgrad
    import rustgrad.nn.functional

    return {_TENSOR: _C.Tensor, _TORCH: rustgrad, _FUNCTIONAL: rustgrad.nn.functional}


def _merged_wrapper(op, entries):
    """One wrapper for an op listed under several device types with different policies."""
    wrappers = {device_types: _wrap(op, policy, device_types) for policy, device_types in entries}
    if len(wrappers) == 1:
        return next(iter(wrappers.values()))

    @functools.wraps(op)
    def dispatch(*args, **kwargs):
        first = next(_tensors(list(args) + list(kwargs.values())), None)
        device_type = None if first is None else first.device.type
        for device_types, wrapper in wrappers.items():
            if device_type in device_types:
                return wrapper(*args, **kwargs)
        return op(*args, **kwargs)

    return dispatch


def install():
    """Wraps every listed op that exists in this build (once per process)."""
    global _installed
    if _installed:
        return
    with _install_lock:
        if _installed:
            return
        homes = _homes()
        grouped = {}
        for home, name, policy, device_types in OPS:
            grouped.setdefault((home, name), []).append((policy, device_types))
            if home == _TENSOR:
                # The function of the same name too (``rustgrad.addmm`` ...): some are written
                # apart from the method. Where it only calls the method, the method's wrapper
                # sees that it is inside a listed op and does not cast again.
                grouped.setdefault((_TORCH, name), []).append((policy, device_types))
        for (home, name), entries in grouped.items():
            owner = homes[home]
            op = getattr(owner, name, None)
            if op is None:  # an op this build does not have
                continue
            setattr(owner, name, _merged_wrapper(op, entries))
        _installed = True
