"""Sorting, order statistics and dim shuffles composed from rustgrad's core ops (gather, ...), so
autograd and the devices come from the ops they use: sort/argsort/topk, movedim/moveaxis,
median/nanmedian, kthvalue, mode, quantile/nanquantile, msort. The Tensor methods among them are
attached in ``_tensor.py``.

Selected values are ``x.gather(dim, indices)`` with the indices found by a stable sort, so the
gradient flows to the selected elements as in PyTorch.
"""

import numbers

import numpy as np

from . import _C, return_types
from ._arg_check import check_bool, write_out
from ._ops_extra import _wrap_dim

Tensor = _C.Tensor


# ----- movedim ------------------------------------------------------------------------------------

def _dims_list(v, name):
    if isinstance(v, (bool, float)) or not isinstance(v, (numbers.Integral, tuple, list)):
        raise TypeError(f"{name}() received an invalid combination of arguments - got ({type(v).__name__}), "
                        "but expected one of:\n * (Tensor input, int source, int destination)\n"
                        " * (Tensor input, tuple of ints source, tuple of ints destination)")
    return [int(v)] if isinstance(v, numbers.Integral) else [int(d) for d in v]


def _movedim(self, source, destination):
    src = _dims_list(source, "movedim")
    dst = _dims_list(destination, "movedim")
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({src} dims) should contain "
                           f"the same number of dims as destination ({dst} dims)")
    ndim = self.dim()
    s = [_wrap_dim(d, ndim) for d in src]
    d = [_wrap_dim(v, ndim) for v in dst]
    if len(set(s)) != len(s):
        raise RuntimeError(f"movedim: repeated dim in `source` ({src})")
    if len(set(d)) != len(d):
        raise RuntimeError(f"movedim: repeated dim in `destination` ({dst})")
    if ndim == 0:
        return self.view_as(self)
    order = [None] * ndim
    for a, b in zip(s, d):
        order[b] = a
    rest = iter([i for i in range(ndim) if i not in s])
    order = [o if o is not None else next(rest) for o in order]
    return self.permute(*order)


def movedim(input, source, destination):
    return _movedim(input, source, destination)


moveaxis = movedim


# ----- median / kthvalue / mode -------------------------------------------------------------------

def _row_select(x, d, k, keepdim):
    """Values and indices of the ``k``-th element (a long tensor, keepdim-shaped) of ``x`` sorted
    along ``d`` (stable: ties keep their order, NaN last)."""
    order = x.detach().sort(dim=d, stable=True)[1]
    idx = order.gather(d, k)
    vals = x.gather(d, idx)
    if not keepdim:
        vals, idx = vals.squeeze(d), idx.squeeze(d)
    return vals, idx


def _prep_dim(self, dim, name):
    x = self.reshape(1) if self.dim() == 0 else self
    d = _wrap_dim(dim, self.dim())
    if x.shape[d] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")
    return x, d


def _squeeze0(self, vals, idx):
    if self.dim() == 0:
        vals, idx = vals.reshape(()), idx.reshape(())
    return vals, idx


def _nan_count(x, d):
    return x.isnan().long().sum(d, keepdim=True)


