"""The Python side of ``rustgrad.Tensor``: its printing, hooks, copying and pickling, and the one
table that attaches every Tensor method written in Python.

The class and most methods live in Rust (``rustgrad._C.Tensor``, src/python/tensor*.rs); the rest
are added to it here at import time, as PyTorch adds ``torch/_tensor.py`` to its C++ tensor class.
A method is defined in one place: either in Rust or in the table below, never in both.
"""

import copy
import types
import weakref

from . import _C
from ._arg_check import check_bool
from ._dlpack import _dlpack, _dlpack_device
from ._dtype_names import legacy_type_name
from ._ops_arith import (
    _addcdiv, _addcdiv_, _addcmul, _addcmul_, _addmm, _isfinite, _isinf, _lerp, _lerp_, _outer, _triangle_method,
)
from ._ops_extra import (
    _addbmm, _baddbmm, _count_nonzero, _diag, _diag_embed, _diagonal, _frac, _hypot, _inplace, _kron, _logaddexp,
    _logit, _nanmean, _nansum, _repeat_interleave, _roll, _trace,
)
from ._ops_search import _bincount, _histc, _unique, _unique_consecutive
from ._sampling import multinomial
from ._sampling_elementwise import (  # sampling and special functions (issue 16)
    _bernoulli_, _bernoulli_method, _cauchy_, _exponential_, _geometric_, _log_normal_, _random_,
)
from ._ops_sort import (
    _argsort, _kthvalue, _median, _mode, _movedim, _nanmedian, _nanquantile, _quantile_method, _sort, _topk, msort,
)
from ._tensor_str import tensor_repr

Tensor = _C.Tensor


def _special_method(name):
    """A method that calls ``rustgrad.special.<name>(self, ...)`` (imported late: special imports us)."""
    def method(self, *args, **kwargs):
        from . import special
        return getattr(special, name)(self, *args, **kwargs)
    method.__name__ = name
    return method


class RemovableHandle:
    """Returned by ``register_hook``: ``handle.remove()`` unregisters the hook."""

    def __init__(self, remove):
        self._remove = remove

    def remove(self):
        if self._remove is not None:
            self._remove()
            self._remove = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _is_complex_method(self):
    """Whether the dtype is complex (never, in rustgrad)."""
    return bool(getattr(self.dtype, "is_complex", False))


