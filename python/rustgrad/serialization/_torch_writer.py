"""Writes PyTorch's checkpoint format: the zip archive ``torch.save`` writes.

The archive holds ``archive/data.pkl`` (the pickled object graph, protocol 2), one record
``archive/data/<key>`` per storage (raw little-endian elements, 64-byte aligned), and the small
``.format_version``, ``.storage_alignment``, ``byteorder``, ``version`` and
``.data/serialization_id`` records.

Tensors are pickled through the globals PyTorch itself uses (``torch._utils._rebuild_tensor_v2``,
``torch._utils._rebuild_parameter``, storages as ``torch.FloatStorage``-style persistent ids, dtypes
as ``torch.float32``), so PyTorch loads the file, with ``weights_only=True`` too. PyTorch need not
be installed: the pickler writes those GLOBAL opcodes by name.
"""

import ctypes
import io
import pickle
import secrets
import struct
import sys
import zipfile
from collections import OrderedDict

from . import _storage_types

_ARCHIVE = "archive"
_ALIGNMENT = 64
_FORMAT_VERSION = b"1"
_VERSION = b"3\n"


class _Global:
    """A module-level name written as a GLOBAL opcode without importing it (``torch.FloatStorage``)."""

    __slots__ = ("module", "name")

    def __init__(self, module, name):
        self.module = module
        self.name = name

    def __call__(self, *args):  # the pickler wants a reduce function callable; this one only names
        raise TypeError(f"{self.module}.{self.name} is written into checkpoints by name only")


_REBUILD_TENSOR = _Global("torch._utils", "_rebuild_tensor_v2")
_REBUILD_PARAMETER = _Global("torch._utils", "_rebuild_parameter")
_TORCH_DEVICE = _Global("torch", "device")
_TORCH_SIZE = _Global("torch", "Size")


class _Storage:
    """One storage of the archive: the memory that one or more saved tensors view."""

    def __init__(self, key, storage_type, location, base_tensor, base_ptr):
        self.key = key
        self.storage_type = storage_type
        self.location = location
        self.base_tensor = base_tensor  # keeps the memory alive until it is written
        self.base_ptr = base_ptr  # None: base_tensor itself is the (contiguous CPU) data
        self.numel = 0

    def persistent_id(self):
        return ("storage", _Global("torch", self.storage_type.storage_name), self.key, self.location, self.numel)

    def data(self):
        nbytes = self.numel * self.storage_type.itemsize
        if nbytes == 0:
            return b""
        if self.base_ptr is None:
            return _contiguous_cpu_bytes(self.base_tensor, nbytes)
        return ctypes.string_at(self.base_ptr, nbytes)


def _contiguous_cpu_bytes(t, nbytes):
    """The bytes of a contiguous CPU tensor (read at its data pointer)."""
    return ctypes.string_at(t.data_ptr(), nbytes)


def _span(t):
    """Elements of its storage that a tensor reaches from its offset (0 when it is empty)."""
    if t.numel() == 0:
        return 0
    return sum((n - 1) * s for n, s in zip(t.shape, t.stride())) + 1


class _Storages:
    """Groups the saved tensors by the storage they view, so a shared storage is written once."""

    def __init__(self):
        self.by_memory = {}
        self.by_tensor = {}
        self.detached = {}
        self.ordered = []

    def detach(self, t):
        """``t.detach()``, the same object in both passes (a Parameter's data)."""
        plain = self.detached.get(t._cdata)
        if plain is None:
            plain = self.detached[t._cdata] = t.detach()
        return plain

    def add(self, t):
        """The storage of ``t`` and ``t``'s offset in it (called twice per tensor: two passes)."""
        known = self.by_tensor.get(t._cdata)
        if known is not None:
            return known[:2]
        storage_type = _storage_types.for_dtype(t.dtype)
        if t.is_cpu and t.numel() > 0:
            base_ptr = t.data_ptr() - t.storage_offset() * storage_type.itemsize
            memory = (base_ptr, storage_type.storage_name)
            storage = self.by_memory.get(memory)
            if storage is None:
                storage = self._new(storage_type, "cpu", t, base_ptr)
                self.by_memory[memory] = storage
            offset = t.storage_offset()
            storage.numel = max(storage.numel, offset + _span(t))
        else:
            # A CUDA (or empty) tensor: its elements are copied into a storage of its own.
            data = t.detach().contiguous().cpu()
            storage = self._new(storage_type, str(t.device), data, None)
            storage.numel = t.numel()
            offset = 0
        self.by_tensor[t._cdata] = (storage, offset, t)  # t kept: its id stays unique
        return storage, offset

    def _new(self, storage_type, location, base_tensor, base_ptr):
        storage = _Storage(str(len(self.ordered)), storage_type, location, base_tensor, base_ptr)
        self.ordered.append(storage)
        return storage


