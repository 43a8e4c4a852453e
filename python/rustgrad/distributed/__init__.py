"""``rustgrad.distributed``: multi-process training, as ``torch.distributed``, is not implemented yet.

The module imports so that scripts which check ``is_available()`` / ``is_initialized()`` before
using it run single-process. Starting a process group or running a collective raises
NotImplementedError; asking for the rank or world size without a process group raises PyTorch's
ValueError for that case (no process group can exist here).
"""

__all__ = [
    "is_available", "is_initialized", "is_torchelastic_launched", "init_process_group", "destroy_process_group",
    "get_rank", "get_world_size", "get_backend", "new_group", "barrier", "all_reduce", "all_gather",
    "all_gather_object", "all_gather_into_tensor", "reduce", "reduce_scatter", "reduce_scatter_tensor", "broadcast",
    "broadcast_object_list", "gather", "scatter", "send", "recv", "isend", "irecv", "all_to_all",
]

_MISSING = "rustgrad.distributed (multi-process training) is not implemented yet"
_NO_GROUP = "Default process group has not been initialized, please make sure to call init_process_group."


def is_available():
    """False: this build has no multi-process backend."""
    return False


def is_initialized():
    """False: no process group can be started."""
    return False


def is_torchelastic_launched():
    """Whether this process was started by torchrun (which sets ``TORCHELASTIC_RUN_ID``)."""
    import os

    return os.getenv("TORCHELASTIC_RUN_ID") is not None


def _no_group(group=None):
    raise ValueError(_NO_GROUP)


def get_rank(group=None):
    _no_group()


def get_world_size(group=None):
    _no_group()


def get_backend(group=None):
    _no_group()


def _not_implemented(name):
    def entry_point(*args, **kwargs):
        raise NotImplementedError(f"{_MISSING}: rustgrad.distributed.{name}")

    entry_point.__name__ = entry_point.__qualname__ = name
    entry_point.__doc__ = f"Raises NotImplementedError: {_MISSING}."
    return entry_point


for _name in [
    "init_process_group", "destroy_process_group", "new_group", "barrier", "monitored_barrier", "all_reduce",
    "all_gather", "all_gather_object", "all_gather_into_tensor", "reduce", "reduce_scatter", "reduce_scatter_tensor",
    "broadcast", "broadcast_object_list", "gather", "gather_object", "scatter", "scatter_object_list", "send", "recv",
    "isend", "irecv", "all_to_all", "all_to_all_single", "init_device_mesh",
]:
    globals()[_name] = _not_implemented(_name)
del _name
