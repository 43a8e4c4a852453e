"""``rustgrad.cuda``: the NVIDIA GPU backend's device queries, as ``torch.cuda``.

Everything here answers without a crash on machines with no CUDA: ``is_available()`` is False
there, and moving a tensor to ``'cuda'`` raises a RuntimeError naming what is missing (the
driver, NVRTC, or a device). NVRTC, which compiles rustgrad's kernels, comes from the PyPI package
``nvidia-cuda-nvrtc`` (``pip install 'rustgrad[cuda]'``); it is found inside that package, with no
LD_LIBRARY_PATH needed.
"""

import importlib.util
import os
import sys

from .. import _C


def _has_backend():
    return hasattr(_C, "_cuda_is_available")


def _nvrtc_dirs():
    """``nvidia/cu13/lib`` of every installed copy of the nvidia namespace package."""
    dirs = []
    try:
        spec = importlib.util.find_spec("nvidia")
    except (ImportError, ValueError):
        spec = None
    for base in list(getattr(spec, "submodule_search_locations", None) or []):
        dirs.append(os.path.join(base, "cu13", "lib"))
    for entry in sys.path:
        if entry and os.path.isdir(entry):
            d = os.path.join(entry, "nvidia", "cu13", "lib")
            if d not in dirs and os.path.isdir(d):
                dirs.append(d)
    return [d for d in dirs if os.path.isdir(d)]


def _register_nvrtc():
    if hasattr(_C, "_cuda_add_nvrtc_dir"):
        for d in _nvrtc_dirs():
            _C._cuda_add_nvrtc_dir(d)


_register_nvrtc()


def is_available():
    """True when a CUDA driver, NVRTC and at least one device can be used."""
    return _has_backend() and _C._cuda_is_available()


def device_count():
    return _C._cuda_device_count() if is_available() else 0


def _unavailable_reason():
    if not _has_backend():
        return "Torch not compiled with CUDA enabled: this rustgrad build has no CUDA backend"
    return _C._cuda_unavailable_reason()


def _lazy_check():
    if not is_available():
        raise RuntimeError(_unavailable_reason())


def _index(device):
    """The device index of ``device`` (None, an int, a string or a ``rustgrad.device``)."""
    if device is None:
        return 0
    if isinstance(device, int):
        return device
    if isinstance(device, str):
        from .. import device as _device

        device = _device(device)
    index = getattr(device, "index", None)
    return 0 if index is None else index


def current_device():
    _lazy_check()
    return 0


def set_device(device):
    """rustgrad has one current device, cuda:0; other indices are named explicitly."""
    if _index(device) != 0:
        raise RuntimeError("rustgrad uses cuda:0 as the current device; name other devices explicitly")


def synchronize(device=None):
    """Waits for all queued GPU work; raises errors kernels reported (bad indices, faults).
    Raises RuntimeError where CUDA cannot be used, as PyTorch does."""
    _lazy_check()
    _C._cuda_synchronize(None if device is None else _index(device))


def manual_seed(seed):
    """Seeds the generator (rustgrad uses one Philox generator for every device)."""
    _C.manual_seed(int(seed))


manual_seed_all = manual_seed


def memory_allocated(device=None):
    """Bytes held by tensors on the device."""
    return _C._cuda_memory_allocated(_index(device)) if is_available() else 0


def max_memory_allocated(device=None):
    return _C._cuda_max_memory_allocated(_index(device)) if is_available() else 0


def mem_get_info(device=None):
    """(free, total) bytes of device memory."""
    _lazy_check()
    return _C._cuda_mem_get_info(_index(device))


def get_device_name(device=None):
    _lazy_check()
    return _C._cuda_device_name(_index(device))


def get_device_capability(device=None):
    _lazy_check()
    return _C._cuda_get_device_capability(_index(device))


def empty_cache():
    """Freed blocks stay in the driver's pool for reuse; nothing to do here."""


def is_initialized():
    return is_available()


def init():
    _lazy_check()


# Everyday switches (issue 16).
def is_bf16_supported(including_emulation=True):
    """Whether the current GPU computes in bfloat16: compute capability 8.0 (Ampere) and newer do it
    natively; with ``including_emulation``, older GPUs count too (bfloat16 stored, float32 math).
    False where CUDA cannot be used."""
    if not is_available():
        return False
    return including_emulation or tuple(get_device_capability()) >= (8, 0)