def _contiguous_strides(shape):
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


class _TorchPickler(pickle._Pickler):
    """A pickler writing rustgrad objects as the PyTorch objects they stand for.

    The pure-Python pickler is used because it lets ``save`` write a GLOBAL by name: the C pickler
    insists on importing every global it writes, and PyTorch may not be installed.
    """

    def __init__(self, file, protocol, storages):
        super().__init__(file, protocol)
        self.storages = storages
        import rustgrad
        from rustgrad.nn import Parameter

        self._rustgrad = rustgrad
        self._parameter = Parameter

    def save(self, obj, save_persistent_id=True):
        if type(obj) is _Global:
            return self._save_global_by_name(obj, obj.module, obj.name)
        if type(obj) is self._rustgrad.dtype:
            return self._save_global_by_name(obj, "torch", repr(obj).rsplit(".", 1)[-1])
        return super().save(obj, save_persistent_id)

    def _save_global_by_name(self, obj, module, name):
        memoized = self.memo.get(id(obj))
        if memoized is not None:
            self.write(self.get(memoized[0]))
            return
        self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode("utf-8"))
        self.memoize(obj)

    def persistent_id(self, obj):
        if type(obj) is _Storage:
            return obj.persistent_id()
        return None

    def reducer_override(self, obj):
        rg = self._rustgrad
        if isinstance(obj, rg.Tensor):
            if isinstance(obj, self._parameter):
                return (_REBUILD_PARAMETER, (self.storages.detach(obj), obj.requires_grad, OrderedDict()))
            storage, offset = self.storages.add(obj)
            shape = tuple(obj.shape)
            strides = tuple(obj.stride()) if storage.base_ptr is not None else _contiguous_strides(shape)
            return (_REBUILD_TENSOR, (storage, offset, shape, strides, obj.requires_grad, OrderedDict()))
        if type(obj) is rg.device:
            return (_TORCH_DEVICE, (str(obj),))
        if type(obj) is rg.Size:
            return (_TORCH_SIZE, (tuple(obj),))
        return NotImplemented


class _Discard:
    def write(self, data):
        return len(data)


def _pickle(obj, protocol, storages):
    """``obj`` pickled, after a first pass that finds how much of each storage the tensors use."""
    _TorchPickler(_Discard(), protocol, storages).dump(obj)
    out = io.BytesIO()
    _TorchPickler(out, protocol, storages).dump(obj)
    return out.getvalue()


def _write_record(zf, name, data):
    """One stored (uncompressed) record whose data starts at a multiple of 64 bytes in the file."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    # local header (30 bytes) + name + our extra block's 4-byte header (+ zipfile's zip64 field)
    header = 30 + len(name.encode("utf-8")) + 4
    if len(data) * 1.05 > zipfile.ZIP64_LIMIT:
        header += 20
    pad = -(zf.fp.tell() + header) % _ALIGNMENT
    info.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
    zf.writestr(info, data)


def write(obj, f, protocol):
    """Writes ``obj`` as PyTorch's zip checkpoint to the binary file object ``f``."""
    storages = _Storages()
    try:
        pickled = _pickle(obj, protocol, storages)
    except RecursionError:
        raise ValueError("rustgrad.save: the object is nested too deeply") from None
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
        _write_record(zf, f"{_ARCHIVE}/data.pkl", pickled)
        _write_record(zf, f"{_ARCHIVE}/.format_version", _FORMAT_VERSION)
        _write_record(zf, f"{_ARCHIVE}/.storage_alignment", str(_ALIGNMENT).encode())
        _write_record(zf, f"{_ARCHIVE}/byteorder", sys.byteorder.encode())
        for storage in storages.ordered:
            _write_record(zf, f"{_ARCHIVE}/data/{storage.key}", storage.data())
        _write_record(zf, f"{_ARCHIVE}/version", _VERSION)
        serialization_id = "".join(str(secrets.randbelow(10)) for _ in range(40))
        _write_record(zf, f"{_ARCHIVE}/.data/serialization_id", serialization_id.encode())