def is_complex(input):
    """``rustgrad.is_complex``: whether ``input``'s dtype is complex."""
    if not isinstance(input, Tensor):
        raise TypeError(f"is_complex(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    return input.is_complex()


def _repr(self):
    return tensor_repr(self)


def _format(self, spec):
    if self.dim() == 0:
        return self.item().__format__(spec)
    return object.__format__(self, spec)


def _register_hook(self, hook):
    """Registers a hook called with the gradient of this tensor; it may return a new gradient."""
    if not self.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")

    def checked(grad):
        # PyTorch's checks on a replacement: a hook may change values, never type or size.
        result = hook(grad)
        if result is not None:
            _check_hook_result(hook, grad, result)
        return result

    hook_id = self._register_hook(checked)
    return RemovableHandle(lambda: self._remove_hook(hook_id))


def _hook_type_name(t):
    return "rustgrad." + ("cuda." if t.device.type == "cuda" else "") + legacy_type_name(t.dtype)


def _check_hook_result(hook, grad, result):
    name = getattr(hook, "__name__", "<unknown>")
    if not isinstance(result, Tensor):
        raise TypeError(f"expected Variable, but hook returned '{type(result).__name__}'")
    if result.dtype != grad.dtype or result.device != grad.device:
        raise RuntimeError(f"hook '{name}' has changed the type of value (was {_hook_type_name(grad)} got "
                           f"{_hook_type_name(result)})")
    if result.shape != grad.shape:
        raise RuntimeError(f"hook '{name}' has changed the size of value")


def _register_post_accumulate_grad_hook(self, hook):
    """Registers ``hook(tensor)``, called after a backward has accumulated into this leaf's ``.grad``."""
    if not self.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if self.grad_fn is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    # The engine hands back a fresh handle on the same tensor; PyTorch passes the tensor object the
    # hook was registered on (a Parameter stays a Parameter, ``optimizers[p]`` finds it). Held weakly:
    # the hook lives in the tensor, a strong reference would be a cycle the GC cannot see.
    owner = weakref.ref(self)

    def call(tensor):
        registered = owner()
        hook(tensor if registered is None else registered)

    hook_id = self._register_post_accumulate_grad_hook(call)
    return RemovableHandle(lambda: self._remove_hook(hook_id))


def _new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    return _C.tensor(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)


def _new_factory(factory):
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        return factory(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    return method


def _new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
    return _C.full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                   requires_grad=requires_grad)


def _get_device(self):
    return -1 if self.device.type == "cpu" else self.device.index


def _deepcopy(self, memo):
    if id(self) in memo:
        return memo[id(self)]
    with _C_no_grad():
        new_data = self.detach().clone()
    if type(self) is Tensor:
        result = new_data
        if self.requires_grad and self.is_leaf:
            result.requires_grad_(True)
    else:
        result = type(self)(new_data, self.requires_grad)
    if self.grad is not None:
        result.grad = copy.deepcopy(self.grad, memo)
    for k, v in getattr(self, "__dict__", {}).items():
        setattr(result, k, copy.deepcopy(v, memo))
    memo[id(self)] = result
    return result


class _C_no_grad:
    def __enter__(self):
        self.prev = _C._set_grad_enabled(False)

    def __exit__(self, *exc):
        _C._set_grad_enabled(self.prev)


def _rebuild(array, requires_grad, cls=None):
    t = _C.tensor(array)
    if cls is not None and cls is not Tensor:
        return cls(t, requires_grad)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _reduce_ex(self, protocol):
    array = self.detach().cpu().numpy().copy()
    return (_rebuild, (array, self.requires_grad, type(self)))


def _type(self, dtype=None, non_blocking=False):
    check_bool(non_blocking, "type", "non_blocking")  # copies here are synchronous either way
    if dtype is None:
        return f"rustgrad.{legacy_type_name(self.dtype)}"
    if isinstance(dtype, str):
        from ._dtype_names import from_legacy_type_name

        name = from_legacy_type_name(dtype)
        if name is None:
            raise ValueError(f"invalid type: '{dtype}'")
        dtype = getattr(_C, name)
    elif isinstance(dtype, type) and isinstance(getattr(dtype, "dtype", None), _C.dtype):
        dtype = dtype.dtype  # a legacy class: x.type(rustgrad.HalfTensor)
    return self.to(dtype)


def _allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(_C.isclose(self, other, rtol, atol, equal_nan).all())


def _isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return _C.isclose(self, other, rtol, atol, equal_nan)


def _contains(self, element):
    return bool((self == element).any())


def _reversed(self):
    return self.flip(0) if self.dim() > 0 else self


def _apply_(self, fn):
    with _C_no_grad():
        flat = self.detach().reshape(-1)
        values = [fn(v) for v in flat.tolist()]
        flat.copy_(_C.tensor(values, dtype=self.dtype))
    return self


# What a method, property or slot defined in Rust looks like in the class's dict.
_RUST_DESCRIPTORS = (types.MethodDescriptorType, types.GetSetDescriptorType, types.WrapperDescriptorType,
                     types.BuiltinMethodType)

# Every Tensor method written in Python, attached here and nowhere else.
_METHODS = {
    # the class's own protocol
    "__repr__": _repr,
    "__format__": _format,
    "__deepcopy__": _deepcopy,
    "__reduce_ex__": _reduce_ex,
    "__contains__": _contains,
    "__reversed__": _reversed,
    "__array_priority__": 1000,
    "register_hook": _register_hook,
    # _dlpack.py (DLPack exchange)
    "__dlpack__": _dlpack,
    "__dlpack_device__": _dlpack_device,
    "register_post_accumulate_grad_hook": _register_post_accumulate_grad_hook,
    "new_tensor": _new_tensor,
    "new_zeros": _new_factory(_C.zeros),
    "new_ones": _new_factory(_C.ones),
    "new_empty": _new_factory(_C.empty),
    "new_full": _new_full,
    "get_device": _get_device,
    "type": _type,
    "allclose": _allclose,
    "isclose": _isclose,
    "apply_": _apply_,
    # _ops_arith.py
    "addmm": _addmm,
    "outer": _outer,
    "addcmul": _addcmul,
    "addcmul_": _addcmul_,
    "addcdiv": _addcdiv,
    "addcdiv_": _addcdiv_,
    "lerp": _lerp,
    "lerp_": _lerp_,
    "isinf": _isinf,
    "isfinite": _isfinite,
    "tril": _triangle_method("tril"),
    "triu": _triangle_method("triu"),
    "tril_": _triangle_method("tril_"),
    "triu_": _triangle_method("triu_"),
    # _ops_extra.py
    "diag": _diag,
    "diagonal": _diagonal,
    "diag_embed": _diag_embed,
    "trace": _trace,
    "roll": _roll,
    "kron": _kron,
    "baddbmm": _baddbmm,
    "baddbmm_": _inplace(_baddbmm),
    "addbmm": _addbmm,
    "addbmm_": _inplace(_addbmm),
    "fmod_": _inplace(Tensor.fmod),
    "logaddexp": _logaddexp,
    "hypot": _hypot,
    "hypot_": _inplace(_hypot),
    "logit": _logit,
    "logit_": _inplace(_logit),
    "frac": _frac,
    "frac_": _inplace(_frac),
    "nansum": _nansum,
    "nanmean": _nanmean,
    "count_nonzero": _count_nonzero,
    "repeat_interleave": _repeat_interleave,
    # _ops_sort.py
    "sort": _sort,
    "argsort": _argsort,
    "topk": _topk,
    "movedim": _movedim,
    "moveaxis": _movedim,
    "median": _median,
    "nanmedian": _nanmedian,
    "kthvalue": _kthvalue,
    "mode": _mode,
    "quantile": _quantile_method,
    "nanquantile": _nanquantile,
    "msort": msort,
    # _ops_search.py
    "unique": _unique,
    "unique_consecutive": _unique_consecutive,
    "bincount": _bincount,
    "histc": _histc,
    # _sampling.py
    "multinomial": multinomial,
    # optim: rustgrad has no complex dtypes and no sparse layouts
    "is_complex": _is_complex_method,
    "is_sparse": property(lambda self: False, doc="False: rustgrad tensors are always dense (strided)."),
    # sampling (_sampling_elementwise.py) and special functions (special.py)
    "bernoulli": _bernoulli_method,
    "bernoulli_": _bernoulli_,
    "exponential_": _exponential_,
    "geometric_": _geometric_,
    "cauchy_": _cauchy_,
    "log_normal_": _log_normal_,
    "random_": _random_,
    "lgamma_": _inplace(Tensor.lgamma),
    "digamma_": _inplace(Tensor.digamma),
    "erfinv_": _inplace(Tensor.erfinv),
    "erfc_": _inplace(Tensor.erfc),
    "polygamma_": _inplace(Tensor.polygamma),
    "xlogy": _special_method("xlogy"),
    "xlogy_": _inplace(_special_method("xlogy")),
    "mvlgamma": _special_method("multigammaln"),
}

# Elementwise math, scans and reductions, shape and index ops (the issue-16 Tensor-method coverage).
from . import _ops_math, _ops_products, _ops_reshape, _ops_scan  # noqa: E402

_METHODS.update({**_ops_math.METHODS, **_ops_scan.METHODS, **_ops_reshape.METHODS, **_ops_products.METHODS})

for _name, _fn in _METHODS.items():
    if isinstance(vars(Tensor).get(_name), _RUST_DESCRIPTORS):
        raise RuntimeError(f"Tensor.{_name} is defined in Rust: a method is defined in one place")
    setattr(Tensor, _name, _fn)
del _name, _fn
