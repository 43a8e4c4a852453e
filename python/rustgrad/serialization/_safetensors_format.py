"""Checkpoints in the safetensors format: what ``rustgrad.save`` wrote before it wrote PyTorch's
format (still written for a path ending in ``.safetensors``, and still loaded), and the
``save_file`` / ``load_file`` pair of the ``safetensors`` package.

``save(obj, f)`` takes a state dict (a dict of tensors) or any nesting of dicts, lists and tuples
holding tensors, numbers, strings, booleans and None (an optimizer's state dict, a training
checkpoint). The tensors go into a safetensors file under path-like names (``"fc.weight"``,
``"optimizer.state.0.momentum_buffer"``), so the file opens in the ``safetensors`` package (and in
PyTorch through it); the rest of the structure is stored as JSON in the file's string metadata,
and ``load`` rebuilds it: dicts and OrderedDicts, integer keys, lists and tuples, shared tensors.

The file is written atomically (a temporary file in the same directory, synced, then renamed) and
read with every offset checked, so a corrupt or hostile file raises a clear error.
"""

import json
import math
import numbers
import os
import tempfile
from collections import OrderedDict

from .. import _C
from .._C import Tensor

__all__ = ["save", "load", "save_file", "load_file"]

# Metadata keys: PyTorch-style loaders (transformers) look for "format"; the structure is ours.
_FORMAT_KEY = "format"
_STRUCTURE_KEY = "rustgrad.structure"
_STRUCTURE_VERSION = 1


def _unsupported(obj):
    return TypeError(
        f"rustgrad.save cannot store an object of type {type(obj).__module__}.{type(obj).__qualname__}: "
        "checkpoints hold tensors, numbers, strings, booleans, None, and dicts, lists and tuples of them"
    )


class _Encoder:
    """Turns a nested object into JSON-able nodes, collecting its tensors under unique names."""

    def __init__(self):
        self.tensors = {}
        self.by_identity = {}

    def name_for(self, path):
        name = ".".join(path) if path else "tensor"
        if name == "__metadata__":
            name = "__metadata__.0"
        base, n = name, 1
        while name in self.tensors:
            n += 1
            name = f"{base}#{n}"
        return name

    def tensor(self, t, path):
        # The same tensor saved twice (tied weights) is stored once and comes back shared.
        key = t._cdata
        if key in self.by_identity:
            return {"T": self.by_identity[key]}
        name = self.name_for(path)
        self.tensors[name] = t.detach()
        self.by_identity[key] = name
        node = {"T": name}
        if t.requires_grad:
            node["g"] = True
        if type(t) is not Tensor and type(t).__name__ == "Parameter":
            node["P"] = True
        return node

    def key(self, k):
        """A dict key: str, int, float, bool, None or a tuple of those."""
        if k is None or isinstance(k, (str, bool)):
            return k
        if isinstance(k, numbers.Integral):
            return int(k)
        if isinstance(k, numbers.Real):
            return self.number(float(k))
        if isinstance(k, tuple):
            return {"U": [self.key(x) for x in k]}
        raise TypeError(
            f"rustgrad.save cannot store a dict key of type {type(k).__qualname__}: "
            "keys must be strings, numbers, booleans, None or tuples of them"
        )

    @staticmethod
    def number(x):
        if math.isfinite(x):
            return x
        return {"F": "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")}

    def encode(self, obj, path):
        if isinstance(obj, Tensor):
            return self.tensor(obj, path)
        if obj is None or isinstance(obj, (str, bool)):
            return obj
        if isinstance(obj, numbers.Integral):
            return int(obj)
        if isinstance(obj, numbers.Real):
            return self.number(float(obj))
        if isinstance(obj, dict):
            items = [[self.key(k), self.encode(v, path + [str(k)])] for k, v in obj.items()]
            node = {"O" if isinstance(obj, OrderedDict) else "D": items}
            meta = getattr(obj, "_metadata", None)
            if meta is not None:
                try:
                    node["m"] = _Encoder().encode(meta, [])
                except TypeError:
                    pass  # module metadata we cannot store is optional
            return node
        if isinstance(obj, list):
            return {"L": [self.encode(v, path + [str(i)]) for i, v in enumerate(obj)]}
        if isinstance(obj, tuple):
            return {"U": [self.encode(v, path + [str(i)]) for i, v in enumerate(obj)]}
        raise _unsupported(obj)


