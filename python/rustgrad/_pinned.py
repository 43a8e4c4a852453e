"""``Tensor.pin_memory()`` and ``Tensor.is_pinned()``.

Pinned (page-locked) host memory speeds up asynchronous host-to-GPU copies. rustgrad's copies to
the GPU are synchronous and go through pageable memory, so nothing is ever pinned: ``pin_memory``
returns a copy where CUDA is usable (the copy to the GPU reads it as it would pinned memory),
and raises PyTorch's kind of RuntimeError (naming what is missing) where it is not, as PyTorch does
on a machine without a GPU.
"""

from . import _C


def pin_memory(self, device=None):
    from . import cuda

    if self.device.type != "cpu":
        raise RuntimeError(f"cannot pin '{self.type()}' only dense CPU tensors can be pinned")
    if not cuda.is_available():
        raise RuntimeError(cuda._unavailable_reason())
    # PyTorch's pinned result is a copy; so is ours (in pageable memory).
    return self.clone()


def is_pinned(self, device=None):
    """False: rustgrad never pins host memory."""
    return False


_C.Tensor.pin_memory = pin_memory
_C.Tensor.is_pinned = is_pinned
