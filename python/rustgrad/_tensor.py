"""Python-side methods of ``rustgrad.Tensor``: printing, hooks, copying and small conveniences.

The class and its hot methods live in Rust (``rustgrad._C.Tensor``); what is here is added to it
at import time, as PyTorch adds ``torch/_tensor.py`` to its C++ tensor class.
"""

import copy

import numpy as np

from . import _C
from ._tensor_str import tensor_repr

Tensor = _C.Tensor


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
    hook_id = self._register_hook(hook)
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
    if dtype is None:
        return {"float32": "rustgrad.FloatTensor", "float64": "rustgrad.DoubleTensor",
                "int64": "rustgrad.LongTensor", "bool": "rustgrad.BoolTensor"}[repr(self.dtype).split(".")[1]]
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


def _argsort(self, dim=-1, descending=False):
    return self.sort(dim=dim, descending=descending)[1]


def _sort(self, dim=-1, descending=False, stable=False):
    from .return_types import sort as Sort

    arr = self.detach().cpu().numpy()
    order = np.argsort(-arr if descending else arr, axis=dim, kind="stable")
    idx = _C.from_numpy(np.ascontiguousarray(order.astype(np.int64)))
    if self.device.type != "cpu":
        idx = idx.to(self.device)
    return Sort(self.gather(dim, idx), idx)


def _topk(self, k, dim=-1, largest=True, sorted=True):
    from .return_types import topk as TopK

    values, indices = _sort(self, dim=dim, descending=largest)
    return TopK(values.narrow(dim, 0, k), indices.narrow(dim, 0, k))


_PATCHES = {
    "__repr__": _repr,
    "__format__": _format,
    "__deepcopy__": _deepcopy,
    "__reduce_ex__": _reduce_ex,
    "__contains__": _contains,
    "__reversed__": _reversed,
    "__array_priority__": 1000,
    "register_hook": _register_hook,
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
    "sort": _sort,
    "argsort": _argsort,
    "topk": _topk,
}

for _name, _fn in _PATCHES.items():
    setattr(Tensor, _name, _fn)
