"""Shape and indexing ops composed from rustgrad's core ops (index_select, gather, scatter, where,
cat...), so autograd and the devices come from them: unfold, tensor_split/hsplit/vsplit/dsplit,
split_with_sizes, ravel, take/take_along_dim, put/put_, index_fill/index_copy/index_put,
masked_scatter, scatter_reduce, select/slice_scatter, rot90, fliplr/flipud, tile, broadcast_to,
sum_to_size, narrow_copy, fill_diagonal_, and the small predicates (is_same_size, is_nonzero...).
``METHODS`` is what python/rustgrad/_tensor.py attaches.
"""

import builtins
import numbers

from . import _C
from ._arg_check import check_bool, int_arg, int_list_arg, tensor_arg
from ._dtype_names import scalar_name
from ._ops_arith import _broadcast_shapes
from ._ops_extra import _index, _wrap_dim

Tensor = _C.Tensor


def _arange(n, device, start=0, step=1):
    return _C.arange(start, start + n * step, step, dtype=_C.int64, device=device) if n else _index([], device)


def unfold(self, dimension, size, step):
    """Every window of ``size`` elements ``step`` apart along ``dimension``, as a new last dim."""
    ndim = self.dim()
    d = _wrap_dim(int_arg("unfold", dimension, "dimension", 1), ndim)
    size, step = int_arg("unfold", size, "size", 2), int_arg("unfold", step, "step", 3)
    length = self.size(d) if ndim else 1
    if size > length:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {length} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    if ndim == 0:
        return self.reshape(1)
    windows = (length - size) // step + 1
    starts = _arange(windows, self.device, step=step)
    idx = (starts.unsqueeze(1) + _arange(size, self.device).unsqueeze(0)).reshape(-1)
    picked = self.index_select(d, idx)
    shape = list(self.shape)
    shape[d:d + 1] = [windows, size]
    return picked.reshape(shape).movedim(d + 1, -1)


def tensor_split(input, indices_or_sections, dim=0):
    """Split into ``n`` nearly equal parts (the first ones one longer), or at the given indices."""
    if input.dim() == 0:
        raise RuntimeError("tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims")
    d = _wrap_dim(dim, input.dim())
    length = input.size(d)
    if isinstance(indices_or_sections, Tensor):
        if indices_or_sections.dim() == 0:
            indices_or_sections = int(indices_or_sections.item())
        else:
            indices_or_sections = indices_or_sections.tolist()
    if isinstance(indices_or_sections, numbers.Integral):
        n = int_arg("tensor_split", indices_or_sections, "sections", 1)
        if n <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {n}")
        base, extra = divmod(length, n)
        bounds, start = [], 0
        for i in range(n):
            size = base + (1 if i < extra else 0)
            bounds.append((start, start + size))
            start += size
    else:
        if not isinstance(indices_or_sections, (tuple, list)):
            raise TypeError(f"tensor_split(): argument 'indices' (position 1) must be tuple of ints, not "
                            f"{type(indices_or_sections).__name__}")
        cuts = [min(max(c + length if c < 0 else c, 0), length)
                for c in int_list_arg("tensor_split", indices_or_sections, "indices", 1)]
        edges = [0] + cuts + [length]
        bounds = [(a, max(a, b)) for a, b in zip(edges, edges[1:])]
    return tuple(input.narrow(d, a, b - a) for a, b in bounds)


def _split_by_dim(name, dim, min_dims):
    def fn(input, indices_or_sections):
        if input.dim() < min_dims:
            raise RuntimeError(f"torch.{name} requires a tensor with at least {min_dims} dimension, but got a "
                               f"tensor with {input.dim()} dimensions!")
        d = 0 if name == "hsplit" and input.dim() == 1 else dim
        if isinstance(indices_or_sections, numbers.Integral) and (
                indices_or_sections == 0 or input.size(d) % indices_or_sections):
            raise RuntimeError(f"torch.{name} attempted to split along dimension {d}, but the size of the "
                               f"dimension {input.size(d)} is not divisible by the split_size "
                               f"{indices_or_sections}!")
        return tensor_split(input, indices_or_sections, d)

    fn.__name__ = name
    return fn