class _Decoder:
    """Rebuilds the object from its JSON nodes and the loaded tensors."""

    def __init__(self, tensors, map_tensor):
        self.tensors = tensors
        self.map_tensor = map_tensor
        self.made = {}

    def fail(self, what):
        return RuntimeError(f"rustgrad.load: the checkpoint's structure metadata is corrupt ({what})")

    def tensor(self, node):
        name = node.get("T")
        if name in self.made:
            return self.made[name]
        if not isinstance(name, str) or name not in self.tensors:
            raise self.fail(f"it refers to a tensor {name!r} that the file does not hold")
        t = self.map_tensor(self.tensors[name])
        parameter = None
        if node.get("P"):
            try:
                from ..nn import Parameter as parameter
            except ImportError:
                parameter = None
        if parameter is not None:
            t = parameter(t, requires_grad=bool(node.get("g", False)))
        elif node.get("g") and t.is_floating_point():
            t.requires_grad_(True)
        self.made[name] = t
        return t

    def key(self, k):
        if isinstance(k, dict):
            if set(k) == {"U"} and isinstance(k["U"], list):
                return tuple(self.key(x) for x in k["U"])
            if set(k) == {"F"}:
                return self.decode(k)
            raise self.fail(f"bad dict key {k!r}")
        return k

    def decode(self, node):
        if node is None or isinstance(node, (str, bool, int, float)):
            return node
        if isinstance(node, list):
            raise self.fail("a bare list")
        if not isinstance(node, dict) or not node:
            raise self.fail(f"unexpected node {node!r}")
        if "T" in node:
            return self.tensor(node)
        tag = next(iter(node))
        body = node[tag]
        if tag == "F":
            if body not in ("nan", "inf", "-inf"):
                raise self.fail(f"bad float {body!r}")
            return float(body)
        if not isinstance(body, list):
            raise self.fail(f"node {tag!r} does not hold a list")
        if tag == "L":
            return [self.decode(v) for v in body]
        if tag == "U":
            return tuple(self.decode(v) for v in body)
        if tag in ("D", "O"):
            out = OrderedDict() if tag == "O" else {}
            for item in body:
                if not isinstance(item, list) or len(item) != 2:
                    raise self.fail("a dict entry is not a [key, value] pair")
                k = self.key(item[0])
                try:
                    out[k] = self.decode(item[1])
                except TypeError as e:
                    raise self.fail(f"unhashable key: {e}") from None
            if "m" in node and tag == "O":
                try:
                    out._metadata = self.decode(node["m"])
                except RuntimeError:
                    pass
            return out
        raise self.fail(f"unknown node {tag!r}")


def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True):
    """Saves ``obj`` (a state dict, or nested dicts/lists/tuples of tensors, numbers, strings,
    booleans and None) to ``f`` (a path or a writable binary file object) as a safetensors file.

    The write is atomic: a reader of the path sees the old file or the complete new one.
    """
    enc = _Encoder()
    # A state dict's tensors keep their own names ("fc.weight"), as safetensors.torch.save_file
    # writes them; nested structures get path-like names ("state.0.exp_avg").
    try:
        structure = enc.encode(obj, [])
    except RecursionError:
        raise ValueError("rustgrad.save: the object is nested too deeply or contains a reference cycle") from None
    metadata = {
        _FORMAT_KEY: "pt",
        _STRUCTURE_KEY: json.dumps({"v": _STRUCTURE_VERSION, "root": structure}, allow_nan=False),
    }
    if hasattr(f, "write"):
        # A file object: write to a private temporary file, then copy the bytes over.
        with tempfile.TemporaryDirectory() as d:
            tmp = os.path.join(d, "checkpoint.safetensors")
            _C._save_safetensors(enc.tensors, metadata, tmp)
            with open(tmp, "rb") as src:
                f.write(src.read())
        return
    _C._save_safetensors(enc.tensors, metadata, os.fspath(f))


