"""``rustgrad.special``: the special functions of ``torch.special``, under its names.

The elementwise kernels (lgamma, digamma, polygamma, erf, erfc, erfinv) are ops of the unary
table (Rust, both backends, with their gradients); the rest are compositions of tensor ops, so
they are differentiable and run on every device.
"""

import math
import numbers

from . import _C
from ._arg_check import write_out
from ._incomplete_gamma import gammainc, gammaincc

__all__ = [
    "digamma", "entr", "erf", "erfc", "erfinv", "exp2", "expit", "expm1", "gammainc", "gammaincc", "gammaln", "log1p", "log_ndtr",
    "log_softmax", "logit", "logsumexp", "multigammaln", "ndtr", "ndtri", "polygamma", "psi", "round",
    "sinc", "softmax", "xlog1py", "xlogy",
]

_SQRT_HALF = math.sqrt(0.5)


def _tensor(x, like=None):
    """A number operand as a tensor (of ``like``'s float dtype and device where there is one)."""
    if isinstance(x, _C.Tensor):
        return x
    if not isinstance(x, numbers.Number):
        raise TypeError(f"expected Tensor or number, got {type(x).__name__}")
    if like is not None:
        dtype = like.dtype if like.is_floating_point() else _C.float32
        return _C.tensor(x, dtype=dtype, device=like.device)
    return _C.tensor(x)


def _floating(x):
    return x if x.is_floating_point() else x.to(_C.float32)


def gammaln(input, *, out=None):
    """ln|Gamma(x)|."""
    return write_out(input.lgamma(), out, "special_gammaln")


def digamma(input, *, out=None):
    """d/dx ln Gamma(x)."""
    return write_out(input.digamma(), out, "special_digamma")


psi = digamma


def polygamma(n, input, *, out=None):
    """The n-th derivative of digamma."""
    return write_out(input.polygamma(n), out, "special_polygamma")


def multigammaln(input, p, *, out=None):
    """The log of the multivariate gamma function of dimension ``p``."""
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    if bool((input <= (p - 1) / 2).any()):
        raise RuntimeError("All elements must be greater than (p-1)/2")
    x = _floating(input)
    shifts = _C.arange(p, dtype=x.dtype, device=x.device) * -0.5
    total = (x.unsqueeze(-1) + shifts).lgamma().sum(-1)
    return write_out(total + p * (p - 1) / 4 * math.log(math.pi), out, "special_multigammaln")


def erf(input, *, out=None):
    return write_out(input.erf(), out, "special_erf")


def erfc(input, *, out=None):
    return write_out(input.erfc(), out, "special_erfc")


def erfinv(input, *, out=None):
    return write_out(input.erfinv(), out, "special_erfinv")


def expit(input, *, out=None):
    """The logistic sigmoid."""
    return write_out(input.sigmoid(), out, "special_expit")


def exp2(input, *, out=None):
    """2 ** x."""
    return write_out(_floating(input).mul(math.log(2.0)).exp(), out, "special_exp2")


def expm1(input, *, out=None):
    return write_out(input.expm1(), out, "special_expm1")


def log1p(input, *, out=None):
    return write_out(input.log1p(), out, "special_log1p")


def logit(input, eps=None, *, out=None):
    return write_out(input.logit(eps), out, "special_logit")


def ndtr(input, *, out=None):
    """The standard normal CDF, through erfc so that the lower tail keeps its precision."""
    x = _floating(input)
    return write_out((x * -_SQRT_HALF).erfc() * 0.5, out, "special_ndtr")


