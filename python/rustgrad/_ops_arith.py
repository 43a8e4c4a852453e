"""Arithmetic compositions of PyTorch's tensor ops (autograd and the devices come from the ops they
use): addmm, outer, addcmul/addcdiv, lerp, isinf/isfinite, tril/triu, each with PyTorch's argument
checks and messages. The Tensor methods among them are attached in ``_tensor.py``.
"""

import math
import numbers
import operator

from . import _C
from ._dtype_names import c_name, not_implemented_for, scalar_name

Tensor = _C.Tensor

def _tensor_arg(fn, name, value, position):
    if not isinstance(value, Tensor):
        raise TypeError(f"{fn}(): argument '{name}' (position {position}) must be Tensor, not {type(value).__name__}")


def _number_arg(fn, name, value):
    """``value`` as a Python number: a number, or a 0-dim tensor's item (as PyTorch accepts);
    anything else is PyTorch's TypeError."""
    if isinstance(value, Tensor) and value.dim() == 0:
        return value.item()
    if not isinstance(value, numbers.Number):
        raise TypeError(f"{fn}(): argument '{name}' must be Number, not {type(value).__name__}")
    return value


def _broadcast_shapes(*tensors):
    """The operands' broadcast shape, checked in PyTorch's order (its message names the first
    operands' shape as tensor a)."""
    shape = ()
    for t in tensors:
        if not isinstance(t, Tensor):
            continue
        a, b = shape, tuple(t.shape)
        n = max(len(a), len(b))
        a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y and x != 1 and y != 1:
                raise RuntimeError(f"The size of tensor a ({x}) must match the size of tensor b ({y}) at "
                                   f"non-singleton dimension {i}")
        shape = tuple(x if y == 1 else y for x, y in zip(a, b))
    return shape


def _check_inplace_shape(self, out):
    if tuple(out.shape) != tuple(self.shape):
        raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                           f"{list(out.shape)}")


def _addmm(self, mat1, mat2, *, beta=1, alpha=1, _offset=1):
    """``beta * self + alpha * (mat1 @ mat2)``; ``self`` broadcasts to the product's shape and is
    ignored when beta is 0."""
    _tensor_arg("addmm", "mat1", mat1, _offset)
    _tensor_arg("addmm", "mat2", mat2, _offset + 1)
    beta = _number_arg("addmm", "beta", beta)
    alpha = _number_arg("addmm", "alpha", alpha)
    for name, m in (("self", mat1), ("mat2", mat2)):
        if m.dim() != 2:
            raise RuntimeError(f"addmm: {name} must be a matrix, got {m.dim()}-D tensor")
    if mat1.shape[1] != mat2.shape[0]:
        raise RuntimeError(f"addmm: mat1 and mat2 shapes cannot be multiplied ({mat1.shape[0]}x{mat1.shape[1]} "
                           f"and {mat2.shape[0]}x{mat2.shape[1]})")
    for name, a in (("self", self), ("mat1", mat1)):
        if a.dtype != mat2.dtype:
            raise RuntimeError(f"{name} and mat2 must have the same dtype, but got {scalar_name(a.dtype)} "
                               f"and {scalar_name(mat2.dtype)}")
    bias = self.expand(mat1.shape[0], mat2.shape[1])
    out = mat1.mm(mat2)
    if alpha != 1:
        out = out * alpha
    if beta == 0:
        return out
    return out + (bias if beta == 1 else bias * beta)


def _outer(self, vec2, *, _offset=1):
    """The outer product of two 1-D tensors."""
    _tensor_arg("outer", "vec2", vec2, _offset)
    for name, v in (("self", self), ("vec2", vec2)):
        if v.dim() != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {v.dim()}-D")
    return self.reshape(-1, 1) * vec2


def _addc_args(fn, tensor1, tensor2, value, offset):
    """Checks addcmul/addcdiv's arguments; returns ``value`` as a number."""
    _tensor_arg(fn, "tensor1", tensor1, offset)
    _tensor_arg(fn, "tensor2", tensor2, offset + 1)
    return _number_arg(fn, "value", value)


def _addcmul(self, tensor1, tensor2, *, value=1, _offset=1, _name="addcmul"):
    """``self + value * tensor1 * tensor2``."""
    value = _addc_args(_name, tensor1, tensor2, value, _offset)
    _broadcast_shapes(self, tensor1, tensor2)
    return self + value * tensor1 * tensor2


def _addcmul_(self, tensor1, tensor2, *, value=1):
    out = _addcmul(self, tensor1, tensor2, value=value, _name="addcmul_")
    _check_inplace_shape(self, out)
    return self.copy_(out)


_ADDCDIV_INTEGER = (
    "Integer division with addcdiv is no longer supported, and in a future  release addcdiv will perform a true "
    "division of tensor1 and tensor2. The historic addcdiv behavior can be implemented as (input + value * "
    "torch.trunc(tensor1 / tensor2)).to(input.dtype) for integer inputs and as (input + value * tensor1 / tensor2) "
    "for float inputs. The future addcdiv behavior is just the latter implementation: (input + value * tensor1 / "
    "tensor2), for all dtypes.")


def _addcdiv(self, tensor1, tensor2, *, value=1, _offset=1, _name="addcdiv"):
    """``self + value * tensor1 / tensor2``."""
    value = _addc_args(_name, tensor1, tensor2, value, _offset)
    if not tensor1.is_floating_point() and not tensor2.is_floating_point():
        raise RuntimeError(_ADDCDIV_INTEGER)
    _broadcast_shapes(self, tensor1, tensor2)
    return self + value * tensor1 / tensor2


