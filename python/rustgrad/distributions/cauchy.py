"""The Cauchy (Lorentz) distribution."""

import math
import numbers

from .. import _C
from .._size import Size
from . import constraints
from .distribution import Distribution
from .utils import broadcast_all

__all__ = ["Cauchy"]


class Cauchy(Distribution):
    """Cauchy(loc, scale): density ``1 / (pi scale (1 + ((x - loc) / scale)^2))``; no mean or variance."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = broadcast_all(loc, scale)
        if isinstance(loc, numbers.Number) and isinstance(scale, numbers.Number):
            batch_shape = Size()
        else:
            batch_shape = self.loc.size()
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Cauchy, _instance)
        batch_shape = Size(batch_shape)
        new.loc = self.loc.expand(batch_shape)
        new.scale = self.scale.expand(batch_shape)
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self):
        return _C.full(self._extended_shape(), math.nan, dtype=self.loc.dtype, device=self.loc.device)

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return _C.full(self._extended_shape(), math.inf, dtype=self.loc.dtype, device=self.loc.device)

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        u = _C.rand(*shape, dtype=self.loc.dtype, device=self.loc.device)
        angle = (u - 0.5) * math.pi
        return self.loc + self.scale * angle.sin() / angle.cos()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return -math.log(math.pi) - self.scale.log() - (((value - self.loc) / self.scale) ** 2).log1p()

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        return _atan(z) / math.pi + 0.5

    def icdf(self, value):
        angle = math.pi * (value - 0.5)
        return angle.sin() / angle.cos() * self.scale + self.loc

    def entropy(self):
        return math.log(4 * math.pi) + self.scale.log()


def _atan(z):
    """arctan through the half-angle identity atan(z) = 2 atan(z / (1 + sqrt(1 + z^2))), whose
    inner argument lies in (-1, 1), and the series of atan there (fast: |t| <= tan(pi/8) after
    a second halving)."""
    t = z / ((z * z + 1).sqrt() + 1)
    t = t / ((t * t + 1).sqrt() + 1)  # |t| <= tan(pi/8) ~ 0.414
    t2 = t * t
    total = _C.zeros_like(t)
    power = t
    for k in range(40):  # 0.414^80 < 1e-30
        total = total + power / (2 * k + 1) * (1 if k % 2 == 0 else -1)
        power = power * t2
    return total * 4
