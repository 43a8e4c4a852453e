"""Elementwise sampling: ``bernoulli``, ``poisson`` and the in-place fillers of Tensor
(``bernoulli_``, ``exponential_``, ``geometric_``, ``cauchy_``, ``log_normal_``, ``random_``).

Every draw is a transform of rustgrad's own Philox uniforms or normals (``rand``/``randn``
with the caller's ``generator``), made on the tensor's device: CUDA tensors are sampled by the
device's Philox kernel and the transforms run as device ops, nothing goes through the host.
Rejection samplers (Poisson) redraw only until every element has been accepted.
"""

import math
import numbers

from . import _C

__all__ = ["bernoulli", "poisson"]

_P_IN_RANGE = ("Expected p_in >= 0 && p_in <= 1 to be true, but got false.  (Could this error message be "
               "improved?  If so, please report an enhancement request to PyTorch.)")


def _scalar_name(dtype):
    return {"int64": "Long", "bool": "Bool", "float32": "Float", "float64": "Double"}.get(
        str(dtype).split(".")[-1], str(dtype))


def _uniform(shape, like, generator, dtype=None):
    return _C.rand(*shape, generator=generator, dtype=dtype or like.dtype, device=like.device)


def _check_probabilities(p):
    if bool(((p < 0) | (p > 1) | p.isnan()).any()):
        raise RuntimeError(_P_IN_RANGE)


def _draw_bernoulli(shape, probs, like, generator):
    """0/1 draws of ``like``'s dtype and device: ``U < p`` with U uniform in [0, 1)."""
    u = _uniform(shape, like, generator, dtype=_C.float64)
    return (u < probs).to(like.dtype)


