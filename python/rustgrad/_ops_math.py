"""Elementwise math composed from rustgrad's core ops (autograd and the devices come from the ops
they use): atan2, copysign, signbit, deg2rad/rad2deg, logaddexp2, float_power, fmax/fmin,
heaviside, gcd/lcm, the bitwise ops, nan_to_num, sinc, ldexp, isposinf/isneginf/isreal, and the
in-place variants and PyTorch's aliases of the elementwise ops (``arcsin``, ``multiply``, ``greater``...).
``METHODS`` is what python/rustgrad/_tensor.py attaches to Tensor.
"""

import math
import numbers

import numpy as np

from . import _C
from ._arg_check import with_out
from ._dtype_names import scalar_name
from .autograd.function import Function

Tensor = _C.Tensor


def _as_tensor(value, like):
    """A Python number as a 0-dim tensor on ``like``'s device (its dtype follows PyTorch's scalar rules)."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, bool):
        return _C.tensor(value, device=like.device)
    if isinstance(value, numbers.Integral):
        return _C.tensor(int(value), dtype=like.dtype if not like.dtype == _C.bool else _C.int64, device=like.device)
    if isinstance(value, numbers.Real):
        dtype = like.dtype if like.is_floating_point() else _C.float32
        return _C.tensor(float(value), dtype=dtype, device=like.device)
    raise TypeError(f"expected Tensor or Number, but got {type(value).__name__}")


def _float(x):
    """``x`` itself when floating point, else in the default float dtype (as PyTorch's float ops do)."""
    return x if x.is_floating_point() else x.to(_C.float32)


def _require_tensor(fn_name, value, arg="input"):
    if not isinstance(value, Tensor):
        position = 1 if arg == "input" else 2
        raise TypeError(f"{fn_name}(): argument '{arg}' (position {position}) must be Tensor, not "
                        f"{type(value).__name__}")


def _promote_float(a, b):
    """Both operands in their common floating dtype (float64 if either is float64)."""
    a, b = _float(a), _float(b)
    if a.dtype != b.dtype:
        dtype = _C.float64 if _C.float64 in (a.dtype, b.dtype) else _C.float32
        a, b = a.to(dtype), b.to(dtype)
    return a, b


# ----- two-operand float functions ----------------------------------------------------------------

@with_out("atan2")
def atan2(input, other, *, out=None):
    """The angle of the point (other, input), in (-pi, pi]; its gradient is (x, -y) / (x^2 + y^2)."""
    _require_tensor("atan2", input)
    y, x = _promote_float(input, _as_tensor(other, input))
    # atan(y / x) with a safe denominator, so that the unused branch at x == 0 has finite gradients.
    x_zero = x == 0
    safe_x = _C.where(x_zero, _C.ones_like(x), x)
    base = (y / safe_x).atan()
    # The constants in y's dtype (a Python float in ``where`` would round them to float32).
    pi = _C.full_like(y, math.pi)
    half_turn = _C.where(signbit(y), -pi, pi)
    left = _C.where(x < 0, base + half_turn, base)
    quarter = _C.where(y > 0, pi * 0.5, pi * -0.5)
    on_axis = _C.where(y == 0, _C.where(signbit(x), half_turn, y * 0), quarter)
    # At x == 0 the value is +-pi/2, and the gradient comes from y / (x^2 + y^2) = 1 / y through atan.
    # (Subtracting a +0 keeps the sign of a zero angle: atan2(-0.0, 0.0) is -0.0.)
    slope = _C.where(y == 0, 0.0, -1.0 / _C.where(y == 0, 1.0, y))
    at_zero = on_axis - (x.detach() - x) * slope
    return _C.where(x_zero, at_zero, left)


@with_out("signbit")
def signbit(input, *, out=None):
    """True where the sign bit is set: negative numbers, -0.0 and -inf (bool result)."""
    _require_tensor("signbit", input)
    if not input.is_floating_point():
        return input < 0
    return (input < 0) | ((input == 0) & ((1.0 / input) < 0))


@with_out("copysign")
def copysign(input, other, *, out=None):
    """|input| with the sign of ``other`` (float result)."""
    _require_tensor("copysign", input)
    x, o = _promote_float(input, _as_tensor(other, input))
    negative = signbit(o.detach())
    # ``other`` gets a zero gradient (not None), as in PyTorch: a +0 term linked to it, kept away from
    # its infinities and NaNs (x - +0 is x, signed zeros included).
    zero_link = _C.where(o.isfinite(), o, _C.zeros_like(o)).abs() * 0
    return _C.where(negative, -x.abs(), x.abs()) - zero_link


@with_out("deg2rad")
def deg2rad(input, *, out=None):
    return _float(input) * (math.pi / 180.0)


@with_out("rad2deg")
def rad2deg(input, *, out=None):
    return _float(input) * (180.0 / math.pi)


@with_out("logaddexp2")
def logaddexp2(input, other, *, out=None):
    """log2(2^input + 2^other), through logaddexp of the natural-log scaled operands."""
    _require_tensor("logaddexp2", input)
    if not isinstance(other, Tensor):
        raise TypeError(f"logaddexp2(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}")
    x, o = _promote_float(input, other)
    return (x * math.log(2.0)).logaddexp(o * math.log(2.0)) / math.log(2.0)


@with_out("float_power")
def float_power(input, exponent, *, out=None):
    """``input ** exponent`` computed in float64 (PyTorch's double-precision power)."""
    if not isinstance(input, Tensor):
        return _as_tensor(exponent, exponent).to(_C.float64).__rpow__(float(input))
    base = input.to(_C.float64)
    if isinstance(exponent, Tensor):
        return base.pow(exponent.to(_C.float64))
    return base.pow(float(exponent))


def _float_power_(self, exponent):
    if self.dtype != _C.float64:
        raise RuntimeError(f"the base given to float_power_ has dtype {scalar_name(self.dtype)} but the "
                           "operation's result requires dtype Double")
    return self.copy_(float_power(self, exponent))


def _nan_aware_pick(input, other, keep_input):
    """``input`` where ``keep_input`` or ``other`` is NaN, else ``other``. The gradient follows the pick,
    and is shared half and half at finite ties, as PyTorch's."""
    picked = _C.where(keep_input | other.isnan(), input, other)
    if not picked.is_floating_point():
        return picked
    tie = (input == other) & input.isfinite()
    # At a tie both differences below are exactly +0, so the value stays ``input`` (its sign of zero
    # too: x - +0 is x), and each side gets half the gradient.
    shared = input - (input - input.detach()) * 0.5 - (other.detach() - other) * 0.5
    return _C.where(tie, shared, picked)


@with_out("fmax")
def fmax(input, other, *, out=None):
    """Elementwise maximum that ignores NaN (NaN only where both are NaN)."""
    _require_tensor("fmax", input)
    _require_tensor("fmax", other, "other")
    return _nan_aware_pick(input, other, input >= other)


@with_out("fmin")
def fmin(input, other, *, out=None):
    """Elementwise minimum that ignores NaN (NaN only where both are NaN)."""
    _require_tensor("fmin", input)
    _require_tensor("fmin", other, "other")
    return _nan_aware_pick(input, other, input <= other)


@with_out("heaviside")
def heaviside(input, values, *, out=None):
    """0 where input < 0, ``values`` where input == 0, 1 where input > 0."""
    _require_tensor("heaviside", input)
    if not isinstance(values, Tensor):
        raise TypeError(f"heaviside(): argument 'values' (position 2) must be Tensor, not {type(values).__name__}")
    if input.dtype != values.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes.")
    return _Heaviside.apply(input, values)


class _Heaviside(Function):
    """The step function: its result joins the graph, and a backward through it raises, as in PyTorch."""

    @staticmethod
    def forward(ctx, input, values):
        return _C.where(input == 0, values, (input > 0).to(input.dtype))

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("derivative for aten::heaviside is not implemented")


def _require_integral(kernel_name, *tensors):
    """PyTorch's refusal of float operands by its integer-only kernels (``kernel_name`` is the kernel's)."""
    for t in tensors:
        if t.is_floating_point():
            raise NotImplementedError(f'"{kernel_name}_cpu" not implemented for \'{scalar_name(t.dtype)}\'')


@with_out("gcd")
def gcd(input, other, *, out=None):
    """Greatest common divisor of integers (non-negative; gcd(0, 0) = 0), by Euclid's algorithm."""
    _require_tensor("gcd", input)
    other = _as_tensor(other, input)
    _require_integral("gcd", input, other)
    a, b = input.abs(), other.abs()
    a, b = a + b * 0, b + a * 0  # broadcast both to the common shape
    while bool((b != 0).any()):
        nonzero = b != 0
        safe_b = _C.where(nonzero, b, _C.ones_like(b))
        a, b = _C.where(nonzero, b, a), _C.where(nonzero, a.remainder(safe_b), b)
    return a


@with_out("lcm")
def lcm(input, other, *, out=None):
    """Least common multiple of integers (non-negative; 0 where either is 0)."""
    _require_tensor("lcm", input)
    other = _as_tensor(other, input)
    _require_integral("lcm", input, other)
    g = gcd(input, other)
    safe_g = _C.where(g == 0, _C.ones_like(g), g)
    return (input.floor_divide(safe_g) * other).abs()


@with_out("ldexp")
def ldexp(input, other, *, out=None):
    """``input * 2 ** other`` (float result)."""
    _require_tensor("ldexp", input)
    other = _as_tensor(other, input)
    return _float(input) * _float(other).exp2()


@with_out("sinc")
def sinc(input, *, out=None):
    """sin(pi x) / (pi x), 1 at 0 (float result)."""
    x = _float(input)
    zero = x == 0
    px = _C.where(zero, _C.ones_like(x), x) * math.pi
    return _C.where(zero, _C.ones_like(x), px.sin() / px)


@with_out("nan_to_num")
def nan_to_num(input, nan=0.0, posinf=None, neginf=None, *, out=None):
    """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (the dtype's largest and
    lowest finite values by default)."""
    _require_tensor("nan_to_num", input)
    if not input.is_floating_point():
        return input.clone()
    info = np.finfo(np.float64 if input.dtype == _C.float64 else np.float32)
    posinf = float(info.max) if posinf is None else float(posinf)
    neginf = float(info.min) if neginf is None else float(neginf)
    nan = 0.0 if nan is None else float(nan)
    x = _C.where(input.isnan(), nan, input)
    x = _C.where(input == math.inf, posinf, x)
    return _C.where(input == -math.inf, neginf, x).to(input.dtype)


@with_out("isposinf")
def isposinf(input, *, out=None):
    _require_tensor("isposinf", input)
    return input == math.inf if input.is_floating_point() else _C.zeros_like(input, dtype=_C.bool)


@with_out("isneginf")
def isneginf(input, *, out=None):
    _require_tensor("isneginf", input)
    return input == -math.inf if input.is_floating_point() else _C.zeros_like(input, dtype=_C.bool)


def isreal(input):
    """True everywhere: rustgrad has no complex dtypes."""
    _require_tensor("isreal", input)
    return _C.ones_like(input, dtype=_C.bool)


def positive(input):
    _require_tensor("positive", input)
    if input.dtype == _C.bool:
        raise NotImplementedError("The `+` operator, on a bool tensor is not supported.")
    return input


@with_out("sgn")
def sgn(input, *, out=None):
    """The sign (for real tensors ``sign``)."""
    return input.sign()


# ----- bitwise ops --------------------------------------------------------------------------------

def _bitwise(fn_name, kernel_name, np_fn, logical):
    """A bitwise op of integer or bool tensors: bool operands go through the logical op; integers are
    computed exactly on the host (there is no integer bitwise kernel yet) and moved back."""

    @with_out(fn_name)
    def op(input, other, *, out=None):
        _require_tensor(fn_name, input)
        other_t = _as_tensor(other, input)
        _require_integral(kernel_name, input, other_t)
        if logical is not None and input.dtype == _C.bool and other_t.dtype == _C.bool:
            return getattr(input, logical)(other_t)
        a = input.detach().cpu().numpy().astype(np.int64)
        b = other_t.detach().cpu().numpy().astype(np.int64)
        # Computed in int64, then stored in PyTorch's result dtype (wrapping as its kernels do).
        dtype = _C.result_type(input, other)
        return _C.from_numpy(np.ascontiguousarray(np_fn(a, b))).to(device=input.device, dtype=dtype)

    op.__name__ = fn_name
    return op


def _shift(np_fn):
    def shift(a, b):
        # Shifts by 64 or more give 0 (left) or the sign (right), as PyTorch's kernels do.
        big = (b >= 64) | (b < 0)
        shifted = np_fn(a, np.where(big, 0, b))
        fill = np.zeros_like(a) if np_fn is np.left_shift else np.where(a < 0, -1, 0)
        return np.where(big, fill, shifted)

    return shift


bitwise_and = _bitwise("bitwise_and", "bitwise_and", np.bitwise_and, "logical_and")
bitwise_or = _bitwise("bitwise_or", "bitwise_or", np.bitwise_or, "logical_or")
bitwise_xor = _bitwise("bitwise_xor", "bitwise_xor", np.bitwise_xor, "logical_xor")
bitwise_left_shift = _bitwise("bitwise_left_shift", "lshift", _shift(np.left_shift), None)
bitwise_right_shift = _bitwise("bitwise_right_shift", "rshift", _shift(np.right_shift), None)


@with_out("bitwise_not")
def bitwise_not(input, *, out=None):
    _require_tensor("bitwise_not", input)
    _require_integral("bitwise_not", input)
    if input.dtype == _C.bool:
        return input.logical_not()
    return -input - 1  # two's complement: ~x == -x - 1


# ----- helpers for the tables ---------------------------------------------------------------------

def _inplace(fn, name):
    """``x.name_(...)``: the op's result written into ``x``; PyTorch refuses a result dtype that
    ``x`` cannot hold (a float result into an integer tensor)."""

    def method(self, *args, **kwargs):
        result = fn(self, *args, **kwargs)
        if not isinstance(result, Tensor):  # a comparison handed NotImplemented back
            kinds = ", ".join(type(a).__name__ for a in args)
            raise TypeError(f"{name}_() received an invalid combination of arguments - got ({kinds})")
        if result.is_floating_point() and not self.is_floating_point():
            raise RuntimeError(f"result type {scalar_name(result.dtype)} can't be cast to the desired output "
                               f"type {scalar_name(self.dtype)}")
        if tuple(result.shape) != tuple(self.shape):
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                               f"{list(result.shape)}")
        return self.copy_(result)

    method.__name__ = name + "_"
    return method


