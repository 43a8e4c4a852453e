"""Reads PyTorch's zip checkpoint format (what ``torch.save`` and ``rustgrad.save`` write).

The pickled object graph is loaded with PyTorch's globals mapped to rustgrad's (tensor rebuild
functions, storage classes, dtypes, Parameter, Size, device). Each storage record is read once
into a NumPy buffer that the tensors built from it share, so tensors that shared a storage when
saved share memory again. Every record length, offset, size and stride is checked before use.
"""

import collections
import io
import pickle
import struct
import sys
import zipfile
from codecs import encode as _codecs_encode

import numpy as np

from . import _storage_types, _weights_only

_LOCAL_HEADER = struct.Struct("<4s22xHH")


def _fail(message):
    return RuntimeError(f"rustgrad.load: {message}")


class _Archive:
    """The records of one checkpoint zip (``<prefix>/data.pkl``, ``<prefix>/data/<key>`` ...)."""

    def __init__(self, fileobj, mmap_path=None):
        try:
            self.zip = zipfile.ZipFile(fileobj)
            names = self.zip.namelist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
            raise RuntimeError(
                f"PytorchStreamReader failed reading zip archive: failed finding central directory ({e})"
            ) from None
        pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise RuntimeError("PytorchStreamReader failed locating file data.pkl: file not found")
        self.prefix = pickles[0][: -len("data.pkl")]
        self.fileobj = fileobj
        self.mmap = None
        if mmap_path is not None:
            self.mmap = np.memmap(mmap_path, dtype=np.uint8, mode="c")

    def has(self, name):
        try:
            self.zip.getinfo(self.prefix + name)
            return True
        except KeyError:
            return False

    def read(self, name):
        try:
            return self.zip.read(self.prefix + name)
        except KeyError:
            raise RuntimeError(f"PytorchStreamReader failed locating file {name}: file not found") from None
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as e:
            raise _fail(f"the record {name} is corrupt ({e})") from None

    def storage_bytes(self, name):
        """A storage record's bytes: a writable buffer (a copy-on-write map of the file with mmap)."""
        if self.mmap is None:
            return bytearray(self.read(name))
        info = self.zip.getinfo(self.prefix + name)
        if info.compress_type != zipfile.ZIP_STORED:
            raise _fail(f"the record {name} is compressed and cannot be memory-mapped")
        self.fileobj.seek(info.header_offset)
        magic, name_len, extra_len = _LOCAL_HEADER.unpack(self.fileobj.read(_LOCAL_HEADER.size))
        if magic != b"PK\x03\x04":
            raise _fail(f"the record {name} has a corrupt local header")
        start = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
        if start + info.file_size > len(self.mmap):
            raise _fail(f"the record {name} runs past the end of the file")
        return self.mmap[start : start + info.file_size]


