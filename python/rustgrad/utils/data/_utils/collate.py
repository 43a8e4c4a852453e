"""``default_collate`` and ``default_convert``: how samples become batches."""

import collections.abc
import re

import numpy as np

from .... import _C

Tensor = _C.Tensor

__all__ = ["default_collate", "default_convert"]


# ----- collation ----------------------------------------------------------------------------------

_np_str_obj_array_pattern = re.compile(r"[SaUO]")
_collate_err_msg_format = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                           "found {}")


def _numpy_to_tensor(array):
    """A tensor with the array's values: float32/float64/int64/bool keep their dtype, other ints
    become int64 and float16 becomes float32 (rustgrad's dtypes)."""
    array = np.asarray(array)
    kind = array.dtype.kind
    if kind == "f":
        if array.dtype not in (np.float32, np.float64):
            array = array.astype(np.float32)
    elif kind in "iu":
        if array.dtype != np.int64:
            array = array.astype(np.int64)
    elif kind == "b":
        pass
    else:
        raise TypeError(_collate_err_msg_format.format(array.dtype))
    return _C.from_numpy(np.ascontiguousarray(array))


def default_collate(batch):
    """Stacks a list of samples into a batch, as PyTorch's ``default_collate``: tensors and NumPy
    arrays are stacked (new first dim); Python floats give float64, ints int64 and bools bool
    tensors; strings stay a list; mappings, named tuples and sequences are collated per field
    (tuples and lists give lists)."""
    elem = batch[0]
    elem_type = type(elem)
    if isinstance(elem, Tensor):
        return _C.stack(list(batch), 0)
    if elem_type.__module__ == "numpy" and elem_type.__name__ not in ("str_", "string_"):
        if elem_type.__name__ in ("ndarray", "memmap"):
            if _np_str_obj_array_pattern.search(elem.dtype.str) is not None:
                raise TypeError(_collate_err_msg_format.format(elem.dtype))
            return _numpy_to_tensor(np.stack(batch, 0))
        if elem.shape == ():  # NumPy scalars
            return _numpy_to_tensor(np.array(batch))
    elif isinstance(elem, bool):
        return _C.tensor(list(batch), dtype=_C.bool)
    elif isinstance(elem, float):
        return _C.tensor(list(batch), dtype=_C.float64)
    elif isinstance(elem, int):
        return _C.tensor(list(batch), dtype=_C.int64)
    elif isinstance(elem, (str, bytes)):
        return batch
    elif isinstance(elem, collections.abc.Mapping):
        try:
            return elem_type({key: default_collate([d[key] for d in batch]) for key in elem})
        except TypeError:
            # The mapping type may not support construction from a dict.
            return {key: default_collate([d[key] for d in batch]) for key in elem}
    elif isinstance(elem, tuple) and hasattr(elem, "_fields"):  # named tuple
        return elem_type(*(default_collate(samples) for samples in zip(*batch)))
    elif isinstance(elem, collections.abc.Sequence):
        it = iter(batch)
        elem_size = len(next(it))
        if not all(len(e) == elem_size for e in it):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            return [default_collate(samples) for samples in transposed]
        try:
            return elem_type([default_collate(samples) for samples in transposed])
        except TypeError:
            return [default_collate(samples) for samples in transposed]
    raise TypeError(_collate_err_msg_format.format(elem_type))


def default_convert(data):
    """Converts NumPy arrays (also inside mappings and sequences) to tensors, without batching."""
    elem_type = type(data)
    if isinstance(data, Tensor):
        return data
    if elem_type.__module__ == "numpy" and elem_type.__name__ not in ("str_", "string_"):
        if elem_type.__name__ == "ndarray" and _np_str_obj_array_pattern.search(data.dtype.str) is not None:
            return data
        return _numpy_to_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        try:
            return elem_type({key: default_convert(data[key]) for key in data})
        except TypeError:
            return {key: default_convert(data[key]) for key in data}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return elem_type([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data
