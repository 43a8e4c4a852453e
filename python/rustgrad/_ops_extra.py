"""More of PyTorch's tensor ops, composed from rustgrad's core ops (so autograd and the devices
come from the ops they use): einsum, tensordot, kron, baddbmm/addbmm, diag/diagonal/diag_embed,
trace, roll, cdist, fmod, logaddexp, hypot, logit, frac, nansum/nanmean, count_nonzero,
repeat_interleave, meshgrid, cartesian_prod.
"""

import numbers
import operator
import warnings

import numpy as np

from . import _C
from ._arg_check import check_bool, write_out
from ._dtype_names import not_implemented_for, require_floating, scalar_name
from ._ops_arith import _broadcast_shapes

Tensor = _C.Tensor


def _wrap_dim(dim, ndim):
    """A dim in [-ndim, ndim) made non-negative, with PyTorch's message (a 0-d tensor takes -1 and 0)."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


def _index(values, device):
    return _C.from_numpy(np.ascontiguousarray(np.asarray(values, dtype=np.int64).reshape(-1))).to(device)


def _permute_to(x, order):
    return x if list(order) == list(range(x.dim())) else x.permute(*order)


# ----- diagonals ----------------------------------------------------------------------------------

def _diagonal(self, offset=0, dim1=0, dim2=1):
    """The ``offset``-th diagonal of the (dim1, dim2) planes, as a new last dim."""
    ndim = self.dim()
    d1, d2 = _wrap_dim(dim1, ndim), _wrap_dim(dim2, ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    n, m = self.shape[d1], self.shape[d2]
    rest = [d for d in range(ndim) if d not in (d1, d2)]
    x = _permute_to(self, rest + [d1, d2])
    batch = [self.shape[d] for d in rest]
    if offset >= 0:
        length = max(min(n, m - offset), 0)
        idx = [i * m + i + offset for i in range(length)]
    else:
        length = max(min(n + offset, m), 0)
        idx = [(i - offset) * m + i for i in range(length)]
    flat = x.reshape(*batch, n * m)
    return flat.index_select(len(batch), _index(idx, self.device))


def _place_diagonal(v, offset):
    """(..., n) -> (..., n + |offset|, n + |offset|) with ``v`` on the ``offset``-th diagonal."""
    n = v.shape[-1]
    batch = list(v.shape[:-1])
    eye = _C.eye(n, dtype=v.dtype, device=v.device)
    out = v.unsqueeze(-1) * eye
    k = abs(offset)
    if k:
        z_rows = _C.zeros(batch + [k, n], dtype=v.dtype, device=v.device)
        z_cols = _C.zeros(batch + [n + k, k], dtype=v.dtype, device=v.device)
        if offset > 0:  # above the main diagonal: zero rows below, zero columns on the left
            out = _C.cat([z_cols, _C.cat([out, z_rows], -2)], -1)
        else:
            out = _C.cat([_C.cat([z_rows, out], -2), z_cols], -1)
    return out


def _diag_embed(self, offset=0, dim1=-2, dim2=-1):
    """The last dim of ``self`` on the ``offset``-th diagonal of new dims ``dim1`` and ``dim2``."""
    ndim = self.dim() + 1
    d1, d2 = _wrap_dim(dim1, ndim), _wrap_dim(dim2, ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    if self.dim() == 0:
        self = self.reshape(1)
    out = _place_diagonal(self, offset)
    nb = ndim - 2
    others = iter(range(nb))
    perm = [nb if d == d1 else nb + 1 if d == d2 else next(others) for d in range(ndim)]
    return _permute_to(out, perm)


def _diag(self, diagonal=0):
    if self.dim() == 1:
        return _place_diagonal(self, diagonal)
    if self.dim() == 2:
        return _diagonal(self, diagonal, 0, 1)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {self.dim()}D")


def _trace(self):
    if self.dim() != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {self.dim()}")
    out = _diagonal(self, 0, 0, 1).sum()
    return out if self.is_floating_point() else out.long()


# ----- roll ---------------------------------------------------------------------------------------

def _as_tuple(x):
    if isinstance(x, (tuple, list)):
        return tuple(int(v) for v in x)
    return (int(x),)


def _roll(self, shifts, dims=None):
    shifts = _as_tuple(shifts)
    if dims is None:
        if len(shifts) == 0:
            raise RuntimeError("`shifts` required")
        if len(shifts) != 1:
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:0")
        return _roll(self.reshape(-1), shifts, (0,)).reshape(self.shape)
    dims = _as_tuple(dims)
    if len(shifts) == 0 and len(dims) == 0:
        raise RuntimeError("`shifts` required")
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    out = self
    for s, d in zip(shifts, dims):
        d = _wrap_dim(d, self.dim())
        n = out.shape[d]
        if n == 0:
            continue
        s %= n
        if s:
            out = _C.cat([out.narrow(d, n - s, s), out.narrow(d, 0, n - s)], d)
    return out


# ----- products -----------------------------------------------------------------------------------

def _contract(a, b, dims_a, dims_b):
    """Sums a * b over the paired dims; the result has a's free dims then b's free dims (a matmul)."""
    free_a = [d for d in range(a.dim()) if d not in dims_a]
    free_b = [d for d in range(b.dim()) if d not in dims_b]
    k = 1
    for d in dims_a:
        k *= a.shape[d]
    sa = [a.shape[d] for d in free_a]
    sb = [b.shape[d] for d in free_b]
    m = int(np.prod(sa, dtype=np.int64))
    n = int(np.prod(sb, dtype=np.int64))
    am = _permute_to(a, free_a + list(dims_a)).reshape(m, k)
    bm = _permute_to(b, list(dims_b) + free_b).reshape(k, n)
    return am.mm(bm).reshape(sa + sb)


def tensordot(a, b, dims=2, out=None):
    """Sums the product of ``a`` and ``b`` over ``dims`` (an int: a's last and b's first dims; or a
    pair of lists of dims)."""
    return write_out(_tensordot(a, b, dims), out, "tensordot", dtype_message=lambda r, o: (
        f"tensordot: Expected the output tensor to have dtype {scalar_name(r.dtype)}, but got an output tensor "
        f"with dtype {scalar_name(o.dtype)}"))


def _tensordot(a, b, dims):
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, numbers.Integral):
        dims = int(dims)
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        if dims > a.dim() or dims > b.dim():
            raise RuntimeError(f"tensordot expects dims < ndim_a or ndim_b, but got dims={dims}")
        dims_a = list(range(a.dim() - dims, a.dim()))
        dims_b = list(range(dims))
    else:
        da, db = dims
        dims_a = list(_as_tuple(da))
        dims_b = list(_as_tuple(db))
    if len(dims_a) != len(dims_b):
        raise RuntimeError("both dimension lists should have same length")
    dims_a = [_wrap_dim(d, a.dim()) for d in dims_a]
    dims_b = [_wrap_dim(d, b.dim()) for d in dims_b]
    for x, y in zip(dims_a, dims_b):
        if a.shape[x] != b.shape[y]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size {a.shape[x]} in dim {x} "
                               f"and second has size {b.shape[y]} in dim {y}")
    return _contract(a, b, dims_a, dims_b)


def _tensor_other(fn, other, position=1):
    if not isinstance(other, Tensor):
        raise TypeError(f"{fn}(): argument 'other' (position {position}) must be Tensor, not {type(other).__name__}")


def _kron(self, other):
    _tensor_other("kron", other)
    nd = max(self.dim(), other.dim())
    a = self.reshape([1] * (nd - self.dim()) + list(self.shape))
    b = other.reshape([1] * (nd - other.dim()) + list(other.shape))
    sa, sb = list(a.shape), list(b.shape)
    a = a.reshape([v for s in sa for v in (s, 1)])
    b = b.reshape([v for s in sb for v in (1, s)])
    return (a * b).reshape([x * y for x, y in zip(sa, sb)])


def _check_bmm_args(name, batch1, batch2):
    for label, t in (("batch1", batch1), ("batch2", batch2)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}(): argument '{label}' must be Tensor, not {type(t).__name__}")
        if t.dim() != 3:
            raise RuntimeError(f"{label} must be a 3D tensor")


def _baddbmm(self, batch1, batch2, *, beta=1, alpha=1):
    """``beta * self + alpha * (batch1 @ batch2)`` per batch (``self`` broadcasts; ignored when beta is 0)."""
    _check_bmm_args("baddbmm", batch1, batch2)
    b, n, m = batch1.shape
    if tuple(batch2.shape[:2]) != (b, m):
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: [{b}, {m}] but got: "
                           f"[{batch2.shape[0]}, {batch2.shape[1]}].")
    p = batch2.shape[2]
    bias = _expand_to(self, [b, n, p])
    out = batch1.bmm(batch2)
    if alpha != 1:
        out = out * alpha
    if beta == 0:
        return out
    return out + (bias if beta == 1 else bias * beta)


def _addbmm(self, batch1, batch2, *, beta=1, alpha=1):
    """``beta * self + alpha * sum_b (batch1[b] @ batch2[b])``."""
    _check_bmm_args("addbmm", batch1, batch2)
    if batch1.shape[0] != batch2.shape[0]:
        raise RuntimeError(f"batch1 and batch2 must have same number of batches, got {batch1.shape[0]} and "
                           f"{batch2.shape[0]}")
    b, n, m = batch1.shape
    if batch2.shape[1] != m:
        raise RuntimeError(f"Incompatible matrix sizes for bmm ({n}x{m} and {batch2.shape[1]}x{batch2.shape[2]})")
    p = batch2.shape[2]
    bias = _expand_to(self, [n, p])
    # sum_b A_b @ B_b is one matmul: [A_0 .. A_{B-1}] (n x B*m) @ [B_0; ..; B_{B-1}] (B*m x p).
    out = batch1.permute(1, 0, 2).reshape(n, b * m).mm(batch2.reshape(b * m, p))
    if alpha != 1:
        out = out * alpha
    if beta == 0:
        return out
    return out + (bias if beta == 1 else bias * beta)


def _expand_to(t, shape):
    src = list(t.shape)
    if len(src) > len(shape):
        raise RuntimeError(f"The expanded size of the tensor ({shape[0]}) must match the existing size "
                           f"({src[0]}) at non-singleton dimension 0.  Target sizes: {shape}.  Tensor sizes: {src}")
    padded = [1] * (len(shape) - len(src)) + src
    for i, (x, y) in enumerate(zip(padded, shape)):
        if x != y and x != 1:
            raise RuntimeError(f"The expanded size of the tensor ({y}) must match the existing size ({x}) at "
                               f"non-singleton dimension {i}.  Target sizes: {list(shape)}.  Tensor sizes: {src}")
    return t if src == list(shape) else t.expand(*shape)


def _inplace(fn):
    def method(self, *args, **kwargs):
        out = fn(self, *args, **kwargs)
        if tuple(out.shape) != tuple(self.shape):
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                               f"{list(out.shape)}")
        return self.copy_(out)

    method.__name__ = fn.__name__.lstrip("_") + "_"
    return method


# ----- einsum -------------------------------------------------------------------------------------

def _einsum_parse(equation, num_ops):
    eq = equation.replace(" ", "")
    if "->" in eq:
        lhs, out = eq.split("->", 1)
    else:
        lhs, out = eq, None
    terms = lhs.split(",")
    if len(terms) > num_ops:
        raise RuntimeError("einsum(): fewer operands were provided than specified in the equation")
    if len(terms) < num_ops:
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")
    pos = 0
    parsed = []
    for k, term in enumerate(terms):
        labels, ell, i = [], False, 0
        while i < len(term):
            c = term[i]
            if c == ".":
                if ell:
                    raise RuntimeError(f"einsum(): found '.' for operand {k} for which an ellipsis was already found")
                if term[i:i + 3] != "...":
                    raise RuntimeError(f"einsum(): found '.' for operand {k} that is not part of any ellipsis")
                labels.append("...")
                ell = True
                i += 3
                continue
            if not (c.isascii() and c.isalpha()):
                raise RuntimeError(f"einsum(): invalid subscript given at index {pos + i} in the equation string, "
                                   "subscripts must be in [a-zA-Z]")
            labels.append(c)
            i += 1
        parsed.append(labels)
        pos += len(term) + 1
    out_labels = None
    if out is not None:
        pos = len(lhs) + 2
        out_labels, ell, i = [], False, 0
        while i < len(out):
            c = out[i]
            if c == ".":
                if ell or out[i:i + 3] != "...":
                    raise RuntimeError("einsum(): found '.' for output that is not part of any ellipsis")
                out_labels.append("...")
                ell = True
                i += 3
                continue
            if not (c.isascii() and c.isalpha()):
                raise RuntimeError(f"einsum(): invalid subscript given at index {pos + i} in the equation string, "
                                   "subscripts must be in [a-zA-Z]")
            out_labels.append(c)
            i += 1
    return parsed, out_labels


def einsum(*args):
    """Sums products of operands over the labels of an Einstein-summation ``equation``; repeated
    labels take diagonals, '...' broadcasts, and pairs of operands contract as one (batched) matmul."""
    if len(args) < 1:
        raise TypeError("einsum(): must specify the equation string and at least one operand, or at least one "
                        "operand and its subscripts list")
    equation, operands = args[0], list(args[1:])
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = list(operands[0])
    parsed, out_labels = _einsum_parse(equation, len(operands))
    # Each operand's labels with '...' replaced by one label per broadcast dim (right-aligned).
    ell_ndim = 0
    for k, (labels, op) in enumerate(zip(parsed, operands)):
        named = len([lab for lab in labels if lab != "..."])
        if "..." in labels:
            if op.dim() < named:
                raise RuntimeError(f"einsum(): the number of subscripts in the equation ({named}) is more than the "
                                   f"number of dimensions ({op.dim()}) for operand {k}")
            ell_ndim = max(ell_ndim, op.dim() - named)
        elif named != op.dim():
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({named}) does not match the "
                               f"number of dimensions ({op.dim()}) for operand {k} and no ellipsis was given")
    ell_labels = [chr(0x100 + i) for i in range(ell_ndim)]
    ops, op_labels = [], []
    for labels, op in zip(parsed, operands):
        full = []
        for lab in labels:
            if lab == "...":
                n = op.dim() - (len(labels) - 1)
                full.extend(ell_labels[ell_ndim - n:])
            else:
                full.append(lab)
        # An operand with fewer ellipsis dims than another lacks the leading ones: they broadcast.
        ops.append(op)
        op_labels.append(full)
    # Sizes per label (1 broadcasts against n).
    sizes = {}
    for k, (op, labels) in enumerate(zip(ops, op_labels)):
        seen = {}
        for lab, s in zip(labels, op.shape):
            if lab in seen and seen[lab] != s:
                raise RuntimeError(f"einsum(): subscript {lab} is repeated for operand {k} but the sizes don't "
                                   f"match, {s} != {seen[lab]}")
            seen[lab] = s
        for lab, s in seen.items():
            prev = sizes.get(lab)
            if prev is None or prev == 1:
                sizes[lab] = s
            elif s != 1 and s != prev:
                raise RuntimeError(f"einsum(): subscript {lab} has size {s} for operand {k} which does not broadcast "
                                   f"with previously seen size {prev}")
    if out_labels is None:
        counts = {}
        for labels in parsed:
            for lab in labels:
                if lab != "...":
                    counts[lab] = counts.get(lab, 0) + 1
        out_full = list(ell_labels) + sorted(lab for lab, c in counts.items() if c == 1)
    else:
        out_full = []
        for lab in out_labels:
            if lab == "...":
                out_full.extend(ell_labels)
                continue
            if lab in out_full:
                raise RuntimeError(f"einsum(): output subscript {lab} appears more than once in the output")
            if not any(lab in labels for labels in parsed):
                raise RuntimeError(f"einsum(): output subscript {lab} does not appear in the equation for any input "
                                   "operand")
            out_full.append(lab)
    # Take diagonals of labels repeated within an operand.
    for k in range(len(ops)):
        op, labels = ops[k], op_labels[k]
        while len(set(labels)) != len(labels):
            lab = next(lab for lab in labels if labels.count(lab) > 1)
            i = labels.index(lab)
            j = labels.index(lab, i + 1)
            op = _diagonal(op, 0, i, j)
            labels = [x for n, x in enumerate(labels) if n not in (i, j)] + [lab]
        ops[k], op_labels[k] = op, labels

    def needed(k_skip, extra=()):
        keep = set(out_full)
        for kk, labels in enumerate(op_labels):
            if kk not in k_skip:
                keep.update(labels)
        keep.update(extra)
        return keep

    def sum_out(op, labels, keep):
        drop = [i for i, lab in enumerate(labels) if lab not in keep]
        if drop:
            op = op.sum(drop) if len(drop) else op
            labels = [lab for i, lab in enumerate(labels) if i not in drop]
        return op, labels

    # Contract left to right.
    cur, cur_labels = sum_out(ops[0], op_labels[0], needed({0}))
    for k in range(1, len(ops)):
        rest = set(range(k + 1))
        other, other_labels = sum_out(ops[k], op_labels[k], needed(rest, cur_labels))
        cur, cur_labels = sum_out(cur, cur_labels, needed(rest, other_labels))
        cur, cur_labels = _einsum_pair(cur, cur_labels, other, other_labels, needed(rest), sizes)
    cur, cur_labels = sum_out(cur, cur_labels, set(out_full))
    # Broadcast dims that stayed size 1 in every operand keep their size; expand the rest.
    cur = _permute_to(cur, [cur_labels.index(lab) for lab in out_full])
    target = [sizes[lab] for lab in out_full]
    if list(cur.shape) != target:
        cur = cur.expand(*target)
    return cur


def _einsum_pair(a, la, b, lb, keep, sizes):
    """a * b summed over their shared labels not in ``keep``: one bmm over (batch, m, k) x (batch, k, n)."""
    # A contracted label of size 1 on one side and n on the other: sum the n side first.
    for lab in [x for x in la if x in lb and x not in keep]:
        ia, ib = la.index(lab), lb.index(lab)
        if a.shape[ia] != b.shape[ib]:
            if a.shape[ia] == 1:
                b = b.sum(ib, keepdim=True)
            else:
                a = a.sum(ia, keepdim=True)
    batch = [x for x in la if x in lb and x in keep]
    contr = [x for x in la if x in lb and x not in keep]
    only_a = [x for x in la if x not in lb]
    only_b = [x for x in lb if x not in la]
    bsz = [max(a.shape[la.index(x)], b.shape[lb.index(x)]) for x in batch]
    a = _permute_to(a, [la.index(x) for x in batch + only_a + contr])
    b = _permute_to(b, [lb.index(x) for x in batch + contr + only_b])
    sa = [a.shape[len(batch) + i] for i in range(len(only_a))]
    sb = [b.shape[len(batch) + len(contr) + i] for i in range(len(only_b))]
    kc = [a.shape[len(batch) + len(only_a) + i] for i in range(len(contr))]
    if list(a.shape[:len(batch)]) != bsz:
        a = a.expand(*(bsz + list(a.shape[len(batch):])))
    if list(b.shape[:len(batch)]) != bsz:
        b = b.expand(*(bsz + list(b.shape[len(batch):])))
    nb, m, n, k = _prod(bsz), _prod(sa), _prod(sb), _prod(kc)
    if not contr and (m == 1 or n == 1):
        # An outer product along one side only: a broadcast multiply is cheaper than a matmul.
        out = a.reshape(bsz + sa + [1] * len(sb)) * b.reshape(bsz + [1] * len(sa) + sb)
    else:
        out = a.reshape(nb, m, k).bmm(b.reshape(nb, k, n)).reshape(bsz + sa + sb)
    return out, batch + only_a + only_b


def _prod(xs):
    p = 1
    for x in xs:
        p *= x
    return p


# ----- cdist --------------------------------------------------------------------------------------

def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """The p-norm distance between each row of ``x1`` (..., P, M) and each row of ``x2`` (..., R, M),
    as (..., P, R); computed from the differences (exact at zero distance, where the gradient is zero)."""
    if x1.dim() < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.dim()}D")
    if x2.dim() < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X2 got: {x2.dim()}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}")
    if not x1.is_floating_point():
        raise RuntimeError(f"cdist only supports floating-point dtypes, X1 got: {scalar_name(x1.dtype)}")
    if not x2.is_floating_point():
        raise RuntimeError(f"cdist only supports floating-point dtypes, X2 got: {scalar_name(x2.dtype)}")
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    if compute_mode not in ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                            "donot_use_mm_for_euclid_dist"):
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    batch = _broadcast_shapes(_C.empty(list(x1.shape[:-2]), device=x1.device),
                              _C.empty(list(x2.shape[:-2]), device=x2.device))
    a = x1.unsqueeze(-2)  # (..., P, 1, M)
    b = x2.unsqueeze(-3)  # (..., 1, R, M)
    diff = a - b
    if p == 0:
        return (diff != 0).to(diff.dtype).sum(-1) + diff.abs().clamp_max(0.0).sum(-1)
    out = diff.norm(p, -1)
    shape = list(batch) + [x1.shape[-2], x2.shape[-2]]
    return out if list(out.shape) == shape else out.expand(*shape)


# ----- elementwise --------------------------------------------------------------------------------

def _promote_scalar(self, other):
    """A python number ``other`` against ``self``: a float number makes an integer tensor float32."""
    if isinstance(other, Tensor):
        return self, other
    if isinstance(other, float) and not self.is_floating_point():
        self = self.to(_C.float32)
    return self, other


def _logaddexp(self, other):
    _tensor_other("logaddexp", other)
    """log(exp(self) + exp(other)), as max + log1p(exp(-|self - other|))."""
    require_floating(self, "logaddexp")
    if isinstance(other, Tensor):
        require_floating(other, "logaddexp")
    m = self.maximum(other)
    d = _C.where(self == other, 0.0, self - other)
    return m + (-d.abs()).exp().log1p()


def _hypot(self, other):
    _tensor_other("hypot", other)
    require_floating(self, "hypot")
    return (self * self + other * other).sqrt()


def _logit(self, eps=None):
    """log(p / (1 - p)), ``p`` clamped to [eps, 1 - eps] when eps is given (no gradient outside)."""
    x = self if self.is_floating_point() else self.to(_C.float32)
    if eps is not None:
        lo, hi = eps, 1 - eps
        outside = (x < lo).logical_or(x > hi)
        x = _C.where(outside, x.clamp(lo, hi).detach(), x)
    return (x / (1 - x)).log()


def _frac(self):
    require_floating(self, "frac")
    return self - self.trunc().detach()


def _nan_dims(dim):
    if dim is None:
        return None
    return list(dim) if isinstance(dim, (tuple, list)) else dim


def _nansum(self, dim=None, keepdim=False, *, dtype=None):
    check_bool(keepdim, "nansum", "keepdim")
    x = self if dtype is None else self.to(dtype)
    if x.is_floating_point():
        x = _C.where(x.isnan(), 0.0, x)
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return x.sum()
    return x.sum(_nan_dims(dim), keepdim)


def _nanmean(self, dim=None, keepdim=False, *, dtype=None):
    check_bool(keepdim, "nanmean", "keepdim")
    if not self.is_floating_point():
        raise NotImplementedError(f"nanmean(): expected input to have floating point or complex dtype but got "
                                  f"{scalar_name(self.dtype)}")
    x = self if dtype is None else self.to(dtype)
    count = _nansum(x.isnan().logical_not().to(x.dtype), dim, keepdim)
    return _nansum(x, dim, keepdim) / count


def _count_nonzero(self, dim=None):
    nz = (self != 0).long()
    if dim is None:
        return nz.sum()
    dims = list(dim) if isinstance(dim, (tuple, list)) else [dim]
    wrapped = [_wrap_dim(d, self.dim()) for d in dims]
    for i, d in enumerate(wrapped):
        if d in wrapped[:i]:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
    if not wrapped:
        return nz.sum()
    return nz.sum(wrapped)


# ----- repeat_interleave, meshgrid ----------------------------------------------------------------

def _repeats_list(repeats, n):
    if isinstance(repeats, Tensor):
        if repeats.dim() > 1:
            raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
        if repeats.is_floating_point() or repeats.dtype == _C.bool:
            raise not_implemented_for(f"repeat_interleave_{repeats.device.type}", repeats.dtype)
        values = repeats.reshape(-1).tolist()
        if repeats.dim() == 0 or len(values) == 1:
            values = values * n
        if any(v < 0 for v in values):
            raise RuntimeError("repeats can not be negative")
        return values, len(values)
    repeats = operator.index(repeats)
    if repeats < 0:
        raise RuntimeError("Repeats must be non-negative")
    return [repeats] * n, n


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Repeats each element (or slice along ``dim``) by ``repeats`` (an int or one count per element);
    ``repeat_interleave(counts)`` alone gives the indices 0, 0, .., 1, .. repeated by the counts."""
    if output_size is not None and (isinstance(output_size, bool) or not isinstance(output_size, numbers.Integral)):
        raise TypeError(f"repeat_interleave(): argument 'output_size' must be int, not {type(output_size).__name__}")
    if repeats is None:
        if dim is not None:
            raise TypeError("repeat_interleave() received an invalid combination of arguments - got (Tensor, dim=int), "
                            "but expected one of:\n * (Tensor input, Tensor repeats, int dim = None, *, int "
                            "output_size = None)\n * (Tensor input, int repeats, int dim = None, *, int output_size = "
                            "None)\n * (Tensor repeats, *, int output_size = None)")
        if input.dim() > 1:
            raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
        counts, _ = _repeats_list(input, input.numel())
        if output_size is not None and output_size != sum(counts):
            raise RuntimeError("allocated size does not match required size")
        return _index(np.repeat(np.arange(len(counts)), counts), input.device)
    if dim is None:
        input = input.reshape(-1)
        dim = 0
    dim = _wrap_dim(dim, input.dim())
    if input.dim() == 0:
        input = input.reshape(1)
    n = input.shape[dim]
    counts, got = _repeats_list(repeats, n)
    if got != n:
        raise RuntimeError(f"repeats must have the same size as input along dim, but got repeats.size(0) = {got} "
                           f"and input.size({dim}) = {n}")
    if output_size is not None and output_size != sum(counts):
        if isinstance(repeats, Tensor):
            raise RuntimeError("allocated size does not match required size")
        raise RuntimeError(f"repeat_interleave: Invalid output_size, expected {sum(counts)} but got {output_size}")
    return input.index_select(dim, _index(np.repeat(np.arange(n), counts), input.device))


