"""PyTorch's legacy typed constructors: ``FloatTensor``, ``DoubleTensor``, ``HalfTensor``,
``BFloat16Tensor``, ``LongTensor``, ``IntTensor``, ``ShortTensor``, ``CharTensor``, ``ByteTensor``,
``BoolTensor``.

Each is a class only for ``isinstance`` (a CPU tensor of that dtype is an instance); calling it
builds a plain ``rustgrad.Tensor`` by ``Tensor(...)``'s rules in that dtype: sizes give a tensor of
that shape (zeros; PyTorch leaves it uninitialized), data (lists, arrays) is converted, a tensor
is returned as an alias.
"""

from . import _C

__all__ = ["FloatTensor", "DoubleTensor", "HalfTensor", "BFloat16Tensor", "LongTensor", "IntTensor",
           "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor"]


class _LegacyTensorType(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, _C.Tensor) and obj.dtype == cls.dtype and obj.device.type == "cpu"

    def __call__(cls, *args):
        return _C._legacy_new(cls.dtype, *args)


def _legacy_type(name, dtype):
    return _LegacyTensorType(name, (), {"dtype": dtype, "__module__": "rustgrad", "__doc__": (
        f"``rustgrad.{name}(*sizes)`` or ``rustgrad.{name}(data)``: a CPU tensor of dtype {dtype}.")})


FloatTensor = _legacy_type("FloatTensor", _C.float32)
DoubleTensor = _legacy_type("DoubleTensor", _C.float64)
HalfTensor = _legacy_type("HalfTensor", _C.float16)
BFloat16Tensor = _legacy_type("BFloat16Tensor", _C.bfloat16)
LongTensor = _legacy_type("LongTensor", _C.int64)
IntTensor = _legacy_type("IntTensor", _C.int32)
ShortTensor = _legacy_type("ShortTensor", _C.int16)
CharTensor = _legacy_type("CharTensor", _C.int8)
ByteTensor = _legacy_type("ByteTensor", _C.uint8)
BoolTensor = _legacy_type("BoolTensor", _C.bool)
