"""rustgrad: eager deep learning with a Rust core and PyTorch's Python API.

Change ``import torch`` to ``import rustgrad`` and a training script runs: tensors, autograd,
``nn``, ``optim``, ``utils.data``, checkpoints, on the CPU or an NVIDIA GPU.
"""

from . import _C
from ._C import (
    Generator,
    Tensor,
    arange,
    as_tensor,
    cat,
    device,
    dtype,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    get_num_threads,
    initial_seed,
    is_grad_enabled,
    isclose,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    set_num_threads,
    stack,
    tensor,
    where,
    zeros,
    zeros_like,
)
from ._C import bool, float32, float64, int64  # noqa: A004 (PyTorch's names)
from ._C import layout, strided
# dtypes: the storage dtypes, their aliases, promotion and the default dtype.
from ._C import bfloat16, float16, int8, int16, int32, uint8  # noqa: F401
from ._C import can_cast, get_default_dtype, promote_types, result_type, set_default_dtype  # noqa: F401
from ._legacy import BFloat16Tensor, ByteTensor, CharTensor, HalfTensor, ShortTensor  # noqa: F401
half = float16
short = int16
int = int32  # noqa: A001
from ._size import Size
from . import _tensor  # noqa: F401  (attaches the Tensor methods written in Python)
from ._ops_arith import addcdiv, addcmul, addmm, lerp, outer, tril, triu
from ._ops_extra import (  # noqa: F401
    addbmm, baddbmm, cartesian_prod, cdist, count_nonzero, diag, diag_embed, diagonal, einsum, fmod, frac, hypot,
    kron, logaddexp, logit, meshgrid, nanmean, nansum, repeat_interleave, roll, tensordot, trace,
)
from ._ops_sort import (  # noqa: F401
    kthvalue, median, mode, moveaxis, movedim, msort, nanmedian, nanquantile, quantile,
)
from ._ops_search import (  # noqa: F401
    bincount, bucketize, histc, searchsorted, unique, unique_consecutive,
)
from ._legacy import BoolTensor, DoubleTensor, FloatTensor, IntTensor, LongTensor
from ._sampling import multinomial
# sampling and special functions (issue 16)
from ._sampling_elementwise import bernoulli, poisson
from ._gamma_sampling import _sample_dirichlet, _standard_gamma, _standard_gamma_grad


def polygamma(n, input, *, out=None):
    """The n-th derivative of the digamma function, elementwise (``input.polygamma(n)``)."""
    return special.polygamma(n, input, out=out)


def xlogy(input, other, *, out=None):
    """``input * log(other)``, 0 where ``input`` is 0 (``rustgrad.special.xlogy``)."""
    return special.xlogy(input, other, out=out)


def mvlgamma(input, p, *, out=None):
    """The multivariate log-gamma function (``rustgrad.special.multigammaln``)."""
    return special.multigammaln(input, p, out=out)


from ._tensor_str import set_printoptions
from ._type_info import finfo, iinfo
# optim: memory formats and the complex/sparse queries PyTorch's optimizers use
from ._memory_format import channels_last, channels_last_3d, contiguous_format, memory_format, preserve_format
from ._tensor import is_complex
from .autograd import enable_grad, inference_mode, no_grad, set_grad_enabled

float = float32  # noqa: A001
double = float64
long = int64

__version__ = "0.1.0"


def manual_seed(seed):
    """Seeds the default random generator (all devices share it)."""
    import builtins

    seed = builtins.int(seed)
    _C.manual_seed(seed)
    return _default_generator


def seed():
    import time

    s = time.time_ns() & ((1 << 63) - 1)
    _C.manual_seed(s)
    return s


def get_rng_state():
    return tensor(list(_C._get_rng_state()), dtype=int64)


def set_rng_state(state):
    seed_, offset = state.tolist()
    _C._set_rng_state((seed_, offset))


class _DefaultGenerator:
    """The default generator as an object (``rustgrad.default_generator``)."""

    def manual_seed(self, s):
        _C.manual_seed(s)
        return self

    def initial_seed(self):
        return _C.initial_seed()

    def get_state(self):
        return get_rng_state()

    def set_state(self, state):
        set_rng_state(state)


