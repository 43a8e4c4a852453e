"""unique/unique_consecutive, bincount, histc (sizes that depend on the data: computed on the host,
as PyTorch synchronises for them too, and returned on the input's device), searchsorted and
bucketize (composed from comparisons and a sum, so they stay on the device)."""

import math

import numpy as np

from . import _C
from ._arg_check import check_bool, write_out
from ._dtype_names import not_implemented_for, scalar_name
from ._ops_extra import _wrap_dim

Tensor = _C.Tensor


def _host(t):
    return t.detach().cpu().numpy()


def _to(a, like, dtype=None):
    out = _C.from_numpy(np.ascontiguousarray(a))
    if dtype is not None:
        out = out.to(dtype)
    return out.to(like.device)


# ----- unique -------------------------------------------------------------------------------------

def _runs_1d(s):
    """Start of each run of equal values in ``s`` (NaNs never equal, as PyTorch)."""
    if len(s) == 0:
        return np.zeros(0, dtype=bool)
    change = np.ones(len(s), dtype=bool)
    change[1:] = s[1:] != s[:-1]
    return change


def _runs_rows(rows):
    """Same for rows of a 2-D array (a row starts a run unless it equals the previous one)."""
    change = np.ones(rows.shape[0], dtype=bool)
    if rows.shape[0] > 1:
        change[1:] = (rows[1:] != rows[:-1]).any(axis=1) if rows.shape[1] else False
    return change


def _pack(self, values, inverse, counts, return_inverse, return_counts):
    out = [_to(values, self, self.dtype)]
    if return_inverse:
        out.append(_to(inverse.astype(np.int64), self))
    if return_counts:
        out.append(_to(counts.astype(np.int64), self))
    return out[0] if len(out) == 1 else tuple(out)


def _unique_impl(self, consecutive, return_inverse, return_counts, dim):
    fn = "unique_consecutive" if consecutive else "_unique2"
    check_bool(return_inverse, fn, "return_inverse")
    check_bool(return_counts, fn, "return_counts")
    a = _host(self)
    if dim is None:
        flat = a.reshape(-1)
        order = np.arange(len(flat)) if consecutive else np.argsort(flat, kind="stable")
        s = flat[order]
        change = _runs_1d(s)
        group = np.cumsum(change) - 1
        inverse = np.empty(len(flat), dtype=np.int64)
        inverse[order] = group
        counts = np.diff(np.append(np.nonzero(change)[0], len(s)))
        return _pack(self, s[change], inverse.reshape(a.shape), counts, return_inverse, return_counts)
    d = _wrap_dim(dim, self.dim())
    moved = np.moveaxis(a.reshape(1) if a.ndim == 0 else a, d, 0)
    rows = moved.reshape(moved.shape[0], -1)
    if consecutive:
        order = np.arange(rows.shape[0])
    else:
        order = np.lexsort(rows.T[::-1]) if rows.shape[1] else np.arange(rows.shape[0])
    srt = rows[order]
    change = _runs_rows(srt)
    group = np.cumsum(change) - 1
    inverse = np.empty(rows.shape[0], dtype=np.int64)
    inverse[order] = group
    counts = np.diff(np.append(np.nonzero(change)[0], rows.shape[0]))
    values = np.moveaxis(moved[order][change], 0, d)
    return _pack(self, values, inverse, counts, return_inverse, return_counts)


