"""Gamma draws with their reparameterized gradient (``torch._standard_gamma``,
``torch._standard_gamma_grad``), and the Dirichlet draws built on them (``_sample_dirichlet``).

Sampling: Marsaglia and Tsang's squeeze-rejection method on rustgrad's Philox normals and
uniforms (on the tensor's device), redrawing only the elements still rejected; ``alpha < 1`` is
boosted (``Gamma(alpha) = Gamma(alpha + 1) * U^(1/alpha)``).

Gradient (implicit reparameterization, as PyTorch's ``rsample``): a sample x with CDF
``P(alpha, x) = u`` held fixed moves with alpha as ``dx/dalpha = -(dP/dalpha) / p(x)``. We compute
that ratio without forming P:
* near the bulk (x not far above alpha), from the series ``P = sum_n x^(alpha+n) e^-x / Gamma(alpha+n+1)``:
  ``dx/dalpha = -(x/alpha) sum_n r_n (log x - digamma(alpha+n+1))`` with ``r_n`` the term ratios;
* in the upper tail, from ``Q = 1 - P`` as an integral:
  ``dx/dalpha = int_0^inf (1 + t/x)^(alpha-1) (log(x+t) - digamma(alpha)) e^-t dt``, by
  Gauss-Laguerre quadrature after scaling t to the integrand's decay rate.
Both are exact up to float64 rounding (PyTorch's own gradient is an approximation good to about
1e-3 relative, so ours and PyTorch's agree to that).
"""

import numpy as np

from . import _C
from .autograd.function import Function
from .autograd.grad_mode import no_grad

__all__ = ["_standard_gamma", "_standard_gamma_grad", "_sample_dirichlet"]

_LAGUERRE_NODES, _LAGUERRE_WEIGHTS = np.polynomial.laguerre.laggauss(64)


def _tiny(dtype):
    return float(np.finfo(np.float32 if dtype == _C.float32 else np.float64).tiny)


def _scalar_name(dtype):
    return {"int64": "Long", "bool": "Bool"}.get(str(dtype).split(".")[-1], str(dtype))


def _draw_standard_gamma(alpha, generator):
    """Gamma(alpha, 1) draws in float64 for a float64 tensor of concentrations."""
    shape, device = tuple(alpha.shape), alpha.device
    positive = alpha > 0
    boosted = alpha < 1
    a = (alpha + boosted.double()).where(positive, 1.0)
    d = a - 1.0 / 3.0
    c = 1.0 / (9.0 * d).sqrt()
    result = _C.zeros_like(alpha)
    pending = _C.ones_like(alpha).bool()
    while bool(pending.any()):
        z = _C.randn(*shape, generator=generator, dtype=_C.float64, device=device)
        u = _C.rand(*shape, generator=generator, dtype=_C.float64, device=device)
        v = (c * z + 1.0) ** 3
        log_v = v.clamp(min=1e-300).log()
        accept = pending & (v > 0) & (u.log() < 0.5 * z * z + d - d * v + d * log_v)
        result = _C.where(accept, d * v, result)
        pending = pending & ~accept
    if bool(boosted.any()):
        u = _C.rand(*shape, generator=generator, dtype=_C.float64, device=device)
        boost = (u.log() / alpha.where(boosted, 1.0)).exp()
        result = _C.where(boosted, result * boost, result)
    # As PyTorch: alpha <= 0 (and draws that underflow) give the smallest normal number.
    return result.where(positive, 0.0).where(~alpha.isnan(), alpha)


class _StandardGamma(Function):
    @staticmethod
    def forward(ctx, alpha, generator):
        sample = _draw_standard_gamma(alpha.double(), generator)
        sample = sample.clamp(min=_tiny(alpha.dtype)).to(alpha.dtype)
        ctx.save_for_backward(alpha, sample)
        return sample

    @staticmethod
    def backward(ctx, grad):
        alpha, sample = ctx.saved_tensors
        return grad * _standard_gamma_grad(alpha, sample), None


def _standard_gamma(alpha, generator=None):
    """One Gamma(alpha, 1) draw per element of ``alpha``; differentiable in ``alpha`` (implicit
    reparameterization)."""
    if not isinstance(alpha, _C.Tensor):
        raise TypeError(f"_standard_gamma(): argument 'self' (position 1) must be Tensor, not {type(alpha).__name__}")
    if not alpha.is_floating_point():
        raise NotImplementedError(f"\"gamma_cpu\" not implemented for '{_scalar_name(alpha.dtype)}'")
    return _StandardGamma.apply(alpha, generator)


def _standard_gamma_grad(alpha, sample):
    """d sample / d alpha of a Gamma(alpha, 1) draw at fixed CDF value (elementwise)."""
    with no_grad():
        a, x = alpha.double(), sample.double()
        tail = x > a + (20.0 * a).sqrt().clamp(min=10.0)
        grad = _gamma_grad_series(a.where(~tail, 1.0), x.where(~tail, 1.0))
        if bool(tail.any()):
            grad = _C.where(tail, _gamma_grad_tail(a.where(tail, 1.0), x.where(tail, 20.0)), grad)
        return grad.to(sample.dtype)


def _gamma_grad_series(a, x):
    """-(x/a) sum_n r_n (log x - digamma(a+n+1)), r_0 = 1, r_(n+1) = r_n x / (a+n+1)."""
    log_x = x.log()
    psi = (a + 1.0).digamma()
    ratio = _C.ones_like(a)
    total = log_x - psi
    n = 0
    while True:
        n += 1
        ratio = ratio * x / (a + n)
        psi = psi + 1.0 / (a + n)
        term = ratio * (log_x - psi)
        total = total + term
        # The terms decrease once a + n > x; stop when they no longer change the sum.
        if n > 5 and not bool(((term.abs() > 1e-17 * total.abs()) & (a + n < 1e6)).any()):
            break
    return -(x / a) * total


def _gamma_grad_tail(a, x):
    """The upper-tail integral by 64-point Gauss-Laguerre, with t = w / rate where rate is the
    decay of (1 + t/x)^(a-1) e^-t at t = 0."""
    rate = (1.0 - (a - 1.0).clamp(min=0.0) / x)
    psi = a.digamma()
    total = _C.zeros_like(a)
    for w, weight in zip(_LAGUERRE_NODES, _LAGUERRE_WEIGHTS):
        t = float(w) / rate
        # The integrand divided by the weight function e^-w, in log space for range.
        log_f = (a - 1.0) * (t / x).log1p() - t + float(w)
        total = total + float(weight) * log_f.exp() * ((x + t).log() - psi)
    return total / rate


def _sample_dirichlet(alpha, generator=None):
    """One Dirichlet(alpha) draw per row of the last dimension: normalized Gamma draws."""
    if not alpha.is_floating_point():
        raise NotImplementedError(f"\"dirichlet\" not implemented for '{_scalar_name(alpha.dtype)}'")
    gammas = _standard_gamma(alpha, generator)
    return gammas / gammas.sum(-1, keepdim=True)
