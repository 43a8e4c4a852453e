"""PyTorch's legacy storage classes (``torch.FloatStorage`` ...) and the dtypes they stand for.

A checkpoint names each storage's element type by one of these classes. The table covers every
class PyTorch writes for the dtypes rustgrad may have; which of them rustgrad really has is looked
up when needed (``getattr(rustgrad, name)`` with the right item size), so a dtype added to
rustgrad later is picked up here without a change.
"""

import numpy as np

# storage class name, dtype name, item size, NumPy dtype of the raw elements (None: no NumPy type)
_TABLE = [
    ("BoolStorage", "bool", 1, np.bool_),
    ("ByteStorage", "uint8", 1, np.uint8),
    ("CharStorage", "int8", 1, np.int8),
    ("ShortStorage", "int16", 2, np.int16),
    ("IntStorage", "int32", 4, np.int32),
    ("LongStorage", "int64", 8, np.int64),
    ("HalfStorage", "float16", 2, np.float16),
    ("BFloat16Storage", "bfloat16", 2, None),
    ("FloatStorage", "float32", 4, np.float32),
    ("DoubleStorage", "float64", 8, np.float64),
    ("ComplexFloatStorage", "complex64", 8, np.complex64),
    ("ComplexDoubleStorage", "complex128", 16, np.complex128),
]


class MissingDtypeError(TypeError):
    """A checkpoint holds elements of a dtype rustgrad does not have."""


class StorageType:
    """One storage class of the table (what unpickling ``torch.FloatStorage`` gives)."""

    def __init__(self, storage_name, dtype_name, itemsize, numpy_dtype):
        self.storage_name = storage_name
        self.dtype_name = dtype_name
        self.itemsize = itemsize
        self.numpy_dtype = numpy_dtype

    def __repr__(self):
        return f"StorageType({self.storage_name})"

    def rustgrad_dtype(self):
        """The rustgrad dtype of this storage's elements; TypeError when rustgrad lacks it."""
        import rustgrad

        dtype = getattr(rustgrad, self.dtype_name, None)
        # An alias of another dtype (int32 standing for int64) is not the dtype itself.
        if not isinstance(dtype, rustgrad.dtype) or dtype.itemsize != self.itemsize:
            raise MissingDtypeError(
                f"rustgrad.load: the checkpoint holds a torch.{self.storage_name} (dtype {self.dtype_name}), "
                f"a dtype this version of rustgrad does not have"
            )
        return dtype


BY_STORAGE_NAME = {row[0]: StorageType(*row) for row in _TABLE}
_BY_DTYPE_NAME = {st.dtype_name: st for st in BY_STORAGE_NAME.values()}


def for_dtype(dtype):
    """The storage type of a rustgrad dtype (``rustgrad.float32`` -> FloatStorage)."""
    name = repr(dtype).rsplit(".", 1)[-1]
    st = _BY_DTYPE_NAME.get(name)
    if st is None or st.itemsize != dtype.itemsize:
        raise TypeError(f"rustgrad.save: no PyTorch storage type for dtype {dtype}")
    return st


def bfloat16_bits_to_float32(bits):
    """bfloat16 values (as uint16 bit patterns) widened exactly to float32."""
    return (bits.astype(np.uint32) << 16).view(np.float32)
