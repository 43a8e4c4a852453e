"""Argument checks shared by the ops written in Python, with PyTorch's exception types and messages
(its argument parser's): a wrong type is a TypeError, an integer beyond int64 a ValueError."""

import numbers

from . import _C

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