_default_generator = default_generator = _DefaultGenerator()


def is_tensor(obj):
    return isinstance(obj, Tensor)


def is_floating_point(input):
    return input.is_floating_point()


def numel(input):
    return input.numel()


def concat(tensors, dim=0):
    return cat(tensors, dim)


concatenate = concat


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return input.allclose(other, rtol, atol, equal_nan)


def equal(input, other):
    return input.equal(other)


def clone(input, *, memory_format=None):
    return input.clone(memory_format=memory_format)


def max(input, *args, **kwargs):  # noqa: A001
    return input.max(*args, **kwargs)


def min(input, *args, **kwargs):  # noqa: A001
    return input.min(*args, **kwargs)


def _method(name):
    def fn(input, *args, **kwargs):
        return getattr(input, name)(*args, **kwargs)

    fn.__name__ = name
    fn.__qualname__ = name
    fn.__doc__ = f"``rustgrad.{name}(input, ...)`` is ``input.{name}(...)``."
    return fn


# Functions that PyTorch offers both as ``torch.f(x, ...)`` and as ``x.f(...)``: the unary ops of
# the op table (``_C.UNARY_OPS``), then the rest.
for _name in list(_C.UNARY_OPS) + [
    "add", "sub", "mul", "div", "true_divide", "floor_divide", "remainder", "pow", "negative",
    "clamp", "clip", "clamp_min", "clamp_max",
    "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor",
    "matmul", "mm", "bmm", "dot", "sum", "cumsum", "mean", "prod", "var", "std", "argmax",
    "argmin", "all", "any", "logsumexp", "norm", "softmax", "log_softmax", "reshape", "view_as", "permute",
    "transpose", "swapaxes", "t", "squeeze", "unsqueeze", "flatten", "unflatten", "narrow", "select", "split",
    "chunk", "unbind", "flip", "index_select", "gather", "scatter", "scatter_add", "index_add", "masked_fill",
    "masked_select", "nonzero", "sort", "argsort", "topk", "detach", "isinf", "isfinite",
]:
    globals()[_name] = _method(_name)
del _name

# Elementwise math, scans and reductions, shape and index ops (the issue-16 coverage), and the aliases.
from . import _ops_math as _m, _ops_products as _p, _ops_reshape as _r, _ops_scan as _s  # noqa: E402

globals().update({**_m.FUNCTIONS, **_s.FUNCTIONS, **_r.FUNCTIONS, **_p.FUNCTIONS})
for _alias in _m.ALIASES:
    globals()[_alias] = _method(_alias)
del _alias, _m, _p, _r, _s

# Subpackages (imported last: they use the names above).
from . import autograd, backends, cuda, linalg, return_types  # noqa: E402
from . import nn, optim, utils  # noqa: E402
# rustgrad.func (functional_call), from the nn.utils.rnn/parametrize work
from . import func  # noqa: E402
from . import distributions, special  # noqa: E402  (issue 16)
from .serialization import load, save  # noqa: E402
# Module layout (issue 16): PyTorch's submodules, jit/compile as eager pass-throughs.
from . import amp, cpu, distributed, jit, multiprocessing, onnx  # noqa: E402
from ._compile import compile  # noqa: E402,A004
from .amp import autocast  # noqa: E402
from .amp.autocast_mode import get_autocast_dtype, is_autocast_enabled, set_autocast_dtype, set_autocast_enabled  # noqa: E402,E501
from .cuda import amp as _cuda_amp  # noqa: E402,F401  (rustgrad.cuda.amp)
# Everyday switches (issue 16): matmul precision, determinism, default device, pinned memory.
from ._settings import (  # noqa: E402
    are_deterministic_algorithms_enabled, get_default_device, get_float32_matmul_precision,
    is_deterministic_algorithms_warn_only_enabled, set_default_device, set_float32_matmul_precision,
    use_deterministic_algorithms,
)
from . import _pinned  # noqa: E402,F401  (Tensor.pin_memory, Tensor.is_pinned)

# DLPack exchange (rustgrad.from_dlpack; Tensor.__dlpack__ is attached in _tensor.py)
from ._dlpack import from_dlpack  # noqa: E402
