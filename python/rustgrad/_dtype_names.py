"""PyTorch's names for each dtype, as its messages print them: the one table the Python layer reads.

(The Rust core has the same names for its own messages: ``DType::scalar_name`` and ``legacy_name``.)
"""

# dtype -> (scalar-type name, C++ type name, legacy tensor-type name), keyed by the name after the dot.
_NAMES = {
    "bool": ("Bool", "bool", "BoolTensor"),
    "uint8": ("Byte", "unsigned char", "ByteTensor"),
    "int8": ("Char", "signed char", "CharTensor"),
    "int16": ("Short", "short int", "ShortTensor"),
    "int32": ("Int", "int", "IntTensor"),
    "int64": ("Long", "long int", "LongTensor"),
    "float16": ("Half", "c10::Half", "HalfTensor"),
    "bfloat16": ("BFloat16", "c10::BFloat16", "BFloat16Tensor"),
    "float32": ("Float", "float", "FloatTensor"),
    "float64": ("Double", "double", "DoubleTensor"),
}


def from_legacy_type_name(text):
    """``'torch.HalfTensor'`` (or ``'rustgrad.HalfTensor'``, ``'HalfTensor'``) -> ``'float16'``;
    None for other text."""
    short = text.rsplit(".", 1)[-1]
    for dtype_name, row in _NAMES.items():
        if row[2] == short:
            return dtype_name
    return None


def name(dtype):
    """``rustgrad.float32`` -> ``'float32'``."""
    return str(dtype).rsplit(".", 1)[-1]


def _column(dtype, i):
    row = _NAMES.get(name(dtype))
    return row[i] if row is not None else str(dtype)


def scalar_name(dtype):
    """``'Float'``: the scalar-type name of PyTorch's kernel messages."""
    return _column(dtype, 0)


def c_name(dtype):
    """``'float'``: the C++ type name of PyTorch's dtype checks (``'long int'`` for int64)."""
    return _column(dtype, 1)


def legacy_type_name(dtype):
    """``'FloatTensor'``: the legacy tensor-type name (``x.type()``, argument-check messages)."""
    return _column(dtype, 2)


def not_implemented_for(kernel, dtype):
    """PyTorch's error for a kernel without an implementation for ``dtype`` (to be raised)."""
    return NotImplementedError(f"\"{kernel}\" not implemented for '{scalar_name(dtype)}'")


def require_floating(t, kernel):
    """Raises PyTorch's error for a floating-point-only kernel (named ``<kernel>_<device>``) given
    an integer or bool tensor."""
    if not t.is_floating_point():
        raise not_implemented_for(f"{kernel}_{t.device.type}", t.dtype)
