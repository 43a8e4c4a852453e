"""Reductions and scans composed from rustgrad's core ops: amax/amin/aminmax, cumprod, cummax/cummin,
logcumsumexp, std_mean/var_mean, diff, dist. ``METHODS`` is what python/rustgrad/_tensor.py attaches.
"""

from collections import namedtuple

from . import _C
from ._arg_check import check_bool, int_arg, int_list_arg, tensor_arg, with_out
from ._ops_extra import _wrap_dim
from .autograd.function import Function

Tensor = _C.Tensor

aminmax_result = namedtuple("aminmax", ["min", "max"])
cummax_result = namedtuple("cummax", ["values", "indices"])
cummin_result = namedtuple("cummin", ["values", "indices"])


def _dims(dim, ndim):
    """``dim`` (an int, a sequence, or () for every dim) as sorted non-negative dims."""
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return list(range(ndim))
    dims = [_wrap_dim(d, ndim) for d in int_list_arg("amax", dim, "dim", 1)]
    for i, d in enumerate(dims):
        if d in dims[:i]:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
    return sorted(dims)


def _extreme_keepdim(x, dims, largest):
    for d in dims:
        if x.size(d) == 0:
            name = "amax" if largest else "amin"
            raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")
        x = (x.max(d, keepdim=True) if largest else x.min(d, keepdim=True)).values
    return x


class _Extreme(Function):
    """amax/amin: the gradient is shared evenly by the elements equal to the extreme (PyTorch's rule)."""

    @staticmethod
    def forward(ctx, x, dims, keepdim, largest):
        m = _extreme_keepdim(x, dims, largest) if x.dim() > 0 else x.clone()
        ctx.save_for_backward(x, m)
        ctx.dims, ctx.keepdim = dims, keepdim
        return m if keepdim else _squeeze_dims(m, dims)

    @staticmethod
    def backward(ctx, grad):
        x, m = ctx.saved_tensors
        if not ctx.keepdim:
            for d in ctx.dims:
                grad = grad.unsqueeze(d)
        ties = (x == m).to(grad.dtype)
        count = ties.sum(ctx.dims, keepdim=True) if ctx.dims else ties
        return grad * ties / count, None, None, None


def _squeeze_dims(x, dims):
    for d in reversed(dims):
        x = x.squeeze(d)
    return x


@with_out("amax")
def amax(input, dim=(), keepdim=False, *, out=None):
    keepdim = check_bool(keepdim, "amax", "keepdim")
    return _Extreme.apply(input, _dims(dim, input.dim()) if input.dim() else [], keepdim, True)


@with_out("amin")
def amin(input, dim=(), keepdim=False, *, out=None):
    keepdim = check_bool(keepdim, "amin", "keepdim")
    return _Extreme.apply(input, _dims(dim, input.dim()) if input.dim() else [], keepdim, False)


@with_out("aminmax")
def aminmax(input, *, dim=None, keepdim=False, out=None):
    keepdim = check_bool(keepdim, "aminmax", "keepdim")
    if dim is None and keepdim and input.dim() > 0:
        dims = list(range(input.dim()))
    else:
        dims = () if dim is None else dim
    if dim is None and input.numel() == 0:
        raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the operation has no "
                           "identity.")
    return aminmax_result(amin(input, dims, keepdim), amax(input, dims, keepdim))


def _slices(x, dim):
    return [x.narrow(dim, i, 1) for i in range(x.size(dim))]


def _scan(x, dim, step):
    """out[0] = x[0], out[i] = step(out[i-1], x[i]) along ``dim`` (differentiable through ``step``)."""
    dim = int_arg("scan", dim, "dim", 1)
    if x.dim() == 0:
        return x.clone()
    dim = _wrap_dim(dim, x.dim())
    if x.size(dim) == 0:
        return x.clone()
    parts = _slices(x, dim)
    out = [parts[0]]
    for p in parts[1:]:
        out.append(step(out[-1], p))
    return _C.cat(out, dim)


@with_out("cumprod")
def cumprod(input, dim, *, dtype=None, out=None):
    x = input if dtype is None else input.to(dtype)
    if x.dtype == _C.bool:
        x = x.long()
    return _scan(x, dim, lambda acc, v: acc * v)


@with_out("logcumsumexp")
def logcumsumexp(input, dim, *, out=None):
    x = input if input.is_floating_point() else input.to(_C.float32)
    return _scan(x, dim, lambda acc, v: acc.logaddexp(v))


