"""Checkpoints: ``rustgrad.save`` / ``rustgrad.load`` in PyTorch's own format, and safetensors.

``save(obj, f)`` writes the zip archive ``torch.save`` writes, for any picklable object, so real
PyTorch loads files of tensors, state dicts and optimizer state (``weights_only=True`` too).
``load(f)`` reads those files and rustgrad's older safetensors checkpoints, telling them apart by
their first bytes. ``weights_only=True`` (the default, as in PyTorch >= 2.6) admits only tensors,
containers, numbers, strings and allow-listed globals, and never runs code from the file.

``save_file`` / ``load_file`` read and write plain safetensors files (named as the ``safetensors``
package names them); a path ending in ``.safetensors`` given to ``save`` is written that way too.
"""

import io
import os
import pickle
import tempfile
import warnings

from . import _safetensors_format, _torch_reader, _torch_writer
from ._safetensors_format import load_file, save_file
from ._weights_only import add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals

__all__ = [
    "save",
    "load",
    "save_file",
    "load_file",
    "add_safe_globals",
    "get_safe_globals",
    "clear_safe_globals",
    "safe_globals",
]

DEFAULT_PROTOCOL = 2
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = b"\x80"  # PyTorch's legacy (pre-1.6) format is a bare pickle stream


def _is_path(f):
    return isinstance(f, (str, os.PathLike))


def _check_pickle_module(pickle_module, fn):
    if pickle_module is not None and pickle_module is not pickle:
        raise NotImplementedError(f"rustgrad.{fn}: pickle_module={pickle_module!r} (only the pickle module is supported)")


def _write_atomically(path, write):
    """Calls ``write(file)`` on a temporary file next to ``path``, then renames it to ``path``."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".rustgrad-save-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save(obj, f, pickle_module=pickle, pickle_protocol=DEFAULT_PROTOCOL, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):
    """Saves ``obj`` to ``f`` (a path or a writable binary file object) as ``torch.save`` does.

    Any picklable object works: tensors and Parameters are stored as PyTorch stores them (a storage
    shared by several tensors is written once, views keep their offsets and strides), the rest is
    pickled. A path is written atomically; a path ending in ``.safetensors`` gets a safetensors file.
    """
    _check_pickle_module(pickle_module, "save")
    if not _use_new_zipfile_serialization:
        raise NotImplementedError("rustgrad.save: _use_new_zipfile_serialization=False (the legacy tar format)")
    if _disable_byteorder_record:
        raise NotImplementedError("rustgrad.save: _disable_byteorder_record=True")
    if not isinstance(pickle_protocol, int) or isinstance(pickle_protocol, bool) or not 2 <= pickle_protocol <= 5:
        raise ValueError(f"rustgrad.save: pickle_protocol must be an int from 2 to 5, got {pickle_protocol!r}")
    if _is_path(f) and os.fspath(f).endswith(".safetensors"):
        return _safetensors_format.save(obj, f)
    if _is_path(f):
        return _write_atomically(f, lambda out: _torch_writer.write(obj, out, pickle_protocol))
    if not hasattr(f, "write"):
        raise AttributeError(f"'{type(f).__name__}' object has no attribute 'write'")
    _torch_writer.write(obj, f, pickle_protocol)


def _cuda_check(device):
    from .. import cuda

    if device.startswith("cuda") and not cuda.is_available():
        raise RuntimeError(
            "Attempting to deserialize object on a CUDA device but torch.cuda.is_available() is False. "
            "If you are running on a CPU-only machine, please use torch.load with "
            "map_location=torch.device('cpu') to map your storages to the CPU."
        )
    return device


def _restore_location(map_location):
    """``(flat_storage, location) -> device string`` for ``map_location`` (as PyTorch reads it)."""
    from .._C import device as device_type

    if map_location is None:
        return lambda flat, location: _cuda_check(location)
    if isinstance(map_location, (str, device_type)):
        target = str(device_type(map_location) if isinstance(map_location, str) else map_location)
        return lambda flat, location: _cuda_check(target)
    if isinstance(map_location, dict):

        def mapped(flat, location):
            target = map_location.get(location, location)
            return _cuda_check(str(device_type(target) if isinstance(target, str) else target))

        return mapped
    if callable(map_location):

        def called(flat, location):
            result = map_location(flat(), location)
            if result is None:
                return _cuda_check(location)
            if not hasattr(result, "device"):
                raise TypeError(f"map_location should return a storage (tensor) or None, not {type(result).__name__}")
            return str(result.device)

        return called
    raise ValueError(
        "Unsupported map_location type: expected a str, a device, a dict or a callable, "
        f"got {type(map_location).__name__}"
    )


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None, **pickle_load_args):
    """Loads an object saved by :func:`save` or ``torch.save`` (or a rustgrad safetensors checkpoint).

    ``map_location`` (a device, a string, a dict from saved to wanted locations, or a function
    ``(storage, location)``) says where tensors go. With ``weights_only=True`` only tensors,
    containers, numbers, strings and allow-listed globals (:func:`add_safe_globals`) load; with
    ``weights_only=False`` the file is unpickled in full (only for files you trust). ``mmap=True``
    maps the storages from the file (copy-on-write) instead of reading them.
    """
    if weights_only:
        if pickle_module is not None:
            raise RuntimeError("Can not safely load weights when explicit pickle_module is specified")
    else:
        _check_pickle_module(pickle_module, "load")
    if mmap and not _is_path(f):
        raise ValueError("f must be a file path in order to use the mmap argument")
    if pickle_load_args and weights_only:
        warnings.warn("pickle_load_args only works if `weights_only=False`.")
    restore_location = _restore_location(map_location)
    pickle_load_args.setdefault("encoding", "utf-8")
    if _is_path(f):
        with open(os.fspath(f), "rb") as fileobj:
            start = fileobj.read(4)
            if start == _ZIP_MAGIC:
                fileobj.seek(0)
                mmap_path = os.fspath(f) if mmap else None
                return _torch_reader.read(fileobj, restore_location, weights_only, pickle_load_args, mmap_path)
        _refuse_legacy_format(start)
        if mmap:
            raise NotImplementedError("rustgrad.load: mmap=True for a safetensors checkpoint")
        return _safetensors_format.load(f, map_location)
    if not hasattr(f, "read"):
        raise AttributeError(f"'{type(f).__name__}' object has no attribute 'read'")
    start = f.read(4)
    if isinstance(start, str):
        raise TypeError("rustgrad.load needs a binary file object (opened with 'rb')")
    if not (hasattr(f, "seekable") and f.seekable()):
        f = io.BytesIO(start + f.read())
    else:
        f.seek(-len(start), os.SEEK_CUR)
    if start == _ZIP_MAGIC:
        return _torch_reader.read(f, restore_location, weights_only, pickle_load_args)
    _refuse_legacy_format(start)
    return _safetensors_format.load(f, map_location)


def _refuse_legacy_format(start):
    if start.startswith(_PICKLE_PROTO):
        raise NotImplementedError(
            "rustgrad.load: this is PyTorch's legacy (pre-1.6, _use_new_zipfile_serialization=False) "
            "checkpoint format, which rustgrad does not read; load it in PyTorch and save it again"
        )
