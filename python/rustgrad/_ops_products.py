"""Vector and matrix products and statistics composed from rustgrad's core ops: mv, addmv, addr, inner,
ger, vdot, cross, matrix_power, diagflat, renorm, cov, corrcoef; plus hardshrink/prelu as methods, the
legacy ``Tensor.new`` and the device predicates (``is_xla``...). ``METHODS`` is what
python/rustgrad/_tensor.py attaches.
"""

import numbers
import warnings

from . import _C
from ._arg_check import int_arg, tensor_arg, with_out
from ._dtype_names import scalar_name
from ._ops_extra import _wrap_dim

Tensor = _C.Tensor


@with_out("mv")
def mv(input, vec, *, out=None):
    tensor_arg("mv", vec, "vec", 1)
    if input.dim() != 2 or vec.dim() != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {input.dim()}, {vec.dim()}")
    if input.size(1) != vec.size(0):
        raise RuntimeError(f"size mismatch, got input ({input.size(0)}), mat ({input.size(0)}x{input.size(1)}), "
                           f"vec ({vec.size(0)})")
    return input.matmul(vec)


def _scaled_sum(self, product, beta, alpha):
    """``beta * self + alpha * product``, where beta == 0 ignores ``self`` (NaN included), as PyTorch does."""
    scaled = product if alpha == 1 else product * alpha
    if beta == 0:
        return scaled + _C.zeros_like(self)
    return scaled + (self if beta == 1 else self * beta)


@with_out("addmv")
def addmv(input, mat, vec, *, beta=1, alpha=1, out=None):
    tensor_arg("addmv", mat, "mat", 1)
    tensor_arg("addmv", vec, "vec", 2)
    return _scaled_sum(input, mv(mat, vec), beta, alpha)


@with_out("addr")
def addr(input, vec1, vec2, *, beta=1, alpha=1, out=None):
    tensor_arg("addr", vec1, "vec1", 1)
    tensor_arg("addr", vec2, "vec2", 2)
    if vec1.dim() != 1 or vec2.dim() != 1:
        raise RuntimeError(f"addr: Expected 1-D argument vec1, but got {vec1.dim()}-D" if vec1.dim() != 1 else
                           f"addr: Expected 1-D argument vec2, but got {vec2.dim()}-D")
    return _scaled_sum(input, vec1.outer(vec2), beta, alpha)


@with_out("inner")
def inner(input, other, *, out=None):
    """Sum of products over the last dims (``dot`` for vectors; a scalar operand scales)."""
    tensor_arg("inner", other, "other", 1)
    if input.dim() == 0 or other.dim() == 0:
        return input * other
    if input.size(-1) != other.size(-1):
        raise RuntimeError(f"inner() the last dimension must match on both input tensors but got shapes "
                           f"{list(input.shape)} and {list(other.shape)}")
    from ._ops_extra import tensordot

    return tensordot(input, other, dims=([-1], [-1]))


@with_out("vdot")
def vdot(input, other, *, out=None):
    tensor_arg("vdot", other, "other", 1)
    if input.dim() != 1 or other.dim() != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.dim()}D and {other.dim()}D tensors")
    return input.dot(other)


def ger(input, vec2):
    tensor_arg("ger", vec2, "vec2", 1)
    return input.outer(vec2)


@with_out("cross")
def cross(input, other, dim=None, *, out=None):
    """The 3-vector cross product along ``dim`` (the first dim of size 3 when None, as PyTorch does)."""
    tensor_arg("cross", other, "other", 1)
    if input.dim() != other.dim():
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    if dim is None:
        warnings.warn("Using torch.cross without specifying the dim arg is deprecated.\nPlease either pass the dim "
                      "explicitly or simply use torch.linalg.cross.\nThe default value of dim will change to agree "
                      "with that of linalg.cross in a future release.", UserWarning, stacklevel=2)
        sizes = [i for i in range(input.dim()) if input.size(i) == 3]
        if not sizes:
            raise RuntimeError("no dimension of size 3 in input")
        dim = sizes[0]
    d = _wrap_dim(dim, input.dim())
    if input.size(d) != 3 or other.size(d) != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {d} must have length 3. Got {input.size(d)} and "
                           f"{other.size(d)}")
    a = [input.narrow(d, i, 1) for i in range(3)]
    b = [other.narrow(d, i, 1) for i in range(3)]
    return _C.cat([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]], d)


