"""Padding layers (thin modules over ``rustgrad.nn.functional.pad``): constant, zero, reflection,
replication and circular padding of the last 1, 2 or 3 dims."""

from .. import functional as F
from .module import Module
from .utils import _ntuple, _pair, _quadruple

__all__ = ["ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
           "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d",
           "ReplicationPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d"]

_sextuple = _ntuple(6, "_sextuple")


class _ConstantPadNd(Module):
    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pads the last dim with ``value``: ``padding`` is an int or (left, right)."""

    def __init__(self, padding, value):
        super().__init__(value)
        self.padding = _pair(padding)


class ConstantPad2d(_ConstantPadNd):
    """Pads the last two dims with ``value``: ``padding`` is an int or (left, right, top, bottom)."""

    def __init__(self, padding, value):
        super().__init__(value)
        self.padding = _quadruple(padding)


class ConstantPad3d(_ConstantPadNd):
    """Pads the last three dims with ``value``: an int or (left, right, top, bottom, front, back)."""

    def __init__(self, padding, value):
        super().__init__(value)
        self.padding = _sextuple(padding)


class ZeroPad1d(ConstantPad1d):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class _IndexedPadNd(Module):
    """Reflection / replication / circular padding of the last ``len(padding) // 2`` dims."""

    mode = None
    _ntuple = None

    def __init__(self, padding):
        super().__init__()
        self.padding = type(self)._ntuple(padding)

    def forward(self, input):
        return F.pad(input, self.padding, self.mode)

    def extra_repr(self):
        return f"{self.padding}"


class ReflectionPad1d(_IndexedPadNd):
    mode, _ntuple = "reflect", staticmethod(_pair)


class ReflectionPad2d(_IndexedPadNd):
    mode, _ntuple = "reflect", staticmethod(_quadruple)


class ReflectionPad3d(_IndexedPadNd):
    mode, _ntuple = "reflect", staticmethod(_sextuple)


class ReplicationPad1d(_IndexedPadNd):
    mode, _ntuple = "replicate", staticmethod(_pair)


class ReplicationPad2d(_IndexedPadNd):
    mode, _ntuple = "replicate", staticmethod(_quadruple)


class ReplicationPad3d(_IndexedPadNd):
    mode, _ntuple = "replicate", staticmethod(_sextuple)


class _CircularPadNd(_IndexedPadNd):
    mode = "circular"
    _dims = None

    def forward(self, input):
        d = self._dims
        if input.dim() not in (d + 1, d + 2):
            raise ValueError(f"expected {d + 1}D or {d + 2}D input (got {input.dim()}D input)")
        return F.pad(input, self.padding, "circular")


class CircularPad1d(_CircularPadNd):
    _ntuple, _dims = staticmethod(_pair), 1


class CircularPad2d(_CircularPadNd):
    _ntuple, _dims = staticmethod(_quadruple), 2


class CircularPad3d(_CircularPadNd):
    _ntuple, _dims = staticmethod(_sextuple), 3
