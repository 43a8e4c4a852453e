"""The Dirichlet distribution over the probability simplex."""

from .. import _C
from .._gamma_sampling import _standard_gamma
from .._size import Size
from .._type_info import finfo
from ..special import xlogy
from . import constraints
from .distribution import Distribution

__all__ = ["Dirichlet"]


class Dirichlet(Distribution):
    """Dirichlet(concentration): vectors on the simplex with density prop. to prod x_i^(a_i - 1).

    ``rsample`` normalizes independent Gamma(a_i) draws; its gradient is the implicit
    reparameterization gradient of those draws carried through the normalization (PyTorch
    differentiates the same sample by a different, also valid, reparameterization, so the two
    gradients of one draw need not agree)."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration, validate_args=None):
        if concentration.dim() < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        batch_shape, event_shape = concentration.shape[:-1], concentration.shape[-1:]
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Dirichlet, _instance)
        batch_shape = Size(batch_shape)
        new.concentration = self.concentration.expand(tuple(batch_shape) + tuple(self.event_shape))
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        gammas = _standard_gamma(self.concentration.expand(shape))
        draws = gammas / gammas.sum(-1, keepdim=True)
        tiny = finfo(draws.dtype).tiny
        return draws.clamp(min=tiny, max=1 - finfo(draws.dtype).eps)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        c = self.concentration
        return xlogy(c - 1.0, value).sum(-1) + c.sum(-1).lgamma() - c.lgamma().sum(-1)

    @property
    def mean(self):
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def mode(self):
        c = (self.concentration - 1).clamp(min=0.0)
        mode = c / c.sum(-1, keepdim=True)
        # Where every a_i < 1 the density peaks at the corners; PyTorch reports the first one.
        corner = (self.concentration < 1).all(dim=-1, keepdim=True).expand(mode.shape)
        first = _C.zeros_like(mode)
        first[..., 0] = 1
        mode = mode.where(~corner, first)
        return mode

    @property
    def variance(self):
        c0 = self.concentration.sum(-1, keepdim=True)
        return self.concentration * (c0 - self.concentration) / (c0.pow(2) * (c0 + 1))

    def entropy(self):
        c = self.concentration
        k = c.size(-1)
        a0 = c.sum(-1)
        return c.lgamma().sum(-1) - a0.lgamma() - (k - a0) * a0.digamma() - ((c - 1.0) * c.digamma()).sum(-1)