def matrix_power(input, n):
    """``input`` multiplied by itself ``n`` times (identity for n == 0), by repeated squaring."""
    n = int_arg("matrix_power", n, "n", 1)
    if input.dim() < 2 or input.size(-1) != input.size(-2):
        raise RuntimeError(f"linalg.matrix_power: A must be batches of square matrices, but they are "
                           f"{input.size(-2) if input.dim() >= 2 else 1} by {input.size(-1) if input.dim() else 1} "
                           "matrices")
    if n < 0:
        raise NotImplementedError("matrix_power(): negative powers need a matrix inverse, which rustgrad lacks")
    result = None
    base = input
    while n:
        if n & 1:
            result = base if result is None else result.matmul(base)
        n >>= 1
        if n:
            base = base.matmul(base)
    if result is None:
        eye = _C.eye(input.size(-1), dtype=input.dtype, device=input.device)
        return eye.expand(*input.shape).clone()
    return result if result is not input else input.clone()


def diagflat(input, offset=0):
    offset = int_arg("diagflat", offset, "offset", 1)
    return input.reshape(-1).diag(offset)


def renorm(input, p, dim, maxnorm):
    """Each sub-tensor along ``dim`` with a ``p``-norm above ``maxnorm`` scaled down to ``maxnorm``."""
    for name, value, position in (("p", p, 1), ("maxnorm", maxnorm, 3)):
        if not isinstance(value, numbers.Real):
            raise TypeError(f"renorm(): argument '{name}' (position {position}) must be Number, not "
                            f"{type(value).__name__}")
    dim = int_arg("renorm", dim, "dim", 2)
    if input.dim() < 2:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {input.dim()} dimensions")
    if not input.is_floating_point():
        raise RuntimeError(f"renorm: expected a floating point input but got {scalar_name(input.dtype)}")
    if p <= 0:
        raise RuntimeError("renorm: non-positive-norm not supported")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    d = _wrap_dim(dim, input.dim())
    others = [i for i in range(input.dim()) if i != d]
    norms = input.abs().pow(p).sum(others, keepdim=True).pow(1.0 / p) if others else input.abs()
    factor = _C.where(norms > maxnorm, maxnorm / (norms + 1e-7), _C.ones_like(norms))
    return input * factor


def cov(input, *, correction=1, fweights=None, aweights=None):
    """The covariance of the rows (variables) over the columns (observations)."""
    if input.dim() > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an input with "
                         f"{input.dim()} dimensions")
    for name, value in (("fweights", fweights), ("aweights", aweights)):
        if value is not None:
            tensor_arg("cov", value, name, 2)
    x = input.reshape(1, -1) if input.dim() < 2 else input
    x = x if x.is_floating_point() else x.to(_C.float32)
    n = x.size(1)
    w = None
    if fweights is not None:
        if fweights.is_floating_point():
            raise RuntimeError(f"cov(): expected fweights to have integral dtype but got fweights with "
                               f"{scalar_name(fweights.dtype)} dtype")
        w = fweights
    if aweights is not None:
        if not aweights.is_floating_point():
            raise RuntimeError(f"cov(): expected aweights to have floating point dtype but got aweights with "
                               f"{scalar_name(aweights.dtype)} dtype")
        w = aweights if w is None else w * aweights
    if w is None:
        w_sum = float(n)
        mean = x.mean(1, keepdim=True)
        norm = w_sum - correction
        centered = x - mean
        c = centered.matmul(centered.t())
    else:
        w = w.to(x.dtype)
        w_sum_t = w.sum()
        mean = (x * w).sum(1, keepdim=True) / w_sum_t
        if aweights is None:
            norm = w_sum_t - correction
        else:
            norm = w_sum_t - correction * (w * aweights.to(x.dtype)).sum() / w_sum_t
        centered = x - mean
        c = (centered * w).matmul(centered.t())
    if isinstance(norm, numbers.Real) and norm <= 0:
        warnings.warn("cov(): degrees of freedom is <= 0. Correction should be strictly less than the number of "
                      "observations.", UserWarning, stacklevel=2)
        norm = 0.0
    c = c / norm
    return c.reshape(()) if input.dim() < 2 else c