hsplit = _split_by_dim("hsplit", 1, 1)
vsplit = _split_by_dim("vsplit", 0, 2)
dsplit = _split_by_dim("dsplit", 2, 3)


def split_with_sizes(self, split_sizes, dim=0):
    d = _wrap_dim(dim, self.dim())
    if sum(split_sizes) != self.size(d):
        raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {self.size(d)} (input tensor's "
                           f"size at dimension {d}), but got split_sizes={list(split_sizes)}")
    return self.split(list(split_sizes), d)


def ravel(input):
    return input.reshape(-1)


def _flat_index(index, numel, fn_name="take"):
    tensor_arg(fn_name, index, "index", 1)
    if index.dtype != _C.int64:
        raise RuntimeError(f"take(): Expected a long tensor for index, but got {scalar_name(index.dtype)}")
    if numel == 0 and index.numel():
        raise IndexError("take(): tried to take from an empty tensor")
    bad = (index >= numel) | (index < -numel)
    if index.numel() and bool(bad.any()):
        first = int(index.masked_select(bad)[0].item())
        raise IndexError(f"out of range: tried to access index {first} on a tensor of {numel} elements.")
    return _C.where(index < 0, index + numel, index)


def take(input, index):
    """The elements of ``input`` (read as 1-D) at ``index``, in ``index``'s shape."""
    idx = _flat_index(index, input.numel())
    return input.reshape(-1).index_select(0, idx.reshape(-1)).reshape(index.shape)


def take_along_dim(input, indices, dim=None):
    tensor_arg("take_along_dim", indices, "indices", 1)
    if dim is None:
        return take(input, indices)
    d = _wrap_dim(int_arg("take_along_dim", dim, "dim", 2), input.dim())
    shape = list(_broadcast(input.shape, indices.shape, d))
    in_shape, idx_shape = list(shape), list(shape)
    in_shape[d], idx_shape[d] = input.size(d), indices.size(d)
    return input.expand(*in_shape).gather(d, indices.expand(*idx_shape))


def _broadcast(a, b, skip):
    if len(a) != len(b):
        raise RuntimeError(f"torch.take_along_dim(): input and indices should have the same number of "
                           f"dimensions, but got {len(a)} dimensions for input, and {len(b)} dimensions for indices")
    out = []
    for i, (x, y) in enumerate(zip(a, b)):
        if i == skip or x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise RuntimeError(f"The size of tensor a ({x}) must match the size of tensor b ({y}) at "
                               f"non-singleton dimension {i}")
    return out


def put(input, index, source, accumulate=False):
    """``input`` (read as 1-D) with ``source`` written (or added) at ``index``."""
    idx = _flat_index(index, input.numel(), "put").reshape(-1)
    src = tensor_arg("put", source, "source", 2).reshape(-1).to(input.dtype)
    if src.numel() != idx.numel():
        raise RuntimeError(f"put_(): Expected source and index to have the same number of elements, but got "
                           f"source.numel() = {src.numel()}, index.numel() = {idx.numel()}")
    flat = input.reshape(-1)
    out = flat.scatter_add(0, idx, src) if accumulate else flat.scatter(0, idx, src)
    return out.reshape(input.shape)


def _along(index, dim, like):
    """``index`` (1-D, along ``dim``) broadcast to ``like``'s shape with ``dim`` of index's length."""
    shape = [1] * like.dim()
    shape[dim] = index.numel()
    full = list(like.shape)
    full[dim] = index.numel()
    return index.reshape(shape).expand(*full)