class _LoadedStorage:
    """One storage of the checkpoint: its elements (a NumPy array) and where its tensors go."""

    def __init__(self, storage_type, array):
        self.storage_type = storage_type
        self.array = array
        self.device = "cpu"
        self.numel = len(array)
        self._flat = None

    def flat(self):
        """A 1-D rustgrad tensor over the whole storage (sharing the array's memory if it can)."""
        if self._flat is None:
            import rustgrad

            dtype = self.storage_type.rustgrad_dtype()
            flat = None
            if self.storage_type.numpy_dtype is not None:
                try:
                    flat = rustgrad.from_numpy(self.array)
                except (TypeError, ValueError):
                    flat = None
                if flat is not None and flat.dtype != dtype:
                    flat = None
                if flat is None:
                    flat = rustgrad.tensor(self.array.astype(np.float64 if dtype.is_floating_point else np.int64))
            else:  # bfloat16: widen the bit patterns exactly, then narrow in rustgrad
                flat = rustgrad.tensor(_storage_types.bfloat16_bits_to_float32(self.array))
            self._flat = flat.to(dtype)
        return self._flat

    def view(self, offset, size, stride):
        """The tensor of ``size``/``stride`` at ``offset`` in this storage (on the CPU)."""
        if len(size) != len(stride):
            raise _fail(f"a tensor has {len(size)} sizes but {len(stride)} strides")
        numel = 1
        for n in size:
            numel *= n
        itemsize = self.storage_type.itemsize
        needed = 0 if numel == 0 else offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1
        if needed > self.numel:
            raise RuntimeError(
                f"setStorage: sizes {list(size)}, strides {list(stride)}, storage offset {offset}, and itemsize "
                f"{itemsize} requiring a storage size of {needed * itemsize} are out of bounds for storage of "
                f"size {self.numel * itemsize}"
            )
        flat = self.flat()
        if numel == 0:
            return flat[:0].reshape(size).detach()
        order = sorted(range(len(size)), key=lambda d: -stride[d])
        expected = 1
        contiguous_in_order = True
        for d in reversed(order):
            if size[d] != 1 and stride[d] != expected:
                contiguous_in_order = False
                break
            expected *= size[d]
        if contiguous_in_order:
            # A dense block, maybe with permuted dims (a transpose): a view keeps the storage offset.
            block = flat[offset : offset + numel].view([size[d] for d in order])
            inverse = sorted(range(len(order)), key=lambda i: order[i])
            return block.permute(inverse).detach()
        return self._strided_copy_or_view(offset, size, stride)

    def _strided_copy_or_view(self, offset, size, stride):
        """Any other layout: NumPy's strided view, shared when rustgrad takes the array as it is."""
        import rustgrad

        itemsize = self.array.itemsize
        arr = np.lib.stride_tricks.as_strided(
            self.array[offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride)
        )
        dtype = self.storage_type.rustgrad_dtype()
        if self.storage_type.numpy_dtype is None:
            return rustgrad.tensor(_storage_types.bfloat16_bits_to_float32(arr)).to(dtype)
        try:
            t = rustgrad.from_numpy(arr)
            if t.dtype == dtype:
                return t
        except (TypeError, ValueError):
            pass
        return rustgrad.tensor(np.ascontiguousarray(arr)).to(dtype)


def _check_ints(what, values):
    if not isinstance(values, (tuple, list)) or not all(isinstance(v, int) and v >= 0 for v in values):
        raise _fail(f"a tensor's {what} is not a tuple of non-negative ints: {values!r}")
    return tuple(values)


def _rebuild_tensor(storage, storage_offset, size, stride):
    if not isinstance(storage, _LoadedStorage):
        raise _fail(f"a tensor is rebuilt from {type(storage).__name__}, not a storage")
    if not isinstance(storage_offset, int) or storage_offset < 0:
        raise _fail(f"bad storage offset {storage_offset!r}")
    t = storage.view(storage_offset, _check_ints("size", size), _check_ints("stride", stride))
    if storage.device != "cpu":
        t = t.to(storage.device)
    return t


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    t = _rebuild_tensor(storage, storage_offset, size, stride)
    if metadata:
        raise NotImplementedError(f"rustgrad.load: tensor metadata {sorted(metadata)!r} is not supported")
    if requires_grad:
        t.requires_grad_(True)
    return t


def _rebuild_parameter(data, requires_grad, backward_hooks):
    from ..nn import Parameter

    return Parameter(data, requires_grad)


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    param = _rebuild_parameter(data, requires_grad, backward_hooks)
    dict_state, slots_state = state if isinstance(state, tuple) else (state, None)
    for name, value in list((dict_state or {}).items()) + list((slots_state or {}).items()):
        setattr(param, name, value)
    return param


def _torch_globals():
    """PyTorch's names of what a checkpoint of tensors may hold, each mapped to rustgrad's object."""
    import rustgrad
    from ..nn import Parameter

    table = {
        "collections.OrderedDict": collections.OrderedDict,
        "collections.Counter": collections.Counter,
        "torch.nn.parameter.Parameter": Parameter,
        "torch.Size": rustgrad.Size,
        "torch.Tensor": rustgrad.Tensor,
        "torch.device": rustgrad.device,
        "_codecs.encode": _codecs_encode,
        "builtins.bytearray": bytearray,
        "builtins.set": set,
        "builtins.complex": complex,
        "torch._utils._rebuild_tensor": _rebuild_tensor,
        "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
        "torch._utils._rebuild_parameter": _rebuild_parameter,
        "torch._utils._rebuild_parameter_with_state": _rebuild_parameter_with_state,
    }
    for name, storage_type in _storage_types.BY_STORAGE_NAME.items():
        table[f"torch.{name}"] = storage_type
    for name in dir(rustgrad):
        value = getattr(rustgrad, name)
        if isinstance(value, rustgrad.dtype) and repr(value) == f"rustgrad.{name}":
            table[f"torch.{name}"] = value
    return table


