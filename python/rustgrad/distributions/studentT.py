"""Student's t distribution."""

import math
import numbers

from .. import _C
from .._gamma_sampling import _standard_gamma
from .._size import Size
from . import constraints
from .distribution import Distribution
from .utils import broadcast_all

__all__ = ["StudentT"]


class StudentT(Distribution):
    """StudentT(df, loc, scale): ``loc + scale * Z / sqrt(V / df)`` with Z standard normal and V
    chi-squared with ``df`` degrees of freedom."""

    arg_constraints = {"df": constraints.positive, "loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, df, loc=0.0, scale=1.0, validate_args=None):
        self.df, self.loc, self.scale = broadcast_all(df, loc, scale)
        if all(isinstance(v, numbers.Number) for v in (df, loc, scale)):
            batch_shape = Size()
        else:
            batch_shape = self.df.size()
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(StudentT, _instance)
        batch_shape = Size(batch_shape)
        new.df = self.df.expand(batch_shape)
        new.loc = self.loc.expand(batch_shape)
        new.scale = self.scale.expand(batch_shape)
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self):
        return self.loc.masked_fill(self.df <= 1, math.nan)

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        df = self.df
        v = self.scale.pow(2) * df / (df - 2)
        v = v.masked_fill((df <= 2) & (df > 1), math.inf)
        return v.masked_fill(df <= 1, math.nan)

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        z = _C.randn(*shape, dtype=self.df.dtype, device=self.df.device)
        # V / df with V ~ chi2(df) = 2 Gamma(df / 2): differentiable in df through the gamma draw.
        chi2_over_df = _standard_gamma((0.5 * self.df).expand(shape)) * 2 / self.df
        return self.loc + self.scale * z * chi2_over_df.rsqrt()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        y = (value - self.loc) / self.scale
        z = self.scale.log() + 0.5 * self.df.log() + 0.5 * math.log(math.pi) + (0.5 * self.df).lgamma() \
            - (0.5 * (self.df + 1.0)).lgamma()
        return -0.5 * (self.df + 1.0) * (y.pow(2) / self.df).log1p() - z

    def entropy(self):
        half_df = 0.5 * self.df
        half_next = 0.5 * (self.df + 1)
        log_beta = half_df.lgamma() + 0.5 * math.log(math.pi) - half_next.lgamma()  # log B(df/2, 1/2)
        return self.scale.log() + half_next * (half_next.digamma() - half_df.digamma()) \
            + 0.5 * self.df.log() + log_beta