def _cumulative_extreme(input, dim, largest):
    """(values, indices) of the running max (min): a tie or a NaN moves the index forward, as in PyTorch."""
    dim = int_arg("cummax" if largest else "cummin", dim, "dim", 1)
    if input.dim() == 0:
        return input.clone(), _C.zeros_like(input, dtype=_C.int64)
    dim = _wrap_dim(dim, input.dim())
    with _C_no_grad():
        x = input.detach()
        parts = _slices(x, dim)
        best, index = (parts[0], _C.zeros_like(parts[0], dtype=_C.int64)) if parts else (None, None)
        indices = [index] if parts else []
        for i, p in enumerate(parts[1:], start=1):
            better = (p >= best) if largest else (p <= best)
            if p.is_floating_point():
                better = (better | p.isnan()) & ~(best.isnan() & ~p.isnan())
            best = _C.where(better, p, best)
            index = _C.where(better, _C.full_like(index, i), index)
            indices.append(index)
        idx = _C.cat(indices, dim) if indices else _C.zeros_like(x, dtype=_C.int64)
    return input.gather(dim, idx), idx


@with_out("cummax")
def cummax(input, dim, *, out=None):
    return cummax_result(*_cumulative_extreme(input, dim, True))


@with_out("cummin")
def cummin(input, dim, *, out=None):
    return cummin_result(*_cumulative_extreme(input, dim, False))


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(var, mean) over ``dim`` (PyTorch's function; there is no method)."""
    return input.var(**_var_args(dim, unbiased, keepdim, correction)), _mean(input, dim, keepdim)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(std, mean) over ``dim`` (PyTorch's function; there is no method)."""
    return input.std(**_var_args(dim, unbiased, keepdim, correction)), _mean(input, dim, keepdim)


def _var_args(dim, unbiased, keepdim, correction):
    if isinstance(dim, bool):  # var_mean(x, False): the legacy ``unbiased`` position
        dim, unbiased = None, dim
    if unbiased is not None:
        check_bool(unbiased, "var_mean", "unbiased")
    if unbiased is not None and correction is not None:
        raise RuntimeError("var_mean: Only one of unbiased and correction can be specified")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    args = {"correction": correction, "keepdim": keepdim}
    if dim is not None:
        args["dim"] = dim
    return args


def _mean(input, dim, keepdim):
    if isinstance(dim, bool) or dim is None:
        return input.mean(dim=tuple(range(input.dim())), keepdim=keepdim) if keepdim else input.mean()
    return input.mean(dim, keepdim)


def diff(input, n=1, dim=-1, prepend=None, append=None):
    """The n-th forward difference along ``dim`` (with ``prepend``/``append`` joined first)."""
    if input.dim() == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    n = int_arg("diff", n, "n", 1)
    if n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    dim = _wrap_dim(int_arg("diff", dim, "dim", 2), input.dim())
    for name, value, position in (("prepend", prepend, 3), ("append", append, 4)):
        if value is not None:
            tensor_arg("diff", value, name, position)
    parts = [t for t in (prepend, input, append) if t is not None]
    x = _C.cat(parts, dim) if len(parts) > 1 else input
    for _ in range(n):
        length = x.size(dim)
        if length == 0:
            break
        if x.dtype == _C.bool:
            x = x.narrow(dim, 1, length - 1) != x.narrow(dim, 0, length - 1)
        else:
            x = x.narrow(dim, 1, length - 1) - x.narrow(dim, 0, length - 1)
    return x


def dist(input, other, p=2):
    """The p-norm of ``input - other``."""
    tensor_arg("dist", other, "other", 1)
    return (input - other).norm(p)


class _C_no_grad:
    def __enter__(self):
        self.prev = _C._set_grad_enabled(False)

    def __exit__(self, *exc):
        _C._set_grad_enabled(self.prev)


def _inplace_scan(fn):
    def method(self, dim, *, dtype=None):
        return self.copy_(fn(self, dim, dtype=dtype))

    return method


FUNCTIONS = {
    "amax": amax, "amin": amin, "aminmax": aminmax, "cumprod": cumprod, "logcumsumexp": logcumsumexp,
    "cummax": cummax, "cummin": cummin, "var_mean": var_mean, "std_mean": std_mean, "diff": diff, "dist": dist,
}

METHODS = {
    "amax": amax, "amin": amin, "aminmax": aminmax, "cumprod": cumprod, "cumprod_": _inplace_scan(cumprod),
    "logcumsumexp": logcumsumexp, "cummax": cummax, "cummin": cummin, "diff": diff, "dist": dist,
}