def _unique(self, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    check_bool(sorted, "_unique2", "sorted")  # the values always come sorted (allowed either way)
    return _unique_impl(self, False, return_inverse, return_counts, dim)


def _unique_consecutive(self, return_inverse=False, return_counts=False, dim=None):
    return _unique_impl(self, True, return_inverse, return_counts, dim)


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    return _unique(input, sorted, return_inverse, return_counts, dim)


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    return _unique_consecutive(input, return_inverse, return_counts, dim)


# ----- bincount / histc ---------------------------------------------------------------------------

def _bincount(self, weights=None, minlength=0):
    if weights is not None and not isinstance(weights, Tensor):
        raise TypeError(f"bincount(): argument 'weights' (position 1) must be Tensor, not {type(weights).__name__}")
    if self.is_floating_point() or self.dtype == _C.bool:
        raise not_implemented_for("bincount_cpu", self.dtype)
    minlength = int(minlength)
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    a = _host(self)
    if a.ndim != 1 or (a.size and a.min() < 0):
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if weights is not None and (weights.dim() != 1 or weights.shape[0] != a.shape[0]):
        raise RuntimeError("weights should be 1-d and have the same length as input")
    if weights is None:
        return _to(np.bincount(a, minlength=minlength).astype(np.int64), self)
    out_dtype = weights.dtype if weights.is_floating_point() else _C.float64
    w = _host(weights).astype(np.float64)
    return _to(np.bincount(a, weights=w, minlength=minlength), self, out_dtype)


def bincount(input, weights=None, minlength=0):
    return _bincount(input, weights, minlength)


def _histc(self, bins=100, min=0, max=0):  # noqa: A002
    if not self.is_floating_point():
        raise not_implemented_for("histogram_cpu", self.dtype)
    bins = int(bins)
    if bins <= 0:
        raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {bins} for dimension 0")
    a = _host(self).reshape(-1)
    np_dtype = a.dtype
    lo, hi = float(min), float(max)
    from_data = lo == hi and a.size
    if from_data:
        lo, hi = float(a.min()), float(a.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError("torch.histc: max must be larger than min")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        def fmt(v):  # as C++ streams a double
            if math.isnan(v):
                return "-nan" if from_data or math.copysign(1.0, v) < 0 else "nan"
            if math.isinf(v):
                return "inf" if v > 0 else "-inf"
            return f"{v:g}"

        raise RuntimeError(f"torch.histc: range of [{fmt(lo)}, {fmt(hi)}] is not finite")
    lo_c, hi_c = np_dtype.type(lo), np_dtype.type(hi)
    keep = (a >= lo_c) & (a <= hi_c)
    v = a[keep]
    # PyTorch's bin: (v - min) * bins / (max - min), computed in the input's dtype; max goes to the last bin
    with np.errstate(invalid="ignore", over="ignore"):
        pos = ((v - lo_c) * np_dtype.type(bins) / (hi_c - lo_c)).astype(np.int64)
    pos = np.minimum(pos, bins - 1)
    hist = np.bincount(pos, minlength=bins).astype(np_dtype)
    return _to(hist, self, self.dtype)


def histc(input, bins=100, min=0, max=0):  # noqa: A002
    return _histc(input, bins, min, max)


# ----- searchsorted / bucketize -------------------------------------------------------------------

def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None, out=None):
    """Counts, per value, the boundaries before it: ``not boundary >= v`` (left) or ``not boundary > v``
    (right), the predicates PyTorch's binary search tests (so a NaN value lands at the end, as there)."""
    out_int32 = check_bool(out_int32, "searchsorted", "out_int32")
    right = check_bool(right, "searchsorted", "right")
    counts = _searchsorted(sorted_sequence, input, right, side, sorter)
    if out_int32:
        counts = counts.to(_C.int32)

    def dtype_message(result, out):
        return ("torch.searchsorted(): output tensor's dtype is wrong, it can only be Int(int32) or Long(int64) "
                "depending on whether out_int32 flag is True, but we got output tensor's dtype "
                f"{scalar_name(out.dtype)} and out_int32 flag is {out_int32}")
    return write_out(counts, out, "searchsorted", dtype_message=dtype_message)


def _searchsorted(sorted_sequence, input, right, side, sorter):
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but got {side}")
        if right and side == "left":
            raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, got side of "
                               "left while right was True")
        right = side == "right"
    s = sorted_sequence
    if not isinstance(s, Tensor):
        raise TypeError("searchsorted(): argument 'sorted_sequence' (position 1) must be Tensor, not "
                        f"{type(s).__name__}")
    if s.dim() == 0:
        raise RuntimeError("torch.searchsorted(): boundaries tensor should have positive dimension, but got 0 "
                           "dimension")
    scalar = not isinstance(input, Tensor)
    v = _C.tensor(input, device=s.device) if scalar else input
    if s.dim() > 1 and (v.dim() != s.dim() or list(v.shape[:-1]) != list(s.shape[:-1])):
        raise RuntimeError("torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
                           "dimensions of boundaries tensor and input value tensor must match, but we got "
                           f"boundaries tensor {list(s.shape)} and input value tensor {list(v.shape)}")
    if sorter is not None:
        s = s.gather(-1, sorter)
    s, v = s.detach(), v.detach()
    if s.dim() == 1:
        sb, vb = s, v.unsqueeze(-1)  # (..., m, 1) against (n,)
    else:
        sb, vb = s.unsqueeze(-2), v.unsqueeze(-1)  # (..., 1, n) against (..., m, 1)
    hit = (sb > vb if right else sb >= vb).logical_not()
    return hit.long().sum(-1)


def bucketize(input, boundaries, *, out_int32=False, right=False, out=None):
    if boundaries.dim() != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({boundaries.dim()})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right, out=out)


__all__ = ["unique", "unique_consecutive", "bincount", "histc", "searchsorted", "bucketize"]