def bernoulli(input, p=None, *, generator=None, out=None):
    """Draws 0 or 1 for each element: with probability ``input`` (a tensor of probabilities), or
    with the one probability ``p`` for every element of ``input``'s shape."""
    if not isinstance(input, _C.Tensor):
        raise TypeError(f"bernoulli(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if p is None:
        if not input.is_floating_point():
            raise NotImplementedError(f"\"bernoulli_tensor_cpu_p_\" not implemented for '{_scalar_name(input.dtype)}'")
        probs = input.detach().double()
        _check_probabilities(probs)
        result = _draw_bernoulli(input.shape, probs, input, generator)
    else:
        result = _C.empty_like(input)
        _bernoulli_fill(result, p, generator)
    if out is not None:
        return out.copy_(result)
    return result


def _bernoulli_fill(self, p, generator):
    if isinstance(p, _C.Tensor):
        probs = p.detach().double()
        _check_probabilities(probs)
    else:
        if not isinstance(p, numbers.Real):
            raise TypeError(f"bernoulli_() argument 'p' must be float or Tensor, not {type(p).__name__}")
        if not 0 <= p <= 1:
            raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
        probs = float(p)
    return _fill(self, _draw_bernoulli(self.shape, probs, self, generator))


def _bernoulli_method(self, p=None, *, generator=None):
    """``Tensor.bernoulli``: as ``rustgrad.bernoulli(self, p)``."""
    return bernoulli(self, p, generator=generator)


def _bernoulli_(self, p=0.5, *, generator=None):
    """Fills ``self`` with 0/1 draws of probability ``p`` (a number, or a tensor that broadcasts)."""
    return _bernoulli_fill(self, p, generator)


def _fill(self, values):
    """Writes ``values`` into ``self`` (a sampler's result: no gradient flows) and returns ``self``."""
    if self.requires_grad and self.is_leaf and _C.is_grad_enabled():
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    from .autograd.grad_mode import no_grad  # here: _tensor.py imports this module before autograd

    with no_grad():
        return self.copy_(values)


def _require_float(self, name):
    if not self.is_floating_point():
        raise NotImplementedError(f"\"{name}\" not implemented for '{_scalar_name(self.dtype)}'")


def _exponential_(self, lambd=1.0, *, generator=None):
    """Fills ``self`` with Exponential(``lambd``) draws: ``-log(1 - U) / lambd``."""
    if not self.is_floating_point():
        raise RuntimeError("Exponential distribution is a continuous probability distribution. dtype must be a "
                           f"floating point but you specified {_scalar_name(self.dtype)}")
    if not lambd > 0.0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={_fmt(lambd)}")
    u = _uniform(self.shape, self, generator, dtype=_C.float64)
    return _fill(self, -(-u).log1p() / lambd)


def _geometric_(self, p, *, generator=None):
    """Fills ``self`` with Geometric(``p``) draws on {1, 2, ...}: the trial of the first success."""
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={_fmt(p)}")
    u = _uniform(self.shape, self, generator, dtype=_C.float64)
    # ceil(log(1 - U) / log(1 - p)); U = 0 would give 0 trials, so it counts as the first.
    trials = ((-u).log1p() / math.log1p(-p)).ceil().clamp(min=1.0)
    return _fill(self, trials)


def _cauchy_(self, median=0.0, sigma=1.0, *, generator=None):
    """Fills ``self`` with Cauchy(``median``, ``sigma``) draws: ``median + sigma tan(pi (U - 1/2))``."""
    if not self.is_floating_point():
        long_name = {"Long": "long int", "Bool": "bool"}.get(_scalar_name(self.dtype), _scalar_name(self.dtype))
        raise RuntimeError("Cauchy distribution is a continuous probability distribution. dtype must be a "
                           f"floating point but you specified {long_name}")
    if not sigma > 0.0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={_fmt(sigma)}")
    u = _uniform(self.shape, self, generator, dtype=_C.float64)
    angle = (u - 0.5) * math.pi
    return _fill(self, angle.sin() / angle.cos() * sigma + median)


def _log_normal_(self, mean=1.0, std=2.0, *, generator=None):
    """Fills ``self`` with exp(Normal(``mean``, ``std``)) draws."""
    _require_float(self, "log_normal_cpu")
    if not std > 0.0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={_fmt(std)}")
    z = _C.randn(*self.shape, generator=generator, dtype=_C.float64, device=self.device)
    return _fill(self, (z * std + mean).exp())


def _random_range(dtype):
    """The default ``[0, to)`` of ``random_()``: the integers the dtype holds exactly."""
    name = str(dtype).split(".")[-1]
    return {"float32": 2 ** 24 + 1, "float64": 2 ** 53 + 1, "float16": 2 ** 11 + 1, "bfloat16": 2 ** 8 + 1,
            "bool": 2, "uint8": 2 ** 8, "int8": 2 ** 7, "int16": 2 ** 15, "int32": 2 ** 31,
            "int64": 2 ** 63 - 1}[name]


def _random_(self, from_=None, to=None, *, generator=None, **kwargs):
    """Fills ``self`` with integers drawn uniformly from ``[from, to)`` (``random_(to)``: from 0;
    ``random_()``: every integer the dtype represents exactly, from 0)."""
    if "from" in kwargs:
        from_ = kwargs.pop("from")
    if kwargs:
        raise TypeError(f"random_() got an unexpected keyword argument '{next(iter(kwargs))}'")
    if to is None and from_ is not None:
        from_, to = 0, from_  # random_(to)
    if from_ is None:
        from_ = 0
    if to is None:
        to = _random_range(self.dtype)
    for name, v in (("from", from_), ("to", to)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(f"random_(): argument '{name}' must be int, not {type(v).__name__}")
    if from_ >= to:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={from_} >= to={to}")
    draws = _C.randint(from_, to, tuple(self.shape), generator=generator, dtype=_C.int64, device=self.device)
    return _fill(self, draws)


def _fmt(v):
    """A number as PyTorch's messages print it (1.0 as 1)."""
    return f"{v:g}" if isinstance(v, float) else str(v)


# ----- Poisson ---------------------------------------------------------------------------------

# Below this rate, Knuth's product of uniforms; from it on, Hoermann's transformed rejection.
_SMALL_RATE = 10.0


def poisson(input, generator=None):
    """Draws a Poisson count for each rate of ``input``; same dtype as ``input``."""
    if not isinstance(input, _C.Tensor):
        raise TypeError(f"poisson(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if not input.is_floating_point():
        raise NotImplementedError(f"\"poisson_cpu\" not implemented for '{_scalar_name(input.dtype)}'")
    rates = input.detach().double()
    if bool(((rates < 0) | rates.isnan()).any()):
        raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
    small = rates < _SMALL_RATE
    counts = _C.zeros_like(rates)
    if bool(small.any()):
        counts = _C.where(small, _poisson_by_products(rates.where(small, 0.0), generator), counts)
    if bool((~small).any()):
        counts = _C.where(small, counts, _poisson_by_rejection(rates.where(~small, _SMALL_RATE), generator))
    return counts.to(input.dtype)


def _poisson_by_products(rates, generator):
    """Knuth: the number of uniforms whose running product stays above exp(-rate)."""
    limit = (-rates).exp()
    product = _C.ones_like(rates)
    counts = _C.zeros_like(rates)
    running = rates > 0
    while bool(running.any()):
        product = product * _uniform(rates.shape, rates, generator).where(running, 1.0)
        running = running & (product > limit)
        counts = counts + running.double()
    return counts


def _poisson_by_rejection(rates, generator):
    """Hoermann's PTRS (transformed rejection with squeeze) for rates of 10 and more."""
    slam = rates.sqrt()
    loglam = rates.log()
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    v_r = 0.9277 - 3.6224 / (b - 2)
    counts = _C.zeros_like(rates)
    pending = _C.ones_like(rates).bool()
    while bool(pending.any()):
        u = _uniform(rates.shape, rates, generator) - 0.5
        v = _uniform(rates.shape, rates, generator)
        us = 0.5 - u.abs()
        k = ((2 * a / us + b) * u + rates + 0.43).floor()
        squeeze = (us >= 0.07) & (v <= v_r)
        # The exact test, in log space; a candidate outside the support is rejected.
        lhs = (v * inv_alpha / (a / (us * us) + b)).log()
        rhs = -rates + k * loglam - (k + 1).lgamma()
        valid = (k >= 0) & ~((us < 0.013) & (v > us))
        accept = pending & (squeeze | (valid & (lhs <= rhs))) & (k >= 0)
        counts = _C.where(accept, k, counts)
        pending = pending & ~accept
    return counts
