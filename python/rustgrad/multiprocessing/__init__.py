"""``rustgrad.multiprocessing``: Python's ``multiprocessing``, as ``torch.multiprocessing`` re-exports it.

Every name of the standard library module is here unchanged. What PyTorch adds on top (sharing
tensors between processes through shared memory, and ``spawn``/``start_processes``) is not
implemented yet and raises NotImplementedError naming it.
"""

import multiprocessing
from multiprocessing import *  # noqa: F401,F403

__all__ = ["set_sharing_strategy", "get_sharing_strategy", "get_all_sharing_strategies", "spawn", "start_processes"]
__all__ += multiprocessing.__all__

_MISSING = "is not implemented yet in rustgrad.multiprocessing (tensors are not shared between processes)"


def _not_implemented(name):
    def entry_point(*args, **kwargs):
        raise NotImplementedError(f"rustgrad.multiprocessing.{name} {_MISSING}")

    entry_point.__name__ = entry_point.__qualname__ = name
    entry_point.__doc__ = f"Raises NotImplementedError: rustgrad.multiprocessing.{name} {_MISSING}."
    return entry_point


set_sharing_strategy = _not_implemented("set_sharing_strategy")
get_sharing_strategy = _not_implemented("get_sharing_strategy")
get_all_sharing_strategies = _not_implemented("get_all_sharing_strategies")
spawn = _not_implemented("spawn")
start_processes = _not_implemented("start_processes")