def _repeat_interleave(self, repeats=None, dim=None, *, output_size=None):
    if repeats is None:
        return repeat_interleave(self)
    return repeat_interleave(self, repeats, dim, output_size=output_size)


def meshgrid(*tensors, indexing=None):
    """Grids from 1-D tensors: output i varies along dim i ('ij') or with the first two dims swapped ('xy')."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the indexing argument.",
                      UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("xy", "ij"):
        raise RuntimeError(f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: {indexing}')
    if not tensors:
        return ()
    for t in tensors:
        if t.dim() > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t}")
    for t in tensors[1:]:
        if t.dtype != tensors[0].dtype:
            raise RuntimeError("meshgrid expects all tensors to have the same dtype")
        if t.device != tensors[0].device:
            raise RuntimeError("meshgrid expects all tensors to have the same device")
    ts = [t.reshape(-1) for t in tensors]
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = [t.numel() for t in ts]
    n = len(ts)
    outs = []
    for i, t in enumerate(ts):
        view = [1] * n
        view[i] = shape[i]
        outs.append(t.reshape(view).expand(*shape))
    if swap:
        outs[0], outs[1] = outs[1], outs[0]
    return tuple(outs)


def cartesian_prod(*tensors):
    """All combinations of the elements of 1-D tensors, one per row."""
    for t in tensors:
        if t.dim() != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {list(t.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return _C.stack([g.reshape(-1) for g in grids], 1)


# ----- top-level forms ----------------------------------------------------------------------------

def diag(input, diagonal=0):
    return _diag(input, diagonal)


def diagonal(input, offset=0, dim1=0, dim2=1):
    return _diagonal(input, offset, dim1, dim2)


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    return _diag_embed(input, offset, dim1, dim2)


def trace(input):
    return _trace(input)


def roll(input, shifts, dims=None):
    return _roll(input, shifts, dims)


def kron(input, other):
    return _kron(input, other)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    return _baddbmm(input, batch1, batch2, beta=beta, alpha=alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    return _addbmm(input, batch1, batch2, beta=beta, alpha=alpha)


def fmod(input, other):
    """C's fmod (``Tensor.fmod`` is one Rust op)."""
    return Tensor.fmod(input, other)


def logaddexp(input, other):
    return _logaddexp(input, other)


def hypot(input, other):
    return _hypot(input, other)


def logit(input, eps=None):
    return _logit(input, eps)


def frac(input):
    return _frac(input)


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    return _nansum(input, dim, keepdim, dtype=dtype)


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    return _nanmean(input, dim, keepdim, dtype=dtype)


def count_nonzero(input, dim=None):
    return _count_nonzero(input, dim)


__all__ = ["einsum", "tensordot", "cdist", "repeat_interleave", "meshgrid", "cartesian_prod", "diag", "diagonal",
           "diag_embed", "trace", "roll", "kron", "baddbmm", "addbmm", "fmod", "logaddexp", "hypot", "logit", "frac",
           "nansum", "nanmean", "count_nonzero"]