def _location_mapper(map_location):
    """A function applied to each loaded tensor for ``map_location``."""
    if map_location is None:
        return lambda t: t
    if callable(map_location) and not isinstance(map_location, (str, _C.device)):

        def apply(t):
            out = map_location(t, "cpu")
            return t if out is None else out

        return apply
    if isinstance(map_location, dict):
        target = map_location.get("cpu", None)
        if target is None:
            return lambda t: t
        return lambda t: t.to(target)
    return lambda t: t.to(map_location)


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None, **pickle_load_args):
    """Loads what :func:`save` wrote (or any safetensors file) from ``f`` (a path or a readable
    binary file object).

    A file with rustgrad's structure metadata comes back as it was saved (OrderedDicts, int keys,
    nesting, shared tensors); any other safetensors file comes back as an OrderedDict of its
    tensors in file order. ``map_location`` (a device, a string such as ``"cpu"``, a dict or a
    function) moves the tensors; ``weights_only`` is accepted for compatibility (the format only
    ever holds data).
    """
    if hasattr(f, "read"):
        data = f.read()
        if isinstance(data, str):
            raise TypeError("rustgrad.load needs a binary file object (opened with 'rb')")
        with tempfile.TemporaryDirectory() as d:
            tmp = os.path.join(d, "checkpoint.safetensors")
            with open(tmp, "wb") as out:
                out.write(data)
            tensors, metadata = _C._load_safetensors(tmp)
    else:
        tensors, metadata = _C._load_safetensors(os.fspath(f))

    map_tensor = _location_mapper(map_location)
    structure = metadata.get(_STRUCTURE_KEY)
    if structure is None:
        return OrderedDict((k, map_tensor(v)) for k, v in tensors.items())
    try:
        doc = json.loads(structure)
    except (ValueError, RecursionError) as e:
        raise RuntimeError(f"rustgrad.load: the checkpoint's structure metadata is not valid JSON ({e})") from None
    if not isinstance(doc, dict) or "root" not in doc:
        raise RuntimeError("rustgrad.load: the checkpoint's structure metadata is corrupt (no root)")
    version = doc.get("v")
    if not isinstance(version, int) or isinstance(version, bool):
        raise RuntimeError("rustgrad.load: the checkpoint's structure metadata is corrupt (no version)")
    if version > _STRUCTURE_VERSION:
        raise RuntimeError(
            f"rustgrad.load: the checkpoint was written by a newer rustgrad (structure version {version})"
        )
    try:
        return _Decoder(tensors, map_tensor).decode(doc["root"])
    except RecursionError:
        raise RuntimeError("rustgrad.load: the checkpoint's structure metadata is nested too deeply") from None
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise RuntimeError(f"rustgrad.load: the checkpoint's structure metadata is corrupt ({e})") from None


def save_file(tensors, filename, metadata=None):
    """Writes a dict of named tensors to a safetensors file (``safetensors.torch.save_file``)."""
    if not isinstance(tensors, dict):
        raise TypeError(f"save_file expects a dict of tensors, got {type(tensors).__name__}")
    for name, t in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"save_file: tensor names must be str, got {type(name).__name__}")
        if not isinstance(t, Tensor):
            raise TypeError(f"save_file: {name!r} is a {type(t).__name__}, not a tensor")
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError("save_file: metadata must be a dict of str to str")
    _C._save_safetensors({k: t.detach() for k, t in tensors.items()}, dict(metadata), os.fspath(filename))


def load_file(filename, device="cpu"):
    """Reads a safetensors file into a dict of named tensors on ``device`` (``safetensors.torch.load_file``)."""
    tensors, _ = _C._load_safetensors(os.fspath(filename))
    return {name: t.to(device) for name, t in tensors.items()}
