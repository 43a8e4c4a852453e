"""``rustgrad.linalg``: the norms of ``torch.linalg``, composed from ``Tensor.norm`` (whose gradient is
PyTorch's), ``abs``, ``sum`` and ``max``/``min``.

Not here (they need a factorisation rustgrad does not have): ``inv``, ``solve``, ``det``,
``cholesky``, ``qr``, ``svd``, ``eigh``, and the singular-value matrix norms (``ord='nuc'``, ``2``, ``-2``).
"""

import math
import numbers

from . import _C
from ._arg_check import write_out
from ._dtype_names import scalar_name as _scalar_name
from ._ops_extra import _wrap_dim

Tensor = _C.Tensor



def _fmt(v):
    return f"{v:g}" if isinstance(v, numbers.Real) else str(v)


def _dims(dim, ndim):
    if dim is None:
        return list(range(ndim))
    dims = [dim] if isinstance(dim, numbers.Integral) else list(dim)
    wrapped = [_wrap_dim(d, ndim) for d in dims]
    for d in wrapped:
        if wrapped.count(d) > 1:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
    return wrapped


def _cast(x, dtype, name):
    if dtype is not None:
        if dtype not in (_C.float32, _C.float64):
            raise RuntimeError(f"{name}: dtype should be floating point or complex, but got {_scalar_name(dtype)}")
        x = x.to(dtype)
    return x


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, out=None):  # noqa: A002
    return write_out(_vector_norm(x, ord, dim, keepdim, dtype), out, "linalg_vector_norm")


def _vector_norm(x, ord, dim, keepdim, dtype):  # noqa: A002
    if isinstance(ord, str) or not isinstance(ord, numbers.Real):
        raise TypeError(f"linalg_vector_norm(): argument 'ord' must be Number, not {type(ord).__name__}")
    if not x.is_floating_point():
        raise NotImplementedError("linalg.vector_norm: Expected a floating point or complex tensor as input. "
                                  f"Got {_scalar_name(x.dtype)}")
    x = _cast(x, dtype, "linalg.vector_norm")
    ndim = x.dim()
    dims = _dims(dim, ndim)
    if (ord < 0 or ord == math.inf) and any(x.shape[d] == 0 for d in dims) or (
            (ord < 0 or ord == math.inf) and x.numel() == 0 and dim is None):
        raise RuntimeError(f"linalg.vector_norm cannot compute the {_fmt(ord)} norm on an empty tensor because the "
                           "operation does not have an identity")
    if ndim == 0:
        return x.abs() if ord != 0 else (x != 0).to(x.dtype) + x.abs().clamp_max(0.0)
    if not dims:  # dim=() means all dims, as in PyTorch
        dims = list(range(ndim))
    if ord == 0:
        return (x != 0).to(x.dtype).sum(tuple(dims), keepdim) + x.abs().clamp_max(0.0).sum(tuple(dims), keepdim)
    return x.norm(float(ord), tuple(dims), keepdim)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None, out=None):  # noqa: A002
    return write_out(_matrix_norm(A, ord, dim, keepdim, dtype), out, "linalg_matrix_norm")


def _matrix_norm(A, ord, dim, keepdim, dtype):  # noqa: A002
    if A.dim() < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    dim = tuple(dim)
    if len(dim) != 2:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(map(str, dim))}")
    d0, d1 = _wrap_dim(dim[0], A.dim()), _wrap_dim(dim[1], A.dim())
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, {dim[1]})")
    if ord == "fro":
        return _vector_norm(A, 2, (d0, d1), keepdim, dtype)
    if ord in ("nuc", 2, -2) and not isinstance(ord, bool):
        raise NotImplementedError(f"linalg.matrix_norm: ord={ord!r} needs singular values (an SVD), which rustgrad "
                                  "does not have")
    if isinstance(ord, str) or ord not in (1, -1, math.inf, -math.inf):
        raise RuntimeError(f"linalg.matrix_norm: Order {_fmt(ord)} not supported.")
    if not A.is_floating_point():
        raise NotImplementedError("linalg.vector_norm: Expected a floating point or complex tensor as input. "
                                  f"Got {_scalar_name(A.dtype)}")
    A = _cast(A, dtype, "linalg.matrix_norm")
    # ord 1: the largest column sum (sum over dim[0], then max over dim[1]); inf: the largest row sum
    sum_dim, red_dim = (d0, d1) if abs(ord) == 1 else (d1, d0)
    s = A.abs().sum(sum_dim, keepdim=True)
    r = s.max(red_dim, keepdim=True).values if ord > 0 else s.min(red_dim, keepdim=True).values
    if not keepdim:
        r = r.squeeze(max(d0, d1)).squeeze(min(d0, d1))
    return r


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None, out=None):  # noqa: A002
    return write_out(_norm(A, ord, dim, keepdim, dtype), out, "linalg_norm")


def _norm(A, ord, dim, keepdim, dtype):  # noqa: A002
    if dim is not None:
        dim = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
        if len(dim) not in (1, 2):
            raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got {list(dim)}")
    elif ord is not None and A.dim() not in (1, 2):
        raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. "
                           f"Got {A.dim()}D.")
    if isinstance(ord, str):
        return _matrix_norm(A, ord, dim if dim is not None else (-2, -1), keepdim, dtype)
    if ord is not None and ((dim is not None and len(dim) == 2) or (dim is None and A.dim() == 2)):
        return _matrix_norm(A, ord, dim if dim is not None else (0, 1), keepdim, dtype)
    return _vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype)


__all__ = ["vector_norm", "matrix_norm", "norm"]
