"""``rustgrad.finfo`` / ``rustgrad.iinfo``: the numerical limits of the floating-point and integer
dtypes, with PyTorch's attributes, values and repr."""

import builtins

from . import _C
from ._dtype_names import name as dtype_name

__all__ = ["finfo", "iinfo"]

# bits, eps, max, tiny (= smallest_normal), resolution: IEEE-754 binary16, binary32, binary64 and
# bfloat16 (binary32's exponent with 8 significand bits).
_FLOAT_INFO = {
    "float16": (16, 2.0 ** -10, (2.0 - 2.0 ** -10) * 2.0 ** 15, 2.0 ** -14, 0.001),
    "bfloat16": (16, 2.0 ** -7, (2.0 - 2.0 ** -7) * 2.0 ** 127, 2.0 ** -126, 0.01),
    "float32": (32, 2.0 ** -23, (2.0 - 2.0 ** -23) * 2.0 ** 127, 2.0 ** -126, 1e-06),
    "float64": (64, 2.0 ** -52, (2.0 - 2.0 ** -52) * 2.0 ** 1023, 2.0 ** -1022, 1e-15),
}
_INT_INFO = {
    "uint8": (8, 0, 2 ** 8 - 1),
    "int8": (8, -(2 ** 7), 2 ** 7 - 1),
    "int16": (16, -(2 ** 15), 2 ** 15 - 1),
    "int32": (32, -(2 ** 31), 2 ** 31 - 1),
    "int64": (64, -(2 ** 63), 2 ** 63 - 1),
}


def _check_dtype(fn, type):
    if not isinstance(type, _C.dtype):
        raise TypeError(f"{fn}(): argument 'type' (position 1) must be rustgrad.dtype, not "
                        f"{builtins.type(type).__name__}")



class finfo:
    """Machine limits of a floating-point dtype (default: ``rustgrad.float32``).

    Attributes: ``bits``, ``eps``, ``max``, ``min``, ``tiny`` (= ``smallest_normal``),
    ``resolution`` and ``dtype`` (the dtype's name, as PyTorch gives it).
    """

    def __init__(self, type=None):
        if type is None:
            type = _C.get_default_dtype()
        _check_dtype("finfo", type)
        name = dtype_name(type)
        if name not in _FLOAT_INFO:
            raise TypeError("rustgrad.finfo() requires a floating point input type. Use rustgrad.iinfo to handle "
                            "'rustgrad.finfo'")
        self.bits, self.eps, self.max, self.tiny, self.resolution = _FLOAT_INFO[name]
        self.min = -self.max
        self.smallest_normal = self.tiny
        self.dtype = name

    def __eq__(self, other):
        return isinstance(other, finfo) and self.dtype == other.dtype

    def __hash__(self):
        return hash(("finfo", self.dtype))

    def __repr__(self):
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
                f"smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, dtype={self.dtype})")

    __str__ = __repr__


class iinfo:
    """Limits of an integer dtype: ``bits``, ``min``, ``max`` and ``dtype`` (the name).

    """

    def __init__(self, type):
        _check_dtype("iinfo", type)
        name = dtype_name(type)
        if name == "bool":
            raise TypeError("rustgrad.bool is not supported by rustgrad.iinfo")
        if name not in _INT_INFO:
            raise TypeError("rustgrad.iinfo() requires an integer input type. Use rustgrad.finfo to handle "
                            "'rustgrad.iinfo'")
        self.bits, self.min, self.max = _INT_INFO[name]
        self.dtype = name

    def __eq__(self, other):
        return isinstance(other, iinfo) and self.dtype == other.dtype

    def __hash__(self):
        return hash(("iinfo", self.dtype))

    def __repr__(self):
        return f"iinfo(min={float(self.min):g}, max={float(self.max):g}, dtype={self.dtype})"

    __str__ = __repr__
