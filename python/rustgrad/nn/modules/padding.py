"""Constant padding layers (thin modules over ``rustgrad.nn.functional.pad``)."""

from .. import functional as F
from .module import Module
from .utils import _quadruple

__all__ = ["ConstantPad2d", "ZeroPad2d"]


class _ConstantPadNd(Module):
    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad2d(_ConstantPadNd):
    """Pads the last two dims with ``value``: ``padding`` is an int or (left, right, top, bottom)."""

    def __init__(self, padding, value):
        super().__init__(value)
        self.padding = _quadruple(padding)


class ZeroPad2d(ConstantPad2d):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"
