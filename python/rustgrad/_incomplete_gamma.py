"""The regularized incomplete gamma functions P(a, x) (``special.gammainc``) and Q = 1 - P
(``special.gammaincc``), as tensor-op iterations in float64: the power series of P where
x < a + 1, the continued fraction of Q (modified Lentz) elsewhere, each computed directly for the
side it converges on and the other side taken as its complement. Differentiable in x (the
gamma density), not in a (PyTorch neither)."""

from . import _C
from .autograd.function import Function
from .autograd.grad_mode import no_grad

_EPS = 1e-16
_MAX_TERMS = 2000


def _series_p(a, x):
    """P(a, x) = x^a e^-x / Gamma(a + 1) * sum_n x^n / ((a+1)...(a+n))."""
    term = _C.ones_like(a)
    total = _C.ones_like(a)
    denominator = a.clone()
    for _ in range(_MAX_TERMS):
        denominator = denominator + 1
        term = term * x / denominator
        total = total + term
        if not bool((term.abs() > _EPS * total.abs()).any()):
            break
    return (a * x.log() - x - (a + 1).lgamma()).exp() * total


def _fraction_q(a, x):
    """Q(a, x) = x^a e^-x / Gamma(a) / (x + 1 - a - 1(1-a)/(x + 3 - a - ...)), by modified Lentz."""
    tiny = 1e-300
    b = x + 1 - a
    c = _C.full_like(a, 1 / tiny)
    d = 1 / b
    h = d.clone()
    for i in range(1, _MAX_TERMS):
        an = -i * (i - a)
        b = b + 2
        d = an * d + b
        d = d.where(d.abs() >= tiny, tiny)
        c = b + an / c
        c = c.where(c.abs() >= tiny, tiny)
        d = 1 / d
        delta = d * c
        h = h * delta
        if not bool(((delta - 1).abs() > _EPS).any()):
            break
    return (a * x.log() - x - a.lgamma()).exp() * h


def _lower_regularized(a, x):
    """P(a, x) for float64 tensors of one shape, with PyTorch's values at the edges."""
    valid = (a >= 0) & (x >= 0) & ~(a.isnan() | x.isnan()) & ~((a == 0) & (x == 0))
    a_ok = a.where(valid & (a > 0), 1.0)
    x_ok = x.where(valid & (x > 0) & x.isfinite(), 1.0)
    use_series = x_ok < a_ok + 1
    p = _C.where(use_series, _series_p(a_ok.where(use_series, 1.0), x_ok.where(use_series, 0.5)),
                 1 - _fraction_q(a_ok.where(~use_series, 1.0), x_ok.where(~use_series, 3.0)))
    p = p.where(~(x == 0), 0.0).where(~(a == 0), 1.0).where(~(x == float("inf")), 1.0)
    p = p.where(~(a == float("inf")), 0.0)
    return p.where(valid, float("nan"))


def _upper_regularized(a, x):
    valid = (a >= 0) & (x >= 0) & ~(a.isnan() | x.isnan()) & ~((a == 0) & (x == 0))
    a_ok = a.where(valid & (a > 0), 1.0)
    x_ok = x.where(valid & (x > 0) & x.isfinite(), 1.0)
    use_series = x_ok < a_ok + 1
    q = _C.where(use_series, 1 - _series_p(a_ok.where(use_series, 1.0), x_ok.where(use_series, 0.5)),
                 _fraction_q(a_ok.where(~use_series, 1.0), x_ok.where(~use_series, 3.0)))
    q = q.where(~(x == 0), 1.0).where(~(a == 0), 0.0).where(~(x == float("inf")), 0.0)
    q = q.where(~(a == float("inf")), 1.0)
    return q.where(valid, float("nan"))


def _broadcast_float(a, x):
    if not isinstance(a, _C.Tensor):
        a = _C.tensor(a, dtype=x.dtype if isinstance(x, _C.Tensor) else _C.float32)
    if not isinstance(x, _C.Tensor):
        x = _C.tensor(x, dtype=a.dtype)
    dtype = _C.float64 if _C.float64 in (a.dtype, x.dtype) else _C.float32
    out_shape = (a + x).shape  # the broadcast shape
    return a.expand(out_shape).to(dtype), x.expand(out_shape).to(dtype)


class _IncompleteGamma(Function):
    @staticmethod
    def forward(ctx, a, x, upper):
        with no_grad():
            value = (_upper_regularized if upper else _lower_regularized)(a.double(), x.double())
        ctx.save_for_backward(a, x)
        ctx.upper = upper
        return value.to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        a, x = ctx.saved_tensors
        if ctx.needs_input_grad[0]:
            raise NotImplementedError(f"the derivative for '{'igammac' if ctx.upper else 'igamma'}: input' is not "
                                      "implemented.")
        density = ((a - 1) * x.log() - x - a.lgamma()).exp()
        return None, grad * (-density if ctx.upper else density), None


def gammainc(input, other, *, out=None):
    """The regularized lower incomplete gamma function P(input, other)."""
    a, x = _broadcast_float(input, other)
    result = _IncompleteGamma.apply(a, x, False)
    return result if out is None else out.copy_(result)


def gammaincc(input, other, *, out=None):
    """The regularized upper incomplete gamma function Q(input, other) = 1 - P."""
    a, x = _broadcast_float(input, other)
    result = _IncompleteGamma.apply(a, x, True)
    return result if out is None else out.copy_(result)