def ndtri(input, *, out=None):
    """The standard normal quantile. On the smaller tail q = min(p, 1 - p): a first guess
    (sqrt(2) erfinv(2q - 1), or the asymptotic tail formula where 2q - 1 rounds to -1), then
    Newton steps on log ndtr(x) = log q, which keep full precision however small q is."""
    p = _floating(input)
    lower = p < 0.5
    inner = (p > 0) & (p < 1)
    q = _C.where(lower, p, 1 - p).where(inner, 0.25)
    guess = (q * 2 - 1).erfinv() * math.sqrt(2.0)
    log_q = q.log()
    tail = (-2 * log_q - (-2 * log_q).log() - math.log(2 * math.pi)).clamp(min=0).sqrt().neg()
    x = _C.where(q < 1e-12, tail, guess)
    for _ in range(3):
        log_cdf = log_ndtr(x)
        log_density = x * x * -0.5 - 0.5 * math.log(2 * math.pi)
        x = x - (log_cdf - log_q) * (log_cdf - log_density).exp()
    x = _C.where(lower, x, -x)
    edges = (p * 2 - 1).erfinv() * math.inf  # -inf at 0, inf at 1, NaN outside [0, 1] and at NaN
    return write_out(_C.where(inner, x, edges), out, "special_ndtri")


def log_ndtr(input, *, out=None):
    """log of the standard normal CDF: log1p(-ndtr(-x)) in the upper half, log(ndtr(x)) below,
    and the asymptotic series of Mills' ratio far in the lower tail (where ndtr underflows)."""
    x = _floating(input)
    upper = x > -1
    lower_direct = x > -35
    far = x.where(~lower_direct, -40.0)
    z = 1.0 / (far * far)
    series = (((z * 105 - 15) * z + 3) * z - 1) * z + 1
    asymptotic = far * far * -0.5 - (-far).log() - 0.5 * math.log(2 * math.pi) + series.log()
    direct = ndtr(x.where(lower_direct, 0.0)).log()
    upper_value = (-ndtr(-x.where(upper, 0.0))).log1p()
    return write_out(_C.where(upper, upper_value, _C.where(lower_direct, direct, asymptotic)), out, "special_log_ndtr")


def xlogy(input, other, *, out=None):
    """x * log(y), with 0 where x == 0 (unless y is NaN)."""
    x = _tensor(input, other if isinstance(other, _C.Tensor) else None)
    y = _tensor(other, x)
    x, y = _floating(x), _floating(y)
    product = x * y.log()
    zero = (x == 0) & ~y.isnan()
    return write_out(product.where(~zero, 0.0), out, "special_xlogy")


def xlog1py(input, other, *, out=None):
    """x * log1p(y), with 0 where x == 0 (unless y is NaN)."""
    x = _tensor(input, other if isinstance(other, _C.Tensor) else None)
    y = _tensor(other, x)
    x, y = _floating(x), _floating(y)
    product = x * y.log1p()
    zero = (x == 0) & ~y.isnan()
    return write_out(product.where(~zero, 0.0), out, "special_xlog1py")


def entr(input, *, out=None):
    """-x log x for x > 0, 0 at 0, -inf for x < 0 (NaN stays NaN)."""
    x = _floating(input)
    positive = x > 0
    value = -x * x.where(positive, 1.0).log()
    value = value.where(positive, 0.0)
    value = value.where(~(x < 0), -math.inf)
    return write_out(value.where(~x.isnan(), x), out, "special_entr")


def sinc(input, *, out=None):
    """sin(pi x) / (pi x), 1 at 0."""
    x = _floating(input)
    zero = x == 0
    angle = x.where(~zero, 1.0) * math.pi
    return write_out((angle.sin() / angle).where(~zero, 1.0), out, "special_sinc")


def round(input, *, decimals=0, out=None):  # noqa: A001 (torch.special's name)
    if decimals == 0:
        return write_out(input.round(), out, "special_round")
    scale = 10.0 ** decimals
    return write_out((input * scale).round() / scale, out, "special_round")


def softmax(input, dim, *, dtype=None):
    return input.softmax(dim, dtype=dtype) if dtype is not None else input.softmax(dim)


def log_softmax(input, dim, *, dtype=None):
    return input.log_softmax(dim, dtype=dtype) if dtype is not None else input.log_softmax(dim)


def logsumexp(input, dim, keepdim=False, *, out=None):
    return write_out(input.logsumexp(dim, keepdim), out, "special_logsumexp")
