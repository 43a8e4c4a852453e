"""Argument checks of the functions written in Python, with PyTorch's exception types and words.

PyTorch's argument parser refuses a value of the wrong type ("sort(): argument 'descending' must be
bool, not str"); a Python function that only tests the value's truth would take any object and run
with a guess. These checks keep such arguments from being silently misread.
"""

import functools
import numbers
import warnings

import numpy as np

from . import _C
from ._C import Tensor
from ._dtype_names import scalar_name


def _where(fn, name, position):
    at = f" (position {position})" if position is not None else ""
    return f"{fn}(): argument '{name}'{at}"


def check_bool(value, fn, name, position=None):
    """``value`` as a bool; TypeError unless it is a bool (Python's or NumPy's)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{_where(fn, name, position)} must be bool, not {type(value).__name__}")


def check_float(value, fn, name, position=None):
    """``value`` as a float; TypeError unless it is a real number (bool excluded, as PyTorch)."""
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return float(value)
    raise TypeError(f"{_where(fn, name, position)} must be float, not {type(value).__name__}")


def write_out(result, out, fn, *, dtype_message=None):
    """Returns ``result``, or writes it into ``out=`` and returns ``out``, as PyTorch's out= variants
    of composite ops: the dtype must match (``dtype_message(result, out)`` words the op's error),
    values land in out's memory when the shapes agree (recorded by autograd like any copy_), else
    out takes the result's shape. A tuple result (values, indices) goes into a tuple of outs."""
    if out is None:
        return result
    if isinstance(result, tuple):
        if not isinstance(out, (tuple, list)) or len(out) != len(result):
            raise TypeError(f"{fn}(): argument 'out' must be tuple of {len(result)} Tensors, not "
                            f"{type(out).__name__}")
        return type(result)(*(write_out(r, o, fn, dtype_message=dtype_message) for r, o in zip(result, out)))
    check_tensor(out, fn, "out")
    if out.dtype != result.dtype:
        raise RuntimeError(dtype_message(result, out) if dtype_message else
                           f"Expected out tensor to have dtype {scalar_name(result.dtype).lower()}, but got "
                           f"{scalar_name(out.dtype).lower()} instead")
    if out.device != result.device:
        raise RuntimeError(f"Expected out tensor to be on device {result.device}, but got {out.device} instead")
    if tuple(out.shape) == tuple(result.shape):
        out.copy_(result)
    else:
        if out.numel() != 0:
            warnings.warn(
                f"An output with one or more elements was resized since it had shape {list(out.shape)}, which "
                f"does not match the required output shape {list(result.shape)}. This behavior is deprecated, "
                "and in a future PyTorch release outputs will not be resized unless they have zero elements. "
                "You can explicitly reuse an out tensor t by resizing it, inplace, to zero elements with "
                "t.resize_(0).", UserWarning, stacklevel=3)
        out.data = result.detach()
    return out


def with_out(fn_name):
    """Gives a function written without ``out=`` its out= variant (see ``write_out``)."""
    def wrap(fn):
        @functools.wraps(fn)
        def out_variant(*args, out=None, **kwargs):
            return write_out(fn(*args, **kwargs), out, fn_name)
        return out_variant
    return wrap


def check_tensor(value, fn, name, position=None):
    """``value`` unchanged: None or a Tensor; TypeError otherwise."""
    if value is None or isinstance(value, Tensor):
        return value
    raise TypeError(f"{_where(fn, name, position)} must be Tensor, not {type(value).__name__}")


# Required arguments of the ops written in Python (a wrong type is a TypeError, an integer beyond
# int64 a ValueError, as PyTorch's argument parser).

_INT64_MAX = 2 ** 63 - 1


def tensor_arg(fn_name, value, arg, position):
    """``value`` itself when it is a Tensor; else PyTorch's TypeError naming the argument."""
    if not isinstance(value, _C.Tensor):
        raise TypeError(f"{fn_name}(): argument '{arg}' (position {position}) must be Tensor, not "
                        f"{type(value).__name__}")
    return value


def int_arg(fn_name, value, arg, position):
    """``value`` as a Python int (an int64), else PyTorch's TypeError or overflow ValueError."""
    if isinstance(value, _C.Tensor) and value.dim() == 0 and not value.is_floating_point():
        value = value.item()
    if not isinstance(value, numbers.Integral):
        raise TypeError(f"{fn_name}(): argument '{arg}' (position {position}) must be int, not "
                        f"{type(value).__name__}")
    value = int(value)
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise ValueError("Overflow when unpacking long long")
    return value


def int_list_arg(fn_name, value, arg, position):
    """An int or a sequence of ints as a list of Python ints."""
    if isinstance(value, (tuple, list)):
        return [int_arg(fn_name, v, arg, position) for v in value]
    return [int_arg(fn_name, value, arg, position)]