def _median_k(x, d, ignore_nan):
    n = x.shape[d]
    nanc = _nan_count(x, d)
    if ignore_nan:
        return ((n - nanc - 1) // 2).clamp(min=0)
    has = (nanc > 0).long()
    return (n - 1) // 2 + has * (n - nanc - (n - 1) // 2)


def _median_impl(self, dim, keepdim, ignore_nan):
    check_bool(keepdim, "nanmedian" if ignore_nan else "median", "keepdim")
    name = "nanmedian" if ignore_nan else "median"
    if dim is None:
        if self.numel() == 0:
            return _C.full([], float("nan"), dtype=self.dtype, device=self.device)
        x = self.reshape(-1)
        return _row_select(x, 0, _median_k(x, 0, ignore_nan), False)[0]
    x, d = _prep_dim(self, dim, name)
    vals, idx = _row_select(x, d, _median_k(x, d, ignore_nan), keepdim)
    vals, idx = _squeeze0(self, vals, idx)
    return getattr(return_types, name)(vals, idx)


# ----- sort ---------------------------------------------------------------------------------------

def _argsort(self, dim=-1, descending=False, stable=False):
    check_bool(stable, "argsort", "stable")
    return self.sort(dim=dim, descending=descending)[1]


def _sort(self, dim=-1, descending=False, stable=False):
    check_bool(descending, "sort", "descending")
    check_bool(stable, "sort", "stable")  # every sort here is stable
    from .return_types import sort as Sort

    src = self.detach().cpu()
    if src.dtype == _C.bfloat16:  # no NumPy dtype; float32 holds it exactly
        src = src.float()
    arr = src.numpy()
    if arr.dtype == np.uint8:  # negated below: unsigned values would wrap
        arr = arr.astype(np.int16)
    order = np.argsort(-arr if descending else arr, axis=dim, kind="stable")
    idx = _C.from_numpy(np.ascontiguousarray(order.astype(np.int64)))
    if self.device.type != "cpu":
        idx = idx.to(self.device)
    return Sort(self.gather(dim, idx), idx)


def _topk(self, k, dim=-1, largest=True, sorted=True):
    check_bool(largest, "topk", "largest")
    check_bool(sorted, "topk", "sorted")  # the k values always come sorted (allowed either way)
    from .return_types import topk as TopK

    values, indices = _sort(self, dim=dim, descending=largest)
    return TopK(values.narrow(dim, 0, k), indices.narrow(dim, 0, k))


def _median(self, dim=None, keepdim=False):
    return _median_impl(self, dim, keepdim, False)


def _nanmedian(self, dim=None, keepdim=False):
    return _median_impl(self, dim, keepdim, True)


def _kthvalue(self, k, dim=-1, keepdim=False):
    check_bool(keepdim, "kthvalue", "keepdim")
    x, d = _prep_dim(self, dim, "kthvalue")
    k = int(k)
    n = x.shape[d]
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    shape = list(x.shape)
    shape[d] = 1
    kk = _C.full(shape, k - 1, dtype=_C.int64, device=x.device)
    vals, idx = _squeeze0(self, *_row_select(x, d, kk, keepdim))
    return return_types.kthvalue(vals, idx)


def _mode(self, dim=-1, keepdim=False):
    check_bool(keepdim, "mode", "keepdim")
    """The most frequent value along ``dim`` (the smallest of equally frequent ones) and the index
    of its last occurrence; found on the host, then gathered (so the gradient flows)."""
    x, d = _prep_dim(self, dim, "mode")
    a = np.moveaxis(x.detach().cpu().numpy(), d, -1)
    rows = a.reshape(-1, a.shape[-1])
    out = np.empty(rows.shape[0], dtype=np.int64)
    for r, row in enumerate(rows):
        order = np.argsort(row, kind="stable")
        s = row[order]
        best, best_len, start = 0, 0, 0
        for i in range(1, len(s) + 1):
            if i == len(s) or not s[i] == s[start]:  # NaNs never equal: each counts once
                if i - start > best_len:
                    best, best_len = i - 1, i - start
                start = i
        out[r] = order[best]  # the last of the run in a stable sort: the last occurrence
    idx = _C.from_numpy(out.reshape(a.shape[:-1] + (1,))).to(x.device).movedim(-1, d)
    vals = x.gather(d, idx)
    if not keepdim:
        vals, idx = vals.squeeze(d), idx.squeeze(d)
    vals, idx = _squeeze0(self, vals, idx)
    return return_types.mode(vals, idx)


def median(input, dim=None, keepdim=False):
    return _median(input, dim, keepdim)


def nanmedian(input, dim=None, keepdim=False):
    return _nanmedian(input, dim, keepdim)


def kthvalue(input, k, dim=-1, keepdim=False):
    return _kthvalue(input, k, dim, keepdim)


def mode(input, dim=-1, keepdim=False):
    return _mode(input, dim, keepdim)


# ----- quantile -----------------------------------------------------------------------------------

_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(self, q, dim=None, keepdim=False, *, interpolation="linear", ignore_nan=False):
    check_bool(keepdim, "nanquantile" if ignore_nan else "quantile", "keepdim")
    if not self.is_floating_point():
        raise RuntimeError("quantile() input tensor must be either float or double dtype")
    if isinstance(q, Tensor):
        if q.dim() > 1:
            raise RuntimeError("quantile() q must be a scalar or 1D tensor")
        if q.dtype != self.dtype:
            raise RuntimeError("quantile() q tensor must be same dtype as the input tensor")
        qv = q.detach().cpu().numpy().reshape(-1)
        if not ((qv >= 0) & (qv <= 1)).all():
            raise RuntimeError("quantile() q values must be in the range [0, 1]")
        scalar_q = q.dim() == 0
        qt = q.reshape(-1).to(self.device)
    else:
        qf = float(q)
        if not 0 <= qf <= 1:
            raise RuntimeError(f"quantile() q must be in the range [0, 1] but got {q}")
        scalar_q = True
        qt = _C.full([1], qf, dtype=self.dtype, device=self.device)
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError("quantile() interpolation must be one of linear, lower, higher, midpoint or nearest, "
                           f"but got {interpolation}")
    if self.numel() == 0:
        raise RuntimeError("quantile() input tensor must be non-empty")
    if dim is None:
        x, d = self.reshape(-1), 0
    else:
        x = self.reshape(1) if self.dim() == 0 else self
        d = _wrap_dim(dim, self.dim())
    xt = _movedim(x, d, -1)  # (..., n)
    n = xt.shape[-1]
    order = xt.detach().sort(dim=-1, stable=True)[1]
    nanc = _nan_count(xt, -1).to(self.dtype)  # (..., 1)
    if ignore_nan:
        ranks = (qt * (n - nanc - 1)).clamp(min=0)
    else:
        has = (nanc > 0).to(self.dtype)
        ranks = qt * (n - 1) * (1 - has) + has * (n - 1)  # (..., nq)
    if interpolation == "lower":
        lo = hi = ranks.floor()
    elif interpolation == "higher":
        lo = hi = ranks.ceil()
    elif interpolation == "nearest":
        lo = hi = ranks.round()
    else:
        lo, hi = ranks.floor(), ranks.ceil()
    below = xt.gather(-1, order.gather(-1, lo.long()))
    if interpolation in ("linear", "midpoint"):
        above = xt.gather(-1, order.gather(-1, hi.long()))
        w = (ranks - lo) if interpolation == "linear" else _C.full_like(ranks, 0.5)
        out = below + w * (above - below)
    else:
        out = below
    out = _movedim(out, -1, 0)  # (nq, ...)
    if keepdim:
        if dim is None:
            out = out.reshape([out.shape[0]] + [1] * self.dim())
        elif self.dim() > 0:
            out = out.unsqueeze(d + 1)
    return out.squeeze(0) if scalar_q else out


def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear", out=None):
    return write_out(_quantile(input, q, dim, keepdim, interpolation=interpolation), out, "quantile",
                     dtype_message=_quantile_out_dtype)


def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear", out=None):
    return write_out(_quantile(input, q, dim, keepdim, interpolation=interpolation, ignore_nan=True), out,
                     "nanquantile", dtype_message=_quantile_out_dtype)


def _quantile_out_dtype(result, out):
    return "quantile() out tensor must be same dtype as the input tensor"


def _quantile_method(self, q, dim=None, keepdim=False, *, interpolation="linear"):
    return _quantile(self, q, dim, keepdim, interpolation=interpolation)


def _nanquantile(self, q, dim=None, keepdim=False, *, interpolation="linear"):
    return _quantile(self, q, dim, keepdim, interpolation=interpolation, ignore_nan=True)


def msort(input):
    x = input.reshape(1) if input.dim() == 0 else input
    out = x.gather(0, x.detach().sort(dim=0, stable=True)[1])
    return out.reshape(()) if input.dim() == 0 else out


__all__ = ["movedim", "moveaxis", "median", "nanmedian", "kthvalue", "mode", "quantile", "nanquantile", "msort"]