def _method_of(name):
    def method(self, *args, **kwargs):
        return getattr(self, name)(*args, **kwargs)

    method.__name__ = name
    return method


# Functions that are also ``rustgrad.<name>`` (exported by __init__.py).
FUNCTIONS = {
    "atan2": atan2, "arctan2": atan2, "signbit": signbit, "copysign": copysign, "deg2rad": deg2rad,
    "rad2deg": rad2deg, "logaddexp2": logaddexp2, "float_power": float_power, "fmax": fmax, "fmin": fmin,
    "heaviside": heaviside, "gcd": gcd, "lcm": lcm, "ldexp": ldexp, "sinc": sinc, "nan_to_num": nan_to_num,
    "isposinf": isposinf, "isneginf": isneginf, "isreal": isreal, "positive": positive, "sgn": sgn,
    "bitwise_and": bitwise_and, "bitwise_or": bitwise_or, "bitwise_xor": bitwise_xor, "bitwise_not": bitwise_not,
    "bitwise_left_shift": bitwise_left_shift, "bitwise_right_shift": bitwise_right_shift,
}

# PyTorch's other names for existing ops (method and function alike).
ALIASES = {
    "absolute": "abs", "arccos": "acos", "arcsin": "asin", "arctan": "atan", "arccosh": "acosh",
    "arcsinh": "asinh", "arctanh": "atanh", "multiply": "mul", "divide": "div", "subtract": "sub",
    "greater": "gt", "greater_equal": "ge", "less": "lt", "less_equal": "le", "not_equal": "ne",
    "fix": "trunc", "swapdims": "swapaxes",
}

