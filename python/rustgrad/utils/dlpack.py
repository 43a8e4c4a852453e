"""``rustgrad.utils.dlpack``: DLPack capsules in and out, as ``torch.utils.dlpack``."""

from .._dlpack import DLDeviceType, from_dlpack, to_dlpack

__all__ = ["DLDeviceType", "from_dlpack", "to_dlpack"]
