"""``Tensor.pin_memory()`` and ``Tensor.is_pinned()``.

Pinned (page-locked) host memory speeds up asynchronous host-to-GPU copies. rustgrad's copies to
the GPU are synchronous and go through pageable memory, so nothing is ever pinned: ``pin_memory``
returns a copy where CUDA is usable (the copy to the GPU reads it as it would pinned memory),
and raises PyTorch's kind of RuntimeError (naming what is missing) where it is not, as PyTorch does
on a machine without a GPU.
"""

import warnings

from . import _C


def _check_device(name, device):
    if device is not None and not isinstance(device, (str, int, _C.device)):
        raise TypeError(f"{name}(): argument 'device' (position 1) must be torch.device, not {type(device).__name__}")
    if isinstance(device, str):
        _C.device(device)  # a malformed device string raises here
    if device is not None:
        warnings.warn(f"The argument 'device' of Tensor.{name}() is deprecated. Please do not pass this argument.",
                      DeprecationWarning, stacklevel=3)


def pin_memory(self, device=None):
    """``device`` (deprecated in PyTorch) names the GPU the memory is pinned for; rustgrad checks it."""
    from . import cuda

    _check_device("pin_memory", device)

    if self.device.type != "cpu":
        raise RuntimeError(f"cannot pin '{self.type()}' only dense CPU tensors can be pinned")
    if not cuda.is_available():
        raise RuntimeError(cuda._unavailable_reason())
    # PyTorch's pinned result is a copy; so is ours (in pageable memory).
    return self.clone()


def is_pinned(self, device=None):
    """False: rustgrad never pins host memory."""
    _check_device("is_pinned", device)
    return False


_C.Tensor.pin_memory = pin_memory
_C.Tensor.is_pinned = is_pinned
