"""``rustgrad.cuda``: the NVIDIA GPU backend's device queries.

Everything here answers without a crash on machines with no CUDA: ``is_available()`` is False
there, and moving a tensor to ``'cuda'`` raises a RuntimeError naming what is missing.
"""

from . import _C


def _has_backend():
    return hasattr(_C, "_cuda_is_available")


def is_available():
    """True when a CUDA driver, NVRTC and at least one device can be used."""
    return _has_backend() and _C._cuda_is_available()


def device_count():
    return _C._cuda_device_count() if is_available() else 0


def current_device():
    if not is_available():
        raise RuntimeError(_unavailable_reason())
    return 0


def _unavailable_reason():
    if not _has_backend():
        return "Torch not compiled with CUDA enabled: this rustgrad build has no CUDA backend"
    return _C._cuda_unavailable_reason()


def synchronize(device=None):
    if is_available():
        _C._cuda_synchronize()


def manual_seed(seed):
    """Seeds the CUDA generator (rustgrad uses one Philox generator for every device)."""
    _C.manual_seed(seed)


manual_seed_all = manual_seed


def memory_allocated(device=None):
    return _C._cuda_memory_allocated() if is_available() else 0


def get_device_name(device=None):
    if not is_available():
        raise RuntimeError(_unavailable_reason())
    return _C._cuda_device_name()


def init():
    if not is_available():
        raise RuntimeError(_unavailable_reason())