def _check_index(fn_name, index, dim, size):
    """``index`` (a vector or scalar of int64 positions along ``dim``) as non-negative positions, with
    PyTorch's messages for index_fill and index_copy."""
    tensor_arg(fn_name, index, "index", 2)
    if fn_name == "index_fill":
        if index.dim() > 1:
            raise RuntimeError("Index has to be a vector/scalar")
        if index.dtype != _C.int64:
            raise IndexError("index_fill_(): Expected dtype int64 for index.")
        prefix = ""
    else:
        if index.dim() > 1:
            raise IndexError(f"index_copy_(): Index should have dimension 1 or 0 (got {index.dim()})")
        if index.dtype != _C.int64:
            raise RuntimeError(f"index_copy_(): Expected a long tensor for index, but got {scalar_name(index.dtype)}")
        prefix = "index_copy_(): "
    index = index.reshape(-1)
    bad = (index >= size) | (index < -size)
    if index.numel() and bool(bad.any()):
        first = int(index.masked_select(bad)[0].item())
        raise IndexError(f"{prefix}index {first} is out of bounds for dimension {dim} with size {size}")
    return _C.where(index < 0, index + size, index)


def index_fill(self, dim, index, value):
    """``self`` with the slices at ``index`` along ``dim`` set to ``value``."""
    d = _wrap_dim(int_arg("index_fill", dim, "dim", 1), self.dim())
    if not isinstance(value, (Tensor, numbers.Number)):
        raise TypeError(f"index_fill(): argument 'value' (position 3) must be Number, not {type(value).__name__}")
    index = _check_index("index_fill", index, d, self.size(d) if self.dim() else 1)
    if isinstance(value, Tensor) and value.dim() != 0:
        raise RuntimeError(f"index_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                           f"{value.dim()} dimension(s).")
    if self.dim() == 0:
        return _C.full_like(self, value.item() if isinstance(value, Tensor) else value) if index.numel() \
            else self.clone()
    shape = [1] * self.dim()
    shape[d] = self.size(d)
    hit = _C.zeros(self.size(d), dtype=_C.bool, device=self.device)
    if index.numel():
        hit = hit.scatter(0, index, _C.ones(index.numel(), dtype=_C.bool, device=self.device))
    mask = hit.reshape(shape)
    if isinstance(value, Tensor):
        return _C.where(mask, value.to(self.dtype), self)
    return self.masked_fill(mask, value)


def index_copy(self, dim, index, source):
    """``self`` with the slices at ``index`` along ``dim`` replaced by ``source``'s slices."""
    d = _wrap_dim(int_arg("index_copy", dim, "dim", 1), self.dim())
    tensor_arg("index_copy", source, "source", 3)
    index = _check_index("index_copy", index, d, self.size(d) if self.dim() else 1)
    if self.dim() == 0:
        return source.reshape(()).clone()
    if source.dim() != self.dim() or source.size(d) != index.numel():
        raise IndexError(f"index_copy_(): Source/destination tensor must have same slice shapes. Destination slice "
                         f"shape: {list(self.shape[:d] + self.shape[d + 1:])} at dimension {d} and source slice "
                         f"shape: {list(source.shape[:d] + source.shape[d + 1:])} at dimension 0.")
    return self.scatter(d, _along(index, d, source), source.to(self.dtype))


def index_put(self, indices, values, accumulate=False):
    """``self`` with ``values`` written (or added) at the positions the tuple ``indices`` picks."""
    if not isinstance(indices, (tuple, list)):
        raise TypeError("index_put(): argument 'indices' must be tuple of Tensors")
    for i in indices:
        tensor_arg("index_put", i, "indices", 1)
    tensor_arg("index_put", values, "values", 2)
    if len(indices) > self.dim():
        raise IndexError(f"too many indices for tensor of dimension {self.dim()} (got {len(indices)})")
    # The linear position of each picked element of the leading dims, broadcast like advanced indexing.
    idx = [i.nonzero().unbind(1) if i.dtype == _C.bool else (i,) for i in indices]
    idx = [t for group in idx for t in group]
    lead = list(self.shape[:len(idx)])
    rest = list(self.shape[len(idx):])
    linear = None
    for t, size in zip(idx, lead):
        t = _C.where(t < 0, t + size, t)
        linear = t if linear is None else linear * size + t
    inner = 1
    for s in rest:
        inner *= s
    if isinstance(values, Tensor) and values.dtype != self.dtype:
        raise RuntimeError(f"Index put requires the source and destination dtypes match, got "
                           f"{scalar_name(self.dtype)} for the destination and {scalar_name(values.dtype)} for the "
                           "source.")
    flat = self.reshape(-1, *rest) if rest else self.reshape(-1)
    pick_shape = list(linear.shape) + rest
    vals = values.to(self.dtype).expand(*pick_shape).reshape(-1, *rest) if rest else \
        values.to(self.dtype).expand(*pick_shape).reshape(-1)
    lin = linear.reshape(-1)
    if rest:
        lin = lin.reshape([-1] + [1] * len(rest)).expand(*vals.shape)
    out = flat.scatter_add(0, lin, vals) if accumulate else flat.scatter(0, lin, vals)
    return out.reshape(self.shape)


def masked_scatter(self, mask, source):
    """``self`` with the positions where ``mask`` is True filled, in order, from ``source``'s elements."""
    tensor_arg("masked_scatter", mask, "mask", 1)
    tensor_arg("masked_scatter", source, "source", 2)
    if mask.dtype != _C.bool:
        raise RuntimeError(f"masked_scatter_ only supports boolean masks, but got mask with dtype "
                           f"{scalar_name(mask.dtype)}")
    shape = _broadcast_shapes(self, mask)
    m = mask.expand(*shape)
    x = self.expand(*shape)
    order = m.reshape(-1).long().cumsum(0) - 1
    count = int(m.sum().item())
    if count > source.numel():
        raise RuntimeError("masked_scatter: expected source to have at least as many elements as ones in mask")
    picked = source.reshape(-1).index_select(0, order.clamp(min=0)).reshape(shape)
    return _C.where(m, picked.to(self.dtype), x)


def scatter_reduce(self, dim, index, src, reduce, *, include_self=True):
    """scatter with ``reduce`` in sum/mean/amax/amin/prod; ``include_self=False`` leaves the targets'
    own values out of the reduction."""
    if reduce not in ("sum", "prod", "mean", "amax", "amin"):
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    d = _wrap_dim(int_arg("scatter_reduce", dim, "dim", 1), self.dim())
    tensor_arg("scatter_reduce", index, "index", 2)
    tensor_arg("scatter_reduce", src, "src", 3)
    hit = _C.zeros_like(self).scatter(d, index, _C.ones_like(src)).bool()
    if reduce in ("sum", "mean"):
        base = self if include_self else self.masked_fill(hit, 0)
        total = base.scatter_add(d, index, src.to(self.dtype))
        if reduce == "sum":
            return total
        counts = _C.ones_like(self) if include_self else (~hit).to(self.dtype)
        counts = counts.scatter_add(d, index, _C.ones_like(src).to(self.dtype))
        counts = _C.where(counts == 0, _C.ones_like(counts), counts)
        mean = total / counts
        return mean if self.is_floating_point() else mean.floor().to(self.dtype)
    raise NotImplementedError(f"scatter_reduce(): reduce='{reduce}' is not implemented in rustgrad yet")


def select_scatter(input, src, dim, index):
    tensor_arg("select_scatter", src, "src", 1)
    d = _wrap_dim(int_arg("select_scatter", dim, "dim", 2), input.dim())
    index = int_arg("select_scatter", index, "index", 3)
    size = input.size(d)
    if not -size <= index < size:
        raise IndexError(f"select(): index {index} out of range for tensor of size {list(input.shape)} at "
                         f"dimension {d}")
    return index_copy(input, d, _index([index % size], input.device), src.unsqueeze(d))


def slice_scatter(input, src, dim=0, start=None, end=None, step=1):
    tensor_arg("slice_scatter", src, "src", 1)
    d = _wrap_dim(int_arg("slice_scatter", dim, "dim", 2), input.dim())
    start = None if start is None else int_arg("slice_scatter", start, "start", 3)
    end = None if end is None else int_arg("slice_scatter", end, "end", 4)
    step = int_arg("slice_scatter", step, "step", 5)
    if step <= 0:
        raise RuntimeError("slice step must be positive")
    positions = list(range(input.size(d)))[slice(start, end, step)]
    return index_copy(input, d, _index(positions, input.device), src)


def rot90(input, k=1, dims=(0, 1)):
    """Rotates by 90 degrees ``k`` times in the plane ``dims``, from the first axis toward the second."""
    k = int_arg("rot90", k, "k", 1)
    dims = int_list_arg("rot90", dims, "dims", 2)
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if input.dim() < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {input.dim()}")
    a, b = (_wrap_dim(x, input.dim()) for x in dims)
    if a == b:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {a} and dim1 = {b}")
    k %= 4
    if k == 1:
        return input.flip(b).transpose(a, b)
    if k == 2:
        return input.flip(a).flip(b)
    if k == 3:
        return input.flip(a).transpose(a, b)
    return input.clone()


def fliplr(input):
    if input.dim() < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return input.flip(1)


def flipud(input):
    if input.dim() < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return input.flip(0)


def tile(input, dims):
    dims = int_list_arg("tile", dims, "dims", 1)
    dims = [1] * (input.dim() - len(dims)) + dims
    return input.reshape([1] * (len(dims) - input.dim()) + list(input.shape)).repeat(*dims)


def broadcast_to(input, size):
    size = int_list_arg("broadcast_to", size, "size", 1)
    return input.expand(*size)


def _sum_to_size(self, *size):
    size = list(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else list(size)
    size = int_list_arg("sum_to_size", size, "size", 1)
    lead = self.dim() - len(size)
    if lead < 0 or any(s != 1 and s != self.size(lead + i) for i, s in enumerate(size)):
        raise RuntimeError(f"size {{{list(size)}}} is not expandable to size {{{list(self.shape)}}}.")
    out = self.sum(list(range(lead)), keepdim=False) if lead else self
    for i, s in enumerate(size):
        if s == 1 and out.size(i) != 1:
            out = out.sum(i, keepdim=True)
    return out


def _narrow_copy(self, dim, start, length):
    dim, start, length = (int_arg("narrow_copy", v, n, i + 1) for i, (v, n) in
                          enumerate(((dim, "dim"), (start, "start"), (length, "length"))))
    return self.narrow(dim, start, length).clone()


def _fill_diagonal_(self, fill_value, wrap=False):
    wrap = check_bool(wrap, "fill_diagonal_", "wrap")
    if self.dim() < 2:
        raise RuntimeError("dimensions must larger than 1")
    if self.dim() > 2 and len(set(self.shape)) != 1:
        raise RuntimeError("all dimensions of input must be of equal length")
    n = self.numel()
    rows = self.size(0)
    stride = sum(self.stride()) if self.dim() > 2 else self.size(1) + 1
    if self.dim() == 2 and not wrap and rows > self.size(1):
        n = self.size(1) * self.size(1)
    positions = _arange((n - 1) // stride + 1, self.device, step=stride)
    flat = self.reshape(-1)
    hit = _C.zeros(self.numel(), dtype=_C.bool, device=self.device).scatter(
        0, positions, _C.ones(positions.numel(), dtype=_C.bool, device=self.device))
    return self.copy_(flat.masked_fill(hit, fill_value).reshape(self.shape))


def _is_same_size(self, other):
    tensor_arg("is_same_size", other, "other", 1)
    return tuple(self.shape) == tuple(other.shape)


def _is_nonzero(self):
    if self.numel() == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if self.numel() > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(self.item() != 0)


def _is_signed(self):
    # bool and uint8 are PyTorch's unsigned dtypes (by name: uint8 may not exist in this build).
    return str(self.dtype).rsplit(".", 1)[-1] not in ("bool", "uint8")


def _dim_order(self, *, ambiguity_check=False):
    if ambiguity_check is not False:
        raise NotImplementedError("dim_order(): ambiguity_check is not supported by rustgrad")
    strides = self.stride()
    return tuple(sorted(range(self.dim()), key=lambda d: (-strides[d], d)))


def _inplace(fn):
    def method(self, *args, **kwargs):
        return self.copy_(fn(self, *args, **kwargs))

    method.__name__ = fn.__name__ + "_"
    return method


def _map_(self, tensor, callable):
    """``self[i] = callable(self[i], tensor[i])`` element by element on the host (CPU tensors, as PyTorch)."""
    tensor_arg("map_", tensor, "tensor", 1)
    if not builtins.callable(callable):
        raise TypeError(f"map_(): argument 'callable' must be callable, not {type(callable).__name__}")
    other = tensor.expand(*self.shape)
    values = [callable(a, b) for a, b in zip(self.reshape(-1).tolist(), other.reshape(-1).tolist())]
    return self.copy_(_C.tensor(values, dtype=self.dtype).reshape(self.shape))


def _mH(self):
    return self.mT


def _H(self):
    if self.dim() not in (0, 2):
        raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got {self.dim()}-D tensor. "
                           "For batches of matrices, consider using tensor.mH")
    return self.t() if self.dim() == 2 else self


def _identity(self):
    return self


def _false(self):
    return False


FUNCTIONS = {
    "tensor_split": tensor_split, "hsplit": hsplit, "vsplit": vsplit, "dsplit": dsplit,
    "split_with_sizes": split_with_sizes, "ravel": ravel, "take": take, "take_along_dim": take_along_dim,
    "put": put, "index_fill": index_fill, "index_copy": index_copy, "index_put": index_put,
    "masked_scatter": masked_scatter, "scatter_reduce": scatter_reduce, "select_scatter": select_scatter,
    "slice_scatter": slice_scatter, "rot90": rot90, "fliplr": fliplr, "flipud": flipud, "tile": tile,
    "broadcast_to": broadcast_to, "narrow_copy": _narrow_copy, "is_same_size": _is_same_size,
    "is_nonzero": _is_nonzero, "is_signed": _is_signed, "unsafe_split": lambda t, s, dim=0: t.split(s, dim),
    "unsafe_chunk": lambda t, c, dim=0: t.chunk(c, dim), "adjoint": _mH,
    "unsafe_split_with_sizes": split_with_sizes, "argwhere": lambda t: t.nonzero(),
    "conj": _identity, "resolve_conj": _identity, "resolve_neg": _identity, "conj_physical": lambda t: t.clone(),
    "is_conj": _false, "is_neg": _false,
}

METHODS = dict(FUNCTIONS)
METHODS.update({
    "unfold": unfold, "put_": _inplace(put), "index_fill_": _inplace(index_fill),
    "index_copy_": _inplace(index_copy), "index_put_": _inplace(index_put),
    "masked_scatter_": _inplace(masked_scatter), "scatter_reduce_": _inplace(scatter_reduce),
    "index_add_": _inplace(lambda self, *a, **k: self.index_add(*a, **k)),
    "scatter_": _inplace(lambda self, *a, **k: self.scatter(*a, **k)),
    "scatter_add_": _inplace(lambda self, *a, **k: self.scatter_add(*a, **k)),
    "sum_to_size": _sum_to_size, "fill_diagonal_": _fill_diagonal_, "dim_order": _dim_order,
    "map_": _map_, "mH": property(_mH), "H": property(_H),
    "is_pinned": _false, "is_shared": _false, "is_meta": property(_false), "conj_physical_": _identity,
})
