"""PyTorch's legacy typed constructors: ``FloatTensor``, ``DoubleTensor``, ``LongTensor``,
``IntTensor``, ``BoolTensor``.

Each is a class only for ``isinstance`` (a CPU tensor of that dtype is an instance); calling it
builds a plain ``rustgrad.Tensor`` by ``Tensor(...)``'s rules in that dtype: sizes give a tensor of
that shape (zeros; PyTorch leaves it uninitialized), data (lists, arrays) is converted, a tensor
is returned as an alias. ``IntTensor`` is int64 here, as ``rustgrad.int32`` is.
"""

from . import _C

__all__ = ["FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor"]


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
LongTensor = _legacy_type("LongTensor", _C.int64)
IntTensor = _legacy_type("IntTensor", _C.int64)
BoolTensor = _legacy_type("BoolTensor", _C.bool)