# Ops whose in-place variant ``x.<name>_(...)`` writes the result into ``x``.
INPLACE = [
    "acos", "asin", "atan", "cos", "sin", "tan", "cosh", "sinh", "acosh", "asinh", "atanh", "exp2", "log",
    "log2", "log10", "log1p", "expm1", "erf", "ceil", "floor", "round", "trunc", "fix", "reciprocal", "rsqrt",
    "sign", "sgn", "square", "deg2rad", "rad2deg", "atan2", "copysign", "ldexp", "heaviside", "gcd", "lcm",
    "nan_to_num", "sinc", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_left_shift",
    "bitwise_right_shift", "logical_and", "logical_or", "logical_xor", "logical_not", "eq", "ne", "lt", "le",
    "gt", "ge", "remainder", "floor_divide", "true_divide", "clamp_min", "clamp_max", "arccos", "arcsin",
    "arctan", "arccosh", "arcsinh", "arctanh", "arctan2", "absolute", "multiply", "divide", "subtract",
    "greater", "greater_equal", "less", "less_equal", "not_equal", "negative", "clip", "cumsum",
]


def _build_methods():
    methods = {name: fn for name, fn in FUNCTIONS.items()}
    for alias, target in ALIASES.items():
        methods[alias] = _method_of(target)
    methods["float_power_"] = _float_power_
    for name in INPLACE:
        methods[name + "_"] = _inplace(_method_of(name), name)
    return methods


METHODS = _build_methods()
