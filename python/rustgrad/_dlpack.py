"""DLPack exchange: ``Tensor.__dlpack__`` / ``__dlpack_device__`` and ``from_dlpack``.

The capsules are made and read in Rust (src/python/dlpack.rs), without copying: the consumer's
tensor and ours share memory, and each side keeps the other's alive. This file holds the checks
and choices of the protocol (requires_grad, streams, ``copy``, ``dl_device``, ``max_version``),
with PyTorch's messages.
"""

import enum

from . import _C


class DLDeviceType(enum.IntEnum):
    """DLPack's device types (those rustgrad can meet)."""

    kDLCPU = 1
    kDLCUDA = 2
    kDLCUDAHost = 3
    kDLOpenCL = 4
    kDLVulkan = 7
    kDLMetal = 8
    kDLVPI = 9
    kDLROCM = 10
    kDLROCMHost = 11
    kDLExtDev = 12
    kDLCUDAManaged = 13
    kDLOneAPI = 14
    kDLWebGPU = 15
    kDLHexagon = 16
    kDLMAIA = 17


def _dlpack_device(self):
    """``(DLDeviceType, index)`` of the tensor's memory."""
    if self.device.type == "cuda":
        return (DLDeviceType.kDLCUDA, self.device.index or 0)
    return (DLDeviceType.kDLCPU, 0)


def _device_of(dl_device):
    kind, index = dl_device
    if kind == DLDeviceType.kDLCPU:
        return _C.device("cpu")
    if kind == DLDeviceType.kDLCUDA:
        return _C.device("cuda", index)
    raise BufferError(f"Unsupported dl_device {tuple(dl_device)!r}: rustgrad exports to CPU and CUDA devices")


def _dlpack(self, *, stream=-1, max_version=None, dl_device=None, copy=None):
    """A DLPack capsule sharing this tensor's memory (``"dltensor_versioned"`` when the consumer
    gives ``max_version >= (1, 0)``, else the legacy ``"dltensor"``)."""
    if self.requires_grad:
        raise BufferError("Can't export tensors that require gradient, use tensor.detach()")
    if stream is not None and type(stream) is not int:
        raise TypeError("stream must be ``int`` or ``none``")
    if self.device.type == "cpu" and stream is not None and stream != -1:
        raise AssertionError("stream should be None on cpu.")
    if self.device.type == "cuda" and stream == 2:
        raise BufferError("per-thread default stream is not supported.")
    if copy is not None and not isinstance(copy, bool):
        raise TypeError(f"copy must be a bool or None, not {type(copy).__name__}")
    tensor, copied = self, False
    if dl_device is not None and tuple(dl_device) != tuple(_dlpack_device(self)):
        if copy is False:
            raise BufferError(
                f"Can't export a tensor on {self.device} to dl_device {tuple(dl_device)!r} without a copy (copy=False)"
            )
        tensor, copied = self.to(_device_of(dl_device)), True
    elif copy:
        tensor, copied = self.clone(), True
    versioned = max_version is not None and max_version[0] >= 1
    return _C._to_dlpack(tensor, versioned, copied)


def from_dlpack(ext_tensor):
    """A tensor sharing the memory of ``ext_tensor``: any object with ``__dlpack__`` (a NumPy array,
    a PyTorch tensor) or a DLPack capsule. The capsule is used up."""
    if not hasattr(ext_tensor, "__dlpack__"):
        return _C._from_dlpack(ext_tensor)
    kind = ext_tensor.__dlpack_device__()[0]
    kwargs = {"max_version": (1, 0)}
    if kind == DLDeviceType.kDLCUDA:
        # The legacy default stream: the producer orders its work before it, and the import then
        # waits for every stream of the device.
        kwargs["stream"] = 1
    try:
        capsule = ext_tensor.__dlpack__(**kwargs)
    except TypeError:  # a producer older than DLPack 1.0 takes no max_version
        del kwargs["max_version"]
        capsule = ext_tensor.__dlpack__(**kwargs)
    return _C._from_dlpack(capsule)


def to_dlpack(tensor):
    """A legacy ``"dltensor"`` capsule of ``tensor`` (``torch.utils.dlpack.to_dlpack``)."""
    return _dlpack(tensor)