def corrcoef(input):
    """Pearson correlation coefficients of the rows, clipped into [-1, 1]."""
    c = cov(input)
    if c.dim() == 0:
        return c / c
    d = c.diagonal()
    std = d.sqrt()
    c = c / std.unsqueeze(1) / std.unsqueeze(0)
    return c.clamp(-1.0, 1.0)


def _hardshrink(self, lambd=0.5):
    # The comparison is false for NaN, which so passes through, as in PyTorch.
    return _C.where((self >= -lambd) & (self <= lambd), _C.zeros_like(self), self)


def _prelu(self, weight):
    tensor_arg("prelu", weight, "weight", 1)
    from .nn import functional as F

    return F.prelu(self, weight)


def _new(self, *args, device=None):
    """The legacy ``x.new(...)``: sizes give an uninitialized tensor, data a new tensor, in ``x``'s dtype."""
    device = self.device if device is None else device
    if not args:
        return _C.empty(0, dtype=self.dtype, device=device)
    if len(args) == 1 and not isinstance(args[0], numbers.Integral):
        data = args[0]
        if isinstance(data, Tensor):
            if data.dtype != self.dtype:
                raise TypeError(f"expected {self.dtype} (got {data.dtype})")
            return data.detach().to(device)
        if isinstance(data, (tuple, list)) and not data:
            return _C.empty(0, dtype=self.dtype, device=device)
        if isinstance(data, (tuple, list)) and all(isinstance(s, numbers.Integral) for s in data) and \
                type(data).__name__ == "Size":
            return _C.empty(*data, dtype=self.dtype, device=device)
        return _C.tensor(data, dtype=self.dtype, device=device)
    return _C.empty(*args, dtype=self.dtype, device=device)


def _is_set_to(self, other):
    tensor_arg("is_set_to", other, "tensor", 1)
    return (self.data_ptr() == other.data_ptr() and tuple(self.shape) == tuple(other.shape)
            and self.stride() == other.stride() and self.storage_offset() == other.storage_offset())


def _not_on(_self):
    """rustgrad tensors live on the CPU or a CUDA device only."""
    return False


def _inplace(fn):
    def method(self, *args, **kwargs):
        return self.copy_(fn(self, *args, **kwargs))

    method.__name__ = fn.__name__ + "_"
    return method


def _addmm_(self, mat1, mat2, *, beta=1, alpha=1):
    return self.copy_(self.addmm(mat1, mat2, beta=beta, alpha=alpha))


FUNCTIONS = {
    "mv": mv, "addmv": addmv, "addr": addr, "inner": inner, "vdot": vdot, "ger": ger, "cross": cross,
    "matrix_power": matrix_power, "diagflat": diagflat, "renorm": renorm, "cov": cov, "corrcoef": corrcoef,
}

METHODS = dict(FUNCTIONS)
METHODS.update({
    "addmv_": _inplace(addmv), "addr_": _inplace(addr), "renorm_": _inplace(renorm), "addmm_": _addmm_,
    "hardshrink": _hardshrink, "prelu": _prelu, "new": _new, "is_set_to": _is_set_to,
    "is_distributed": _not_on,
})
# Device and layout predicates PyTorch exposes as properties: never true of a rustgrad tensor.
for _name in ("is_xla", "is_xpu", "is_mps", "is_ipu", "is_vulkan", "is_maia", "is_mtia", "is_mkldnn", "is_nested"):
    METHODS[_name] = property(_not_on)
del _name
