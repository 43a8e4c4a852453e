"""The in-place samplers ``exponential_``, ``cauchy_``, ``log_normal_``, ``geometric_`` and
``random_``: each draws uniforms (or normals) from the generator and maps them through the
distribution's inverse CDF, as PyTorch's kernels do (the streams differ from PyTorch's).
``METHODS`` is what python/rustgrad/_tensor.py attaches."""

import math

from . import _C

Tensor = _C.Tensor


class _no_grad:
    def __enter__(self):
        self.prev = _C._set_grad_enabled(False)

    def __exit__(self, *exc):
        _C._set_grad_enabled(self.prev)


def _uniform(self, generator):
    """Uniforms in [0, 1) of ``self``'s shape, in its dtype (float32 for an integer tensor)."""
    dtype = self.dtype if self.is_floating_point() else _C.float64
    return _C.empty(*self.shape, dtype=dtype, device=self.device).uniform_(generator=generator)


def _fill(self, values):
    with _no_grad():
        self.copy_(values)
    return self


def _exponential_(self, lambd=1.0, *, generator=None):
    if not lambd > 0.0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd:g}")
    u = _uniform(self, generator)
    return _fill(self, -(-u).log1p() / lambd)


def _cauchy_(self, median=0.0, sigma=1.0, *, generator=None):
    if not sigma > 0.0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma:g}")
    u = _uniform(self, generator)
    return _fill(self, ((u - 0.5) * math.pi).tan() * sigma + median)


def _log_normal_(self, mean=1.0, std=2.0, *, generator=None):
    if not std > 0.0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std:g}")
    z = _C.empty(*self.shape, dtype=self.dtype, device=self.device).normal_(mean, std, generator=generator)
    return _fill(self, z.exp())


def _geometric_(self, p, *, generator=None):
    if not 0.0 < p < 1.0:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p:g}")
    u = _uniform(self, generator)
    # The number of Bernoulli(p) trials up to the first success: ceil(log(1 - u) / log(1 - p)), at least 1.
    return _fill(self, ((-u).log1p() / math.log1p(-p)).ceil().clamp(min=1.0))


def _default_top(dtype):
    """The exclusive top of ``random_()`` without bounds: every integer the dtype holds exactly."""
    if dtype == _C.float32:
        return 2 ** 24 + 1
    if dtype == _C.float64:
        return 2 ** 53 + 1
    if dtype == _C.bool:
        return 2
    return 2 ** 63 - 1


def _random_(self, *args, generator=None, **kwargs):
    """Integers uniform in [from, to) (``random_(to)``: [0, to); ``random_()``: [0, the dtype's top])."""
    names = ("from", "to")
    if len(args) > 2:
        raise TypeError(f"random_() takes at most 2 positional arguments ({len(args)} given)")
    bounds = dict(zip(names, args if len(args) != 1 else (0, args[0])))
    for key in list(kwargs):
        if key not in names:
            raise TypeError(f"random_() got an unexpected keyword argument '{key}'")
        bounds[key] = kwargs.pop(key)
    low = int(bounds.get("from", 0))
    high = bounds.get("to")
    high = _default_top(self.dtype) if high is None else int(high)
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    u = _C.empty(*self.shape, dtype=_C.float64, device=self.device).uniform_(generator=generator)
    draws = (u * float(high - low)).floor() + float(low)
    return _fill(self, draws.to(self.dtype))


METHODS = {
    "exponential_": _exponential_,
    "cauchy_": _cauchy_,
    "log_normal_": _log_normal_,
    "geometric_": _geometric_,
    "random_": _random_,
}