def _addcdiv_(self, tensor1, tensor2, *, value=1):
    out = _addcdiv(self, tensor1, tensor2, value=value, _name="addcdiv_")
    _check_inplace_shape(self, out)
    return self.copy_(out)


def _lerp(self, end, weight, *, _name="lerp", _prefix=()):
    """``self + weight * (end - self)`` (computed from ``end`` when |weight| >= 0.5, as PyTorch)."""
    if not isinstance(end, Tensor) or not isinstance(weight, (Tensor, numbers.Number)):
        got = ", ".join(_prefix + tuple(type(a).__name__ for a in (end, weight)))
        raise TypeError(f"{_name}() received an invalid combination of arguments - got ({got}), but expected one "
                        "of:\n * (Tensor end, Tensor weight)\n * (Tensor end, Number weight)\n")
    name = c_name(self.dtype)
    if end.dtype != self.dtype:
        raise RuntimeError(f"expected dtype {name} for `end` but got dtype {c_name(end.dtype)}")
    scalar = not isinstance(weight, Tensor) or weight.dim() == 0
    if not scalar and weight.dtype != self.dtype:
        raise RuntimeError(f"expected dtype {name} for `weight` but got dtype {c_name(weight.dtype)}")
    _broadcast_shapes(self, end, weight)
    if not self.is_floating_point():
        kernel = "lerp_kernel_scalar" if scalar else "lerp_kernel_tensor"
        raise not_implemented_for(kernel, self.dtype)
    diff = end - self
    if not isinstance(weight, Tensor):
        return self + weight * diff if abs(weight) < 0.5 else end - diff * (1 - weight)
    return _C.where(weight.abs() < 0.5, self + weight * diff, end - diff * (1 - weight))


def _lerp_(self, end, weight):
    out = _lerp(self, end, weight, _name="lerp_")
    _check_inplace_shape(self, out)
    return self.copy_(out)


def _isinf(self):
    if not self.is_floating_point():
        return _C.zeros(self.shape, dtype=_C.bool, device=self.device)
    return self.abs() == math.inf


def _isfinite(self):
    if not self.is_floating_point():
        return _C.ones(self.shape, dtype=_C.bool, device=self.device)
    return (self == self).logical_and(self.abs() != math.inf)


def _diagonal_arg(name, args, kwargs, position):
    """The ``diagonal`` argument, with the message of PyTorch's argument parser when it is not an int."""
    if len(args) + len(kwargs) > 1 or set(kwargs) - {"diagonal"}:
        raise TypeError(f"{name}() takes at most one argument 'diagonal' (got {args} and {kwargs})")
    if args:
        diagonal, where = args[0], f" (position {position})"
    else:
        diagonal, where = kwargs.get("diagonal", 0), ""
    if isinstance(diagonal, Tensor) and diagonal.dim() == 0 and diagonal.dtype == _C.int64:
        return int(diagonal)
    if isinstance(diagonal, bool) or isinstance(diagonal, Tensor):
        raise TypeError(f"{name}(): argument 'diagonal'{where} must be int, not {type(diagonal).__name__}")
    try:
        return operator.index(diagonal)
    except TypeError:
        raise TypeError(f"{name}(): argument 'diagonal'{where} must be int, not {type(diagonal).__name__}") from None


def _triangle(self, name, args, kwargs, position):
    """Zeroes the elements off the triangle (below or above the ``diagonal``-th diagonal) of the last
    two dims, through a mask built from two aranges."""
    diagonal = _diagonal_arg(name, args, kwargs, position)
    if self.dim() < 2:
        raise RuntimeError(f"{name.rstrip('_')}: input tensor must have at least 2 dimensions")
    m, n = self.shape[-2], self.shape[-1]
    offset = _C.arange(n, device=self.device) - _C.arange(m, device=self.device).reshape(m, 1)
    outside = offset > diagonal if name.startswith("tril") else offset < diagonal
    return self.masked_fill_(outside, 0) if name.endswith("_") else self.masked_fill(outside, 0)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat1 @ mat2)``."""
    return _addmm(input, mat1, mat2, beta=beta, alpha=alpha, _offset=2)


def outer(input, vec2):
    return _outer(input, vec2, _offset=2)


def addcmul(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 * tensor2``."""
    return _addcmul(input, tensor1, tensor2, value=value, _offset=2)


def addcdiv(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 / tensor2``."""
    return _addcdiv(input, tensor1, tensor2, value=value, _offset=2)


def lerp(input, end, weight):
    """``input + weight * (end - input)``."""
    return _lerp(input, end, weight, _prefix=("Tensor",))


def tril(input, *args, **kwargs):
    """The lower triangle of the last two dims: elements above the ``diagonal``-th diagonal are zeroed."""
    return _triangle(input, "tril", args, kwargs, 2)


def triu(input, *args, **kwargs):
    """The upper triangle of the last two dims: elements below the ``diagonal``-th diagonal are zeroed."""
    return _triangle(input, "triu", args, kwargs, 2)


def _triangle_method(name):
    def method(self, *args, **kwargs):
        return _triangle(self, name, args, kwargs, 1)

    method.__name__ = name
    return method
