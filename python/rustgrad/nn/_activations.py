"""Activations composed from existing elementwise ops: celu, hardshrink, softshrink, rrelu,
selu_, gumbel_softmax. Re-exported by ``nn.functional``."""

from .. import _C
from .._arg_check import check_bool
from .._dtype_names import not_implemented_for
from . import functional as F


def _require_float(input, kernel):
    if not input.is_floating_point():
        raise not_implemented_for(kernel, input.dtype)


def celu(input, alpha=1.0, inplace=False):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)): elu of x / alpha scaled back by alpha."""
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    _require_float(input, "elu_cpu")
    out = _C.elu(input / alpha, 1.0) * alpha
    # elu(x / a) * a equals x exactly where x > 0 only up to rounding: keep x itself there.
    out = _C.where(input > 0, input, out)
    return F._inplace_result(input, out) if inplace else out


def celu_(input, alpha=1.0):
    return celu(input, alpha, inplace=True)


def selu_(input):
    return F.selu(input, inplace=True)


def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, else 0."""
    _require_float(input, "hardshrink_cpu")
    return input * (input.abs() > lambd).to(input.dtype)


def softshrink(input, lambd=0.5):
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""
    if lambd < 0:
        name = F._scalar_name(input.dtype)
        limit = "1.79769e+308" if input.dtype == _C.float64 else "3.40282e+38"
        raise RuntimeError(f"lambda must be in range [0, {limit}] for input dtype {name}, but found {lambd:g}")
    _require_float(input, "softshrink_cpu")
    return input - input.clamp(-lambd, lambd)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Leaky ReLU whose negative slope is drawn uniformly from [lower, upper] per element when
    training, and is (lower + upper) / 2 otherwise."""
    training = check_bool(training, "rrelu_" if inplace else "rrelu", "training", None if inplace else 4)
    if lower > upper:
        raise RuntimeError("Lower bound should be less than or equal to the upper bound")
    _require_float(input, "leaky_relu_cpu")
    if training:
        slope = _C.rand_like(input).detach() * (upper - lower) + lower
        out = _C.where(input >= 0, input, input * slope)
    else:
        out = F.leaky_relu(input, (lower + upper) / 2)
    return F._inplace_result(input, out) if inplace else out


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return rrelu(input, lower, upper, training, inplace=True)


def gumbel_softmax(logits, tau=1, hard=False, eps=1e-10, dim=-1):
    """Softmax of (logits + Gumbel noise) / tau; with ``hard``, the one-hot of its argmax whose
    gradient is the soft sample's (straight-through)."""
    uniform = _C.rand_like(logits).detach()
    # -log(Exp(1)) is Gumbel(0, 1); Exp(1) = -log(U) with U in (0, 1].
    gumbels = -(-(1.0 - uniform).log()).log()
    y_soft = F.softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y_soft
    index = y_soft.argmax(dim, keepdim=True)
    y_hard = _C.zeros_like(logits).scatter(dim, index, 1.0)
    return y_hard - y_soft.detach() + y_soft