class _Unpickler(pickle.Unpickler):
    """Loads ``data.pkl``, reading storages from the archive as their persistent ids ask."""

    def __init__(self, file, archive, restore_location, weights_only, **kwargs):
        super().__init__(file, **kwargs)
        self.archive = archive
        self.restore_location = restore_location
        self.weights_only = weights_only
        self.storages = {}
        self.globals = _torch_globals()

    def find_class(self, module, name):
        if module == "__builtin__":
            module = "builtins"
        if self.weights_only:
            return _weights_only.resolve(module, name, self.globals)
        full_path = f"{module}.{name}"
        if full_path in self.globals:
            return self.globals[full_path]
        if module == "torch" or module.startswith("torch."):
            return self._rustgrad_counterpart(module, name)
        return super().find_class(module, name)

    @staticmethod
    def _rustgrad_counterpart(module, name):
        import importlib

        ours = "rustgrad" + module[len("torch") :]
        try:
            value = importlib.import_module(ours)
            for part in name.split("."):
                value = getattr(value, part)
            return value
        except (ImportError, AttributeError):
            raise AttributeError(
                f"rustgrad.load: the checkpoint needs {module}.{name}, which has no rustgrad counterpart {ours}.{name}"
            ) from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"rustgrad.load: unsupported persistent id {pid!r}")
        _, storage_type, key, location, numel = pid
        if not isinstance(storage_type, _storage_types.StorageType):
            raise pickle.UnpicklingError(f"rustgrad.load: unsupported storage type {storage_type!r}")
        if not isinstance(key, str) or not isinstance(location, str) or not isinstance(numel, int) or numel < 0:
            raise pickle.UnpicklingError(f"rustgrad.load: bad storage id {pid!r}")
        storage = self.storages.get(key)
        if storage is None:
            storage = self._read_storage(storage_type, key, location, numel)
            self.storages[key] = storage
        elif storage.storage_type is not storage_type:
            raise _fail(f"storage {key} is named with two element types")
        return storage

    def _read_storage(self, storage_type, key, location, numel):
        nbytes = numel * storage_type.itemsize
        data = self.archive.storage_bytes(f"data/{key}")
        if len(data) < nbytes:
            raise _fail(
                f"the record data/{key} holds {len(data)} bytes, fewer than its {numel} elements of "
                f"{storage_type.itemsize} bytes need"
            )
        raw_dtype = storage_type.numpy_dtype or np.uint16
        array = np.frombuffer(data, dtype=raw_dtype, count=numel)
        if self.archive.swap_bytes and storage_type.itemsize > 1:
            array = array.byteswap()
        storage_type.rustgrad_dtype()  # a dtype rustgrad lacks fails here, naming the storage class
        storage = _LoadedStorage(storage_type, array)
        storage.device = self.restore_location(storage.flat, location)
        return storage


def read(fileobj, restore_location, weights_only, pickle_load_args, mmap_path=None):
    """The object of the zip checkpoint in ``fileobj``."""
    archive = _Archive(fileobj, mmap_path)
    byteorder = archive.read("byteorder").decode("ascii", "replace") if archive.has("byteorder") else "little"
    if byteorder not in ("little", "big"):
        raise _fail(f"unknown byte order {byteorder!r}")
    archive.swap_bytes = byteorder != sys.byteorder
    data = archive.read("data.pkl")

    unpickler = _Unpickler(io.BytesIO(data), archive, restore_location, weights_only, **pickle_load_args)
    if not weights_only:
        return unpickler.load()
    try:
        return unpickler.load()
    except (RuntimeError, _storage_types.MissingDtypeError):
        raise
    except Exception as e:  # anything else the restricted unpickler met is reported as PyTorch does
        raise pickle.UnpicklingError(_weights_only.failure_message(str(e))) from None
